//! The metering consensus rules, natively: gas per basic block, out-of-gas leaves 0,
//! operand-dependent charges (memory.grow charged even when it fails), stack accounting
//! across calls and host re-entry, NaN canonicalization, and artifacts.

use keel_engine::{Config, Engine, Error, Linker, Module, Store, Trap, Val};
use keel_metering::{analyze, CostTable, DynamicKind, Profile};

fn engine() -> Engine {
    Engine::new(Config::default()).unwrap()
}

fn instance(engine: &Engine, wat: &str) -> (Store<()>, keel_engine::Instance, Vec<u8>) {
    let wasm = wat::parse_str(wat).unwrap();
    let module = Module::new(engine, &wasm).unwrap();
    let mut store = Store::new(engine, ());
    store.set_gas_limit(u64::MAX / 4);
    let inst = Linker::new().instantiate(&mut store, &module).unwrap();
    (store, inst, wasm)
}

#[test]
fn straight_line_gas_is_the_static_charge() {
    let engine = engine();
    let wat = r#"(module (func (export "f") (result i32) i32.const 1 i32.const 2 i32.add))"#;
    let (mut store, inst, wasm) = instance(&engine, wat);
    let (_, analysis) = analyze(&wasm, &Profile::default(), &CostTable::default()).unwrap();
    let f = inst.get_typed_func::<(), (), i32>(&mut store, "f").unwrap();
    store.set_gas_limit(1_000);
    assert_eq!(f.call(&mut store, ()).unwrap(), 3);
    assert_eq!(store.gas_used(), analysis.functions[0].static_gas());
}

#[test]
fn out_of_gas_leaves_zero_and_store_stays_usable() {
    let engine = engine();
    let (mut store, inst, _) = instance(&engine, r#"(module (func (export "spin") (loop br 0))
        (func (export "one") (result i32) i32.const 1))"#);
    let spin = inst.get_typed_func::<(), (), ()>(&mut store, "spin").unwrap();
    store.set_gas_limit(12_345);
    assert_eq!(spin.call(&mut store, ()).unwrap_err(), Error::Trap(Trap::OutOfGas));
    assert_eq!(store.gas_remaining(), 0);
    assert_eq!(store.gas_used(), 12_345);
    store.set_gas_limit(100);
    let one = inst.get_typed_func::<(), (), i32>(&mut store, "one").unwrap();
    assert_eq!(one.call(&mut store, ()).unwrap(), 1);
}

#[test]
fn memory_grow_is_charged_per_page_even_when_it_fails() {
    let engine = engine();
    let (mut store, inst, _) = instance(&engine, r#"(module (memory 1 2)
        (func (export "grow") (param i32) (result i32) local.get 0 memory.grow))"#);
    let grow = inst.get_typed_func::<(), i32, i32>(&mut store, "grow").unwrap();
    let unit = CostTable::default().unit_cost(DynamicKind::MemoryPages);
    store.set_gas_limit(u64::MAX / 4);
    assert_eq!(grow.call(&mut store, 0).unwrap(), 1);
    let base = store.gas_used();
    store.set_gas_limit(u64::MAX / 4);
    assert_eq!(grow.call(&mut store, 5).unwrap(), -1, "beyond the maximum");
    assert_eq!(store.gas_used(), base + 5 * unit);
    store.set_gas_limit(u64::MAX / 4);
    assert_eq!(grow.call(&mut store, 1).unwrap(), 1);
    assert_eq!(store.gas_used(), base + unit);
    // Not enough gas for the operand charge: out of gas, 0 left, memory unchanged.
    store.set_gas_limit(base + unit - 1);
    assert_eq!(grow.call(&mut store, 1).unwrap_err(), Error::Trap(Trap::OutOfGas));
    assert_eq!(store.gas_remaining(), 0);
    let mem = inst.memory(&mut store).unwrap();
    assert_eq!(mem.data_size(&mut store), 2 * 65_536);
}

#[test]
fn stack_budget_counts_frames_and_resets_after_traps() {
    let small = Engine::new(Config { stack_limit: 100, ..Config::default() }).unwrap();
    let (mut store, inst, wasm) = instance(&small, r#"(module
        (func $rec (export "rec") (param i32) (result i32)
          local.get 0 i32.eqz if (result i32) i32.const 0
          else local.get 0 i32.const 1 i32.sub call $rec i32.const 1 i32.add end))"#);
    let (_, analysis) = analyze(&wasm, &Profile::default(), &CostTable::default()).unwrap();
    let frame = u64::from(analysis.functions[0].frame_cost);
    let rec = inst.get_typed_func::<(), i32, i32>(&mut store, "rec").unwrap();
    let max_depth = 100 / frame; // frames that fit
    assert_eq!(rec.call(&mut store, (max_depth - 1) as i32).unwrap(), (max_depth - 1) as i32);
    assert_eq!(store.stack_used(), 0);
    assert_eq!(rec.call(&mut store, max_depth as i32).unwrap_err(), Error::Trap(Trap::StackExhausted));
    assert_eq!(store.stack_used(), 0);
    // The budget spans host calls: with slots already used by an outer frame, less fits.
    store.set_stack_used(frame);
    assert_eq!(rec.call(&mut store, (max_depth - 1) as i32).unwrap_err(), Error::Trap(Trap::StackExhausted));
}

#[test]
fn host_reentry_shares_gas_and_stack() {
    let engine = engine();
    let wasm = wat::parse_str(r#"(module
        (import "env" "again" (func $again (param i32) (result i32)))
        (func (export "f") (param i32) (result i32)
          local.get 0 i32.eqz if (result i32) i32.const 100
          else local.get 0 i32.const 1 i32.sub call $again i32.const 1 i32.add end))"#)
    .unwrap();
    let module = Module::new(&engine, &wasm).unwrap();
    let mut linker = Linker::<Option<keel_engine::Func>>::new();
    linker.func_wrap("env", "again", |mut caller: keel_engine::Caller<'_, Option<keel_engine::Func>>, x: i32| {
        caller.consume_gas(7)?;
        let f = caller.data().expect("set before the call");
        let mut out = [Val::I32(0)];
        f.call(&mut caller, &[Val::I32(x)], &mut out).map_err(|e| Trap::Host(e.to_string()))?;
        Ok(out[0].i32().unwrap_or(0))
    });
    let mut store = Store::new(&engine, None);
    store.set_gas_limit(1_000_000);
    let inst = linker.instantiate(&mut store, &module).unwrap();
    let f = inst.get_func(&mut store, "f").unwrap();
    *store.data_mut() = Some(f);
    let mut out = [Val::I32(0)];
    f.call(&mut store, &[Val::I32(10)], &mut out).unwrap();
    assert_eq!(out[0], Val::I32(110));
    assert_eq!(store.stack_used(), 0);
    let used = store.gas_used();
    assert!(used > 70, "host charges included: {used}");
}

#[test]
fn nan_results_are_canonical() {
    let engine = engine();
    let (mut store, inst, _) = instance(&engine, r#"(module
        (func (export "div") (param f32 f32) (result f32) local.get 0 local.get 1 f32.div)
        (func (export "add64") (param f64 f64) (result f64) local.get 0 local.get 1 f64.add)
        (func (export "neg") (param f32) (result f32) local.get 0 f32.neg)
        (func (export "min") (param f64 f64) (result f64) local.get 0 local.get 1 f64.min))"#);
    let call = |store: &mut Store<()>, name: &str, args: &[Val]| {
        let f = inst.get_func(store, name).unwrap();
        let mut out = [Val::I32(0)];
        f.call(store, args, &mut out).unwrap();
        out[0]
    };
    // 0/0 is the x86 "default NaN" 0xffc00000 natively; Keel must give 0x7fc00000.
    assert_eq!(call(&mut store, "div", &[Val::F32(0), Val::F32(0)]), Val::F32(0x7fc0_0000));
    // A NaN payload is not propagated.
    let payload = 0x7ff0_0000_0000_0001;
    assert_eq!(call(&mut store, "add64", &[Val::F64(payload), Val::F64(0)]), Val::F64(0x7ff8_0000_0000_0000));
    assert_eq!(call(&mut store, "min", &[Val::F64(payload), Val::F64(0)]), Val::F64(0x7ff8_0000_0000_0000));
    // neg is a bit operation: the payload survives with the sign flipped.
    assert_eq!(call(&mut store, "neg", &[Val::F32(0x7fa0_0001)]), Val::F32(0xffa0_0001));
}

fn de(engine: &Engine, bytes: &[u8]) -> Result<Module, Error> {
    // SAFETY: every artifact in these tests was produced by `serialize` in the same test
    // (possibly corrupted on purpose, which `deserialize` must detect).
    unsafe { Module::deserialize(engine, bytes) }
}

#[test]
fn send_sync_where_the_node_needs_it() {
    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>() {}
    send_sync::<Engine>();
    send_sync::<Module>();
    send::<Store<()>>();
}

#[test]
fn cache_key_depends_on_engine_and_code() {
    let a = Engine::new(Config::default()).unwrap();
    let b = Engine::new(Config::permissive()).unwrap();
    assert_eq!(Module::cache_key(&a, b"x"), Module::cache_key(&a, b"x"));
    assert_ne!(Module::cache_key(&a, b"x"), Module::cache_key(&a, b"y"));
    assert_ne!(Module::cache_key(&a, b"x"), Module::cache_key(&b, b"x"));
}

#[test]
fn artifacts_round_trip_and_refuse_mismatches() {
    let engine = engine();
    let wasm = wat::parse_str(r#"(module (memory 1) (data (i32.const 0) "\2a")
        (func (export "f") (result i32) i32.const 0 i32.load8_u))"#).unwrap();
    let module = Module::new(&engine, &wasm).unwrap();
    let bytes = module.serialize();
    // SAFETY: the artifact was produced just above by this engine.
    let loaded = de(&engine, &bytes).unwrap();
    let mut store = Store::new(&engine, ());
    store.set_gas_limit(1_000);
    let inst = Linker::new().instantiate(&mut store, &loaded).unwrap();
    let f = inst.get_typed_func::<(), (), i32>(&mut store, "f").unwrap();
    assert_eq!(f.call(&mut store, ()).unwrap(), 42);
    assert_eq!(loaded.code_size(), module.code_size());

    // Corruption anywhere in the payload is detected.
    let mut bad = bytes.clone();
    let last = bad.len() - 1;
    bad[last] ^= 1;
    assert!(matches!(de(&engine, &bad), Err(Error::Artifact(m)) if m.contains("hash")));
    // Truncation and garbage are refused.
    assert!(de(&engine, &bytes[..bytes.len() / 2]).is_err());
    assert!(de(&engine, b"not an artifact").is_err());
    // Another cost table or profile is refused.
    let mut costs = CostTable::default();
    let old = costs.class_cost(keel_metering::OpClass::IntAlu);
    costs.set_class_cost(keel_metering::OpClass::IntAlu, old + 1).unwrap();
    let other = Engine::new(Config { cost_table: costs, ..Config::default() }).unwrap();
    assert!(matches!(de(&other, &bytes), Err(Error::Artifact(m)) if m.contains("cost table")));
    let permissive = Engine::new(Config::permissive()).unwrap();
    assert!(matches!(de(&permissive, &bytes), Err(Error::Artifact(m)) if m.contains("profile")));
}

#[test]
fn untrusted_modules_get_errors_not_panics() {
    let engine = engine();
    assert!(matches!(Module::new(&engine, b"\0asm\x01\0\0\0\x01"), Err(Error::Validation(_))));
    assert!(matches!(Module::new(&engine, b"garbage"), Err(Error::Validation(_))));
    // A SIMD module is outside the profile.
    let simd = wat::parse_str(r#"(module (func (result v128) v128.const i64x2 0 0))"#).unwrap();
    assert!(matches!(Module::new(&engine, &simd), Err(Error::Validation(_))));
    // A missing import is a link error, and nothing is instantiated.
    let imp = wat::parse_str(r#"(module (import "env" "nope" (func)))"#).unwrap();
    let module = Module::new(&engine, &imp).unwrap();
    let mut store = Store::new(&engine, ());
    assert!(matches!(Linker::new().instantiate(&mut store, &module), Err(Error::Link(_))));
}

#[test]
fn host_reentry_depth_is_bounded_deterministically() {
    let engine = Engine::new(Config { max_host_reentry: 10, ..Config::default() }).unwrap();
    let wasm = wat::parse_str(r#"(module
        (import "env" "again" (func $again))
        (func (export "f") call $again))"#)
    .unwrap();
    let module = Module::new(&engine, &wasm).unwrap();
    let mut linker = Linker::<(Option<keel_engine::Func>, u32)>::new();
    linker.func_wrap("env", "again", |mut caller: keel_engine::Caller<'_, (Option<keel_engine::Func>, u32)>| {
        caller.data_mut().1 += 1;
        let f = caller.data().0.expect("set");
        f.call(&mut caller, &[], &mut []).map_err(|e| match e {
            Error::Trap(t) => t,
            other => Trap::Host(other.to_string()),
        })
    });
    let mut store = Store::new(&engine, (None, 0));
    store.set_gas_limit(1_000_000);
    let inst = linker.instantiate(&mut store, &module).unwrap();
    let f = inst.get_func(&mut store, "f").unwrap();
    store.data_mut().0 = Some(f);
    assert_eq!(f.call(&mut store, &[], &mut []).unwrap_err(), Error::Trap(Trap::StackExhausted));
    assert_eq!(store.data().1, 11);
    assert_eq!(store.stack_used(), 0);
}

#[test]
fn memory_without_declared_maximum_grows_to_the_profile_limit_only() {
    let engine = engine();
    let max = Profile::default().limits.max_memory_pages as i32;
    let (mut store, inst, _) = instance(&engine, r#"(module (memory 1)
        (func (export "grow") (param i32) (result i32) local.get 0 memory.grow))"#);
    let grow = inst.get_typed_func::<(), i32, i32>(&mut store, "grow").unwrap();
    assert_eq!(grow.call(&mut store, max).unwrap(), -1);
    assert_eq!(grow.call(&mut store, max - 1).unwrap(), 1);
    assert_eq!(grow.call(&mut store, 1).unwrap(), -1);
}

#[test]
fn engine_rejects_absurd_stack_budgets() {
    assert!(Engine::new(Config { stack_limit: u64::MAX, ..Config::default() }).is_err());
}

#[test]
fn trap_codes_are_stable() {
    let all = [
        (Trap::OutOfGas, 1),
        (Trap::StackExhausted, 2),
        (Trap::Unreachable, 3),
        (Trap::IntegerDivideByZero, 4),
        (Trap::IntegerOverflow, 5),
        (Trap::InvalidConversionToInteger, 6),
        (Trap::MemoryOutOfBounds, 7),
        (Trap::TableOutOfBounds, 8),
        (Trap::IndirectCallToNull, 9),
        (Trap::BadSignature, 10),
        (Trap::Host("x".into()), 11),
    ];
    for (t, c) in all {
        assert_eq!(t.stable_code(), c, "{t}");
    }
}
