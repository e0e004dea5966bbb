//! `Module::new` compiles each function from the operators `keel_metering::analyze_each`
//! decoded while validating (one decode per operator). This checks that it produces, byte
//! for byte, the code of the reference route: `keel_metering::analyze` over the whole
//! module, then `compile_module` decoding every body again — on both ISAs, metered and
//! unmetered, for the committed contracts and for modules with imports, tables, loops,
//! `br_table` and unreachable code.

use keel_engine::compiler::{compile_module, CompileEnv};
use keel_engine::isa::aarch64::masm::Aarch64Masm;
use keel_engine::isa::x64::masm::X64Masm;
use keel_engine::{Config, Engine, Isa, Module};
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
                    if let TypeRef::Func(t) = imp.expect("import").ty {
                        env.func_types.push(t);
                        env.imported_funcs += 1;
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
    let compiled = match config.isa {
        Isa::X64 => compile_module(X64Masm::new(), &env, &bodies, &analysis.functions, &config.cost_table),
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
