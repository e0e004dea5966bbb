//! Locals sharing a general register (`FuncCodegen::hand_over`): a register passes from
//! one local to the next where their live ranges (`FunctionAnalysis::live_ranges`) do not
//! meet, so a function whose phases use different locals keeps each phase's locals in
//! registers.
//!
//! The function below has four phases, each with more locals than the registers locals
//! may take, so that the later phases' locals can only get registers from the earlier
//! ones':
//! * phase A: i32 locals in a loop;
//! * phase B: i64 locals with their high halves set, in a loop that calls (a register
//!   handed from an i32 local to an i64 one must stop being treated as zero-extended, and
//!   the saves and reloads around calls must be the new local's);
//! * phase C: i32 locals first written inside a block that a branch taken from phase B's
//!   code skips, one of them read at 0 before any write (its register is its own from the
//!   function's entry), and an address;
//! * phase D: a loop that reads a local at its top and writes another after that read: the
//!   first local is live across the back edge, so the two must not share.
//!
//! Two smaller functions put those last two cases where every register is wanted: a local
//! read at 0 in a second loop (`zero_read_late`), and a loop-invariant local read only at
//! its loop's top (`invariant_read`).
//!
//! Each result is checked against Rust and the whole module against wasmi (over the
//! reference instrumentation). (Either widening of a range to its loop makes two locals
//! used in one loop overlap; `invariant_read` fails without both, and
//! `keel-metering`'s `tests/live_ranges.rs` checks each.)

use keel_engine::Val;

mod common;

const WAT: &str = r#"(module
  (memory 1)
  (func $id (param i64) (result i64) local.get 0)
  (func (export "phases") (param $n i32) (result i64)
    (local $a0 i32) (local $a1 i32) (local $a2 i32) (local $a3 i32) (local $a4 i32) (local $a5 i32)
    (local $b0 i64) (local $b1 i64) (local $b2 i64) (local $b3 i64) (local $b4 i64) (local $b5 i64)
    (local $c0 i32) (local $c1 i32) (local $c2 i32) (local $c3 i32) (local $cz i32)
    (local $d0 i64) (local $d1 i64)
    (local $k i32) (local $acc i64)
    ;; phase A
    i32.const 0x12345 local.set $a0 i32.const 0x7654321 local.set $a1 i32.const 3 local.set $a2
    i32.const 0x10001 local.set $a3 i32.const 0xdeadbee local.set $a4 i32.const 77 local.set $a5
    i32.const 0 local.set $k
    loop $la
      local.get $a0 i32.const 3 i32.mul local.get $a1 i32.add local.set $a0
      local.get $a1 local.get $a2 i32.xor i32.const 5 i32.rotl local.set $a1
      local.get $a2 local.get $a3 i32.add local.set $a2
      local.get $a3 local.get $a4 i32.sub local.set $a3
      local.get $a4 local.get $a5 i32.xor local.set $a4
      local.get $a5 local.get $a0 i32.add local.set $a5
      local.get $k i32.const 1 i32.add local.tee $k local.get $n i32.lt_u br_if $la
    end
    local.get $a0 local.get $a1 i32.xor local.get $a2 i32.xor
    local.get $a3 i32.xor local.get $a4 i32.xor local.get $a5 i32.xor
    i64.extend_i32_u local.set $acc
    ;; phase B
    local.get $acc i64.const 0xffffffff00000000 i64.or local.set $b0
    i64.const 0x0123456789abcdef local.set $b1 i64.const 0x7edcba9876543210 local.set $b2
    i64.const 0x1111222233334444 local.set $b3 i64.const 0x5555666677778888 local.set $b4
    i64.const 0xf0f0f0f0f0f0f0f0 local.set $b5
    i32.const 0 local.set $k
    loop $lb
      local.get $b0 i64.const 0x9e3779b97f4a7c15 i64.mul local.get $b1 i64.add local.set $b0
      local.get $b1 i64.const 13 i64.rotl call $id local.get $b2 i64.xor local.set $b1
      local.get $b2 local.get $b3 i64.add local.set $b2
      local.get $b3 local.get $b4 i64.sub local.set $b3
      local.get $b4 local.get $b5 i64.xor call $id local.set $b4
      local.get $b5 local.get $b0 i64.add local.set $b5
      local.get $k i32.const 1 i32.add local.tee $k local.get $n i32.lt_u br_if $lb
    end
    local.get $acc local.get $b0 i64.xor local.get $b1 i64.xor local.get $b2 i64.xor
    local.get $b3 i64.xor local.get $b4 i64.xor local.set $acc
    ;; phase C: $c0 is first written past a branch from phase B's last read
    block $skip
      local.get $b5 i64.const 1 i64.and i64.eqz br_if $skip
      i32.const 7 local.set $c0
      local.get $c0 i32.const 3 i32.mul local.set $c1
    end
    local.get $acc i32.wrap_i64 i32.const 0xfff0 i32.and local.set $c0
    local.get $b5 i64.const 0xff i64.and i32.wrap_i64 local.set $c1
    local.get $c0 local.get $c1 i32.store
    local.get $c0 i32.const 4 i32.add local.set $c2
    local.get $cz local.get $c0 i32.load i32.add local.set $c3
    local.get $c3 local.get $c2 i32.add local.get $cz i32.add local.set $cz
    local.get $acc local.get $cz i64.extend_i32_u i64.const 16 i64.shl i64.xor local.set $acc
    ;; phase D: $d0 is read at the loop's top, $d1 written after that read
    i64.const 5 local.set $d0
    i32.const 0 local.set $k
    loop $ld
      local.get $acc local.get $d0 i64.add local.set $acc
      local.get $acc i64.const 11 i64.shr_u local.set $d1
      local.get $d1 local.get $k i64.extend_i32_u i64.add local.set $d0
      local.get $k i32.const 1 i32.add local.tee $k local.get $n i32.lt_u br_if $ld
    end
    local.get $acc local.get $d0 i64.xor)

  ;; $z is read (at 0) before it is written, in the second loop: its register is its own
  ;; from the entry on, not one of the first loop's locals' (whose values would show)
  (func (export "zero_read_late") (param $n i32) (result i64)
    (local $e0 i32) (local $e1 i32) (local $e2 i32) (local $e3 i32) (local $e4 i32) (local $e5 i32)
    (local $k i32) (local $z i32)
    i32.const 1 local.set $e0 i32.const 2 local.set $e1 i32.const 3 local.set $e2
    i32.const 4 local.set $e3 i32.const 5 local.set $e4 i32.const 6 local.set $e5
    i32.const 0 local.set $k
    loop $l1
      local.get $e0 i32.const 5 i32.mul local.get $e1 i32.add local.set $e0
      local.get $e1 i32.const 5 i32.mul local.get $e2 i32.add local.set $e1
      local.get $e2 i32.const 5 i32.mul local.get $e3 i32.add local.set $e2
      local.get $e3 i32.const 5 i32.mul local.get $e4 i32.add local.set $e3
      local.get $e4 i32.const 5 i32.mul local.get $e5 i32.add local.set $e4
      local.get $e5 i32.const 5 i32.mul local.get $e0 i32.add local.set $e5
      local.get $k i32.const 1 i32.add local.tee $k local.get $n i32.lt_u br_if $l1
    end
    local.get $e0 local.get $e1 i32.xor local.get $e2 i32.xor local.get $e3 i32.xor
    local.get $e4 i32.xor local.get $e5 i32.xor
    i32.const 0 local.set $k
    loop $l2
      local.get $z local.get $k i32.add local.set $z
      local.get $k i32.const 1 i32.add local.tee $k local.get $n i32.lt_u br_if $l2
    end
    i64.extend_i32_u local.get $z i64.extend_i32_u i64.const 32 i64.shl i64.or)

  ;; $x is only read, at the loop's top; $y is written after those reads: $x is live
  ;; across the back edge, so the two must not share a register
  (func (export "invariant_read") (param $n i32) (result i64)
    (local $x i64) (local $p1 i64) (local $p2 i64) (local $p3 i64) (local $p4 i64)
    (local $y i64) (local $k i32)
    local.get $n i64.extend_i32_u i64.const 0x100000001 i64.mul local.set $x
    i64.const 0x0123456789abcdef local.set $p1 i64.const 0x7edcba9876543210 local.set $p2
    i64.const 3 local.set $p3 i64.const 0x5555 local.set $p4
    i32.const 0 local.set $k
    loop $l
      local.get $p1 local.get $x i64.add local.set $p1
      local.get $p2 local.get $x i64.const 7 i64.rotl i64.xor local.set $p2
      local.get $p3 local.get $x i64.const 1 i64.or i64.mul local.set $p3
      local.get $p1 local.get $p2 i64.add local.set $y
      local.get $p4 local.get $y i64.xor local.get $p3 i64.xor local.set $p4
      local.get $p1 local.get $y i64.const 3 i64.shr_u i64.xor local.set $p1
      local.get $k i32.const 1 i32.add local.tee $k local.get $n i32.lt_u br_if $l
    end
    local.get $p1 local.get $p2 i64.xor local.get $p3 i64.xor local.get $p4 i64.xor))"#;

/// `phases(n)` in Rust.
fn phases(n: u32) -> u64 {
    let n = n.max(1);
    let mut a = [0x12345u32, 0x765_4321, 3, 0x10001, 0xdea_dbee, 77];
    for _ in 0..n {
        a[0] = a[0].wrapping_mul(3).wrapping_add(a[1]);
        a[1] = (a[1] ^ a[2]).rotate_left(5);
        a[2] = a[2].wrapping_add(a[3]);
        a[3] = a[3].wrapping_sub(a[4]);
        a[4] ^= a[5];
        a[5] = a[5].wrapping_add(a[0]);
    }
    let mut acc = u64::from(a.iter().fold(0, |x, y| x ^ y));
    let mut b = [
        acc | 0xffff_ffff_0000_0000,
        0x0123_4567_89ab_cdef,
        0x7edc_ba98_7654_3210,
        0x1111_2222_3333_4444,
        0x5555_6666_7777_8888,
        0xf0f0_f0f0_f0f0_f0f0,
    ];
    for _ in 0..n {
        b[0] = b[0].wrapping_mul(0x9e37_79b9_7f4a_7c15).wrapping_add(b[1]);
        b[1] = b[1].rotate_left(13) ^ b[2];
        b[2] = b[2].wrapping_add(b[3]);
        b[3] = b[3].wrapping_sub(b[4]);
        b[4] ^= b[5];
        b[5] = b[5].wrapping_add(b[0]);
    }
    acc ^= b[0] ^ b[1] ^ b[2] ^ b[3] ^ b[4];
    // Phase C (the branch only skips writes that are overwritten).
    let c0 = (acc as u32) & 0xfff0;
    let c1 = (b[5] & 0xff) as u32;
    // The word stored at `c0` and loaded back; $cz is still 0 when read first.
    let c2 = c0 + 4;
    let c3 = c1;
    let cz = c3.wrapping_add(c2);
    acc ^= u64::from(cz) << 16;
    let mut d0 = 5u64;
    for k in 0..n {
        acc = acc.wrapping_add(d0);
        let d1 = acc >> 11;
        d0 = d1.wrapping_add(u64::from(k));
    }
    acc ^ d0
}

/// `zero_read_late(n)` in Rust.
fn zero_read_late(n: u32) -> u64 {
    let n = n.max(1);
    let mut e = [1u32, 2, 3, 4, 5, 6];
    for _ in 0..n {
        for j in 0..6 {
            e[j] = e[j].wrapping_mul(5).wrapping_add(e[(j + 1) % 6]);
        }
    }
    let z = (0..n).fold(0u32, |z, k| z.wrapping_add(k));
    u64::from(e.iter().fold(0, |x, y| x ^ y)) | u64::from(z) << 32
}

/// `invariant_read(n)` in Rust.
fn invariant_read(n: u32) -> u64 {
    let x = u64::from(n).wrapping_mul(0x1_0000_0001);
    let (mut p1, mut p2, mut p3, mut p4) = (0x0123_4567_89ab_cdefu64, 0x7edc_ba98_7654_3210u64, 3u64, 0x5555u64);
    for _ in 0..n.max(1) {
        p1 = p1.wrapping_add(x);
        p2 ^= x.rotate_left(7);
        p3 = p3.wrapping_mul(x | 1);
        let y = p1.wrapping_add(p2);
        p4 ^= y ^ p3;
        p1 ^= y >> 3;
    }
    p1 ^ p2 ^ p3 ^ p4
}

#[test]
fn locals_sharing_registers_keep_wasm_semantics() {
    let (mut store, inst) = common::checked_instance(&wat::parse_str(WAT).unwrap());
    let f = inst.get_func(&mut store, "phases").unwrap();
    for n in [0u32, 1, 2, 7, 100] {
        let mut res = [Val::I64(0)];
        f.call(&mut store, &[Val::I32(n as i32)], &mut res).unwrap();
        assert_eq!(res[0], Val::I64(phases(n) as i64), "phases({n})");
    }
    for (name, expect) in [("zero_read_late", zero_read_late as fn(u32) -> u64), ("invariant_read", invariant_read)] {
        let f = inst.get_func(&mut store, name).unwrap();
        for n in [0u32, 1, 2, 7, 100] {
            let mut res = [Val::I64(0)];
            f.call(&mut store, &[Val::I32(n as i32)], &mut res).unwrap();
            assert_eq!(res[0], Val::I64(expect(n) as i64), "{name}({n})");
        }
    }
}
