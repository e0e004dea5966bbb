//! Registry: first come, first served names, each owned by an address.
//!
//! * `deploy()` — no arguments.
//! * `register(name: String)` — the caller owns `name` if nobody does. Names are 1..=64
//!   bytes of `a-z`, `0-9` and `-`. Emits `Registered` (topics: name topic, owner; data:
//!   the name).
//! * `owner_of(name: String) -> Option<Address>`.
//! * `transfer(name: String, new_owner: Address)` — owner only; emits `Transferred`
//!   (topics: topic, old owner, new owner; data: the name).
//! * `release(name: String)` — owner only; the name becomes free.
#![cfg_attr(target_arch = "wasm32", no_std)]

extern crate alloc;

use alloc::string::String;

use keel_sdk::env::{caller, require, revert};
use keel_sdk::{emit, entry, ret, topic, Address, Input, StorageMap, Topic};

static OWNERS: StorageMap<String, Address> = StorageMap::new(b"owner");

/// Topic of the `Registered` event.
pub const REGISTERED: Topic = topic("Registered");
/// Topic of the `Transferred` event.
pub const TRANSFERRED: Topic = topic("Transferred");
/// Longest name, in bytes.
pub const MAX_NAME_LEN: usize = 64;

/// Constructor: no arguments.
pub fn deploy() {
    Input::read().finish();
}

/// Dispatcher of `call`.
pub fn call() {
    let mut input = Input::read();
    let method = input.method();
    let name: String = input.arg();
    match method.as_str() {
        "register" => {
            input.finish();
            register(name)
        }
        "owner_of" => {
            input.finish();
            ret(&owner_of(&name))
        }
        "transfer" => {
            let new_owner: Address = input.arg();
            input.finish();
            transfer(name, new_owner)
        }
        "release" => {
            input.finish();
            release(&name)
        }
        _ => revert("unknown method"),
    }
}

/// Whether `name` is 1..=64 bytes of `a-z0-9-`.
pub fn valid_name(name: &str) -> bool {
    (1..=MAX_NAME_LEN).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// Registers `name` to the caller.
pub fn register(name: String) {
    require(valid_name(&name), "invalid name");
    require(!OWNERS.contains(&name), "name taken");
    let owner = caller();
    OWNERS.insert(&name, &owner);
    emit(&[REGISTERED, owner.0], &name);
}

/// The owner of `name`, if registered.
pub fn owner_of(name: &String) -> Option<Address> {
    OWNERS.get(name)
}

fn require_owner(name: &String) -> Address {
    let owner = OWNERS.get(name).unwrap_or_else(|| revert("name not registered"));
    require(owner == caller(), "only the owner");
    owner
}

/// Owner only: gives `name` to `new_owner`.
pub fn transfer(name: String, new_owner: Address) {
    let old = require_owner(&name);
    OWNERS.insert(&name, &new_owner);
    emit(&[TRANSFERRED, old.0, new_owner.0], &name);
}

/// Owner only: frees `name`.
pub fn release(name: &String) {
    require_owner(name);
    OWNERS.remove(name);
}

entry!(deploy, call);

#[cfg(test)]
mod tests {
    use super::*;
    use keel_sdk::mock::{self, Code, ALICE, BOB, CONTRACT};

    fn setup() {
        mock::reset();
        mock::deploy(Code { deploy, call }, CONTRACT, ALICE, ()).unwrap();
    }

    fn owner(name: &str) -> Option<Address> {
        mock::call(ALICE, CONTRACT, "owner_of", (name,)).unwrap()
    }

    #[test]
    fn register_transfer_release() {
        setup();
        mock::call::<(), _>(ALICE, CONTRACT, "register", ("alice",)).unwrap();
        assert_eq!(owner("alice"), Some(ALICE));
        assert_eq!(owner("bob"), None);
        assert_eq!(mock::call::<(), _>(BOB, CONTRACT, "register", ("alice",)), Err("name taken".into()));
        assert_eq!(mock::call::<(), _>(BOB, CONTRACT, "transfer", ("alice", BOB)), Err("only the owner".into()));
        mock::call::<(), _>(ALICE, CONTRACT, "transfer", ("alice", BOB)).unwrap();
        assert_eq!(owner("alice"), Some(BOB));
        let ev = mock::events();
        assert_eq!(ev.last().unwrap().topics, vec![TRANSFERRED, ALICE.0, BOB.0]);
        mock::call::<(), _>(BOB, CONTRACT, "release", ("alice",)).unwrap();
        assert_eq!(owner("alice"), None);
        assert_eq!(mock::call::<(), _>(BOB, CONTRACT, "release", ("alice",)), Err("name not registered".into()));
    }

    #[test]
    fn names_are_validated() {
        setup();
        for bad in ["", "Alice", "a b", "é", &"x".repeat(65)] {
            assert_eq!(mock::call::<(), _>(ALICE, CONTRACT, "register", (bad,)), Err("invalid name".into()), "{bad}");
        }
        mock::call::<(), _>(ALICE, CONTRACT, "register", ("keel-2".to_string(),)).unwrap();
        mock::call::<(), _>(ALICE, CONTRACT, "register", ("x".repeat(64),)).unwrap();
    }

    #[test]
    fn invalid_utf8_name_reverts() {
        setup();
        let mut data = keel_sdk::call::encode_call("register", &());
        data.extend_from_slice(&[4, 0xff]); // compact length 1, then a non-UTF-8 byte
        assert_eq!(mock::call_raw(ALICE, CONTRACT, data, 0), Err("bad call data: argument".into()));
    }
}
