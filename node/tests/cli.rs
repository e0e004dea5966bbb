//! The `keel` binary's metering commands, run as a user would.

use std::process::Command;

fn keel(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_keel")).args(args).output().expect("runs keel");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn temp(name: &str, contents: &[u8]) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("keel-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, contents).unwrap();
    p
}

#[test]
fn validate_accepts_and_rejects_with_a_clear_error() {
    let ok = temp("ok.wat", br#"(module (func (export "f") (result i32) i32.const 1))"#);
    let (success, stdout, _) = keel(&["validate", ok.to_str().unwrap()]);
    assert!(success);
    assert!(stdout.contains("valid"), "{stdout}");

    let simd = temp("simd.wat", br#"(module (func (result v128) (v128.const i64x2 0 0)))"#);
    let (success, _, stderr) = keel(&["validate", simd.to_str().unwrap()]);
    assert!(!success);
    assert!(stderr.contains("SIMD") && stderr.contains("byte offset"), "{stderr}");

    let garbage = temp("garbage.wasm", b"\0asm\x01\0\0\0\x01\xff");
    let (success, _, stderr) = keel(&["validate", garbage.to_str().unwrap()]);
    assert!(!success);
    assert!(stderr.contains("invalid module"), "{stderr}");

    let (success, _, stderr) = keel(&["validate", "/nonexistent/x.wasm"]);
    assert!(!success);
    assert!(stderr.contains("reading /nonexistent/x.wasm"), "{stderr}");
}

#[test]
fn instrument_writes_a_module_that_validates() {
    let src = temp("loop.wat", br#"(module (func (export "f") (param i32) (loop (br_if 0 (local.get 0)))))"#);
    let out = src.with_file_name("loop.instrumented.wasm");
    let (success, stdout, stderr) = keel(&["instrument", src.to_str().unwrap(), "-o", out.to_str().unwrap()]);
    assert!(success, "{stderr}");
    assert!(stdout.contains("->"));
    let bytes = std::fs::read(&out).unwrap();
    // The output is an ordinary module (its exports carry the reserved prefix, so it is
    // checked without Keel's profile).
    wasmparser::Validator::new().validate_all(&bytes).expect("instrumented output is valid wasm");
}

#[test]
fn analyze_lists_functions_and_bad_arguments_are_refused() {
    let src = temp("two.wat", br#"(module (func (drop (i32.const 1))) (func (result i32) (i32.const 2)))"#);
    let (success, stdout, _) = keel(&["analyze", "--charges", src.to_str().unwrap()]);
    assert!(success);
    assert_eq!(stdout.lines().filter(|l| l.contains("op ")).count(), 2, "{stdout}");

    let (success, _, stderr) = keel(&["instrument", src.to_str().unwrap()]);
    assert!(!success, "missing -o is refused");
    assert!(stderr.contains("--output"), "{stderr}");
    let (success, _, stderr) = keel(&["analyze", "--gas-schedule", "/nonexistent.toml", src.to_str().unwrap()]);
    assert!(!success);
    assert!(stderr.contains("gas schedule"), "{stderr}");
}

#[test]
fn run_invokes_an_export_and_reports_gas_and_traps() {
    let src = temp(
        "fac.wat",
        br#"(module
          (func $fac (export "fac") (param i64) (result i64)
            (if (result i64) (i64.eqz (local.get 0))
              (then (i64.const 1))
              (else (i64.mul (local.get 0) (call $fac (i64.sub (local.get 0) (i64.const 1)))))))
          (func (export "div") (param i32 i32) (result i32) (i32.div_s (local.get 0) (local.get 1)))
          (func (export "spin") (loop (br 0))))"#,
    );
    let file = src.to_str().unwrap();
    let (success, stdout, stderr) = keel(&["run", file, "--invoke", "fac", "20"]);
    assert!(success, "{stderr}");
    assert_eq!(stdout.trim(), "2432902008176640000");
    assert!(stderr.contains("gas used: "), "{stderr}");

    let (success, stdout, _) = keel(&["run", file, "--invoke", "div", "-7", "2"]);
    assert!(success);
    assert_eq!(stdout.trim(), "-3");
    let (success, _, stderr) = keel(&["run", file, "--invoke", "div", "1", "0"]);
    assert!(!success);
    assert!(stderr.contains("trap: integer divide by zero"), "{stderr}");

    let (success, _, stderr) = keel(&["run", file, "--invoke", "spin", "--gas", "100000"]);
    assert!(!success);
    assert!(stderr.contains("trap: out of gas") && stderr.contains("gas used: 100000"), "{stderr}");

    // Bad arguments: a clear error, not a crash.
    let (success, _, stderr) = keel(&["run", file, "--invoke", "div", "1"]);
    assert!(!success && stderr.contains("takes 2 argument"), "{stderr}");
    let (success, _, stderr) = keel(&["run", file, "--invoke", "div", "x", "1"]);
    assert!(!success && stderr.contains("not an integer"), "{stderr}");
    let (success, _, stderr) = keel(&["run", file, "--invoke", "div", "99999999999", "1"]);
    assert!(!success && stderr.contains("does not fit in i32"), "{stderr}");
    let (success, _, stderr) = keel(&["run", file, "--invoke", "nope"]);
    assert!(!success && stderr.contains("exports no function"), "{stderr}");
}

#[test]
fn compile_reports_code_size_and_writes_an_artifact() {
    let src = temp("small.wat", br#"(module (func (export "f") (result i32) (i32.const 7)))"#);
    let out = src.with_file_name("small.keel");
    let (success, stdout, stderr) = keel(&["compile", src.to_str().unwrap(), "-o", out.to_str().unwrap()]);
    assert!(success, "{stderr}");
    assert!(stdout.contains(" code in ") && stdout.contains("MB/s"), "{stdout}");
    assert!(std::fs::metadata(&out).unwrap().len() > 0);

    let simd = temp("simd2.wat", br#"(module (func (result v128) (v128.const i64x2 0 0)))"#);
    let (success, _, stderr) = keel(&["compile", simd.to_str().unwrap()]);
    assert!(!success && stderr.contains("SIMD"), "{stderr}");

    // Both ISAs compile on any host; their artifacts differ and record the ISA.
    let mut artifacts = Vec::new();
    for isa in ["x86_64", "aarch64"] {
        let out = src.with_file_name(format!("small.{isa}.keel"));
        let (success, stdout, stderr) = keel(&["compile", src.to_str().unwrap(), "--target", isa, "-o", out.to_str().unwrap()]);
        assert!(success, "{isa}: {stderr}");
        assert!(stdout.contains(&format!("bytes of {isa} code")), "{stdout}");
        artifacts.push(std::fs::read(&out).unwrap());
    }
    assert_ne!(artifacts[0], artifacts[1]);
    let (success, _, stderr) = keel(&["compile", src.to_str().unwrap(), "--target", "mips"]);
    assert!(!success && stderr.contains("mips"), "{stderr}");
}

#[test]
fn demo_runs_every_committed_contract_through_the_pipeline() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../contracts/wasm");
    let (success, stdout, stderr) = keel(&["demo", dir.to_str().unwrap()]);
    assert!(success, "{stderr}");
    for accepted in ["token.wasm", "counter.wasm", "ed25519_verifier.wasm", "c_counter.wasm"] {
        let line = stdout.lines().find(|l| l.contains(accepted)).unwrap_or_else(|| panic!("{accepted}: {stdout}"));
        assert!(line.starts_with("accepted") && line.ends_with("ms"), "{line}");
    }
    for (rejected, why) in [("adv_simd.wasm", "SIMD"), ("adv_atomics.wasm", "threads")] {
        let line = stdout.lines().find(|l| l.contains(rejected)).unwrap_or_else(|| panic!("{rejected}"));
        assert!(line.starts_with("rejected") && line.contains(why), "{line}");
    }
    let (success, _, stderr) = keel(&["demo", "/nonexistent-dir"]);
    assert!(!success && stderr.contains("reading /nonexistent-dir"), "{stderr}");
}
