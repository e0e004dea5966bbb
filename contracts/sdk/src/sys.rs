//! Raw host functions of module `"env"` (`specs/abi.md` §4).
//!
//! On `wasm32` these are imports; on native builds the same signatures are served by the
//! in-memory mock host. Pointers are `i32` on wasm32; `u32` lengths and `u64` values map
//! to `i32`/`i64` in the wasm signature.

#[cfg(target_arch = "wasm32")]
#[link(wasm_import_module = "env")]
extern "C" {
    pub fn input(out_ptr: *mut u8, out_cap: u32) -> i32;
    pub fn return_value(data_ptr: *const u8, data_len: u32);
    pub fn revert(msg_ptr: *const u8, msg_len: u32) -> !;
    pub fn caller(out_ptr: *mut u8);
    pub fn self_address(out_ptr: *mut u8);
    pub fn block_height() -> u64;
    pub fn block_timestamp() -> u64;
    pub fn balance(addr_ptr: *const u8, out_ptr: *mut u8);
    pub fn transfer(to_ptr: *const u8, amount_ptr: *const u8) -> i32;
    pub fn storage_read(key_ptr: *const u8, key_len: u32, out_ptr: *mut u8, out_cap: u32) -> i32;
    pub fn storage_write(key_ptr: *const u8, key_len: u32, value_ptr: *const u8, value_len: u32) -> i32;
    pub fn storage_remove(key_ptr: *const u8, key_len: u32) -> i32;
    pub fn storage_has(key_ptr: *const u8, key_len: u32) -> i32;
    pub fn emit_event(topics_ptr: *const u8, topic_count: u32, data_ptr: *const u8, data_len: u32);
    #[allow(clippy::too_many_arguments)]
    pub fn call_contract(
        callee_ptr: *const u8,
        value_ptr: *const u8,
        gas_limit: u64,
        input_ptr: *const u8,
        input_len: u32,
        out_ptr: *mut u8,
        out_cap: u32,
        out_len_ptr: *mut u32,
    ) -> i32;
    pub fn blake3(data_ptr: *const u8, data_len: u32, out_ptr: *mut u8);
    pub fn ed25519_verify(sig_ptr: *const u8, pubkey_ptr: *const u8, msg_ptr: *const u8, msg_len: u32) -> i32;
}

#[cfg(not(target_arch = "wasm32"))]
pub use crate::mock::abi::*;
