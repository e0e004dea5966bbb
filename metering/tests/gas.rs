//! Gas and stack metering on the reference instrumentation, run on wasmi. Every expected
//! figure is derived by hand from the default cost table's class costs.

mod common;

use common::{RefInstance, RefTrap};
use keel_metering::{CostTable, InstrumentConfig, OpClass, FRAME_OVERHEAD_SLOTS};
use wasmi::Val;

fn c(class: OpClass) -> u64 {
    CostTable::default().class_cost(class)
}

fn i32s(v: &[Val]) -> Vec<i32> {
    v.iter().map(|x| x.i32().expect("i32 result")).collect()
}

#[test]
fn straight_line_block_charges_sum_of_classes() {
    let mut m = RefInstance::new(
        br#"(module (func (export "f") (result i32) i32.const 2 i32.const 3 i32.add))"#,
        &InstrumentConfig::default(),
    );
    let (r, used) = m.call("f", &[], 1_000);
    assert_eq!(i32s(&r.unwrap()), vec![5]);
    // i32.const, i32.const, i32.add, end
    assert_eq!(used, 2 * c(OpClass::Const) + c(OpClass::IntAlu) + c(OpClass::Structure));
    assert_eq!(m.stack_used(), 0, "frame released on return");
}

#[test]
fn exact_gas_suffices_and_one_less_runs_out() {
    let wat = br#"(module (func (export "f") (result i32) i32.const 7 i32.const 6 i32.mul))"#;
    let cost = 2 * c(OpClass::Const) + c(OpClass::IntMul);
    let mut m = RefInstance::new(wat, &InstrumentConfig::default());
    let (r, used) = m.call("f", &[], cost);
    assert_eq!(i32s(&r.unwrap()), vec![42]);
    assert_eq!(used, cost);
    let (r, used) = m.call("f", &[], cost - 1);
    assert_eq!(r.unwrap_err(), RefTrap::OutOfGas);
    assert_eq!(used, cost - 1, "out of gas uses the whole limit");
    assert_eq!(m.gas_left(), 0);
}

/// A counting loop: the charge is placed inside the loop header and paid per iteration.
const LOOP: &[u8] = br#"(module
  (global $i (export "i") (mut i32) (i32.const 0))
  (func (export "run") (param $n i32)
    (global.set $i (i32.const 0))
    (loop $l
      (global.set $i (i32.add (global.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (global.get $i) (local.get $n))))))"#;

/// Gas of `run(n)` for n >= 1, by hand:
/// entry block: i32.const, global.set, loop                     = const + global + structure
/// loop body: global.get, i32.const, i32.add, global.set, global.get, local.get, i32.lt_u, br_if
///                                                               = 3 global + const + 2 alu + local + branch
/// after the loop: end (loop), end (function)                    = 2 structure (free)
fn loop_gas(n: u64) -> u64 {
    let entry = c(OpClass::Const) + c(OpClass::Global) + c(OpClass::Structure);
    let body = 3 * c(OpClass::Global)
        + c(OpClass::Const)
        + 2 * c(OpClass::IntAlu)
        + c(OpClass::Local)
        + c(OpClass::Branch);
    entry + n * body + 2 * c(OpClass::Structure)
}

#[test]
fn loop_charges_every_iteration() {
    let mut m = RefInstance::new(LOOP, &InstrumentConfig::default());
    for n in [1u64, 2, 10, 1000] {
        let (r, used) = m.call("run", &[Val::I32(n as i32)], 10_000_000);
        assert!(r.is_ok());
        assert_eq!(used, loop_gas(n), "n = {n}");
        assert_eq!(m.i32_global("i"), n as i32);
    }
}

#[test]
fn out_of_gas_in_the_middle_of_a_loop() {
    let mut m = RefInstance::new(LOOP, &InstrumentConfig::default());
    // Enough for the entry block and exactly 37 iterations, not for the 38th.
    let per_iter = loop_gas(2) - loop_gas(1);
    let gas = loop_gas(37) - 2 * c(OpClass::Structure) + per_iter - 1;
    let (r, used) = m.call("run", &[Val::I32(1_000_000)], gas);
    assert_eq!(r.unwrap_err(), RefTrap::OutOfGas);
    assert_eq!(used, gas);
    assert_eq!(m.i32_global("i"), 37, "the 38th iteration was refused before it ran");
}

const FILL: &[u8] = br#"(module
  (memory (export "memory") 2)
  (func (export "fill") (param $len i32)
    (memory.fill (i32.const 0) (i32.const 0xab) (local.get $len))))"#;

#[test]
fn memory_fill_is_charged_per_byte_before_the_work() {
    let table = CostTable::default();
    let per_byte = table.dynamic().memory_per_byte;
    // local.get... : i32.const, i32.const, local.get, memory.fill, end
    let static_gas = 2 * c(OpClass::Const) + c(OpClass::Local) + c(OpClass::BulkMemory);
    let mut m = RefInstance::new(FILL, &InstrumentConfig::default());

    let (r, used) = m.call("fill", &[Val::I32(100)], 1_000_000);
    assert!(r.is_ok());
    assert_eq!(used, static_gas + 100 * per_byte);
    assert_eq!(m.memory(0, 101), [vec![0xab; 100], vec![0]].concat());

    // A fill of 100,000 bytes with gas for 99,999 of them: nothing is written.
    let mut m = RefInstance::new(FILL, &InstrumentConfig::default());
    let gas = static_gas + 100_000 * per_byte - 1;
    let (r, used) = m.call("fill", &[Val::I32(100_000)], gas);
    assert_eq!(r.unwrap_err(), RefTrap::OutOfGas);
    assert_eq!(used, gas);
    assert!(m.memory(0, 100_000).iter().all(|b| *b == 0), "no byte was filled");
}

#[test]
fn huge_memory_fill_out_of_bounds_is_charged_then_traps() {
    // Gas suffices for the 4 GiB operand: the operand charge is paid, then the fill traps
    // out of bounds (memory is 128 KiB) without writing.
    let mut m = RefInstance::new(FILL, &InstrumentConfig::default());
    let (r, _) = m.call("fill", &[Val::I32(-1)], u64::MAX / 2);
    assert_eq!(r.unwrap_err(), RefTrap::Wasm(wasmi::TrapCode::MemoryOutOfBounds));
}

#[test]
fn memory_grow_is_charged_per_page_even_when_it_fails() {
    let wat = br#"(module (memory 1 4)
      (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0))))"#;
    let table = CostTable::default();
    let base = c(OpClass::Local) + c(OpClass::MemoryGrow);
    let mut m = RefInstance::new(wat, &InstrumentConfig::default());
    let (r, used) = m.call("grow", &[Val::I32(2)], u64::MAX);
    assert_eq!(i32s(&r.unwrap()), vec![1]);
    assert_eq!(used, base + 2 * table.dynamic().memory_grow_per_page);
    let (r, used) = m.call("grow", &[Val::I32(10)], u64::MAX);
    assert_eq!(i32s(&r.unwrap()), vec![-1], "beyond the declared maximum");
    assert_eq!(used, base + 10 * table.dynamic().memory_grow_per_page);
}

#[test]
fn branches_skip_charges_of_blocks_not_taken() {
    let wat = br#"(module (func (export "f") (param i32) (result i32)
        (if (result i32) (local.get 0)
          (then (i32.const 10))
          (else (i32.mul (i32.const 3) (i32.const 4))))))"#;
    let mut m = RefInstance::new(wat, &InstrumentConfig::default());
    let head = c(OpClass::Local) + c(OpClass::Branch);
    let (r, used) = m.call("f", &[Val::I32(1)], 1_000);
    assert_eq!(i32s(&r.unwrap()), vec![10]);
    assert_eq!(used, head + c(OpClass::Const));
    let (r, used) = m.call("f", &[Val::I32(0)], 1_000);
    assert_eq!(i32s(&r.unwrap()), vec![12]);
    assert_eq!(used, head + 2 * c(OpClass::Const) + c(OpClass::IntMul));
}

#[test]
fn a_trap_part_way_charges_the_whole_block() {
    let wat = br#"(module (func (export "f") (result i32)
        i32.const 1 i32.const 0 i32.div_u i32.const 5 i32.add))"#;
    let mut m = RefInstance::new(wat, &InstrumentConfig::default());
    let (r, used) = m.call("f", &[], 1_000);
    assert_eq!(r.unwrap_err(), RefTrap::Wasm(wasmi::TrapCode::IntegerDivisionByZero));
    assert_eq!(used, 3 * c(OpClass::Const) + c(OpClass::IntDiv) + c(OpClass::IntAlu));
}

const RECURSE: &[u8] = br#"(module
  (global $depth (export "depth") (mut i32) (i32.const 0))
  (func $r (export "recurse")
    (global.set $depth (i32.add (global.get $depth) (i32.const 1)))
    (call $r)))"#;

#[test]
fn deep_recursion_traps_at_the_same_depth_every_run() {
    // Frame of $r: overhead + 0 params + 0 locals + max operand height 2.
    let frame = u64::from(FRAME_OVERHEAD_SLOTS) + 2;
    let config = InstrumentConfig::default();
    let expected = (config.stack_limit / frame) as i32;
    let mut depths = Vec::new();
    for _ in 0..3 {
        let mut m = RefInstance::new(RECURSE, &config);
        let (r, _) = m.call("recurse", &[], u64::MAX);
        assert_eq!(r.unwrap_err(), RefTrap::StackExhausted);
        depths.push(m.i32_global("depth"));
    }
    assert_eq!(depths, vec![expected; 3]);

    // A smaller budget stops proportionally earlier.
    let small = InstrumentConfig { stack_limit: 600, ..InstrumentConfig::default() };
    let mut m = RefInstance::new(RECURSE, &small);
    let (r, _) = m.call("recurse", &[], u64::MAX);
    assert_eq!(r.unwrap_err(), RefTrap::StackExhausted);
    assert_eq!(m.i32_global("depth"), (600 / frame) as i32);
}

#[test]
fn return_releases_the_frame_from_every_exit() {
    let wat = br#"(module (func $f (export "f") (param i32) (result i32)
        (if (local.get 0) (then (return (i32.const 1))))
        (block (result i32)
          (br_if 1 (i32.const 2) (i32.eqz (local.get 0))) (drop) (i32.const 3))))"#;
    let mut m = RefInstance::new(wat, &InstrumentConfig::default());
    for (arg, want) in [(1, 1), (0, 2)] {
        let (r, _) = m.call("f", &[Val::I32(arg)], 1_000);
        assert_eq!(i32s(&r.unwrap()), vec![want]);
        assert_eq!(m.stack_used(), 0);
    }
}

#[test]
fn nan_results_are_canonical_and_other_bits_kept() {
    let wat = br#"(module
      (func (export "div0") (result i32) (i32.reinterpret_f32 (f32.div (f32.const 0) (f32.const 0))))
      (func (export "neg_nan_add") (result i64)
        (i64.reinterpret_f64 (f64.add (f64.const -nan:0x1234) (f64.const 1))))
      (func (export "neg") (result i32) (i32.reinterpret_f32 (f32.neg (f32.const nan:0x200))))
      (func (export "ok") (result i32) (i32.reinterpret_f32 (f32.mul (f32.const 1.5) (f32.const 2)))))"#;
    let mut m = RefInstance::new(wat, &InstrumentConfig::default());
    let (r, _) = m.call("div0", &[], 1_000);
    assert_eq!(r.unwrap()[0].i32().unwrap() as u32, 0x7fc0_0000);
    let (r, _) = m.call("neg_nan_add", &[], 1_000);
    assert_eq!(r.unwrap()[0].i64().unwrap() as u64, 0x7ff8_0000_0000_0000);
    let (r, _) = m.call("neg", &[], 1_000);
    assert_eq!(r.unwrap()[0].i32().unwrap() as u32, 0xff80_0200, "neg flips the sign bit only");
    let (r, _) = m.call("ok", &[], 1_000);
    assert_eq!(r.unwrap()[0].i32().unwrap() as u32, 3.0f32.to_bits());
}

#[test]
fn instrumentation_is_deterministic() {
    let config = InstrumentConfig::default();
    let wasm = wat::parse_bytes(LOOP).unwrap();
    let a = keel_metering::instrument(&wasm, &config).unwrap();
    let b = keel_metering::instrument(&wasm, &config).unwrap();
    assert_eq!(a.wasm, b.wasm);
}

#[test]
fn undeclared_maxima_are_the_profile_limits() {
    let wat = br#"(module (memory 1) (table 1 funcref)
      (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0)))
      (func (export "tgrow") (param i32) (result i32) (table.grow (ref.null func) (local.get 0))))"#;
    let limits = keel_metering::Limits::default();
    let mut m = RefInstance::new(wat, &InstrumentConfig::default());
    let pages = limits.max_memory_pages as i32;
    let (r, _) = m.call("grow", &[Val::I32(pages)], u64::MAX);
    assert_eq!(i32s(&r.unwrap()), vec![-1], "1 + {pages} pages is past the profile's maximum");
    let (r, _) = m.call("grow", &[Val::I32(pages - 1)], u64::MAX);
    assert_eq!(i32s(&r.unwrap()), vec![1], "exactly the profile's maximum is allowed");
    let elems = limits.max_table_elements as i32;
    let (r, _) = m.call("tgrow", &[Val::I32(elems)], u64::MAX);
    assert_eq!(i32s(&r.unwrap()), vec![-1]);
    let (r, _) = m.call("tgrow", &[Val::I32(elems - 1)], u64::MAX);
    assert_eq!(i32s(&r.unwrap()), vec![1]);
}
