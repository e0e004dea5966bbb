//! SHA-256 in a loop, computed inside the contract by the `sha2` crate: a compute-heavy
//! workload for benchmarks and gas calibration.
//!
//! * `deploy()` — no arguments.
//! * `sha256(data: Vec<u8>, rounds: u32) -> [u8; 32]` — `h = SHA-256(data)`, then
//!   `rounds - 1` times `h = SHA-256(h)` (`rounds = 0` hashes once, like `1`).
//! * `blake3_host(data: Vec<u8>, rounds: u32) -> [u8; 32]` — the same chain with the host's
//!   BLAKE3, to compare in-wasm and host hashing.
#![cfg_attr(target_arch = "wasm32", no_std)]

extern crate alloc;

use alloc::vec::Vec;

use keel_sdk::env::{blake3, revert};
use keel_sdk::{entry, ret, Input};
use sha2::{Digest, Sha256};

/// Constructor: no arguments.
pub fn deploy() {
    Input::read().finish();
}

/// Dispatcher of `call`.
pub fn call() {
    let mut input = Input::read();
    let method = input.method();
    let data: Vec<u8> = input.arg();
    let rounds: u32 = input.arg();
    input.finish();
    match method.as_str() {
        "sha256" => ret(&sha256_chain(&data, rounds)),
        "blake3_host" => ret(&blake3_chain(&data, rounds)),
        _ => revert("unknown method"),
    }
}

/// SHA-256 of `data`, then re-hashed until `rounds` hashes were computed.
pub fn sha256_chain(data: &[u8], rounds: u32) -> [u8; 32] {
    let mut h: [u8; 32] = Sha256::digest(data).into();
    for _ in 1..rounds {
        h = Sha256::digest(h).into();
    }
    h
}

/// BLAKE3 (by the host) of `data`, then re-hashed until `rounds` hashes were computed.
pub fn blake3_chain(data: &[u8], rounds: u32) -> [u8; 32] {
    let mut h = blake3(data);
    for _ in 1..rounds {
        h = blake3(&h);
    }
    h
}

entry!(deploy, call);

#[cfg(test)]
mod tests {
    use super::*;
    use keel_sdk::mock::{self, Code, ALICE, CONTRACT};

    #[test]
    fn sha256_known_answers() {
        mock::reset();
        mock::deploy(Code { deploy, call }, CONTRACT, ALICE, ()).unwrap();
        let h: [u8; 32] = mock::call(ALICE, CONTRACT, "sha256", (b"abc".to_vec(), 1u32)).unwrap();
        assert_eq!(h[..4], [0xba, 0x78, 0x16, 0xbf]); // FIPS 180-2 "abc"
        let h2: [u8; 32] = mock::call(ALICE, CONTRACT, "sha256", (b"abc".to_vec(), 2u32)).unwrap();
        assert_eq!(h2, <[u8; 32]>::from(Sha256::digest(h)));
        let h0: [u8; 32] = mock::call(ALICE, CONTRACT, "sha256", (b"abc".to_vec(), 0u32)).unwrap();
        assert_eq!(h0, h);
    }

    #[test]
    fn blake3_host_chain() {
        mock::reset();
        mock::deploy(Code { deploy, call }, CONTRACT, ALICE, ()).unwrap();
        let h: [u8; 32] = mock::call(ALICE, CONTRACT, "blake3_host", (Vec::<u8>::new(), 1u32)).unwrap();
        assert_eq!(h[..4], [0xaf, 0x13, 0x49, 0xb9]); // BLAKE3("")
    }
}
