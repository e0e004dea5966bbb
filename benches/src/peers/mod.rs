//! Side-by-side comparison of Keel with the engines blockchains use today (issue 7):
//! wasmi (interpreter), Wasmtime with Cranelift (optimizing) and Winch (baseline single
//! pass), Wasmer singlepass — each with its own metering on and off — and Keel with its
//! native metering.
//!
//! Every engine sits behind the same three small traits, one file per engine:
//!
//! * [`Peer`]: one engine in one configuration; compiles wasm bytes into a [`PeerModule`]
//!   and loads a serialized artifact back (where the engine has one);
//! * [`PeerModule`]: a compiled module; serializes itself and instantiates against the
//!   benchmark host;
//! * [`PeerInstance`]: runs an export.
//!
//! The benchmark host is the same for every engine: the contract ABI's `env.input` copies
//! the call data into memory, `env.return_value` records the return data, `env.revert`
//! traps, and every other imported function returns zeros (like the stub host of
//! `engine/tests/contracts_diff.rs`). Modules with non-function imports are not
//! instantiated (real-world inputs are only compiled).
//!
//! All engines compile on one thread (Wasmtime with `Config::parallel_compilation(false)`,
//! Wasmer singlepass with `num_threads(1)`, Keel with `Config::parallel_compilation(false)`).
//! Three extra configurations compile on two threads, each engine's default on a two-core
//! machine, timed on the wall clock, compile only: `keel-2threads` (Keel with parallel
//! compilation), `wasmtime-winch-2threads` and `wasmer-singlepass-2threads` (functions
//! compiled on a rayon pool). They are kept out of the ratio tables and the plot, which
//! compare one compile thread per engine, and calibrate the published compile
//! figures, which are those engines' defaults.

pub mod cosmwasm;
pub mod keel;
pub mod measure;
pub mod real;
pub mod report;
pub mod wasmer;
pub mod wasmi;
pub mod wasmtime;
pub mod workloads;

use std::fmt;

/// Why an engine could not do what the benchmark asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PeerError {
    /// The engine (or Keel's deterministic profile) refused the module at validation.
    Rejected(String),
    /// Compilation failed for another reason.
    Compile(String),
    /// Serializing or loading an artifact failed.
    Artifact(String),
    /// Linking or instantiation failed.
    Instantiate(String),
    /// The call trapped or returned an error.
    Trap(String),
    /// The engine has no such facility (for example wasmi has no serialized artifact).
    Unsupported(&'static str),
}

impl fmt::Display for PeerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PeerError::Rejected(m) => write!(f, "rejected: {m}"),
            PeerError::Compile(m) => write!(f, "compile error: {m}"),
            PeerError::Artifact(m) => write!(f, "artifact error: {m}"),
            PeerError::Instantiate(m) => write!(f, "instantiation error: {m}"),
            PeerError::Trap(m) => write!(f, "trap: {m}"),
            PeerError::Unsupported(m) => write!(f, "unsupported: {m}"),
        }
    }
}

impl std::error::Error for PeerError {}

/// One engine in one configuration (compiler strategy, metering on or off).
pub trait Peer {
    /// A short stable label used in tables and plots, e.g. `"wasmtime-cranelift+fuel"`.
    fn label(&self) -> String;
    /// Whether this configuration meters execution (fuel, gas or points).
    fn metered(&self) -> bool;
    /// Called before each timed [`Peer::compile`], outside the timing: engines whose
    /// metering state is tied to one module (Wasmer's metering middleware) start afresh.
    fn before_compile(&mut self) {}
    /// Validates and compiles `wasm` (the whole pipeline a node would run on deploy).
    fn compile(&mut self, wasm: &[u8]) -> Result<Box<dyn PeerModule>, PeerError>;
    /// Whether [`PeerModule::serialize`] and [`Peer::load`] exist for this engine.
    fn has_artifacts(&self) -> bool;
    /// Loads a module from bytes produced by [`PeerModule::serialize`] of the same
    /// configuration. Artifacts are trusted input (they come from this process).
    fn load(&mut self, artifact: &[u8]) -> Result<Box<dyn PeerModule>, PeerError>;
    /// The clock [`Peer::compile`] is timed on: process CPU time unless the configuration
    /// compiles on several threads to finish sooner.
    fn compile_clock(&self) -> measure::Clock {
        measure::Clock::ProcessCpu
    }
    /// Whether only compilation is measured (a configuration that differs from another one
    /// only in how it compiles).
    fn compile_only(&self) -> bool {
        false
    }
}

/// Labels of configurations that give an extra figure rather than a compared engine: kept
/// out of the ratio tables, the plot and every absolute table but compile throughput.
pub const EXTRA_FIGURES: [&str; 3] = [keel::KEEL_2THREADS, wasmtime::WINCH_2THREADS, wasmer::WASMER_2THREADS];

/// A compiled module of one [`Peer`].
pub trait PeerModule {
    /// The engine's serialized artifact (machine code plus metadata), bytes.
    fn serialize(&self) -> Result<Vec<u8>, PeerError>;
    /// Instantiates the module against the benchmark host, with `input` as the call data
    /// `env.input` returns. Metered configurations start with (practically) unlimited fuel.
    fn instantiate(&self, input: &[u8]) -> Result<Box<dyn PeerInstance>, PeerError>;
}

/// An instance of a [`PeerModule`].
pub trait PeerInstance {
    /// Calls export `name` with `args` (each converted to the parameter's type: `i32`
    /// truncates, floats take the bits) and returns the results as 64-bit patterns.
    /// Refuels metered configurations before the call.
    fn call(&mut self, name: &str, args: &[i64]) -> Result<Vec<i64>, PeerError>;
    /// The last data the module passed to `env.return_value` (empty if none).
    fn return_data(&self) -> Vec<u8>;
}

/// What a stub host function does, by import name (module `"env"`, ABI of `specs/abi.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostStub {
    /// `input(out_ptr, out_cap) -> len`: copy the call data, return its full length.
    Input,
    /// `return_value(ptr, len)`: record the bytes as return data.
    ReturnValue,
    /// `revert(ptr, len)`: trap with the message.
    Revert,
    /// Anything else: return zeros.
    Zero,
}

impl HostStub {
    /// The stub for import `module`.`name`.
    pub fn for_import(module: &str, name: &str) -> HostStub {
        match (module, name) {
            ("env", "input") => HostStub::Input,
            ("env", "return_value") => HostStub::ReturnValue,
            ("env", "revert") => HostStub::Revert,
            _ => HostStub::Zero,
        }
    }
}

/// Fuel, gas or points given to metered configurations before each call: enough for any
/// workload here, far from any overflow.
pub const FUEL: u64 = 1 << 60;

/// Every configuration compared, Keel (metered) first: the baseline of every ratio, and
/// the extra two-thread figures ([`EXTRA_FIGURES`]). Keel validates against the
/// permissive profile if `permissive`, else the chain profile.
///
/// Errors: an engine that cannot be created on this machine (message names it).
pub fn all_peers(permissive: bool) -> Result<Vec<Box<dyn Peer>>, PeerError> {
    use self::wasmi::WasmiMode;
    use self::wasmtime::Strategy;
    let mut peers: Vec<Box<dyn Peer>> = vec![
        Box::new(keel::KeelPeer::new(true, permissive)?),
        Box::new(keel::KeelPeer::new(false, permissive)?),
        Box::new(keel::KeelPeer::two_threads(permissive)?),
    ];
    for strategy in [Strategy::Cranelift, Strategy::Winch] {
        for fuel in [true, false] {
            peers.push(Box::new(wasmtime::WasmtimePeer::new(strategy, fuel)?));
        }
    }
    peers.push(Box::new(wasmtime::WasmtimePeer::winch_two_threads()?));
    for metering in [true, false] {
        peers.push(Box::new(wasmer::WasmerPeer::new(metering)));
    }
    peers.push(Box::new(wasmer::WasmerPeer::two_threads()));
    for mode in [WasmiMode::Eager, WasmiMode::Lazy] {
        for fuel in [true, false] {
            peers.push(Box::new(wasmi::WasmiPeer::new(mode, fuel)));
        }
    }
    Ok(peers)
}

#[cfg(test)]
mod tests {
    use super::workloads::{Exec, Workload};
    use super::*;

    #[test]
    fn every_engine_runs_a_kernel_and_a_contract_with_the_same_outcome() {
        let fib = crate::kernels::FIB.wasm().expect("fib parses");
        let verifier = Workload::Contract("ed25519_verifier".into()).wasm().expect("contract binary present");
        let (export, input, args) = Exec::Ed25519VerifyMany.call(2);
        let peers = all_peers(false).expect("engines");
        assert_eq!(peers.len(), 15);
        for mut peer in peers {
            let label = peer.label();
            peer.before_compile();
            let module = peer.compile(&fib).unwrap_or_else(|e| panic!("{label}: {e}"));
            let mut inst = module.instantiate(&[]).unwrap_or_else(|e| panic!("{label}: {e}"));
            assert_eq!(inst.call("run", &[20]), Ok(vec![6765]), "{label}");
            if peer.has_artifacts() {
                let loaded = peer.load(&module.serialize().expect("serializes")).expect("loads");
                assert_eq!(loaded.instantiate(&[]).and_then(|mut i| i.call("run", &[21])), Ok(vec![10946]), "{label}");
            } else {
                assert!(matches!(module.serialize(), Err(PeerError::Unsupported(_))), "{label}");
            }
            peer.before_compile();
            let module = peer.compile(&verifier).unwrap_or_else(|e| panic!("{label}: {e}"));
            let mut inst = module.instantiate(&input).unwrap_or_else(|e| panic!("{label}: {e}"));
            assert_eq!(inst.call(export, &args), Ok(vec![]), "{label}");
            // SCALE u32 2: both verifications succeeded.
            assert_eq!(inst.return_data(), vec![2, 0, 0, 0], "{label}");
        }
    }

    #[test]
    fn simd_is_rejected_by_keel_and_accepted_by_cranelift() {
        let simd = wat::parse_str("(module (func (export \"f\") (result v128) v128.const i64x2 1 2))").expect("parses");
        let mut peers = all_peers(true).expect("engines");
        let keel = peers.iter_mut().find(|p| p.label() == "keel").expect("keel");
        assert!(matches!(keel.compile(&simd), Err(PeerError::Rejected(_))));
        let cranelift = peers.iter_mut().find(|p| p.label() == "wasmtime-cranelift").expect("cranelift");
        assert!(cranelift.compile(&simd).is_ok());
    }
}
