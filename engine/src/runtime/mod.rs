//! The runtime: code memory (W^X), the guest stack, linear memory, vmctx layout, stores and instances,
//! linking, host calls and runtime helpers.

pub mod code;
pub(crate) mod host;
pub mod instance;
pub mod libcalls;
pub mod linker;
pub(crate) mod memory;
pub(crate) mod signals;
pub mod store;
pub(crate) mod sys;
pub mod vmctx;
