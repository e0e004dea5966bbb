//! Events (`specs/abi.md` §4.4).
//!
//! Convention: topic 0 is the event name, zero-padded to 32 bytes ([`topic`]); further
//! topics are indexed fields (addresses as is); the data is the SCALE encoding of the
//! remaining fields.

use parity_scale_codec::Encode;

use crate::sys;

/// A 32-byte event topic.
pub type Topic = [u8; 32];

/// The topic naming an event: the UTF-8 name, zero-padded to 32 bytes. Usable in `const`
/// items; a name over 32 bytes fails to compile there (and panics at run time otherwise).
pub const fn topic(name: &str) -> Topic {
    let bytes = name.as_bytes();
    assert!(bytes.len() <= 32, "event name longer than 32 bytes");
    let mut out = [0u8; 32];
    let mut i = 0;
    while i < bytes.len() {
        out[i] = bytes[i];
        i += 1;
    }
    out
}

/// Emits an event with raw `topics` (at most 4) and raw `data` (at most 16 KiB).
pub fn emit_raw(topics: &[Topic], data: &[u8]) {
    // SAFETY: `topics` is `topics.len()` contiguous 32-byte arrays; `data` is readable.
    unsafe { sys::emit_event(topics.as_ptr() as *const u8, topics.len() as u32, data.as_ptr(), data.len() as u32) }
}

/// Emits an event with `topics` and the SCALE encoding of `data`.
///
/// ```ignore
/// emit(&[topic("Transfer"), from.0, to.0], &amount);
/// ```
pub fn emit<T: Encode + ?Sized>(topics: &[Topic], data: &T) {
    data.using_encoded(|bytes| emit_raw(topics, bytes))
}
