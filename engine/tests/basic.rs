//! Behavioural tests of the compiler and runtime on small hand-written modules.

#[path = "common/x86_64.rs"]
mod x86_64;

use keel_engine::{Config, Engine, Error, Linker, Module, Store, Trap, Val};

fn engine() -> Engine {
    Engine::new(Config::default()).unwrap()
}

fn run(wat: &str, func: &str, args: &[Val], nres: usize, gas: u64) -> (Result<Vec<Val>, Error>, u64) {
    let engine = engine();
    let wasm = wat::parse_str(wat).unwrap();
    let module = Module::new(&engine, &wasm).unwrap();
    let mut store = Store::new(&engine, ());
    store.set_gas_limit(gas);
    let inst = Linker::new().instantiate(&mut store, &module).unwrap();
    let f = inst.get_func(&mut store, func).unwrap();
    let mut res = vec![Val::I32(0); nres];
    let r = f.call(&mut store, args, &mut res).map(|_| res);
    (r, store.gas_used())
}

#[test]
fn arithmetic_and_locals() {
    let (r, _) = run(
        r#"(module (func (export "f") (param i32 i32) (result i32) (local i32)
            local.get 0 local.get 1 i32.mul local.set 2
            local.get 2 i32.const 7 i32.sub))"#,
        "f",
        &[Val::I32(6), Val::I32(7)],
        1,
        1_000,
    );
    assert_eq!(r.unwrap(), vec![Val::I32(35)]);
}

#[test]
fn recursion_factorial() {
    let (r, _) = run(
        r#"(module (func $fac (export "fac") (param i64) (result i64)
            local.get 0 i64.eqz
            if (result i64) i64.const 1
            else local.get 0 local.get 0 i64.const 1 i64.sub call $fac i64.mul end))"#,
        "fac",
        &[Val::I64(20)],
        1,
        1_000_000,
    );
    assert_eq!(r.unwrap(), vec![Val::I64(2432902008176640000)]);
}

#[test]
fn loop_sum_and_gas() {
    let wat = r#"(module (func (export "sum") (param i32) (result i32) (local i32)
        block loop
          local.get 0 i32.eqz br_if 1
          local.get 1 local.get 0 i32.add local.set 1
          local.get 0 i32.const 1 i32.sub local.set 0
          br 0
        end end
        local.get 1))"#;
    let (r, gas_small) = run(wat, "sum", &[Val::I32(10)], 1, 1_000_000);
    assert_eq!(r.unwrap(), vec![Val::I32(55)]);
    let (r, gas_big) = run(wat, "sum", &[Val::I32(20)], 1, 1_000_000);
    assert_eq!(r.unwrap(), vec![Val::I32(210)]);
    assert!(gas_big > gas_small);
    // Gas used must equal the sum of the analysis charges actually executed; an exact
    // gas limit of gas_small succeeds, one less runs out and uses everything.
    let (r, used) = run(wat, "sum", &[Val::I32(10)], 1, gas_small);
    assert!(r.is_ok());
    assert_eq!(used, gas_small);
    let (r, used) = run(wat, "sum", &[Val::I32(10)], 1, gas_small - 1);
    assert_eq!(r.unwrap_err(), Error::Trap(Trap::OutOfGas));
    assert_eq!(used, gas_small - 1);
}

#[test]
fn traps_and_store_reuse() {
    let engine = engine();
    let wasm = wat::parse_str(
        r#"(module (memory 1)
        (func (export "div") (param i32 i32) (result i32) local.get 0 local.get 1 i32.div_s)
        (func (export "oob") (result i32) i32.const 65536 i32.load)
        (func (export "unreachable") unreachable)
        (func $r (export "recurse") call $r))"#,
    )
    .unwrap();
    let module = Module::new(&engine, &wasm).unwrap();
    let mut store = Store::new(&engine, ());
    store.set_gas_limit(10_000_000);
    let inst = Linker::new().instantiate(&mut store, &module).unwrap();
    let div = inst.get_typed_func::<(), (i32, i32), i32>(&mut store, "div").unwrap();
    assert_eq!(div.call(&mut store, (7, 2)).unwrap(), 3);
    assert_eq!(div.call(&mut store, (7, 0)).unwrap_err(), Error::Trap(Trap::IntegerDivideByZero));
    assert_eq!(div.call(&mut store, (i32::MIN, -1)).unwrap_err(), Error::Trap(Trap::IntegerOverflow));
    let oob = inst.get_typed_func::<(), (), i32>(&mut store, "oob").unwrap();
    assert_eq!(oob.call(&mut store, ()).unwrap_err(), Error::Trap(Trap::MemoryOutOfBounds));
    let u = inst.get_typed_func::<(), (), ()>(&mut store, "unreachable").unwrap();
    assert_eq!(u.call(&mut store, ()).unwrap_err(), Error::Trap(Trap::Unreachable));
    let rec = inst.get_typed_func::<(), (), ()>(&mut store, "recurse").unwrap();
    assert_eq!(rec.call(&mut store, ()).unwrap_err(), Error::Trap(Trap::StackExhausted));
    assert_eq!(store.stack_used(), 0);
    // Still usable after all those traps.
    assert_eq!(div.call(&mut store, (9, 3)).unwrap(), 3);
}

#[test]
fn host_functions_and_memory() {
    let engine = engine();
    let wasm = wat::parse_str(
        r#"(module
        (import "env" "log" (func $log (param i32 i32)))
        (import "env" "fail" (func $fail))
        (memory (export "memory") 1)
        (data (i32.const 16) "hello")
        (func (export "go") i32.const 16 i32.const 5 call $log)
        (func (export "boom") call $fail))"#,
    )
    .unwrap();
    let module = Module::new(&engine, &wasm).unwrap();
    let mut linker = Linker::<Vec<String>>::new();
    linker.func_wrap("env", "log", |mut caller: keel_engine::Caller<'_, Vec<String>>, ptr: i32, len: i32| {
        let mut buf = vec![0u8; len as usize];
        caller.read_memory(ptr as u64, &mut buf)?;
        caller.data_mut().push(String::from_utf8_lossy(&buf).into_owned());
        Ok(())
    });
    linker.func_wrap("env", "fail", |_c: keel_engine::Caller<'_, Vec<String>>| -> Result<(), Trap> {
        Err(Trap::Host("nope".into()))
    });
    let mut store = Store::new(&engine, Vec::new());
    store.set_gas_limit(1_000_000);
    let inst = linker.instantiate(&mut store, &module).unwrap();
    let go = inst.get_typed_func::<_, (), ()>(&mut store, "go").unwrap();
    go.call(&mut store, ()).unwrap();
    assert_eq!(store.data(), &vec!["hello".to_string()]);
    let boom = inst.get_typed_func::<_, (), ()>(&mut store, "boom").unwrap();
    assert_eq!(boom.call(&mut store, ()).unwrap_err(), Error::Trap(Trap::Host("nope".into())));
}

#[test]
fn typed_host_functions_with_six_params() {
    let engine = engine();
    let wasm = wat::parse_str(
        r#"(module (import "env" "six" (func $six (param i32 i64 i32 i64 i32 i32) (result i64)))
        (func (export "f") (result i64) i32.const 1 i64.const 2 i32.const 3 i64.const 4 i32.const 5 i32.const 6 call $six))"#,
    )
    .unwrap();
    let module = Module::new(&engine, &wasm).unwrap();
    let mut linker = Linker::<()>::new();
    linker.func_wrap("env", "six", |_c: keel_engine::Caller<'_, ()>, a: i32, b: i64, c: i32, d: i64, e: i32, f: i32| {
        Ok(i64::from(a) + b * 10 + i64::from(c) * 100 + d * 1000 + i64::from(e) * 10_000 + i64::from(f) * 100_000)
    });
    let mut store = Store::new(&engine, ());
    store.set_gas_limit(1_000);
    let inst = linker.instantiate(&mut store, &module).unwrap();
    let f = inst.get_typed_func::<(), (), i64>(&mut store, "f").unwrap();
    assert_eq!(f.call(&mut store, ()).unwrap(), 654_321);
}

/// Generated code bounds-checks against each instance's copy of its memory's length: a
/// grow by the host (through `Memory::grow` inside a host call) and by another instance
/// that shares the memory must both be seen at once, and the page past the new end must
/// still trap.
#[test]
fn memory_grown_by_host_or_other_instance_is_seen_by_generated_code() {
    // Permissive: the default profile allows imports from "env" only.
    let engine = Engine::new(Config::permissive()).unwrap();
    let owner = wat::parse_str(
        r#"(module (import "host" "grow" (func $grow))
            (memory (export "mem") 1 4)
            (func (export "grow_then_store") (param i32) (result i32)
              call $grow
              local.get 0 i32.const 7 i32.store
              local.get 0 i32.load)
            (func (export "grow1") (result i32) i32.const 1 memory.grow))"#,
    )
    .unwrap();
    let user = wat::parse_str(
        r#"(module (import "owner" "mem" (memory 1 4))
            (func (export "load") (param i32) (result i32) local.get 0 i32.load)
            (func (export "size") (result i32) memory.size))"#,
    )
    .unwrap();
    let mut store = Store::new(&engine, ());
    store.set_gas_limit(1_000_000);
    let mut linker = Linker::new();
    linker
        .func_wrap("host", "grow", |mut caller: keel_engine::Caller<'_, ()>| {
            let Some(keel_engine::Extern::Memory(m)) = caller.get_export("mem") else {
                return Err(Trap::Host("no memory".into()));
            };
            m.grow(&mut caller, 1).ok_or_else(|| Trap::Host("grow refused".into()))?;
            Ok(())
        });
    let owner = linker.instantiate(&mut store, &Module::new(&engine, &owner).unwrap()).unwrap();
    linker.instance(&mut store, "owner", owner);
    let user = linker.instantiate(&mut store, &Module::new(&engine, &user).unwrap()).unwrap();
    let store_at = owner.get_typed_func::<(), i32, i32>(&mut store, "grow_then_store").unwrap();
    let load = user.get_typed_func::<(), i32, i32>(&mut store, "load").unwrap();
    let size = user.get_typed_func::<(), (), i32>(&mut store, "size").unwrap();
    // The host grows 1 -> 2 pages inside the call; the store right after lands in page 2.
    assert_eq!(store_at.call(&mut store, 65_536 + 100).unwrap(), 7);
    assert_eq!(load.call(&mut store, 65_536 + 100).unwrap(), 7);
    assert_eq!(size.call(&mut store, ()).unwrap(), 2);
    // Page 3 is not there yet for the importer...
    let oob = load.call(&mut store, 2 * 65_536).unwrap_err();
    assert!(matches!(oob, Error::Trap(Trap::MemoryOutOfBounds)), "{oob:?}");
    // ...until the owner grows the shared memory with memory.grow.
    let grow1 = owner.get_typed_func::<(), (), i32>(&mut store, "grow1").unwrap();
    assert_eq!(grow1.call(&mut store, ()).unwrap(), 2);
    assert_eq!(load.call(&mut store, 2 * 65_536).unwrap(), 0);
    assert_eq!(size.call(&mut store, ()).unwrap(), 3);
    let oob = load.call(&mut store, 3 * 65_536 - 3).unwrap_err();
    assert!(matches!(oob, Error::Trap(Trap::MemoryOutOfBounds)), "{oob:?}");
}

/// `local.get x; ...; op; local.set/tee x` on a local kept in a register is computed in the
/// register itself: copies of the old value still on the stack must keep it.
#[test]
fn in_place_local_updates_keep_older_copies() {
    let wat = r#"(module (func (export "f") (param $n i32) (result i32) (local $x i32) (local $acc i32)
        i32.const 7 local.set $x
        block loop
          local.get $n i32.eqz br_if 1
          local.get $acc
          local.get $x
          local.get $x i32.const 3 i32.add local.set $x
          i32.add
          local.get $x i32.add local.set $acc
          local.get $x
          local.get $x i32.const 1 i32.shl local.tee $x
          i32.add local.get $acc i32.add local.set $acc
          local.get $x local.get $x i32.xor local.get $x i32.add local.set $x
          local.get $n i32.const 1 i32.sub local.set $n
          br 0
        end end
        local.get $acc local.get $x i32.mul))"#;
    let (mut x, mut acc) = (7i32, 0i32);
    for _ in 0..10 {
        let old = x;
        x = x.wrapping_add(3);
        acc = acc.wrapping_add(old).wrapping_add(x);
        let old = x;
        x = x.wrapping_shl(1);
        acc = old.wrapping_add(x).wrapping_add(acc);
        x = (x ^ x).wrapping_add(x);
    }
    let (r, _) = run(wat, "f", &[Val::I32(10)], 1, 1_000_000);
    assert_eq!(r.unwrap(), vec![Val::I32(acc.wrapping_mul(x))]);
}

/// The result of an operation stored to a register local is computed in that register,
/// whatever the left operand; a right operand that is the local's old value keeps it.
#[test]
fn operations_stored_to_register_locals() {
    let wat = r#"(module (func (export "f") (param $n i32) (result i32) (local $x i32) (local $y i32) (local $acc i32)
        i32.const 5 local.set $x i32.const 9 local.set $y
        block loop
          local.get $n i32.eqz br_if 1
          local.get $y
          local.get $y i32.const 2 i32.mul local.set $y
          local.get $x local.get $y i32.sub local.set $y
          local.get $y i32.add
          i32.const 100 local.get $y i32.sub local.set $y
          local.get $acc i32.add local.get $y i32.xor local.set $acc
          i32.const 3 local.get $x i32.shl local.tee $x local.get $x i32.rotl local.set $x
          local.get $n i32.const 1 i32.sub local.set $n
          br 0
        end end
        local.get $acc local.get $x i32.add local.get $y i32.mul))"#;
    let (mut x, mut y, mut acc) = (5i32, 9i32, 0i32);
    for _ in 0..10 {
        let old_y = y;
        y = y.wrapping_mul(2);
        y = x.wrapping_sub(y);
        let t = old_y.wrapping_add(y);
        y = 100i32.wrapping_sub(y);
        acc = (t.wrapping_add(acc)) ^ y;
        x = 3i32.wrapping_shl(x as u32 & 31);
        x = x.rotate_left(x as u32 & 31);
    }
    let (r, _) = run(wat, "f", &[Val::I32(10)], 1, 1_000_000);
    assert_eq!(r.unwrap(), vec![Val::I32(acc.wrapping_add(x).wrapping_mul(y))]);
}

/// A load whose value a register local takes next is loaded into that register, also when
/// the address is that local and an older copy of it is still on the stack.
#[test]
fn loads_into_register_locals() {
    let wat = r#"(module (memory 1)
      (data (i32.const 0) "\08\00\00\00\10\00\00\00\04\00\00\00\00\00\00\00\0c\00\00\00")
      (func (export "f") (param $n i32) (result i32) (local $p i32) (local $acc i32)
        block loop
          local.get $n i32.eqz br_if 1
          local.get $p
          local.get $p i32.load local.set $p
          local.get $acc i32.add local.get $p i32.add local.set $acc
          local.get $n i32.const 1 i32.sub local.set $n
          br 0
        end end
        local.get $acc))"#;
    // Memory holds a cycle of pointers: 0 -> 8 -> 4 -> 16 -> 12 -> 0.
    let next = |p: i32| match p {
        0 => 8,
        8 => 4,
        4 => 16,
        16 => 12,
        _ => 0,
    };
    let (mut p, mut acc) = (0i32, 0i32);
    for _ in 0..12 {
        let old = p;
        p = next(p);
        acc = old + acc + p;
    }
    let (r, _) = run(wat, "f", &[Val::I32(12)], 1, 1_000_000);
    assert_eq!(r.unwrap(), vec![Val::I32(acc)]);
}

/// `i32.wrap_i64` feeding an i32 comparison or `add/sub/mul/and/or/xor` emits nothing (the
/// next operator reads the low half only); its results, and addresses computed by 32-bit
/// operations and used at once, are exact whatever the upper half held.
#[test]
fn wrapped_values_and_fresh_addresses_ignore_the_upper_half() {
    let wat = r#"(module (memory 1)
      (data (i32.const 16) "\2a\00\00\00\07\00\00\00")
      (type $t (func (result i64)))
      (table 8 funcref)
      (elem (i32.const 4) $four $five)
      (func $four (result i64) i64.const 400)
      (func $five (result i64) i64.const 500)
      (func (export "f") (param $x i64) (param $n i32) (result i64) (local $acc i64) (local $i i32)
        block loop
          local.get $i local.get $n i32.ge_u br_if 1
          ;; 5 == wrap(x) for x = 0x1_0000_0005; lt_u on the low half only
          i32.const 5 local.get $x i32.wrap_i64 i32.eq
          i32.const 6 local.get $x i32.wrap_i64 i32.lt_u i32.add
          local.get $x i32.wrap_i64 i32.eqz i32.add
          i32.const 3 local.get $x i32.wrap_i64 i32.mul i32.add
          i32.const 0 local.get $x i32.wrap_i64 i32.sub i32.add
          ;; the sum is zero-extended into the i64 accumulator
          i64.extend_i32_u local.get $acc i64.add local.set $acc
          ;; an address computed by 32-bit operations, loaded at once: 16 + 4 * (i & 1)
          i32.const 16 local.get $x i32.wrap_i64 i32.const 5 i32.sub local.get $i i32.const 1 i32.and i32.add i32.const 2 i32.shl i32.add
          i32.load i64.extend_i32_u local.get $acc i64.add local.set $acc
          ;; a wrapped table index (4 or 5 in the low half)
          local.get $x i64.const 1 i64.sub local.get $i i64.extend_i32_u i64.const 1 i64.and i64.add
          i32.wrap_i64 call_indirect (type $t) local.get $acc i64.add local.set $acc
          local.get $i i32.const 1 i32.add local.set $i
          br 0
        end end
        local.get $acc))"#;
    let x: i64 = 0x1_0000_0005;
    let lo = x as u32;
    let mut acc: u64 = 0;
    for i in 0..7u32 {
        let s = u32::from(lo == 5)
            .wrapping_add(u32::from(6 < lo))
            .wrapping_add(u32::from(lo == 0))
            .wrapping_add(3u32.wrapping_mul(lo))
            .wrapping_add(0u32.wrapping_sub(lo));
        acc = acc.wrapping_add(u64::from(s));
        acc = acc.wrapping_add(if i & 1 == 0 { 42 } else { 7 });
        acc = acc.wrapping_add(if i & 1 == 0 { 400 } else { 500 });
    }
    let (r, _) = run(wat, "f", &[Val::I64(x), Val::I32(7)], 1, 1_000_000);
    assert_eq!(r.unwrap(), vec![Val::I64(acc as i64)]);
}

/// Back-to-back memory accesses through one address register share its zero-extension
/// on x86-64 (`rax`), unless an access loaded into that very register: a linked list is
/// followed (each load's result is the next address), and fields are read and written
/// through a local's register in a row.
#[test]
fn consecutive_accesses_through_one_address() {
    let wat = r#"(module (memory 1)
        (func (export "chase") (param i32) (result i32) (local $p i32) (local $k i32) (local $sum i32)
          ;; node i at 16*i: next = 16*((7*i+3) mod 64), value = i*i+1
          block loop
            local.get $k i32.const 64 i32.ge_u br_if 1
            local.get $k i32.const 16 i32.mul
            local.get $k i32.const 7 i32.mul i32.const 3 i32.add i32.const 63 i32.and i32.const 16 i32.mul
            i32.store
            local.get $k i32.const 16 i32.mul
            local.get $k local.get $k i32.mul i32.const 1 i32.add
            i32.store offset=4
            local.get $k i32.const 1 i32.add local.set $k
            br 0
          end end
          ;; follow the list: the address register is overwritten by each load
          local.get 0 i32.const 16 i32.mul
          i32.load i32.load i32.load i32.load
          local.set $p
          i32.const 0 local.set $k
          block loop
            local.get $k local.get 0 i32.ge_u br_if 1
            ;; three reads and a write through $p's register in a row
            local.get $p i32.load offset=4
            local.get $p i32.load offset=8
            local.get $p i32.load offset=4
            i32.add i32.add local.set $sum
            local.get $p local.get $sum i32.store offset=8
            local.get $p i32.load local.set $p
            local.get $k i32.const 1 i32.add local.set $k
            br 0
          end end
          local.get $sum local.get $p i32.add))"#;
    let next = |i: u32| (7 * i + 3) % 64;
    for start in [1u32, 5, 40] {
        let mut field8 = [0u32; 64];
        let mut p = next(next(next(next(start))));
        let mut sum = 0u32;
        for _ in 0..start {
            let v = p * p + 1;
            sum = v.wrapping_add(field8[p as usize]).wrapping_add(v);
            field8[p as usize] = sum;
            p = next(p);
        }
        let (r, _) = run(wat, "chase", &[Val::I32(start as i32)], 1, 10_000_000);
        assert_eq!(r.unwrap(), vec![Val::I32(sum.wrapping_add(16 * p) as i32)], "start {start}");
    }
}

/// A label right after a memory access: the path that jumps there may have another address
/// in x86-64's `rax`, so the access after the label must not reuse it.
#[test]
fn access_after_a_label_recomputes_its_address() {
    let wat = r#"(module (memory 1)
        (data (i32.const 0) "\01\00\00\00\02\00\00\00\03\00\00\00\04\00\00\00")
        (data (i32.const 64) "\10\00\00\00\20\00\00\00\30\00\00\00\40\00\00\00")
        (func (export "f") (param $p i32) (param $q i32) (param $c i32) (result i32)
              (local $k i32) (local $a i32) (local $b i32) (local $acc i32)
          block loop
            local.get $k i32.const 4 i32.ge_u br_if 1
            local.get $q i32.load offset=0 local.set $a
            block
              local.get $c local.get $k i32.and br_if 0
              local.get $p i32.load offset=4 local.set $b
            end
            local.get $p i32.load offset=8
            local.get $acc i32.add local.get $a i32.add local.get $b i32.add local.set $acc
            local.get $k i32.const 1 i32.add local.set $k
            br 0
          end end
          local.get $acc))"#;
    // p = 64, q = 0: each iteration adds mem[p+8] = 0x30, mem[q] = 1, and b, which is
    // mem[p+4] = 0x20 once an iteration with (c & k) == 0 has run (k = 0 always does).
    for c in [0i32, 1, 2, 3] {
        let mut b = 0;
        let mut acc = 0i32;
        for k in 0..4 {
            if c & k == 0 {
                b = 0x20;
            }
            acc += 0x30 + 1 + b;
        }
        // Unmetered too: with metering, the block after a label starts with its charge.
        for config in [Config::default(), Config::default().without_metering()] {
            let engine = Engine::new(config).unwrap();
            let module = Module::new(&engine, &wat::parse_str(wat).unwrap()).unwrap();
            let mut store = Store::new(&engine, ());
            store.set_gas_limit(10_000_000);
            let inst = Linker::new().instantiate(&mut store, &module).unwrap();
            let f = inst.get_func(&mut store, "f").unwrap();
            let mut res = [Val::I32(0)];
            f.call(&mut store, &[Val::I32(64), Val::I32(0), Val::I32(c)], &mut res).unwrap();
            assert_eq!(res[0], Val::I32(acc), "c = {c}, metering {}", engine.config().metering);
        }
    }
}

/// Two pointers read in turn in a loop, with the first parameter written (`write_first`)
/// or not, and a call in between (after which the locals' registers are reloaded).
fn pointer_locals_wat(write_first: bool) -> String {
    let write = if write_first { "local.get $p local.get $k i32.const 0 i32.mul i32.add local.set $p" } else { "" };
    format!(
        r#"(module (memory 1)
        (data (i32.const 0) "\01\00\00\00\02\00\00\00\03\00\00\00\04\00\00\00")
        (func $callee (param i32) (result i32) local.get 0 i32.const 1 i32.add)
        (func (export "f") (param $p i32) (param $q i32) (param $n i32) (result i32) (local $k i32) (local $acc i32)
          block loop
            local.get $k local.get $n i32.ge_u br_if 1
            {write}
            local.get $p i32.load offset=0 local.get $q i32.load offset=4 i32.add
            local.get $p i32.load offset=8 i32.add local.get $q i32.load offset=12 i32.add
            local.get $acc i32.add call $callee local.set $acc
            local.get $p i32.load offset=4 local.get $q i32.load offset=8 i32.add
            local.get $acc i32.add local.set $acc
            local.get $k i32.const 1 i32.add local.set $k
            br 0
          end end
          local.get $acc))"#
    )
}

/// i32 locals in registers address memory directly (on x86-64 without a zero-extension per
/// access): their registers only ever hold zero-extended values. Negative addresses stay 4
/// GiB minus a little, out of bounds.
#[test]
fn pointer_locals_address_memory() {
    for write_first in [false, true] {
        let wat = pointer_locals_wat(write_first);
        // p = q = 0: each iteration adds 1 + 2 + 3 + 4 (+1 in the callee) and then 2 + 3.
        let (r, _) = run(&wat, "f", &[Val::I32(0), Val::I32(0), Val::I32(5)], 1, 10_000_000);
        assert_eq!(r.unwrap(), vec![Val::I32(5 * (11 + 5))], "write_first {write_first}");
        for (p, q) in [(-16, 0), (0, i32::MIN), (-1, -1)] {
            let (r, _) = run(&wat, "f", &[Val::I32(p), Val::I32(q), Val::I32(5)], 1, 10_000_000);
            assert!(matches!(r, Err(Error::Trap(Trap::MemoryOutOfBounds))), "write_first {write_first}, {p} {q}: {r:?}");
        }
    }
}

/// The zero-extensions in `wat`'s x86-64 code: the number of `mov eax, r32` (a 32-bit
/// address into `rax` before a memory access) and of `mov r32, r32` with the same register
/// on both sides (in place).
fn x86_64_zero_extensions(wat: &str) -> (usize, usize) {
    use yaxpeax_x86::long_mode::{Opcode, Operand, RegSpec};
    let (mut moves, mut in_place) = (0, 0);
    for inst in x86_64::instructions(wat, Config::default()) {
        let into_eax = inst.operand(0) == Operand::Register { reg: RegSpec::eax() };
        let from_reg = matches!(inst.operand(1), Operand::Register { .. });
        if inst.opcode() == Opcode::MOV && into_eax && from_reg {
            moves += 1;
        }
        if inst.opcode() == Opcode::MOV && from_reg && inst.operand(0) == inst.operand(1) {
            in_place += 1;
        }
    }
    (moves, in_place)
}

/// The x86-64 code of [`pointer_locals_wat`] never zero-extends an address into `eax`:
/// every access indexes with the local's register.
#[test]
fn x86_64_pointer_locals_need_no_zero_extension() {
    for write_first in [false, true] {
        let (moves, _) = x86_64_zero_extensions(&pointer_locals_wat(write_first));
        assert_eq!(moves, 0, "write_first {write_first}: {moves} zero-extensions into eax");
    }
}

/// Addresses computed by 32-bit operations on the value stack: a store's address computed
/// before its value, an address spilled across a call (reloaded with a 32-bit load), and a
/// zero-extension (`i64.extend_i32_u`) of an i32 computed before other code.
const COMPUTED_ADDRESSES_WAT: &str = r#"(module (memory 1)
    (func $id (param i32) (result i32) local.get 0)
    (func (export "f") (param $p i32) (param $v i32) (result i64)
      local.get $p i32.const 4 i32.mul
      local.get $v i32.const 7 i32.xor
      i32.store
      local.get $p i32.const 8 i32.add
      local.get $v call $id
      i32.store offset=4
      local.get $p i32.const 4 i32.mul i32.load
      local.get $p i32.const 8 i32.add i32.load offset=4
      i32.sub
      local.get $v i32.const 3 i32.add local.set $v
      i64.extend_i32_u))"#;

/// [`COMPUTED_ADDRESSES_WAT`] computes right, and its addresses stay 32-bit: one that
/// wraps to 4 GiB minus a little is out of bounds, not a negative offset.
#[test]
fn computed_addresses_address_memory() {
    // p = 1, v = 5: mem[4] = 5 ^ 7 = 2, mem[13] = 5; 2 - 5 wraps to 2^32 - 3.
    let (r, _) = run(COMPUTED_ADDRESSES_WAT, "f", &[Val::I32(1), Val::I32(5)], 1, 1_000_000);
    assert_eq!(r.unwrap(), vec![Val::I64((1 << 32) - 3)]);
    for p in [-1, -4, i32::MIN / 2] {
        let (r, _) = run(COMPUTED_ADDRESSES_WAT, "f", &[Val::I32(p), Val::I32(5)], 1, 1_000_000);
        assert!(matches!(r, Err(Error::Trap(Trap::MemoryOutOfBounds))), "p {p}: {r:?}");
    }
}

/// The x86-64 code of [`COMPUTED_ADDRESSES_WAT`] zero-extends no address into `eax`, and
/// its `i64.extend_i32_u` emits no `mov r32, r32`: the value stack knows which registers a
/// 32-bit operation wrote.
#[test]
fn x86_64_computed_addresses_need_no_zero_extension() {
    assert_eq!(x86_64_zero_extensions(COMPUTED_ADDRESSES_WAT), (0, 0));
}

/// A register local read only at the top of a loop is live across a call later in the
/// loop body (through the back edge), so the call saves it; a local never read again is
/// not saved. The callee clobbers the caller's local registers with its own locals.
#[test]
fn locals_live_through_a_loop_survive_calls() {
    let wat = r#"(module
      (func $clobber (param $v i32) (result i32) (local $a i32) (local $b i32) (local $c i32) (local $k i32)
        loop $l
          local.get $a local.get $v i32.add local.set $a
          local.get $b local.get $a i32.xor local.set $b
          local.get $c local.get $b i32.add local.set $c
          local.get $k i32.const 1 i32.add local.tee $k i32.const 8 i32.lt_u br_if $l
        end
        local.get $c)
      (func (export "f") (param $x i32) (param $n i32) (result i32) (local $i i32) (local $acc i32) (local $dead i32)
        i32.const 77 local.set $dead
        local.get $dead drop
        loop $l
          local.get $acc local.get $x i32.add local.set $acc
          local.get $i call $clobber drop
          local.get $i i32.const 1 i32.add local.tee $i local.get $n i32.lt_u br_if $l
        end
        local.get $acc))"#;
    let (r, _) = run(wat, "f", &[Val::I32(1000), Val::I32(5)], 1, 10_000_000);
    assert_eq!(r.unwrap(), vec![Val::I32(5000)]);
}

/// Locals whose first access is a write outside every block are not zeroed on entry; every
/// other local still reads 0 before its first write, even where an earlier call left
/// other values in the frame's stack memory and registers.
#[test]
fn locals_first_written_in_a_block_still_start_at_zero() {
    let wat = r#"(module
      (func $dirty (result i32) (local i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32)
        i32.const -1 local.set 0 i32.const -1 local.set 1 i32.const -1 local.set 2
        i32.const -1 local.set 3 i32.const -1 local.set 4 i32.const -1 local.set 5
        i32.const -1 local.set 6 i32.const -1 local.set 7 i32.const -1 local.set 8
        i32.const -1 local.set 9 i32.const -1 local.set 10 i32.const -1 local.set 11
        local.get 0 local.get 11 i32.add)
      (func $f (param $skip i32) (result i32) (local $top i32) (local $x i32) (local $y i32) (local $z i32)
        i32.const 7 local.set $top
        block
          local.get $skip br_if 0
          i32.const 5 local.set $x
          i32.const 6 local.set $y
        end
        local.get $z local.get $x i32.add local.get $y i32.add
        i32.const 100 i32.mul local.get $top i32.add)
      ;; an if without else, a write in the else-branch only, a br_table around a write;
      ;; $both is written on every path (its slot is not zeroed)
      (func $g (param $skip i32) (result i32) (local $x i32) (local $y i32) (local $z i32) (local $both i32)
        local.get $skip i32.eqz if i32.const 5 local.set $x end
        local.get $skip if nop else i32.const 6 local.set $y end
        block block local.get $skip br_table 1 0 end i32.const 7 local.set $z end
        local.get $skip if i32.const 1 local.set $both else i32.const 2 local.set $both end
        local.get $x local.get $y i32.add local.get $z i32.add
        i32.const 100 i32.mul local.get $both i32.add)
      (func (export "run") (param $skip i32) (result i32)
        call $dirty drop
        local.get $skip call $f)
      (func (export "run_g") (param $skip i32) (result i32)
        call $dirty drop
        local.get $skip call $g))"#;
    let (r, _) = run(wat, "run", &[Val::I32(1)], 1, 1_000_000);
    assert_eq!(r.unwrap(), vec![Val::I32(7)]);
    let (r, _) = run(wat, "run", &[Val::I32(0)], 1, 1_000_000);
    assert_eq!(r.unwrap(), vec![Val::I32(1107)]);
    // skip = 1: $x and $y keep their zeros, the br_table's default runs the write of $z.
    let (r, _) = run(wat, "run_g", &[Val::I32(1)], 1, 1_000_000);
    assert_eq!(r.unwrap(), vec![Val::I32(701)]);
    // skip = 0: the br_table leaves both blocks, $z keeps its zero.
    let (r, _) = run(wat, "run_g", &[Val::I32(0)], 1, 1_000_000);
    assert_eq!(r.unwrap(), vec![Val::I32(1102)]);
}

/// Globals reached the three ways generated code has (`vmctx::global_access`): an
/// instance's own first four in its vmctx, imported ones among the first four through a
/// pointer in the vmctx, and any past the fourth through the pointer array. The owner
/// exports six globals (0-3 in its vmctx, 4-5 boxed); the user imports the owner's 1 and
/// 5 and a host global as its 0-2 and defines 3 (in its vmctx) and 4 (boxed). Every write,
/// by either instance or the host, must be seen by all three.
#[test]
fn globals_in_the_vmctx_and_behind_pointers_are_one_cell_each() {
    use keel_engine::{Extern, GlobalType, ValType};
    // The default profile imports only from "env": the permissive one links instances.
    let engine = Engine::new(Config::permissive()).unwrap();
    let owner = wat::parse_str(
        r#"(module
            (global $a (export "a") (mut i64) (i64.const 10))
            (global $b (export "b") (mut i64) (i64.const 20))
            (global $c (export "c") (mut i64) (i64.const 30))
            (global $d (export "d") (mut i64) (i64.const 40))
            (global $e (export "e") (mut i64) (i64.const 50))
            (global $f (export "f") (mut i64) (i64.const 60))
            ;; Adds 1..6 to a..f and returns their sum afterwards.
            (func (export "bump") (result i64)
                (global.set $a (i64.add (global.get $a) (i64.const 1)))
                (global.set $b (i64.add (global.get $b) (i64.const 2)))
                (global.set $c (i64.add (global.get $c) (i64.const 3)))
                (global.set $d (i64.add (global.get $d) (i64.const 4)))
                (global.set $e (i64.add (global.get $e) (i64.const 5)))
                (global.set $f (i64.add (global.get $f) (i64.const 6)))
                (i64.add (i64.add (i64.add (global.get $a) (global.get $b))
                                  (i64.add (global.get $c) (global.get $d)))
                         (i64.add (global.get $e) (global.get $f)))))"#,
    )
    .unwrap();
    let user = wat::parse_str(
        r#"(module
            (import "owner" "b" (global $ob (mut i64)))
            (import "owner" "f" (global $of (mut i64)))
            (import "host" "h" (global $h (mut i32)))
            (global $u (mut i64) (i64.const 20))
            (global $v (mut i64) (i64.const 7))
            ;; Doubles every global it sees; returns ob + of + h + u + v afterwards.
            (func (export "double") (result i64)
                (global.set $ob (i64.shl (global.get $ob) (i64.const 1)))
                (global.set $of (i64.shl (global.get $of) (i64.const 1)))
                (global.set $h (i32.shl (global.get $h) (i32.const 1)))
                (global.set $u (i64.shl (global.get $u) (i64.const 1)))
                (global.set $v (i64.shl (global.get $v) (i64.const 1)))
                (i64.add (i64.add (global.get $ob) (global.get $of))
                         (i64.add (i64.extend_i32_u (global.get $h))
                                  (i64.add (global.get $u) (global.get $v)))))
            (func (export "u") (result i64) global.get $u))"#,
    )
    .unwrap();
    let mut store = Store::new(&engine, ());
    store.set_gas_limit(1_000_000);
    let mut linker = Linker::new();
    let h = store.global_new(GlobalType { ty: ValType::I32, mutable: true }, Val::I32(3)).unwrap();
    linker.define("host", "h", Extern::Global(h));
    let owner = linker.instantiate(&mut store, &Module::new(&engine, &owner).unwrap()).unwrap();
    linker.instance(&mut store, "owner", owner);
    let user = linker.instantiate(&mut store, &Module::new(&engine, &user).unwrap()).unwrap();
    let bump = owner.get_typed_func::<(), (), i64>(&mut store, "bump").unwrap();
    let double = user.get_typed_func::<(), (), i64>(&mut store, "double").unwrap();
    let u = user.get_typed_func::<(), (), i64>(&mut store, "u").unwrap();
    let g = |store: &mut Store<()>, name: &str| owner.get_global(store, name).unwrap();

    assert_eq!(u.call(&mut store, ()).unwrap(), 20);
    // a..f = 11, 22, 33, 44, 55, 66.
    assert_eq!(bump.call(&mut store, ()).unwrap(), 231);
    // ob = 44, of = 132, h = 6, u = 40, v = 14.
    assert_eq!(double.call(&mut store, ()).unwrap(), 44 + 132 + 6 + 40 + 14);
    // The owner sees the user's writes to b (in its vmctx) and f (boxed).
    let b = g(&mut store, "b");
    let f = g(&mut store, "f");
    assert_eq!(b.get(&mut store), Val::I64(44));
    assert_eq!(f.get(&mut store), Val::I64(132));
    assert_eq!(h.get(&mut store), Val::I32(6));
    // Host writes reach both instances' code.
    b.set(&mut store, Val::I64(1000)).unwrap();
    f.set(&mut store, Val::I64(2000)).unwrap();
    g(&mut store, "a").set(&mut store, Val::I64(0)).unwrap();
    h.set(&mut store, Val::I32(1)).unwrap();
    // a..f = 1, 1002, 36, 48, 60, 2006.
    assert_eq!(bump.call(&mut store, ()).unwrap(), 1 + 1002 + 36 + 48 + 60 + 2006);
    // ob = 2004, of = 4012, h = 2, u = 80, v = 28.
    assert_eq!(double.call(&mut store, ()).unwrap(), 2004 + 4012 + 2 + 80 + 28);
    for (name, want) in [("a", 1), ("b", 2004), ("c", 36), ("d", 48), ("e", 60), ("f", 4012)] {
        assert_eq!(g(&mut store, name).get(&mut store), Val::I64(want), "global {name}");
    }
}

/// A function that makes no calls keeps a local used only a few times outside loops in a
/// register (`MIN_LEAF_PIN_WEIGHT`); the same body with a call keeps such locals in frame
/// slots (a register would be stored and reloaded around the call). Both compute the same.
#[test]
fn x86_64_leaf_functions_keep_lightly_used_locals_in_registers() {
    use yaxpeax_x86::long_mode::{Operand, RegSpec};
    const BODY: &str = r#"
              local.get $a i32.const 3 i32.mul local.set $x
              local.get $a i32.const 5 i32.add local.set $y
              local.get $x local.get $y i32.xor local.set $z
              i32.const 0
              local.get $z local.get $x i32.add local.get $y i32.sub local.get $z i32.mul
              i32.store"#;
    let module = |call: &str, body: &str| {
        format!(
            r#"(module (memory 1)
            (func $nop)
            (func (export "f") (param $a i32) (local $x i32) (local $y i32) (local $z i32)
              {call} {body})
            (func (export "read") (result i32) i32.const 0 i32.load))"#
        )
    };
    // Memory operands addressed from rsp (frame slots), in the whole code.
    let rsp_operands = |wat: &str| {
        x86_64::instructions(wat, Config::default())
            .iter()
            .flat_map(|inst| (0..inst.operand_count()).map(move |i| inst.operand(i)))
            .filter(|op| match op {
                Operand::Disp { base, .. }
                | Operand::MemDeref { base }
                | Operand::MemBaseIndexScale { base, .. }
                | Operand::MemBaseIndexScaleDisp { base, .. } => *base == RegSpec::rsp(),
                _ => false,
            })
            .count()
    };
    // The same module with `f` empty: the frame-slot accesses of the other functions (and
    // of `f`'s unused parameter, copied to its slot).
    let others = rsp_operands(&module("", ""));
    let (leaf, with_call) = (module("", BODY), module("call $nop", BODY));
    assert!(rsp_operands(&leaf) <= others, "the leaf function's locals are in registers");
    assert!(rsp_operands(&with_call) >= others + 6, "with a call they are in slots");
    for wat in [&leaf, &with_call] {
        for a in [0i32, 7, -9] {
            let engine = engine();
            let module = Module::new(&engine, &wat::parse_str(wat).unwrap()).unwrap();
            let mut store = Store::new(&engine, ());
            store.set_gas_limit(1_000_000);
            let inst = Linker::new().instantiate(&mut store, &module).unwrap();
            inst.get_typed_func::<(), i32, ()>(&mut store, "f").unwrap().call(&mut store, a).unwrap();
            let got = inst.get_typed_func::<(), (), i32>(&mut store, "read").unwrap().call(&mut store, ()).unwrap();
            let (x, y) = (a.wrapping_mul(3), a.wrapping_add(5));
            let z = x ^ y;
            assert_eq!(got, z.wrapping_add(x).wrapping_sub(y).wrapping_mul(z), "a = {a}");
        }
    }
}
