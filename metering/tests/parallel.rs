//! `keel_metering::parse` with `ParsedModule::analyze_part` (the walk split into parts
//! that threads can take) against the one-pass walk (`analyze_each`): the same analyses
//! and operators for every way of cutting the bodies into parts, and the same error, with
//! the one-pass walk's precedence, for modules that fail in a body, in a body's limits,
//! in a section after the bodies, or before them.

use keel_metering::{analyze_each, parse, CostTable, FunctionAnalysis, Limit, ModuleInfo, Profile, ValidationError, WalkBuffers};

/// One function's analysis and its operators (as `Debug` text).
type Function = (FunctionAnalysis, Vec<String>);

/// One part's functions, and its first invalid body.
type Part = (Vec<Function>, Option<(usize, ValidationError)>);

/// Each function's analysis and operators, or the error.
type Walked = Result<(ModuleInfo, Vec<Function>), ValidationError>;

fn one_pass(wasm: &[u8], profile: &Profile) -> Walked {
    let mut seen = Vec::new();
    let (info, outcome) = analyze_each(wasm, profile, &CostTable::default(), |fa, ops| {
        seen.push((fa.clone(), ops.iter().map(|op| format!("{op:?}")).collect()));
        Ok::<(), ()>(())
    })?;
    assert_eq!(outcome, Ok(()));
    Ok((info, seen))
}

/// The split walk with the bodies cut at `cuts` (part boundaries, ascending), the parts
/// walked last to first (as a thread may), each with its own buffers.
fn in_parts(wasm: &[u8], profile: &Profile, cuts: &[usize]) -> Walked {
    let parsed = parse(wasm, profile)?;
    let n = parsed.len();
    let mut bounds = vec![0];
    bounds.extend(cuts.iter().map(|&c| c.min(n)));
    bounds.push(n);
    let costs = CostTable::default();
    let mut parts: Vec<Part> = Vec::new();
    for w in bounds.windows(2).rev() {
        let mut seen = Vec::new();
        let walked = parsed.analyze_part(w[0]..w[1], profile, &costs, &mut WalkBuffers::default(), |fa, ops| {
            seen.push((fa.clone(), ops.iter().map(|op| format!("{op:?}")).collect()));
        });
        parts.push((seen, walked.err()));
    }
    parts.reverse();
    let first_error = parts.iter().find_map(|(_, e)| e.clone());
    let info = parsed.finish(first_error.map(|(_, e)| e))?;
    Ok((info, parts.into_iter().flat_map(|(seen, _)| seen).collect()))
}

fn assert_same(wasm: &[u8], profile: &Profile, what: &str) {
    let expected = one_pass(wasm, profile);
    let n = match &expected {
        Ok((info, _)) => info.defined_functions as usize,
        Err(_) => parse(wasm, profile).map_or(0, |p| p.len()),
    };
    let cut_sets: Vec<Vec<usize>> = vec![
        vec![],
        vec![0],
        vec![n],
        vec![1],
        vec![n / 2],
        vec![n / 3, 2 * n / 3],
        (1..n).collect(),
    ];
    for cuts in cut_sets {
        let got = in_parts(wasm, profile, &cuts);
        assert!(got == expected, "{what}, cut at {cuts:?}: {:?} against {:?}", got.as_ref().err(), expected.as_ref().err());
    }
}

/// `n` functions with loops and locals; `broken` makes function `i` ill-typed; `tail` is
/// appended inside the module after the functions.
fn module(n: usize, broken: Option<usize>, tail: &str) -> Vec<u8> {
    let mut w = String::from("(module (memory 1)");
    for i in 0..n {
        w.push_str("(func (param i32) (result i32) (local i64) (loop $l local.get 0 i32.const 1 i32.sub local.tee 0 br_if $l)");
        w.push_str(&" local.get 0 i32.const 3 i32.add".repeat(i % 5));
        w.push_str(&" drop".repeat(i % 5));
        if broken == Some(i) {
            w.push_str(" i64.const 1 i32.add");
        }
        w.push_str(" local.get 0)");
    }
    w.push_str(tail);
    w.push(')');
    wat::parse_str(&w).expect("wat")
}

#[test]
fn parts_hand_over_what_the_one_pass_walk_does() {
    let profile = Profile::default();
    for (name, wasm) in [
        ("token", &include_bytes!("../../contracts/wasm/token.wasm")[..]),
        ("ed25519_verifier", &include_bytes!("../../contracts/wasm/ed25519_verifier.wasm")[..]),
        ("sha2_hasher", &include_bytes!("../../contracts/wasm/sha2_hasher.wasm")[..]),
    ] {
        let walked = one_pass(wasm, &profile);
        assert!(matches!(&walked, Ok((info, fs)) if fs.len() > 3 && info.defined_functions as usize == fs.len()));
        assert_same(wasm, &profile, name);
    }
    let generated = module(40, None, "");
    assert!(matches!(one_pass(&generated, &profile), Ok((info, _)) if info.defined_functions == 40));
    assert_same(&generated, &profile, "generated");
    assert_same(&module(0, None, ""), &profile, "no functions");
}

#[test]
fn the_first_invalid_body_wins_wherever_the_parts_are_cut() {
    let profile = Profile::default();
    for broken in [0, 1, 17, 39] {
        let wasm = module(40, Some(broken), "");
        let expected = one_pass(&wasm, &profile);
        assert!(matches!(expected, Err(ValidationError::Invalid { .. })), "{expected:?}");
        assert_same(&wasm, &profile, &format!("function {broken} ill-typed"));
    }
}

#[test]
fn a_section_after_the_bodies_fails_after_every_body() {
    let profile = Profile::default();
    // An i64 offset for a 32-bit memory: the data section is invalid.
    let bad_data = r#"(data (i64.const 0) "x")"#;
    let wasm = module(12, None, bad_data);
    assert!(matches!(one_pass(&wasm, &profile), Err(ValidationError::Invalid { .. })));
    assert_same(&wasm, &profile, "bad data section");
    // With an ill-typed body before it, the body's error is the one reported.
    let wasm = module(12, Some(7), bad_data);
    let expected = one_pass(&wasm, &profile);
    let body_error = one_pass(&module(12, Some(7), ""), &profile);
    assert_eq!(expected.as_ref().err(), body_error.as_ref().err());
    assert_same(&wasm, &profile, "bad body, then bad data section");
}

#[test]
fn body_limits_stop_the_collection_where_the_one_pass_walk_stops() {
    let wasm = module(12, None, "");
    // Bodies grow with i % 5: a limit of function 2's size rejects function 3 first.
    let sizes: Vec<u64> = {
        let parsed = parse(&wasm, &Profile::default()).expect("valid");
        (0..parsed.len()).map(|i| parsed.body_bytes(i)).collect()
    };
    assert!(sizes[3] > sizes[2] && sizes[..3].iter().all(|&s| s <= sizes[2]), "{sizes:?}");
    let mut profile = Profile::default();
    profile.limits.max_function_body_bytes = sizes[2];
    let expected = one_pass(&wasm, &profile);
    assert!(
        matches!(expected, Err(ValidationError::LimitExceeded { limit: Limit::FunctionBodyBytes, .. })),
        "{expected:?}"
    );
    assert_same(&wasm, &profile, "body too large");
    // An ill-typed body before the large one wins; after it, the limit does.
    for broken in [1, 10] {
        let wasm = module(12, Some(broken), "");
        let expected = one_pass(&wasm, &profile);
        assert_eq!(matches!(expected, Err(ValidationError::Invalid { .. })), broken == 1, "{expected:?}");
        assert_same(&wasm, &profile, &format!("function {broken} ill-typed, a later body too large"));
    }
}

#[test]
fn errors_before_the_first_body_come_from_parse() {
    let profile = Profile::default();
    let simd = include_bytes!("../../contracts/wasm/adv_simd.wasm");
    let expected = one_pass(simd, &profile).expect_err("SIMD is rejected");
    match parse(simd, &profile) {
        Err(e) => assert_eq!(e, expected),
        Ok(parsed) => {
            // SIMD only in bodies: the error comes from the parts.
            assert!(!parsed.is_empty());
            assert_same(simd, &profile, "simd");
        }
    }
    let mut small = Profile::default();
    small.limits.max_module_bytes = 8;
    let wasm = module(3, None, "");
    assert_eq!(parse(&wasm, &small).map(|p| p.len()), Err(one_pass(&wasm, &small).expect_err("too large")));
    assert_eq!(parse(b"\0asm\x02\0\0\0", &profile).map(|p| p.len()), Err(one_pass(b"\0asm\x02\0\0\0", &profile).expect_err("bad version")));
}
