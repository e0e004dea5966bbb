//! The contract lab: a RocksDB state in a temporary directory and the node's contract
//! runtime ([`Runtime`]), for timing whole frames exactly as block execution runs them.
//!
//! Contracts are installed with [`Runtime::deploy`] and committed as a block (so later
//! reads go through RocksDB, with a warm cache, like on a node); every timed call then runs
//! [`Runtime::call`] on a fresh [`WorkingState`] of that committed state, so each sample does
//! the same work.

use std::time::Duration;

use keel_engine::Config;
use keel_metering::{CostTable, OpClass};

use super::measure::{self, median, Clock, Sampling, Timing};
use super::CalibrateError;
use crate::chain::ReceiptStatus;
use crate::runtime::{BlockEnv, CallParams, DeployParams, Outcome, Runtime};
use crate::state::{Account, Address, StateDb, WorkingState};

/// The account every lab frame is called (and contracts deployed) by.
pub const CALLER: Address = Address([0xCA; 32]);
/// Gas limit of a lab frame.
pub const FRAME_GAS_LIMIT: u64 = 1 << 50;
/// Balance given to every installed contract and to [`CALLER`].
pub const RICH: u128 = u128::MAX / 4;

/// One contract to install.
pub struct Install {
    /// Where it is deployed.
    pub address: Address,
    /// Its module.
    pub code: Vec<u8>,
    /// Constructor call data.
    pub input: Vec<u8>,
    /// Storage entries written after deployment (key, value).
    pub storage: Vec<(Vec<u8>, Vec<u8>)>,
    /// Calls made after every deployment of the batch, by [`CALLER`] (setup such as an
    /// ERC-20 approval); each must succeed.
    pub setup_calls: Vec<Vec<u8>>,
}

/// A state database plus runtimes: one charging the evaluated table (for timing and gas)
/// and one per operator class charging only that class (for counting).
pub struct Lab {
    _dir: tempfile::TempDir,
    /// The database.
    pub db: StateDb,
    /// The runtime charging the evaluated table.
    pub rt: Runtime,
    counters: Vec<Runtime>,
    /// Block values seen by contracts.
    pub env: BlockEnv,
}

impl Lab {
    /// A fresh database holding [`CALLER`] (rich), the account `0xAD…` (balance 1) and
    /// `filler` storage entries of an unrelated contract (a trie of realistic depth),
    /// committed as block 0.
    ///
    /// Errors: temporary directory, RocksDB or runtime configuration failures.
    pub fn new(current: &CostTable, filler: usize) -> Result<Lab, CalibrateError> {
        let dir = tempfile::tempdir().map_err(|e| CalibrateError::Setup(format!("tempdir: {e}")))?;
        let db = StateDb::open(dir.path()).map_err(CalibrateError::state)?;
        let runtime = |t: CostTable| {
            Runtime::new(Config { cost_table: t, ..Config::default() })
                .map_err(|e| CalibrateError::Setup(format!("runtime: {e}")))
        };
        let rt = runtime(current.clone())?;
        let counters = OpClass::ALL
            .iter()
            .map(|c| runtime(measure::one_hot_table(current, Some(*c))?))
            .collect::<Result<Vec<_>, _>>()?;
        {
            let mut w = db.working().map_err(CalibrateError::state)?;
            w.set_account(&CALLER, &Account { balance: RICH, nonce: 0, code_hash: None });
            w.set_account(&Address([0xAD; 32]), &Account { balance: 1, nonce: 0, code_hash: None });
            let filler_contract = Address([0xF1; 32]);
            for i in 0..filler {
                let key = blake3::hash(&(i as u64).to_le_bytes());
                let value: Vec<u8> = key.as_bytes().repeat(2);
                w.storage_write(&filler_contract, key.as_bytes(), value).map_err(CalibrateError::state)?;
            }
            db.commit_block(0, w.changes(), b"calibration genesis").map_err(CalibrateError::state)?;
        }
        Ok(Lab { _dir: dir, db, rt, counters, env: BlockEnv { height: 1, timestamp_ms: 1_700_000_000_000 } })
    }

    /// Deploys `items`, makes every contract rich, writes their storage, runs the setup
    /// calls, and commits all of it as the next block.
    ///
    /// Errors: [`CalibrateError::Contract`] if a deployment or setup call does not succeed.
    pub fn install(&self, items: &[Install]) -> Result<(), CalibrateError> {
        let mut w = self.db.working().map_err(CalibrateError::state)?;
        for it in items {
            let out = self
                .rt
                .deploy(
                    &mut w,
                    &self.env,
                    DeployParams {
                        deployer: CALLER,
                        address: it.address,
                        code: it.code.clone(),
                        input: it.input.clone(),
                        value: 0,
                        gas_limit: FRAME_GAS_LIMIT,
                    },
                )
                .map_err(|e| CalibrateError::Contract(format!("deploy {:?}: {e}", it.address)))?;
            if out.status != ReceiptStatus::Success {
                return Err(CalibrateError::Contract(format!("deploy {:?}: {:?}", it.address, out.status)));
            }
            let mut acc = w.account(&it.address).map_err(CalibrateError::state)?;
            acc.balance = RICH;
            w.set_account(&it.address, &acc);
            for (k, v) in &it.storage {
                w.storage_write(&it.address, k, v.clone()).map_err(CalibrateError::state)?;
            }
        }
        for it in items {
            for input in &it.setup_calls {
                let out = call_in(&self.rt, &mut w, &self.env, it.address, input.clone())?;
                if out.status != ReceiptStatus::Success {
                    return Err(CalibrateError::Contract(format!("setup call of {:?}: {:?}", it.address, out.status)));
                }
            }
        }
        let h = self.db.next_height().map_err(CalibrateError::state)?;
        self.db.commit_block(h, w.changes(), b"calibration contracts").map_err(CalibrateError::state)?;
        Ok(())
    }

    /// A fresh working state on the latest committed state.
    pub fn working(&self) -> Result<WorkingState<'_>, CalibrateError> {
        self.db.working().map_err(CalibrateError::state)
    }

    /// Times one call of `contract` by [`CALLER`] with `input` on a fresh working state
    /// (thread CPU time of the call alone); returns the time and the outcome.
    ///
    /// Errors: [`CalibrateError::Contract`] if the runtime refuses the call.
    pub fn timed_call(&self, contract: Address, input: &[u8]) -> Result<(Duration, Outcome), CalibrateError> {
        let mut w = self.working()?;
        let start = Clock::now();
        let out = call_in(&self.rt, &mut w, &self.env, contract, input.to_vec())?;
        Ok((start.elapsed(), out))
    }

    /// Per-iteration operator counts by class (in [`OpClass::ALL`] order) of a loop
    /// contract whose call data is the iteration count ([`iterations_input`]).
    pub fn loop_counts(&self, contract: Address, pad: usize) -> Result<[f64; OpClass::ALL.len()], CalibrateError> {
        let mut counts = [0.0; OpClass::ALL.len()];
        for (i, rt) in self.counters.iter().enumerate() {
            let mut gas = [0u64; 2];
            for (j, n) in [1u32, 2].into_iter().enumerate() {
                let mut w = self.working()?;
                let out = call_in(rt, &mut w, &self.env, contract, iterations_input(n, pad))?;
                expect_success(&out)?;
                gas[j] = out.gas_used;
            }
            counts[i] = gas[1].saturating_sub(gas[0]) as f64;
        }
        Ok(counts)
    }

    /// Times a loop contract against a baseline loop contract (both take the iteration
    /// count as call data): median over `samples` pairs of the per-iteration difference.
    /// `max_iterations` bounds the count (e.g. by the events-per-transaction limit).
    pub fn time_loop_pair(
        &self,
        bench: Address,
        baseline: Address,
        pad: usize,
        sampling: &Sampling,
    ) -> Result<Timing, CalibrateError> {
        let mut n: u32 = 1;
        loop {
            let (d, out) = self.timed_call(bench, &iterations_input(n, pad))?;
            expect_success(&out)?;
            if d >= sampling.target || n >= sampling.max_iterations {
                break;
            }
            n = (n.saturating_mul(2)).min(sampling.max_iterations);
        }
        let mut diffs = Vec::with_capacity(sampling.samples);
        for _ in 0..sampling.samples.max(1) {
            let (tb, ob) = self.timed_call(bench, &iterations_input(n, pad))?;
            let (t0, o0) = self.timed_call(baseline, &iterations_input(n, 0))?;
            expect_success(&ob)?;
            expect_success(&o0)?;
            diffs.push((tb.as_secs_f64() - t0.as_secs_f64()) * 1e9 / n as f64);
        }
        let ns = median(&mut diffs);
        let mut dev: Vec<f64> = diffs.iter().map(|d| (d - ns).abs()).collect();
        Ok(Timing { ns, mad: median(&mut dev), iterations: n })
    }
}

fn call_in(rt: &Runtime, w: &mut WorkingState<'_>, env: &BlockEnv, contract: Address, input: Vec<u8>) -> Result<Outcome, CalibrateError> {
    rt.call(w, env, CallParams { caller: CALLER, contract, input, value: 0, gas_limit: FRAME_GAS_LIMIT })
        .map_err(|e| CalibrateError::Contract(format!("call {contract:?}: {e}")))
}

/// Checks that a frame succeeded.
pub fn expect_success(out: &Outcome) -> Result<(), CalibrateError> {
    match &out.status {
        ReceiptStatus::Success => Ok(()),
        ReceiptStatus::Revert(m) => Err(CalibrateError::Contract(format!("reverted: {}", String::from_utf8_lossy(m)))),
        other => Err(CalibrateError::Contract(format!("{other:?}"))),
    }
}

/// Call data of a loop contract: the iteration count (u32 LE), then `pad` zero bytes (the
/// `input` benchmark measures reading call data of a given size).
pub fn iterations_input(n: u32, pad: usize) -> Vec<u8> {
    let mut v = n.to_le_bytes().to_vec();
    v.resize(4 + pad, 0);
    v
}
