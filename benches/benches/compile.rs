//! Compile throughput of Keel's whole pipeline (validation + metering analysis + single-pass
//! compilation), in bytes of input wasm per second: the example contracts, a large generated
//! module, and each JIT-bomb shape at 1x, 4x and 16x. Flat MB/s across scales is linear time.
//!
//! Group `compile_isa` compiles the same inputs for each target ISA side by side (any host
//! cross-compiles): x86-64 vs aarch64 throughput in one run.
//!
//! `cargo bench -p keel-benches --bench compile`

use std::path::Path;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use keel_benches::{jit_bomb, large_module, BombShape};
use keel_engine::{Config, Engine, Isa, Module};

fn contracts() -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../contracts/wasm");
    let mut out = Vec::new();
    for name in ["token", "escrow", "sha2_hasher", "ed25519_verifier"] {
        let p = dir.join(format!("{name}.wasm"));
        if let Ok(bytes) = std::fs::read(&p) {
            out.push((name.to_string(), bytes));
        }
    }
    out
}

fn bench(c: &mut Criterion) {
    let chain = Engine::new(Config::default()).expect("engine");
    let permissive = Engine::new(Config::permissive()).expect("engine");
    let mut group = c.benchmark_group("compile");
    group.sample_size(10);
    group.warm_up_time(std::time::Duration::from_millis(300));
    group.measurement_time(std::time::Duration::from_secs(2));
    for (name, wasm) in contracts() {
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
        let chain = Engine::new(Config { isa, ..Config::default() }).expect("engine");
        let permissive = Engine::new(Config { isa, ..Config::permissive() }).expect("engine");
        for (name, wasm) in contracts() {
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

criterion_group!(benches, bench, bench_isas);
criterion_main!(benches);
