//! Values the code generator leaves where they are until something needs them:
//!
//! * copies of locals that live in registers (`local.get` pushes the register itself):
//!   when one local is written, only its own copies still on the stack are copied out;
//!   the other locals' stay lazy (`ValueStack::materialize_copies`), also past the
//!   bounded scan, where every lazy copy is copied out instead;
//! * a local that lives in its frame slot (`Val::LocalSlot`), read by an ALU operation
//!   or a multiplication straight from the slot: as the right operand
//!   (`MacroAssembler::int_bin_slot`), with the result going to a register local or to
//!   the stack; as the left operand of a commutative one; with a constant
//!   (`MacroAssembler::int_bin_from_slot`: `imul r, [m], imm`, `rorx`); and so is a right operand the stack keeps in its own slot (a call's
//!   result, a spilled value), and such a left operand of a commutative operation whose
//!   right one is in a register (the first of two calls' results: `f(x) * g(y)`); an i32 local read from its slot is loaded zero-extended;
//! * the zero-extension of `i32.wrap_i64`, left out when an `i32.const` and a 32-bit
//!   operation on the two follow (`FuncCodegen::pending_wrap`), and emitted before any
//!   other use of the wrapped value; the wrap of an i64 local in its register is one
//!   32-bit move (its result zero-extended: an i32 register local or an address takes it
//!   as it is);
//! * `local.tee` into a register local of a value computed in a register of the stack:
//!   computed there and copied into the local, not computed in the local's register and
//!   copied back for the next operation to overwrite.
//!
//! Each function's result is checked against Rust and the whole module against wasmi
//! (over the reference instrumentation). The i64 inputs have their high halves set, so a
//! missing zero-extension shows in the result.

use keel_engine::Val;

mod common;

const WAT: &str = r#"(module
  (memory 1)
  (func $first (param i32 i32) (result i64) local.get 0 i64.extend_i32_u)

  ;; (`i64.xor` with 0 puts x in a register of the value stack: a wrap of a local's
  ;; register copies it out zero-extended anyway)
  ;; wrap, const, 32-bit operation: no zero-extension needed
  (func (export "and") (param $x i64) (result i64)
    local.get $x i64.const 0 i64.xor i32.wrap_i64 i32.const 0x7fff i32.and i64.extend_i32_u)
  (func (export "shr") (param $x i64) (result i64)
    local.get $x i64.const 0 i64.xor i32.wrap_i64 i32.const 3 i32.shr_u i64.extend_i32_u)
  (func (export "rotl") (param $x i64) (result i64)
    local.get $x i64.const 0 i64.xor i32.wrap_i64 i32.const 8 i32.rotl i64.extend_i32_u)
  (func (export "lt") (param $x i64) (result i64)
    local.get $x i64.const 0 i64.xor i32.wrap_i64 i32.const 100 i32.lt_u i64.extend_i32_u)
  (func (export "br_if") (param $x i64) (result i64)
    block
      local.get $x i64.const 0 i64.xor i32.wrap_i64 i32.const 6 i32.gt_u br_if 0
      i64.const 1 return
    end
    i64.const 2)
  (func (export "into_local") (param $x i64) (result i64) (local $l i32)
    local.get $x i64.const 0 i64.xor i32.wrap_i64 i32.const 5 i32.sub local.set $l
    local.get $l i64.extend_i32_u)

  ;; wrap and const, then something else: the wrapped value is zero-extended first
  (func (export "drop") (param $x i64) (result i64)
    local.get $x i64.const 0 i64.xor i32.wrap_i64 i32.const 9 drop i64.extend_i32_u)
  (func (export "eqz") (param $x i64) (result i64)
    local.get $x i64.const 0 i64.xor i32.wrap_i64 i32.const 0 i32.eqz i32.add i64.extend_i32_u)
  (func (export "two_consts") (param $x i64) (result i64)
    local.get $x i64.const 0 i64.xor i32.wrap_i64 i32.const 1 i32.const 2 i32.add i32.add i64.extend_i32_u)
  (func (export "call") (param $x i64) (result i64)
    local.get $x i64.const 0 i64.xor i32.wrap_i64 i32.const 7 call $first)
  (func (export "store_addr") (param $x i64) (result i64)
    local.get $x i64.const 0 i64.xor i32.wrap_i64 i32.const 77 i32.store
    local.get $x i64.const 0 i64.xor i32.wrap_i64 i32.load i64.extend_i32_u)
  (func (export "to_local_then") (param $x i64) (result i64) (local $l i32)
    local.get $x i64.const 0 i64.xor i32.wrap_i64 i32.const 3 local.set $l
    local.get $l i32.add i64.extend_i32_u)

  ;; wrap of an i64 local in its register: one 32-bit move into a register of the stack,
  ;; zero-extended (an i32 register local and an address rely on that)
  (func (export "wrap_local_and") (param $x i64) (result i64)
    local.get $x i32.wrap_i64 i32.const 0x7fff i32.and i64.extend_i32_u)
  (func (export "wrap_local_extend") (param $x i64) (result i64)
    local.get $x i32.wrap_i64 i64.extend_i32_u)
  (func (export "wrap_local_to_local") (param $x i64) (param $l i32) (result i64)
    local.get $x i32.wrap_i64 local.set $l
    local.get $l i64.extend_i32_u)
  (func (export "wrap_local_addr") (param $x i64) (result i64)
    local.get $x i32.wrap_i64 i32.const 88 i32.store
    local.get $x i32.wrap_i64 i32.load i64.extend_i32_u)

  ;; `local.tee` of an operation on a register of the stack into a register local: the
  ;; value stays in the stack's register and is copied into the local's; the next
  ;; operation overwrites the stack's copy, the local keeps its own
  (func (export "tee_then_shift") (param $x i64) (param $y i64) (param $z i32) (result i64)
    local.get $x i64.const 0 i64.xor i64.const 5 i64.add local.tee $y
    i64.const 25 i64.shr_u
    local.get $y i64.const 3 i64.mul i64.xor
    local.get $x i64.const 0 i64.xor i32.wrap_i64 i32.const 9 i32.add local.tee $z
    i32.const 7 i32.shl local.get $z i32.add i64.extend_i32_u i64.add)
  ;; a wrapped value teed into an i32 register local
  (func (export "wrap_tee") (param $x i64) (param $z i32) (result i64)
    local.get $x i64.const 0 i64.xor i32.wrap_i64 local.tee $z
    i64.extend_i32_u local.get $z i64.extend_i32_u i64.const 32 i64.shl i64.or)

  ;; copies of register locals
  (func (export "copies") (param $a i32) (param $b i32) (result i64)
    local.get $a
    local.get $b
    local.get $a i32.const 100 i32.add local.set $b
    local.get $b i32.const 7 i32.mul local.set $a
    i32.const 1000 i32.mul i32.add
    i64.extend_i32_u
    local.get $a i64.extend_i32_u i64.const 32 i64.shl
    i64.or)
  (func (export "copy_as_address") (param $a i32) (param $b i32) (result i64)
    local.get $a i32.const 0x01020304 i32.store
    local.get $a
    local.get $b
    local.get $a i32.const 4 i32.add local.set $a
    drop
    i32.load
    local.get $a i32.const 4 i32.sub i32.load
    i32.add i64.extend_i32_u)
  (func (export "many_copies") (param $a i32) (param $b i32) (result i64) (local $i i32)
    ;; 20 alternating copies: more than the scan's bound of lazy entries
    local.get $a local.get $b local.get $a local.get $b local.get $a
    local.get $b local.get $a local.get $b local.get $a local.get $b
    local.get $a local.get $b local.get $a local.get $b local.get $a
    local.get $b local.get $a local.get $b local.get $a local.get $b
    local.get $b i32.const 3 i32.mul local.set $b
    local.get $a i32.const 11 i32.add local.set $a
    i32.add i32.add i32.add i32.add i32.add i32.add i32.add i32.add i32.add i32.add
    i32.add i32.add i32.add i32.add i32.add i32.add i32.add i32.add i32.add
    i64.extend_i32_u
    local.get $a local.get $b i32.xor i64.extend_i32_u i64.const 32 i64.shl
    i64.or)

  ;; call results: the first is spilled to its stack slot by the second call, which
  ;; returns in a register; a commutative operation reads the first from its slot
  (func $seven (param i64) (result i64) local.get 0 i64.const 7 i64.mul)
  (func (export "results") (param $x i64) (result i64) (local $r i64)
    local.get $x call $seven
    local.get $x i64.const 3 i64.add call $seven
    i64.sub
    local.get $x call $seven
    i64.const 1 call $seven
    i64.mul
    local.set $r
    local.get $x call $seven local.get $r i64.xor
    local.get $x i64.const 1 i64.shl call $seven
    i64.sub local.tee $r
    i64.add
    local.get $r i64.or)

  ;; slot locals (more locals than registers) with constants: rotations, multiplications
  (func (export "slot_consts") (param $x i64) (result i64)
    (local $a i32) (local $b i32) (local $c i32) (local $d i32) (local $e i32) (local $f i32)
    (local $p i64) (local $q i64) (local $r i64) (local $s i64) (local $t i64) (local $u i64)
    local.get $x i32.wrap_i64 local.tee $a i32.const 3 i32.add local.tee $b i32.const 5 i32.xor
    local.tee $c i32.const 7 i32.mul local.tee $d i32.const 11 i32.sub local.tee $e
    i32.const 13 i32.or local.set $f
    local.get $x local.tee $p i64.const 3 i64.add local.tee $q i64.const 5 i64.xor
    local.tee $r i64.const 7 i64.mul local.tee $s i64.const 11 i64.sub local.tee $t
    i64.const 13 i64.or local.set $u
    local.get $a i32.const 7 i32.rotl local.get $b i32.const 9 i32.rotr i32.xor
    local.get $c i32.const 100003 i32.mul i32.add local.get $d i32.const 8 i32.mul i32.xor
    local.get $e i32.const -3 i32.mul i32.add local.get $f i32.const 33 i32.rotl i32.xor
    local.get $a i32.const 0 i32.rotr i32.add local.get $b i32.const 4 i32.shl i32.xor
    i64.extend_i32_u
    local.get $p i64.const 17 i64.rotl i64.xor local.get $q i64.const 60 i64.rotr i64.add
    local.get $r i64.const 1000003 i64.mul i64.xor local.get $s i64.const 16 i64.mul i64.add
    local.get $t i64.const -77 i64.mul i64.xor local.get $u i64.const 64 i64.rotl i64.add
    local.get $p i64.const 0x7fffffff i64.mul i64.xor)

  ;; declared locals used fewer than 8 times outside loops live in their slots
  (func (export "slot_sub") (param $x i64) (result i64) (local $s i32) (local $t i64)
    local.get $x i32.wrap_i64 local.set $s
    local.get $x local.set $t
    local.get $s local.get $x i32.wrap_i64 i32.const 3 i32.mul i32.sub
    i64.extend_i32_u
    local.get $t local.get $x i64.const 5 i64.mul i64.sub
    i64.xor)
  (func (export "slot_rewrite") (param $x i64) (result i64) (local $s i32) (local $t i64)
    local.get $x i32.wrap_i64 local.set $s
    local.get $x local.set $t
    local.get $s
    local.get $t
    local.get $s i32.const 9 i32.add local.set $s
    local.get $t i64.const 7 i64.mul local.tee $t
    i64.xor
    local.get $s i64.extend_i32_u i64.add
    local.set $t
    i64.extend_i32_u local.get $t i64.xor)

  ;; more locals than registers: most live in their slots
  (func (export "slots") (param $n i32) (result i64)
    (local $a i32) (local $b i32) (local $c i32) (local $d i32) (local $e i32)
    (local $f i32) (local $g i32) (local $h i32) (local $k i32)
    (local $x i64) (local $y i64) (local $z i64) (local $w i64)
    i32.const 0x12345 local.set $a i32.const 0x7654321 local.set $b
    i32.const 3 local.set $c i32.const 0x10001 local.set $d
    i32.const 0xdeadbee local.set $e i32.const 0xf0f0f0f local.set $f
    i32.const 77 local.set $g i32.const 0x3000 local.set $h
    i64.const 0x0123456789abcdef local.set $x i64.const 0x7edcba9876543210 local.set $y
    i64.const 0x1111222233334444 local.set $z i64.const 0x5555 local.set $w
    loop
      local.get $a local.get $b i32.add local.get $c i32.xor local.set $c
      local.get $c local.get $d i32.sub local.set $d
      local.get $d local.get $e i32.mul local.set $e
      local.get $e local.get $f i32.and local.get $g i32.or local.set $f
      local.get $f local.get $g i32.xor local.set $g
      local.get $g local.get $h i32.add local.get $a i32.xor local.set $h
      local.get $h local.get $c i32.sub local.set $a
      local.get $x local.get $y i64.add local.set $y
      local.get $y local.get $z i64.mul local.get $w i64.xor local.set $z
      local.get $z local.get $w i64.sub local.get $x i64.or local.set $w
      local.get $w local.get $x i64.and local.get $y i64.add local.set $x
      local.get $h i64.extend_i32_u local.get $w i64.xor local.set $w
      local.get $k i32.const 1 i32.add local.tee $k local.get $n i32.lt_u br_if 0
    end
    local.get $a local.get $b i32.xor local.get $c i32.xor local.get $d i32.xor
    local.get $e i32.xor local.get $f i32.xor local.get $g i32.xor local.get $h i32.xor
    i64.extend_i32_u
    local.get $x i64.add local.get $y i64.xor local.get $z i64.xor local.get $w i64.xor))"#;

/// `results(x)` in Rust.
fn results(x: u64) -> u64 {
    let seven = |v: u64| v.wrapping_mul(7);
    let d = seven(x).wrapping_sub(seven(x.wrapping_add(3)));
    let r = seven(x).wrapping_mul(seven(1));
    let r2 = (seven(x) ^ r).wrapping_sub(seven(x << 1));
    d.wrapping_add(r2) | r2
}

/// `slot_consts(x)` in Rust.
fn slot_consts(x: u64) -> u64 {
    let a = x as u32;
    let b = a.wrapping_add(3);
    let c = b ^ 5;
    let d = c.wrapping_mul(7);
    let e = d.wrapping_sub(11);
    let f = e | 13;
    let (p, q) = (x, x.wrapping_add(3));
    let r = q ^ 5;
    let s = r.wrapping_mul(7);
    let t = s.wrapping_sub(11);
    let u = t | 13;
    let mut v = a.rotate_left(7) ^ b.rotate_right(9);
    v = v.wrapping_add(c.wrapping_mul(100_003)) ^ d.wrapping_mul(8);
    v = v.wrapping_add(e.wrapping_mul(-3i32 as u32)) ^ f.rotate_left(1);
    v = v.wrapping_add(a) ^ (b << 4);
    let mut w = u64::from(v) ^ p.rotate_left(17);
    w = w.wrapping_add(q.rotate_right(60)) ^ r.wrapping_mul(1_000_003);
    w = w.wrapping_add(s.wrapping_mul(16)) ^ t.wrapping_mul(-77i64 as u64);
    w = w.wrapping_add(u);
    w ^ p.wrapping_mul(0x7fff_ffff)
}

/// `slot_sub(x)` and `slot_rewrite(x)` in Rust.
fn slot_sub(x: u64) -> u64 {
    let s = x as u32;
    u64::from(s.wrapping_sub(s.wrapping_mul(3))) ^ x.wrapping_sub(x.wrapping_mul(5))
}
fn slot_rewrite(x: u64) -> u64 {
    let (s0, t0) = (x as u32, x);
    let (s1, t1) = (s0.wrapping_add(9), t0.wrapping_mul(7));
    let t2 = (t0 ^ t1).wrapping_add(u64::from(s1));
    u64::from(s0) ^ t2
}

/// `slots(n)` in Rust.
fn slots(n: u32) -> u64 {
    let (mut a, b, mut c, mut d, mut e) = (0x12345u32, 0x765_4321u32, 3u32, 0x10001u32, 0xdea_dbeeu32);
    let (mut f, mut g, mut h, mut k) = (0xf0f_0f0fu32, 77u32, 0x3000u32, 0u32);
    let (mut x, mut y, mut z, mut w) = (0x0123_4567_89ab_cdefu64, 0x7edc_ba98_7654_3210u64, 0x1111_2222_3333_4444u64, 0x5555u64);
    loop {
        c ^= a.wrapping_add(b);
        d = c.wrapping_sub(d);
        e = d.wrapping_mul(e);
        f = (e & f) | g;
        g ^= f;
        h = g.wrapping_add(h) ^ a;
        a = h.wrapping_sub(c);
        y = x.wrapping_add(y);
        z = y.wrapping_mul(z) ^ w;
        w = z.wrapping_sub(w) | x;
        x = (w & x).wrapping_add(y);
        w ^= u64::from(h);
        k += 1;
        if k >= n {
            break;
        }
    }
    u64::from(a ^ b ^ c ^ d ^ e ^ f ^ g ^ h).wrapping_add(x) ^ y ^ z ^ w
}

/// The high halves of these differ from the low halves' zero-extension.
const INPUTS: [u64; 4] = [0xffff_ffff_0000_0005, 0x8000_0001_0000_0064, 0x1234_5678_9abc_def0, 0x0000_0007_0000_0003];

fn lo(x: u64) -> u32 {
    x as u32
}

fn expected_i64(name: &str, x: u64) -> u64 {
    let w = lo(x);
    u64::from(match name {
        "and" => w & 0x7fff,
        "shr" => w >> 3,
        "rotl" => w.rotate_left(8),
        "lt" => u32::from(w < 100),
        "br_if" => {
            if w > 6 {
                2
            } else {
                1
            }
        }
        "into_local" => w.wrapping_sub(5),
        "drop" | "call" => w,
        "eqz" => w.wrapping_add(1),
        "two_consts" => w.wrapping_add(3),
        "to_local_then" => w.wrapping_add(3),
        _ => unreachable!("{name}"),
    })
}

fn expected_i32(name: &str, a: u32, b: u32) -> u64 {
    match name {
        "copies" => {
            let b1 = a.wrapping_add(100);
            let a1 = b1.wrapping_mul(7);
            u64::from(a.wrapping_add(b.wrapping_mul(1000))) | u64::from(a1) << 32
        }
        // The copy of `a` taken before the write still addresses the stored word.
        "copy_as_address" => 0x0102_0304u64 * 2,
        "many_copies" => {
            let sum = (0..20).fold(0u32, |s, k| s.wrapping_add(if k % 2 == 0 { a } else { b }));
            let (a1, b1) = (a.wrapping_add(11), b.wrapping_mul(3));
            u64::from(sum) | u64::from(a1 ^ b1) << 32
        }
        _ => unreachable!("{name}"),
    }
}

#[test]
fn lazy_values_keep_wasm_semantics() {
    let (mut store, inst) = common::checked_instance(&wat::parse_str(WAT).unwrap());
    let unary = [
        "and",
        "shr",
        "rotl",
        "lt",
        "br_if",
        "into_local",
        "drop",
        "eqz",
        "two_consts",
        "call",
        "to_local_then",
    ];
    for name in unary {
        let f = inst.get_func(&mut store, name).unwrap();
        for x in INPUTS {
            let mut res = [Val::I64(0)];
            f.call(&mut store, &[Val::I64(x as i64)], &mut res).unwrap();
            assert_eq!(res[0], Val::I64(expected_i64(name, x) as i64), "{name}({x:#x})");
        }
    }
    // The address is the low half: within the one page for these inputs.
    let f = inst.get_func(&mut store, "store_addr").unwrap();
    for x in [0xffff_ffff_0000_0010u64, 0x0000_0001_0000_0100] {
        let mut res = [Val::I64(0)];
        f.call(&mut store, &[Val::I64(x as i64)], &mut res).unwrap();
        assert_eq!(res[0], Val::I64(77), "store_addr({x:#x})");
    }
    for (name, expect) in [("slot_sub", slot_sub as fn(u64) -> u64), ("slot_rewrite", slot_rewrite)] {
        let f = inst.get_func(&mut store, name).unwrap();
        for x in INPUTS {
            let mut res = [Val::I64(0)];
            f.call(&mut store, &[Val::I64(x as i64)], &mut res).unwrap();
            assert_eq!(res[0], Val::I64(expect(x) as i64), "{name}({x:#x})");
        }
    }
    let f = inst.get_func(&mut store, "slot_consts").unwrap();
    for x in INPUTS {
        let mut res = [Val::I64(0)];
        f.call(&mut store, &[Val::I64(x as i64)], &mut res).unwrap();
        assert_eq!(res[0], Val::I64(slot_consts(x) as i64), "slot_consts({x:#x})");
    }
    let f = inst.get_func(&mut store, "results").unwrap();
    for x in INPUTS {
        let mut res = [Val::I64(0)];
        f.call(&mut store, &[Val::I64(x as i64)], &mut res).unwrap();
        assert_eq!(res[0], Val::I64(results(x) as i64), "results({x:#x})");
    }
    let f = inst.get_func(&mut store, "slots").unwrap();
    for n in [1u32, 2, 17, 1000] {
        let mut res = [Val::I64(0)];
        f.call(&mut store, &[Val::I32(n as i32)], &mut res).unwrap();
        assert_eq!(res[0], Val::I64(slots(n) as i64), "slots({n})");
    }
    for name in ["copies", "copy_as_address", "many_copies"] {
        let f = inst.get_func(&mut store, name).unwrap();
        for (a, b) in [(0u32, 1u32), (40, 0xffff_fff0), (0x1000, 9), (0xfff8, 0x7fff_ffff)] {
            let mut res = [Val::I64(0)];
            f.call(&mut store, &[Val::I32(a as i32), Val::I32(b as i32)], &mut res).unwrap();
            assert_eq!(res[0], Val::I64(expected_i32(name, a, b) as i64), "{name}({a:#x}, {b:#x})");
        }
    }
}

/// `i32.wrap_i64` of an i64 local in its register (one 32-bit move, whose result an i32
/// register local and an address take as zero-extended), and `local.tee` into a register
/// local of a value computed in a register of the stack, against Rust (and, through
/// `checked_instance`, wasmi).
#[test]
fn wraps_of_register_locals_and_tees_keep_wasm_semantics() {
    let (mut store, inst) = common::checked_instance(&wat::parse_str(WAT).unwrap());
    let mut call = |name: &str, args: &[Val]| -> u64 {
        let f = inst.get_func(&mut store, name).unwrap();
        let mut res = [Val::I64(0)];
        f.call(&mut store, args, &mut res).unwrap();
        match res[0] {
            Val::I64(v) => v as u64,
            other => panic!("{name}: {other:?}"),
        }
    };
    for x in INPUTS {
        let arg = [Val::I64(x as i64)];
        assert_eq!(call("wrap_local_and", &arg), u64::from(lo(x) & 0x7fff), "wrap_local_and({x:#x})");
        assert_eq!(call("wrap_local_extend", &arg), u64::from(lo(x)), "wrap_local_extend({x:#x})");
        let args = [Val::I64(x as i64), Val::I32(-1)];
        assert_eq!(call("wrap_local_to_local", &args), u64::from(lo(x)), "wrap_local_to_local({x:#x})");
        assert_eq!(call("wrap_tee", &args), u64::from(lo(x)) * 0x1_0000_0001, "wrap_tee({x:#x})");
        let args = [Val::I64(x as i64), Val::I64(-1), Val::I32(-1)];
        let y = x.wrapping_add(5);
        let z = lo(x).wrapping_add(9);
        let want = ((y >> 25) ^ y.wrapping_mul(3)).wrapping_add(u64::from((z << 7).wrapping_add(z)));
        assert_eq!(call("tee_then_shift", &args), want, "tee_then_shift({x:#x})");
    }
    // The address is the low half: within the one page for these inputs.
    for x in [0xffff_ffff_0000_0010u64, 0x0000_0001_0000_0100] {
        assert_eq!(call("wrap_local_addr", &[Val::I64(x as i64)]), 88, "wrap_local_addr({x:#x})");
    }
}
