//! Host-function benchmarks: time per call at several sizes, fitted as
//! `base + per_byte × metered bytes` (the form of `[host.NAME]`, `specs/abi.md` §3.1).
//!
//! Each benchmark module imports one host function and calls it `HOST_CALLS_PER_ITERATION`
//! times per loop iteration with constant arguments; the baseline is the same loop with no
//! calls (and no imports). The wasm operators around each call (argument constants, the
//! `call`, a `drop`) are counted exactly with one-hot cost tables and their time, known from
//! the class solve, is subtracted, so what remains is the host function alone, including
//! the wasm-to-host transition.
//!
//! State: a fresh RocksDB [`StateDb`] in a temporary directory, with a block committed that
//! holds the contract's account, one storage entry per measured value size and
//! `filler_entries` more, so reads go through RocksDB like on a node (with a warm cache).
//! `storage_write` is also charged its share of the block commit (trie update and RocksDB
//! batch), measured separately by [`measure_commit`], since that is where a write's cost
//! is actually paid.

use std::sync::Arc;
use std::time::Instant;

use ed25519_dalek::{Signer, SigningKey};
use keel_engine::{Linker, Module};
use keel_metering::CostTable;

use super::host::{self, HostData};
use super::measure::{self, median, Runner, Sampling};
use super::{fit, CalibrateError};
use crate::state::{Account, Address, StateChanges, StateDb};

/// Host calls per loop iteration.
pub const HOST_CALLS_PER_ITERATION: usize = 8;

/// The contract address every host benchmark runs as.
pub const CONTRACT: Address = Address([0xC0; 32]);
/// The caller address of every host benchmark.
pub const CALLER: Address = Address([0xCA; 32]);

// Memory layout of a host benchmark module.
const KEY: u64 = 0;
const ADDR: u64 = 64;
const AMOUNT: u64 = 96;
const TOPICS: u64 = 128;
const SIG: u64 = 256;
const PUBKEY: u64 = 320;
const OUT_LEN: u64 = 384;
const DATA: u64 = 65_536;
const OUT: u64 = 131_072;

/// One host function to measure.
struct HostSpec {
    name: &'static str,
    /// wasm signature, as WAT `(param ...) (result ...)`.
    sig: &'static str,
    /// Sizes (bytes) measured; a single size for fixed-size functions.
    sizes: &'static [u32],
    /// The call, for one size.
    call: fn(u32) -> String,
    /// Metered bytes of one call at a size (`specs/abi.md` §5).
    metered: fn(u32) -> u64,
}

fn specs() -> Vec<HostSpec> {
    vec![
        HostSpec {
            name: "input",
            sig: "(param i32 i32) (result i32)",
            sizes: &[0, 1_024, 16_384, 65_536],
            call: |_| format!("i32.const {OUT} i32.const 65536 call $f drop"),
            metered: |n| n as u64,
        },
        HostSpec {
            name: "return_value",
            sig: "(param i32 i32)",
            sizes: &[0, 1_024, 16_384, 65_536],
            call: |n| format!("i32.const {DATA} i32.const {n} call $f"),
            metered: |n| n as u64,
        },
        HostSpec {
            name: "caller",
            sig: "(param i32)",
            sizes: &[32],
            call: |_| format!("i32.const {OUT} call $f"),
            metered: |_| 32,
        },
        HostSpec {
            name: "self_address",
            sig: "(param i32)",
            sizes: &[32],
            call: |_| format!("i32.const {OUT} call $f"),
            metered: |_| 32,
        },
        HostSpec { name: "block_height", sig: "(result i64)", sizes: &[0], call: |_| "call $f drop".into(), metered: |_| 0 },
        HostSpec {
            name: "block_timestamp",
            sig: "(result i64)",
            sizes: &[0],
            call: |_| "call $f drop".into(),
            metered: |_| 0,
        },
        HostSpec {
            name: "balance",
            sig: "(param i32 i32)",
            sizes: &[48],
            call: |_| format!("i32.const {ADDR} i32.const {OUT} call $f"),
            metered: |_| 48,
        },
        HostSpec {
            name: "transfer",
            sig: "(param i32 i32) (result i32)",
            sizes: &[48],
            call: |_| format!("i32.const {ADDR} i32.const {AMOUNT} call $f drop"),
            metered: |_| 48,
        },
        HostSpec {
            name: "storage_read",
            sig: "(param i32 i32 i32 i32) (result i32)",
            sizes: &[0, 1_024, 16_384, 65_536],
            call: |_| format!("i32.const {KEY} i32.const 32 i32.const {OUT} i32.const 65536 call $f drop"),
            metered: |n| 32 + n as u64,
        },
        HostSpec {
            name: "storage_write",
            sig: "(param i32 i32 i32 i32) (result i32)",
            sizes: &[0, 1_024, 16_384, 65_536],
            call: |n| format!("i32.const {KEY} i32.const 32 i32.const {DATA} i32.const {n} call $f drop"),
            metered: |n| 32 + n as u64,
        },
        HostSpec {
            name: "storage_remove",
            sig: "(param i32 i32) (result i32)",
            sizes: &[32],
            call: |_| format!("i32.const {KEY} i32.const 32 call $f drop"),
            metered: |_| 32,
        },
        HostSpec {
            name: "storage_has",
            sig: "(param i32 i32) (result i32)",
            sizes: &[32],
            call: |_| format!("i32.const {KEY} i32.const 32 call $f drop"),
            metered: |_| 32,
        },
        HostSpec {
            name: "emit_event",
            sig: "(param i32 i32 i32 i32)",
            sizes: &[0, 1_024, 16_384],
            call: |n| format!("i32.const {TOPICS} i32.const 4 i32.const {DATA} i32.const {n} call $f"),
            metered: |n| 128 + n as u64,
        },
        HostSpec {
            name: "call_contract",
            sig: "(param i32 i32 i64 i32 i32 i32 i32 i32) (result i32)",
            sizes: &[0, 1_024, 16_384],
            call: |n| {
                format!(
                    "i32.const {ADDR} i32.const {AMOUNT} i64.const 100000 i32.const {DATA} i32.const {n} \
                     i32.const {OUT} i32.const 0 i32.const {OUT_LEN} call $f drop"
                )
            },
            metered: |n| 52 + n as u64,
        },
        HostSpec {
            name: "blake3",
            sig: "(param i32 i32 i32)",
            sizes: &[0, 1_024, 16_384, 65_536],
            call: |n| format!("i32.const {DATA} i32.const {n} i32.const {OUT} call $f"),
            metered: |n| 32 + n as u64,
        },
        HostSpec {
            name: "ed25519_verify",
            sig: "(param i32 i32 i32 i32) (result i32)",
            sizes: &[0, 1_024, 16_384],
            call: |n| format!("i32.const {SIG} i32.const {PUBKEY} i32.const {DATA} i32.const {n} call $f drop"),
            metered: |n| 96 + n as u64,
        },
    ]
}

/// Names of the host functions [`measure_hosts`] measures; `revert` is measured per frame
/// by [`measure_revert`].
pub fn measured_names() -> Vec<&'static str> {
    specs().iter().map(|s| s.name).chain(["revert"]).collect()
}

fn host_wat(name: &str, sig: &str, call: &str, calls: usize) -> String {
    let body = if calls == 0 { String::new() } else { vec![call; calls].join("\n") + "\n" };
    format!(
        r#"(module
  (import "env" "{name}" (func $f {sig}))
  (memory (export "memory") 4)
  (func (export "run") (param $n i32) (result i64)
    (block $exit
      local.get $n i32.eqz br_if $exit
      (loop $l
{body}        local.get $n i32.const 1 i32.sub local.tee $n br_if $l))
    i64.const 0))
"#
    )
}

/// The storage key used for values of `size` bytes (32 bytes).
fn key_for(size: u32) -> [u8; 32] {
    let mut k = [b'k'; 32];
    k[..4].copy_from_slice(&size.to_le_bytes());
    k
}

/// Deterministic filler bytes.
fn pattern(n: usize, seed: u8) -> Vec<u8> {
    (0..n).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)).collect()
}

/// A state database in a temporary directory holding the benchmark contract, its storage
/// and `filler` extra entries (committed as block 0).
pub struct BenchState {
    /// Keeps the directory alive for as long as the database is open.
    _dir: tempfile::TempDir,
    /// The database.
    pub db: StateDb,
}

impl BenchState {
    /// Creates and fills the database.
    ///
    /// Errors: [`CalibrateError::Setup`] if the temporary directory or RocksDB fails.
    pub fn new(filler: usize) -> Result<BenchState, CalibrateError> {
        let dir = tempfile::tempdir().map_err(|e| CalibrateError::Setup(format!("tempdir: {e}")))?;
        let db = StateDb::open(dir.path()).map_err(CalibrateError::state)?;
        let mut w = db.working().map_err(CalibrateError::state)?;
        w.set_account(&CONTRACT, &Account { balance: u128::MAX / 2, nonce: 0, code_hash: None });
        w.set_account(&Address([0xAD; 32]), &Account { balance: 1, nonce: 0, code_hash: None });
        let mut sizes: Vec<u32> = specs().iter().flat_map(|s| s.sizes.iter().copied()).collect();
        sizes.sort_unstable();
        sizes.dedup();
        for s in sizes {
            w.storage_write(&CONTRACT, &key_for(s), pattern(s as usize, 1)).map_err(CalibrateError::state)?;
        }
        for i in 0..filler {
            let key = blake3::hash(&(i as u64).to_le_bytes());
            w.storage_write(&CONTRACT, key.as_bytes(), pattern(64, i as u8)).map_err(CalibrateError::state)?;
        }
        db.commit_block(0, w.changes(), b"calibration genesis").map_err(CalibrateError::state)?;
        Ok(BenchState { _dir: dir, db })
    }

    /// Host data for a benchmark call: a fresh working state on the committed state.
    pub fn host(&self, table: &Arc<CostTable>, input: Vec<u8>) -> Result<HostData<'_>, CalibrateError> {
        let state = self.db.working().map_err(CalibrateError::state)?;
        let mut h = HostData::new(state, table.clone(), CONTRACT, CALLER, input);
        h.recycle_events = true;
        Ok(h)
    }
}

/// One host function's measurement at one size.
#[derive(Debug, Clone, PartialEq)]
pub struct HostPoint {
    /// Metered bytes of one call.
    pub bytes: u64,
    /// Time of one call, wasm operators around it subtracted (ns).
    pub ns: f64,
}

/// One host function's result.
#[derive(Debug, Clone, PartialEq)]
pub struct HostResult {
    /// `[host.NAME]` key.
    pub name: String,
    /// The measured points.
    pub points: Vec<HostPoint>,
    /// Fitted time per call, ns (`per_byte_ns` included for fixed-size functions: see
    /// [`HostResult::fixed_size`]).
    pub base_ns: f64,
    /// Fitted time per metered byte, ns (0 for fixed-size functions).
    pub per_byte_ns: f64,
    /// True if every call meters the same bytes, so base and per-byte cannot be separated.
    pub fixed_size: bool,
    /// A caveat printed in the report (e.g. work the harness does not do).
    pub note: Option<String>,
}

fn write_fixtures<T>(r: &mut Runner<T>, size: u32) -> Result<(), CalibrateError> {
    let sk = SigningKey::from_bytes(&[7; 32]);
    let msg = pattern(65_536, 3);
    let sig = sk.sign(&msg[..size.min(65_536) as usize]);
    r.write_memory(KEY, &key_for(size))?;
    r.write_memory(ADDR, &[0xAD; 32])?;
    r.write_memory(AMOUNT, &1u128.to_le_bytes())?;
    r.write_memory(TOPICS, &pattern(128, 9))?;
    r.write_memory(SIG, &sig.to_bytes())?;
    r.write_memory(PUBKEY, sk.verifying_key().as_bytes())?;
    r.write_memory(DATA, &msg)
}

/// Measures every host function but `revert`. `class_ns` is the solved time of one
/// operator of each class (in [`OpClass::ALL`] order).
pub fn measure_hosts(
    state: &BenchState,
    current: &CostTable,
    class_ns: &[f64],
    sampling: &Sampling,
    mut progress: impl FnMut(&str),
) -> Result<Vec<HostResult>, CalibrateError> {
    let table = Arc::new(current.clone());
    let zero = Arc::new(measure::zero_table(current)?);
    let engine = measure::engine_with(current.clone())?;
    let empty: Linker<()> = Linker::new();
    let hl = host::linker();
    let mut out = Vec::new();
    for spec in specs() {
        progress(spec.name);
        let mut points = Vec::new();
        for &size in spec.sizes {
            let call = (spec.call)(size);
            let wat = host_wat(spec.name, spec.sig, &call, HOST_CALLS_PER_ITERATION);
            let wasm = wat::parse_str(&wat).map_err(|e| CalibrateError::Setup(format!("{}: {e}", spec.name)))?;
            let base_wat = host_wat(spec.name, spec.sig, &call, 0).replace(
                &format!("(import \"env\" \"{}\" (func $f {}))", spec.name, spec.sig),
                "",
            );
            let base_wasm = wat::parse_str(&base_wat).map_err(|e| CalibrateError::Setup(e.to_string()))?;
            let input = pattern(size as usize, 5);
            let module = Module::new(&engine, &wasm).map_err(CalibrateError::engine("compile"))?;
            let base_module = Module::new(&engine, &base_wasm).map_err(CalibrateError::engine("compile"))?;
            let mut bench = Runner::new(&engine, &module, &hl, state.host(&table, input.clone())?)?;
            write_fixtures(&mut bench, size)?;
            let mut baseline = Runner::new(&engine, &base_module, &empty, ())?;
            let t = measure::time_pair(&mut bench, &mut baseline, sampling)?;
            // Operators around the calls: counted with one-hot tables and a gas-free host.
            let counts = measure::class_counts(current, &wasm, &hl, || state.host(&zero, input.clone()))?;
            let wasm_ns: f64 = counts.iter().zip(class_ns).map(|(c, ns)| c * ns).sum();
            points.push(HostPoint {
                bytes: (spec.metered)(size),
                ns: (t.ns - wasm_ns) / HOST_CALLS_PER_ITERATION as f64,
            });
        }
        let fixed_size = points.iter().all(|p| p.bytes == points[0].bytes);
        let (base_ns, per_byte_ns) = if fixed_size {
            (points.iter().map(|p| p.ns).sum::<f64>() / points.len() as f64, 0.0)
        } else {
            let xy: Vec<(f64, f64)> = points.iter().map(|p| (p.bytes as f64, p.ns)).collect();
            fit::linear_fit(&xy).ok_or_else(|| CalibrateError::Setup(format!("{}: no fit", spec.name)))?
        };
        let note = match spec.name {
            "call_contract" => Some(
                "host call only (checks, charges, NO_CONTRACT): the calibration host runs no callee; \
                 the callee's instantiation and execution are not measured"
                    .to_string(),
            ),
            "storage_remove" => Some("the same key each call: after the first call it is absent".to_string()),
            _ => None,
        };
        out.push(HostResult { name: spec.name.to_string(), points, base_ns, per_byte_ns, fixed_size, note });
    }
    Ok(out)
}

/// Measures `revert`: it ends the frame, so it is timed per whole call of an export that
/// reverts with `n` bytes, minus the same call returning normally.
pub fn measure_revert(
    state: &BenchState,
    current: &CostTable,
    sampling: &Sampling,
) -> Result<HostResult, CalibrateError> {
    let table = Arc::new(current.clone());
    let engine = measure::engine_with(current.clone())?;
    let hl = host::linker();
    let mut points = Vec::new();
    let calls = (sampling.target.as_secs_f64() / 2e-6).clamp(10.0, 20_000.0) as usize;
    for size in [0u32, 256, 1_024] {
        let wat = format!(
            r#"(module
  (import "env" "revert" (func $f (param i32 i32)))
  (memory (export "memory") 4)
  (func (export "revert") i32.const {DATA} i32.const {size} call $f)
  (func (export "ok") i32.const {DATA} i32.const {size} drop drop))
"#
        );
        let wasm = wat::parse_str(&wat).map_err(|e| CalibrateError::Setup(e.to_string()))?;
        let module = Module::new(&engine, &wasm).map_err(CalibrateError::engine("compile"))?;
        let mut r = Runner::new(&engine, &module, &hl, state.host(&table, Vec::new())?)?;
        let mut diffs = Vec::new();
        for _ in 0..sampling.samples.max(1) {
            let mut t = [0.0f64; 2];
            for (i, export) in ["revert", "ok"].iter().enumerate() {
                let start = Instant::now();
                for _ in 0..calls {
                    let (_, out, _) = r.call_export(export, measure::BENCH_GAS_LIMIT)?;
                    std::hint::black_box(out.is_ok());
                }
                t[i] = start.elapsed().as_secs_f64();
            }
            diffs.push((t[0] - t[1]) * 1e9 / calls as f64);
        }
        if r.data().reverted.is_none() {
            return Err(CalibrateError::Setup("revert benchmark did not revert".into()));
        }
        points.push(HostPoint { bytes: size as u64, ns: median(&mut diffs) });
    }
    let xy: Vec<(f64, f64)> = points.iter().map(|p| (p.bytes as f64, p.ns)).collect();
    let (base_ns, per_byte_ns) = fit::linear_fit(&xy).ok_or_else(|| CalibrateError::Setup("revert: no fit".into()))?;
    Ok(HostResult {
        name: "revert".into(),
        points,
        base_ns,
        per_byte_ns,
        fixed_size: false,
        note: Some("timed per frame: includes unwinding the trap to the caller".into()),
    })
}

/// The block-commit share of one storage write: `(base ns per written key, ns per byte)`,
/// from committing `keys` fresh keys of several value sizes (trie update + RocksDB batch).
pub fn measure_commit(state: &BenchState, keys: usize, samples: usize) -> Result<(f64, f64), CalibrateError> {
    let mut points = Vec::new();
    let mut height = state.db.next_height().map_err(CalibrateError::state)?;
    for size in [0usize, 1_024, 16_384] {
        let mut per_key = Vec::new();
        for s in 0..samples.max(1) {
            let mut changes = StateChanges::new();
            let value = pattern(size, s as u8);
            for i in 0..keys {
                let key = blake3::hash(format!("commit {height} {i}").as_bytes());
                changes.set(crate::state::storage_key(&CONTRACT, key.as_bytes()), value.clone());
            }
            let start = Instant::now();
            state.db.commit_block(height, &changes, b"calibration block").map_err(CalibrateError::state)?;
            per_key.push(start.elapsed().as_secs_f64() * 1e9 / keys as f64);
            height += 1;
        }
        points.push(((32 + size) as f64, median(&mut per_key)));
    }
    fit::linear_fit(&points).ok_or_else(|| CalibrateError::Setup("commit: no fit".into()))
}
