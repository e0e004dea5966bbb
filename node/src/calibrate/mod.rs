//! Gas-schedule calibration (`keel bench gas`): measure what every operator class and host
//! function costs on this machine, fit a candidate cost table, and report how well the
//! current table prices time.
//!
//! The pipeline ([`calibrate`]):
//!
//! 1. **Operator classes** ([`ops`]): one generated microbenchmark per class of
//!    [`OpClass`] — a loop whose body is a long straight-line run of dependent units of that
//!    class — compiled with keel-engine, metering on, and timed against an empty-loop
//!    baseline ([`measure`]). Each benchmark's executed operators are counted exactly by
//!    the engine's metering under one-hot cost tables, and the square system
//!    *time = Σ count × ns-per-operator* is solved for the 23 per-class times ([`fit`]).
//! 2. **Operand-dependent costs**: `memory.copy`/`memory.fill` per byte, `table.fill` per
//!    element and `memory.grow` per page, from a line fitted over several sizes.
//! 3. **Host functions** ([`hostbench`]): every function of host ABI v1 through the node's
//!    contract runtime ([`crate::runtime`]) over a RocksDB state ([`lab`]), at several
//!    sizes, fitted as `base + per_byte × metered bytes`; `storage_write` and
//!    `storage_remove` also carry a real lookup and their share of the block commit.
//! 4. **Example contracts** ([`contracts`]): whole calls of the committed contracts through
//!    the runtime, time per gas under the current table, and the time of an empty frame.
//! 5. **Fit and report** ([`report`]): one gas is anchored on the reference class
//!    [`REFERENCE_CLASS`] (`int_alu`): `1 gas = ns(int_alu) / current gas(int_alu)`, so the
//!    candidate keeps the current table's scale. Every class and host function becomes
//!    gas at that rate; the report gives ns per gas under the current table, ratios to the
//!    median, the under-priced entries (denial-of-service vectors) and a plot.
//!
//! The method is written up in `specs/gas.md`, "Calibration".

pub mod contracts;
pub mod fit;
pub mod hostbench;
pub mod lab;
pub mod measure;
pub mod ops;
pub mod report;

use std::path::PathBuf;
use std::time::Duration;

use keel_engine::{Linker, Module};
use keel_metering::{CostTable, HostCost, OpClass};

use measure::{Runner, Sampling, Timing};

/// The class one gas is anchored on: `1 gas = measured ns of one int_alu operator /
/// its current gas` (1), i.e. one gas is the time of one simple integer operator.
pub const REFERENCE_CLASS: OpClass = OpClass::IntAlu;

/// Initial memory sizes (64 KiB pages) of the empty contracts whose frames are timed: the
/// per-frame cost no operator meters, as a function of the memory a frame starts with (512
/// is the default profile's `max_initial_memory_pages`).
pub const FRAME_PAGES: [u64; 5] = [1, 2, 16, 128, 512];

/// A ratio of ns per gas to the median above which an entry is reported as under-priced
/// (a denial-of-service vector: gas buys more time than it should).
pub const UNDER_PRICED_RATIO: f64 = 2.0;

/// Errors of a calibration run.
#[derive(Debug, thiserror::Error)]
pub enum CalibrateError {
    /// The engine refused a generated module or a call failed.
    #[error("{0}: {1}")]
    Engine(&'static str, keel_engine::Error),
    /// The state database failed.
    #[error("state: {0}")]
    State(#[from] crate::state::StateError),
    /// A benchmark could not be set up, or a measurement could not be fitted.
    #[error("calibration setup: {0}")]
    Setup(String),
    /// An example contract failed to compile, deploy or run its scenario.
    #[error("example contract: {0}")]
    Contract(String),
    /// Writing the outputs failed.
    #[error("writing {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}

impl CalibrateError {
    /// Maps an engine error, naming the step.
    pub fn engine(step: &'static str) -> impl Fn(keel_engine::Error) -> CalibrateError {
        move |e| CalibrateError::Engine(step, e)
    }

    /// Maps a state error.
    pub fn state(e: crate::state::StateError) -> CalibrateError {
        CalibrateError::State(e)
    }
}

/// How much to measure.
#[derive(Debug, Clone)]
pub struct CalibrationConfig {
    /// Timed (benchmark, baseline) pairs per measurement; medians are kept.
    pub samples: usize,
    /// Target time of one timed call (thread CPU time, see [`measure::Clock`]).
    pub target: Duration,
    /// Units per loop iteration of an operator-class benchmark (the straight-line block).
    pub units: usize,
    /// Extra storage entries in the benchmark state (a bigger trie, like a live chain).
    pub filler_entries: usize,
    /// Fresh keys per block when measuring the commit share of `storage_write`.
    pub commit_keys: usize,
    /// `contracts/wasm`, for the whole-contract runs (`None` or missing: skipped).
    pub contracts_dir: Option<PathBuf>,
    /// The table under evaluation (normally the shipped `specs/gas-schedule.toml`).
    pub current: CostTable,
}

impl CalibrationConfig {
    /// The full measurement: 21 samples of ~20 ms, 1,000-unit blocks.
    pub fn full(current: CostTable) -> Self {
        CalibrationConfig {
            samples: 21,
            target: Duration::from_millis(20),
            units: 1_000,
            filler_entries: 20_000,
            commit_keys: 1_000,
            contracts_dir: None,
            current,
        }
    }

    /// A quick run (seconds, for tests and smoke checks): numbers are noisy.
    pub fn quick(current: CostTable) -> Self {
        CalibrationConfig {
            samples: 3,
            target: Duration::from_micros(300),
            units: 64,
            filler_entries: 200,
            commit_keys: 50,
            contracts_dir: None,
            current,
        }
    }

    fn sampling(&self) -> Sampling {
        Sampling { samples: self.samples.max(1), target: self.target, max_iterations: 1 << 24 }
    }
}

/// One operator class's result.
#[derive(Debug, Clone, PartialEq)]
pub struct ClassResult {
    /// The class.
    pub class: OpClass,
    /// Its gas in the current table.
    pub current_gas: u64,
    /// Solved time of one operator, ns (clamped at 0; see `below_resolution`).
    pub ns_per_op: f64,
    /// True if the solve gave less than 0.01 ns: the class is free at this resolution.
    pub below_resolution: bool,
    /// `ns_per_op / current_gas` (`None` when the class is priced 0).
    pub ns_per_gas: Option<f64>,
    /// The class benchmark taken whole: marginal time per marginal gas under the current
    /// table, helpers included (what a contract repeating the unit gets per gas).
    pub bench_ns_per_gas: f64,
    /// The raw timing of the class benchmark (per loop iteration).
    pub timing: Timing,
    /// Gas in the candidate table.
    pub candidate_gas: u64,
}

/// One operand-dependent unit cost's result.
#[derive(Debug, Clone, PartialEq)]
pub struct DynamicResult {
    /// `[dynamic]` key.
    pub key: String,
    /// Fitted ns per unit (byte, element, page).
    pub ns_per_unit: f64,
    /// Current gas per unit.
    pub current_gas: u64,
    /// Candidate gas per unit.
    pub candidate_gas: u64,
    /// (size, ns per operation) points.
    pub points: Vec<(f64, f64)>,
}

/// One host function's result, with its costs.
#[derive(Debug, Clone, PartialEq)]
pub struct HostRow {
    /// The measurement.
    pub measured: hostbench::HostResult,
    /// Current `[host.NAME]` (zero if the table does not price it).
    pub current: HostCost,
    /// Candidate `[host.NAME]`.
    pub candidate: HostCost,
    /// Worst (largest) ns per gas over the measured sizes, under the current table.
    pub ns_per_gas: f64,
    /// Extra time per call added to the fit (ns base, ns per byte), e.g. the commit share.
    pub added: Option<(f64, f64, &'static str)>,
}

/// A whole calibration run.
#[derive(Debug, Clone)]
pub struct Calibration {
    /// The time of one gas in the candidate (and, by anchoring, the current) table, ns.
    pub gas_ns: f64,
    /// Per class, in [`OpClass::ALL`] order.
    pub classes: Vec<ClassResult>,
    /// Operand-dependent costs.
    pub dynamic: Vec<DynamicResult>,
    /// Host functions.
    pub hosts: Vec<HostRow>,
    /// Whole example-contract calls.
    pub contracts: Vec<contracts::ContractRun>,
    /// An empty contract frame (1 page of memory) through the runtime: (ns, gas used).
    pub empty_frame: (f64, u64),
    /// Empty frames by initial memory: (pages, ns, gas used), for [`FRAME_PAGES`].
    pub empty_frames: Vec<(u64, f64, u64)>,
    /// Worst marginal time per initial memory page of an empty frame over the 1-page one,
    /// ns per page (the cost is not linear: see the report).
    pub frame_ns_per_page: f64,
    /// Median ns per gas over the priced classes (the reference for ratios).
    pub median_ns_per_gas: f64,
    /// The candidate table.
    pub candidate: CostTable,
    /// The candidate table as written (TOML with the measured ns as comments).
    pub candidate_toml: String,
    /// The table evaluated.
    pub current: CostTable,
    /// Samples and target time used.
    pub samples: usize,
    /// Target time of one timed call.
    pub target: Duration,
}

/// Runs the whole calibration on the runtime's executor thread (native stack sized for
/// nested contract calls, like block execution). `progress` receives a short line per step.
///
/// Errors: see [`CalibrateError`]; no output is written here (see [`report::write_all`]).
pub fn calibrate(cfg: &CalibrationConfig, progress: impl FnMut(&str) + Send) -> Result<Calibration, CalibrateError> {
    let config = keel_engine::Config { cost_table: cfg.current.clone(), ..keel_engine::Config::default() };
    crate::runtime::on_executor(&config, || calibrate_here(cfg, progress))
        .map_err(|e| CalibrateError::Setup(format!("executor: {e}")))?
}

fn calibrate_here(cfg: &CalibrationConfig, mut progress: impl FnMut(&str)) -> Result<Calibration, CalibrateError> {
    let current = &cfg.current;
    let sampling = cfg.sampling();
    let engine = measure::engine_with(current.clone())?;
    let linker: Linker<()> = Linker::new();

    // 1. Operator classes.
    let base_wasm = parse(&ops::module_wat(ops::Acc::None, &[], 0))?;
    let base_module = Module::new(&engine, &base_wasm).map_err(CalibrateError::engine("compile baseline"))?;
    let base_counts = measure::class_counts(current, &base_wasm, &linker, || Ok(()))?;
    let base_gas = gas_per_iteration(&mut Runner::new(&engine, &base_module, &linker, ())?)?;
    let mut rows = Vec::new();
    let mut timings = Vec::new();
    let mut bench_ns_per_gas = Vec::new();
    for b in ops::class_benches() {
        progress(&format!("operator class {}", b.class.name()));
        let wasm = parse(&ops::module_wat(b.acc, &b.units, cfg.units))?;
        let module = Module::new(&engine, &wasm).map_err(CalibrateError::engine("compile class benchmark"))?;
        let mut bench = Runner::new(&engine, &module, &linker, ())?;
        let mut baseline = Runner::new(&engine, &base_module, &linker, ())?;
        let t = measure::time_pair(&mut bench, &mut baseline, &sampling)?;
        let gas = gas_per_iteration(&mut bench)?.saturating_sub(base_gas);
        let counts = measure::class_counts(current, &wasm, &linker, || Ok(()))?;
        let row: Vec<f64> = counts.iter().zip(&base_counts).map(|(c, b)| c - b).collect();
        if row[b.class as usize] <= 0.0 {
            return Err(CalibrateError::Setup(format!("benchmark {} executes no {0} operator", b.class.name())));
        }
        rows.push(row);
        timings.push(t);
        bench_ns_per_gas.push(if gas > 0 { t.ns.max(0.0) / gas as f64 } else { 0.0 });
    }
    let times: Vec<f64> = timings.iter().map(|t| t.ns).collect();
    let solved = fit::solve(&rows, &times)
        .ok_or_else(|| CalibrateError::Setup("the class benchmark matrix is singular".into()))?;
    let class_ns: Vec<f64> = solved.iter().map(|x| x.max(0.0)).collect();
    let reference = class_ns[REFERENCE_CLASS as usize];
    let reference_gas = current.class_cost(REFERENCE_CLASS);
    if reference <= 0.0 || reference_gas == 0 {
        return Err(CalibrateError::Setup(format!(
            "the reference class {} measured {reference} ns at {reference_gas} gas: cannot anchor the gas unit",
            REFERENCE_CLASS.name()
        )));
    }
    let gas_ns = reference / reference_gas as f64;
    let classes: Vec<ClassResult> = OpClass::ALL
        .iter()
        .enumerate()
        .map(|(i, &class)| {
            let current_gas = current.class_cost(class);
            let min = if class == OpClass::Structure { 0 } else { 1 };
            ClassResult {
                class,
                current_gas,
                ns_per_op: class_ns[i],
                below_resolution: solved[i] < 0.01,
                ns_per_gas: (current_gas > 0).then(|| class_ns[i] / current_gas as f64),
                bench_ns_per_gas: bench_ns_per_gas[i],
                timing: timings[i],
                candidate_gas: fit::to_gas(class_ns[i], gas_ns, min),
            }
        })
        .collect();
    let mut priced: Vec<f64> = classes.iter().filter_map(|c| c.ns_per_gas).collect();
    let median_ns_per_gas = measure::median(&mut priced);

    // 2. Operand-dependent costs.
    let mut dynamic = Vec::new();
    for d in ops::dynamic_benches() {
        progress(&format!("dynamic {}", d.key));
        let mut points = Vec::new();
        for &size in &d.sizes {
            let unit = (d.unit)(size);
            let per_iter = 4;
            let wasm = parse(&ops::module_wat(ops::Acc::None, &[unit.as_str()], per_iter))?;
            let module = Module::new(&engine, &wasm).map_err(CalibrateError::engine("compile dynamic benchmark"))?;
            let mut bench = Runner::new(&engine, &module, &linker, ())?;
            let mut baseline = Runner::new(&engine, &base_module, &linker, ())?;
            let t = measure::time_pair(&mut bench, &mut baseline, &sampling)?;
            let counts = measure::class_counts(current, &wasm, &linker, || Ok(()))?;
            let wasm_ns: f64 = counts.iter().zip(&base_counts).zip(&class_ns).map(|((c, b), ns)| (c - b) * ns).sum();
            // The memory unit copies and fills `size` bytes each: 2 × size bytes per unit.
            let units_of_work = if d.key == "memory_per_byte" { 2.0 * size as f64 } else { size as f64 };
            points.push((units_of_work, (t.ns - wasm_ns) / per_iter as f64));
        }
        let (_, slope) = fit::linear_fit(&points).ok_or_else(|| CalibrateError::Setup(format!("{}: no fit", d.key)))?;
        dynamic.push(dynamic_row(current, d.key, slope, gas_ns, points));
    }
    progress("dynamic memory_grow_per_page");
    let (slope, points) = measure_grow(&engine, &sampling)?;
    dynamic.push(dynamic_row(current, "memory_grow_per_page", slope, gas_ns, points));

    // 3. Host functions, through the runtime.
    progress("host state (RocksDB) and benchmark contracts");
    let lab = lab::Lab::new(current, cfg.filler_entries)?;
    hostbench::install_hosts(&lab)?;
    let mut measured = hostbench::measure_hosts(&lab, &class_ns, &sampling, |n| progress(&format!("host {n}")))?;
    progress("host revert");
    measured.push(hostbench::measure_revert(&lab, &sampling)?);
    progress("block commit share of storage writes");
    let commit = hostbench::measure_commit(&lab, cfg.commit_keys, cfg.samples.clamp(1, 5))?;
    // The write and remove loops hit the same key, so after the first call the lookup of
    // the old value is served by the block's overlay. A real write or remove of a committed
    // key pays a RocksDB lookup (what `storage_has` measures) and its share of the commit.
    let lookup_ns = measured.iter().find(|m| m.name == "storage_has").map_or(0.0, |m| m.base_ns);
    let hosts: Vec<HostRow> = measured
        .into_iter()
        .map(|m| {
            let added = match m.name.as_str() {
                "storage_write" => Some((lookup_ns + commit.0.max(0.0), commit.1.max(0.0), "lookup (as storage_has) + block commit share")),
                "storage_remove" => Some((lookup_ns + commit.0.max(0.0), 0.0, "lookup (as storage_has) + block commit share per key")),
                _ => None,
            };
            host_row(current, m, gas_ns, added)
        })
        .collect();

    // 4. Example contracts, through the runtime.
    let contracts_dir = cfg.contracts_dir.as_deref().filter(|d| d.is_dir());
    progress("example contracts: deploy");
    let runnable = contracts::install_contracts(contracts_dir, &lab, &FRAME_PAGES)?;
    let contracts = contracts::measure_contracts(&lab, &runnable, cfg.samples, |l| progress(&format!("contract {l}")))?;
    progress("empty frames");
    let mut empty_frames = Vec::new();
    for pages in FRAME_PAGES {
        let (ns, gas) = contracts::empty_frame(&lab, pages, cfg.samples)?;
        empty_frames.push((pages, ns, gas));
    }
    // The cost is not linear in pages (the allocator switches between fresh mappings and
    // reused, re-zeroed heap memory): keep the worst marginal cost per page over 1 page.
    let one_page = empty_frames[0].1;
    let frame_ns_per_page = empty_frames
        .iter()
        .filter(|&&(p, _, _)| p > 1)
        .map(|&(p, ns, _)| (ns - one_page).max(0.0) / (p - 1) as f64)
        .fold(0.0, f64::max);
    let empty_frame = (empty_frames[0].1, empty_frames[0].2);

    // 5. The candidate table.
    let candidate_toml = report::candidate_toml(current, &classes, &dynamic, &hosts, gas_ns);
    let candidate = CostTable::from_toml(&candidate_toml)
        .map_err(|e| CalibrateError::Setup(format!("the candidate table does not load: {e}")))?;
    Ok(Calibration {
        gas_ns,
        classes,
        dynamic,
        hosts,
        contracts,
        empty_frame,
        empty_frames,
        frame_ns_per_page,
        median_ns_per_gas,
        candidate,
        candidate_toml,
        current: current.clone(),
        samples: cfg.samples,
        target: cfg.target,
    })
}

fn parse(wat: &str) -> Result<Vec<u8>, CalibrateError> {
    wat::parse_str(wat).map_err(|e| CalibrateError::Setup(format!("generated module: {e}")))
}

/// Gas of one more loop iteration under the runner's table.
fn gas_per_iteration<T>(r: &mut Runner<T>) -> Result<u64, CalibrateError> {
    let (_, g1) = r.call(1)?;
    let (_, g2) = r.call(2)?;
    Ok(g2.saturating_sub(g1))
}

fn dynamic_row(current: &CostTable, key: &str, slope: f64, gas_ns: f64, points: Vec<(f64, f64)>) -> DynamicResult {
    let d = current.dynamic();
    let current_gas = match key {
        "memory_per_byte" => d.memory_per_byte,
        "table_per_element" => d.table_per_element,
        _ => d.memory_grow_per_page,
    };
    DynamicResult {
        key: key.to_string(),
        ns_per_unit: slope.max(0.0),
        current_gas,
        candidate_gas: fit::to_unit_gas(slope, gas_ns),
        points,
    }
}

/// `memory.grow` per page, with the memory's whole life: fresh instances grow by 1, 8 and
/// 64 pages per call from 1 page to near the profile maximum (and by 0 pages 64 times),
/// touching every 4 KiB of each new page ([`ops::grow_wat`]); each sample times
/// instantiation, the call and the instance's drop (which returns the pages), minus the
/// same for a call that does nothing. The slope of the time per call over pages is the
/// per-page cost (the few operators of the touch loop are included: at most 0.1% of it).
fn measure_grow(engine: &keel_engine::Engine, sampling: &Sampling) -> Result<(f64, Vec<(f64, f64)>), CalibrateError> {
    let linker: Linker<()> = Linker::new();
    let max_pages = engine.config().profile.limits.max_memory_pages as u32;
    let lifetime = |module: &Module, calls: u32| -> Result<f64, CalibrateError> {
        let start = measure::Clock::now();
        let mut r = Runner::new(engine, module, &linker, ())?;
        r.call(calls)?;
        drop(r);
        Ok(start.elapsed().as_secs_f64() * 1e9)
    };
    let mut points = Vec::new();
    for pages in [0u32, 1, 8, 64] {
        // Every run grows from 1 page to near the maximum, so each point is the amortized
        // cost per call over the same range of memory sizes.
        let calls = max_pages.saturating_sub(1).checked_div(pages).map_or(64, |c| c.max(1));
        let wasm = parse(&ops::grow_wat(pages))?;
        let module = Module::new(engine, &wasm).map_err(CalibrateError::engine("compile grow benchmark"))?;
        let mut per_call = Vec::new();
        for _ in 0..sampling.samples.max(1) {
            let t = lifetime(&module, calls)?;
            let empty = lifetime(&module, 0)?;
            per_call.push((t - empty) / calls as f64);
        }
        points.push((pages as f64, measure::median(&mut per_call)));
    }
    let (_, slope) = fit::linear_fit(&points).ok_or_else(|| CalibrateError::Setup("memory.grow: no fit".into()))?;
    Ok((slope, points))
}

fn host_row(
    current: &CostTable,
    m: hostbench::HostResult,
    gas_ns: f64,
    added: Option<(f64, f64, &'static str)>,
) -> HostRow {
    let cur = current.host(&m.name).unwrap_or(HostCost { base: 0, per_byte: 0 });
    let (add_base, add_byte) = added.map_or((0.0, 0.0), |(b, p, _)| (b, p));
    let ns_per_gas = m
        .points
        .iter()
        .map(|p| (p.ns + add_base + add_byte * p.bytes as f64) / cur.cost(p.bytes).max(1) as f64)
        .fold(0.0, f64::max);
    let candidate = if m.fixed_size {
        // Base and per-byte cannot be told apart: keep the per-byte rate, put the rest in base.
        let bytes = m.points.first().map_or(0, |p| p.bytes);
        let total = fit::to_gas(m.base_ns + add_base + add_byte * bytes as f64, gas_ns, 1);
        HostCost { base: total.saturating_sub(cur.per_byte.saturating_mul(bytes)).max(1), per_byte: cur.per_byte }
    } else {
        HostCost {
            base: fit::to_gas(m.base_ns + add_base, gas_ns, 1),
            per_byte: fit::to_unit_gas(m.per_byte_ns + add_byte, gas_ns),
        }
    };
    HostRow { measured: m, current: cur, candidate, ns_per_gas, added }
}
