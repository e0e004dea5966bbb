//! Hostile contracts: bad pointers, bad lengths, oversized values and counts passed to every
//! host function trap the contract with the kind `specs/abi.md` §3 specifies (never the
//! node), after which only the fee and the nonce have changed. Edge cases the ABI declares
//! valid (zero-length ranges at the end of memory, an unread topics pointer) succeed.

mod common;
use common::chain::*;
use keel_node::chain::*;

/// Memory is 2 pages: valid addresses are 0..131_072.
const MEM: i64 = 131_072;

/// A contract importing every host function; `call` first writes storage `a` (to show it is
/// rolled back), then runs `body`.
fn module(body: &str) -> Vec<u8> {
    let text = format!(
        r#"(module
  (import "env" "input" (func $input (param i32 i32) (result i32)))
  (import "env" "return_value" (func $ret (param i32 i32)))
  (import "env" "revert" (func $revert (param i32 i32)))
  (import "env" "caller" (func $caller (param i32)))
  (import "env" "self_address" (func $self (param i32)))
  (import "env" "block_height" (func $height (result i64)))
  (import "env" "block_timestamp" (func $time (result i64)))
  (import "env" "balance" (func $balance (param i32 i32)))
  (import "env" "transfer" (func $transfer (param i32 i32) (result i32)))
  (import "env" "storage_read" (func $sr (param i32 i32 i32 i32) (result i32)))
  (import "env" "storage_write" (func $sw (param i32 i32 i32 i32) (result i32)))
  (import "env" "storage_remove" (func $srm (param i32 i32) (result i32)))
  (import "env" "storage_has" (func $sh (param i32 i32) (result i32)))
  (import "env" "emit_event" (func $emit (param i32 i32 i32 i32)))
  (import "env" "call_contract" (func $cc (param i32 i32 i64 i32 i32 i32 i32 i32) (result i32)))
  (import "env" "blake3" (func $blake3 (param i32 i32 i32)))
  (import "env" "ed25519_verify" (func $ed (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 2 2)
  (data (i32.const 0) "a")
  (func (export "deploy"))
  (func (export "call") (local $i i32)
    (drop (call $sw (i32.const 0) (i32.const 1) (i32.const 0) (i32.const 1)))
    {body}))"#
    );
    wat::parse_str(&text).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

const MOOB: ReceiptStatus = ReceiptStatus::Trap(TrapKind::MemoryOutOfBounds);
const HLE: ReceiptStatus = ReceiptStatus::Trap(TrapKind::HostLimitExceeded);

fn trap_cases() -> Vec<(&'static str, String, ReceiptStatus)> {
    let end = MEM;
    vec![
        ("input cap past the end", format!("(drop (call $input (i32.const {}) (i32.const 100)))", end - 50), MOOB),
        ("input at -1", "(drop (call $input (i32.const -1) (i32.const 1)))".into(), MOOB),
        ("return_value len -1", "(call $ret (i32.const 0) (i32.const -1))".into(), HLE),
        ("return_value 64 KiB + 1", "(call $ret (i32.const 0) (i32.const 65537))".into(), HLE),
        ("return_value past the end", format!("(call $ret (i32.const {}) (i32.const 100))", end - 50), MOOB),
        ("revert message 1025", "(call $revert (i32.const 0) (i32.const 1025))".into(), HLE),
        ("revert past the end", format!("(call $revert (i32.const {}) (i32.const 10))", end - 2), MOOB),
        ("caller straddling the end", format!("(call $caller (i32.const {}))", end - 20), MOOB),
        ("self_address at -32", "(call $self (i32.const -32))".into(), MOOB),
        ("storage_read key 1025", "(drop (call $sr (i32.const 0) (i32.const 1025) (i32.const 0) (i32.const 0)))".into(), HLE),
        ("storage_read out past the end", format!("(drop (call $sr (i32.const 0) (i32.const 1) (i32.const {end}) (i32.const 1)))"), MOOB),
        ("storage_read key past the end", format!("(drop (call $sr (i32.const {}) (i32.const 8) (i32.const 0) (i32.const 0)))", end - 4), MOOB),
        ("storage_write value 64 KiB + 1", "(drop (call $sw (i32.const 0) (i32.const 1) (i32.const 0) (i32.const 65537)))".into(), HLE),
        ("storage_write key len -1", "(drop (call $sw (i32.const 0) (i32.const -1) (i32.const 0) (i32.const 1)))".into(), HLE),
        ("storage_write value past the end", format!("(drop (call $sw (i32.const 0) (i32.const 1) (i32.const {}) (i32.const 64)))", end - 32), MOOB),
        ("storage_remove key 1025", "(drop (call $srm (i32.const 0) (i32.const 1025)))".into(), HLE),
        ("storage_has key past the end", "(drop (call $sh (i32.const -1) (i32.const 2)))".into(), MOOB),
        ("balance address past the end", format!("(call $balance (i32.const {}) (i32.const 0))", end - 31), MOOB),
        ("balance output past the end", format!("(call $balance (i32.const 0) (i32.const {}))", end - 15), MOOB),
        ("transfer amount past the end", format!("(drop (call $transfer (i32.const 0) (i32.const {})))", end - 8), MOOB),
        ("emit_event 5 topics", "(call $emit (i32.const 0) (i32.const 5) (i32.const 0) (i32.const 0))".into(), HLE),
        ("emit_event data 16 KiB + 1", "(call $emit (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 16385))".into(), HLE),
        ("emit_event topics past the end", format!("(call $emit (i32.const {}) (i32.const 4) (i32.const 0) (i32.const 0))", end - 64), MOOB),
        (
            "1025 events in one transaction",
            "(loop $l (call $emit (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0)) (local.set $i (i32.add (local.get $i) (i32.const 1))) (br_if $l (i32.lt_u (local.get $i) (i32.const 1025))))".into(),
            HLE,
        ),
        ("call_contract input 64 KiB + 1", "(drop (call $cc (i32.const 0) (i32.const 0) (i64.const -1) (i32.const 0) (i32.const 65537) (i32.const 0) (i32.const 0) (i32.const 0)))".into(), HLE),
        ("call_contract callee at -1", "(drop (call $cc (i32.const -1) (i32.const 0) (i64.const -1) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0)))".into(), MOOB),
        (
            "call_contract out_len past the end",
            format!("(drop (call $cc (i32.const 0) (i32.const 0) (i64.const -1) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const {})))", end - 2),
            MOOB,
        ),
        (
            "call_contract output capacity past the end",
            "(drop (call $cc (i32.const 0) (i32.const 0) (i64.const -1) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const -1) (i32.const 0)))".into(),
            MOOB,
        ),
        ("blake3 data len -1", "(call $blake3 (i32.const 0) (i32.const -1) (i32.const 0))".into(), MOOB),
        ("blake3 output past the end", format!("(call $blake3 (i32.const 0) (i32.const 0) (i32.const {}))", end - 1), MOOB),
        ("ed25519 message len -1", "(drop (call $ed (i32.const 0) (i32.const 0) (i32.const 0) (i32.const -1)))".into(), MOOB),
        ("ed25519 signature past the end", format!("(drop (call $ed (i32.const {}) (i32.const 0) (i32.const 0) (i32.const 0)))", end - 63), MOOB),
    ]
}

#[test]
fn bad_pointers_and_lengths_trap_the_contract_and_change_nothing() {
    let mut c = Chain::new();
    let cases = trap_cases();
    for (name, body, expected) in &cases {
        let (addr, r) = c.deploy(1, module(body), vec![]);
        assert_eq!(r.status, ReceiptStatus::Success, "{name}: deploy");
        let tx = c.call_tx(2, addr, vec![1, 2, 3], 0);
        let r = apply_checked(&mut c, tx);
        assert_eq!(&r.status, expected, "{name}");
        assert!(r.return_data.is_empty(), "{name}");
        assert_eq!(c.view().storage(&addr, b"a").unwrap(), None, "{name}: the earlier write is rolled back");
    }
}

#[test]
fn out_of_gas_inside_a_host_call_charges_the_whole_limit() {
    let mut c = Chain::new();
    // The second write needs 5 000 + 20 × 1 001 gas.
    let (addr, _) = c.deploy(1, module("(drop (call $sw (i32.const 0) (i32.const 1) (i32.const 0) (i32.const 1000)))"), vec![]);
    let gas = intrinsic_gas(&TxAction::Call { contract: addr, input: vec![], value: 0 }) + 20_000;
    let tx = c.tx(2, TxAction::Call { contract: addr, input: vec![], value: 0 }, gas);
    let r = apply_checked(&mut c, tx);
    assert_eq!(r.status, ReceiptStatus::OutOfGas);
    assert_eq!(r.gas_used, gas);
}

#[test]
fn edge_cases_the_abi_allows_succeed() {
    let mut c = Chain::new();
    let end = MEM;
    let cases: Vec<(&str, String, Vec<u8>)> = vec![
        // Zero-length ranges at the very end of memory: an empty key with an empty value.
        (
            "empty key and value at the end of memory",
            format!(
                "(drop (call $sw (i32.const {end}) (i32.const 0) (i32.const {end}) (i32.const 0)))
                 (i32.store (i32.const 100) (call $sr (i32.const {end}) (i32.const 0) (i32.const {end}) (i32.const 0)))
                 (call $ret (i32.const 100) (i32.const 4))"
            ),
            0i32.to_le_bytes().to_vec(),
        ),
        // topic_count 0: the topics pointer is not read, even if it is out of range.
        ("no topics, wild pointer", "(call $emit (i32.const -1) (i32.const 0) (i32.const 0) (i32.const 1)) (call $ret (i32.const 0) (i32.const 1))".into(), b"a".to_vec()),
        // input with capacity 0 reports the full length (3) and writes nothing.
        (
            "input length query",
            format!("(i32.store (i32.const 100) (call $input (i32.const {end}) (i32.const 0))) (call $ret (i32.const 100) (i32.const 4))"),
            3i32.to_le_bytes().to_vec(),
        ),
        // Garbage key and signature: invalid (0), not a trap.
        (
            "ed25519 garbage",
            "(i32.store (i32.const 100) (call $ed (i32.const 200) (i32.const 300) (i32.const 0) (i32.const 10))) (call $ret (i32.const 100) (i32.const 4))".into(),
            0i32.to_le_bytes().to_vec(),
        ),
        // Absent key reads as -1.
        (
            "absent key",
            "(i32.store (i32.const 100) (call $sr (i32.const 1) (i32.const 5) (i32.const 0) (i32.const 0))) (call $ret (i32.const 100) (i32.const 4))".into(),
            (-1i32).to_le_bytes().to_vec(),
        ),
        // call_contract to nobody: NO_CONTRACT, output length 0.
        (
            "call to an empty address",
            "(i32.store (i32.const 100) (call $cc (i32.const 500) (i32.const 600) (i64.const -1) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 104))) (call $ret (i32.const 100) (i32.const 8))".into(),
            [4i32.to_le_bytes(), 0i32.to_le_bytes()].concat(),
        ),
    ];
    for (name, body, expected) in cases {
        let (addr, r) = c.deploy(1, module(&body), vec![]);
        assert_eq!(r.status, ReceiptStatus::Success, "{name}: deploy");
        let r = c.call(2, addr, vec![1, 2, 3]);
        assert_eq!(r.status, ReceiptStatus::Success, "{name}: {r:?}");
        assert_eq!(r.return_data, expected, "{name}");
    }
}

#[test]
fn modules_that_break_the_contract_shape_are_rejected_at_deploy() {
    let cases = [
        ("no call export", r#"(module (memory (export "memory") 1) (func (export "deploy")))"#, "missing export \"call\""),
        ("no memory export", r#"(module (memory 1) (func (export "deploy")) (func (export "call")))"#, "missing export \"memory\""),
        ("entry with a parameter", r#"(module (memory (export "memory") 1) (func (export "deploy")) (func (export "call") (param i32)))"#, "[] -> []"),
        (
            "unknown host function",
            r#"(module (import "env" "exit" (func)) (memory (export "memory") 1) (func (export "deploy")) (func (export "call")))"#,
            "unknown host function env::exit",
        ),
        (
            "wrong host signature",
            r#"(module (import "env" "caller" (func (param i64))) (memory (export "memory") 1) (func (export "deploy")) (func (export "call")))"#,
            "env::caller",
        ),
        (
            "start function",
            r#"(module (memory (export "memory") 1) (func $s) (start $s) (func (export "deploy")) (func (export "call")))"#,
            "start function",
        ),
        (
            "imported memory",
            r#"(module (import "env" "memory" (memory 1)) (export "memory" (memory 0)) (func (export "deploy")) (func (export "call")))"#,
            "not a function",
        ),
    ];
    let mut c = Chain::new();
    for (name, text, needle) in cases {
        let (tx, addr) = c.deploy_tx(1, wat::parse_str(text).unwrap(), vec![]);
        let r = apply_checked(&mut c, tx);
        match &r.status {
            ReceiptStatus::InvalidCode(msg) => assert!(msg.contains(needle), "{name}: {msg}"),
            other => panic!("{name}: {other:?}"),
        }
        assert!(c.view().account_opt(&addr).unwrap().is_none());
    }
    // Not even a module.
    let (tx, _) = c.deploy_tx(1, b"\0asm garbage".to_vec(), vec![]);
    assert!(matches!(apply_checked(&mut c, tx).status, ReceiptStatus::InvalidCode(_)));
}
