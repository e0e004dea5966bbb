//! `Config::metering = false`: no gas is charged (gas used stays 0 under any limit, even
//! 0), results equal metered execution, and the stack budget still traps deep recursion.

use keel_engine::{Config, Engine, Error, Linker, Module, Store, Trap};

const KERNELS: &str = r#"(module
  (memory 1 4)
  (func $fib (export "fib") (param i64) (result i64)
    local.get 0 i64.const 2 i64.lt_u
    if (result i64) local.get 0
    else local.get 0 i64.const 1 i64.sub call $fib local.get 0 i64.const 2 i64.sub call $fib i64.add end)
  (func (export "bulk") (param i64) (result i64)
    ;; grows by one page, fills 60000 bytes with 7 and copies them, sums a few bytes
    i32.const 1 memory.grow drop
    i32.const 0 i32.const 7 i32.const 60000 memory.fill
    i32.const 65536 i32.const 0 i32.const 60000 memory.copy
    i32.const 65540 i32.load8_u i64.extend_i32_u local.get 0 i64.add
    memory.size i64.extend_i32_u i64.add)
  (func $deep (export "deep") (param i64) (result i64)
    local.get 0 i64.const 1 i64.add call $deep))"#;

fn call(engine: &Engine, name: &str, arg: i64, gas: u64) -> (Result<i64, Error>, u64) {
    let wasm = wat::parse_str(KERNELS).unwrap();
    let module = Module::new(engine, &wasm).unwrap();
    let mut store = Store::new(engine, ());
    store.set_gas_limit(gas);
    let inst = Linker::new().instantiate(&mut store, &module).unwrap();
    let f = inst.get_typed_func::<(), i64, i64>(&mut store, name).unwrap();
    let r = f.call(&mut store, arg);
    (r, store.gas_used())
}

#[test]
fn unmetered_results_equal_metered_and_charge_nothing() {
    let metered = Engine::new(Config::default()).unwrap();
    let unmetered = Engine::new(Config::default().without_metering()).unwrap();
    for (name, arg) in [("fib", 20), ("bulk", 5)] {
        let (m, m_gas) = call(&metered, name, arg, 1 << 40);
        let (u, u_gas) = call(&unmetered, name, arg, 1 << 40);
        assert!(m_gas > 0, "{name}: metered execution charges gas");
        assert_eq!(u_gas, 0, "{name}: unmetered execution charges nothing");
        assert_eq!(m.as_ref().ok(), u.as_ref().ok(), "{name}: same result");
        assert!(u.is_ok(), "{name}: {u:?}");
        // With no gas at all, metered code traps at once; unmetered code runs to the end.
        let (m0, _) = call(&metered, name, arg, 0);
        assert_eq!(m0, Err(Error::Trap(Trap::OutOfGas)));
        let (u0, u0_gas) = call(&unmetered, name, arg, 0);
        assert_eq!(u0.ok(), u.ok(), "{name}: runs without gas");
        assert_eq!(u0_gas, 0);
    }
    assert_eq!(call(&unmetered, "fib", 20, 0).0.ok(), Some(6765));
    assert_eq!(call(&unmetered, "bulk", 5, 0).0.ok(), Some(7 + 5 + 2));
}

#[test]
fn unmetered_deep_recursion_still_traps_stack_exhausted() {
    let unmetered = Engine::new(Config::default().without_metering()).unwrap();
    let (r, gas) = call(&unmetered, "deep", 0, 0);
    assert_eq!(r, Err(Error::Trap(Trap::StackExhausted)));
    assert_eq!(gas, 0);
    // The store stays usable after the trap.
    assert_eq!(call(&unmetered, "fib", 10, 0).0.ok(), Some(55));
}

#[test]
fn artifacts_record_the_metering_setting() {
    let metered = Engine::new(Config::default()).unwrap();
    let unmetered = Engine::new(Config::default().without_metering()).unwrap();
    let wasm = wat::parse_str(KERNELS).unwrap();
    let art = Module::new(&unmetered, &wasm).unwrap().serialize();
    assert_ne!(Module::cache_key(&metered, &wasm), Module::cache_key(&unmetered, &wasm));
    // SAFETY: the artifact was produced by this engine version in this process.
    let err = unsafe { Module::deserialize(&metered, &art) }.unwrap_err();
    assert!(err.to_string().contains("metering mismatch"), "{err}");
    // SAFETY: as above.
    let back = unsafe { Module::deserialize(&unmetered, &art) }.unwrap();
    let mut store = Store::new(&unmetered, ());
    let inst = Linker::new().instantiate(&mut store, &back).unwrap();
    let f = inst.get_typed_func::<(), i64, i64>(&mut store, "fib").unwrap();
    assert_eq!(f.call(&mut store, 15), Ok(610));
    assert_eq!(store.gas_used(), 0);
}

/// Gas charged by host functions in the middle of guest code counts exactly, metered or
/// not (guest code keeps the counter in a register and hands it to the host and back).
#[test]
fn host_charges_are_exact_with_and_without_metering() {
    let wasm = wat::parse_str(r#"(module
        (import "env" "charge" (func $charge))
        (func (export "run") (param i64) (result i64) (local i64)
          block loop
            local.get 1 local.get 0 i64.ge_u br_if 1
            call $charge
            local.get 1 i64.const 1 i64.add local.set 1
            br 0
          end end
          local.get 1))"#)
    .unwrap();
    let run = |engine: &Engine, per_call: u64, gas: u64| -> (Result<i64, Error>, u64) {
        let module = Module::new(engine, &wasm).unwrap();
        let mut linker = Linker::<()>::new();
        linker.func_wrap("env", "charge", move |mut caller: keel_engine::Caller<'_, ()>| {
            caller.consume_gas(per_call)?;
            Ok(())
        });
        let mut store = Store::new(engine, ());
        store.set_gas_limit(gas);
        let inst = linker.instantiate(&mut store, &module).unwrap();
        let f = inst.get_typed_func::<(), i64, i64>(&mut store, "run").unwrap();
        let r = f.call(&mut store, 1_000);
        (r, store.gas_used())
    };
    let metered = Engine::new(Config::default()).unwrap();
    let unmetered = Engine::new(Config::default().without_metering()).unwrap();
    assert_eq!(run(&unmetered, 7, 1 << 40), (Ok(1_000), 7_000));
    let (r0, base) = run(&metered, 0, 1 << 40);
    let (r7, with_host) = run(&metered, 7, 1 << 40);
    assert_eq!((r0, r7), (Ok(1_000), Ok(1_000)));
    assert_eq!(with_host - base, 7_000);
    // Running out inside the host function: everything is used, nothing more.
    assert_eq!(run(&unmetered, 7, 3_500), (Err(Error::Trap(Trap::OutOfGas)), 3_500));
    assert_eq!(run(&metered, 7, base + 3_000), (Err(Error::Trap(Trap::OutOfGas)), base + 3_000));
}
