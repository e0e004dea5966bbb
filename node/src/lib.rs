//! keel-node: state ([`state`]), transactions and blocks ([`chain`]), proof-of-authority
//! consensus ([`consensus`]), the mempool ([`mempool`]), the libp2p network ([`net`]), the
//! node service ([`validator`]), JSON-RPC ([`rpc`]), block replay ([`replay`]), the local
//! devnet ([`devnet`]) and the `keel` command line ([`cli`]).

pub mod calibrate;
pub mod chain;
pub mod cli;
pub mod consensus;
pub mod devnet;
pub mod mempool;
pub mod net;
pub mod replay;
pub mod rpc;
pub mod runtime;
pub mod state;
pub mod validator;
