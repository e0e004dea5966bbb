//! Loops that start with an exit test (`loop (test) br_if out ... br 0 end`) repeat the test
//! at their back edges instead of jumping back to it (`ExitTest` in the code generator).
//! Observably nothing may change: for every gas limit around the points where the gas runs
//! out, outcome, gas used, memory and globals must be those of wasmi over the reference
//! instrumentation. The x86-64 code must show the inversion: no jump back to such a loop's
//! header, while a loop whose test cannot be repeated keeps its jump.

mod common;
#[path = "common/x86_64.rs"]
mod x86_64;
use common::differential::{run_one, DiffLimits};
use keel_engine::{Config, Engine, Linker, Module, Store, Val};

/// Every shape of exit test the code generator repeats, and loops next to them that it
/// must leave alone. Each export takes the harness's arguments (0, then 3 or -5).
const WAT: &str = r#"(module
  (memory (export "memory") 1)
  (global $g (export "g") (mut i32) (i32.const 0))
  (func $inc (param i32) (result i32) local.get 0 i32.const 1 i32.add)
  ;; eqz test, counting down
  (func (export "count") (param $k i32) (result i32) (local $sum i32)
    local.get $k i32.const 12 i32.add local.set $k
    block $done loop $next
      local.get $k i32.eqz br_if $done
      local.get $k i32.const 1 i32.sub local.set $k
      local.get $sum i32.const 3 i32.add local.set $sum
      br $next
    end end
    local.get $sum)
  ;; a comparison of two locals; the body stores to memory
  (func (export "store") (param $n i32) (result i32) (local $i i32) (local $s i32)
    local.get $n i32.const 9 i32.add local.set $n
    block loop
      local.get $i local.get $n i32.ge_u br_if 1
      local.get $i i32.const 2 i32.shl local.get $i local.get $s i32.xor i32.store
      local.get $s local.get $i i32.const 2 i32.shl i32.load i32.add local.set $s
      local.get $i i32.const 1 i32.add local.set $i
      br 0
    end end
    local.get $s)
  ;; an i64 test against a constant
  (func (export "wide") (param $x i64) (result i64) (local $acc i64)
    block loop
      local.get $x i64.const 40 i64.ge_s br_if 1
      local.get $acc local.get $x i64.add local.set $acc
      local.get $x i64.const 3 i64.add local.set $x
      br 0
    end end
    local.get $acc)
  ;; back edges from inside blocks and a conditional one
  (func (export "nested") (param $n i32) (result i32) (local $i i32) (local $s i32)
    block $out loop $top
      local.get $i local.get $n i32.const 14 i32.add i32.gt_u br_if $out
      local.get $i i32.const 1 i32.add local.set $i
      block $odd
        local.get $i i32.const 1 i32.and br_if $odd
        local.get $s i32.const 5 i32.add local.set $s
        local.get $i i32.const 6 i32.rem_u i32.eqz br_if $top
        block local.get $s i32.const 1 i32.xor local.set $s br $top end
      end
      local.get $s i32.const 2 i32.add local.set $s
      br $top
    end end
    local.get $s)
  ;; the test exits to the function itself (no block around the loop)
  (func (export "to_function") (param $n i32) (local $i i32)
    loop
      local.get $i local.get $n i32.const 10 i32.add i32.ge_s br_if 1
      global.get $g local.get $i i32.add global.set $g
      local.get $i i32.const 1 i32.add local.set $i
      br 0
    end)
  ;; a wrapped i64 and a comparison folded by eqz
  (func (export "wrapped") (param $x i64) (result i32) (local $i i32)
    block loop
      local.get $x i32.wrap_i64 local.get $i i32.lt_s i32.eqz i32.eqz br_if 1
      local.get $i i32.const 2 i32.add local.set $i
      local.get $x i64.const 1 i64.add local.set $x
      br 0
    end end
    local.get $i)
  ;; a signed i32 test crossing zero (a 64-bit comparison of the registers would differ)
  (func (export "signed") (param $n i32) (result i32) (local $i i32) (local $s i32)
    i32.const -7 local.set $i
    block loop
      local.get $i local.get $n i32.ge_s br_if 1
      local.get $s local.get $i i32.add local.set $s
      local.get $i i32.const 1 i32.add local.set $i
      br 0
    end end
    local.get $s)
  ;; a call in the body: the locals come back from their slots before the test
  (func (export "calls") (param $n i32) (result i32) (local $i i32) (local $s i32)
    block loop
      local.get $i local.get $n i32.const 8 i32.add i32.ge_u br_if 1
      local.get $s call $inc local.set $s
      local.get $i call $inc local.set $i
      br 0
    end end
    local.get $s)
  ;; more live locals than registers: some of the test's locals live in slots
  (func (export "slots") (param $n i32) (result i32)
    (local $a i32) (local $b i32) (local $c i32) (local $d i32) (local $e i32) (local $f i32)
    (local $h i32) (local $i i32)
    block loop
      local.get $i local.get $n i32.const 7 i32.add i32.ge_u br_if 1
      local.get $a i32.const 1 i32.add local.set $a
      local.get $b local.get $a i32.add local.set $b
      local.get $c local.get $b i32.xor local.set $c
      local.get $d local.get $c i32.add local.set $d
      local.get $e local.get $d i32.sub local.set $e
      local.get $f local.get $e i32.add local.set $f
      local.get $h local.get $f i32.xor local.set $h
      local.get $i i32.const 1 i32.add local.set $i
      br 0
    end end
    local.get $a local.get $b i32.add local.get $c i32.add local.get $d i32.add
    local.get $e i32.add local.get $f i32.add local.get $h i32.add)
  ;; not repeated: the test loads from memory (it could trap)
  (func (export "loads") (param $n i32) (result i32) (local $i i32)
    i32.const 64 local.get $n i32.const 5 i32.add i32.store
    block loop
      local.get $i i32.const 64 i32.load i32.ge_u br_if 1
      local.get $i i32.const 1 i32.add local.set $i
      br 0
    end end
    local.get $i)
  ;; not repeated: the exit carries a value
  (func (export "carries") (param $n i32) (result i32) (local $i i32)
    block (result i32) loop
      local.get $i local.get $i local.get $n i32.const 6 i32.add i32.ge_u br_if 1
      drop
      local.get $i i32.const 1 i32.add local.set $i
      br 0
    end unreachable end)
  ;; an exit test that never exits: only the gas stops it
  (func (export "spin") (param $n i32) (result i32)
    block loop
      local.get $n i32.const -1 i32.eq br_if 1
      local.get $n i32.const 1 i32.and local.set $n
      br 0
    end end
    unreachable))"#;

#[test]
fn inverted_loops_are_observably_the_reference_at_every_gas_limit() {
    let wasm = wat::parse_str(WAT).expect("wat");
    for gas in (1..700u64).chain([5_000, 1_000_000]) {
        match run_one(&wasm, false, DiffLimits { gas, stack_limit: 4_096 }) {
            Some(Ok(report)) => assert!(report.calls > 0),
            Some(Err(e)) => panic!("gas limit {gas}: Keel and the reference differ: {e}"),
            None => panic!("the profile rejected the module"),
        }
    }
}

/// Results worked out by hand, with and without metering, so that a loop that exits one
/// iteration early or late fails here even if the reference did the same.
#[test]
fn inverted_loops_compute_the_expected_values() {
    let wasm = wat::parse_str(WAT).expect("wat");
    for config in [Config::default(), Config::default().without_metering()] {
        let engine = Engine::new(config).expect("engine");
        let module = Module::new(&engine, &wasm).expect("compiles");
        let mut store = Store::new(&engine, ());
        store.set_gas_limit(1_000_000);
        let inst = Linker::new().instantiate(&mut store, &module).expect("instantiates");
        let mut call = |name: &str, arg: Val| {
            let f = inst.get_func(&mut store, name).expect("export");
            let mut res = vec![Val::I32(0); f.ty(&mut store).results.len()];
            f.call(&mut store, &[arg], &mut res).unwrap_or_else(|e| panic!("{name}: {e}"));
            let g = inst.get_global(&mut store, "g").expect("g").get(&mut store);
            (res.first().copied(), g)
        };
        // 15 iterations of +3.
        assert_eq!(call("count", Val::I32(3)).0, Some(Val::I32(45)));
        // s = sum over i < 12 of (i ^ s): computed here the same way.
        let mut s = 0i32;
        for i in 0..12 {
            s = s.wrapping_add(i ^ s);
        }
        assert_eq!(call("store", Val::I32(3)).0, Some(Val::I32(s)));
        // x = -5, -2, 1, ..., 37: the sum of that sequence.
        assert_eq!(call("wide", Val::I64(-5)).0, Some(Val::I64((-5..40).step_by(3).sum())));
        let mut expected = (0i32, 0i32);
        loop {
            let (i, s) = &mut expected;
            if *i > 3 + 14 {
                break;
            }
            *i += 1;
            if *i & 1 != 0 {
                *s += 2;
                continue;
            }
            *s += 5;
            if *i % 6 == 0 {
                continue;
            }
            *s ^= 1;
        }
        assert_eq!(call("nested", Val::I32(3)).0, Some(Val::I32(expected.1)));
        assert_eq!(call("to_function", Val::I32(3)), (None, Val::I32((0..13).sum())));
        // i = 0, 2, 4, 6: stops at the first i > x (x counts up from 3 too).
        assert_eq!(call("wrapped", Val::I64(3)).0, Some(Val::I32(8)));
        assert_eq!(call("signed", Val::I32(3)).0, Some(Val::I32((-7..3).sum())));
        assert_eq!(call("calls", Val::I32(3)).0, Some(Val::I32(11)));
        assert_eq!(call("loads", Val::I32(3)).0, Some(Val::I32(8)));
        assert_eq!(call("carries", Val::I32(3)).0, Some(Val::I32(9)));
    }
}

/// Backward unconditional jumps in the x86-64 code of `wat`'s functions, compiled without
/// metering (no gas stubs after the functions, whose jumps go back too).
fn x86_64_jumps_back(wat: &str) -> usize {
    use yaxpeax_x86::long_mode::{Opcode, Operand};
    let backward = |inst: &yaxpeax_x86::long_mode::Instruction| match inst.operand(0) {
        Operand::ImmediateI8 { imm } => imm < 0,
        Operand::ImmediateI32 { imm } => imm < 0,
        _ => false,
    };
    let code = x86_64::instructions(wat, Config::default().without_metering());
    code.iter().filter(|inst| inst.opcode() == Opcode::JMP && backward(inst)).count()
}

#[test]
fn x86_64_inverted_loops_do_not_jump_back_to_their_test() {
    let one = |body: &str| format!("(module (memory 1) (func (export \"f\") (param $n i32) (result i32) (local $i i32) {body} local.get $i))");
    let inverted = one(
        "block loop local.get $i local.get $n i32.ge_u br_if 1 \
         local.get $i i32.const 1 i32.add local.set $i br 0 end end",
    );
    assert_eq!(x86_64_jumps_back(&inverted), 0, "the back edge repeats the test");
    // The same loop with a test that loads (it may trap): the back edge jumps to it.
    let loads = one(
        "block loop local.get $i local.get $n i32.load i32.ge_u br_if 1 \
         local.get $i i32.const 1 i32.add local.set $i br 0 end end",
    );
    assert_eq!(x86_64_jumps_back(&loads), 1, "a test with a load is not repeated");
    // A bottom-tested loop has no unconditional back edge to begin with.
    let bottom = one("loop local.get $i i32.const 1 i32.add local.tee $i local.get $n i32.lt_u br_if 0 end");
    assert_eq!(x86_64_jumps_back(&bottom), 0);
}
