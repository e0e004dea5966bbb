//! `Module::new` compiles each function from the operators `keel_metering::analyze_each`
//! decoded while validating (one decode per operator). This checks that it produces, byte
//! for byte, the code of the reference route: `keel_metering::analyze` over the whole
//! module, then `compile_module` decoding every body again — on both ISAs, metered and
//! unmetered, for the committed contracts and for modules with imports, tables, loops,
//! `br_table` and unreachable code.
//!
//! It also checks that `Config::parallel_compilation` (parts of the functions validated,
//! analyzed and compiled on two threads, then appended) changes nothing but time: the same
//! code, artifacts and errors as one thread, for every committed contract and for
//! generated modules large enough to take the two-thread route, on both ISAs (except, on
//! aarch64, the place of veneer islands in code over 1 MiB).

use keel_engine::compiler::{compile_module, CompileEnv};
use keel_engine::isa::aarch64::masm::Aarch64Masm;
use keel_engine::isa::x64::masm::X64Masm;
use keel_engine::{Config, Engine, Error, Isa, Module, PARALLEL_COMPILATION_MIN_CODE_BYTES};
use wasmparser::{Parser, Payload, TypeRef};

/// The reference route: whole-module analysis, then bodies decoded again by the compiler.
fn reference_code(config: &Config, wasm: &[u8]) -> Vec<u8> {
    let (_, analysis) =
        keel_metering::analyze(wasm, &config.profile, &config.cost_table).expect("valid module");
    let mut env = CompileEnv { metering: config.metering, ..CompileEnv::default() };
    let mut bodies = Vec::new();
    for payload in Parser::new(0).parse_all(wasm) {
        match payload.expect("parses") {
            Payload::TypeSection(s) => {
                for rec in s {
                    for sub in rec.expect("type").types() {
                        let f = sub.unwrap_func();
                        env.types.push((f.params().len() as u32, f.results().len() as u32));
                    }
                }
            }
            Payload::ImportSection(s) => {
                for imp in s.into_imports() {
                    match imp.expect("import").ty {
                        TypeRef::Func(t) => {
                            env.func_types.push(t);
                            env.imported_funcs += 1;
                        }
                        TypeRef::Global(_) => env.imported_globals += 1,
                        _ => {}
                    }
                }
            }
            Payload::FunctionSection(s) => {
                for t in s {
                    env.func_types.push(t.expect("function type"));
                }
            }
            Payload::CodeSectionEntry(body) => bodies.push(body),
            _ => {}
        }
    }
    let engine = Engine::new(config.clone()).expect("engine");
    let compiled = match config.isa {
        Isa::X64 => {
            let mut masm = X64Masm::new();
            masm.use_bmi2(engine.uses_cpu_feature("bmi2"));
            compile_module(masm, &env, &bodies, &analysis.functions, &config.cost_table)
        }
        Isa::Aarch64 => {
            compile_module(Aarch64Masm::new(), &env, &bodies, &analysis.functions, &config.cost_table)
        }
    };
    compiled.expect("compiles").code
}

fn check_same_code(config: Config, wasm: &[u8], what: &str) {
    let reference = reference_code(&config, wasm);
    let engine = Engine::new(config).expect("engine");
    let module = Module::new(&engine, wasm).expect("compiles");
    assert!(!reference.is_empty());
    assert_eq!(module.code(), &reference[..], "{what}: Module::new differs from compile_module");
}

const MIXED: &str = r#"(module
    (import "env" "h" (func $h (param i32) (result i32)))
    (import "env" "base" (global $base (mut i32)))
    (memory 1)
    (table 2 funcref)
    (elem (i32.const 0) $h $f)
    (global $g (mut i64) (i64.const 3))
    (func $f (export "f") (param i32 i32) (result i32) (local i64 f64)
        (block $b (result i32)
            (loop $l
                local.get 0
                i32.const 1
                i32.sub
                local.tee 0
                br_if $l)
            local.get 1
            (br_table $b $b 0 (i32.const 7) (local.get 0))
            unreachable
            drop)
        (if (result i32) (local.get 1)
            (then (call $h (i32.const 4)))
            (else (i32.load offset=8 (local.get 0))))
        i32.add
        (call_indirect (param i32) (result i32) (i32.const 1))
        global.get $g
        i32.wrap_i64
        i32.add
        (global.set $base (i32.add (global.get $base) (i32.const 1)))
        (memory.grow (i32.const 1))
        drop)
    (func (export "g") (param f64) (result f64)
        local.get 0
        f64.sqrt
        return))"#;

#[test]
fn module_new_emits_the_code_of_the_two_pass_reference_on_both_isas() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../contracts/wasm");
    let mut inputs = vec![("mixed".to_string(), wat::parse_str(MIXED).expect("wat"))];
    for name in ["token", "escrow", "registry", "counter", "sha2_hasher", "ed25519_verifier"] {
        let wasm = std::fs::read(dir.join(format!("{name}.wasm"))).expect("committed contract");
        inputs.push((name.to_string(), wasm));
    }
    for (name, wasm) in &inputs {
        for isa in Isa::ALL {
            let metered = Config { isa, ..Config::permissive() };
            check_same_code(metered.clone(), wasm, &format!("{name} {isa} metered"));
            check_same_code(metered.without_metering(), wasm, &format!("{name} {isa} unmetered"));
        }
    }
}

/// Bytes in the code section of `wasm` (what decides the two-thread route).
fn code_section_bytes(wasm: &[u8]) -> u64 {
    for payload in Parser::new(0).parse_all(wasm) {
        if let Ok(Payload::CodeSectionStart { size, .. }) = payload {
            return u64::from(size);
        }
    }
    0
}

/// `Module::new` with parallel compilation on and off: the code and the artifact, or the
/// error, must be the same.
fn check_parallel_same(config: &Config, wasm: &[u8], what: &str) -> Result<Vec<u8>, Error> {
    let one = Engine::new(config.clone().parallel_compilation(false)).expect("engine");
    let two = Engine::new(config.clone().parallel_compilation(true)).expect("engine");
    let (a, b) = (Module::new(&one, wasm), Module::new(&two, wasm));
    match (&a, &b) {
        // aarch64 code over 1 MiB may place its veneer islands where parts meet
        // (`MacroAssembler::append`); `cross_isa.rs` runs such code.
        (Ok(a), Ok(b)) if config.isa == Isa::Aarch64 && a.code_size() > 1 << 20 => {
            assert!(b.code_size() > 1 << 20, "{what}");
        }
        (Ok(a), Ok(b)) => {
            assert!(a.code() == b.code(), "{what}: code differs between one and two threads");
            assert!(a.serialize() == b.serialize(), "{what}: artifacts differ between one and two threads");
        }
        (Err(ea), Err(eb)) => assert_eq!(ea, eb, "{what}: errors differ between one and two threads"),
        _ => panic!("{what}: one thread {:?}, two threads {:?}", a.as_ref().err(), b.as_ref().err()),
    }
    a.map(|m| m.code().to_vec())
}

/// A module of `functions` functions of assorted shapes (loops, calls, `br_table`,
/// memory, floats, every 40th a large one), with an invalid last function if
/// `broken_last`, and with a data segment after the code section naming a memory that does
/// not exist if `broken_data`.
fn generated(functions: usize, broken_last: bool, broken_data: bool) -> Vec<u8> {
    let mut w = String::from("(module (import \"env\" \"h\" (func $h (param i32) (result i32)))");
    if !broken_data {
        w.push_str(" (memory 1)");
    }
    for i in 0..functions {
        w.push_str(&format!(" (func $f{i} (export \"f{i}\") (param i32 i32) (result i32) (local i64 f64)"));
        w.push_str(" (block $b (loop $l local.get 0 i32.const 1 i32.sub local.tee 0 br_if $l))");
        w.push_str(" (block $x (block $y (br_table $x $y $x (local.get 1))))");
        if !broken_data {
            w.push_str(" (i32.store offset=4 (local.get 1) (i32.load offset=8 (local.get 0)))");
        }
        w.push_str(" (local.set 3 (f64.add (local.get 3) (f64.convert_i32_s (local.get 1))))");
        let extra = if i % 40 == 39 { 1_500 } else { i % 5 };
        w.push_str(" local.get 0");
        for k in 0..extra {
            w.push_str(&format!(" i32.const {k} i32.xor"));
        }
        if i > 0 {
            w.push_str(&format!(" (call $f{} (local.get 1) (i32.const 2)) i32.add", i - 1));
        }
        w.push_str(" (call $h (i32.const 9)) i32.add");
        if broken_last && i + 1 == functions {
            w.push_str(" (i64.add (i64.const 1) (i32.const 2)) drop"); // type mismatch
        }
        w.push(')');
    }
    if broken_data {
        w.push_str(" (data (memory 0) (i32.const 0) \"x\")");
    }
    w.push(')');
    wat::parse_str(&w).expect("wat")
}

#[test]
fn parallel_compilation_emits_the_code_and_artifacts_of_one_thread() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../contracts/wasm");
    let mut inputs = Vec::new();
    for entry in std::fs::read_dir(&dir).expect("contracts/wasm") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "wasm") {
            let name = path.file_stem().expect("name").to_string_lossy().into_owned();
            inputs.push((name, std::fs::read(&path).expect("committed contract")));
        }
    }
    inputs.sort();
    assert!(inputs.len() >= 20, "every committed contract: {}", inputs.len());
    let large = generated(2_000, false, false);
    let big_functions = generated(400, false, false);
    assert!(code_section_bytes(&large) >= 4 * PARALLEL_COMPILATION_MIN_CODE_BYTES);
    assert!(code_section_bytes(&big_functions) >= PARALLEL_COMPILATION_MIN_CODE_BYTES);
    inputs.push(("generated_2000".into(), large));
    inputs.push(("generated_400".into(), big_functions));
    let mut parallel_route = 0;
    for (name, wasm) in &inputs {
        let two_threads = code_section_bytes(wasm) >= PARALLEL_COMPILATION_MIN_CODE_BYTES;
        for isa in Isa::ALL {
            for (profile, config) in [("chain", Config::default()), ("permissive", Config::permissive())] {
                let config = Config { isa, ..config };
                let metered = check_parallel_same(&config, wasm, &format!("{name} {isa} {profile} metered"));
                let unmetered =
                    check_parallel_same(&config.without_metering(), wasm, &format!("{name} {isa} {profile} unmetered"));
                assert_eq!(metered.is_ok(), unmetered.is_ok(), "{name}");
                if metered.is_ok() && two_threads {
                    parallel_route += 1;
                }
            }
        }
    }
    // ed25519_verifier and the two generated modules, on two ISAs, under both profiles (the
    // JIT-bomb contracts only under the permissive one).
    assert!(parallel_route >= 3 * 2 * 2, "{parallel_route} compilations took the two-thread route");
}

#[test]
fn parallel_compilation_keeps_validation_errors_and_their_precedence() {
    let late = generated(600, true, false);
    let after_code = generated(600, false, true);
    let first = generated(1, true, false);
    for (name, wasm, big) in [("late function", &late, true), ("data after code", &after_code, true), ("first", &first, false)] {
        assert_eq!(code_section_bytes(wasm) >= PARALLEL_COMPILATION_MIN_CODE_BYTES, big, "{name}");
        for isa in Isa::ALL {
            let config = Config { isa, ..Config::permissive() };
            let expected = keel_metering::validate(wasm, &config.profile).expect_err("invalid module");
            let outcome = check_parallel_same(&config, wasm, &format!("{name} {isa}"));
            assert_eq!(outcome, Err(Error::Validation(expected)), "{name} {isa}");
        }
    }
}

/// A module whose second function's body is larger than
/// `keel_metering::MAX_BUFFERED_BODY_BYTES` (a JIT-bomb shape: one straight-line block of
/// `adds` additions), between two small ones.
fn huge_body_module(adds: usize) -> Vec<u8> {
    let mut body = String::with_capacity(adds * 48);
    for i in 0..adds {
        body.push_str(&format!("local.get 0 i32.const {} i32.add local.set 0\n", i % 100));
    }
    wat::parse_str(format!(
        r#"(module
            (func $small (export "small") (param i32) (result i32) local.get 0 i32.const 1 i32.add)
            (func $huge (export "huge") (param i32) (result i32) {body} local.get 0 call $small)
            (func (export "after") (result i32) i32.const 5 call $huge))"#
    ))
    .expect("wat")
}

/// A body too large to buffer is decoded again by the code generator: the code is the
/// reference's, with one thread or two, on both ISAs, and it runs.
#[test]
fn bodies_too_large_to_buffer_compile_to_the_same_code() {
    let adds = 70_000;
    let wasm = huge_body_module(adds);
    let body_bytes = code_section_bytes(&wasm) as usize;
    assert!(body_bytes > keel_metering::MAX_BUFFERED_BODY_BYTES, "{body_bytes} bytes of code");
    for isa in Isa::ALL {
        let config = Config { isa, ..Config::permissive() };
        check_same_code(config.clone(), &wasm, &format!("huge body {isa}"));
        check_parallel_same(&config, &wasm, &format!("huge body {isa}")).expect("compiles");
    }
    let engine = Engine::new(Config::permissive()).expect("engine");
    if !engine.can_execute() {
        return;
    }
    let module = Module::new(&engine, &wasm).expect("compiles");
    let mut store = keel_engine::Store::new(&engine, ());
    store.set_gas_limit(u64::MAX / 2);
    let inst = keel_engine::Linker::new().instantiate(&mut store, &module).expect("instantiates");
    let f = inst.get_func(&mut store, "after").expect("export");
    let mut res = [keel_engine::Val::I32(0)];
    f.call(&mut store, &[], &mut res).expect("runs");
    let sum: i64 = (0..adds as i64).map(|i| i % 100).sum();
    assert_eq!(res[0], keel_engine::Val::I32((5 + sum + 1) as i32));
}
