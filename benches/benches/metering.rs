//! Throughput of `keel_metering::analyze` (validation + analysis) and
//! `keel_metering::instrument` (analysis + rewrite), in bytes of input wasm per second, on
//! a large module and on each JIT-bomb shape at 1x, 4x and 16x. Linear time shows as a flat
//! MB/s across scales.
//!
//! `cargo bench -p keel-benches --bench metering`

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use keel_benches::{jit_bomb, large_module, BombShape};
use keel_metering::{analyze, instrument, CostTable, InstrumentConfig, Profile};

fn bench(c: &mut Criterion) {
    let costs = CostTable::default();
    let profile = Profile::permissive();
    let config = InstrumentConfig { profile: profile.clone(), ..InstrumentConfig::default() };
    let mut inputs: Vec<(String, u32, Vec<u8>)> = vec![("large_module".into(), 1, large_module(8_000))];
    for shape in BombShape::ALL {
        for scale in [1, 4, 16] {
            inputs.push((shape.name().into(), scale, jit_bomb(shape, scale)));
        }
    }
    for (op, is_instrument) in [("analyze", false), ("instrument", true)] {
        let mut group = c.benchmark_group(op);
        group.sample_size(10);
        group.warm_up_time(std::time::Duration::from_millis(300));
        group.measurement_time(std::time::Duration::from_secs(2));
        for (name, scale, wasm) in &inputs {
            group.throughput(Throughput::Bytes(wasm.len() as u64));
            group.bench_with_input(BenchmarkId::new(name, format!("{scale}x")), wasm, |b, wasm| {
                if is_instrument {
                    b.iter(|| instrument(wasm, &config).expect("instruments"));
                } else {
                    b.iter(|| analyze(wasm, &profile, &costs).expect("analyzes"));
                }
            });
        }
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
