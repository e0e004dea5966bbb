//! Variable shifts and divisions while other values are live in registers.
//!
//! On x86-64 the shift count must be in `cl` and `div` takes `rdx:rax`, yet `rcx` and
//! `rdx` are allocatable (the value stack takes them first): a shift or division must
//! leave every other value where it was, whatever register holds its own operands. The
//! expressions below keep several values live across such operations, with operands in
//! each position; results are checked against wasmi (over the reference instrumentation)
//! and against Rust.

use keel_engine::Val;

mod common;

const WAT: &str = r#"(module
  (func (export "mix") (param $n i32) (result i64) (local $x i32) (local $y i32) (local $k i32) (local $acc i64) (local $w i64)
    i32.const 123457 local.set $x
    i32.const 987 local.set $y
    i64.const 0x0123456789abcdef local.set $w
    block loop
      local.get $k local.get $n i32.ge_u br_if 1
      ;; live: x+5 (first temporary) while y << k (count in a local)
      local.get $x i32.const 5 i32.add
      local.get $y local.get $k i32.shl
      i32.add
      ;; a count computed into a temporary, the shifted value loaded after it
      local.get $x
      local.get $k i32.const 3 i32.add
      i32.rotl
      i32.xor
      ;; division: a live temporary, the divisor in a temporary, dividend a constant
      local.get $x i32.const 7 i32.add
      i32.const 1000003 local.get $y i32.const 1 i32.or i32.div_u
      i32.add
      local.get $x local.get $y i32.const 3 i32.add i32.rem_s
      i32.sub
      i32.xor
      ;; i64: signed division and remainder, shifts by a computed count
      i64.extend_i32_u
      local.get $w local.get $k i64.extend_i32_u i64.const 7 i64.add i64.shr_u
      local.get $w i64.const 1000 local.get $k i64.extend_i32_u i64.add i64.div_s
      i64.add
      local.get $w i64.const -3 local.get $k i64.extend_i32_u i64.sub i64.rem_s
      local.get $acc i64.const 13 i64.rotl
      i64.xor i64.xor
      i64.add local.set $acc
      local.get $x i32.const 31 i32.mul local.get $k i32.add local.set $x
      local.get $y local.get $k i32.const 2 i32.shr_u i32.add local.set $y
      local.get $w local.get $k i64.extend_i32_u i64.rotr local.set $w
      local.get $k i32.const 1 i32.add local.set $k
      br 0
    end end
    local.get $acc))"#;

fn expected(n: u32) -> i64 {
    let (mut x, mut y, mut k) = (123_457i32, 987i32, 0u32);
    let (mut acc, mut w) = (0i64, 0x0123_4567_89ab_cdefi64);
    while k < n {
        let a = x.wrapping_add(5).wrapping_add(y.wrapping_shl(k & 31));
        let a = a ^ x.rotate_left((k + 3) & 31);
        let b = x.wrapping_add(7).wrapping_add((1_000_003u32 / (y as u32 | 1)) as i32);
        let b = b.wrapping_sub(x.wrapping_rem(y.wrapping_add(3)));
        let lo = (a ^ b) as u32 as i64;
        let s = ((w as u64) >> ((u64::from(k) + 7) & 63)) as i64;
        let d = w.wrapping_div(1000 + i64::from(k));
        let r = w.wrapping_rem(-3 - i64::from(k));
        acc = lo.wrapping_add(s.wrapping_add(d) ^ (r ^ acc.rotate_left(13)));
        x = x.wrapping_mul(31).wrapping_add(k as i32);
        y = y.wrapping_add((k >> 2) as i32);
        w = w.rotate_right(k & 63);
        k += 1;
    }
    acc
}

#[test]
fn shifts_and_divisions_keep_other_live_values() {
    let (mut store, inst) = common::checked_instance(&wat::parse_str(WAT).unwrap());
    let f = inst.get_func(&mut store, "mix").unwrap();
    for n in [1u32, 9, 40] {
        let mut res = [Val::I64(0)];
        f.call(&mut store, &[Val::I32(n as i32)], &mut res).unwrap();
        assert_eq!(res[0], Val::I64(expected(n)), "n = {n}");
    }
}
