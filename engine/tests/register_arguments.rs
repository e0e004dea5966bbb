//! Arguments in registers (`MacroAssembler::call_arg_regs`; x86-64: a direct call to a
//! function with one to six parameters and at most one result):
//!
//! * the caller moves its arguments from wherever the value stack keeps them (its own
//!   registers, locals' registers, constants, slots, float registers) into the argument
//!   registers, reading each register before writing it; a permutation of locals that
//!   live in the argument registers makes those moves a cycle (`ValueStack::pop_into`);
//! * the callee moves them into its locals' registers or slots, again as a parallel move,
//!   i32 parameters zero-extended; with more than 64 locals the zeroing takes `rdi`, the
//!   second argument register, which waits elsewhere meanwhile;
//! * every other caller (the host, `call_indirect`) goes through the function's entry,
//!   which loads the argument registers from the argument area;
//! * functions with more parameters or more results keep the argument area.
//!
//! Each export's result is checked against Rust and the whole module against wasmi (over
//! the reference instrumentation).

use keel_engine::Val;

mod common;

const WAT: &str = r#"(module
  (type $six (func (param i64 i64 i64 i64 i64 i64) (result i64)))
  (type $mixed (func (param i32 f64 i64 f32) (result i64)))
  (table 2 funcref)
  (elem (i32.const 0) $rotl $mix)

  (func $weights (param $a i64) (param $b i64) (param $c i64) (param $d i64) (param $e i64) (result i64)
    local.get $a
    local.get $b i64.const 3 i64.mul i64.add
    local.get $c i64.const 5 i64.mul i64.add
    local.get $d i64.const 7 i64.mul i64.add
    local.get $e i64.const 11 i64.mul i64.add)

  ;; Each call passes the parameters rotated or swapped: the caller's locals sit in the
  ;; argument registers in another order.
  (func $rotl (param $n i64) (param $a i64) (param $b i64) (param $c i64) (param $d i64) (param $e i64) (result i64)
    local.get $n i64.eqz
    if (result i64)
      local.get $a local.get $b local.get $c local.get $d local.get $e call $weights
    else
      local.get $n i64.const 1 i64.sub
      local.get $b local.get $c local.get $d local.get $e local.get $a
      call $rotl
      local.get $a i64.add
    end)
  (func $rotr (param $n i64) (param $a i64) (param $b i64) (param $c i64) (param $d i64) (param $e i64) (result i64)
    local.get $n i64.eqz
    if (result i64)
      local.get $a local.get $b local.get $c local.get $d local.get $e call $weights
    else
      local.get $e local.get $a local.get $b local.get $c local.get $d
      local.get $n i64.const 1 i64.sub
      call $swap
    end)
  ;; parameters in another order than $rotr's: every argument moves
  (func $swap (param $a i64) (param $b i64) (param $c i64) (param $d i64) (param $e i64) (param $n i64) (result i64)
    local.get $n local.get $b local.get $a local.get $d local.get $c local.get $e
    call $rotr
    local.get $n i64.const 1 i64.add i64.mul)
  (func (export "rotl") (param $n i64) (param $x i64) (result i64)
    local.get $n
    local.get $x local.get $x i64.const 1 i64.add local.get $x i64.const 2 i64.add
    local.get $x i64.const 3 i64.add local.get $x i64.const 4 i64.add
    call $rotl)
  (func (export "rotr") (param $n i64) (param $x i64) (result i64)
    local.get $n
    local.get $x local.get $x i64.const 10 i64.mul local.get $x i64.const 100 i64.mul
    i64.const -1 local.get $x i64.const 7 i64.xor
    call $rotr)

  ;; an i32 whose register's high half is not zero, an f64 in a float register, a
  ;; constant and an f32
  (func $mix (param $a i32) (param $b f64) (param $c i64) (param $d f32) (result i64)
    local.get $a i64.extend_i32_u
    local.get $b i64.reinterpret_f64 i64.xor
    local.get $c i64.const 13 i64.mul i64.add
    local.get $d i32.reinterpret_f32 i64.extend_i32_u i64.const 17 i64.mul i64.add)
  (func (export "mix") (param $x i64) (result i64)
    local.get $x i64.const 0 i64.xor i32.wrap_i64
    local.get $x f64.convert_i64_s f64.const 0.5 f64.mul
    i64.const 42
    local.get $x f32.convert_i64_u
    call $mix)
  ;; the same through the table (the function's entry loads the registers)
  (func (export "mix_indirect") (param $x i64) (result i64)
    local.get $x i64.const 0 i64.xor i32.wrap_i64
    local.get $x f64.convert_i64_s f64.const 0.5 f64.mul
    i64.const 42
    local.get $x f32.convert_i64_u
    i32.const 1
    call_indirect (type $mixed))
  (func (export "rotl_indirect") (param $n i64) (param $x i64) (result i64)
    local.get $n local.get $x i64.const 1 i64.const 2 i64.const 3 i64.const 4
    i32.const 0
    call_indirect (type $six))

  ;; more values than registers: the deeper arguments come from their slots, the values
  ;; below the arguments stay spilled across the call
  (func (export "spilled") (param $x i64) (result i64)
    local.get $x i64.const 1 i64.add
    local.get $x i64.const 2 i64.add
    local.get $x i64.const 3 i64.add
    local.get $x i64.const 4 i64.add
    local.get $x i64.const 5 i64.add
    local.get $x i64.const 6 i64.add
    local.get $x i64.const 7 i64.add
    local.get $x i64.const 8 i64.add
    local.get $x i64.const 9 i64.add
    local.get $x i64.const 10 i64.add
    local.get $x i64.const 11 i64.add
    i64.const 2
    local.get $x i64.const 12 i64.add
    local.get $x i64.const 13 i64.add
    local.get $x i64.const 14 i64.add
    local.get $x i64.const 15 i64.add
    local.get $x i64.const 16 i64.add
    call $rotl
    i64.add i64.add i64.add i64.add i64.add i64.add
    i64.const 1000 i64.mul
    i64.add i64.add i64.add i64.add i64.add)

  ;; seven parameters, or two results: the argument area
  (func $seven (param i64 i64 i64 i64 i64 i64 i32) (result i64)
    local.get 0 local.get 1 i64.const 2 i64.mul i64.add local.get 2 i64.const 3 i64.mul i64.add
    local.get 3 i64.const 4 i64.mul i64.add local.get 4 i64.const 5 i64.mul i64.add
    local.get 5 i64.const 6 i64.mul i64.add local.get 6 i64.extend_i32_u i64.const 7 i64.mul i64.add)
  (func $pair (param $a i64) (param $b i64) (result i64 i64) local.get $b local.get $a)
  (func (export "area") (param $x i64) (result i64)
    local.get $x local.get $x i64.const 1 i64.add local.get $x i64.const 2 i64.add
    local.get $x i64.const 3 i64.add local.get $x i64.const 4 i64.add local.get $x i64.const 5 i64.add
    local.get $x i64.const 0 i64.xor i32.wrap_i64
    call $seven
    local.get $x i64.const 100 i64.add
    call $pair
    i64.const 3 i64.mul i64.sub)

  ;; more than 64 locals: the zeroing takes rdi (the second argument register)
  (func $wide (param $a i64) (param $b i64) (param $c i32) (result i64)
    (local i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64
           i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64
           i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64
           i64 i64 i64 i64 i64 i64 i64 i64 i64 i64)
    local.get 40 local.get $a i64.add local.set 40
    local.get 50 local.get $b i64.add local.set 50
    local.get $a local.get $b i64.mul local.get $c i64.extend_i32_u i64.add
    local.get 40 i64.add local.get 50 i64.sub local.get 72 i64.add
    local.get $b i64.add local.get $a i64.sub local.get $c i64.extend_i32_u i64.mul)
  (func (export "wide") (param $x i64) (result i64)
    local.get $x i64.const 5 i64.xor
    local.get $x i64.const 3 i64.mul
    local.get $x i32.wrap_i64 i32.const 9 i32.add
    call $wide))
"#;

fn weights(a: i64, b: i64, c: i64, d: i64, e: i64) -> i64 {
    a.wrapping_add(b.wrapping_mul(3))
        .wrapping_add(c.wrapping_mul(5))
        .wrapping_add(d.wrapping_mul(7))
        .wrapping_add(e.wrapping_mul(11))
}

fn rotl(n: i64, a: i64, b: i64, c: i64, d: i64, e: i64) -> i64 {
    if n == 0 {
        weights(a, b, c, d, e)
    } else {
        rotl(n - 1, b, c, d, e, a).wrapping_add(a)
    }
}

fn rotr(n: i64, a: i64, b: i64, c: i64, d: i64, e: i64) -> i64 {
    if n == 0 {
        weights(a, b, c, d, e)
    } else {
        swap(e, a, b, c, d, n - 1)
    }
}

fn swap(a: i64, b: i64, c: i64, d: i64, e: i64, n: i64) -> i64 {
    rotr(n, b, a, d, c, e).wrapping_mul(n.wrapping_add(1))
}

fn mix(a: u32, b: f64, c: i64, d: f32) -> i64 {
    (i64::from(a) ^ b.to_bits() as i64)
        .wrapping_add(c.wrapping_mul(13))
        .wrapping_add(i64::from(d.to_bits()).wrapping_mul(17))
}

fn mix_of(x: i64) -> i64 {
    mix(x as u32, x as f64 * 0.5, 42, x as u64 as f32)
}

fn seven(p: [i64; 6], q: u32) -> i64 {
    let mut sum = 0i64;
    for (k, v) in p.iter().enumerate() {
        sum = sum.wrapping_add(v.wrapping_mul(k as i64 + 1));
    }
    sum.wrapping_add(i64::from(q).wrapping_mul(7))
}

fn wide(a: i64, b: i64, c: u32) -> i64 {
    let c = i64::from(c);
    let (l40, l50) = (a, b);
    a.wrapping_mul(b)
        .wrapping_add(c)
        .wrapping_add(l40)
        .wrapping_sub(l50)
        .wrapping_add(b)
        .wrapping_sub(a)
        .wrapping_mul(c)
}

#[test]
fn arguments_in_registers_reach_their_parameters() {
    let wasm = wat::parse_str(WAT).expect("valid WAT");
    let (mut store, inst) = common::checked_instance(&wasm);
    let call = |store: &mut keel_engine::Store<()>, name: &str, args: &[i64]| -> i64 {
        let f = inst.get_func(&mut *store, name).unwrap_or_else(|| panic!("export {name}"));
        let args: Vec<Val> = args.iter().map(|&a| Val::I64(a)).collect();
        let mut out = [Val::I64(0)];
        f.call(store, &args, &mut out).unwrap_or_else(|e| panic!("{name}: {e}"));
        match out[0] {
            Val::I64(v) => v,
            ref v => panic!("{name} returned {v:?}"),
        }
    };
    // High halves set: an i32 argument must arrive zero-extended.
    let xs = [0x1234_5678_9abc_def0u64 as i64, -3, 77];
    for &x in &xs {
        for n in [0, 1, 4, 5, 11] {
            let expected = rotl(n, x, x.wrapping_add(1), x.wrapping_add(2), x.wrapping_add(3), x.wrapping_add(4));
            assert_eq!(call(&mut store, "rotl", &[n, x]), expected, "rotl({n}, {x})");
            assert_eq!(
                call(&mut store, "rotl_indirect", &[n, x]),
                rotl(n, x, 1, 2, 3, 4),
                "rotl_indirect({n}, {x})"
            );
            let expected = rotr(n, x, x.wrapping_mul(10), x.wrapping_mul(100), -1, x ^ 7);
            assert_eq!(call(&mut store, "rotr", &[n, x]), expected, "rotr({n}, {x})");
        }
        assert_eq!(call(&mut store, "mix", &[x]), mix_of(x), "mix({x})");
        assert_eq!(call(&mut store, "mix_indirect", &[x]), mix_of(x), "mix_indirect({x})");
        let v = |k: i64| x.wrapping_add(k);
        let sum = |ks: std::ops::RangeInclusive<i64>| ks.fold(0i64, |s, k| s.wrapping_add(v(k)));
        let expected = rotl(2, v(12), v(13), v(14), v(15), v(16))
            .wrapping_add(sum(6..=11))
            .wrapping_mul(1000)
            .wrapping_add(sum(1..=5));
        assert_eq!(call(&mut store, "spilled", &[x]), expected, "spilled({x})");
        let s = seven([x, v(1), v(2), v(3), v(4), v(5)], x as u32);
        let expected = v(100).wrapping_sub(s.wrapping_mul(3));
        assert_eq!(call(&mut store, "area", &[x]), expected, "area({x})");
        let expected = wide(x ^ 5, x.wrapping_mul(3), (x as u32).wrapping_add(9));
        assert_eq!(call(&mut store, "wide", &[x]), expected, "wide({x})");
    }
}
