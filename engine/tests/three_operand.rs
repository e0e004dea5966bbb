//! Integer operations whose left operand is a local kept in a register
//! (`MacroAssembler::int_bin_from`): the local is read in place, the result goes to another
//! register, in one instruction where the ISA allows (x86-64 `lea` for additions,
//! subtractions, multiplications by 2, 4, 8 and shifts by 1-3, `imul r, r, imm`; aarch64
//! every three-operand form). The local must keep its value, the result must wrap at the
//! operation's width, and immediates that do not fit an instruction's field must still
//! work. The locals are used in a loop so that they get registers. Checked against wasmi
//! (over the reference instrumentation) and against Rust.

use keel_engine::{Config, Engine, Isa, Linker, Module, Store, Val};

mod common;

const WAT: &str = r#"(module
  (memory 1)
  (func (export "ops32") (param $x i32) (param $n i32) (result i32) (local $k i32) (local $acc i32) (local $y i32)
    block loop
      local.get $k local.get $n i32.ge_u br_if 1
      local.get $x i32.const 12345 i32.add
      local.get $x i32.const -7 i32.add i32.xor
      local.get $x i32.const 99 i32.sub i32.xor
      local.get $x i32.const 0x80000000 i32.sub i32.xor
      local.get $x i32.const 0x7fffffff i32.add i32.xor
      local.get $x i32.const 2 i32.mul i32.xor
      local.get $x i32.const 4 i32.mul i32.xor
      local.get $x i32.const 8 i32.mul i32.xor
      local.get $x i32.const 16 i32.mul i32.xor
      local.get $x i32.const -3 i32.mul i32.xor
      local.get $x i32.const 1000003 i32.mul i32.xor
      local.get $x i32.const 1 i32.shl i32.xor
      local.get $x i32.const 2 i32.shl i32.xor
      local.get $x i32.const 3 i32.shl i32.xor
      local.get $x i32.const 33 i32.shl i32.xor
      local.get $x i32.const 35 i32.shl i32.xor
      local.get $x local.get $k i32.add i32.xor
      local.get $x local.get $x i32.add i32.xor
      local.get $acc i32.const 5 i32.rotl i32.add
      local.set $acc
      ;; into another register local: y = x + 17, y = x * 3, y = k << 2
      local.get $x i32.const 17 i32.add local.set $y
      local.get $acc local.get $y i32.xor local.set $acc
      local.get $x i32.const 3 i32.mul local.set $y
      local.get $acc local.get $y i32.add local.set $acc
      local.get $k i32.const 2 i32.shl local.set $y
      ;; a scaled index as a memory address (the 32-bit result is the whole index)
      local.get $y i32.const 4092 i32.and local.get $acc i32.store
      local.get $acc local.get $k i32.const 4 i32.mul i32.const 4092 i32.and i32.load i32.add local.set $acc
      local.get $x i32.const 0x9e3779b9 i32.mul i32.const 1 i32.add local.set $x
      local.get $k i32.const 1 i32.add local.set $k
      br 0
    end end
    local.get $acc local.get $x i32.xor)
  (func (export "ops64") (param $x i64) (param $n i32) (result i64) (local $k i32) (local $acc i64) (local $y i64)
    block loop
      local.get $k local.get $n i32.ge_u br_if 1
      local.get $x i64.const 12345 i64.add
      local.get $x i64.const -7 i64.add i64.xor
      local.get $x i64.const -2147483648 i64.sub i64.xor
      local.get $x i64.const 2147483647 i64.sub i64.xor
      local.get $x i64.const 0x100000000 i64.add i64.xor
      local.get $x i64.const 0x123456789 i64.sub i64.xor
      local.get $x i64.const 2 i64.mul i64.xor
      local.get $x i64.const 4 i64.mul i64.xor
      local.get $x i64.const 8 i64.mul i64.xor
      local.get $x i64.const -19 i64.mul i64.xor
      local.get $x i64.const 0x100000001 i64.mul i64.xor
      local.get $x i64.const 1 i64.shl i64.xor
      local.get $x i64.const 3 i64.shl i64.xor
      local.get $x i64.const 65 i64.shl i64.xor
      local.get $x i64.const 40 i64.shl i64.xor
      local.get $x local.get $y i64.add i64.xor
      local.get $acc i64.const 7 i64.rotl i64.add
      local.set $acc
      local.get $x i64.const -1000 i64.add local.set $y
      local.get $x i64.const 0x5851f42d4c957f2d i64.mul i64.const 0x14057b7ef767814f i64.add local.set $x
      local.get $k i32.const 1 i32.add local.set $k
      br 0
    end end
    local.get $acc local.get $x i64.xor local.get $y i64.add))"#;

fn ops32(mut x: i32, n: i32) -> i32 {
    let (mut k, mut acc, mut mem) = (0i32, 0i32, [0i32; 1024]);
    while (k as u32) < (n as u32) {
        let v = x.wrapping_add(12345)
            ^ x.wrapping_add(-7)
            ^ x.wrapping_sub(99)
            ^ x.wrapping_sub(i32::MIN)
            ^ x.wrapping_add(i32::MAX)
            ^ x.wrapping_mul(2)
            ^ x.wrapping_mul(4)
            ^ x.wrapping_mul(8)
            ^ x.wrapping_mul(16)
            ^ x.wrapping_mul(-3)
            ^ x.wrapping_mul(1_000_003)
            ^ x.wrapping_shl(1)
            ^ x.wrapping_shl(2)
            ^ x.wrapping_shl(3)
            ^ x.wrapping_shl(33)
            ^ x.wrapping_shl(35)
            ^ x.wrapping_add(k)
            ^ x.wrapping_add(x);
        acc = v.wrapping_add(acc.rotate_left(5));
        acc ^= x.wrapping_add(17);
        acc = acc.wrapping_add(x.wrapping_mul(3));
        let y = k.wrapping_shl(2);
        mem[((y & 4092) / 4) as usize] = acc;
        acc = acc.wrapping_add(mem[((k.wrapping_mul(4) & 4092) / 4) as usize]);
        x = x.wrapping_mul(0x9e37_79b9_u32 as i32).wrapping_add(1);
        k += 1;
    }
    acc ^ x
}

fn ops64(mut x: i64, n: i32) -> i64 {
    let (mut k, mut acc, mut y) = (0i32, 0i64, 0i64);
    while (k as u32) < (n as u32) {
        let v = x.wrapping_add(12345)
            ^ x.wrapping_add(-7)
            ^ x.wrapping_sub(-2_147_483_648)
            ^ x.wrapping_sub(2_147_483_647)
            ^ x.wrapping_add(0x1_0000_0000)
            ^ x.wrapping_sub(0x1_2345_6789)
            ^ x.wrapping_mul(2)
            ^ x.wrapping_mul(4)
            ^ x.wrapping_mul(8)
            ^ x.wrapping_mul(-19)
            ^ x.wrapping_mul(0x1_0000_0001)
            ^ x.wrapping_shl(1)
            ^ x.wrapping_shl(3)
            ^ x.wrapping_shl(65)
            ^ x.wrapping_shl(40)
            ^ x.wrapping_add(y);
        acc = v.wrapping_add(acc.rotate_left(7));
        y = x.wrapping_add(-1000);
        x = x.wrapping_mul(0x5851_f42d_4c95_7f2d).wrapping_add(0x1405_7b7e_f767_814f);
        k += 1;
    }
    (acc ^ x).wrapping_add(y)
}

#[test]
fn operations_on_register_locals_match_wasmi() {
    common::same_as_wasmi(&wat::parse_str(WAT).unwrap());
}

#[test]
fn operations_on_register_locals_match_rust() {
    let wasm = wat::parse_str(WAT).unwrap();
    let engine = Engine::new(Config::default()).unwrap();
    let module = Module::new(&engine, &wasm).unwrap();
    let mut store = Store::new(&engine, ());
    store.set_gas_limit(100_000_000);
    let inst = Linker::new().instantiate(&mut store, &module).unwrap();
    let f32 = inst.get_func(&mut store, "ops32").unwrap();
    let f64 = inst.get_func(&mut store, "ops64").unwrap();
    for (x, n) in [(0i64, 3i32), (1, 50), (-1, 17), (i64::from(i32::MAX), 9), (i64::MIN + 5, 33), (0x7654_3210_fedc_ba98, 64)] {
        let mut res = [Val::I32(0)];
        f32.call(&mut store, &[Val::I32(x as i32), Val::I32(n)], &mut res).unwrap();
        assert_eq!(res[0], Val::I32(ops32(x as i32, n)), "ops32({x}, {n})");
        let mut res = [Val::I64(0)];
        f64.call(&mut store, &[Val::I64(x), Val::I32(n)], &mut res).unwrap();
        assert_eq!(res[0], Val::I64(ops64(x, n)), "ops64({x}, {n})");
    }
}

/// The x86-64 forms are really used: the loop's code holds `lea` and three-operand `imul`.
#[test]
fn x86_64_uses_lea_and_three_operand_imul() {
    let wasm = wat::parse_str(WAT).unwrap();
    let config = Config { isa: Isa::X64, ..Config::default() };
    let engine = Engine::new(config).unwrap();
    let code = Module::new(&engine, &wasm).unwrap().code().to_vec();
    // `lea r32, [rN*4]` with no base: 8D /r, SIB scale 4, base 101, disp32 0.
    let scaled = code.windows(3).any(|w| w[0] == 0x8D && w[1] & 0xC7 == 0x04 && w[2] & 0xC7 == 0x85);
    // `imul r, r/m, imm32`: 69 /r with a register operand.
    let imul = code.windows(2).any(|w| w[0] == 0x69 && w[1] >= 0xC0);
    assert!(scaled, "no scaled-index lea in the generated code");
    assert!(imul, "no three-operand imul in the generated code");
}
