//! Compile throughput of Keel's whole pipeline (validation + metering analysis + single-pass
//! compilation), in bytes of input wasm per second: the example contracts, a large generated
//! module, and each JIT-bomb shape at 1x, 4x and 16x. Flat MB/s across scales is linear time.
//!
//! Group `compile_isa` compiles the same inputs for each target ISA side by side (any host
//! cross-compiles): x86-64 vs aarch64 throughput in one run.
//!
//! Groups `compile` and `compile_isa` compile on one thread
//! (`Config::parallel_compilation(false)`). Group `compile_threads` compiles the seven
//! example contracts and the large module with one thread and with two
//! (`parallel_compilation(true)`, the default: validation on a second thread) side by side,
//! `sequential/...` next to `parallel/...` for each input. Modules whose code section is
//! below `keel_engine::PARALLEL_COMPILATION_MIN_CODE_BYTES` take one thread either way.
//!
//! `cargo bench -p keel-benches --bench compile` (one group: append `-- compile_threads`)

use std::path::Path;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use keel_benches::{jit_bomb, large_module, BombShape};
use keel_engine::{Config, Engine, Isa, Module};

/// The example contracts of the `compile` group.
const CONTRACTS: [&str; 4] = ["token", "escrow", "sha2_hasher", "ed25519_verifier"];

/// Every example contract (the `compile_threads` group).
const ALL_CONTRACTS: [&str; 7] =
    ["token", "escrow", "registry", "counter", "sha2_hasher", "ed25519_verifier", "c_counter"];

/// `config` on one thread.
fn one_thread(config: Config) -> Config {
    config.parallel_compilation(false)
}

fn contracts(names: &[&str]) -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../contracts/wasm");
    let mut out = Vec::new();
    for name in names {
        let p = dir.join(format!("{name}.wasm"));
        if let Ok(bytes) = std::fs::read(&p) {
            out.push((name.to_string(), bytes));
        }
    }
    out
}

fn bench(c: &mut Criterion) {
    let chain = Engine::new(one_thread(Config::default())).expect("engine");
    let permissive = Engine::new(one_thread(Config::permissive())).expect("engine");
    let mut group = c.benchmark_group("compile");
    group.sample_size(10);
    group.warm_up_time(std::time::Duration::from_millis(300));
    group.measurement_time(std::time::Duration::from_secs(2));
    for (name, wasm) in contracts(&CONTRACTS) {
        group.throughput(Throughput::Bytes(wasm.len() as u64));
        group.bench_with_input(BenchmarkId::new("contract", name), &wasm, |b, wasm| {
            b.iter(|| Module::new(&chain, wasm).expect("compiles"))
        });
    }
    let large = large_module(8_000);
    group.throughput(Throughput::Bytes(large.len() as u64));
    group.bench_with_input(BenchmarkId::new("large_module", "1x"), &large, |b, wasm| {
        b.iter(|| Module::new(&permissive, wasm).expect("compiles"))
    });
    for shape in BombShape::ALL {
        for scale in [1, 4, 16] {
            let wasm = jit_bomb(shape, scale);
            group.throughput(Throughput::Bytes(wasm.len() as u64));
            group.bench_with_input(BenchmarkId::new(shape.name(), format!("{scale}x")), &wasm, |b, wasm| {
                b.iter(|| Module::new(&permissive, wasm).expect("compiles"))
            });
        }
    }
    group.finish();
}

/// The example contracts and the large module compiled for every ISA in one run.
fn bench_isas(c: &mut Criterion) {
    let mut group = c.benchmark_group("compile_isa");
    group.sample_size(10);
    group.warm_up_time(std::time::Duration::from_millis(300));
    group.measurement_time(std::time::Duration::from_secs(2));
    let large = large_module(8_000);
    for isa in Isa::ALL {
        let chain = Engine::new(one_thread(Config { isa, ..Config::default() })).expect("engine");
        let permissive = Engine::new(one_thread(Config { isa, ..Config::permissive() })).expect("engine");
        for (name, wasm) in contracts(&CONTRACTS) {
            group.throughput(Throughput::Bytes(wasm.len() as u64));
            group.bench_with_input(BenchmarkId::new(format!("{isa}/contract"), name), &wasm, |b, wasm| {
                b.iter(|| Module::new(&chain, wasm).expect("compiles"))
            });
        }
        group.throughput(Throughput::Bytes(large.len() as u64));
        group.bench_with_input(BenchmarkId::new(format!("{isa}/large_module"), "1x"), &large, |b, wasm| {
            b.iter(|| Module::new(&permissive, wasm).expect("compiles"))
        });
    }
    group.finish();
}

/// One thread and two side by side, input by input: the example contracts (chain profile)
/// and the large module (permissive profile), compiled for the host.
fn bench_threads(c: &mut Criterion) {
    let mut group = c.benchmark_group("compile_threads");
    group.sample_size(20);
    group.warm_up_time(std::time::Duration::from_millis(300));
    group.measurement_time(std::time::Duration::from_secs(2));
    let engines = |config: Config| {
        [
            ("sequential", Engine::new(config.clone().parallel_compilation(false)).expect("engine")),
            ("parallel", Engine::new(config.parallel_compilation(true)).expect("engine")),
        ]
    };
    let chain = engines(Config::default());
    let permissive = engines(Config::permissive());
    // (benchmark name, module, the sequential and parallel engines to compile it with)
    type Input<'e> = (String, Vec<u8>, &'e [(&'static str, Engine); 2]);
    let mut inputs: Vec<Input<'_>> =
        contracts(&ALL_CONTRACTS).into_iter().map(|(name, wasm)| (format!("contract/{name}"), wasm, &chain)).collect();
    inputs.push(("large_module/1x".into(), large_module(8_000), &permissive));
    for (name, wasm, engines) in inputs {
        group.throughput(Throughput::Bytes(wasm.len() as u64));
        for (threads, engine) in engines.iter() {
            group.bench_with_input(BenchmarkId::new(*threads, &name), &wasm, |b, wasm| {
                b.iter(|| Module::new(engine, wasm).expect("compiles"))
            });
        }
    }
    group.finish();
}

criterion_group!(benches, bench, bench_isas, bench_threads);
criterion_main!(benches);
