//! Differential run of the project's committed contract binaries (`contracts/wasm/*.wasm`):
//! each module the chain profile accepts runs on Keel and on wasmi over the reference
//! instrumentation, with every host import stubbed identically (no gas, zero results).
//! Every export is called with zero arguments; outcome and gas must match exactly.
//! Skips quietly when the contracts folder is absent.

use keel_engine::{Config, Engine, Error, Extern, FuncType, Linker, Module, Store, Val};
use keel_metering::{instrument, InstrumentConfig};

mod common;
use common::{keel_bits as kbits, keel_trap_name, keel_type as kty, wasmi_bits as wbits, wasmi_trap_name};

const GAS: u64 = 50_000_000;

#[test]
fn committed_contracts_match_reference() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../contracts/wasm");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        println!("no {}: skipped", dir.display());
        return;
    };
    let mut paths: Vec<_> = entries.filter_map(|e| e.ok()).map(|e| e.path()).collect();
    paths.sort();
    let engine = Engine::new(Config::default()).unwrap();
    let (mut modules, mut calls, mut rejected) = (0, 0, 0);
    let mut failures = Vec::new();
    for path in paths.iter().filter(|p| p.extension().is_some_and(|e| e == "wasm")) {
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let wasm = std::fs::read(path).unwrap();
        let module = match Module::new(&engine, &wasm) {
            Ok(m) => m,
            Err(Error::Validation(_)) => {
                rejected += 1;
                continue;
            }
            Err(e) => {
                failures.push(format!("{name}: keel compile {e}"));
                continue;
            }
        };
        let cfg = InstrumentConfig { initial_gas: GAS, ..InstrumentConfig::default() };
        let iw = match instrument(&wasm, &cfg) {
            Ok(i) => i.wasm,
            Err(e) => {
                failures.push(format!("{name}: instrument {e}"));
                continue;
            }
        };
        let mut wc = wasmi::Config::default();
        wc.set_max_recursion_depth(1_000_000);
        let we = wasmi::Engine::new(&wc);
        let wm = wasmi::Module::new(&we, &iw[..]).unwrap();
        let mut wl = wasmi::Linker::<()>::new(&we);
        let mut kl = Linker::<()>::new();
        for imp in wm.imports() {
            if let wasmi::ExternType::Func(ft) = imp.ty() {
                let ft = ft.clone();
                let results: Vec<wasmi::ValType> = ft.results().to_vec();
                wl.func_new(imp.module(), imp.name(), ft.clone(), move |_, _, out| {
                    for (o, t) in out.iter_mut().zip(&results) {
                        *o = wasmi::Val::default_for_ty(*t);
                    }
                    Ok(())
                })
                .unwrap();
                let kt = FuncType::new(ft.params().iter().map(kty), ft.results().iter().map(kty));
                kl.func_new(imp.module(), imp.name(), kt, |_, _, out| {
                    for o in out.iter_mut() {
                        *o = Val::default_for(o.ty());
                    }
                    Ok(())
                });
            }
        }
        let mut store = Store::new(&engine, ());
        store.set_gas_limit(GAS);
        let mut ws = wasmi::Store::new(&we, ());
        let (ki, wi) = match (kl.instantiate(&mut store, &module), wl.instantiate_and_start(&mut ws, &wm)) {
            (Ok(k), Ok(w)) => (k, w),
            (k, w) => {
                if k.is_err() != w.is_err() {
                    failures.push(format!("{name}: instantiation keel {:?} wasmi {:?}", k.err(), w.err()));
                }
                continue;
            }
        };
        modules += 1;
        let gas_g = wi.get_global(&ws, "__keel_gas").unwrap();
        let stack_g = wi.get_global(&ws, "__keel_stack").unwrap();
        let trap_g = wi.get_global(&ws, "__keel_trap").unwrap();
        for (export, ext) in ki.exports(&mut store) {
            let Extern::Func(f) = ext else { continue };
            let ty = f.ty(&mut store);
            let args: Vec<Val> = ty.params.iter().map(|t| Val::default_for(*t)).collect();
            let mut res: Vec<Val> = ty.results.iter().map(|t| Val::default_for(*t)).collect();
            store.set_gas_limit(GAS);
            let kout = match f.call(&mut store, &args, &mut res) {
                Ok(()) => Ok(res.iter().map(kbits).collect::<Vec<_>>()),
                Err(Error::Trap(t)) => Err(keel_trap_name(&t).to_string()),
                Err(e) => Err(format!("keel error {e}")),
            };
            let kgas = store.gas_used();
            let wf = wi.get_func(&ws, &export).unwrap();
            let wty = wf.ty(&ws);
            let wargs: Vec<wasmi::Val> = wty.params().iter().map(|t| wasmi::Val::default_for_ty(*t)).collect();
            let mut wres: Vec<wasmi::Val> = wty.results().iter().map(|t| wasmi::Val::default_for_ty(*t)).collect();
            gas_g.set(&mut ws, wasmi::Val::I64(GAS as i64)).unwrap();
            stack_g.set(&mut ws, wasmi::Val::I64(0)).unwrap();
            trap_g.set(&mut ws, wasmi::Val::I32(0)).unwrap();
            let wout = match wf.call(&mut ws, &wargs, &mut wres) {
                Ok(()) => Ok(wres.iter().map(wbits).collect::<Vec<_>>()),
                Err(e) => {
                    let r = match trap_g.get(&ws) {
                        wasmi::Val::I32(x) => x,
                        _ => 0,
                    };
                    Err(wasmi_trap_name(&e, r).to_string())
                }
            };
            let wgas = match gas_g.get(&ws) {
                wasmi::Val::I64(x) => GAS - x as u64,
                _ => 0,
            };
            calls += 1;
            if kout != wout || kgas != wgas {
                failures.push(format!(
                    "{name}::{export}: keel {kout:?} gas {kgas}, wasmi {wout:?} gas {wgas}"
                ));
            }
        }
    }
    println!("contracts: {modules} modules, {calls} calls compared, {rejected} rejected by the profile");
    for f in &failures {
        println!("  {f}");
    }
    assert!(failures.is_empty(), "{} divergences", failures.len());
}
