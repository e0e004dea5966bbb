//! f64 values and locals in float registers (`MacroAssembler::float_allocatable`): each
//! module below runs on Keel and on wasmi over the reference instrumentation
//! (`common::differential::run_one`: results, gas, traps and final memory must match), and
//! where the result is easy to compute here, against that too.
//!
//! The locals in these functions are used inside loops, so that the compiler keeps them
//! in float registers; the shapes are those where that can go wrong: an older copy of a
//! local on the stack while the local is updated in place, locals across calls (every
//! float register is the callee's), more live f64 values than there are registers, f64
//! values taken by integer operators, branches carrying f64 values, and NaN results.

use keel_engine::{Config, Engine, Linker, Module, Store, Val};

mod common;

/// Runs `wat` on Keel and wasmi; panics on any divergence.
fn same_as_wasmi(wat: &str) {
    common::same_as_wasmi(&wat::parse_str(wat).unwrap());
}

/// Calls `func(args)` on Keel and returns its results.
fn keel_call(wat: &str, func: &str, args: &[Val], nres: usize) -> Vec<Val> {
    let engine = Engine::new(Config::default()).unwrap();
    let module = Module::new(&engine, &wat::parse_str(wat).unwrap()).unwrap();
    let mut store = Store::new(&engine, ());
    store.set_gas_limit(10_000_000);
    let inst = Linker::new().instantiate(&mut store, &module).unwrap();
    let f = inst.get_func(&mut store, func).unwrap();
    let mut res = vec![Val::I32(0); nres];
    f.call(&mut store, args, &mut res).unwrap();
    res
}

fn f64_of(v: &Val) -> f64 {
    match v {
        Val::F64(bits) => f64::from_bits(*bits),
        other => panic!("not an f64: {other:?}"),
    }
}

/// `local.get s; ...; f64.op; local.set/tee s` computes into the local's register: the
/// older copies of `s` still on the stack must keep the old value.
const IN_PLACE: &str = r#"(module (memory (export "memory") 1)
  (func (export "in_place") (param $n i32) (result f64) (local $s f64) (local $t f64)
    f64.const 1.5 local.set $s
    block loop
      local.get $n i32.eqz br_if 1
      local.get $s
      local.get $s f64.const 0.25 f64.add local.set $s
      local.get $s f64.mul
      local.get $t f64.add local.set $t
      local.get $s
      local.get $s local.get $s f64.mul local.tee $s
      f64.sub local.get $t f64.add local.set $t
      f64.const 3 local.get $s f64.div local.set $s
      local.get $t local.get $s f64.sub local.set $s
      i32.const 8 local.get $s f64.store
      local.get $n i32.const 1 i32.sub local.set $n
      br 0
    end end
    local.get $t local.get $s f64.add))"#;

#[test]
fn in_place_updates_keep_older_copies() {
    same_as_wasmi(IN_PLACE);
    let (mut s, mut t) = (1.5f64, 0.0f64);
    for _ in 0..5 {
        let old = s;
        s += 0.25;
        t += old * s;
        let old = s;
        s *= s;
        t += old - s;
        s = 3.0 / s;
        s = t - s;
    }
    assert!((t + s).is_finite());
    let r = keel_call(IN_PLACE, "in_place", &[Val::I32(5)], 1);
    assert_eq!(f64_of(&r[0]).to_bits(), (t + s).to_bits());
}

/// f64 locals in registers survive calls (the callee uses every float register), and
/// results come back through the call's slots.
const ACROSS_CALLS: &str = r#"(module
  (func $clobber (param $x f64) (result f64) (local $i i32) (local $a f64) (local $b f64) (local $c f64)
    local.get $x local.set $a
    block loop
      local.get $i i32.const 3 i32.ge_u br_if 1
      local.get $a local.get $a f64.mul
      local.get $a f64.const 1 f64.add
      local.get $a f64.const 2 f64.add
      local.get $a f64.const 3 f64.add
      local.get $a f64.const 4 f64.add
      f64.mul f64.mul f64.mul f64.div local.set $b
      local.get $b local.get $c f64.add local.set $c
      local.get $a f64.const 0.5 f64.mul local.set $a
      local.get $i i32.const 1 i32.add local.set $i
      br 0
    end end
    local.get $c)
  (func (export "calls") (param $n i32) (result f64) (local $u f64) (local $v f64) (local $w f64)
    f64.const 0.75 local.set $u
    f64.const 0.3 local.set $v
    block loop
      local.get $n i32.eqz br_if 1
      local.get $u
      local.get $v call $clobber
      f64.add local.set $u
      local.get $v f64.const 1.25 f64.add local.set $v
      local.get $w local.get $u f64.sub local.get $v f64.mul local.set $w
      local.get $n i32.const 1 i32.sub local.set $n
      br 0
    end end
    local.get $u local.get $v f64.add local.get $w f64.add))"#;

#[test]
fn f64_locals_survive_calls() {
    same_as_wasmi(ACROSS_CALLS);
    let clobber = |x: f64| {
        let (mut a, mut c) = (x, 0.0f64);
        for _ in 0..3 {
            let b = (a * a) / ((a + 1.0) * ((a + 2.0) * ((a + 3.0) * (a + 4.0))));
            c += b;
            a *= 0.5;
        }
        c
    };
    let (mut u, mut v, mut w) = (0.75f64, 0.3f64, 0.0f64);
    for _ in 0..7 {
        u += clobber(v);
        v += 1.25;
        w = (w - u) * v;
    }
    assert!((u + v + w).is_finite() && w != 0.0);
    let r = keel_call(ACROSS_CALLS, "calls", &[Val::I32(7)], 1);
    assert_eq!(f64_of(&r[0]).to_bits(), (u + v + w).to_bits());
}

/// 24 f64 values live at once: more than the float registers, so some are spilled to
/// their slots and reloaded, in a loop with f64 locals pinned.
#[test]
fn more_live_f64_values_than_registers() {
    let mut body = String::new();
    for k in 1..=24 {
        body.push_str(&format!("local.get $x f64.const {k} f64.mul\n"));
    }
    for _ in 1..24 {
        body.push_str("f64.add\n");
    }
    let wat = format!(
        r#"(module (func (export "pressure") (param $n i32) (result f64) (local $x f64) (local $acc f64)
        f64.const 1.5 local.set $x
        block loop
          local.get $n i32.eqz br_if 1
          {body}
          local.get $acc f64.add local.set $acc
          local.get $x f64.const 0.5 f64.add local.set $x
          local.get $n i32.const 1 i32.sub local.set $n
          br 0
        end end
        local.get $acc))"#
    );
    same_as_wasmi(&wat);
    let (mut x, mut acc) = (1.5f64, 0.0f64);
    for _ in 0..4 {
        let terms: Vec<f64> = (1..=24).map(|k| x * f64::from(k)).collect();
        // The adds fold from the top of the stack: ((t23 + t24) ... ) with t1 last.
        let sum = terms.iter().rev().copied().reduce(|acc, t| t + acc).unwrap_or(0.0);
        acc += sum;
        x += 0.5;
    }
    assert!(acc.is_finite());
    let r = keel_call(&wat, "pressure", &[Val::I32(4)], 1);
    assert_eq!(f64_of(&r[0]).to_bits(), acc.to_bits());
}

/// f64 values in float registers taken by operators that know nothing of floats: integer
/// operators after `i64.reinterpret_f64`, `select`, `drop`, globals, branches and block
/// results carrying f64 values, f32 operations, comparisons, and stores of both kinds.
#[test]
fn f64_values_reach_every_kind_of_consumer() {
    same_as_wasmi(
        r#"(module (memory (export "memory") 1)
      (global $g (export "g") (mut f64) (f64.const 0))
      (global $h (export "h") (mut i64) (i64.const 0))
      (func (export "mixed") (param $n i32) (result i64) (local $x f64) (local $y f64) (local $k i64)
        f64.const 0.5 local.set $x
        block loop
          local.get $n i32.eqz br_if 1
          ;; load into a float register, store it back elsewhere, integer math on its bits
          local.get $n i32.const 3 i32.shl local.get $x f64.store
          local.get $n i32.const 3 i32.shl f64.load local.tee $y
          i64.reinterpret_f64 i64.const 7 i64.xor local.get $k i64.add local.set $k
          ;; select, global.set, drop
          local.get $x local.get $y f64.mul
          local.get $y f64.const 1 f64.add
          local.get $n i32.const 1 i32.and select global.set $g
          local.get $x f64.const 2 f64.mul drop
          ;; a block result and a branch carrying an f64 in a register
          block (result f64)
            local.get $x local.get $y f64.add
            local.get $n i32.const 2 i32.rem_u br_if 0
            f64.const 3 f64.mul
          end
          local.set $x
          ;; comparisons, conversions and an f32 detour
          local.get $x local.get $y f64.lt
          if local.get $x f64.sqrt f32.demote_f64 f32.const 1.5 f32.add f64.promote_f32 local.set $x end
          local.get $x local.get $y f64.sub i64.trunc_sat_f64_s global.set $h
          i32.const 1024 local.get $x local.get $y f64.div f64.store
          local.get $n i32.const 1 i32.sub local.set $n
          br 0
        end end
        local.get $k))"#,
    );
}

/// NaN results computed in float registers are canonical, in place into a local too.
const NANS: &str = r#"(module
  (func (export "nans") (param $n i32) (result i64) (local $z f64) (local $inf f64) (local $acc i64)
    f64.const inf local.set $inf
    block loop
      local.get $n i32.eqz br_if 1
      local.get $z local.get $z f64.div local.set $z
      local.get $z i64.reinterpret_f64 local.get $acc i64.xor local.set $acc
      local.get $inf local.get $inf f64.sub local.set $z
      local.get $z i64.reinterpret_f64 local.get $acc i64.add local.set $acc
      ;; inf * 0 is x86-64's default NaN (sign bit set), not the canonical one: the add
      ;; that takes it next must canonicalize its own result.
      f64.const 1 local.get $inf f64.const 0 f64.mul f64.add
      i64.reinterpret_f64 local.get $acc i64.xor local.set $acc
      f64.const 0 local.set $z
      local.get $n i32.const 1 i32.sub local.set $n
      br 0
    end end
    local.get $acc))"#;

#[test]
fn nan_results_are_canonical() {
    same_as_wasmi(NANS);
    let canon = keel_metering::nan::CANONICAL_NAN_F64;
    let mut acc = 0u64;
    for _ in 0..3 {
        acc ^= canon;
        acc = acc.wrapping_add(canon);
        acc ^= canon;
    }
    let r = keel_call(NANS, "nans", &[Val::I32(3)], 1);
    assert_eq!(r, vec![Val::I64(acc as i64)]);
}
