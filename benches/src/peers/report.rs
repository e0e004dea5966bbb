//! The comparison's output: a markdown report (ratio tables peer time / Keel time, absolute
//! figures, the goals checked against the figures) and an SVG plot of the
//! geometric-mean ratios.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use super::cosmwasm::COSMWASM_CONTRACTS;
use super::real::REAL_INPUTS;
use super::workloads::{CellResult, Measured, Workload, CONTRACTS};
use super::keel::KEEL_2THREADS;
use super::wasmer::WASMER_2THREADS;
use super::wasmtime::WINCH_2THREADS;
use super::{PeerError, EXTRA_FIGURES};

/// The label of the baseline.
pub const BASELINE: &str = "keel";

/// What a cell's child process produced: its results, or why there are none (timeout,
/// crash, unreadable output).
pub type Cell = Result<CellResult, String>;

/// One run of the comparison.
pub struct Run {
    /// Engine labels, Keel first.
    pub peers: Vec<String>,
    /// Workloads, in table order.
    pub workloads: Vec<Workload>,
    /// Results by (workload id, peer label).
    pub cells: BTreeMap<(String, String), Cell>,
    /// Free-form lines describing the run (date, machine, command, versions).
    pub info: Vec<String>,
}

/// Which figure of a cell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    /// Validation + compilation.
    Compile,
    /// Artifact load + instantiation.
    Instantiate,
    /// One call of the execution workload.
    Exec,
}

impl Metric {
    fn of(self, c: &CellResult) -> Option<&Measured> {
        match self {
            Metric::Compile => Some(&c.compile),
            Metric::Instantiate => c.instantiate.as_ref(),
            Metric::Exec => c.exec.as_ref(),
        }
    }
}

impl Run {
    fn cell(&self, w: &Workload, peer: &str) -> Option<&Cell> {
        self.cells.get(&(w.id(), peer.to_string()))
    }

    /// The median time of `metric` for (w, peer), if measured and (for execution) the
    /// outcome agrees with Keel's.
    pub fn time(&self, w: &Workload, peer: &str, metric: Metric) -> Option<Duration> {
        let c = self.cell(w, peer)?.as_ref().ok()?;
        if metric == Metric::Exec && self.mismatch(w, peer) {
            return None;
        }
        match metric.of(c)? {
            Measured::Time(s) => Some(s.median),
            Measured::Failed(_) => None,
        }
    }

    /// Whether `peer`'s execution outcome differs from Keel's.
    pub fn mismatch(&self, w: &Workload, peer: &str) -> bool {
        let fp = |p: &str| self.cell(w, p).and_then(|c| c.as_ref().ok()).map(|c| c.fingerprint.clone());
        match (fp(BASELINE), fp(peer)) {
            (Some(a), Some(b)) => !a.is_empty() && !b.is_empty() && a != b,
            _ => false,
        }
    }

    /// Peer time / Keel time for `metric` on `w`.
    pub fn ratio(&self, w: &Workload, peer: &str, metric: Metric) -> Option<f64> {
        let k = self.time(w, BASELINE, metric)?;
        let p = self.time(w, peer, metric)?;
        Some(p.as_secs_f64() / k.as_secs_f64())
    }

    /// Geometric mean of [`Run::ratio`] over `ws` (those with a figure), and how many.
    pub fn geomean(&self, ws: &[Workload], peer: &str, metric: Metric) -> Option<(f64, usize)> {
        let rs: Vec<f64> = ws.iter().filter_map(|w| self.ratio(w, peer, metric)).collect();
        if rs.is_empty() {
            return None;
        }
        Some(((rs.iter().map(|r| r.ln()).sum::<f64>() / rs.len() as f64).exp(), rs.len()))
    }

    fn why(&self, w: &Workload, peer: &str, metric: Metric) -> String {
        match self.cell(w, peer) {
            None => "".into(),
            Some(Err(e)) => e.clone(),
            Some(Ok(c)) => {
                if metric == Metric::Exec && self.mismatch(w, peer) {
                    return "MISMATCH".into();
                }
                match metric.of(c) {
                    None => "".into(),
                    Some(Measured::Time(_)) => "".into(),
                    Some(Measured::Failed(PeerError::Rejected(_))) if peer == BASELINE => "rejected by profile".into(),
                    Some(Measured::Failed(PeerError::Rejected(_))) => "rejected".into(),
                    Some(Measured::Failed(PeerError::Unsupported(_))) => "n/a".into(),
                    Some(Measured::Failed(PeerError::Trap(_))) => "trap".into(),
                    Some(Measured::Failed(_)) => "error".into(),
                }
            }
        }
    }

    /// The compared engines: every label but the baseline and the [`EXTRA_FIGURES`].
    fn compared(&self) -> Vec<&String> {
        self.peers.iter().filter(|p| p.as_str() != BASELINE && !EXTRA_FIGURES.contains(&p.as_str())).collect()
    }

    fn workloads_where(&self, f: impl Fn(&Workload) -> bool) -> Vec<Workload> {
        self.workloads.iter().filter(|w| f(w)).cloned().collect()
    }
}

fn fmt_ratio(r: f64) -> String {
    if r >= 100.0 {
        format!("{r:.0}")
    } else if r >= 10.0 {
        format!("{r:.1}")
    } else {
        format!("{r:.2}")
    }
}

fn fmt_abs(metric: Metric, bytes: usize, t: Duration) -> String {
    match metric {
        Metric::Compile => format!("{:.1}", bytes as f64 / t.as_secs_f64() / 1e6),
        Metric::Instantiate => format!("{:.1}", t.as_secs_f64() * 1e6),
        Metric::Exec => format!("{:.2}", t.as_secs_f64() * 1e3),
    }
}

fn workload_label(w: &Workload) -> String {
    match w {
        Workload::Contract(c) => format!("contract {c}"),
        Workload::Large => "large module (generated)".into(),
        Workload::Bomb(s, k) => format!("{} {k}x", s.name()),
        Workload::Real(i) => format!("npm {}", REAL_INPUTS[*i].name),
        Workload::CosmWasm(i) => format!("cosmwasm {}", COSMWASM_CONTRACTS[*i].name),
        Workload::Kernel(k) => format!("kernel {k}"),
    }
}

fn table(run: &Run, ws: &[Workload], metric: Metric, out: &mut String) {
    let peers = run.compared();
    let _ = write!(out, "| workload | size |");
    for p in &peers {
        let _ = write!(out, " {p} |");
    }
    out.push_str("\n|---|---:|");
    for _ in &peers {
        out.push_str("---:|");
    }
    out.push('\n');
    for w in ws {
        let bytes = run.cell(w, BASELINE).and_then(|c| c.as_ref().ok()).map(|c| c.wasm_bytes).unwrap_or(0);
        let _ = write!(out, "| {} | {} |", workload_label(w), fmt_bytes(bytes));
        for p in &peers {
            let cell = match run.ratio(w, p, metric) {
                Some(r) => fmt_ratio(r),
                None => {
                    let why = run.why(w, p, metric);
                    let keel = run.why(w, BASELINE, metric);
                    if why.is_empty() && !keel.is_empty() { format!("(keel: {keel})") } else { why }
                }
            };
            let _ = write!(out, " {cell} |");
        }
        out.push('\n');
    }
}

/// Absolute figures of every engine; the [`EXTRA_FIGURES`] only in the compile table.
fn abs_table(run: &Run, ws: &[Workload], metric: Metric, out: &mut String) {
    let peers: Vec<&String> =
        run.peers.iter().filter(|p| metric == Metric::Compile || !EXTRA_FIGURES.contains(&p.as_str())).collect();
    let _ = write!(out, "| workload |");
    for p in &peers {
        let _ = write!(out, " {p} |");
    }
    out.push_str("\n|---|");
    for _ in &peers {
        out.push_str("---:|");
    }
    out.push('\n');
    for w in ws {
        let bytes = run.cell(w, BASELINE).and_then(|c| c.as_ref().ok()).map(|c| c.wasm_bytes).unwrap_or(0);
        let _ = write!(out, "| {} |", workload_label(w));
        for p in &peers {
            let cell = match run.time(w, p, metric) {
                Some(t) => fmt_abs(metric, bytes, t),
                None => run.why(w, p, metric),
            };
            let _ = write!(out, " {cell} |");
        }
        out.push('\n');
    }
}

fn fmt_bytes(b: usize) -> String {
    if b >= 1 << 20 {
        format!("{:.1} MiB", b as f64 / (1 << 20) as f64)
    } else if b >= 1 << 10 {
        format!("{:.0} KiB", b as f64 / 1024.0)
    } else {
        format!("{b} B")
    }
}

/// A goal of issue 7 checked against the run.
pub struct Goal {
    /// What is required.
    pub goal: String,
    /// What was measured.
    pub measured: String,
    /// `Some(true/false)` if the figures decide it, `None` if they are missing.
    pub met: Option<bool>,
}

/// The goals, checked against the figures of `run`.
pub fn goals(run: &Run) -> Vec<Goal> {
    let contracts = run.workloads_where(|w| matches!(w, Workload::Contract(c) if CONTRACTS.contains(&c.as_str())));
    let execs = run.workloads_where(|w| w.exec().is_some());
    let cosmwasm = run.workloads_where(|w| matches!(w, Workload::CosmWasm(_)));
    let mut out = Vec::new();
    out.push(throughput_goal(run, &contracts, "the example contracts", ""));
    let fmt_peer = |peer: &str| match throughput(run, &cosmwasm, peer) {
        Some((worst, g, _)) => format!("{worst:.1}-{g:.1}"),
        None => "none".into(),
    };
    let calibration = format!(
        "; the same run's peers (worst-geomean MB/s): wasmer-singlepass {} (two threads, its default: {}), \
         wasmtime-winch {} (two threads, its default: {}), wasmi-eager {} (the issue measured 15-21, 7-8.5 \
         and 43-56 on its CosmWasm contracts)",
        fmt_peer("wasmer-singlepass"),
        fmt_peer(WASMER_2THREADS),
        fmt_peer("wasmtime-winch"),
        fmt_peer(WINCH_2THREADS),
        fmt_peer("wasmi-eager")
    );
    out.push(throughput_goal(run, &cosmwasm, "real CosmWasm contracts (cw-plus, built as deployed)", &calibration));
    for sp in ["wasmer-singlepass", "wasmer-singlepass+metering"] {
        let g = run.geomean(&contracts, sp, Metric::Compile);
        let worst = contracts.iter().filter_map(|w| run.ratio(w, sp, Metric::Compile)).fold(f64::INFINITY, f64::min);
        out.push(Goal {
            goal: format!("compile throughput on the example contracts >= 3x {sp}"),
            measured: match g {
                Some((g, n)) => format!("{}x (geomean of {n}; worst {}x)", fmt_ratio(g), fmt_ratio(worst)),
                None => "no figures".into(),
            },
            met: g.map(|(g, _)| g >= 3.0),
        });
    }
    for cl in ["wasmtime-cranelift", "wasmtime-cranelift+fuel"] {
        let g = run.geomean(&execs, cl, Metric::Exec);
        out.push(Goal {
            goal: format!("execution time (Keel metered) <= 1.5x {cl}"),
            measured: match g {
                Some((g, n)) => format!("Keel takes {}x {cl}'s time (geomean of {n})", fmt_ratio(1.0 / g)),
                None => "no figures".into(),
            },
            met: g.map(|(g, _)| 1.0 / g <= 1.5),
        });
    }
    for wi in ["wasmi-eager", "wasmi-eager+fuel"] {
        let g = run.geomean(&execs, wi, Metric::Exec);
        out.push(Goal {
            goal: format!("execution >= 10x faster than {wi}"),
            measured: match g {
                Some((g, n)) => format!("{}x faster (geomean of {n})", fmt_ratio(g)),
                None => "no figures".into(),
            },
            met: g.map(|(g, _)| g >= 10.0),
        });
    }
    let g = run.geomean(&execs, "keel-unmetered", Metric::Exec);
    out.push(Goal {
        goal: "Keel metering overhead < 5% of execution time".into(),
        measured: match g {
            Some((g, n)) => format!("{:+.1}% (geomean of {n})", (1.0 / g - 1.0) * 100.0),
            None => "keel-engine has no switch to compile without metering yet: not measurable".into(),
        },
        met: g.map(|(g, _)| 1.0 / g - 1.0 < 0.05),
    });
    out
}

/// Compile throughput of `peer` on `ws`, MB/s of input wasm: the worst and the geometric
/// mean over the workloads with a figure, and how many.
fn throughput(run: &Run, ws: &[Workload], peer: &str) -> Option<(f64, f64, usize)> {
    let mbs: Vec<f64> = ws
        .iter()
        .filter_map(|w| {
            let bytes = run.cell(w, BASELINE)?.as_ref().ok()?.wasm_bytes;
            let t = run.time(w, peer, Metric::Compile)?;
            Some(bytes as f64 / t.as_secs_f64() / 1e6)
        })
        .collect();
    if mbs.is_empty() {
        return None;
    }
    let worst = mbs.iter().copied().fold(f64::INFINITY, f64::min);
    let geomean = (mbs.iter().map(|x| x.ln()).sum::<f64>() / mbs.len() as f64).exp();
    Some((worst, geomean, mbs.len()))
}

/// Issue 3's compile target: at least 50 MB/s on `what` (the workloads `contracts`), with
/// one compile thread (`keel`, CPU time) and with parallel compilation (`keel-2threads`,
/// wall clock); `extra` is appended to the measured column. Met only if the worst contract
/// reaches it on one thread.
fn throughput_goal(run: &Run, contracts: &[Workload], what: &str, extra: &str) -> Goal {
    let one = throughput(run, contracts, BASELINE);
    let two = throughput(run, contracts, KEEL_2THREADS);
    let fmt = |t: Option<(f64, f64, usize)>| match t {
        Some((worst, g, n)) => format!("worst {worst:.1}, geomean {g:.1} MB/s of {n}"),
        None => "no figures".into(),
    };
    Goal {
        goal: format!("compile throughput on {what} >= 50 MB/s (issue 3)"),
        measured: format!(
            "one thread (CPU time): {}; two threads (`{KEEL_2THREADS}`, wall clock; modules under {} KiB of code take one thread): {}{extra}",
            fmt(one),
            keel_engine::PARALLEL_COMPILATION_MIN_CODE_BYTES >> 10,
            fmt(two)
        ),
        met: one.map(|(worst, _, _)| worst >= 50.0),
    }
}

/// The markdown report.
pub fn markdown(run: &Run) -> String {
    let mut out = String::from("# Keel against its peers\n\n");
    for line in &run.info {
        let _ = writeln!(out, "{line}  ");
    }
    out.push_str(
        "\nRatios are **peer time / Keel time** (medians, measured side by side in one run): \
         above 1 Keel is faster, below 1 the peer is. Keel runs with its native gas metering on \
         in every row. `+fuel` / `+metering`: the peer's own metering on. Empty or worded cells \
         say why there is no figure (`rejected`: the engine refused the module; `rejected by \
         profile`: Keel's deterministic profile refused it; `n/a`: the engine has no such \
         facility; `MISMATCH`: the result differs from Keel's).\n\n",
    );
    out.push_str("## Goals (issue 7; the first two rows: issue 3)\n\n| goal | measured | met |\n|---|---|---|\n");
    for g in goals(run) {
        let met = match g.met {
            Some(true) => "yes",
            Some(false) => "**no**",
            None => "unknown",
        };
        let _ = writeln!(out, "| {} | {} | {met} |", g.goal, g.measured);
    }
    let compile_ws = run.workloads.clone();
    let inst_ws = run.workloads_where(Workload::instantiates);
    let exec_ws = run.workloads_where(|w| w.exec().is_some());
    out.push_str("\n## Compile time (validation + compilation), ratio peer / Keel\n\n");
    table(run, &compile_ws, Metric::Compile, &mut out);
    out.push_str("\n## Instantiation (artifact load + instantiate), ratio peer / Keel\n\n");
    out.push_str("wasmi has no serialized artifact: its figure instantiates the in-memory module.\n\n");
    table(run, &inst_ws, Metric::Instantiate, &mut out);
    out.push_str("\n## Execution time, ratio peer / Keel\n\n");
    let ns: Vec<String> = exec_ws
        .iter()
        .filter_map(|w| run.cell(w, BASELINE)?.as_ref().ok().map(|c| format!("{} n={}", workload_label(w), c.n)))
        .collect();
    let _ = writeln!(
        out,
        "One call on a fresh instance per sample; work size calibrated on Keel to about 20 ms ({}).\n",
        ns.join(", ")
    );
    table(run, &exec_ws, Metric::Exec, &mut out);
    let _ = write!(
        out,
        "\n## Absolute figures\n\nCompile throughput, MB/s of input wasm. Every engine compiles on one thread, \
         timed in CPU time; the extra columns compile on two threads, timed on the wall clock, and show a gain \
         only when a second core is free: `{KEEL_2THREADS}` is Keel with `Config::parallel_compilation(true)` \
         (validation on a second thread while the first generates code, for code sections of at least {} KiB), \
         `{WINCH_2THREADS}` and `{WASMER_2THREADS}` are those engines' defaults (functions compiled on a \
         two-thread rayon pool).\n\n",
        keel_engine::PARALLEL_COMPILATION_MIN_CODE_BYTES >> 10
    );
    abs_table(run, &compile_ws, Metric::Compile, &mut out);
    out.push_str("\nInstantiation, µs:\n\n");
    abs_table(run, &inst_ws, Metric::Instantiate, &mut out);
    out.push_str("\nExecution, ms per call:\n\n");
    abs_table(run, &exec_ws, Metric::Exec, &mut out);
    out.push_str("\n## Real-world inputs (fetched from npm at bench time, not committed)\n\n");
    out.push_str("| name | package | file | what | Keel |\n|---|---|---|---|---|\n");
    for (i, r) in REAL_INPUTS.iter().enumerate() {
        let w = Workload::Real(i);
        let keel = match run.cell(&w, BASELINE) {
            None => "not run".into(),
            Some(Err(e)) => e.clone(),
            Some(Ok(c)) => match &c.compile {
                Measured::Time(_) => "compiled".into(),
                Measured::Failed(PeerError::Rejected(m)) => format!("rejected by profile: {m}"),
                Measured::Failed(e) => e.to_string(),
            },
        };
        let _ = writeln!(out, "| {} | {}@{} | `{}` | {} | {} |", r.name, r.package, r.version, r.path, r.what, keel.replace('|', "/"));
    }
    out.push_str(
        "\n## CosmWasm contracts (built from crates.io at bench time, not committed)\n\n\
         Each is the crate's `.crate` from crates.io (SHA-256 checked), built with its own \
         `Cargo.lock` as CosmWasm's optimizer builds what chains deploy: cw-plus's release \
         profile, `-C link-arg=-s`, then `wasm-opt -Os` (see `benches/src/peers/cosmwasm.rs`).\n\n\
         | name | crate | what | size | Keel |\n|---|---|---|---:|---|\n",
    );
    for (i, c) in COSMWASM_CONTRACTS.iter().enumerate() {
        let w = Workload::CosmWasm(i);
        let (size, keel) = match run.cell(&w, BASELINE) {
            None => ("-".into(), "not run".into()),
            Some(Err(e)) => ("-".into(), e.clone()),
            Some(Ok(c)) => (
                format!("{} KiB", c.wasm_bytes >> 10),
                match &c.compile {
                    Measured::Time(t) => format!("{:.1} MB/s", c.wasm_bytes as f64 / t.median.as_secs_f64() / 1e6),
                    Measured::Failed(PeerError::Rejected(m)) => format!("rejected by profile: {m}"),
                    Measured::Failed(e) => e.to_string(),
                },
            ),
        };
        let _ = writeln!(out, "| {} | {}@{} | {} | {size} | {} |", c.name, c.name, c.version, c.what, keel.replace('|', "/"));
    }
    let mut errors = String::new();
    for ((w, p), c) in &run.cells {
        let msgs: Vec<String> = match c {
            Err(e) => vec![e.clone()],
            Ok(c) => [Some(&c.compile), c.instantiate.as_ref(), c.exec.as_ref()]
                .into_iter()
                .flatten()
                .filter_map(|m| match m {
                    Measured::Failed(e) => Some(e.to_string()),
                    Measured::Time(_) => None,
                })
                .collect(),
        };
        for m in msgs {
            let m: String = m.chars().take(300).collect();
            let _ = writeln!(errors, "- `{w}` on {p}: {}", m.replace('|', "/"));
        }
    }
    if !errors.is_empty() {
        out.push_str("\n## Why cells are empty\n\n");
        out.push_str(&errors);
    }
    out
}

/// Writes an SVG bar chart of the geometric-mean ratio (peer time / Keel time, log scale)
/// per engine, for compile (contracts), instantiation and execution.
///
/// Errors: the plotting backend's message.
pub fn plot(run: &Run, path: &Path) -> Result<(), String> {
    use plotters::prelude::*;
    let contracts = run.workloads_where(|w| matches!(w, Workload::Contract(_)));
    let inst = run.workloads_where(Workload::instantiates);
    let exec = run.workloads_where(|w| w.exec().is_some());
    let series: [(&str, &[Workload], Metric, RGBColor); 3] = [
        ("compile (contracts)", &contracts, Metric::Compile, RGBColor(31, 119, 180)),
        ("instantiate", &inst, Metric::Instantiate, RGBColor(255, 127, 14)),
        ("execute", &exec, Metric::Exec, RGBColor(44, 160, 44)),
    ];
    let peers = run.compared();
    let values: Vec<Vec<Option<f64>>> = peers
        .iter()
        .map(|p| series.iter().map(|(_, ws, m, _)| run.geomean(ws, p, *m).map(|(g, _)| g)).collect())
        .collect();
    let all: Vec<f64> = values.iter().flatten().flatten().copied().collect();
    let lo = all.iter().copied().fold(1.0f64, f64::min).max(1e-3) / 1.5;
    let hi = all.iter().copied().fold(1.0f64, f64::max) * 1.5;
    let height = 80 + 60 * peers.len() as u32;
    let root = SVGBackend::new(path, (1000, height)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let mut chart = ChartBuilder::on(&root)
        .caption("Peer time / Keel time (geometric mean; > 1: Keel faster)", ("sans-serif", 20))
        .margin(15)
        .x_label_area_size(40)
        .y_label_area_size(230)
        .build_cartesian_2d((lo..hi).log_scale(), 0f64..peers.len() as f64)
        .map_err(|e| e.to_string())?;
    let labels: Vec<String> = peers.iter().map(|p| p.to_string()).collect();
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_labels(peers.len() * 2 + 1)
        .y_label_formatter(&|y| {
            let i = (*y - 0.5).round();
            if (*y - 0.5 - i).abs() < 1e-6 && i >= 0.0 && (i as usize) < labels.len() {
                labels[labels.len() - 1 - i as usize].clone()
            } else {
                String::new()
            }
        })
        .x_desc("ratio (log scale)")
        .draw()
        .map_err(|e| e.to_string())?;
    for (s, (name, _, _, color)) in series.iter().enumerate() {
        let bars: Vec<Rectangle<(f64, f64)>> = values
            .iter()
            .enumerate()
            .filter_map(|(i, v)| {
                let r = v[s]?;
                let row = (peers.len() - 1 - i) as f64;
                let y0 = row + 0.15 + 0.23 * s as f64;
                Some(Rectangle::new([(lo, y0), (r, y0 + 0.21)], color.filled()))
            })
            .collect();
        chart
            .draw_series(bars)
            .map_err(|e| e.to_string())?
            .label(*name)
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], color.filled()));
    }
    chart
        .draw_series(std::iter::once(PathElement::new(vec![(1.0, 0.0), (1.0, peers.len() as f64)], BLACK.stroke_width(2))))
        .map_err(|e| e.to_string())?;
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(|e| e.to_string())?;
    root.present().map_err(|e| e.to_string())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::peers::measure::Stats;

    /// A cell that compiled `bytes` in `compile_us` and instantiated in 50 µs.
    fn cell(bytes: usize, compile_us: u64, instantiates: bool) -> Cell {
        let t = |us| Measured::Time(Stats { median: Duration::from_micros(us), min: Duration::from_micros(us), samples: 5 });
        Ok(CellResult {
            wasm_bytes: bytes,
            compile: t(compile_us),
            instantiate: instantiates.then(|| t(50)),
            exec: None,
            n: 0,
            fingerprint: String::new(),
        })
    }

    /// Two contracts: 40,000 bytes (keel 1,000 µs: 40 MB/s; two threads 500 µs: 80 MB/s)
    /// and 20,000 bytes (keel 250 µs: 80 MB/s; two threads 250 µs).
    fn run() -> Run {
        let workloads = vec![Workload::Contract("token".into()), Workload::Contract("escrow".into())];
        let peers = vec![BASELINE.to_string(), KEEL_2THREADS.to_string(), "wasmi-eager".to_string()];
        let mut cells = BTreeMap::new();
        for (w, bytes, keel, two, wasmi) in [(&workloads[0], 40_000, 1_000, 500, 2_000), (&workloads[1], 20_000, 250, 250, 500)] {
            cells.insert((w.id(), BASELINE.to_string()), cell(bytes, keel, true));
            cells.insert((w.id(), KEEL_2THREADS.to_string()), cell(bytes, two, false));
            cells.insert((w.id(), "wasmi-eager".to_string()), cell(bytes, wasmi, true));
        }
        Run { peers, workloads, cells, info: Vec::new() }
    }

    #[test]
    fn the_two_thread_figure_is_only_in_the_compile_throughput_table_and_the_goal() {
        let md = markdown(&run());
        let section = |title: &str| {
            let start = md.find(title).unwrap_or_else(|| panic!("no section {title}"));
            let rest = &md[start..];
            let end = rest[1..].find("\n## ").map_or(rest.len(), |e| e + 1);
            rest[..end].to_string()
        };
        let ratios = section("## Compile time (validation + compilation), ratio peer / Keel");
        assert!(ratios.contains("wasmi-eager") && !ratios.contains(KEEL_2THREADS), "{ratios}");
        assert!(ratios.contains("| contract token | 39 KiB | 2.00 |"), "{ratios}");
        let absolute = section("## Absolute figures");
        let (compile, rest) = absolute.split_at(absolute.find("Instantiation, µs").expect("instantiation table"));
        assert!(compile.contains("| workload | keel | keel-2threads | wasmi-eager |"), "{compile}");
        assert!(compile.contains("| contract token | 40.0 | 80.0 | 20.0 |"), "{compile}");
        assert!(!rest.contains(KEEL_2THREADS), "{rest}");
    }

    #[test]
    fn the_throughput_goal_reports_both_figures_and_judges_one_thread() {
        let goal = goals(&run()).remove(0);
        assert!(goal.goal.contains(">= 50 MB/s"), "{}", goal.goal);
        assert!(goal.measured.contains("one thread (CPU time): worst 40.0, geomean 56.6 MB/s of 2"), "{}", goal.measured);
        assert!(goal.measured.contains("worst 80.0, geomean 80.0 MB/s of 2"), "{}", goal.measured);
        assert_eq!(goal.met, Some(false), "the worst one-thread figure is 40 MB/s");
    }
}
