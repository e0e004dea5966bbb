//! Host-call gas follows the cost table: `base + per_byte × metered bytes`
//! (`specs/abi.md` §3.1, §5; `specs/gas-schedule.toml` `[host.NAME]`), measured as the
//! difference between two otherwise identical runs.

mod common;
use common::chain::*;
use keel_metering::{CostTable, OpClass};
use keel_node::chain::*;

fn host(name: &str) -> keel_metering::HostCost {
    CostTable::default().host(name).unwrap()
}

/// `call` copies its input (cap 4096) and stores it as the value of key `k`.
const ECHO: &str = r#"(module
  (import "env" "input" (func $input (param i32 i32) (result i32)))
  (import "env" "storage_write" (func $sw (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "k")
  (func (export "deploy"))
  (func (export "call")
    (drop (call $sw (i32.const 0) (i32.const 1) (i32.const 16) (call $input (i32.const 16) (i32.const 4096))))))"#;

#[test]
fn per_byte_charges_of_input_and_storage_write() {
    let mut c = Chain::new();
    let (echo, _) = c.deploy(1, wat::parse_str(ECHO).unwrap(), vec![]);
    let g18 = c.call(2, echo, vec![7; 18]);
    let g28 = c.call(2, echo, vec![7; 28]);
    assert_eq!(g18.status, ReceiptStatus::Success);
    assert_eq!(c.view().storage(&echo, b"k").unwrap(), Some(vec![7; 28]));
    // 10 more bytes: intrinsic call data, `input` writes them, `storage_write` reads them.
    let per_byte = TX_INPUT_GAS_PER_BYTE + host("input").per_byte + host("storage_write").per_byte;
    assert_eq!(g28.gas_used - g18.gas_used, 10 * per_byte);
}

fn with_calls(n: usize) -> Vec<u8> {
    let calls = "(drop (call $h))".repeat(n);
    wat::parse_str(format!(
        r#"(module
  (import "env" "block_height" (func $h (result i64)))
  (memory (export "memory") 1)
  (func (export "deploy"))
  (func (export "call") {calls}))"#
    ))
    .unwrap()
}

#[test]
fn base_charge_of_a_host_call() {
    let mut c = Chain::new();
    let (zero, _) = c.deploy(1, with_calls(0), vec![]);
    let (three, _) = c.deploy(1, with_calls(3), vec![]);
    let g0 = c.call(2, zero, vec![]).gas_used;
    let g3 = c.call(2, three, vec![]).gas_used;
    let t = CostTable::default();
    // Each `(drop (call $h))` is one `call` operator, one `drop` and the host base.
    let each = t.class_cost(OpClass::Call) + t.class_cost(OpClass::Parametric) + host("block_height").base;
    assert_eq!(g3 - g0, 3 * each);
}

#[test]
fn nested_call_gas_limit_caps_the_callee() {
    // The relay of runtime_calls, minimal: calls the callee with a gas limit from input.
    let caller = r#"(module
      (import "env" "input" (func $input (param i32 i32) (result i32)))
      (import "env" "return_value" (func $ret (param i32 i32)))
      (import "env" "call_contract" (func $cc (param i32 i32 i64 i32 i32 i32 i32 i32) (result i32)))
      (memory (export "memory") 1)
      (func (export "deploy"))
      (func (export "call")
        (drop (call $input (i32.const 100) (i32.const 40)))
        (i32.store (i32.const 0) (call $cc (i32.const 100) (i32.const 200) (i64.load (i32.const 132))
          (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 4)))
        (call $ret (i32.const 0) (i32.const 4))))"#;
    let spinner = r#"(module (memory (export "memory") 1) (func (export "deploy")) (func (export "call") (loop $l (br $l))))"#;
    let mut c = Chain::new();
    let (a, _) = c.deploy(1, wat::parse_str(caller).unwrap(), vec![]);
    let (b, _) = c.deploy(1, wat::parse_str(spinner).unwrap(), vec![]);
    let run = |c: &mut Chain, limit: u64| {
        let mut input = b.0.to_vec();
        input.extend_from_slice(&limit.to_le_bytes());
        c.call(2, a, input)
    };
    let r1 = run(&mut c, 100_000);
    let r2 = run(&mut c, 300_000);
    assert_eq!(r1.return_data, 3i32.to_le_bytes(), "OUT_OF_GAS");
    assert_eq!(r2.return_data, 3i32.to_le_bytes());
    // The callee used exactly its limit each time; everything else is identical.
    assert_eq!(r2.gas_used - r1.gas_used, 200_000);
}
