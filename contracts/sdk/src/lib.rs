//! # keel-sdk
//!
//! The Rust SDK for Keel contracts. A contract is a `no_std` crate built for
//! `wasm32v1-none`; it exports `deploy` and `call` (use [`entry!`]) and talks to the node
//! through the host ABI of `specs/abi.md`, wrapped here:
//!
//! * [`env`]: call data, return data, revert, caller, block, balances, hashing, signatures;
//! * [`storage`]: raw key-value access and the typed [`StorageValue`] / [`StorageMap`];
//! * [`event`]: events with topics;
//! * [`call`]: decoding call data ([`Input`]) and cross-contract calls ([`Call`]);
//! * [`mock`] (native builds only): an in-memory host so contracts are unit-tested with
//!   plain `cargo test`.
//!
//! On `wasm32` the SDK also provides the global allocator (a bump allocator that frees the
//! most recent block) and a panic handler that reverts with the panic message.
//!
//! ```ignore
//! #![cfg_attr(target_arch = "wasm32", no_std)]
//! use keel_sdk::{entry, Input, StorageValue, ret};
//!
//! static COUNT: StorageValue<u64> = StorageValue::new(b"count");
//!
//! pub fn deploy() { COUNT.set(&0); }
//! pub fn call() {
//!     let mut input = Input::read();
//!     match input.method().as_str() {
//!         "get" => ret(&COUNT.get_or_default()),
//!         _ => keel_sdk::env::revert("unknown method"),
//!     }
//! }
//! entry!(deploy, call);
//! ```
#![cfg_attr(target_arch = "wasm32", no_std)]
#![warn(missing_docs)]

extern crate alloc;

pub mod call;
pub mod env;
pub mod event;
pub mod storage;
mod sys;
mod types;

#[cfg(target_arch = "wasm32")]
mod runtime;

#[cfg(not(target_arch = "wasm32"))]
pub mod mock;

pub use call::{ret, Call, CallError, Input};
pub use event::{emit, topic, Topic};
pub use storage::{StorageMap, StorageValue};
pub use types::{Address, Balance};

/// Re-export of the SCALE codec used for call data, return data, storage and events.
pub use parity_scale_codec as codec;
pub use parity_scale_codec::{Decode, Encode};

/// ABI limits of `specs/abi.md` §2.
pub mod limits {
    /// Maximum storage key length in bytes.
    pub const MAX_KEY_LEN: usize = 1024;
    /// Maximum storage value length in bytes.
    pub const MAX_VALUE_LEN: usize = 65_536;
    /// Maximum call data length in bytes.
    pub const MAX_INPUT_LEN: usize = 65_536;
    /// Maximum return data length in bytes.
    pub const MAX_RETURN_LEN: usize = 65_536;
    /// Maximum revert message length in bytes.
    pub const MAX_REVERT_LEN: usize = 1024;
    /// Maximum topics per event.
    pub const MAX_TOPICS: usize = 4;
    /// Maximum event data length in bytes.
    pub const MAX_EVENT_DATA_LEN: usize = 16_384;
    /// Maximum events per transaction.
    pub const MAX_EVENTS: usize = 1024;
    /// Maximum call depth (the top-level frame is depth 1).
    pub const MAX_CALL_DEPTH: usize = 16;
}

/// Declares a contract's entry points: `entry!(deploy_fn, call_fn)`.
///
/// On `wasm32` this exports `deploy` and `call` (both `() -> ()`) calling the two given
/// functions of the current module. On native builds it expands to nothing, so several
/// contracts can be linked into one test binary and run against the [`mock`] host.
///
/// ```ignore
/// pub fn deploy() {}
/// pub fn call() {}
/// keel_sdk::entry!(deploy, call);
/// ```
#[macro_export]
macro_rules! entry {
    ($deploy:ident, $call:ident) => {
        #[cfg(target_arch = "wasm32")]
        mod __keel_entry_points {
            /// Constructor entry point (`specs/abi.md` §1).
            #[no_mangle]
            pub extern "C" fn deploy() {
                super::$deploy()
            }
            /// Call entry point (`specs/abi.md` §1).
            #[no_mangle]
            pub extern "C" fn call() {
                super::$call()
            }
        }
    };
}
