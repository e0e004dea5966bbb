//! Cross-ISA behaviour that holds on every host: every host compiles for every ISA
//! (cross-compilation), artifacts record their ISA and refuse to run elsewhere, compilation
//! is deterministic on each target, and code far larger than aarch64's conditional
//! branch range (one huge function, and many functions compiled in parts) runs identically
//! to the wasmi reference on the host's own ISA (run under QEMU, it exercises the aarch64
//! veneer islands for real, including those placed where parts are appended).
//!
//! The per-seed comparison of x86-64 and aarch64 outcomes lives in `differential.rs`
//! (digests written by each ISA's run, compared by the other's).

use keel_engine::{Config, Engine, Error, Isa, Linker, Module, Store, Trap};
use keel_metering::{instrument, InstrumentConfig, Profile};

fn engine_for(isa: Isa) -> Engine {
    Engine::new(Config { isa, ..Config::permissive() }).expect("every ISA is a valid compile target")
}

fn host() -> Isa {
    Isa::host().expect("tests run on a supported ISA")
}

const SMALL: &str = r#"(module (memory 1) (global (mut i32) (i32.const 5))
    (func (export "f") (param i32) (result i32) local.get 0 global.get 0 i32.add))"#;

#[test]
fn cross_compiled_artifacts_record_their_isa_and_refuse_to_run_here() {
    let wasm = wat::parse_str(SMALL).unwrap();
    let host_engine = engine_for(host());
    assert!(host_engine.can_execute());
    for isa in Isa::ALL.into_iter().filter(|i| *i != host()) {
        let engine = engine_for(isa);
        assert!(!engine.can_execute(), "{isa} engine must not claim to execute on {}", host());
        let module = Module::new(&engine, &wasm).expect("cross-compiles");
        assert_eq!(module.isa(), isa);
        assert!(module.code_size() > 0);
        // The artifact header names the ISA; the host engine refuses it with a clear error.
        let bytes = module.serialize();
        let name = isa.name().as_bytes();
        assert!(bytes.windows(name.len()).any(|w| w == name), "artifact records {isa}");
        // SAFETY: the bytes were produced by `serialize` just above.
        match unsafe { Module::deserialize(&host_engine, &bytes) } {
            Err(Error::Artifact(m)) => assert!(m.contains("target ISA mismatch"), "{m}"),
            other => panic!("host engine accepted a {isa} artifact: {other:?}"),
        }
        // The cross engine reloads its own artifact, byte for byte.
        // SAFETY: as above.
        let again = unsafe { Module::deserialize(&engine, &bytes) }.expect("same engine reloads");
        assert_eq!(again.code(), module.code());
        // Running it is refused with an error naming both ISAs, never attempted.
        let mut store = Store::new(&engine, ());
        match Linker::new().instantiate(&mut store, &module) {
            Err(Error::Engine(m)) => {
                assert!(m.contains(isa.name()) && m.contains("cannot run"), "{m}");
            }
            other => panic!("instantiating {isa} code on {} must fail: {other:?}", host()),
        }
    }
}

#[test]
fn committed_contracts_compile_deterministically_for_every_isa() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../contracts/wasm");
    let mut paths: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    paths.sort();
    let engines: Vec<(Isa, Engine)> = Isa::ALL.iter().map(|i| (*i, Engine::new(Config { isa: *i, ..Config::default() }).unwrap())).collect();
    let mut compiled = 0;
    let mut sizes = vec![0usize; Isa::ALL.len()];
    for path in paths.iter().filter(|p| p.extension().is_some_and(|e| e == "wasm")) {
        let wasm = std::fs::read(path).unwrap();
        let results: Vec<Result<Module, Error>> = engines.iter().map(|(_, e)| Module::new(e, &wasm)).collect();
        // The profile's verdict does not depend on the target.
        let verdicts: Vec<String> = results.iter().map(|r| r.as_ref().err().map(|e| e.to_string()).unwrap_or_default()).collect();
        assert!(verdicts.windows(2).all(|w| w[0] == w[1]), "{}: {verdicts:?}", path.display());
        if results[0].is_err() {
            continue;
        }
        for (k, ((isa, engine), r)) in engines.iter().zip(&results).enumerate() {
            let m = r.as_ref().unwrap();
            let twice = Module::new(engine, &wasm).unwrap();
            assert_eq!(m.code(), twice.code(), "{isa} compilation of {} is not deterministic", path.display());
            sizes[k] += m.code_size();
        }
        let per: Vec<String> = results.iter().map(|r| r.as_ref().map_or(0, |m| m.code_size()).to_string()).collect();
        println!("  {}: wasm {} bytes, code {}", path.file_name().unwrap().to_string_lossy(), wasm.len(), per.join(" / "));
        compiled += 1;
    }
    assert!(compiled >= 8, "only {compiled} contracts compiled");
    let line: Vec<String> = Isa::ALL.iter().zip(&sizes).map(|(i, s)| format!("{i} {s} bytes")).collect();
    let names: Vec<&str> = Isa::ALL.iter().map(|i| i.name()).collect();
    println!("(code sizes per contract: {})", names.join(" / "));
    println!("{compiled} contracts, total code: {}", line.join(", "));
}

/// `functions` functions (exported as `f0`, `f1`, ...) of `n` memory loads each at
/// increasing offsets, summed: with 40,000 loads in all, the aarch64 code is far beyond the
/// 1 MiB reach of the conditional branches to the shared trap stubs.
fn load_functions(functions: u32, n: u32) -> String {
    let mut w = String::from(r#"(module (memory 3 3) (data (i32.const 0) "\01\00\00\00\02\00\00\00\03")"#);
    for f in 0..functions {
        w.push_str(&format!(r#" (func (export "f{f}") (param i32) (result i32) i32.const 0"#));
        for i in 0..n {
            w.push_str(&format!(" local.get 0 i32.load offset={} i32.add", 4 * i));
        }
        w.push(')');
    }
    w.push(')');
    w
}

/// Compiles `wasm` (a [`load_functions`] module) for aarch64 (on any host: it must need
/// veneer islands, with parallel compilation on and off) and runs every export on the
/// host's ISA, with parallel compilation on and off, against wasmi over the instrumented
/// module: at address 0 every load is in bounds (the sum of the data words); at
/// 196,608 - 2n the second half of each function's `n` loads is past the memory's end, and
/// at -1 every load is: both trap.
fn runs_like_the_reference(wasm: &[u8], functions: u32, n: u32) {
    for parallel in [false, true] {
        let engine = Engine::new(Config { isa: Isa::Aarch64, ..Config::permissive() }.parallel_compilation(parallel)).unwrap();
        let a64 = Module::new(&engine, wasm).unwrap();
        assert!(a64.code_size() > 1 << 20, "aarch64 code {} bytes: too small to need islands", a64.code_size());
    }
    let gas = 10_000_000u64;
    let icfg = InstrumentConfig { initial_gas: gas, profile: Profile::permissive(), ..InstrumentConfig::default() };
    let inst_wasm = instrument(wasm, &icfg).unwrap().wasm;
    let wengine = wasmi::Engine::default();
    let wmodule = wasmi::Module::new(&wengine, &inst_wasm[..]).unwrap();
    for parallel in [false, true] {
        let engine = Engine::new(Config { isa: host(), ..Config::permissive() }.parallel_compilation(parallel)).unwrap();
        let module = Module::new(&engine, wasm).unwrap();
        for f in 0..functions {
            let name = format!("f{f}");
            for addr in [0i32, 196_608 - 2 * n as i32, -1] {
                let what = format!("{name}({addr}), parallel {parallel}");
                let mut store = Store::new(&engine, ());
                store.set_gas_limit(gas);
                let inst = Linker::new().instantiate(&mut store, &module).unwrap();
                let func = inst.get_typed_func::<(), i32, i32>(&mut store, &name).unwrap();
                let keel = func.call(&mut store, addr).map_err(|e| e.trap().cloned());
                let keel_gas = store.gas_used();

                let mut wstore = wasmi::Store::new(&wengine, ());
                let winst = wasmi::Linker::<()>::new(&wengine).instantiate_and_start(&mut wstore, &wmodule).unwrap();
                let wf = winst.get_typed_func::<i32, i32>(&wstore, &name).unwrap();
                let wres = wf.call(&mut wstore, addr);
                let remaining = match winst.get_global(&wstore, "__keel_gas").unwrap().get(&wstore) {
                    wasmi::Val::I64(x) => x as u64,
                    other => panic!("gas global {other:?}"),
                };
                match (&keel, &wres) {
                    (Ok(k), Ok(w)) => assert_eq!(k, w, "{what}"),
                    (Err(Some(Trap::MemoryOutOfBounds)), Err(e)) => {
                        assert_eq!(e.as_trap_code(), Some(wasmi::TrapCode::MemoryOutOfBounds), "{what}")
                    }
                    _ => panic!("{what}: keel {keel:?}, wasmi {wres:?}"),
                }
                assert_eq!(keel_gas, gas - remaining, "{what}: gas");
                if addr == 0 {
                    assert_eq!(keel, Ok(1 + 2 + 3), "{what}");
                } else {
                    assert_eq!(keel, Err(Some(Trap::MemoryOutOfBounds)), "{what}");
                }
            }
        }
    }
}

#[test]
fn huge_function_runs_through_veneer_islands_like_the_reference() {
    runs_like_the_reference(&wat::parse_str(load_functions(1, 40_000)).unwrap(), 1, 40_000);
}

/// The same loads in 40 functions: compiled in parts (parallel compilation), each part's
/// branches to the trap stubs are still pending where the next part is appended, so
/// islands go where parts meet.
#[test]
fn many_functions_compiled_in_parts_run_through_veneer_islands_like_the_reference() {
    runs_like_the_reference(&wat::parse_str(load_functions(40, 1_000)).unwrap(), 40, 1_000);
}

/// A frame larger than the whole guest stack (100,000 operand-stack slots, 800 KB, plus a
/// local that the prologue zeroes, against a 144 KB guest stack) must trap
/// `StackExhausted` from the deterministic budget before the frame touches native memory,
/// on every ISA.
#[test]
fn frame_larger_than_the_guest_stack_traps_before_touching_it() {
    let n = 100_000usize;
    let mut body = Vec::with_capacity(2 * n + 16);
    body.extend_from_slice(&[1, 1, 0x7f]); // one local of type i32
    for _ in 0..n {
        body.extend_from_slice(&[0x41, 0x00]); // i32.const 0
    }
    body.extend(std::iter::repeat_n(0x1a, n - 1)); // drop
    body.push(0x0b); // end (leaves one i32)
    let mut wasm = b"\0asm\x01\0\0\0".to_vec();
    let section = |wasm: &mut Vec<u8>, id: u8, content: &[u8]| {
        wasm.push(id);
        leb(wasm, content.len() as u64);
        wasm.extend_from_slice(content);
    };
    section(&mut wasm, 1, &[1, 0x60, 0, 1, 0x7f]); // type: [] -> [i32]
    section(&mut wasm, 3, &[1, 0]); // one function of type 0
    section(&mut wasm, 7, &[1, 1, b'f', 0, 0]); // export "f"
    let mut code = vec![1];
    leb(&mut code, body.len() as u64);
    code.extend_from_slice(&body);
    section(&mut wasm, 10, &code);
    let cfg = Config { stack_limit: 1_000, host_stack_bytes: 64 << 10, max_host_reentry: 0, ..Config::permissive() };
    let engine = Engine::new(cfg).unwrap();
    let module = Module::new(&engine, &wasm).expect("compiles");
    let mut store = Store::new(&engine, ());
    store.set_gas_limit(u64::MAX / 2);
    let inst = Linker::new().instantiate(&mut store, &module).unwrap();
    let f = inst.get_typed_func::<(), (), i32>(&mut store, "f").unwrap();
    assert_eq!(f.call(&mut store, ()).map_err(|e| e.trap().cloned()), Err(Some(Trap::StackExhausted)));
}

fn leb(out: &mut Vec<u8>, mut v: u64) {
    loop {
        let b = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(b);
            return;
        }
        out.push(b | 0x80);
    }
}
