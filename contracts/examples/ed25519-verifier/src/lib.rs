//! Ed25519 signature verification computed inside the contract by `ed25519-dalek`
//! (`default-features = false`, no_std): a compute-heavy workload (curve arithmetic,
//! SHA-512), and a cross-check of the host's `ed25519_verify`.
//!
//! * `deploy()` — no arguments.
//! * `verify(pubkey: [u8; 32], msg: Vec<u8>, sig: [u8; 64]) -> bool` — in wasm,
//!   `verify_strict` rules (the same rules as the host function).
//! * `verify_host(pubkey, msg, sig) -> bool` — the host's `ed25519_verify`.
//! * `verify_many(pubkey, msg, sig, times: u32) -> u32` — verifies `times` times in wasm and
//!   returns how many succeeded.
#![cfg_attr(target_arch = "wasm32", no_std)]

extern crate alloc;

use alloc::vec::Vec;

use ed25519_dalek::{Signature, VerifyingKey};
use keel_sdk::env::{ed25519_verify, revert};
use keel_sdk::{entry, ret, Input};

/// Constructor: no arguments.
pub fn deploy() {
    Input::read().finish();
}

/// Dispatcher of `call`.
pub fn call() {
    let mut input = Input::read();
    let method = input.method();
    let pubkey: [u8; 32] = input.arg();
    let msg: Vec<u8> = input.arg();
    let sig: [u8; 64] = input.arg();
    match method.as_str() {
        "verify" => {
            input.finish();
            ret(&verify(&pubkey, &msg, &sig))
        }
        "verify_host" => {
            input.finish();
            ret(&ed25519_verify(&sig, &pubkey, &msg))
        }
        "verify_many" => {
            let times: u32 = input.arg();
            input.finish();
            ret(&((0..times).filter(|_| verify(&pubkey, &msg, &sig)).count() as u32))
        }
        _ => revert("unknown method"),
    }
}

/// Verifies `sig` over `msg` by `pubkey` in wasm; malformed keys are simply invalid.
pub fn verify(pubkey: &[u8; 32], msg: &[u8], sig: &[u8; 64]) -> bool {
    let Ok(key) = VerifyingKey::from_bytes(pubkey) else { return false };
    key.verify_strict(msg, &Signature::from_bytes(sig)).is_ok()
}

entry!(deploy, call);

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::{Signer, SigningKey};
    use keel_sdk::mock::{self, Code, ALICE, CONTRACT};

    fn fixture() -> ([u8; 32], Vec<u8>, [u8; 64]) {
        let key = SigningKey::from_bytes(&[7u8; 32]);
        let msg = b"keel transfer 100".to_vec();
        let sig = key.sign(&msg).to_bytes();
        (key.verifying_key().to_bytes(), msg, sig)
    }

    #[test]
    fn wasm_side_and_host_agree() {
        mock::reset();
        mock::deploy(Code { deploy, call }, CONTRACT, ALICE, ()).unwrap();
        let (pk, msg, sig) = fixture();
        let mut bad = sig;
        bad[5] ^= 1;
        for (s, want) in [(sig, true), (bad, false)] {
            assert_eq!(mock::call(ALICE, CONTRACT, "verify", (pk, msg.clone(), s)), Ok(want));
            assert_eq!(mock::call(ALICE, CONTRACT, "verify_host", (pk, msg.clone(), s)), Ok(want));
        }
        assert_eq!(mock::call(ALICE, CONTRACT, "verify_many", (pk, msg, sig, 3u32)), Ok(3u32));
    }

    #[test]
    fn malformed_key_is_invalid_not_a_failure() {
        let (_, msg, sig) = fixture();
        // Not a valid curve point encoding (y = 2^255 - 1 is non-canonical).
        assert!(!verify(&[0xff; 32], &msg, &sig));
    }
}
