//! Timing and exact operator counting of benchmark modules on keel-engine.
//!
//! * **Timing.** A benchmark and its baseline are called alternately (`samples` pairs), each
//!   with the same iteration count, chosen so one call takes about the target sample time.
//!   The result is the median over pairs of `(t_bench - t_baseline) / iterations`:
//!   interleaving makes slow drifts of the machine hit both sides equally. Times are the
//!   calling thread's CPU time ([`Clock`]), user plus system, so time spent descheduled on
//!   a busy machine is not counted (wall time where thread CPU time is unavailable).
//! * **Counting.** The engine's metering counts for us: under a *one-hot* cost table
//!   (class `c` costs 1 gas, everything else 0) the gas a call uses is the number of
//!   operators of class `c` it executed, callees included. Two runs (1 and 2 iterations)
//!   give the per-iteration count.

use std::time::{Duration, Instant};

use keel_engine::{Config, Engine, Linker, Module, Store};
use keel_metering::{CostTable, OpClass};

use super::CalibrateError;

/// The clock of every measurement: the calling thread's CPU time (`CLOCK_THREAD_CPUTIME_ID`,
/// user + system, nanosecond resolution) on Unix, wall time elsewhere.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    at: Duration,
    process: bool,
}

impl Clock {
    /// The current reading of the calling thread's CPU time.
    pub fn now() -> Clock {
        Clock { at: Self::read(false), process: false }
    }

    /// The current reading of the whole process's CPU time (all threads: for work that
    /// RocksDB may hand to its own threads).
    pub fn now_process() -> Clock {
        Clock { at: Self::read(true), process: true }
    }

    fn read(process: bool) -> Duration {
        #[cfg(unix)]
        {
            let id = if process { libc::CLOCK_PROCESS_CPUTIME_ID } else { libc::CLOCK_THREAD_CPUTIME_ID };
            let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
            // SAFETY: `ts` is a valid, writable timespec for the duration of the call, and
            // both clock ids are provided by every supported Unix.
            let rc = unsafe { libc::clock_gettime(id, &mut ts) };
            if rc == 0 {
                return Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32);
            }
        }
        let _ = process;
        wall_epoch().elapsed()
    }

    /// Time from `self` to now, on the same clock.
    pub fn elapsed(self) -> Duration {
        Self::read(self.process).saturating_sub(self.at)
    }
}

fn wall_epoch() -> Instant {
    static EPOCH: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

/// Gas limit of every benchmark call: high enough never to be reached.
pub const BENCH_GAS_LIMIT: u64 = u64::MAX / 4;

/// How long and how often to measure.
#[derive(Debug, Clone, Copy)]
pub struct Sampling {
    /// Pairs (benchmark, baseline) timed per measurement; the median is kept.
    pub samples: usize,
    /// Time ([`Clock`]) one timed call should take (the iteration count is scaled to reach it).
    pub target: Duration,
    /// Largest iteration count tried when scaling.
    pub max_iterations: u32,
}

/// One measurement: nanoseconds per iteration, and how spread the samples were.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Timing {
    /// Median over samples of the per-iteration time difference (ns), benchmark minus
    /// baseline.
    pub ns: f64,
    /// Median absolute deviation of the per-iteration differences (ns).
    pub mad: f64,
    /// Iterations per timed call.
    pub iterations: u32,
}

/// Median of `v` (sorted in place); 0 for an empty slice.
pub fn median(v: &mut [f64]) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let m = v.len() / 2;
    if v.len() % 2 == 1 {
        v[m]
    } else {
        (v[m - 1] + v[m]) / 2.0
    }
}

/// A compiled benchmark ready to call: its store, and `run(n: i32) -> i64`.
pub struct Runner<T> {
    store: Store<T>,
    run: keel_engine::TypedFunc<i32, i64>,
}

impl<T> Runner<T> {
    /// Instantiates `module` with `linker` and host data `data`, and finds `run`.
    ///
    /// Errors: [`CalibrateError::Engine`] if instantiation fails or `run` is missing.
    pub fn new(engine: &Engine, module: &Module, linker: &Linker<T>, data: T) -> Result<Self, CalibrateError> {
        let mut store = Store::new(engine, data);
        store.set_gas_limit(BENCH_GAS_LIMIT);
        let instance = linker.instantiate(&mut store, module).map_err(CalibrateError::engine("instantiate"))?;
        let run = instance
            .get_typed_func::<T, i32, i64>(&mut store, "run")
            .map_err(CalibrateError::engine("export run"))?;
        Ok(Runner { store, run })
    }

    /// Calls `run(n)` with a fresh gas limit; returns its time ([`Clock`]) and the gas used.
    ///
    /// Errors: [`CalibrateError::Engine`] if the call traps, [`CalibrateError::Setup`] if
    /// `n` exceeds `i32::MAX`.
    pub fn call(&mut self, n: u32) -> Result<(Duration, u64), CalibrateError> {
        let run = self.run;
        self.store.set_gas_limit(BENCH_GAS_LIMIT);
        let n = i32::try_from(n).map_err(|_| CalibrateError::Setup("iteration count above i32::MAX".into()))?;
        let start = Clock::now();
        let out = run.call(&mut self.store, n);
        let elapsed = start.elapsed();
        std::hint::black_box(out.map_err(CalibrateError::engine("run"))?);
        Ok((elapsed, self.store.gas_used()))
    }
}

/// Scales the iteration count until one call of `bench` takes at least `sampling.target`.
pub fn pick_iterations<T>(bench: &mut Runner<T>, sampling: &Sampling) -> Result<u32, CalibrateError> {
    let mut n: u32 = 1;
    loop {
        let (d, _) = bench.call(n)?;
        if d >= sampling.target || n >= sampling.max_iterations {
            return Ok(n);
        }
        // Aim straight at the target once the time is measurable, else double.
        let next = if d > Duration::from_micros(20) {
            (n as f64 * sampling.target.as_secs_f64() / d.as_secs_f64() * 1.1).ceil() as u64
        } else {
            n as u64 * 4
        };
        n = next.clamp(n as u64 + 1, sampling.max_iterations as u64) as u32;
    }
}

/// Times `bench` against `baseline` (see the module docs).
pub fn time_pair<T, U>(
    bench: &mut Runner<T>,
    baseline: &mut Runner<U>,
    sampling: &Sampling,
) -> Result<Timing, CalibrateError> {
    let iterations = pick_iterations(bench, sampling)?;
    let mut diffs = Vec::with_capacity(sampling.samples);
    for _ in 0..sampling.samples.max(1) {
        let (tb, _) = bench.call(iterations)?;
        let (t0, _) = baseline.call(iterations)?;
        diffs.push((tb.as_secs_f64() - t0.as_secs_f64()) * 1e9 / iterations as f64);
    }
    let ns = median(&mut diffs);
    let mut dev: Vec<f64> = diffs.iter().map(|d| (d - ns).abs()).collect();
    let mad = median(&mut dev);
    Ok(Timing { ns, mad, iterations })
}

/// A cost table charging 1 gas for `class` and nothing else (no dynamic, no host costs).
pub fn one_hot_table(base: &CostTable, class: Option<OpClass>) -> Result<CostTable, CalibrateError> {
    let mut t = zero_table(base)?;
    if let Some(c) = class {
        t.set_class_cost(c, 1).map_err(|e| CalibrateError::Setup(e.to_string()))?;
    }
    Ok(t)
}

/// `base` with every operator, dynamic and host cost set to 0.
pub fn zero_table(base: &CostTable) -> Result<CostTable, CalibrateError> {
    let mut text = String::from("version = 0\n[operators]\n");
    for c in OpClass::ALL {
        text.push_str(&format!("{} = 0\n", c.name()));
    }
    text.push_str("[dynamic]\nmemory_grow_per_page = 0\nmemory_per_byte = 0\ntable_per_element = 0\n");
    for name in base.host_costs().keys() {
        text.push_str(&format!("[host.{name}]\nbase = 0\nper_byte = 0\n"));
    }
    CostTable::from_toml(&text).map_err(|e| CalibrateError::Setup(e.to_string()))
}

/// An engine charging by `table`, with the default profile and stack budget.
pub fn engine_with(table: CostTable) -> Result<Engine, CalibrateError> {
    Engine::new(Config { cost_table: table, ..Config::default() }).map_err(CalibrateError::engine("engine"))
}

/// Per-iteration operator counts of `wasm` by class (in [`OpClass::ALL`] order), using
/// one-hot tables; `make_linker`/`make_data` provide the host side for modules with imports.
pub fn class_counts<T>(
    base: &CostTable,
    wasm: &[u8],
    linker: &Linker<T>,
    mut make_data: impl FnMut() -> Result<T, CalibrateError>,
) -> Result<[f64; OpClass::ALL.len()], CalibrateError> {
    let mut counts = [0.0; OpClass::ALL.len()];
    for (i, class) in OpClass::ALL.iter().enumerate() {
        let engine = engine_with(one_hot_table(base, Some(*class))?)?;
        let module = Module::new(&engine, wasm).map_err(CalibrateError::engine("compile"))?;
        let mut r = Runner::new(&engine, &module, linker, make_data()?)?;
        let (_, g1) = r.call(1)?;
        let (_, g2) = r.call(2)?;
        counts[i] = g2.saturating_sub(g1) as f64;
    }
    Ok(counts)
}
