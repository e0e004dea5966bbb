//! Differential fuzzing: wasm-smith modules (configured to Keel's profile) run on Keel with
//! native metering and on wasmi over the reference instrumentation; any difference in
//! results, trap kind, gas used or final memory/globals is a crash. The comparison is the
//! one the bounded test runs (`engine/tests/common/differential.rs`, included by path).
//!
//! Also checks, for every module Keel accepts, that compiling without metering gives the
//! same results wherever the metered call did not run out of gas.
#![no_main]

use arbitrary::Unstructured;
use libfuzzer_sys::fuzz_target;

#[path = "../../engine/tests/common/mod.rs"]
#[allow(dead_code, unused_imports)]
mod common;

use common::differential::{keel_arg, run_one, smith_config, DiffLimits};
use common::{keel_bits, keel_trap_name, Outcome};
use keel_engine::{Config, Engine, Error, Extern, Linker, Module, Store, Val};

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let Ok(mode) = u.arbitrary::<u8>() else { return };
    let traps_disallowed = mode & 1 == 1;
    // One input in four runs with a small gas limit, to probe out-of-gas points.
    let gas = if mode & 6 == 0 { 1 + u64::from(u.arbitrary::<u16>().unwrap_or(0)) } else { 200_000 };
    let limits = DiffLimits { gas, ..DiffLimits::default() };
    let mut config = smith_config(300);
    config.disallow_traps = traps_disallowed;
    let Ok(module) = wasm_smith::Module::new(config, &mut u) else { return };
    let wasm = module.to_bytes();
    if let Some(Err(e)) = run_one(&wasm, traps_disallowed, limits) {
        std::fs::write("/tmp/keel-fuzz-divergence.wasm", &wasm).ok();
        panic!("divergence (module saved to /tmp/keel-fuzz-divergence.wasm): {e}");
    }
    metered_equals_unmetered(&wasm, limits);
});

/// Every export, called with zero arguments on a metered and an unmetered engine (each in
/// a fresh instance), in export order: equal outcomes. The metered run stops at its first
/// out-of-gas trap, and the unmetered run executes only the calls the metered one completed
/// (the same instructions, so it terminates: unmetered code has no gas to stop it).
fn metered_equals_unmetered(wasm: &[u8], limits: DiffLimits) {
    let cfg = Config { stack_limit: limits.stack_limit, ..Config::default() };
    let run = |config: Config, max_calls: usize| -> Option<Vec<Outcome>> {
        let engine = Engine::new(config).ok()?;
        let module = Module::new(&engine, wasm).ok()?;
        let mut store = Store::new(&engine, ());
        store.set_gas_limit(limits.gas);
        let inst = Linker::new().instantiate(&mut store, &module).ok()?;
        let mut outs = Vec::new();
        for (_, ext) in inst.exports(&mut store) {
            let Extern::Func(f) = ext else { continue };
            if outs.len() == max_calls {
                break;
            }
            let ty = f.ty(&mut store);
            let args: Vec<Val> = ty.params.iter().map(|t| keel_arg(*t, 0)).collect();
            let mut res = vec![Val::I32(0); ty.results.len()];
            store.set_gas_limit(limits.gas);
            let out = match f.call(&mut store, &args, &mut res) {
                Ok(()) => Outcome::Values(res.iter().map(keel_bits).collect()),
                Err(Error::Trap(t)) => Outcome::Trap(keel_trap_name(&t)),
                Err(_) => Outcome::Trap("call-error"),
            };
            if out == Outcome::Trap("out-of-gas") {
                // Where gas ran out decides the store's state from here on: stop.
                break;
            }
            outs.push(out);
        }
        Some(outs)
    };
    // Instantiation runs the start function: only compare when the metered one completes.
    let Some(m) = run(cfg.clone(), usize::MAX) else { return };
    let Some(u) = run(cfg.without_metering(), m.len()) else {
        panic!("the unmetered engine failed to instantiate where the metered one succeeded");
    };
    assert_eq!(m, u, "metered and unmetered outcomes differ");
}
