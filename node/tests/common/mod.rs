//! Fixtures shared by the node's integration tests: deterministic keys and addresses.
#![allow(dead_code)]

use ed25519_dalek::SigningKey;
use keel_node::chain::address_of;
use keel_node::state::Address;

/// Chain id used by the tests.
pub const CHAIN: u64 = 7;

/// The signing key whose 32 secret bytes are all `i`.
pub fn key(i: u8) -> SigningKey {
    SigningKey::from_bytes(&[i; 32])
}

/// The address of [`key`]`(i)`.
pub fn who(i: u8) -> Address {
    address_of(&key(i).verifying_key())
}
