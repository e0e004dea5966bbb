//! Runs one benchmark kernel once on one engine and prints `run(n)`, for instruction counts
//! under `valgrind --tool=callgrind` (which counts generated code too). Subtract a run with
//! `n = 0` to leave out compilation and instantiation.
//!
//! `cargo run --release -p keel-benches --example run_kernel -- ENGINE KERNEL N`
//! (ENGINE: keel, keel_unmetered, wasmi)

use keel_benches::kernels::ALL;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let (Some(engine), Some(kernel), Some(n)) = (args.get(1), args.get(2), args.get(3)) else {
        return Err("usage: run_kernel ENGINE KERNEL N".into());
    };
    let n: i64 = n.parse()?;
    let kernel = ALL.iter().find(|k| k.name == kernel).ok_or("unknown kernel")?;
    let wasm = kernel.wasm()?;
    let result = match engine.as_str() {
        "keel" | "keel_unmetered" => {
            let mut config = keel_engine::Config::default();
            if engine == "keel_unmetered" {
                config = config.without_metering();
            }
            let engine = keel_engine::Engine::new(config)?;
            let module = keel_engine::Module::new(&engine, &wasm)?;
            let mut store = keel_engine::Store::new(&engine, ());
            store.set_gas_limit(u64::MAX / 2);
            let inst = keel_engine::Linker::new().instantiate(&mut store, &module)?;
            let f = inst.get_typed_func::<(), i64, i64>(&mut store, "run")?;
            f.call(&mut store, n)?
        }
        "wasmi" => {
            let engine = wasmi::Engine::default();
            let module = wasmi::Module::new(&engine, &wasm[..])?;
            let mut store = wasmi::Store::new(&engine, ());
            let inst = wasmi::Linker::<()>::new(&engine).instantiate_and_start(&mut store, &module)?;
            let f = inst.get_typed_func::<i64, i64>(&store, "run")?;
            f.call(&mut store, n)?
        }
        other => return Err(format!("unknown engine {other}").into()),
    };
    println!("{} {}({n}) = {result}", engine, kernel.name);
    Ok(())
}
