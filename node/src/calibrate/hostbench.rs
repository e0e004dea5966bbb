//! Host-function benchmarks through the node's contract runtime: time per call at several
//! sizes, fitted as `base + per_byte × metered bytes` (the form of `[host.NAME]`,
//! `specs/abi.md` §3.1).
//!
//! Each benchmark is a contract ([`lab`](super::lab)) whose `call` reads an iteration count
//! from its call data and loops, calling one host function `HOST_CALLS_PER_ITERATION` times
//! per iteration with constant arguments; the baseline contract is the same loop with no
//! calls. Both run as whole frames through [`crate::runtime::Runtime::call`], so the frame's
//! fixed cost cancels. The wasm operators around each call (argument constants, the `call`,
//! a `drop`) are counted exactly with one-hot cost tables and their time, known from the
//! class solve, is subtracted: what remains is the host function alone, including the
//! wasm-to-host transition and the runtime's checks and charges.
//!
//! Fixtures (storage key, addresses, topics, a valid Ed25519 signature of each message
//! size, 64 KiB of message bytes) are data segments at fixed offsets; storage values are
//! written into the committed state, so reads go through RocksDB. `storage_write` and
//! `storage_remove` hit the same key every call (after the first, the old value is in the
//! block's overlay), so they are also charged a real lookup (as `storage_has`) and their
//! share of the block commit ([`measure_commit`]), where a write's cost is actually paid.

use ed25519_dalek::{Signer, SigningKey};

use super::lab::{Install, Lab};
use super::measure::{median, Clock, Sampling};
use super::{fit, CalibrateError};
use crate::chain::ReceiptStatus;
use crate::state::{Address, StateChanges};

/// Host calls per loop iteration.
pub const HOST_CALLS_PER_ITERATION: usize = 8;

/// A contract with an empty `call`: the callee of the `call_contract` benchmark.
pub const CALLEE: Address = Address([0xCE; 32]);
/// The baseline loop contract.
pub const BASELINE: Address = Address([0xBA; 32]);

// Memory layout of a host benchmark module.
const KEY: u64 = 0;
const ADDR: u64 = 64;
const AMOUNT: u64 = 96;
const TOPICS: u64 = 128;
const SIG: u64 = 256;
const PUBKEY: u64 = 320;
const OUT_LEN: u64 = 384;
const CALLEE_AT: u64 = 416;
const ZERO_VALUE: u64 = 448;
const N_AT: u64 = 480;
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
        // Size = call data length: the 4-byte iteration count plus padding.
        HostSpec {
            name: "input",
            sig: "(param i32 i32) (result i32)",
            sizes: &[4, 1_024, 16_384, 65_536],
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
                    "i32.const {CALLEE_AT} i32.const {ZERO_VALUE} i64.const 1000000000 i32.const {DATA} i32.const {n} \
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

/// Largest metered-size point of the `input` benchmark is the ABI's input limit.
const INPUT_NAME: &str = "input";

/// A data segment writing `bytes` at `offset`, as WAT.
fn data_segment(offset: u64, bytes: &[u8]) -> String {
    let mut s = format!("(data (i32.const {offset}) \"");
    for b in bytes {
        s.push_str(&format!("\\{b:02x}"));
    }
    s.push_str("\")");
    s
}

/// A loop contract: `call` reads the iteration count from call data and runs `calls`
/// copies of `call` per iteration (`import` = `None`: the baseline).
fn loop_contract(import: Option<(&str, &str)>, call: &str, calls: usize, fixtures: &str) -> String {
    let (imports, input_fn) = match import {
        Some((INPUT_NAME, sig)) => (format!("(import \"env\" \"input\" (func $f {sig}))"), "$f"),
        Some((name, sig)) => (
            format!("(import \"env\" \"input\" (func $in (param i32 i32) (result i32)))\n  (import \"env\" \"{name}\" (func $f {sig}))"),
            "$in",
        ),
        None => ("(import \"env\" \"input\" (func $in (param i32 i32) (result i32)))".to_string(), "$in"),
    };
    let body = if calls == 0 { String::new() } else { vec![call; calls].join("\n") + "\n" };
    format!(
        r#"(module
  {imports}
  (memory (export "memory") 4)
  {fixtures}
  (func (export "deploy"))
  (func (export "call") (local $n i32)
    i32.const {N_AT} i32.const 4 call {input_fn} drop
    i32.const {N_AT} i32.load local.set $n
    (block $exit
      local.get $n i32.eqz br_if $exit
      (loop $l
{body}        local.get $n i32.const 1 i32.sub local.tee $n br_if $l))))
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

/// The fixtures of a benchmark at `size` as data segments.
fn fixtures(size: u32) -> String {
    let sk = SigningKey::from_bytes(&[7; 32]);
    let msg = pattern(65_536, 3);
    let sig = sk.sign(&msg[..(size as usize).min(msg.len())]);
    [
        data_segment(KEY, &key_for(size)),
        data_segment(ADDR, &[0xAD; 32]),
        data_segment(AMOUNT, &1u128.to_le_bytes()),
        data_segment(TOPICS, &pattern(128, 9)),
        data_segment(SIG, &sig.to_bytes()),
        data_segment(PUBKEY, sk.verifying_key().as_bytes()),
        data_segment(CALLEE_AT, &CALLEE.0),
        data_segment(DATA, &msg),
    ]
    .join("\n  ")
}

fn bench_address(name: &str, size: u32) -> Address {
    Address(*blake3::hash(format!("calibration host bench {name} {size}").as_bytes()).as_bytes())
}

fn parse(wat: &str) -> Result<Vec<u8>, CalibrateError> {
    wat::parse_str(wat).map_err(|e| CalibrateError::Setup(format!("generated contract: {e}")))
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
    /// Fitted time per call, ns (the whole time for fixed-size functions: see
    /// [`HostResult::fixed_size`]); negative fits are reported as 0.
    pub base_ns: f64,
    /// Fitted time per metered byte, ns (0 for fixed-size functions).
    pub per_byte_ns: f64,
    /// True if every call meters the same bytes, so base and per-byte cannot be separated.
    pub fixed_size: bool,
    /// A caveat printed in the report.
    pub note: Option<String>,
}

/// Installs every host benchmark contract (and the callee and baseline) in `lab`.
pub fn install_hosts(lab: &Lab) -> Result<(), CalibrateError> {
    let mut items = vec![
        Install {
            address: CALLEE,
            code: parse(r#"(module (memory (export "memory") 1) (func (export "deploy")) (func (export "call")))"#)?,
            input: Vec::new(),
            storage: Vec::new(),
            setup_calls: Vec::new(),
        },
        Install {
            address: BASELINE,
            code: parse(&loop_contract(None, "", 0, &fixtures(0)))?,
            input: Vec::new(),
            storage: Vec::new(),
            setup_calls: Vec::new(),
        },
    ];
    for spec in specs() {
        for &size in spec.sizes {
            let wat = loop_contract(Some((spec.name, spec.sig)), &(spec.call)(size), HOST_CALLS_PER_ITERATION, &fixtures(size));
            items.push(Install {
                address: bench_address(spec.name, size),
                code: parse(&wat)?,
                input: Vec::new(),
                storage: vec![(key_for(size).to_vec(), pattern(size as usize, 1))],
                setup_calls: Vec::new(),
            });
        }
    }
    for size in REVERT_SIZES {
        for (address, body) in revert_contracts(size) {
            items.push(Install { address, code: parse(&body)?, input: Vec::new(), storage: Vec::new(), setup_calls: Vec::new() });
        }
    }
    lab.install(&items)
}

/// Measures every host function but `revert` (see the module docs). `class_ns` is the
/// solved time of one operator of each class (in `OpClass::ALL` order).
pub fn measure_hosts(
    lab: &Lab,
    class_ns: &[f64],
    sampling: &Sampling,
    mut progress: impl FnMut(&str),
) -> Result<Vec<HostResult>, CalibrateError> {
    let base_counts = lab.loop_counts(BASELINE, 0)?;
    let mut out = Vec::new();
    for spec in specs() {
        progress(spec.name);
        let mut points = Vec::new();
        for &size in spec.sizes {
            let addr = bench_address(spec.name, size);
            let pad = if spec.name == INPUT_NAME { size as usize - 4 } else { 0 };
            let mut s = *sampling;
            if spec.name == "emit_event" {
                // Every iteration emits HOST_CALLS_PER_ITERATION events of one transaction.
                s.max_iterations = (crate::runtime::abi::MAX_EVENTS_PER_TX / HOST_CALLS_PER_ITERATION) as u32;
            }
            let t = lab.time_loop_pair(addr, BASELINE, pad, &s)?;
            let counts = lab.loop_counts(addr, pad)?;
            let wasm_ns: f64 = counts.iter().zip(&base_counts).zip(class_ns).map(|((c, b), ns)| (c - b) * ns).sum();
            points.push(HostPoint { bytes: (spec.metered)(size), ns: (t.ns - wasm_ns) / HOST_CALLS_PER_ITERATION as f64 });
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
                "callee: an empty contract; its own operators are metered by its gas and subtracted here".to_string(),
            ),
            "storage_remove" => Some("the same key each call: absent after the first call".to_string()),
            "storage_write" => Some("the same key each call: the old value is in the overlay after the first call".to_string()),
            _ => None,
        };
        // A negative intercept or slope is noise around zero: report it as zero.
        let (base_ns, per_byte_ns) = (base_ns.max(0.0), per_byte_ns.max(0.0));
        out.push(HostResult { name: spec.name.to_string(), points, base_ns, per_byte_ns, fixed_size, note });
    }
    Ok(out)
}

const REVERT_SIZES: [u32; 3] = [0, 256, 1_024];

fn revert_address(size: u32, reverts: bool) -> Address {
    Address(*blake3::hash(format!("calibration revert {size} {reverts}").as_bytes()).as_bytes())
}

/// A contract whose `call` reverts with `size` bytes, and its twin that returns.
fn revert_contracts(size: u32) -> [(Address, String); 2] {
    let make = |body: &str| {
        format!(
            r#"(module
  (import "env" "revert" (func $f (param i32 i32)))
  (memory (export "memory") 4)
  (func (export "deploy"))
  (func (export "call") {body}))"#
        )
    };
    [
        (revert_address(size, true), make(&format!("i32.const {DATA} i32.const {size} call $f"))),
        (revert_address(size, false), make(&format!("i32.const {DATA} i32.const {size} drop drop"))),
    ]
}

/// Measures `revert`: it ends the frame, so it is timed per whole frame of a contract that
/// reverts with `n` bytes, minus the same frame returning normally.
pub fn measure_revert(lab: &Lab, sampling: &Sampling) -> Result<HostResult, CalibrateError> {
    let mut points = Vec::new();
    let calls = (sampling.target.as_secs_f64() / 20e-6).clamp(4.0, 2_000.0) as usize;
    for size in REVERT_SIZES {
        let mut diffs = Vec::new();
        for _ in 0..sampling.samples.max(1) {
            let mut t = [0.0f64; 2];
            for (i, reverts) in [true, false].into_iter().enumerate() {
                for _ in 0..calls {
                    let (d, out) = lab.timed_call(revert_address(size, reverts), &[])?;
                    match (reverts, &out.status) {
                        (true, ReceiptStatus::Revert(_)) | (false, ReceiptStatus::Success) => {}
                        (_, other) => return Err(CalibrateError::Contract(format!("revert benchmark: {other:?}"))),
                    }
                    t[i] += d.as_secs_f64();
                }
            }
            diffs.push((t[0] - t[1]) * 1e9 / calls as f64);
        }
        points.push(HostPoint { bytes: size as u64, ns: median(&mut diffs) });
    }
    let xy: Vec<(f64, f64)> = points.iter().map(|p| (p.bytes as f64, p.ns)).collect();
    let (base_ns, per_byte_ns) = fit::linear_fit(&xy).ok_or_else(|| CalibrateError::Setup("revert: no fit".into()))?;
    Ok(HostResult {
        name: "revert".into(),
        points,
        base_ns: base_ns.max(0.0),
        per_byte_ns: per_byte_ns.max(0.0),
        fixed_size: false,
        note: Some("timed per frame: includes unwinding the trap and rolling the frame back".into()),
    })
}

/// The block-commit share of one storage write: `(ns per written key, ns per byte)`.
///
/// Blocks of `keys / 4` and `keys` fresh keys are committed (trie update + RocksDB batch)
/// at several value sizes; the difference between the two block sizes, per extra key,
/// removes the fixed per-block cost, and a line over the value sizes splits the rest into
/// per key and per byte.
pub fn measure_commit(lab: &Lab, keys: usize, samples: usize) -> Result<(f64, f64), CalibrateError> {
    let keys = keys.max(8);
    let small = keys / 4;
    let mut points = Vec::new();
    let mut height = lab.db.next_height().map_err(CalibrateError::state)?;
    let mut commit = |n: usize, size: usize, seed: usize| -> Result<f64, CalibrateError> {
        let mut changes = StateChanges::new();
        let value = pattern(size, seed as u8);
        for i in 0..n {
            let key = blake3::hash(format!("commit {height} {i}").as_bytes());
            changes.set(crate::state::storage_key(&CALLEE, key.as_bytes()), value.clone());
        }
        let start = Clock::now_process();
        lab.db.commit_block(height, &changes, b"calibration block").map_err(CalibrateError::state)?;
        height += 1;
        Ok(start.elapsed().as_secs_f64() * 1e9)
    };
    for size in [0usize, 1_024, 16_384] {
        let mut per_key = Vec::new();
        for s in 0..samples.max(1) {
            let big = commit(keys, size, s)?;
            let little = commit(small, size, s)?;
            per_key.push((big - little) / (keys - small) as f64);
        }
        points.push(((32 + size) as f64, median(&mut per_key)));
    }
    fit::linear_fit(&points).ok_or_else(|| CalibrateError::Setup("commit: no fit".into()))
}
