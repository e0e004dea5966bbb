//! The committed contract binaries (`contracts/wasm/*.wasm`):
//!
//! * are reproducible: `contracts/build.sh` rebuilds them byte for byte (when the toolchain
//!   recorded in `contracts/wasm/TOOLCHAIN` is present; otherwise the check is skipped,
//!   loudly);
//! * parse and validate as WebAssembly, follow the host ABI of `specs/abi.md` (exports,
//!   import names and signatures), and meet Keel's deterministic profile — except the
//!   adversarial modules meant to be rejected.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use wasmparser::{Parser, Payload, TypeRef, ValType, Validator, WasmFeatures};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ has a parent").to_path_buf()
}

fn committed_wasm() -> BTreeMap<String, Vec<u8>> {
    let dir = repo_root().join("contracts/wasm");
    let mut out = BTreeMap::new();
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.expect("directory entry").path();
        if path.extension().is_some_and(|x| x == "wasm") {
            let name = path.file_name().expect("file name").to_string_lossy().into_owned();
            out.insert(name, std::fs::read(&path).expect("readable .wasm"));
        }
    }
    out
}

fn skip(why: &str) {
    eprintln!();
    eprintln!("!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!");
    eprintln!("!! SKIPPED: contracts reproducibility check (contracts/build.sh)");
    eprintln!("!! reason: {why}");
    eprintln!("!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!");
    eprintln!();
}

/// stdout of a command run in `dir`, if it ran and succeeded.
fn output(dir: &Path, program: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(program).args(args).current_dir(dir).output().ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn committed_contract_wasm_is_reproducible() {
    let root = repo_root();
    let contracts = root.join("contracts");
    match output(&contracts, "rustup", &["target", "list", "--installed"]) {
        Some(targets) if targets.lines().any(|l| l.trim() == "wasm32v1-none") => {}
        Some(_) => return skip("rust target wasm32v1-none is not installed (rustup target add wasm32v1-none)"),
        None => return skip("rustup is not available"),
    }
    let Some(clang) = output(&contracts, "clang-14", &["--version"]) else {
        return skip("clang-14 is not installed (apt-get install clang-14 lld-14)");
    };
    let Some(rustc) = output(&contracts, "rustc", &["--version"]) else {
        return skip("rustc is not available");
    };
    let toolchain = format!("{}\n{}\n", rustc.trim(), clang.lines().next().unwrap_or("").trim());
    let recorded = std::fs::read_to_string(contracts.join("wasm/TOOLCHAIN")).unwrap_or_default();
    if toolchain != recorded {
        return skip(&format!(
            "the committed .wasm files were built with\n{recorded}but this machine has\n{toolchain}\
             (bytes are only reproducible with the same toolchain; rebuild with contracts/build.sh)"
        ));
    }

    let out_dir = std::env::temp_dir().join(format!("keel-contracts-build-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out_dir);
    let status = Command::new("bash")
        .arg(contracts.join("build.sh"))
        .arg(&out_dir)
        .status()
        .expect("bash runs contracts/build.sh");
    assert!(status.success(), "contracts/build.sh failed: {status}");

    let committed = committed_wasm();
    let mut rebuilt = BTreeMap::new();
    for entry in std::fs::read_dir(&out_dir).expect("build output directory") {
        let path = entry.expect("directory entry").path();
        if path.extension().is_some_and(|x| x == "wasm") {
            let name = path.file_name().expect("file name").to_string_lossy().into_owned();
            rebuilt.insert(name, std::fs::read(&path).expect("readable .wasm"));
        }
    }
    let _ = std::fs::remove_dir_all(&out_dir);

    assert_eq!(
        committed.keys().collect::<Vec<_>>(),
        rebuilt.keys().collect::<Vec<_>>(),
        "contracts/build.sh produces a different set of files than contracts/wasm/ holds"
    );
    let differing: Vec<&String> = committed.iter().filter(|(name, bytes)| rebuilt[*name] != **bytes).map(|(n, _)| n).collect();
    assert!(
        differing.is_empty(),
        "rebuilt contracts differ from the committed ones: {differing:?} (run contracts/build.sh and commit, \
         or find the source of non-determinism)"
    );
}

/// The host functions of `specs/abi.md` §5: name -> (params, results).
fn abi() -> BTreeMap<&'static str, (Vec<ValType>, Vec<ValType>)> {
    use ValType::{I32, I64};
    BTreeMap::from([
        ("input", (vec![I32, I32], vec![I32])),
        ("return_value", (vec![I32, I32], vec![])),
        ("revert", (vec![I32, I32], vec![])),
        ("caller", (vec![I32], vec![])),
        ("self_address", (vec![I32], vec![])),
        ("block_height", (vec![], vec![I64])),
        ("block_timestamp", (vec![], vec![I64])),
        ("balance", (vec![I32, I32], vec![])),
        ("transfer", (vec![I32, I32], vec![I32])),
        ("storage_read", (vec![I32, I32, I32, I32], vec![I32])),
        ("storage_write", (vec![I32, I32, I32, I32], vec![I32])),
        ("storage_remove", (vec![I32, I32], vec![I32])),
        ("storage_has", (vec![I32, I32], vec![I32])),
        ("emit_event", (vec![I32, I32, I32, I32], vec![])),
        ("call_contract", (vec![I32, I32, I64, I32, I32, I32, I32, I32], vec![I32])),
        ("blake3", (vec![I32, I32, I32], vec![])),
        ("ed25519_verify", (vec![I32, I32, I32, I32], vec![I32])),
    ])
}

/// Modules the deterministic profile must reject.
const MUST_BE_REJECTED: &[&str] = &["adv_simd.wasm", "adv_atomics.wasm", "adv_jit_nested_blocks_10000.wasm"];

#[test]
fn committed_contract_wasm_parses_and_follows_the_abi() {
    let committed = committed_wasm();
    assert!(committed.len() >= 15, "expected the full contract set, found {:?}", committed.keys());
    let abi = abi();
    let profile = keel_metering::Profile::default();
    for (name, bytes) in &committed {
        // Parses and validates with every feature wasmparser knows.
        for payload in Parser::new(0).parse_all(bytes) {
            payload.unwrap_or_else(|e| panic!("{name}: does not parse: {e}"));
        }
        Validator::new_with_features(WasmFeatures::all())
            .validate_all(bytes)
            .unwrap_or_else(|e| panic!("{name}: invalid wasm: {e}"));

        // ABI shape: exports memory/deploy/call; imports only ABI functions with ABI types.
        let mut types = Vec::new();
        let mut func_types: Vec<u32> = Vec::new();
        let mut exports = BTreeMap::new();
        for payload in Parser::new(0).parse_all(bytes) {
            match payload.expect("parsed above") {
                Payload::TypeSection(reader) => {
                    for ty in reader.into_iter_err_on_gc_types() {
                        types.push(ty.expect("type"));
                    }
                }
                Payload::ImportSection(reader) => {
                    for import in reader.into_imports() {
                        let import = import.expect("import");
                        assert_eq!(import.module, "env", "{name}: import from module {:?}", import.module);
                        let TypeRef::Func(idx) = import.ty else { panic!("{name}: non-function import {}", import.name) };
                        let (params, results) =
                            abi.get(import.name).unwrap_or_else(|| panic!("{name}: imports unknown host function {}", import.name));
                        let ty = &types[idx as usize];
                        assert_eq!(
                            (ty.params(), ty.results()),
                            (params.as_slice(), results.as_slice()),
                            "{name}: host function {} has the wrong signature",
                            import.name
                        );
                        func_types.push(idx);
                    }
                }
                Payload::FunctionSection(reader) => {
                    for idx in reader {
                        func_types.push(idx.expect("function type index"));
                    }
                }
                Payload::ExportSection(reader) => {
                    for export in reader {
                        let export = export.expect("export");
                        exports.insert(export.name.to_string(), (export.kind, export.index));
                    }
                }
                _ => {}
            }
        }
        assert!(
            matches!(exports.get("memory"), Some((wasmparser::ExternalKind::Memory, _))),
            "{name}: does not export a memory named \"memory\""
        );
        for entry in ["deploy", "call"] {
            let Some((wasmparser::ExternalKind::Func, idx)) = exports.get(entry) else {
                panic!("{name}: does not export function {entry:?}")
            };
            let ty = &types[func_types[*idx as usize] as usize];
            assert!(ty.params().is_empty() && ty.results().is_empty(), "{name}: {entry} is not () -> ()");
        }

        // Keel's deterministic profile.
        let verdict = keel_metering::validate(bytes, &profile);
        if MUST_BE_REJECTED.contains(&name.as_str()) {
            assert!(verdict.is_err(), "{name}: must be rejected by the deterministic profile");
        } else if let Err(e) = verdict {
            panic!("{name}: rejected by the deterministic profile: {e}");
        }
    }
}
