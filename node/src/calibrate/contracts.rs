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
    /// Median wall time of the call, ns.
    pub ns: f64,
    /// `ns / gas`.
    pub ns_per_gas: f64,
}

fn contract_address(file: &str) -> Address {
    Address(*blake3::hash(file.as_bytes()).as_bytes())
}

/// Runs `export` with host `data`; returns its time (ns), gas used and the final state
/// (`spare` takes its place in the dropped store).
fn run_export<'db>(
    engine: &Engine,
    module: &Module,
    data: HostData<'db>,
    export: &str,
    spare: WorkingState<'db>,
) -> Result<(f64, u64, WorkingState<'db>), CalibrateError> {
    let linker = host::linker();
    let mut r = Runner::new(engine, module, &linker, data)?;
    let (t, out, gas) = r.call_export(export, CALL_GAS_LIMIT)?;
    if let Some(msg) = &r.data().reverted {
        return Err(CalibrateError::Contract(format!("{export} reverted: {}", String::from_utf8_lossy(msg))));
    }
    out.map_err(|e| CalibrateError::Contract(format!("{export}: {e}")))?;
    let state = std::mem::replace(&mut r.data_mut().state, spare);
    Ok((t.as_secs_f64() * 1e9, gas, state))
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
        let (_, _, deployed) = run_export(&engine, &module, deploy_host, "deploy", fresh()?)
            .map_err(|e| CalibrateError::Contract(format!("{}: {e}", sc.file)))?;
        let changes: StateChanges = deployed.into_changes();
        let mut times = Vec::new();
        let mut gas = 0;
        for _ in 0..samples.max(1) {
            let view = state.db.latest().map_err(CalibrateError::state)?;
            let ws = WorkingState::with_changes(view, changes.clone());
            let h = HostData::new(ws, table.clone(), addr, CALLER, sc.call.clone());
            let (t, g, _) = run_export(&engine, &module, h, "call", fresh()?)
                .map_err(|e| CalibrateError::Contract(format!("{} {}: {e}", sc.file, sc.label)))?;
            times.push(t);
            gas = g;
        }
        let ns = median(&mut times);
        out.push(ContractRun {
            file: sc.file.to_string(),
            label: sc.label,
            gas,
            ns,
            ns_per_gas: if gas > 0 { ns / gas as f64 } else { f64::NAN },
        });
    }
    Ok(out)
}
