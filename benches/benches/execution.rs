//! Execution time of compute kernels on Keel (native metering on) and on wasmi, side by side
//! in one run: wasmi plain (no metering) and wasmi over `keel_metering::instrument` (the
//! reference semantics). Report ratios, never absolute figures: the machine is shared.
//!
//! `cargo bench -p keel-benches --bench execution`

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use keel_engine::{Config, Engine, Linker, Module, Store};
use keel_metering::{instrument, InstrumentConfig};

/// Kernels: recursive fib, and a load/store/xor loop over one page of memory.
const KERNELS: &str = r#"(module
  (memory (export "memory") 1)
  (func $fib (export "fib") (param i64) (result i64)
    local.get 0 i64.const 2 i64.lt_u
    if (result i64) local.get 0
    else local.get 0 i64.const 1 i64.sub call $fib local.get 0 i64.const 2 i64.sub call $fib i64.add end)
  (func (export "loop") (param i64) (result i64) (local i32 i32)
    block loop
      local.get 1 local.get 0 i32.wrap_i64 i32.ge_u br_if 1
      local.get 1 i32.const 4 i32.mul i32.const 4095 i32.and
      local.get 1 local.get 2 i32.xor i32.store
      local.get 2 local.get 1 i32.const 4 i32.mul i32.const 4095 i32.and i32.load i32.add local.set 2
      local.get 1 i32.const 1 i32.add local.set 1
      br 0
    end end
    local.get 2 i64.extend_i32_u))"#;

fn wasmi_func(wasm: &[u8], name: &str) -> (wasmi::Store<()>, wasmi::TypedFunc<i64, i64>, Option<wasmi::Global>) {
    let engine = wasmi::Engine::default();
    let module = wasmi::Module::new(&engine, wasm).expect("wasmi accepts the module");
    let mut store = wasmi::Store::new(&engine, ());
    let instance = wasmi::Linker::<()>::new(&engine).instantiate_and_start(&mut store, &module).expect("instantiates");
    let f = instance.get_typed_func::<i64, i64>(&store, name).expect("export");
    let gas = instance.get_global(&store, keel_metering::instrument::GAS_EXPORT);
    (store, f, gas)
}

fn bench(c: &mut Criterion) {
    let wasm = wat::parse_str(KERNELS).expect("kernels parse");
    let instrumented = instrument(&wasm, &InstrumentConfig::default()).expect("instruments").wasm;
    let engine = Engine::new(Config::default()).expect("engine");
    let module = Module::new(&engine, &wasm).expect("compiles");
    let mut group = c.benchmark_group("execution");
    group.sample_size(10);
    group.warm_up_time(std::time::Duration::from_millis(500));
    group.measurement_time(std::time::Duration::from_secs(3));
    for (kernel, arg) in [("fib", 25i64), ("loop", 2_000_000)] {
        let mut store = Store::new(&engine, ());
        let instance = Linker::new().instantiate(&mut store, &module).expect("instantiates");
        let f = instance.get_typed_func::<(), i64, i64>(&mut store, kernel).expect("export");
        let expected = {
            store.set_gas_limit(u64::MAX / 2);
            f.call(&mut store, arg).expect("runs")
        };
        group.bench_function(BenchmarkId::new("keel_metered", kernel), |b| {
            b.iter(|| {
                store.set_gas_limit(u64::MAX / 2);
                f.call(&mut store, arg).expect("runs")
            })
        });
        let (mut ws, wf, _) = wasmi_func(&wasm, kernel);
        assert_eq!(wf.call(&mut ws, arg).expect("runs"), expected, "wasmi agrees");
        group.bench_function(BenchmarkId::new("wasmi_plain", kernel), |b| {
            b.iter(|| wf.call(&mut ws, arg).expect("runs"))
        });
        let (mut ws, wf, gas) = wasmi_func(&instrumented, kernel);
        let gas = gas.expect("instrumented module exports its gas global");
        group.bench_function(BenchmarkId::new("wasmi_instrumented", kernel), |b| {
            b.iter(|| {
                gas.set(&mut ws, wasmi::Val::I64(i64::MAX)).expect("set gas");
                wf.call(&mut ws, arg).expect("runs")
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
