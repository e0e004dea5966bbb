//! Wall-clock compile time with one thread and with two (`Config::parallel_compilation`),
//! interleaved run by run so that both see the same machine load: for each input, `ROUNDS`
//! rounds of one sequential and one parallel `Module::new`, then the best and the median
//! of each, in MB/s of input wasm, and their ratio. A quick side-by-side check; criterion's
//! `compile_threads` group (`benches/compile.rs`) is the measurement of record.
//!
//! `cargo run --release -p keel-benches --example compile_threads -- ROUNDS INPUT...`
//! (INPUT: a path to a .wasm file, compiled under the chain profile, or `large_module:N`, the
//! generated module of `N` functions under the permissive profile)

use keel_benches::large_module;
use keel_engine::{Config, Engine, Module};
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let rounds: usize = args.get(1).ok_or("usage: compile_threads ROUNDS INPUT...")?.parse()?;
    println!("input, wasm bytes, sequential MB/s (best, median), parallel MB/s (best, median), parallel/sequential (best, median)");
    for input in &args[2..] {
        let (wasm, config) = match input.strip_prefix("large_module:") {
            Some(n) => (large_module(n.parse()?), Config::permissive()),
            None => (std::fs::read(input)?, Config::default()),
        };
        let one = Engine::new(config.clone().parallel_compilation(false))?;
        let two = Engine::new(config.parallel_compilation(true))?;
        let (mut t1, mut t2) = (Vec::with_capacity(rounds), Vec::with_capacity(rounds));
        for _ in 0..rounds {
            for (engine, times) in [(&one, &mut t1), (&two, &mut t2)] {
                let start = Instant::now();
                let module = Module::new(engine, &wasm)?;
                times.push(start.elapsed().as_secs_f64());
                drop(module);
            }
        }
        let mbs = |t: f64| wasm.len() as f64 / t / 1e6;
        let stats = |times: &mut Vec<f64>| {
            times.sort_by(f64::total_cmp);
            (times[0], times[times.len() / 2])
        };
        let ((b1, m1), (b2, m2)) = (stats(&mut t1), stats(&mut t2));
        println!(
            "{input}, {}, {:.1} {:.1}, {:.1} {:.1}, {:.2} {:.2}",
            wasm.len(),
            mbs(b1),
            mbs(m1),
            mbs(b2),
            mbs(m2),
            b1 / b2,
            m1 / m2
        );
    }
    Ok(())
}
