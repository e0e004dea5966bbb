//! Whole example-contract calls: gas used under the current table against wall time, to
//! see whether real code (compiled Rust and C, crates nobody here wrote) gets the same
//! nanoseconds per gas as the microbenchmarks.
//!
//! Each contract of `contracts/wasm` is deployed once through the calibration host
//! ([`super::host`]); every scenario then runs its `call` on a fresh working state holding
//! the deployment, so each sample does the same work. Only the call itself is timed (the
//! instance is created beforehand: instantiation is not metered by gas).

use std::path::Path;
use std::sync::Arc;

use ed25519_dalek::{Signer, SigningKey};
use keel_engine::{Engine, Module};
use keel_metering::CostTable;
use parity_scale_codec::Encode;

use super::host::{self, HostData};
use super::hostbench::{BenchState, CALLER};
use super::measure::{self, median, Runner};
use super::CalibrateError;
use crate::state::{Address, StateChanges, WorkingState};

/// Gas limit of one contract call.
pub const CALL_GAS_LIMIT: u64 = 5_000_000_000;

/// One call of one example contract.
pub struct Scenario {
    /// File in `contracts/wasm`.
    pub file: &'static str,
    /// Constructor call data.
    pub deploy: Vec<u8>,
    /// Label in the report (method and arguments in brief).
    pub label: String,
    /// Call data.
    pub call: Vec<u8>,
}

/// The scenarios (escrow is absent: it needs `call_contract` to run a callee, which the
/// calibration host does not do).
pub fn scenarios() -> Vec<Scenario> {
    let to = [0x22u8; 32];
    let sk = SigningKey::from_bytes(&[9; 32]);
    let pk = sk.verifying_key().to_bytes();
    let msg = b"keel calibration message".to_vec();
    let sig = sk.sign(&msg).to_bytes();
    let token_deploy = ("Keel Token".to_string(), "KEEL".to_string(), 1_000_000_000u128).encode();
    let data = vec![0xABu8; 64];
    let s = |file, deploy: &Vec<u8>, label: &str, call: Vec<u8>| Scenario {
        file,
        deploy: deploy.clone(),
        label: label.to_string(),
        call,
    };
    let none: Vec<u8> = Vec::new();
    let zero = 0u64.encode();
    vec![
        s("counter.wasm", &zero, "increment(5)", ("increment", 5u64).encode()),
        s("counter.wasm", &zero, "get()", "get".encode()),
        s("c_counter.wasm", &zero, "increment(5)", ("increment", 5u64).encode()),
        s("token.wasm", &token_deploy, "transfer(to, 100)", ("transfer", to, 100u128).encode()),
        s("token.wasm", &token_deploy, "approve(spender, 100)", ("approve", to, 100u128).encode()),
        s("token.wasm", &token_deploy, "balance_of(deployer)", ("balance_of", CALLER.0).encode()),
        s("registry.wasm", &none, "register(\"alice\")", ("register", "alice".to_string()).encode()),
        s("sha2_hasher.wasm", &none, "sha256(64 B, 100 rounds)", ("sha256", data.clone(), 100u32).encode()),
        s("sha2_hasher.wasm", &none, "blake3_host(64 B, 100 rounds)", ("blake3_host", data, 100u32).encode()),
        s("ed25519_verifier.wasm", &none, "verify (in wasm)", ("verify", pk, msg.clone(), sig).encode()),
        s("ed25519_verifier.wasm", &none, "verify_host", ("verify_host", pk, msg, sig).encode()),
    ]
}

/// One scenario's result.
#[derive(Debug, Clone, PartialEq)]
pub struct ContractRun {
    /// Contract file.
    pub file: String,
    /// Scenario label.
    pub label: String,
    /// Gas used by the call under the current table.
    pub gas: u64,
    /// Median wall time of the call on a fresh instance (as the chain runs it), ns.
    pub ns: f64,
    /// `ns / gas`.
    pub ns_per_gas: f64,
    /// Median wall time of the same call repeated on the same instance (memory and stack
    /// pages already touched), ns: `ns - warm_ns` is per-frame work that gas does not meter.
    /// `None` when the repeat reverts (e.g. registering the same name twice).
    pub warm_ns: Option<f64>,
    /// `warm_ns / gas` of the repeated call.
    pub warm_ns_per_gas: Option<f64>,
}

fn contract_address(file: &str) -> Address {
    Address(*blake3::hash(file.as_bytes()).as_bytes())
}

/// One timed call: wall time (ns) and gas used.
#[derive(Debug, Clone, Copy)]
struct Timed {
    ns: f64,
    gas: u64,
}

/// Runs `export` with host `data` on a fresh instance (cold), then, with `warm`, once more
/// on the same instance (its memory already touched). Returns the timings and the final
/// state (`spare` takes its place in the dropped store).
fn run_export<'db>(
    engine: &Engine,
    module: &Module,
    data: HostData<'db>,
    export: &str,
    warm: bool,
    spare: WorkingState<'db>,
) -> Result<(Timed, Option<Timed>, WorkingState<'db>), CalibrateError> {
    let linker = host::linker();
    let mut r = Runner::new(engine, module, &linker, data)?;
    let once = |r: &mut Runner<HostData<'db>>| -> Result<Timed, CalibrateError> {
        let (t, out, gas) = r.call_export(export, CALL_GAS_LIMIT)?;
        if let Some(msg) = &r.data().reverted {
            return Err(CalibrateError::Contract(format!("{export} reverted: {}", String::from_utf8_lossy(msg))));
        }
        out.map_err(|e| CalibrateError::Contract(format!("{export}: {e}")))?;
        let d = r.data_mut();
        d.return_data.clear();
        d.events.clear();
        Ok(Timed { ns: t.as_secs_f64() * 1e9, gas })
    };
    let cold = once(&mut r)?;
    // A repeat may legitimately revert (registering a name twice): then there is no warm time.
    let warm = if warm { once(&mut r).ok() } else { None };
    let state = std::mem::replace(&mut r.data_mut().state, spare);
    Ok((cold, warm, state))
}

/// Runs every scenario whose contract is in `dir`; scenarios whose file is missing are
/// skipped. `progress` gets each label.
///
/// Errors: a contract that fails to compile, deploy or run its scenario
/// ([`CalibrateError::Contract`]), or state/engine failures.
pub fn measure_contracts(
    dir: &Path,
    state: &BenchState,
    current: &CostTable,
    samples: usize,
    mut progress: impl FnMut(&str),
) -> Result<Vec<ContractRun>, CalibrateError> {
    let table = Arc::new(current.clone());
    let engine = measure::engine_with(current.clone())?;
    let mut out = Vec::new();
    for sc in scenarios() {
        let path = dir.join(sc.file);
        let Ok(wasm) = std::fs::read(&path) else { continue };
        progress(&format!("{} {}", sc.file, sc.label));
        let module = Module::new(&engine, &wasm)
            .map_err(|e| CalibrateError::Contract(format!("{}: compile: {e}", path.display())))?;
        let addr = contract_address(sc.file);
        let fresh = || -> Result<WorkingState<'_>, CalibrateError> { state.db.working().map_err(CalibrateError::state) };
        let deploy_host = HostData::new(fresh()?, table.clone(), addr, CALLER, sc.deploy.clone());
        let (_, _, deployed) = run_export(&engine, &module, deploy_host, "deploy", false, fresh()?)
            .map_err(|e| CalibrateError::Contract(format!("{}: {e}", sc.file)))?;
        let changes: StateChanges = deployed.into_changes();
        let (mut cold, mut warm) = (Vec::new(), Vec::new());
        let (mut gas, mut warm_gas) = (0, 0);
        for _ in 0..samples.max(1) {
            let view = state.db.latest().map_err(CalibrateError::state)?;
            let ws = WorkingState::with_changes(view, changes.clone());
            let h = HostData::new(ws, table.clone(), addr, CALLER, sc.call.clone());
            let (c, w, _) = run_export(&engine, &module, h, "call", true, fresh()?)
                .map_err(|e| CalibrateError::Contract(format!("{} {}: {e}", sc.file, sc.label)))?;
            cold.push(c.ns);
            gas = c.gas;
            if let Some(w) = w {
                warm.push(w.ns);
                warm_gas = w.gas;
            }
        }
        let ns = median(&mut cold);
        let warm_ns = (!warm.is_empty()).then(|| median(&mut warm));
        let per = |ns: f64, gas: u64| if gas > 0 { ns / gas as f64 } else { f64::NAN };
        out.push(ContractRun {
            file: sc.file.to_string(),
            label: sc.label,
            gas,
            ns,
            ns_per_gas: per(ns, gas),
            warm_ns,
            warm_ns_per_gas: warm_ns.map(|w| per(w, warm_gas)),
        });
    }
    Ok(out)
}
