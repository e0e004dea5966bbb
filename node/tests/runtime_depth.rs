//! Guest → host → guest recursion through `call_contract` (the shape that crashed CosmWasm
//! nodes, CWA-2023-002): a chain of thousands of hops stops with `DEPTH_EXCEEDED` at depth
//! 16, or with the deterministic `StackExhausted` trap, at the same place on every run,
//! while every frame of the chain holds thousands of live guest frames — and the node's
//! native stack never overflows (an overflow would kill this test process).

mod common;
use common::chain::*;
use keel_node::chain::*;
use keel_node::runtime::{executor_stack_bytes, guest_stack_bytes, MAX_CALL_DEPTH, RUNTIME_HOST_STACK_BYTES};
use keel_node::state::Address;

/// A hopper. Input: `[d u32 LE][addr_1][addr_2]...`. It recurses `d` levels deep inside
/// wasm, and at the bottom calls `addr_1` with input `[d][addr_2]...` (all its gas), then
/// returns `[status] ++ callee output`. With no address left it returns `[0xff]`.
const HOPPER: &str = r#"(module
  (import "env" "input" (func $input (param i32 i32) (result i32)))
  (import "env" "return_value" (func $ret (param i32 i32)))
  (import "env" "call_contract" (func $cc (param i32 i32 i64 i32 i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 2)
  (func (export "deploy"))
  (func $hop (param $len i32)
    (local $st i32)
    (if (i32.lt_u (local.get $len) (i32.const 36))
      (then
        (i32.store8 (i32.const 69999) (i32.const 0xff))
        (call $ret (i32.const 69999) (i32.const 1))
        (return)))
    (memory.copy (i32.const 512) (i32.const 1028) (i32.const 32))
    (i32.store (i32.const 1056) (i32.load (i32.const 1024)))
    (local.set $st (call $cc (i32.const 512) (i32.const 32) (i64.const -1)
      (i32.const 1056) (i32.sub (local.get $len) (i32.const 32))
      (i32.const 70000) (i32.const 4096) (i32.const 80000)))
    (i32.store8 (i32.const 69999) (local.get $st))
    (call $ret (i32.const 69999) (i32.add (i32.const 1) (i32.load (i32.const 80000)))))
  (func $down (param $d i32) (param $len i32)
    (if (local.get $d)
      (then (call $down (i32.sub (local.get $d) (i32.const 1)) (local.get $len)))
      (else (call $hop (local.get $len)))))
  (func (export "call")
    (local $len i32)
    (local.set $len (call $input (i32.const 1024) (i32.const 65536)))
    (call $down (i32.load (i32.const 1024)) (local.get $len))))"#;

const HOPS: usize = 2_000;

fn setup(c: &mut Chain, contracts: usize) -> Vec<Address> {
    let code = wat::parse_str(HOPPER).unwrap();
    (0..contracts)
        .map(|_| {
            let (a, r) = c.deploy(1, code.clone(), vec![]);
            assert_eq!(r.status, ReceiptStatus::Success, "{r:?}");
            a
        })
        .collect()
}

/// `[d][addr_1]...[addr_HOPS]`: the first `contracts.len()` hops are contracts, the rest
/// never-reached addresses.
fn input(d: u32, contracts: &[Address]) -> Vec<u8> {
    let mut v = d.to_le_bytes().to_vec();
    for i in 0..HOPS {
        let a = contracts.get(i).copied().unwrap_or(Address([(i % 251) as u8 + 1; 32]));
        v.extend_from_slice(&a.0);
    }
    v
}

fn run(d: u32) -> Receipt {
    let mut c = Chain::new();
    let contracts = setup(&mut c, MAX_CALL_DEPTH + 4);
    // The first frame is contracts[0] itself; its input names the next hops.
    let tx = c.tx(2, TxAction::Call { contract: contracts[0], input: input(d, &contracts[1..]), value: 0 }, 2_000_000_000);
    c.block(vec![tx]).receipts.remove(0)
}

#[test]
fn thousands_of_hops_stop_at_the_call_depth_limit_every_time() {
    for d in [0u32, 4_000] {
        let first = run(d);
        assert_eq!(first.status, ReceiptStatus::Success, "d = {d}: {first:?}");
        // Frames 1..=15 each returned OK with the next frame's output; frame 16's call was
        // refused with DEPTH_EXCEEDED (6).
        let mut expected = vec![0u8; MAX_CALL_DEPTH - 1];
        expected.push(6);
        assert_eq!(first.return_data, expected, "d = {d}");
        assert_eq!(run(d), first, "d = {d}: identical on a second run");
    }
}

/// Block execution moves contract code to the executor thread: even a caller thread with a
/// 256 KiB stack runs the deepest chain.
#[test]
fn a_small_caller_stack_is_enough() {
    let small = std::thread::Builder::new().stack_size(256 << 10).spawn(|| run(4_000)).unwrap().join().unwrap();
    assert_eq!(small, run(4_000));
}

#[test]
fn recursion_past_the_stack_budget_traps_deterministically() {
    // 100 000 nested wasm calls exceed one frame's deterministic budget (65 536 slots).
    let first = run(100_000);
    assert_eq!(first.status, ReceiptStatus::Trap(TrapKind::StackExhausted), "{first:?}");
    assert_eq!(run(100_000), first);
}

#[test]
fn executor_stack_covers_the_whole_call_chain() {
    // Every frame of the deepest chain may use its whole deterministic budget (16 native
    // bytes per slot), its host reserve and its re-entry reserves; the executor thread's
    // stack is at least all of that plus the runtime's own reserve.
    let config = keel_engine::Config::default();
    let per_frame = 16 * config.stack_limit as usize + config.host_stack_bytes + (config.max_host_reentry as usize + 1) * 64 * 1024;
    assert!(guest_stack_bytes(&config) >= per_frame);
    assert!(executor_stack_bytes(&config) >= MAX_CALL_DEPTH * per_frame + RUNTIME_HOST_STACK_BYTES);
}
