//! Compiles one JIT-bomb shape (or the large module) with Keel's whole pipeline a given
//! number of times, for `valgrind --tool=callgrind` (instruction counts; compare
//! `SHAPE 1 16` with `SHAPE 16 1` to check that the work per byte does not grow with size).
//!
//! `cargo run --release -p keel-benches --example profile_compile -- SHAPE SCALE REPS [ISA]`
//! (SHAPE: deep_nesting, huge_br_table, many_locals, huge_function, large_module, or a
//! path to a .wasm file; ISA: x86_64 or aarch64, default the host's). Compiles on one thread
//! (`Config::parallel_compilation(false)`, what callgrind should count) unless
//! `KEEL_PARALLEL_COMPILATION=1` is set.

use keel_benches::{jit_bomb, large_module, BombShape};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let shape = args.get(1).map_or("large_module", String::as_str);
    let scale: u32 = args.get(2).map_or(Ok(1), |s| s.parse())?;
    let reps: u32 = args.get(3).map_or(Ok(1), |s| s.parse())?;
    let wasm = match BombShape::ALL.iter().find(|s| s.name() == shape) {
        Some(&s) => jit_bomb(s, scale),
        None if shape == "large_module" => large_module(2_000 * scale),
        None if shape.ends_with(".wasm") => std::fs::read(shape)?,
        None => return Err(format!("unknown shape {shape}").into()),
    };
    let mut config =
        if shape.ends_with(".wasm") { keel_engine::Config::default() } else { keel_engine::Config::permissive() };
    if let Some(isa) = args.get(4) {
        config.isa = keel_engine::Isa::ALL
            .into_iter()
            .find(|i| i.name() == isa)
            .ok_or_else(|| format!("unknown ISA {isa}"))?;
    }
    let parallel = std::env::var("KEEL_PARALLEL_COMPILATION").is_ok_and(|v| v == "1");
    let engine = keel_engine::Engine::new(config.parallel_compilation(parallel))?;
    let mut code = 0;
    let start = std::time::Instant::now();
    for _ in 0..reps {
        code += keel_engine::Module::new(&engine, &wasm)?.code_size();
    }
    let ns = start.elapsed().as_nanos() as f64 / f64::from(reps) / wasm.len() as f64;
    println!(
        "{shape} x{scale}: {} bytes of wasm, {reps} compilations, {code} bytes of code, {ns:.1} ns/byte",
        wasm.len()
    );
    Ok(())
}
