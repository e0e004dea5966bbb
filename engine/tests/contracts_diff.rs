//! Differential run of the project's committed contract binaries (`contracts/wasm/*.wasm`):
//! each module the chain profile accepts runs on Keel and on wasmi over the reference
//! instrumentation, with every host import stubbed identically (no gas, zero results).
//! Every export is called with zero arguments; outcome and gas must match exactly.
//! Skips quietly when the contracts folder is absent.

use keel_engine::{Config, Engine, Error, Extern, FuncType, Linker, Module, Store, Trap, Val, ValType};
use keel_metering::{instrument, InstrumentConfig};

const GAS: u64 = 50_000_000;

fn ktrap(t: &Trap) -> String {
    match t {
        Trap::OutOfGas => "out-of-gas".into(),
        Trap::StackExhausted => "stack-exhausted".into(),
        Trap::Unreachable => "unreachable".into(),
        Trap::MemoryOutOfBounds => "memory-oob".into(),
        Trap::TableOutOfBounds => "table-oob".into(),
        Trap::IntegerDivideByZero => "div-zero".into(),
        Trap::IntegerOverflow => "int-overflow".into(),
        Trap::InvalidConversionToInteger => "bad-conversion".into(),
        Trap::IndirectCallToNull => "null-call".into(),
        Trap::BadSignature => "bad-signature".into(),
        Trap::Host(m) => format!("host {m}"),
    }
}

fn wtrap(e: &wasmi::Error, reason: i32) -> String {
    use wasmi::TrapCode as C;
    match e.as_trap_code() {
        Some(C::UnreachableCodeReached) => match reason {
            1 => "out-of-gas".into(),
            2 => "stack-exhausted".into(),
            _ => "unreachable".into(),
        },
        Some(C::MemoryOutOfBounds) => "memory-oob".into(),
        Some(C::TableOutOfBounds) => "table-oob".into(),
        Some(C::IntegerDivisionByZero) => "div-zero".into(),
        Some(C::IntegerOverflow) => "int-overflow".into(),
        Some(C::BadConversionToInteger) => "bad-conversion".into(),
        Some(C::IndirectCallToNull) => "null-call".into(),
        Some(C::BadSignature) => "bad-signature".into(),
        _ => format!("wasmi {e}"),
    }
}

fn kty(t: &wasmi::ValType) -> ValType {
    match t {
        wasmi::ValType::I32 => ValType::I32,
        wasmi::ValType::I64 => ValType::I64,
        wasmi::ValType::F32 => ValType::F32,
        wasmi::ValType::F64 => ValType::F64,
        wasmi::ValType::FuncRef => ValType::FuncRef,
        _ => ValType::ExternRef,
    }
}

fn kbits(v: &Val) -> u64 {
    match *v {
        Val::I32(x) => u64::from(x as u32),
        Val::I64(x) => x as u64,
        Val::F32(x) => u64::from(x),
        Val::F64(x) => x,
        Val::FuncRef(f) => u64::from(f.is_some()),
        Val::ExternRef(e) => u64::from(e.is_some()),
    }
}

fn wbits(v: &wasmi::Val) -> u64 {
    match v {
        wasmi::Val::I32(x) => u64::from(*x as u32),
        wasmi::Val::I64(x) => *x as u64,
        wasmi::Val::F32(x) => u64::from(x.to_bits()),
        wasmi::Val::F64(x) => x.to_bits(),
        wasmi::Val::FuncRef(f) => u64::from(!f.is_null()),
        wasmi::Val::ExternRef(e) => u64::from(!e.is_null()),
        _ => u64::MAX,
    }
}

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
                Err(Error::Trap(t)) => Err(ktrap(&t)),
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
                    Err(wtrap(&e, r))
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
