//! Every benchmark kernel computes its documented values on Keel (metered and unmetered),
//! on wasmi, and on wasmi over the reference instrumentation, with equal gas on the two
//! metered engines.

use keel_benches::kernels::ALL;
use keel_engine::{Config, Engine, Linker, Module, Store};
use keel_metering::{instrument, InstrumentConfig};

fn keel_run(engine: &Engine, wasm: &[u8], n: i64) -> (i64, u64) {
    let module = Module::new(engine, wasm).expect("compiles");
    let mut store = Store::new(engine, ());
    store.set_gas_limit(1 << 50);
    let inst = Linker::new().instantiate(&mut store, &module).expect("instantiates");
    let run = inst.get_typed_func::<(), i64, i64>(&mut store, "run").expect("exports run");
    let r = run.call(&mut store, n).expect("runs");
    (r, store.gas_used())
}

fn wasmi_run(wasm: &[u8], n: i64) -> (i64, Option<i64>) {
    let engine = wasmi::Engine::default();
    let module = wasmi::Module::new(&engine, wasm).expect("wasmi accepts");
    let mut store = wasmi::Store::new(&engine, ());
    let inst = wasmi::Linker::<()>::new(&engine).instantiate_and_start(&mut store, &module).expect("instantiates");
    let gas = inst.get_global(&store, keel_metering::instrument::GAS_EXPORT);
    if let Some(g) = gas {
        g.set(&mut store, wasmi::Val::I64(1 << 50)).expect("sets gas");
    }
    let run = inst.get_typed_func::<i64, i64>(&store, "run").expect("exports run");
    let r = run.call(&mut store, n).expect("runs");
    let left = gas.map(|g| g.get(&store).i64().expect("i64 gas"));
    (r, left)
}

#[test]
fn kernels_compute_their_documented_values_everywhere() {
    let metered = Engine::new(Config::default()).expect("engine");
    let unmetered = Engine::new(Config::default().without_metering()).expect("engine");
    for k in ALL {
        let wasm = k.wasm().expect("kernel parses");
        let inst = instrument(&wasm, &InstrumentConfig { initial_gas: 1 << 50, ..InstrumentConfig::default() })
            .expect("instruments")
            .wasm;
        for &(n, want) in k.expected {
            let (m, m_gas) = keel_run(&metered, &wasm, n);
            assert_eq!(m, want, "{} run({n}) on Keel (metered)", k.name);
            let (u, u_gas) = keel_run(&unmetered, &wasm, n);
            assert_eq!(u, want, "{} run({n}) on Keel (unmetered)", k.name);
            assert_eq!(u_gas, 0);
            assert_eq!(wasmi_run(&wasm, n).0, want, "{} run({n}) on wasmi", k.name);
            let (w, left) = wasmi_run(&inst, n);
            assert_eq!(w, want, "{} run({n}) on wasmi over the instrumentation", k.name);
            let w_gas = (1u64 << 50) - left.expect("gas global") as u64;
            assert_eq!(m_gas, w_gas, "{} run({n}): gas", k.name);
            assert!(m_gas > 0);
        }
    }
}
