//! The workloads of the comparison and how one (engine, workload) cell is measured.
//!
//! * Compile throughput: the example contracts (`contracts/wasm`), a large generated module
//!   ([`crate::large_module`]), the JIT-bomb shapes at 1x, 4x and 16x ([`crate::jit_bomb`])
//!   real-world modules from npm ([`super::real`]) and real CosmWasm contracts built from
//!   crates.io ([`super::cosmwasm`]).
//! * Instantiation latency: from the engine's serialized artifact (load + link +
//!   instantiate), or from the in-memory module for engines without artifacts (wasmi).
//! * Execution time: the compute kernels ([`crate::kernels`], `run(n) -> i64` at each
//!   kernel's `bench_arg`, checked against its independently computed expected values) and
//!   the contracts' heavy entry points (`sha2_hasher` SHA-256 chain, `ed25519_verifier`
//!   `verify_many`, with the work size calibrated once on Keel so that one call takes
//!   about [`EXEC_TARGET`]), each call on a fresh instance.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::cosmwasm::{self, COSMWASM_CONTRACTS};
use super::measure::{sample, sample_on, Budget, Stats};
use super::real::{self, RealInput, REAL_INPUTS};
use super::{Peer, PeerError};
use crate::kernels::{self, Kernel};
use crate::{jit_bomb, large_module, BombShape};

/// Keel's time per call the execution work size is calibrated to.
pub const EXEC_TARGET: Duration = Duration::from_millis(20);

/// Functions in the large generated module (about 1.4 MB of code).
pub const LARGE_MODULE_FUNCTIONS: u32 = 8_000;

/// Contracts of `contracts/wasm` whose compile throughput is measured.
pub const CONTRACTS: [&str; 7] =
    ["token", "escrow", "registry", "counter", "c_counter", "sha2_hasher", "ed25519_verifier"];

/// One workload of the comparison.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Workload {
    /// An example contract: compile, instantiate, and for `sha2_hasher` and
    /// `ed25519_verifier` execute the heavy entry point.
    Contract(String),
    /// The large generated module: compile and instantiate.
    Large,
    /// A JIT bomb at a scale: compile only.
    Bomb(BombShape, u32),
    /// A real-world module from npm (index into [`REAL_INPUTS`]): compile only.
    Real(usize),
    /// A CosmWasm contract built from crates.io (index into [`COSMWASM_CONTRACTS`]):
    /// compile only.
    CosmWasm(usize),
    /// A compute kernel of [`crate::kernels`], by name: compile, instantiate, execute.
    Kernel(String),
}

impl Workload {
    /// Every workload, in table order.
    pub fn all() -> Vec<Workload> {
        let mut out: Vec<Workload> = CONTRACTS.iter().map(|c| Workload::Contract(c.to_string())).collect();
        out.push(Workload::Large);
        for shape in BombShape::ALL {
            for scale in [1, 4, 16] {
                out.push(Workload::Bomb(shape, scale));
            }
        }
        out.extend((0..REAL_INPUTS.len()).map(Workload::Real));
        out.extend((0..COSMWASM_CONTRACTS.len()).map(Workload::CosmWasm));
        out.extend(kernels::ALL.iter().map(|k| Workload::Kernel(k.name.to_string())));
        out
    }

    /// A stable id (`contract:token`, `bomb:deep_nesting:4`, `real:sqlite`, `kernel:matmul`,
    /// `large`), also the command-line form.
    pub fn id(&self) -> String {
        match self {
            Workload::Contract(c) => format!("contract:{c}"),
            Workload::Large => "large".into(),
            Workload::Bomb(s, k) => format!("bomb:{}:{k}", s.name()),
            Workload::Real(i) => format!("real:{}", REAL_INPUTS[*i].name),
            Workload::CosmWasm(i) => format!("cosmwasm:{}", COSMWASM_CONTRACTS[*i].name),
            Workload::Kernel(k) => format!("kernel:{k}"),
        }
    }

    /// Parses [`Workload::id`].
    pub fn parse(id: &str) -> Option<Workload> {
        let parts: Vec<&str> = id.split(':').collect();
        match parts.as_slice() {
            ["contract", c] => Some(Workload::Contract(c.to_string())),
            ["large"] => Some(Workload::Large),
            ["bomb", s, k] => {
                let shape = BombShape::ALL.into_iter().find(|b| b.name() == *s)?;
                Some(Workload::Bomb(shape, k.parse().ok()?))
            }
            ["real", n] => REAL_INPUTS.iter().position(|r| r.name == *n).map(Workload::Real),
            ["cosmwasm", n] => COSMWASM_CONTRACTS.iter().position(|c| c.name == *n).map(Workload::CosmWasm),
            ["kernel", k] => Some(Workload::Kernel(k.to_string())),
            _ => None,
        }
    }

    /// Whether Keel validates this workload against the permissive profile (generated
    /// stress inputs and real-world modules) rather than the chain profile.
    pub fn permissive(&self) -> bool {
        matches!(self, Workload::Large | Workload::Bomb(..) | Workload::Real(_))
    }

    /// Whether instantiation is measured (modules that import only functions).
    pub fn instantiates(&self) -> bool {
        !matches!(self, Workload::Bomb(..) | Workload::Real(_) | Workload::CosmWasm(_))
    }

    /// The execution measured, if any.
    pub fn exec(&self) -> Option<Exec> {
        match self {
            Workload::Contract(c) if c == "sha2_hasher" => Some(Exec::Sha256Chain),
            Workload::Contract(c) if c == "ed25519_verifier" => Some(Exec::Ed25519VerifyMany),
            Workload::Kernel(k) => kernel(k).map(Exec::Kernel),
            _ => None,
        }
    }

    /// The module's bytes.
    ///
    /// Errors: a message saying what could not be read or fetched.
    pub fn wasm(&self) -> Result<Vec<u8>, String> {
        match self {
            Workload::Contract(c) => {
                let p = repo_dir().join("contracts/wasm").join(format!("{c}.wasm"));
                std::fs::read(&p).map_err(|e| format!("{}: {e}", p.display()))
            }
            Workload::Large => Ok(large_module(LARGE_MODULE_FUNCTIONS)),
            Workload::Bomb(s, k) => Ok(jit_bomb(*s, *k)),
            Workload::Real(i) => real::fetch(&REAL_INPUTS[*i], &real::cache_dir()),
            Workload::CosmWasm(i) => cosmwasm::fetch(&COSMWASM_CONTRACTS[*i], &cosmwasm::cache_dir()),
            Workload::Kernel(k) => {
                let kernel = kernel(k).ok_or_else(|| format!("no kernel {k}"))?;
                kernel.wasm().map_err(|e| format!("kernel {k}: {e}"))
            }
        }
    }

    /// The real-world input behind this workload, if it is one.
    pub fn real_input(&self) -> Option<&'static RealInput> {
        match self {
            Workload::Real(i) => REAL_INPUTS.get(*i),
            _ => None,
        }
    }
}

/// The repository root (parent of `benches/`).
pub fn repo_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The kernel named `name`.
pub fn kernel(name: &str) -> Option<Kernel> {
    kernels::ALL.iter().find(|k| k.name == name).copied()
}

/// An execution workload, parameterized by a work size `n`.
#[derive(Debug, Clone, Copy)]
pub enum Exec {
    /// `sha2_hasher.call("sha256", 64 bytes, n rounds)`.
    Sha256Chain,
    /// `ed25519_verifier.call("verify_many", key, 17-byte message, signature, n)`;
    /// must return `n` (every verification succeeds).
    Ed25519VerifyMany,
    /// Kernel `run(n) -> i64`, `n` fixed at the kernel's `bench_arg`.
    Kernel(Kernel),
}

/// SCALE compact encoding of a length (the call data encoding of `specs/abi.md` §1).
pub fn scale_compact(n: u32, out: &mut Vec<u8>) {
    match n {
        0..=0x3f => out.push((n as u8) << 2),
        0x40..=0x3fff => out.extend_from_slice(&(((n as u16) << 2) | 1).to_le_bytes()),
        0x4000..=0x3fff_ffff => out.extend_from_slice(&((n << 2) | 2).to_le_bytes()),
        _ => {
            out.push(3);
            out.extend_from_slice(&n.to_le_bytes());
        }
    }
}

fn scale_bytes(b: &[u8], out: &mut Vec<u8>) {
    scale_compact(b.len() as u32, out);
    out.extend_from_slice(b);
}

/// The ed25519 fixture of the verifier contract's own tests: key from `[7; 32]`, message
/// `"keel transfer 100"`. Returns (public key, message, signature).
pub fn ed25519_fixture() -> ([u8; 32], Vec<u8>, [u8; 64]) {
    use ed25519_dalek::{Signer, SigningKey};
    let key = SigningKey::from_bytes(&[7u8; 32]);
    let msg = b"keel transfer 100".to_vec();
    let sig = key.sign(&msg).to_bytes();
    (key.verifying_key().to_bytes(), msg, sig)
}

impl Exec {
    /// The starting work size of calibration.
    pub fn initial_n(self) -> u64 {
        match self {
            Exec::Sha256Chain => 64,
            Exec::Ed25519VerifyMany => 1,
            Exec::Kernel(k) => k.bench_arg as u64,
        }
    }

    /// The fixed work size, for workloads that are not calibrated (kernels: their work
    /// does not grow linearly in `n` for all of them).
    pub fn fixed_n(self) -> Option<u64> {
        match self {
            Exec::Kernel(k) => Some(k.bench_arg as u64),
            _ => None,
        }
    }

    /// (export, call data, arguments) for work size `n`.
    pub fn call(self, n: u64) -> (&'static str, Vec<u8>, Vec<i64>) {
        match self {
            Exec::Sha256Chain => {
                let mut input = Vec::new();
                scale_bytes(b"sha256", &mut input);
                scale_bytes(&(0u8..64).collect::<Vec<u8>>(), &mut input);
                input.extend_from_slice(&(n as u32).to_le_bytes());
                ("call", input, vec![])
            }
            Exec::Ed25519VerifyMany => {
                let (pk, msg, sig) = ed25519_fixture();
                let mut input = Vec::new();
                scale_bytes(b"verify_many", &mut input);
                input.extend_from_slice(&pk);
                scale_bytes(&msg, &mut input);
                input.extend_from_slice(&sig);
                input.extend_from_slice(&(n as u32).to_le_bytes());
                ("call", input, vec![])
            }
            Exec::Kernel(_) => ("run", Vec::new(), vec![n as i64]),
        }
    }

    /// Checks an outcome that does not depend on the engine (engines are also compared
    /// with each other through the fingerprint).
    pub fn check(self, n: u64, fingerprint: &str) -> Result<(), String> {
        match self {
            Exec::Ed25519VerifyMany => {
                let want = hex(&(n as u32).to_le_bytes());
                if fingerprint == format!("ret={want}") {
                    Ok(())
                } else {
                    Err(format!("verify_many returned {fingerprint}, expected ret={want}"))
                }
            }
            Exec::Sha256Chain if !fingerprint.starts_with("ret=") || fingerprint.len() != 4 + 64 => {
                Err(format!("sha256 returned {fingerprint}, expected 32 bytes"))
            }
            Exec::Kernel(k) => match k.expected.iter().find(|(arg, _)| *arg as u64 == n) {
                Some((_, want)) if fingerprint != format!("results={:?}", [*want]) => {
                    Err(format!("{}: run({n}) gave {fingerprint}, expected {want}", k.name))
                }
                _ => Ok(()),
            },
            _ => Ok(()),
        }
    }
}

/// Lower-case hex.
pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// One measurement of a cell.
#[derive(Debug, Clone, PartialEq)]
pub enum Measured {
    /// Timed.
    Time(Stats),
    /// Not measured, with the reason.
    Failed(PeerError),
}

/// What one (engine, workload) cell measured.
#[derive(Debug, Clone, PartialEq)]
pub struct CellResult {
    /// Input size, bytes.
    pub wasm_bytes: usize,
    /// Compile (validate + compile) time.
    pub compile: Measured,
    /// Instantiation time (artifact load + instantiate), if the workload instantiates.
    pub instantiate: Option<Measured>,
    /// Execution time, if the workload executes.
    pub exec: Option<Measured>,
    /// Work size used for execution.
    pub n: u64,
    /// Fingerprint of the execution's outcome (`ret=<hex>` of return data, or results).
    pub fingerprint: String,
}

fn encode_measured(tag: &str, m: &Measured, out: &mut String) {
    match m {
        Measured::Time(s) => {
            out.push_str(&format!("{tag}\tok\t{}\t{}\t{}\n", s.median.as_nanos(), s.min.as_nanos(), s.samples))
        }
        Measured::Failed(e) => {
            let (kind, msg) = match e {
                PeerError::Rejected(m) => ("rejected", m.as_str()),
                PeerError::Compile(m) => ("compile", m.as_str()),
                PeerError::Artifact(m) => ("artifact", m.as_str()),
                PeerError::Instantiate(m) => ("instantiate", m.as_str()),
                PeerError::Trap(m) => ("trap", m.as_str()),
                PeerError::Unsupported(m) => ("unsupported", *m),
            };
            out.push_str(&format!("{tag}\terr\t{kind}\t{}\n", msg.replace(['\n', '\t'], " ")));
        }
    }
}

fn decode_measured(fields: &[&str]) -> Option<Measured> {
    match fields {
        ["ok", median, min, samples] => Some(Measured::Time(Stats {
            median: Duration::from_nanos(median.parse().ok()?),
            min: Duration::from_nanos(min.parse().ok()?),
            samples: samples.parse().ok()?,
        })),
        ["err", kind, msg] => {
            let msg = msg.to_string();
            Some(Measured::Failed(match *kind {
                "rejected" => PeerError::Rejected(msg),
                "compile" => PeerError::Compile(msg),
                "artifact" => PeerError::Artifact(msg),
                "instantiate" => PeerError::Instantiate(msg),
                "trap" => PeerError::Trap(msg),
                _ => PeerError::Unsupported("unsupported"),
            }))
        }
        _ => None,
    }
}

impl CellResult {
    /// A line-oriented text form (one `key\tvalue...` line per field) that a child process
    /// prints and the parent reads back with [`CellResult::decode`].
    pub fn encode(&self) -> String {
        let mut out = format!("bytes\t{}\nn\t{}\nfingerprint\t{}\n", self.wasm_bytes, self.n, self.fingerprint);
        encode_measured("compile", &self.compile, &mut out);
        if let Some(m) = &self.instantiate {
            encode_measured("instantiate", m, &mut out);
        }
        if let Some(m) = &self.exec {
            encode_measured("exec", m, &mut out);
        }
        out
    }

    /// Parses [`CellResult::encode`]'s output; lines that are not part of it are ignored.
    /// `None` if a field is missing or malformed.
    pub fn decode(text: &str) -> Option<CellResult> {
        let (mut bytes, mut n, mut fp, mut compile, mut inst, mut exec) = (None, None, None, None, None, None);
        for line in text.lines() {
            let fields: Vec<&str> = line.split('\t').collect();
            match fields.as_slice() {
                ["bytes", b] => bytes = b.parse().ok(),
                ["n", v] => n = v.parse().ok(),
                ["fingerprint", f] => fp = Some(f.to_string()),
                ["compile", rest @ ..] => compile = decode_measured(rest),
                ["instantiate", rest @ ..] => inst = decode_measured(rest),
                ["exec", rest @ ..] => exec = decode_measured(rest),
                _ => {}
            }
        }
        Some(CellResult { wasm_bytes: bytes?, compile: compile?, instantiate: inst, exec, n: n?, fingerprint: fp? })
    }

    /// One cell measured in several rounds (a whole run of the matrix each, so a cell's
    /// rounds are minutes apart and a burst of load on the shared machine hits one of them)
    /// as one result: each figure is the median of the rounds' medians (for an even count,
    /// the faster of the middle two), `min` the fastest sample of any round, `samples` their
    /// sum.
    ///
    /// Errors: the first round's error if any round failed (a crash or timeout in one round
    /// is reported, not hidden by the others); a text naming the rounds when their work size,
    /// input size or outcome fingerprint differ (an engine whose results change from one
    /// process to the next is not deterministic, and that is the finding).
    pub fn combine_rounds(rounds: Vec<Result<CellResult, String>>) -> Result<CellResult, String> {
        let rounds: Vec<CellResult> = rounds.into_iter().collect::<Result<_, _>>()?;
        let Some(first) = rounds.first() else { return Err("no rounds measured".into()) };
        if let Some((i, other)) = rounds.iter().enumerate().find(|(_, c)| {
            (c.wasm_bytes, c.n, &c.fingerprint) != (first.wasm_bytes, first.n, &first.fingerprint)
        }) {
            return Err(format!(
                "rounds disagree: round 1 gave n={} {}, round {} gave n={} {}",
                first.n,
                first.fingerprint,
                i + 1,
                other.n,
                other.fingerprint
            ));
        }
        let combine = |pick: fn(&CellResult) -> Option<&Measured>| -> Option<Measured> {
            let ms: Vec<&Measured> = rounds.iter().filter_map(pick).collect();
            if ms.len() != rounds.len() {
                // Present in some rounds only: keep the first round's (it decides the table).
                return pick(&rounds[0]).cloned();
            }
            let mut stats = Vec::with_capacity(ms.len());
            for m in ms {
                match m {
                    Measured::Time(s) => stats.push(*s),
                    Measured::Failed(_) => return Some(m.clone()),
                }
            }
            stats.sort_by_key(|s| s.median);
            let median = stats[(stats.len() - 1) / 2].median;
            let min = stats.iter().map(|s| s.min).min().unwrap_or(median);
            Some(Measured::Time(Stats { median, min, samples: stats.iter().map(|s| s.samples).sum() }))
        };
        Ok(CellResult {
            wasm_bytes: first.wasm_bytes,
            compile: combine(|c| Some(&c.compile)).unwrap_or_else(|| first.compile.clone()),
            instantiate: combine(|c| c.instantiate.as_ref()),
            exec: combine(|c| c.exec.as_ref()),
            n: first.n,
            fingerprint: first.fingerprint.clone(),
        })
    }
}

/// Measures one cell in this process. `n`: the execution work size, `None` to calibrate it
/// (Keel's cell does that; other engines reuse Keel's `n`).
///
/// Errors: the workload's bytes could not be produced.
pub fn measure_cell(peer: &mut dyn Peer, w: &Workload, n: Option<u64>, budget: Budget) -> Result<CellResult, String> {
    let wasm = w.wasm()?;
    let mut result = CellResult {
        wasm_bytes: wasm.len(),
        compile: Measured::Failed(PeerError::Unsupported("not run")),
        instantiate: None,
        exec: None,
        n: n.unwrap_or(0),
        fingerprint: String::new(),
    };
    let cell = std::cell::RefCell::new(&mut *peer);
    let clock = cell.borrow().compile_clock();
    let compile = sample_on(
        clock,
        budget,
        || {
            cell.borrow_mut().before_compile();
            Ok(())
        },
        |()| cell.borrow_mut().compile(&wasm).map(|_| ()),
    );
    let module = match compile.and_then(|s| {
        peer.before_compile();
        peer.compile(&wasm).map(|m| (s, m))
    }) {
        Ok((s, m)) => {
            result.compile = Measured::Time(s);
            if peer.compile_only() {
                return Ok(result);
            }
            m
        }
        Err(e) => {
            result.compile = Measured::Failed(e);
            return Ok(result);
        }
    };
    let exec = w.exec();
    let input_for_instance = exec.map(|e| e.call(e.initial_n()).1).unwrap_or_default();
    if w.instantiates() {
        let stats = if peer.has_artifacts() {
            module.serialize().and_then(|artifact| {
                sample(budget, || Ok(()), |()| peer.load(&artifact)?.instantiate(&input_for_instance))
            })
        } else {
            sample(budget, || Ok(()), |()| module.instantiate(&input_for_instance))
        };
        result.instantiate = Some(match stats {
            Ok(s) => Measured::Time(s),
            Err(e) => Measured::Failed(e),
        });
    }
    if let Some(exec) = exec {
        let n = match n.or(exec.fixed_n()) {
            Some(n) => n,
            None => match calibrate(module.as_ref(), exec) {
                Ok(n) => n,
                Err(e) => {
                    result.exec = Some(Measured::Failed(e));
                    return Ok(result);
                }
            },
        };
        result.n = n;
        let (export, input, args) = exec.call(n);
        let run = || -> Result<String, PeerError> {
            let mut inst = module.instantiate(&input)?;
            let out = inst.call(export, &args)?;
            let ret = inst.return_data();
            Ok(if ret.is_empty() { format!("results={out:?}") } else { format!("ret={}", hex(&ret)) })
        };
        match run() {
            Ok(fp) => {
                if let Err(msg) = exec.check(n, &fp) {
                    result.exec = Some(Measured::Failed(PeerError::Trap(msg)));
                    return Ok(result);
                }
                result.fingerprint = fp;
            }
            Err(e) => {
                result.exec = Some(Measured::Failed(e));
                return Ok(result);
            }
        }
        let stats = sample(budget, || module.instantiate(&input), |mut inst| inst.call(export, &args));
        result.exec = Some(match stats {
            Ok(s) => Measured::Time(s),
            Err(e) => Measured::Failed(e),
        });
    }
    Ok(result)
}

/// Doubles the work size from [`Exec::initial_n`] until one call takes at least
/// [`EXEC_TARGET`] (at most 2^30).
fn calibrate(module: &dyn super::PeerModule, exec: Exec) -> Result<u64, PeerError> {
    let mut n = exec.initial_n();
    loop {
        let (export, input, args) = exec.call(n);
        // The faster of two calls: one slow call on a loaded machine must not stop the
        // doubling early.
        let mut t = Duration::MAX;
        for _ in 0..2 {
            let mut inst = module.instantiate(&input)?;
            let start = super::measure::process_cpu_time();
            inst.call(export, &args)?;
            t = t.min(super::measure::process_cpu_time().saturating_sub(start));
        }
        if t >= EXEC_TARGET || n >= 1 << 30 {
            return Ok(n);
        }
        // Jump close to the target once the time is measurable, then settle by doubling.
        let factor = if t > Duration::from_micros(200) {
            (EXEC_TARGET.as_secs_f64() / t.as_secs_f64()).clamp(1.0, 64.0).ceil() as u64
        } else {
            2
        };
        n = n.saturating_mul(factor.max(2)).min(1 << 30);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workload_ids_round_trip() {
        for w in Workload::all() {
            assert_eq!(Workload::parse(&w.id()), Some(w.clone()), "{}", w.id());
        }
        assert_eq!(Workload::parse("bomb:nope:1"), None);
        assert_eq!(Workload::parse("real:not-a-package"), None);
    }

    #[test]
    fn cell_results_survive_encoding() {
        let stats = Stats { median: Duration::from_nanos(1500), min: Duration::from_nanos(1200), samples: 9 };
        let cell = CellResult {
            wasm_bytes: 1234,
            compile: Measured::Time(stats),
            instantiate: Some(Measured::Failed(PeerError::Instantiate("no\tmemory\nhere".into()))),
            exec: Some(Measured::Time(stats)),
            n: 77,
            fingerprint: "ret=00ff".into(),
        };
        let back = CellResult::decode(&format!("noise\n{}", cell.encode())).expect("decodes");
        assert_eq!(back.compile, cell.compile);
        assert_eq!(back.exec, cell.exec);
        assert_eq!(back.instantiate, Some(Measured::Failed(PeerError::Instantiate("no memory here".into()))));
        assert_eq!((back.wasm_bytes, back.n, back.fingerprint.as_str()), (1234, 77, "ret=00ff"));
        assert_eq!(CellResult::decode("bytes\t1\n"), None);
    }

    fn timed(median_ns: u64, min_ns: u64, samples: usize) -> Measured {
        Measured::Time(Stats { median: Duration::from_nanos(median_ns), min: Duration::from_nanos(min_ns), samples })
    }

    fn cell(compile: Measured, exec: Option<Measured>, fingerprint: &str) -> CellResult {
        CellResult { wasm_bytes: 10, compile, instantiate: None, exec, n: 5, fingerprint: fingerprint.into() }
    }

    #[test]
    fn rounds_combine_to_the_median_of_their_medians() {
        let rounds = vec![
            Ok(cell(timed(300, 250, 4), Some(timed(90, 80, 10)), "r")),
            Ok(cell(timed(100, 90, 5), Some(timed(70, 60, 10)), "r")),
            Ok(cell(timed(200, 190, 6), Some(timed(500, 55, 10)), "r")),
        ];
        let c = CellResult::combine_rounds(rounds).expect("combines");
        assert_eq!(c.compile, timed(200, 90, 15));
        assert_eq!(c.exec, Some(timed(90, 55, 30)));
        // An even count takes the faster of the middle two.
        let two = vec![Ok(cell(timed(300, 1, 1), None, "r")), Ok(cell(timed(100, 1, 1), None, "r"))];
        assert_eq!(CellResult::combine_rounds(two).expect("combines").compile, timed(100, 1, 2));
    }

    #[test]
    fn rounds_keep_failures_and_refuse_disagreement() {
        let rejected = Measured::Failed(PeerError::Rejected("no".into()));
        let c = CellResult::combine_rounds(vec![
            Ok(cell(timed(1, 1, 1), Some(timed(5, 5, 1)), "r")),
            Ok(cell(timed(1, 1, 1), Some(rejected.clone()), "r")),
        ])
        .expect("combines");
        assert_eq!(c.exec, Some(rejected));
        let crashed = CellResult::combine_rounds(vec![Ok(cell(timed(1, 1, 1), None, "r")), Err("crashed".into())]);
        assert_eq!(crashed, Err("crashed".into()));
        let differ = CellResult::combine_rounds(vec![Ok(cell(timed(1, 1, 1), None, "a")), Ok(cell(timed(1, 1, 1), None, "b"))]);
        assert!(differ.is_err_and(|e| e.contains("rounds disagree") && e.contains("round 2")));
        assert!(CellResult::combine_rounds(Vec::new()).is_err());
    }

    #[test]
    fn scale_compact_matches_the_spec_examples() {
        // SCALE codec reference examples: 0 -> 00, 1 -> 04, 42 -> a8, 69 -> 1501,
        // 65535 -> feff0300.
        for (n, want) in [(0u32, "00"), (1, "04"), (42, "a8"), (69, "1501"), (65535, "feff0300")] {
            let mut out = Vec::new();
            scale_compact(n, &mut out);
            assert_eq!(hex(&out), want, "{n}");
        }
    }
}
