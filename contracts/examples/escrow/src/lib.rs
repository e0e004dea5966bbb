//! Escrow: holds a token payment from a buyer until the buyer (or an arbiter) releases it
//! to the seller, or the seller (or the arbiter) refunds it. Every token movement is a
//! cross-contract call to the token contract (`examples/token`).
//!
//! * `deploy(token: Address, buyer: Address, seller: Address, arbiter: Address, amount: u128)`
//! * `fund()` — buyer only, state `CREATED`: calls `token.transfer_from(buyer, escrow,
//!   amount)` (the buyer approved the escrow first); a failing token call reverts `fund`.
//! * `try_fund() -> bool` — like `fund`, but a failing token call is handled: the attempt
//!   counter (written before the call) is kept, the token's writes are rolled back by the
//!   host, and `false` is returned.
//! * `release()` — buyer or arbiter, state `FUNDED`: `token.transfer(seller, amount)`.
//! * `refund()` — seller or arbiter, state `FUNDED`: `token.transfer(buyer, amount)`.
//! * `state() -> u8`, `attempts() -> u32`.
#![cfg_attr(target_arch = "wasm32", no_std)]

use keel_sdk::env::{caller, require, revert, self_address};
use keel_sdk::{emit, entry, ret, topic, Address, Balance, Call, Decode, Encode, Input, StorageValue, Topic};

/// Waiting for the buyer's payment.
pub const CREATED: u8 = 0;
/// Payment held.
pub const FUNDED: u8 = 1;
/// Paid out to the seller.
pub const RELEASED: u8 = 2;
/// Paid back to the buyer.
pub const REFUNDED: u8 = 3;

/// Topic of the `StateChanged` event (data: the new state).
pub const STATE_CHANGED: Topic = topic("StateChanged");

/// The parties and terms, fixed at deploy.
#[derive(Encode, Decode, Clone, Copy, PartialEq, Eq, Debug)]
#[codec(crate = keel_sdk::codec)]
pub struct Terms {
    /// The token contract.
    pub token: Address,
    /// Who pays.
    pub buyer: Address,
    /// Who is paid.
    pub seller: Address,
    /// Who settles disputes.
    pub arbiter: Address,
    /// Amount of tokens.
    pub amount: Balance,
}

static TERMS: StorageValue<Terms> = StorageValue::new(b"terms");
static STATE: StorageValue<u8> = StorageValue::new(b"state");
static ATTEMPTS: StorageValue<u32> = StorageValue::new(b"attempts");

/// Constructor: `deploy(token, buyer, seller, arbiter, amount)`.
pub fn deploy() {
    let mut input = Input::read();
    let terms = Terms { token: input.arg(), buyer: input.arg(), seller: input.arg(), arbiter: input.arg(), amount: input.arg() };
    input.finish();
    TERMS.set(&terms);
    STATE.set(&CREATED);
}

/// Dispatcher of `call`.
pub fn call() {
    let mut input = Input::read();
    let method = input.method();
    input.finish();
    match method.as_str() {
        "fund" => fund(),
        "try_fund" => ret(&try_fund()),
        "release" => release(),
        "refund" => refund(),
        "state" => ret(&STATE.get_or_default()),
        "attempts" => ret(&ATTEMPTS.get_or_default()),
        _ => revert("unknown method"),
    }
}

fn terms() -> Terms {
    TERMS.get().unwrap_or_else(|| revert("escrow not initialized"))
}

fn set_state(state: u8) {
    STATE.set(&state);
    emit(&[STATE_CHANGED], &state);
}

fn funding_call(t: &Terms) -> Call {
    Call::new(t.token, "transfer_from").arg(&t.buyer).arg(&self_address()).arg(&t.amount)
}

/// Buyer only: pulls the payment from the buyer (reverts if the token call fails).
pub fn fund() {
    let t = terms();
    require(caller() == t.buyer, "only the buyer can fund");
    require(STATE.get_or_default() == CREATED, "escrow already funded or settled");
    let ok: bool = funding_call(&t).invoke_or_revert();
    require(ok, "token transfer_from returned false");
    set_state(FUNDED);
}

/// Buyer only: like [`fund`], but a failing token call returns `false` instead of reverting.
pub fn try_fund() -> bool {
    let t = terms();
    require(caller() == t.buyer, "only the buyer can fund");
    require(STATE.get_or_default() == CREATED, "escrow already funded or settled");
    ATTEMPTS.set(&ATTEMPTS.get_or_default().saturating_add(1));
    match funding_call(&t).invoke::<bool>() {
        Ok(true) => {
            set_state(FUNDED);
            true
        }
        _ => false,
    }
}

fn pay_out(t: &Terms, to: &Address, state: u8) {
    require(STATE.get_or_default() == FUNDED, "escrow not funded");
    let ok: bool = Call::new(t.token, "transfer").arg(to).arg(&t.amount).invoke_or_revert();
    require(ok, "token transfer returned false");
    set_state(state);
}

/// Buyer or arbiter: pays the seller.
pub fn release() {
    let t = terms();
    let who = caller();
    require(who == t.buyer || who == t.arbiter, "only the buyer or arbiter can release");
    pay_out(&t, &t.seller, RELEASED);
}

/// Seller or arbiter: pays the buyer back.
pub fn refund() {
    let t = terms();
    let who = caller();
    require(who == t.seller || who == t.arbiter, "only the seller or arbiter can refund");
    pay_out(&t, &t.buyer, REFUNDED);
}

entry!(deploy, call);

#[cfg(test)]
mod tests {
    use super::*;
    use keel_sdk::mock::{self, Code, ALICE, BOB, CAROL};

    const TOKEN: Address = Address::repeat_byte(0x70);
    const ESCROW: Address = Address::repeat_byte(0xE5);
    const BUYER: Address = ALICE;
    const SELLER: Address = BOB;
    const ARBITER: Address = CAROL;

    fn setup() {
        mock::reset();
        let token = Code { deploy: token::deploy, call: token::call };
        mock::deploy(token, TOKEN, BUYER, (String::from("T"), String::from("T"), 1_000u128)).unwrap();
        let escrow = Code { deploy, call };
        mock::deploy(escrow, ESCROW, SELLER, (TOKEN, BUYER, SELLER, ARBITER, 250u128)).unwrap();
    }

    fn bal(who: Address) -> u128 {
        mock::call(ALICE, TOKEN, "balance_of", (who,)).unwrap()
    }

    fn state() -> u8 {
        mock::call(ALICE, ESCROW, "state", ()).unwrap()
    }

    #[test]
    fn fund_then_release() {
        setup();
        mock::call::<bool, _>(BUYER, TOKEN, "approve", (ESCROW, 250u128)).unwrap();
        mock::call::<(), _>(BUYER, ESCROW, "fund", ()).unwrap();
        assert_eq!((bal(BUYER), bal(ESCROW), state()), (750, 250, FUNDED));
        assert_eq!(mock::call::<(), _>(SELLER, ESCROW, "release", ()), Err("only the buyer or arbiter can release".into()));
        mock::call::<(), _>(ARBITER, ESCROW, "release", ()).unwrap();
        assert_eq!((bal(ESCROW), bal(SELLER), state()), (0, 250, RELEASED));
        assert_eq!(mock::call::<(), _>(ARBITER, ESCROW, "refund", ()), Err("escrow not funded".into()));
    }

    #[test]
    fn fund_then_refund() {
        setup();
        mock::call::<bool, _>(BUYER, TOKEN, "approve", (ESCROW, 250u128)).unwrap();
        mock::call::<(), _>(BUYER, ESCROW, "fund", ()).unwrap();
        mock::call::<(), _>(SELLER, ESCROW, "refund", ()).unwrap();
        assert_eq!((bal(BUYER), bal(ESCROW), state()), (1_000, 0, REFUNDED));
    }

    #[test]
    fn fund_without_approval_reverts_with_the_token_message() {
        setup();
        assert_eq!(
            mock::call::<(), _>(BUYER, ESCROW, "fund", ()),
            Err("callee reverted: insufficient allowance".into())
        );
        assert_eq!(state(), CREATED);
    }

    #[test]
    fn failed_callee_is_rolled_back_but_the_caller_keeps_its_writes() {
        setup();
        // Allowance enough, balance not: the token's allowance write is rolled back.
        mock::call::<bool, _>(BUYER, TOKEN, "transfer", (CAROL, 900u128)).unwrap();
        mock::call::<bool, _>(BUYER, TOKEN, "approve", (ESCROW, 250u128)).unwrap();
        mock::clear_events();
        assert_eq!(mock::call(BUYER, ESCROW, "try_fund", ()), Ok(false));
        assert_eq!(mock::call(BUYER, ESCROW, "attempts", ()), Ok(1u32));
        assert_eq!(mock::call(BUYER, TOKEN, "allowance", (BUYER, ESCROW)), Ok(250u128));
        assert!(mock::events().is_empty());
        assert_eq!(state(), CREATED);
    }

    #[test]
    fn calling_a_missing_contract_fails_cleanly() {
        mock::reset();
        mock::deploy(Code { deploy, call }, ESCROW, SELLER, (TOKEN, BUYER, SELLER, ARBITER, 1u128)).unwrap();
        assert_eq!(mock::call::<(), _>(BUYER, ESCROW, "fund", ()), Err("no contract at callee address".into()));
    }
}
