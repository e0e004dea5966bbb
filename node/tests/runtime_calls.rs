//! Cross-contract calls: revert, trap and out-of-gas in the middle of a call chain roll back
//! exactly the failing frames (and, when propagated, exactly that transaction); reentrancy
//! is refused with `REENTRANT` (`specs/abi.md` §4.5); `call_contract` status codes.

mod common;
use common::chain::*;
use common::who;
use keel_node::chain::*;
use keel_node::state::Address;
use parity_scale_codec::Encode;

/// A relay contract. Input: `[op u8][gas u64 LE][callee 32 bytes][nested input...]`.
/// Every op first writes storage `k` = `v` and emits an event (no topics, data `v`), then:
/// 0 returns; 1 reverts `nope`; 2 traps (`unreachable`); 3 loops until out of gas;
/// 4 calls `callee` with `gas` and the nested input, and returns `[status] ++ output`
/// whatever the callee did; 5 is 4 but reverts `nope` if the callee failed; 6 is 4 with a
/// value of 1 (the relay holds no balance).
const RELAY: &str = r#"(module
  (import "env" "input" (func $input (param i32 i32) (result i32)))
  (import "env" "storage_write" (func $sw (param i32 i32 i32 i32) (result i32)))
  (import "env" "revert" (func $revert (param i32 i32)))
  (import "env" "return_value" (func $ret (param i32 i32)))
  (import "env" "emit_event" (func $emit (param i32 i32 i32 i32)))
  (import "env" "call_contract" (func $cc (param i32 i32 i64 i32 i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 2)
  (data (i32.const 0) "kvnope")
  (data (i32.const 48) "\01")
  (func (export "deploy"))
  (func (export "call")
    (local $len i32) (local $op i32) (local $st i32)
    (local.set $len (call $input (i32.const 1024) (i32.const 65536)))
    (local.set $op (i32.load8_u (i32.const 1024)))
    (drop (call $sw (i32.const 0) (i32.const 1) (i32.const 1) (i32.const 1)))
    (call $emit (i32.const 0) (i32.const 0) (i32.const 1) (i32.const 1))
    (if (i32.eq (local.get $op) (i32.const 1)) (then (call $revert (i32.const 2) (i32.const 4))))
    (if (i32.eq (local.get $op) (i32.const 2)) (then unreachable))
    (if (i32.eq (local.get $op) (i32.const 3)) (then (loop $l (br $l))))
    (if (i32.ge_u (local.get $op) (i32.const 4)) (then
      (local.set $st (call $cc
        (i32.const 1033)
        (select (i32.const 48) (i32.const 32) (i32.eq (local.get $op) (i32.const 6)))
        (i64.load (i32.const 1025))
        (i32.const 1065)
        (i32.sub (local.get $len) (i32.const 41))
        (i32.const 70000) (i32.const 4096) (i32.const 80000)))
      (if (i32.and (i32.eq (local.get $op) (i32.const 5)) (i32.ne (local.get $st) (i32.const 0)))
        (then (call $revert (i32.const 2) (i32.const 4))))
      (i32.store8 (i32.const 69999) (local.get $st))
      (call $ret (i32.const 69999) (i32.add (i32.const 1) (i32.load (i32.const 80000)))))))
)"#;

fn relay_input(op: u8, gas: u64, callee: Address, nested: &[u8]) -> Vec<u8> {
    let mut v = vec![op];
    v.extend_from_slice(&gas.to_le_bytes());
    v.extend_from_slice(&callee.0);
    v.extend_from_slice(nested);
    v
}

fn leaf(op: u8) -> Vec<u8> {
    vec![op]
}

fn relays(c: &mut Chain, n: usize) -> Vec<Address> {
    let code = wat::parse_str(RELAY).unwrap();
    (0..n)
        .map(|_| {
            let (a, r) = c.deploy(1, code.clone(), vec![]);
            assert_eq!(r.status, ReceiptStatus::Success, "{r:?}");
            a
        })
        .collect()
}

fn has_k(c: &Chain, a: Address) -> bool {
    c.view().storage(&a, b"k").unwrap().is_some()
}

fn ev(a: Address) -> Event {
    Event { contract: a, topics: vec![], data: b"v".to_vec() }
}

/// A → B → C where C reverts / traps / runs out of gas and B tolerates it: exactly C's
/// writes and events are gone, and the callee's failure is reported as a status.
#[test]
fn failure_in_the_middle_of_a_chain_rolls_back_only_the_failing_frame() {
    for (op, status) in [(1u8, 1u8), (2, 2), (3, 3)] {
        let mut c = Chain::new();
        let r = relays(&mut c, 3);
        let (a, b, cc) = (r[0], r[1], r[2]);
        let input = relay_input(4, u64::MAX, b, &relay_input(4, 200_000, cc, &leaf(op)));
        let rec = c.call(2, a, input);
        assert_eq!(rec.status, ReceiptStatus::Success, "op {op}: {rec:?}");
        let mut expected = vec![0, status];
        if op == 1 {
            expected.extend_from_slice(b"nope");
        }
        assert_eq!(rec.return_data, expected, "op {op}");
        assert_eq!(rec.events, vec![ev(a), ev(b)], "op {op}");
        assert!(has_k(&c, a) && has_k(&c, b) && !has_k(&c, cc), "op {op}");
        if op == 3 {
            assert!(rec.gas_used > 200_000, "the callee's gas is consumed");
        }
    }
}

/// A failure propagated to the top (A ← B ← C all revert) undoes exactly that transaction:
/// transactions before and after it in the same block keep their effects.
#[test]
fn propagated_failure_rolls_back_exactly_that_transaction() {
    for op in [1u8, 2, 3] {
        let mut c = Chain::new();
        let r = relays(&mut c, 5);
        let (a, b, cc, d, e) = (r[0], r[1], r[2], r[3], r[4]);
        let t1 = c.call_tx(2, d, leaf(0), 0);
        let t2 = c.call_tx(2, a, relay_input(5, u64::MAX, b, &relay_input(5, 200_000, cc, &leaf(op))), 0);
        let t3 = c.call_tx(3, e, leaf(0), 0);
        let blk = c.block(vec![t1, t2, t3]);
        assert_eq!(blk.receipts[0].status, ReceiptStatus::Success);
        assert_eq!(blk.receipts[1].status, ReceiptStatus::Revert(b"nope".to_vec()), "op {op}");
        assert!(blk.receipts[1].events.is_empty());
        assert_eq!(blk.receipts[2].status, ReceiptStatus::Success);
        assert!(has_k(&c, d) && has_k(&c, e));
        assert!(!has_k(&c, a) && !has_k(&c, b) && !has_k(&c, cc), "op {op}");
        // The failed transaction still paid its fee and used its nonce.
        assert_eq!(c.view().account(&who(2)).unwrap().nonce, 2);
    }
}

/// Out of gas of the whole transaction in a nested frame: everything is undone and the
/// whole gas limit is charged.
#[test]
fn transaction_out_of_gas_in_a_nested_frame() {
    let mut c = Chain::new();
    let r = relays(&mut c, 2);
    let gas = 400_000;
    let tx = c.tx(2, TxAction::Call { contract: r[0], input: relay_input(5, u64::MAX, r[1], &leaf(3)), value: 0 }, gas);
    let blk = c.block(vec![tx]);
    // B runs out of (all the) gas; A sees OUT_OF_GAS and reverts with what is left: 0 gas,
    // so A's revert itself runs out of gas.
    assert_eq!(blk.receipts[0].status, ReceiptStatus::OutOfGas);
    assert_eq!(blk.receipts[0].gas_used, gas);
    assert!(!has_k(&c, r[0]) && !has_k(&c, r[1]));
}

/// The escrow tolerates a failing token call in `try_fund`: its own attempt counter stays,
/// the token's writes are rolled back by the host.
#[test]
fn escrow_try_fund_keeps_its_own_writes_when_the_token_reverts() {
    let mut c = Chain::new();
    let (token, _) = c.deploy(1, wasm("token"), ("T".to_string(), "T".to_string(), 1_000u128).encode());
    let (escrow, _) = c.deploy(2, wasm("escrow"), (token, who(1), who(2), who(3), 300u128).encode());
    let r = c.call(1, escrow, call_data("try_fund", ()));
    assert_eq!(r.status, ReceiptStatus::Success);
    assert_eq!(r.return_data, false.encode());
    assert!(r.events.is_empty());
    assert_eq!(c.call(4, escrow, call_data("attempts", ())).return_data, 1u32.encode());
    assert_eq!(c.call(4, token, call_data("balance_of", who(1))).return_data, 1_000u128.encode());
    assert_eq!(c.call(4, escrow, call_data("state", ())).return_data, 0u8.encode());
}

/// `specs/abi.md` §4.5: a contract already on the call stack cannot be entered again.
#[test]
fn reentrancy_is_refused() {
    let mut c = Chain::new();
    let r = relays(&mut c, 2);
    let (a, b) = (r[0], r[1]);
    // A → A.
    let rec = c.call(2, a, relay_input(4, u64::MAX, a, &leaf(0)));
    assert_eq!(rec.status, ReceiptStatus::Success);
    assert_eq!(rec.return_data, vec![7]);
    assert_eq!(rec.events, vec![ev(a)], "the refused frame never ran");
    // A → B → A.
    let rec = c.call(2, a, relay_input(4, u64::MAX, b, &relay_input(4, u64::MAX, a, &leaf(0))));
    assert_eq!(rec.return_data, vec![0, 7]);
    assert_eq!(rec.events, vec![ev(a), ev(b)]);
    // Calling B twice in sequence is allowed: see sequential_calls_to_the_same_contract_are_allowed.
}

#[test]
fn status_codes_no_contract_and_insufficient_balance() {
    let mut c = Chain::new();
    let r = relays(&mut c, 2);
    let rec = c.call(2, r[0], relay_input(4, u64::MAX, Address([0x42; 32]), &leaf(0)));
    assert_eq!(rec.return_data, vec![4], "NO_CONTRACT");
    let rec = c.call(2, r[0], relay_input(6, u64::MAX, r[1], &leaf(0)));
    assert_eq!(rec.return_data, vec![5], "INSUFFICIENT_BALANCE");
    assert!(!has_k(&c, r[1]));
    // With a balance, the value moves with the call and is rolled back with a failing one.
    let fund = c.call_tx(3, r[0], leaf(0), 10);
    c.block(vec![fund]);
    let rec = c.call(2, r[0], relay_input(6, u64::MAX, r[1], &leaf(0)));
    assert_eq!(rec.return_data, vec![0]);
    assert_eq!(c.view().account(&r[1]).unwrap().balance, 1);
    let rec = c.call(2, r[0], relay_input(6, u64::MAX, r[1], &leaf(1)));
    assert_eq!(rec.return_data, [&[1u8][..], b"nope"].concat());
    assert_eq!(c.view().account(&r[1]).unwrap().balance, 1, "the failed call's value came back");
    assert_eq!(c.view().account(&r[0]).unwrap().balance, 9);
}

/// `caller`, `self_address`, `block_height`, `block_timestamp`, `balance` in a nested frame
/// and at the top level, checked against the block context and the state.
#[test]
fn context_functions_report_the_frame_and_the_block() {
    let probe = r#"(module
      (import "env" "caller" (func $caller (param i32)))
      (import "env" "self_address" (func $self (param i32)))
      (import "env" "block_height" (func $height (result i64)))
      (import "env" "block_timestamp" (func $time (result i64)))
      (import "env" "balance" (func $balance (param i32 i32)))
      (import "env" "return_value" (func $ret (param i32 i32)))
      (memory (export "memory") 1)
      (func (export "deploy"))
      (func (export "call")
        (call $caller (i32.const 0))
        (call $self (i32.const 32))
        (i64.store (i32.const 64) (call $height))
        (i64.store (i32.const 72) (call $time))
        (call $balance (i32.const 32) (i32.const 80))
        (call $ret (i32.const 0) (i32.const 96))))"#;
    let mut c = Chain::new();
    let (p, _) = c.deploy(1, wat::parse_str(probe).unwrap(), vec![]);
    let r = relays(&mut c, 1)[0];
    let expect = |caller: Address, height: u64, balance: u128| {
        let ctx = ctx(height);
        [&caller.0[..], &p.0, &height.to_le_bytes(), &ctx.timestamp_ms.to_le_bytes(), &balance.to_le_bytes()].concat()
    };
    // Top level, with a value of 5 credited before the code runs.
    let h = c.blocks.len() as u64;
    let tx = c.call_tx(2, p, vec![], 5);
    let rec = c.block(vec![tx]).receipts.remove(0);
    assert_eq!(rec.return_data, expect(who(2), h, 5));
    // Nested: the caller is the relay.
    let h = c.blocks.len() as u64;
    let rec = c.call(3, r, relay_input(4, u64::MAX, p, &[]));
    assert_eq!(rec.return_data, [&[0u8][..], &expect(r, h, 5)].concat());
}

/// A frame may call the same contract several times in sequence (only re-entering one that
/// is still running is refused).
#[test]
fn sequential_calls_to_the_same_contract_are_allowed() {
    let twice = r#"(module
      (import "env" "input" (func $input (param i32 i32) (result i32)))
      (import "env" "return_value" (func $ret (param i32 i32)))
      (import "env" "call_contract" (func $cc (param i32 i32 i64 i32 i32 i32 i32 i32) (result i32)))
      (memory (export "memory") 1)
      (func (export "deploy"))
      (func (export "call")
        (drop (call $input (i32.const 100) (i32.const 32)))
        (i32.store8 (i32.const 0) (call $cc (i32.const 100) (i32.const 200) (i64.const -1) (i32.const 300) (i32.const 1) (i32.const 0) (i32.const 0) (i32.const 400)))
        (i32.store8 (i32.const 1) (call $cc (i32.const 100) (i32.const 200) (i64.const -1) (i32.const 300) (i32.const 1) (i32.const 0) (i32.const 0) (i32.const 400)))
        (call $ret (i32.const 0) (i32.const 2))))"#;
    let mut c = Chain::new();
    let (t, _) = c.deploy(1, wat::parse_str(twice).unwrap(), vec![]);
    let r = relays(&mut c, 1)[0];
    // The nested input is one byte at 300: 0 (relay op 0).
    let rec = c.call(2, t, r.0.to_vec());
    assert_eq!(rec.status, ReceiptStatus::Success);
    assert_eq!(rec.return_data, vec![0, 0]);
    assert_eq!(rec.events, vec![ev(r), ev(r)]);
}

/// A Deploy's value is credited to the new contract, and returned if the constructor fails.
#[test]
fn deploy_value_is_credited_or_rolled_back() {
    let mut c = Chain::new();
    let addr = keel_node::state::contract_address(&who(1), c.nonce(1));
    let tx = c.tx(1, TxAction::Deploy { code: wasm("c_counter"), input: 1u64.to_le_bytes().to_vec(), value: 700 }, GAS);
    let rec = c.block(vec![tx]).receipts.remove(0);
    assert_eq!(rec.status, ReceiptStatus::Success);
    assert_eq!(c.view().account(&addr).unwrap().balance, 700);
    let addr = keel_node::state::contract_address(&who(1), c.nonce(1));
    let before = c.view().account(&who(1)).unwrap().balance;
    let tx = c.tx(1, TxAction::Deploy { code: wasm("c_counter"), input: vec![9], value: 700 }, GAS);
    let rec = c.block(vec![tx]).receipts.remove(0);
    assert_eq!(rec.status, ReceiptStatus::Revert(b"bad call data: argument".to_vec()));
    assert!(c.view().account_opt(&addr).unwrap().is_none());
    assert_eq!(c.view().account(&who(1)).unwrap().balance, before - rec.gas_used as u128 * PRICE as u128);
}

/// A Call transaction to an address without code is valid and reverts; a call in the same
/// block after the contract's deployment reaches it.
#[test]
fn call_transaction_to_an_address_without_code() {
    let mut c = Chain::new();
    let code = wat::parse_str(RELAY).unwrap();
    let addr = keel_node::state::contract_address(&who(1), c.nonce(1));
    let early = c.call_tx(2, addr, leaf(0), 50);
    let (deploy, _) = c.deploy_tx(1, code, vec![]);
    let late = c.call_tx(3, addr, leaf(0), 0);
    let b = c.block(vec![early, deploy, late]);
    assert_eq!(b.receipts[0].status, ReceiptStatus::Revert(NO_CONTRACT_MESSAGE.to_vec()));
    assert_eq!(b.receipts[0].gas_used, intrinsic_gas(&TxAction::Call { contract: addr, input: leaf(0), value: 50 }));
    assert_eq!(b.receipts[1].status, ReceiptStatus::Success);
    assert_eq!(b.receipts[2].status, ReceiptStatus::Success);
    assert_eq!(b.receipts[2].events, vec![ev(addr)]);
    assert_eq!(c.view().account(&addr).unwrap().balance, 0, "the early call's value did not move");
    assert_eq!(c.view().account(&who(2)).unwrap().nonce, 1);
}
