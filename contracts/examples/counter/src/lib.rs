//! Counter: the smallest useful Keel contract.
//!
//! * `deploy(initial: u64)` — sets the count; the deployer becomes the owner.
//! * `increment(by: u64) -> u64` — adds `by` (reverts on overflow), emits `Incremented`
//!   (topics: name, caller; data: new count), returns the new count.
//! * `get() -> u64` — the count.
//! * `reset()` — owner only: sets the count to 0.
#![cfg_attr(target_arch = "wasm32", no_std)]

use keel_sdk::env::{caller, require, revert};
use keel_sdk::{emit, entry, ret, topic, Address, Input, StorageValue, Topic};

static COUNT: StorageValue<u64> = StorageValue::new(b"count");
static OWNER: StorageValue<Address> = StorageValue::new(b"owner");

/// Topic of the `Incremented` event.
pub const INCREMENTED: Topic = topic("Incremented");

/// Constructor: `deploy(initial: u64)`.
pub fn deploy() {
    let mut input = Input::read();
    let initial: u64 = input.arg();
    input.finish();
    COUNT.set(&initial);
    OWNER.set(&caller());
}

/// Dispatcher of `call`.
pub fn call() {
    let mut input = Input::read();
    let method = input.method();
    match method.as_str() {
        "increment" => {
            let by: u64 = input.arg();
            input.finish();
            ret(&increment(by))
        }
        "get" => {
            input.finish();
            ret(&get())
        }
        "reset" => {
            input.finish();
            reset()
        }
        _ => revert("unknown method"),
    }
}

/// Adds `by` to the count and returns the new count.
pub fn increment(by: u64) -> u64 {
    let Some(count) = get().checked_add(by) else { revert("counter overflow") };
    COUNT.set(&count);
    emit(&[INCREMENTED, caller().0], &count);
    count
}

/// The current count.
pub fn get() -> u64 {
    COUNT.get_or_default()
}

/// Owner only: resets the count to 0.
pub fn reset() {
    require(OWNER.get() == Some(caller()), "only the owner can reset");
    COUNT.set(&0);
}

entry!(deploy, call);

#[cfg(test)]
mod tests {
    use super::*;
    use keel_sdk::mock::{self, Code, ALICE, BOB, CONTRACT};

    const CODE: Code = Code { deploy, call };

    #[test]
    fn direct_calls_in_the_ambient_frame() {
        mock::reset();
        assert_eq!(get(), 0);
        assert_eq!(increment(2), 2);
        assert_eq!(increment(3), 5);
        let events = mock::events();
        assert_eq!(events.len(), 2);
        assert_eq!(events[1].topics, vec![INCREMENTED, ALICE.0]);
        assert_eq!(events[1].data, 5u64.to_le_bytes());
        assert_eq!(mock::expect_revert(|| increment(u64::MAX)), "counter overflow");
    }

    #[test]
    fn through_the_entry_points() {
        mock::reset();
        mock::deploy(CODE, CONTRACT, ALICE, (10u64,)).unwrap();
        assert_eq!(mock::call::<u64, _>(BOB, CONTRACT, "increment", (5u64,)), Ok(15));
        assert_eq!(mock::call::<u64, _>(BOB, CONTRACT, "get", ()), Ok(15));
        assert_eq!(mock::call::<(), _>(BOB, CONTRACT, "reset", ()), Err("only the owner can reset".into()));
        assert_eq!(mock::call::<(), _>(ALICE, CONTRACT, "reset", ()), Ok(()));
        assert_eq!(mock::call::<u64, _>(BOB, CONTRACT, "get", ()), Ok(0));
    }

    #[test]
    fn malformed_call_data_reverts_with_a_message() {
        mock::reset();
        mock::deploy(CODE, CONTRACT, ALICE, (0u64,)).unwrap();
        assert_eq!(mock::call::<(), _>(ALICE, CONTRACT, "nope", ()), Err("unknown method".into()));
        assert_eq!(mock::call::<u64, _>(ALICE, CONTRACT, "increment", (1u8,)), Err("bad call data: argument".into()));
        assert_eq!(mock::call::<u64, _>(ALICE, CONTRACT, "get", (1u8,)), Err("bad call data: trailing bytes".into()));
        assert_eq!(mock::call_raw(ALICE, CONTRACT, vec![0xff], 0), Err("bad call data: method name".into()));
        assert!(mock::deploy(CODE, CONTRACT, ALICE, ()).is_err());
    }

    #[test]
    fn a_reverted_call_rolls_back_its_writes_and_events() {
        mock::reset();
        mock::deploy(CODE, CONTRACT, ALICE, (u64::MAX - 1,)).unwrap();
        mock::clear_events();
        assert!(mock::call::<u64, _>(ALICE, CONTRACT, "increment", (5u64,)).is_err());
        assert_eq!(mock::call::<u64, _>(ALICE, CONTRACT, "get", ()), Ok(u64::MAX - 1));
        assert!(mock::events().is_empty());
    }
}
