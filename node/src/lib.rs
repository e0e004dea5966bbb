//! keel-node: state, runtime, chain, p2p and RPC (under construction).
