//! Execution time of the compute kernels (`keel_benches::kernels`: fib, a memory loop,
//! SHA-256, matrix multiply, sort, a CoreMark-like mix) side by side in one run: Keel with
//! native metering, Keel without metering (`Config::without_metering`), wasmi plain (no
//! metering) and wasmi over `keel_metering::instrument` (the reference semantics). Report
//! ratios, never absolute figures: the machine is shared.
//!
//! `cargo bench -p keel-benches --bench execution [-- KERNEL]`

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use keel_benches::kernels::ALL;
use keel_engine::{Config, Engine, Linker, Module, Store, TypedFunc};
use keel_metering::{instrument, InstrumentConfig};

fn wasmi_func(wasm: &[u8]) -> (wasmi::Store<()>, wasmi::TypedFunc<i64, i64>, Option<wasmi::Global>) {
    let engine = wasmi::Engine::default();
    let module = wasmi::Module::new(&engine, wasm).expect("wasmi accepts the module");
    let mut store = wasmi::Store::new(&engine, ());
    let instance = wasmi::Linker::<()>::new(&engine).instantiate_and_start(&mut store, &module).expect("instantiates");
    let f = instance.get_typed_func::<i64, i64>(&store, "run").expect("export");
    let gas = instance.get_global(&store, keel_metering::instrument::GAS_EXPORT);
    (store, f, gas)
}

fn keel_func(engine: &Engine, wasm: &[u8]) -> (Store<()>, TypedFunc<i64, i64>) {
    let module = Module::new(engine, wasm).expect("compiles");
    let mut store = Store::new(engine, ());
    let instance = Linker::new().instantiate(&mut store, &module).expect("instantiates");
    let f = instance.get_typed_func::<(), i64, i64>(&mut store, "run").expect("export");
    (store, f)
}

fn bench(c: &mut Criterion) {
    let metered = Engine::new(Config::default()).expect("engine");
    let unmetered = Engine::new(Config::default().without_metering()).expect("engine");
    let mut group = c.benchmark_group("execution");
    group.sample_size(10);
    group.warm_up_time(std::time::Duration::from_millis(500));
    group.measurement_time(std::time::Duration::from_secs(3));
    for kernel in ALL {
        let wasm = kernel.wasm().expect("kernel parses");
        let instrumented = instrument(&wasm, &InstrumentConfig::default()).expect("instruments").wasm;
        let arg = kernel.bench_arg;
        let (mut store, f) = keel_func(&metered, &wasm);
        store.set_gas_limit(u64::MAX / 2);
        let expected = f.call(&mut store, arg).expect("runs");
        group.bench_function(BenchmarkId::new("keel_metered", kernel.name), |b| {
            b.iter(|| {
                store.set_gas_limit(u64::MAX / 2);
                f.call(&mut store, arg).expect("runs")
            })
        });
        let (mut store, f) = keel_func(&unmetered, &wasm);
        assert_eq!(f.call(&mut store, arg).expect("runs"), expected, "unmetered agrees");
        group.bench_function(BenchmarkId::new("keel_unmetered", kernel.name), |b| {
            b.iter(|| f.call(&mut store, arg).expect("runs"))
        });
        let (mut ws, wf, _) = wasmi_func(&wasm);
        assert_eq!(wf.call(&mut ws, arg).expect("runs"), expected, "wasmi agrees");
        group.bench_function(BenchmarkId::new("wasmi_plain", kernel.name), |b| {
            b.iter(|| wf.call(&mut ws, arg).expect("runs"))
        });
        let (mut ws, wf, gas) = wasmi_func(&instrumented);
        let gas = gas.expect("instrumented module exports its gas global");
        group.bench_function(BenchmarkId::new("wasmi_instrumented", kernel.name), |b| {
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
