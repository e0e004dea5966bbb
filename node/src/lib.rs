//! keel-node: state, runtime, chain, p2p and RPC (under construction), and the `keel`
//! command line ([`cli`]).

pub mod calibrate;
pub mod cli;
pub mod chain;
pub mod runtime;
pub mod state;
