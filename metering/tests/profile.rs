//! The deterministic profile: every rejected proposal and every structural limit, each with a
//! module written in WAT, asserting the exact error kind, value and offset.

use keel_metering::{
    validate, CostTable, CostTableError, Feature, ImportPolicy, Limit, Limits, Profile,
    ValidationError,
};

fn wasm(wat: &str) -> Vec<u8> {
    wat::parse_str(wat).expect("test module parses")
}

fn rejected_feature(wat: &str) -> Feature {
    match validate(&wasm(wat), &Profile::default()) {
        Err(ValidationError::UnsupportedFeature { feature, offset }) => {
            assert!(offset.is_some(), "feature errors carry an offset");
            feature
        }
        other => panic!("expected a rejected feature, got {other:?}"),
    }
}

#[test]
fn allowed_proposals_validate() {
    let m = wasm(
        r#"(module
        (memory (export "memory") 1)
        (table 2 funcref) (table 1 externref)
        (global $g (mut i32) (i32.const 0))
        (func $mv (param i32) (result i32 i32) (local.get 0) (i32.const 1))
        (func (export "f") (param i32 f32) (result i32)
          (i32.extend8_s (local.get 0))                     ;; sign extension
          (i32.trunc_sat_f32_s (local.get 1)) i32.add       ;; saturating float-to-int
          (call $mv) i32.add                                ;; multi-value
          (memory.fill (i32.const 0) (i32.const 1) (i32.const 2))   ;; bulk memory
          (drop (ref.is_null (table.get 1 (i32.const 0))))        ;; reference types
          (global.set $g (i32.const 1)))                    ;; mutable globals
        (elem declare func $mv))"#,
    );
    validate(&m, &Profile::default()).expect("WebAssembly 2.0 without SIMD is allowed");
}

#[test]
fn simd_is_rejected() {
    let f = rejected_feature(r#"(module (func (result i32) (i32x4.extract_lane 0 (v128.const i32x4 1 2 3 4))))"#);
    assert_eq!(f, Feature::Simd);
}

#[test]
fn relaxed_simd_is_rejected() {
    let f = rejected_feature(
        r#"(module (func (result v128)
            (i32x4.relaxed_trunc_f32x4_s (v128.const i32x4 0 0 0 0))))"#,
    );
    assert!(matches!(f, Feature::Simd | Feature::RelaxedSimd), "{f:?}");
}

#[test]
fn threads_shared_memory_and_atomics_are_rejected() {
    assert_eq!(rejected_feature(r#"(module (memory 1 1 shared))"#), Feature::Threads);
    assert_eq!(
        rejected_feature(
            r#"(module (memory 1 1) (func (result i32) (i32.atomic.load (i32.const 0))))"#
        ),
        Feature::Threads
    );
}

#[test]
fn exceptions_are_rejected() {
    assert_eq!(rejected_feature(r#"(module (tag $e) (func (throw $e)))"#), Feature::Exceptions);
}

#[test]
fn tail_calls_are_rejected() {
    assert_eq!(rejected_feature(r#"(module (func $f (return_call $f)))"#), Feature::TailCall);
}

#[test]
fn memory64_is_rejected() {
    assert_eq!(rejected_feature(r#"(module (memory i64 1))"#), Feature::Memory64);
}

#[test]
fn multi_memory_is_rejected() {
    assert_eq!(rejected_feature(r#"(module (memory 1) (memory 1))"#), Feature::MultiMemory);
}

#[test]
fn gc_is_rejected() {
    let f = rejected_feature(r#"(module (type (struct (field i32))))"#);
    assert_eq!(f, Feature::Gc);
}

#[test]
fn function_references_are_rejected() {
    let f = rejected_feature(r#"(module (type $t (func)) (func (param (ref $t)) (call_ref $t (local.get 0))))"#);
    assert!(matches!(f, Feature::FunctionReferences | Feature::Gc), "{f:?}");
}

#[test]
fn extended_const_is_rejected() {
    let f = rejected_feature(r#"(module (global i32 (i32.add (i32.const 1) (i32.const 2))))"#);
    assert_eq!(f, Feature::ExtendedConst);
}

#[test]
fn components_are_rejected() {
    let f = rejected_feature(r#"(component)"#);
    assert_eq!(f, Feature::ComponentModel);
}

#[test]
fn malformed_and_invalid_modules_are_typed_errors() {
    for bytes in [
        &b""[..],
        b"\0asm",
        b"\0asm\x01\0\0\0\x01\xff\xff\xff\xff\x0f",
        b"not wasm at all",
        b"\0asm\x01\0\0\0\x0a\x04\x01\x02\x00\x0b",
    ] {
        match validate(bytes, &Profile::default()) {
            Err(ValidationError::Invalid { .. }) => {}
            other => panic!("{bytes:?}: expected Invalid, got {other:?}"),
        }
    }
    // A type error.
    let e = validate(&wasm("(module (func (result i32) (f32.const 1)))"), &Profile::default());
    assert!(matches!(e, Err(ValidationError::Invalid { .. })), "{e:?}");
}

/// Validates `wat` under default limits except `limits`, expecting `limit` with `found`.
fn assert_limit(wat: &str, tweak: impl FnOnce(&mut Limits), limit: Limit, found: u64) {
    let mut profile = Profile::default();
    tweak(&mut profile.limits);
    let bytes = wasm(wat);
    match validate(&bytes, &profile) {
        Err(ValidationError::LimitExceeded { limit: l, found: f, offset, .. }) => {
            assert_eq!((l, f), (limit, found));
            assert!(offset.is_some_and(|o| (o as usize) < bytes.len().max(1)));
        }
        other => panic!("expected {limit} exceeded, got {other:?}"),
    }
}

#[test]
fn every_structural_limit_is_enforced() {
    let two_funcs = "(module (func) (func))";
    let size = wasm(two_funcs).len() as u64;
    assert_limit(two_funcs, |l| l.max_module_bytes = size - 1, Limit::ModuleBytes, size);
    assert_limit(
        "(module (func (drop (i32.const 1)) (drop (i32.const 2))))",
        |l| l.max_function_body_bytes = 4,
        Limit::FunctionBodyBytes,
        8,
    );
    assert_limit("(module (func) (func) (func))", |l| l.max_functions = 2, Limit::Functions, 3);
    assert_limit(
        r#"(module (import "env" "a" (func)) (func) (func))"#,
        |l| l.max_functions = 2,
        Limit::Functions,
        3,
    );
    assert_limit(
        "(module (type (func)) (type (func (param i32))) (type (func (param i64))))",
        |l| l.max_types = 2,
        Limit::Types,
        3,
    );
    assert_limit(
        "(module (func (local i32 i32) (local i64)))",
        |l| l.max_locals_per_function = 2,
        Limit::LocalsPerFunction,
        3,
    );
    assert_limit("(module (func (param i32 i32 i32)))", |l| l.max_params = 2, Limit::Params, 3);
    assert_limit(
        "(module (func (result i32 i32 i32) (i32.const 1) (i32.const 2) (i32.const 3)))",
        |l| l.max_results = 2,
        Limit::Results,
        3,
    );
    assert_limit(
        "(module (global i32 (i32.const 0)) (global i32 (i32.const 0)))",
        |l| l.max_globals = 1,
        Limit::Globals,
        2,
    );
    assert_limit("(module (table 1 funcref) (table 1 funcref))", |l| l.max_tables = 1, Limit::Tables, 2);
    assert_limit("(module (table 3000 funcref))", |_| {}, Limit::TableElements, 3000);
    assert_limit("(module (table 1 5000 funcref))", |_| {}, Limit::TableElements, 5000);
    assert_limit(
        r#"(module (import "env" "a" (func)) (import "env" "b" (func)))"#,
        |l| l.max_imports = 1,
        Limit::Imports,
        2,
    );
    assert_limit(
        r#"(module (func (export "a")) (func (export "b")))"#,
        |l| l.max_exports = 1,
        Limit::Exports,
        2,
    );
    assert_limit(
        r#"(module (memory 1) (data (i32.const 0) "a") (data (i32.const 1) "b"))"#,
        |l| l.max_data_segments = 1,
        Limit::DataSegments,
        2,
    );
    assert_limit(
        "(module (table 2 funcref) (func $f) (elem (i32.const 0) $f) (elem (i32.const 1) $f))",
        |l| l.max_element_segments = 1,
        Limit::ElementSegments,
        2,
    );
    assert_limit("(module (memory 513))", |_| {}, Limit::InitialMemoryPages, 513);
    assert_limit("(module (memory 1 1000))", |_| {}, Limit::MaximumMemoryPages, 1000);
    assert_limit(
        "(module (func (block (block (block (block))))))",
        |l| l.max_nesting_depth = 3,
        Limit::NestingDepth,
        4,
    );
}

#[test]
fn limits_at_their_maximum_are_accepted() {
    let mut profile = Profile::default();
    profile.limits.max_functions = 2;
    profile.limits.max_nesting_depth = 4;
    validate(&wasm("(module (func (block (block (block (block))))) (func))"), &profile)
        .expect("exactly at the limits");
    validate(&wasm("(module (memory 512 512) (table 2500 funcref))"), &Profile::default())
        .expect("default memory and table maxima");
}

#[test]
fn memory_without_a_maximum_is_capped_by_the_profile() {
    let info = validate(&wasm("(module (memory 2))"), &Profile::default()).unwrap();
    assert_eq!(info.memory_initial_pages, Some(2));
    assert_eq!(info.memory_maximum_pages, Some(Limits::default().max_memory_pages));
}

#[test]
fn imports_only_functions_from_env() {
    let e = validate(&wasm(r#"(module (import "wasi" "f" (func)))"#), &Profile::default());
    assert!(
        matches!(&e, Err(ValidationError::ForbiddenImport { module, name, .. }) if module == "wasi" && name == "f"),
        "{e:?}"
    );
    let e = validate(&wasm(r#"(module (import "env" "mem" (memory 1)))"#), &Profile::default());
    assert!(matches!(e, Err(ValidationError::ForbiddenImport { .. })), "{e:?}");
    validate(&wasm(r#"(module (import "env" "f" (func)))"#), &Profile::default()).unwrap();
    let custom = Profile {
        imports: ImportPolicy::HostFunctions(vec!["keel".into()]),
        ..Profile::default()
    };
    validate(&wasm(r#"(module (import "keel" "f" (func)))"#), &custom).unwrap();
}

#[test]
fn reserved_export_names_are_rejected() {
    let e = validate(&wasm(r#"(module (global (export "__keel_gas") i32 (i32.const 0)))"#), &Profile::default());
    assert!(matches!(e, Err(ValidationError::ReservedExport { .. })), "{e:?}");
}

#[test]
fn errors_name_the_limit_and_value() {
    let mut p = Profile::default();
    p.limits.max_params = 1;
    let e = validate(&wasm("(module (func (param i32 i64)))"), &p).unwrap_err();
    let text = e.to_string();
    assert!(text.contains("max_params") && text.contains("found 2") && text.contains("maximum 1"), "{text}");
}

#[test]
fn hostile_bytes_never_panic() {
    // Every prefix and many single-byte corruptions of a real module.
    let good = wasm(
        r#"(module (memory 1) (func (export "f") (param i32) (result i32)
            (block (result i32) (br_table 0 0 (local.get 0) (local.get 0)))))"#,
    );
    for len in 0..good.len() {
        let _ = validate(&good[..len], &Profile::default());
    }
    for i in 8..good.len() {
        for b in [0x00, 0x01, 0x7f, 0x80, 0xff] {
            let mut bad = good.clone();
            bad[i] = b;
            let _ = validate(&bad, &Profile::default());
            let _ = keel_metering::instrument(&bad, &Default::default());
        }
    }
}

#[test]
fn cost_table_parses_hashes_and_rejects_bad_input() {
    let t = CostTable::default();
    assert_eq!(t.version(), 2, "the shipped table is version 2 (specs/gas.md, Version 2)");
    let again = CostTable::from_toml(&t.to_toml()).unwrap();
    assert_eq!(again.hash(), t.hash(), "TOML round trip keeps the content hash");
    let mut cheaper = t.clone();
    cheaper.set_class_cost(keel_metering::OpClass::IntDiv, 1).unwrap();
    assert_ne!(cheaper.hash(), t.hash(), "any change changes the hash");

    let missing = t.to_toml().replace("int_div = ", "bogus = ");
    assert!(matches!(CostTable::from_toml(&missing), Err(CostTableError::MissingClass("int_div"))));
    let huge = t.to_toml().replace("memory_per_byte = 1", "memory_per_byte = 99999999999");
    assert!(matches!(CostTable::from_toml(&huge), Err(CostTableError::CostTooLarge { .. })));
    assert!(matches!(CostTable::from_toml("version = "), Err(CostTableError::Toml(_))));
}

#[test]
fn profile_hash_is_explicit_and_sensitive() {
    let base = Profile::default();
    assert_eq!(base.hash(), Profile::default().hash());
    let mut bigger = Profile::default();
    bigger.limits.max_memory_pages += 1;
    assert_ne!(bigger.hash(), base.hash());
    let other_host = Profile { imports: ImportPolicy::HostFunctions(vec!["envx".into()]), ..Profile::default() };
    assert_ne!(other_host.hash(), base.hash());
    assert_ne!(Profile::permissive().hash(), base.hash());
}
