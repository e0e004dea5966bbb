//! Token: a fungible token with the ERC-20 operations.
//!
//! * `deploy(name: String, symbol: String, initial_supply: u128)` — mints the initial supply
//!   to the deployer (emits `Transfer` from the zero address).
//! * `name() -> String`, `symbol() -> String`, `decimals() -> u8` (18),
//!   `total_supply() -> u128`, `balance_of(owner: Address) -> u128`,
//!   `allowance(owner: Address, spender: Address) -> u128`.
//! * `transfer(to: Address, amount: u128) -> bool`,
//!   `approve(spender: Address, amount: u128) -> bool`,
//!   `transfer_from(from: Address, to: Address, amount: u128) -> bool` — revert with
//!   `insufficient balance` / `insufficient allowance` rather than returning `false`.
//!
//! Events: `Transfer` (topics: name, from, to; data: amount) and `Approval` (topics: name,
//! owner, spender; data: amount).
#![cfg_attr(target_arch = "wasm32", no_std)]

extern crate alloc;

use alloc::string::String;

use keel_sdk::env::{caller, revert};
use keel_sdk::{emit, entry, ret, topic, Address, Balance, Input, StorageMap, StorageValue, Topic};

static NAME: StorageValue<String> = StorageValue::new(b"name");
static SYMBOL: StorageValue<String> = StorageValue::new(b"symbol");
static TOTAL_SUPPLY: StorageValue<Balance> = StorageValue::new(b"supply");
static BALANCES: StorageMap<Address, Balance> = StorageMap::new(b"bal");
static ALLOWANCES: StorageMap<(Address, Address), Balance> = StorageMap::new(b"allow");

/// Topic of the `Transfer` event.
pub const TRANSFER: Topic = topic("Transfer");
/// Topic of the `Approval` event.
pub const APPROVAL: Topic = topic("Approval");
/// Decimals reported by `decimals()`.
pub const DECIMALS: u8 = 18;

/// Constructor: `deploy(name: String, symbol: String, initial_supply: u128)`.
pub fn deploy() {
    let mut input = Input::read();
    let name: String = input.arg();
    let symbol: String = input.arg();
    let supply: Balance = input.arg();
    input.finish();
    NAME.set(&name);
    SYMBOL.set(&symbol);
    TOTAL_SUPPLY.set(&supply);
    let owner = caller();
    BALANCES.insert(&owner, &supply);
    emit(&[TRANSFER, Address::ZERO.0, owner.0], &supply);
}

/// Dispatcher of `call`.
pub fn call() {
    let mut input = Input::read();
    let method = input.method();
    match method.as_str() {
        "name" => ret(&NAME.get_or_default()),
        "symbol" => ret(&SYMBOL.get_or_default()),
        "decimals" => ret(&DECIMALS),
        "total_supply" => ret(&TOTAL_SUPPLY.get_or_default()),
        "balance_of" => {
            let owner: Address = input.arg();
            input.finish();
            ret(&balance_of(&owner))
        }
        "allowance" => {
            let owner: Address = input.arg();
            let spender: Address = input.arg();
            input.finish();
            ret(&allowance(&owner, &spender))
        }
        "transfer" => {
            let to: Address = input.arg();
            let amount: Balance = input.arg();
            input.finish();
            ret(&transfer(&to, amount))
        }
        "approve" => {
            let spender: Address = input.arg();
            let amount: Balance = input.arg();
            input.finish();
            ret(&approve(&spender, amount))
        }
        "transfer_from" => {
            let from: Address = input.arg();
            let to: Address = input.arg();
            let amount: Balance = input.arg();
            input.finish();
            ret(&transfer_from(&from, &to, amount))
        }
        _ => revert("unknown method"),
    }
}

/// Balance of `owner`.
pub fn balance_of(owner: &Address) -> Balance {
    BALANCES.get_or_default(owner)
}

/// How much `spender` may still move from `owner`.
pub fn allowance(owner: &Address, spender: &Address) -> Balance {
    ALLOWANCES.get_or_default(&(*owner, *spender))
}

fn move_tokens(from: &Address, to: &Address, amount: Balance) {
    let from_balance = balance_of(from);
    let Some(left) = from_balance.checked_sub(amount) else { revert("insufficient balance") };
    BALANCES.insert(from, &left);
    // Cannot overflow: the sum of all balances is the total supply, a u128.
    let to_balance = balance_of(to).saturating_add(amount);
    BALANCES.insert(to, &to_balance);
    emit(&[TRANSFER, from.0, to.0], &amount);
}

/// Moves `amount` from the caller to `to`.
pub fn transfer(to: &Address, amount: Balance) -> bool {
    move_tokens(&caller(), to, amount);
    true
}

/// Lets `spender` move up to `amount` of the caller's tokens (replaces the allowance).
pub fn approve(spender: &Address, amount: Balance) -> bool {
    let owner = caller();
    ALLOWANCES.insert(&(owner, *spender), &amount);
    emit(&[APPROVAL, owner.0, spender.0], &amount);
    true
}

/// Moves `amount` from `from` to `to` using the caller's allowance.
pub fn transfer_from(from: &Address, to: &Address, amount: Balance) -> bool {
    let spender = caller();
    let allowed = allowance(from, &spender);
    let Some(left) = allowed.checked_sub(amount) else { revert("insufficient allowance") };
    ALLOWANCES.insert(&(*from, spender), &left);
    move_tokens(from, to, amount);
    true
}

entry!(deploy, call);

#[cfg(test)]
mod tests {
    use super::*;
    use keel_sdk::mock::{self, Code, ALICE, BOB, CAROL, CONTRACT};

    /// The token's code for the mock host.
    const CODE: Code = Code { deploy, call };

    fn setup() {
        mock::reset();
        mock::deploy(CODE, CONTRACT, ALICE, (String::from("Keel"), String::from("KEEL"), 1_000u128)).unwrap();
        mock::clear_events();
    }

    fn bal(who: Address) -> u128 {
        mock::call(ALICE, CONTRACT, "balance_of", (who,)).unwrap()
    }

    #[test]
    fn metadata_and_supply() {
        setup();
        assert_eq!(mock::call::<String, _>(BOB, CONTRACT, "name", ()), Ok("Keel".into()));
        assert_eq!(mock::call::<String, _>(BOB, CONTRACT, "symbol", ()), Ok("KEEL".into()));
        assert_eq!(mock::call::<u8, _>(BOB, CONTRACT, "decimals", ()), Ok(18));
        assert_eq!(mock::call::<u128, _>(BOB, CONTRACT, "total_supply", ()), Ok(1_000));
        assert_eq!(bal(ALICE), 1_000);
        assert_eq!(bal(BOB), 0);
    }

    #[test]
    fn transfer_moves_tokens_and_emits() {
        setup();
        assert_eq!(mock::call(ALICE, CONTRACT, "transfer", (BOB, 300u128)), Ok(true));
        assert_eq!((bal(ALICE), bal(BOB)), (700, 300));
        let ev = mock::events();
        assert_eq!(ev.len(), 1);
        assert_eq!(ev[0].contract, CONTRACT);
        assert_eq!(ev[0].topics, vec![TRANSFER, ALICE.0, BOB.0]);
        assert_eq!(ev[0].data, 300u128.to_le_bytes());
        assert_eq!(mock::call::<bool, _>(BOB, CONTRACT, "transfer", (CAROL, 301u128)), Err("insufficient balance".into()));
        assert_eq!((bal(BOB), bal(CAROL)), (300, 0));
        // Self-transfer keeps the balance.
        assert_eq!(mock::call(BOB, CONTRACT, "transfer", (BOB, 300u128)), Ok(true));
        assert_eq!(bal(BOB), 300);
    }

    #[test]
    fn approve_and_transfer_from() {
        setup();
        assert_eq!(mock::call(ALICE, CONTRACT, "approve", (BOB, 100u128)), Ok(true));
        assert_eq!(mock::call::<u128, _>(CAROL, CONTRACT, "allowance", (ALICE, BOB)), Ok(100));
        assert_eq!(mock::events()[0].topics, vec![APPROVAL, ALICE.0, BOB.0]);
        assert_eq!(mock::call(BOB, CONTRACT, "transfer_from", (ALICE, CAROL, 60u128)), Ok(true));
        assert_eq!(mock::call::<u128, _>(CAROL, CONTRACT, "allowance", (ALICE, BOB)), Ok(40));
        assert_eq!(
            mock::call::<bool, _>(BOB, CONTRACT, "transfer_from", (ALICE, CAROL, 41u128)),
            Err("insufficient allowance".into())
        );
        // Carol has no allowance at all.
        assert_eq!(
            mock::call::<bool, _>(CAROL, CONTRACT, "transfer_from", (ALICE, CAROL, 1u128)),
            Err("insufficient allowance".into())
        );
        assert_eq!((bal(ALICE), bal(CAROL)), (940, 60));
    }

    #[test]
    fn allowance_beyond_balance_reverts_atomically() {
        setup();
        mock::call::<bool, _>(ALICE, CONTRACT, "transfer", (CAROL, 990u128)).unwrap();
        mock::call::<bool, _>(ALICE, CONTRACT, "approve", (BOB, 500u128)).unwrap();
        assert_eq!(
            mock::call::<bool, _>(BOB, CONTRACT, "transfer_from", (ALICE, BOB, 50u128)),
            Err("insufficient balance".into())
        );
        // The allowance decrement was rolled back with the failed call.
        assert_eq!(mock::call::<u128, _>(BOB, CONTRACT, "allowance", (ALICE, BOB)), Ok(500));
    }

    #[test]
    fn truncated_arguments_revert() {
        setup();
        let mut data = keel_sdk::call::encode_call("transfer", &(BOB,));
        data.extend_from_slice(&[1, 2, 3]);
        assert_eq!(mock::call_raw(ALICE, CONTRACT, data, 0), Err("bad call data: argument".into()));
    }
}
