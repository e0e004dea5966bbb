//! The committed contract binaries (`contracts/wasm/*.wasm`):
//!
//! * are reproducible: `contracts/build.sh` rebuilds them byte for byte (when the toolchain
//!   recorded in `contracts/wasm/TOOLCHAIN` is present; otherwise the check is skipped,
//!   loudly);
//! * parse and validate as WebAssembly, follow the host ABI of `specs/abi.md` (exports,
//!   import names and signatures), and meet Keel's deterministic profile — except the
//!   adversarial modules meant to be rejected;
//! * (the counters and the token) really run through the ABI on wasmi with a minimal host.

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

/// A minimal ABI host on wasmi, enough to run the committed example binaries and check
/// that the SDK's wasm32 side (imports, allocator, entry points, revert) really works.
/// Not the node's runtime: no gas, no balances, no cross-contract calls.
mod smoke {
    use std::collections::BTreeMap;

    use wasmi::{Caller, Engine, Extern, Linker, Module, Store};

    pub struct Host {
        pub storage: BTreeMap<Vec<u8>, Vec<u8>>,
        pub input: Vec<u8>,
        pub ret: Vec<u8>,
        pub reverted: Option<String>,
        pub caller: [u8; 32],
        pub events: usize,
    }

    fn mem(caller: &Caller<'_, Host>) -> Result<wasmi::Memory, wasmi::Error> {
        caller.get_export("memory").and_then(Extern::into_memory).ok_or_else(|| wasmi::Error::new("no memory export"))
    }

    fn read(caller: &Caller<'_, Host>, ptr: u32, len: u32) -> Result<Vec<u8>, wasmi::Error> {
        let mut buf = vec![0; len as usize];
        mem(caller)?.read(caller, ptr as usize, &mut buf).map_err(|_| wasmi::Error::new("MemoryOutOfBounds"))?;
        Ok(buf)
    }

    fn write(caller: &mut Caller<'_, Host>, ptr: u32, data: &[u8]) -> Result<(), wasmi::Error> {
        let m = mem(caller)?;
        m.write(&mut *caller, ptr as usize, data).map_err(|_| wasmi::Error::new("MemoryOutOfBounds"))
    }

    fn linker(engine: &Engine) -> Linker<Host> {
        let mut l = Linker::<Host>::new(engine);
        l.func_wrap("env", "input", |mut c: Caller<'_, Host>, out: u32, cap: u32| -> Result<i32, wasmi::Error> {
            let data = c.data().input.clone();
            let n = data.len().min(cap as usize);
            write(&mut c, out, &data[..n])?;
            Ok(data.len() as i32)
        })
        .unwrap();
        l.func_wrap("env", "return_value", |mut c: Caller<'_, Host>, p: u32, n: u32| -> Result<(), wasmi::Error> {
            let data = read(&c, p, n)?;
            c.data_mut().ret = data;
            Ok(())
        })
        .unwrap();
        l.func_wrap("env", "revert", |mut c: Caller<'_, Host>, p: u32, n: u32| -> Result<(), wasmi::Error> {
            let msg = String::from_utf8_lossy(&read(&c, p, n)?).into_owned();
            c.data_mut().reverted = Some(msg);
            Err(wasmi::Error::new("revert"))
        })
        .unwrap();
        l.func_wrap("env", "caller", |mut c: Caller<'_, Host>, out: u32| -> Result<(), wasmi::Error> {
            let a = c.data().caller;
            write(&mut c, out, &a)
        })
        .unwrap();
        l.func_wrap("env", "self_address", |mut c: Caller<'_, Host>, out: u32| -> Result<(), wasmi::Error> {
            write(&mut c, out, &[0xCC; 32])
        })
        .unwrap();
        l.func_wrap("env", "block_height", || -> i64 { 1 }).unwrap();
        l.func_wrap("env", "block_timestamp", || -> i64 { 0 }).unwrap();
        l.func_wrap("env", "storage_read", |mut c: Caller<'_, Host>, k: u32, kl: u32, out: u32, cap: u32| -> Result<i32, wasmi::Error> {
            let key = read(&c, k, kl)?;
            let Some(v) = c.data().storage.get(&key).cloned() else { return Ok(-1) };
            write(&mut c, out, &v[..v.len().min(cap as usize)])?;
            Ok(v.len() as i32)
        })
        .unwrap();
        l.func_wrap("env", "storage_write", |mut c: Caller<'_, Host>, k: u32, kl: u32, v: u32, vl: u32| -> Result<i32, wasmi::Error> {
            let (key, val) = (read(&c, k, kl)?, read(&c, v, vl)?);
            Ok(c.data_mut().storage.insert(key, val).is_some() as i32)
        })
        .unwrap();
        l.func_wrap("env", "storage_remove", |mut c: Caller<'_, Host>, k: u32, kl: u32| -> Result<i32, wasmi::Error> {
            let key = read(&c, k, kl)?;
            Ok(c.data_mut().storage.remove(&key).is_some() as i32)
        })
        .unwrap();
        l.func_wrap("env", "storage_has", |c: Caller<'_, Host>, k: u32, kl: u32| -> Result<i32, wasmi::Error> {
            let key = read(&c, k, kl)?;
            Ok(c.data().storage.contains_key(&key) as i32)
        })
        .unwrap();
        l.func_wrap("env", "emit_event", |mut c: Caller<'_, Host>, t: u32, tc: u32, d: u32, dl: u32| -> Result<(), wasmi::Error> {
            if tc > 4 {
                return Err(wasmi::Error::new("HostLimitExceeded"));
            }
            read(&c, t, tc * 32)?;
            read(&c, d, dl)?;
            c.data_mut().events += 1;
            Ok(())
        })
        .unwrap();
        l
    }

    /// Runs `entry` of `wasm` in a fresh instance: Ok(return data) or Err(revert message / trap).
    pub fn run(wasm: &[u8], entry: &str, input: Vec<u8>, host: &mut Host) -> Result<Vec<u8>, String> {
        let engine = Engine::default();
        let module = Module::new(&engine, wasm).map_err(|e| e.to_string())?;
        let state = Host {
            storage: host.storage.clone(),
            input,
            ret: Vec::new(),
            reverted: None,
            caller: host.caller,
            events: host.events,
        };
        let mut store = Store::new(&engine, state);
        let result = linker(&engine)
            .instantiate_and_start(&mut store, &module)
            .and_then(|i| i.get_typed_func::<(), ()>(&store, entry))
            .and_then(|f| f.call(&mut store, ()));
        let state = store.into_data();
        // Keep storage writes and events only on success (the ABI's rollback of a failed frame).
        if result.is_ok() {
            host.storage = state.storage;
            host.events = state.events;
        }
        match (result, state.reverted) {
            (Ok(()), _) => Ok(state.ret),
            (Err(_), Some(msg)) => Err(msg),
            (Err(e), None) => Err(format!("trap: {e}")),
        }
    }
}

fn scale_str(s: &str) -> Vec<u8> {
    assert!(s.len() < 64);
    let mut v = vec![(s.len() as u8) << 2];
    v.extend_from_slice(s.as_bytes());
    v
}

fn host() -> smoke::Host {
    smoke::Host { storage: BTreeMap::new(), input: Vec::new(), ret: Vec::new(), reverted: None, caller: [0xA1; 32], events: 0 }
}

fn run(wasm: &[u8], entry: &str, input: Vec<u8>, h: &mut smoke::Host) -> Result<Vec<u8>, String> {
    smoke::run(wasm, entry, input, h)
}

#[test]
fn counters_run_on_wasmi_through_the_abi() {
    let committed = committed_wasm();
    for name in ["counter.wasm", "c_counter.wasm"] {
        let wasm = &committed[name];
        let mut h = host();
        run(wasm, "deploy", 5u64.to_le_bytes().to_vec(), &mut h).unwrap_or_else(|e| panic!("{name}: deploy: {e}"));
        let mut inc = scale_str("increment");
        inc.extend_from_slice(&7u64.to_le_bytes());
        assert_eq!(run(wasm, "call", inc, &mut h), Ok(12u64.to_le_bytes().to_vec()), "{name}");
        assert_eq!(run(wasm, "call", scale_str("get"), &mut h), Ok(12u64.to_le_bytes().to_vec()), "{name}");
        assert_eq!(h.events, 1, "{name}: one Incremented event");
        assert_eq!(run(wasm, "call", scale_str("nope"), &mut h), Err("unknown method".into()), "{name}");
        let mut bad = scale_str("increment");
        bad.push(1);
        assert_eq!(run(wasm, "call", bad, &mut h), Err("bad call data: argument".into()), "{name}");
        let mut overflow = scale_str("increment");
        overflow.extend_from_slice(&u64::MAX.to_le_bytes());
        assert_eq!(run(wasm, "call", overflow, &mut h), Err("counter overflow".into()), "{name}");
        assert_eq!(run(wasm, "call", scale_str("get"), &mut h), Ok(12u64.to_le_bytes().to_vec()), "{name}: rolled back");
    }
}

#[test]
fn token_runs_on_wasmi_through_the_abi() {
    let wasm = &committed_wasm()["token.wasm"];
    let mut h = host();
    let mut args = scale_str("Keel");
    args.extend(scale_str("KEEL"));
    args.extend_from_slice(&1_000u128.to_le_bytes());
    run(wasm, "deploy", args, &mut h).expect("deploy");
    assert_eq!(run(wasm, "call", scale_str("name"), &mut h), Ok(scale_str("Keel")));
    let bob = [0xB0u8; 32];
    let mut transfer = scale_str("transfer");
    transfer.extend_from_slice(&bob);
    transfer.extend_from_slice(&300u128.to_le_bytes());
    assert_eq!(run(wasm, "call", transfer, &mut h), Ok(vec![1]));
    let mut balance_of = scale_str("balance_of");
    balance_of.extend_from_slice(&bob);
    assert_eq!(run(wasm, "call", balance_of, &mut h), Ok(300u128.to_le_bytes().to_vec()));
    let mut too_much = scale_str("transfer");
    too_much.extend_from_slice(&bob);
    too_much.extend_from_slice(&701u128.to_le_bytes());
    assert_eq!(run(wasm, "call", too_much, &mut h), Err("insufficient balance".into()));
    // Truncated call data reverts with a message, never traps.
    assert_eq!(run(wasm, "call", scale_str("transfer"), &mut h), Err("bad call data: argument".into()));
}
