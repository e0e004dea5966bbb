//! Out-of-bounds accesses that the MMU catches (x86-64: unchecked accesses inside a guard
//! reservation, turned into `MemoryOutOfBounds` by the fault handler) behave exactly like
//! checked ones, also for modules loaded from an artifact, and the handler does not swallow
//! faults that are not guest accesses.

use keel_engine::{Config, Engine, Error, Linker, Module, Store, Trap};

const WAT: &str = r#"(module
  (memory 1 2)
  (func (export "store") (param i32 i32) local.get 0 local.get 1 i32.store)
  (func (export "load") (param i32) (result i32) local.get 0 i32.load)
  (func (export "load_off") (param i32) (result i64) local.get 0 i64.load offset=65530)
  (func (export "grow") (result i32) i32.const 1 memory.grow))"#;

fn oob<T: std::fmt::Debug>(r: Result<T, Error>) -> bool {
    matches!(r, Err(Error::Trap(Trap::MemoryOutOfBounds)))
}

fn exercise(engine: &Engine, module: &Module) {
    let mut store = Store::new(engine, ());
    store.set_gas_limit(1_000_000);
    let inst = Linker::new().instantiate(&mut store, module).unwrap();
    let store_f = inst.get_typed_func::<(), (i32, i32), ()>(&mut store, "store").unwrap();
    let load = inst.get_typed_func::<(), i32, i32>(&mut store, "load").unwrap();
    let load_off = inst.get_typed_func::<(), i32, i64>(&mut store, "load_off").unwrap();
    let grow = inst.get_typed_func::<(), (), i32>(&mut store, "grow").unwrap();

    store_f.call(&mut store, (65_532, 0x0102_0304)).unwrap();
    assert_eq!(load.call(&mut store, 65_532).unwrap(), 0x0102_0304);
    // Straddling the end: traps and writes nothing, not even the bytes inside.
    assert!(oob(store_f.call(&mut store, (65_534, -1))));
    assert_eq!(load.call(&mut store, 65_532).unwrap(), 0x0102_0304, "no partial write");
    assert!(oob(load.call(&mut store, 65_533)));
    assert!(oob(load.call(&mut store, -1)), "the highest 32-bit address");
    assert!(oob(load_off.call(&mut store, 0)), "65530 + 8 > 65536");
    // The store stays usable after the traps, and growing makes the next page accessible.
    assert_eq!(grow.call(&mut store, ()).unwrap(), 1);
    assert_eq!(load.call(&mut store, 65_536).unwrap(), 0);
    assert_eq!(load_off.call(&mut store, 0).unwrap(), 0x0000_0102_0304_0000, "now in bounds");
    store_f.call(&mut store, (131_068, 9)).unwrap();
    assert!(oob(load.call(&mut store, 131_069)));
    // The maximum (2 pages) holds.
    assert_eq!(grow.call(&mut store, ()).unwrap(), -1);
}

#[test]
fn out_of_bounds_traps_from_fresh_and_deserialized_code() {
    let engine = Engine::new(Config::permissive()).unwrap();
    let wasm = wat::parse_str(WAT).unwrap();
    let module = Module::new(&engine, &wasm).unwrap();
    exercise(&engine, &module);
    let bytes = module.serialize();
    drop(module);
    // SAFETY: an artifact this engine just produced.
    let module = unsafe { Module::deserialize(&engine, &bytes) }.unwrap();
    exercise(&engine, &module);
}

/// With the fault handler installed, a fault outside guest code still kills the process
/// with SIGSEGV (the handler passes it on): runs itself as a child that dereferences null.
#[cfg(all(unix, target_arch = "x86_64", target_os = "linux"))]
#[test]
fn foreign_faults_are_not_swallowed() {
    use std::os::unix::process::ExitStatusExt;
    const CHILD: &str = "KEEL_MEMORY_FAULTS_CHILD";
    if std::env::var_os(CHILD).is_some() {
        fault_handler_in_use();
        // SAFETY: deliberately not: this child process must die here.
        unsafe { std::ptr::null_mut::<u8>().write_volatile(1) };
        unreachable!("the null write must fault");
    }
    // A handler that swallowed the fault would re-run the write forever: the timeout.
    let status = run_self_as_child("foreign_faults_are_not_swallowed", CHILD);
    assert_eq!(status.signal(), Some(11), "child should die of SIGSEGV; status {status:?}");
}

/// A library that replaces Keel's fault handler makes compiling a module with unchecked
/// accesses fail with a clear error, not a crash at the first out-of-bounds access: runs
/// itself as a child that overwrites the SIGSEGV handler.
#[cfg(all(unix, target_arch = "x86_64", target_os = "linux"))]
#[test]
fn a_replaced_fault_handler_is_refused() {
    const CHILD: &str = "KEEL_MEMORY_FAULTS_REPLACED";
    if std::env::var_os(CHILD).is_some() {
        let (engine, wasm) = fault_handler_in_use();
        // SAFETY: installs SIG_DFL for SIGSEGV in this child process only.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = libc::SIG_DFL;
            assert_eq!(libc::sigaction(libc::SIGSEGV, &sa, std::ptr::null_mut()), 0);
        }
        match Module::new(&engine, &wasm) {
            Err(Error::Engine(m)) if m.contains("replaced") => std::process::exit(42),
            other => panic!("expected a refusal, got {other:?}"),
        }
    }
    let status = run_self_as_child("a_replaced_fault_handler_is_refused", CHILD);
    assert_eq!(status.code(), Some(42), "status {status:?}");
}

/// An engine that has compiled and run [`WAT`] (so the fault handler is installed and has
/// trapped), and the module's bytes.
#[cfg(all(unix, target_arch = "x86_64", target_os = "linux"))]
fn fault_handler_in_use() -> (Engine, Vec<u8>) {
    let engine = Engine::new(Config::permissive()).unwrap();
    let wasm = wat::parse_str(WAT).unwrap();
    exercise(&engine, &Module::new(&engine, &wasm).unwrap());
    (engine, wasm)
}

/// Runs this test binary's test `test` alone in a child process with `env` set, and
/// returns how it ended; fails when it runs longer than a minute.
#[cfg(all(unix, target_arch = "x86_64", target_os = "linux"))]
fn run_self_as_child(test: &str, env: &str) -> std::process::ExitStatus {
    let exe = std::env::current_exe().unwrap();
    let mut child = std::process::Command::new(exe)
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(env, "1")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("the child running {test} did not end within a minute");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// An artifact whose payload hash matches but whose trap-site list points outside the code
/// (a hand-made or truncated-and-rehashed one) is refused, not loaded. (Only x86-64 code
/// has trap sites.)
#[cfg(all(unix, target_arch = "x86_64", target_os = "linux"))]
#[test]
fn artifact_with_bad_trap_sites_is_refused() {
    let engine = Engine::new(Config::permissive()).unwrap();
    let wasm = wat::parse_str(WAT).unwrap();
    let mut art = Module::new(&engine, &wasm).unwrap().serialize();
    // The payload starts with the wasm's length and bytes; the blake3 hash precedes it.
    let wasm_at = art.windows(wasm.len()).position(|w| w == &wasm[..]).unwrap();
    let payload_at = wasm_at - 8;
    // It ends with the trap stub, the number of sites and the sites.
    let len = art.len();
    let n = (1..1000)
        .find(|&n| {
            let at = len - 4 * n - 4;
            u32::from_le_bytes(art[at..at + 4].try_into().unwrap()) as usize == n
        })
        .expect("trap sites at the end of the payload");
    assert_eq!(n, 3, "the module's one store and two loads are unchecked accesses");
    art[len - 4..].copy_from_slice(&u32::MAX.to_le_bytes());
    let hash = *blake3::hash(&art[payload_at..]).as_bytes();
    art[payload_at - 32..payload_at].copy_from_slice(&hash);
    // SAFETY: refused before any code is mapped (that is what the test checks).
    match unsafe { Module::deserialize(&engine, &art) } {
        Err(Error::Artifact(m)) => assert!(m.contains("trap site"), "{m}"),
        other => panic!("expected a refusal, got {other:?}"),
    }
}
