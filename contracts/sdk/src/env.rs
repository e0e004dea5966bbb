//! Safe wrappers over the host functions: call data, return data, revert, context,
//! balances and cryptography (`specs/abi.md` §4.1, §4.3, §4.6).

use alloc::vec;
use alloc::vec::Vec;

use crate::limits::MAX_REVERT_LEN;
use crate::sys;
use crate::types::{Address, Balance};

/// The frame's call data (its full length is asked first, then it is copied once).
pub fn input() -> Vec<u8> {
    // SAFETY: a zero-capacity buffer; the host writes nothing.
    let len = unsafe { sys::input(core::ptr::null_mut(), 0) };
    let len = usize::try_from(len).unwrap_or(0);
    let mut buf = vec![0u8; len];
    // SAFETY: `buf` is valid for `len` bytes of writes.
    unsafe { sys::input(buf.as_mut_ptr(), len as u32) };
    buf
}

/// Sets the frame's return data (a later call replaces it; execution continues).
///
/// Data longer than [`MAX_RETURN_LEN`](crate::limits::MAX_RETURN_LEN) makes the host trap.
pub fn return_value(data: &[u8]) {
    // SAFETY: `data` is a valid slice for reads.
    unsafe { sys::return_value(data.as_ptr(), data.len() as u32) }
}

/// Ends the frame with a revert carrying `msg`: all its writes, transfers and events are
/// rolled back. Messages over 1 024 bytes are truncated (the host would trap on them).
pub fn revert(msg: &str) -> ! {
    revert_bytes(msg.as_bytes())
}

/// [`revert`] with a raw byte message (truncated to 1 024 bytes).
pub fn revert_bytes(msg: &[u8]) -> ! {
    let msg = &msg[..msg.len().min(MAX_REVERT_LEN)];
    // SAFETY: `msg` is a valid slice for reads.
    unsafe { sys::revert(msg.as_ptr(), msg.len() as u32) }
}

/// Reverts with `msg` unless `cond` holds (the contract-side `require`).
pub fn require(cond: bool, msg: &str) {
    if !cond {
        revert(msg)
    }
}

/// The frame's caller: the transaction sender, or the calling contract.
pub fn caller() -> Address {
    let mut out = [0u8; 32];
    // SAFETY: `out` is valid for 32 bytes of writes.
    unsafe { sys::caller(out.as_mut_ptr()) };
    Address(out)
}

/// The running contract's own address.
pub fn self_address() -> Address {
    let mut out = [0u8; 32];
    // SAFETY: `out` is valid for 32 bytes of writes.
    unsafe { sys::self_address(out.as_mut_ptr()) };
    Address(out)
}

/// Height of the block being executed (genesis = 0).
pub fn block_height() -> u64 {
    // SAFETY: no pointers.
    unsafe { sys::block_height() }
}

/// The block's timestamp, milliseconds since the Unix epoch.
pub fn block_timestamp() -> u64 {
    // SAFETY: no pointers.
    unsafe { sys::block_timestamp() }
}

/// The native-token balance of `addr` (0 for an unknown address).
pub fn balance(addr: &Address) -> Balance {
    let mut out = [0u8; 16];
    // SAFETY: `addr` is 32 readable bytes, `out` 16 writable bytes.
    unsafe { sys::balance(addr.0.as_ptr(), out.as_mut_ptr()) };
    u128::from_le_bytes(out)
}

/// The running contract's balance could not cover a transfer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InsufficientBalance;

/// Moves `amount` of the native token from the running contract to `to` (no code runs).
pub fn transfer(to: &Address, amount: Balance) -> Result<(), InsufficientBalance> {
    let amount = amount.to_le_bytes();
    // SAFETY: `to` is 32 readable bytes, `amount` 16 readable bytes.
    match unsafe { sys::transfer(to.0.as_ptr(), amount.as_ptr()) } {
        0 => Ok(()),
        _ => Err(InsufficientBalance),
    }
}

/// BLAKE3 hash of `data`, computed by the host.
pub fn blake3(data: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    // SAFETY: `data` is readable, `out` is 32 writable bytes.
    unsafe { sys::blake3(data.as_ptr(), data.len() as u32, out.as_mut_ptr()) };
    out
}

/// Ed25519 verification by the host (`verify_strict` rules): `true` if `sig` is a valid
/// signature of `msg` by `pubkey`; a malformed key or signature is simply invalid.
pub fn ed25519_verify(sig: &[u8; 64], pubkey: &[u8; 32], msg: &[u8]) -> bool {
    // SAFETY: `sig` is 64 readable bytes, `pubkey` 32, `msg` a readable slice.
    unsafe { sys::ed25519_verify(sig.as_ptr(), pubkey.as_ptr(), msg.as_ptr(), msg.len() as u32) == 1 }
}
