//! Keel against wasmi, Wasmtime (Cranelift, Winch) and Wasmer singlepass, side by side:
//! compile throughput, instantiation latency and execution time. Writes
//! `benches/results/peers.md` (ratio tables and absolute figures) and
//! `benches/results/peers.svg`.
//!
//! `cargo run --release -p keel-benches --features peers --bin peers [-- --quick]`
//!
//! Each (engine, workload) cell runs in a child process of this binary (`--cell`), so a
//! peer that crashes or hangs on a JIT bomb costs one cell, not the run.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use clap::Parser;
use keel_benches::peers::measure::Budget;
use keel_benches::peers::report::{self, Run, BASELINE};
use keel_benches::peers::workloads::{measure_cell, CellResult, Workload};
use keel_benches::peers::{all_peers, real};

/// Rounds of the whole matrix when `--rounds` is not given.
const DEFAULT_ROUNDS: u32 = 3;

#[derive(Parser, Debug)]
#[command(about = "Keel against its peers: compile, instantiate and execute, side by side")]
struct Args {
    /// Shorter sampling (about 0.2 s per cell instead of 1 s).
    #[arg(long)]
    quick: bool,
    /// Only workloads whose id contains this (e.g. `contract:`, `bomb:`, `real:`, `kernel:`).
    #[arg(long)]
    only: Option<String>,
    /// Only engines whose label contains this (Keel always runs: it is the baseline).
    #[arg(long)]
    peers: Option<String>,
    /// Output folder.
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/results"))]
    out: PathBuf,
    /// Runs of the whole matrix; each cell's figure is the median of its rounds' medians.
    /// Rounds run one after another, so one cell's rounds are minutes apart and a burst of
    /// load on a shared machine spoils at most one of them.
    #[arg(long, default_value_t = DEFAULT_ROUNDS, value_parser = clap::value_parser!(u32).range(1..=20))]
    rounds: u32,
    /// Seconds before a cell's child process is killed.
    #[arg(long, default_value_t = 300)]
    timeout: u64,
    /// Internal: measure one cell (`<peer label> <workload id>`) and print it.
    #[arg(long, num_args = 2, value_names = ["PEER", "WORKLOAD"])]
    cell: Option<Vec<String>>,
    /// Internal: execution work size for `--cell` and `--profile` (default: calibrate).
    #[arg(long)]
    n: Option<u64>,
    /// Compile, instantiate and run the execution of one cell once (`<peer label>
    /// <workload id>`, work size `--n`), untimed: the body of a `valgrind --tool=callgrind`
    /// profile (run it at two `--n` and subtract to get instructions per unit of work).
    #[arg(long, num_args = 2, value_names = ["PEER", "WORKLOAD"])]
    profile: Option<Vec<String>>,
}

fn main() {
    let args = Args::parse();
    if let Some(cell) = &args.cell {
        std::process::exit(run_cell(&cell[0], &cell[1], args.n, args.quick));
    }
    if let Some(p) = &args.profile {
        std::process::exit(match profile_once(&p[0], &p[1], args.n) {
            Ok(fp) => {
                println!("{fp}");
                0
            }
            Err(e) => {
                eprintln!("{e}");
                2
            }
        });
    }
    if let Err(e) = run_all(&args) {
        eprintln!("peers: {e}");
        std::process::exit(1);
    }
}

/// Child mode: one cell, printed in `CellResult::encode` form. Runs on a thread with a large
/// stack so that recursive peers survive deep-nesting bombs when they can.
fn run_cell(peer: &str, workload: &str, n: Option<u64>, quick: bool) -> i32 {
    let (peer, workload) = (peer.to_string(), workload.to_string());
    let t = std::thread::Builder::new().stack_size(1 << 30).spawn(move || -> Result<String, String> {
        let w = Workload::parse(&workload).ok_or_else(|| format!("unknown workload {workload}"))?;
        let mut peers = all_peers(w.permissive()).map_err(|e| e.to_string())?;
        let p = peers.iter_mut().find(|p| p.label() == peer).ok_or_else(|| format!("unknown engine {peer}"))?;
        let budget = if quick { Budget::QUICK } else { Budget::DEFAULT };
        measure_cell(p.as_mut(), &w, n, budget).map(|c| c.encode())
    });
    match t.map_err(|e| e.to_string()).and_then(|h| h.join().map_err(|_| "panicked".to_string())) {
        Ok(Ok(text)) => {
            print!("{text}");
            0
        }
        Ok(Err(e)) | Err(e) => {
            eprintln!("{e}");
            2
        }
    }
}

/// `--profile`: one compile, one instantiation, one call; returns the outcome's fingerprint.
fn profile_once(peer: &str, workload: &str, n: Option<u64>) -> Result<String, String> {
    let w = Workload::parse(workload).ok_or_else(|| format!("unknown workload {workload}"))?;
    let exec = w.exec().ok_or_else(|| format!("{workload} does not execute"))?;
    let n = n.or(exec.fixed_n()).unwrap_or(exec.initial_n());
    let mut peers = all_peers(w.permissive()).map_err(|e| e.to_string())?;
    let p = peers.iter_mut().find(|p| p.label() == peer).ok_or_else(|| format!("unknown engine {peer}"))?;
    let module = p.compile(&w.wasm()?).map_err(|e| e.to_string())?;
    let (export, input, args) = exec.call(n);
    let mut inst = module.instantiate(&input).map_err(|e| e.to_string())?;
    let out = inst.call(export, &args).map_err(|e| e.to_string())?;
    Ok(format!("{out:?} {}", keel_benches::peers::workloads::hex(&inst.return_data())))
}

/// Runs one cell in a child process, with a timeout.
fn spawn_cell(exe: &PathBuf, peer: &str, w: &Workload, n: Option<u64>, args: &Args) -> Result<CellResult, String> {
    let mut cmd = Command::new(exe);
    cmd.arg("--cell").arg(peer).arg(w.id());
    if let Some(n) = n {
        cmd.arg("--n").arg(n.to_string());
    }
    if args.quick {
        cmd.arg("--quick");
    }
    let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().map_err(|e| e.to_string())?;
    let mut stdout = child.stdout.take().ok_or("no stdout")?;
    let mut stderr = child.stderr.take().ok_or("no stderr")?;
    let out_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().map_err(|e| e.to_string())? {
            break Some(s);
        }
        if start.elapsed() > Duration::from_secs(args.timeout) {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let out = out_reader.join().unwrap_or_default();
    let err = err_reader.join().unwrap_or_default();
    let Some(status) = status else { return Err(format!("timeout ({} s)", args.timeout)) };
    if !status.success() {
        let last: String = err.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("").chars().take(200).collect();
        return Err(match status.code() {
            Some(c) => format!("crashed (exit {c}: {last})"),
            None => format!("crashed (signal; {last})"),
        });
    }
    CellResult::decode(&out).ok_or_else(|| format!("unreadable cell output: {out:?}"))
}

fn run_all(args: &Args) -> Result<(), String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let labels: Vec<String> = all_peers(false)
        .map_err(|e| e.to_string())?
        .iter()
        .map(|p| p.label())
        .filter(|l| l == BASELINE || args.peers.as_ref().is_none_or(|f| l.contains(f.as_str())))
        .collect();
    let workloads: Vec<Workload> = Workload::all()
        .into_iter()
        .filter(|w| args.only.as_ref().is_none_or(|f| w.id().contains(f.as_str())))
        .collect();
    eprintln!(
        "peers: {} engines x {} workloads; real inputs cached in {} and {}",
        labels.len(),
        workloads.len(),
        real::cache_dir().display(),
        keel_benches::peers::cosmwasm::cache_dir().display()
    );
    let started = Instant::now();
    let load_before = loadavg();
    let mut rounds: BTreeMap<(String, String), Vec<Result<CellResult, String>>> = BTreeMap::new();
    let mut unavailable = Vec::new();
    // Fetch real inputs once, in the parent, so children only read the cache.
    let available: Vec<&Workload> = workloads
        .iter()
        .filter(|w| match w.wasm() {
            Ok(_) => true,
            Err(e) => {
                eprintln!("  {}: input unavailable: {e}", w.id());
                unavailable.push((w.id(), format!("input unavailable: {e}")));
                false
            }
        })
        .collect();
    // The work size Keel calibrated in the first round, per workload; later rounds reuse it.
    let mut work_size: BTreeMap<String, Option<u64>> = BTreeMap::new();
    for round in 1..=args.rounds {
        for &w in &available {
            let mut n = work_size.get(&w.id()).copied().flatten();
            for l in &labels {
                let t = Instant::now();
                let cell = spawn_cell(&exe, l, w, n, args);
                if l == BASELINE && round == 1 {
                    n = cell.as_ref().ok().filter(|c| c.exec.is_some() && c.n > 0).map(|c| c.n);
                    work_size.insert(w.id(), n);
                }
                eprintln!(
                    "  {round}/{} {:<28} {:<28} {:>6.1} s  {}",
                    args.rounds,
                    w.id(),
                    l,
                    t.elapsed().as_secs_f64(),
                    summary(&cell)
                );
                rounds.entry((w.id(), l.clone())).or_default().push(cell);
            }
        }
    }
    let mut cells: BTreeMap<(String, String), Result<CellResult, String>> =
        rounds.into_iter().map(|(key, r)| (key, CellResult::combine_rounds(r))).collect();
    for (id, e) in unavailable {
        for l in &labels {
            cells.insert((id.clone(), l.clone()), Err(e.clone()));
        }
    }
    let info = vec![
        format!(
            "Generated by `cargo run --release -p keel-benches --features peers --bin peers{}` in {:.0} s.",
            match (args.quick, args.rounds) {
                (false, DEFAULT_ROUNDS) => String::new(),
                (quick, rounds) => format!(
                    " --{}{}",
                    if quick { " --quick" } else { "" },
                    if rounds == DEFAULT_ROUNDS { String::new() } else { format!(" --rounds {rounds}") }
                ),
            },
            started.elapsed().as_secs_f64()
        ),
        format!("Machine: {} ({} cores visible); one compile thread per engine (`keel-2threads`: Keel with parallel compilation, wall clock, compile throughput only).", cpu_model(), std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)),
        "Engines: keel-engine (this tree), wasmtime 48 (Cranelift, Winch), wasmer 7.4 singlepass (+ wasmer-middlewares metering, 1 point per operator), wasmi 2.0 (eager or lazy translation).".into(),
        format!(
            "Sampling: process CPU time (`keel-2threads`: wall clock), median of {} per cell, each (engine, workload) in its own process; {} of the whole matrix, one after another, and each figure is the median of its cell's {} (a burst of load spoils one round, not the figure).",
            if args.quick { "3-50 samples, about 0.2 s" } else { "5-200 samples, about 1 s" },
            if args.rounds == 1 { "one round".to_string() } else { format!("{} rounds", args.rounds) },
            if args.rounds == 1 { "one median".to_string() } else { format!("{} round medians", args.rounds) }
        ),
        format!(
            "Load average (1 min) at start {} and end {}: the machine is shared; CPU time keeps the scheduler out of the figures, not cache and frequency effects, so trust geometric means over any one cell.",
            load_before,
            loadavg()
        ),
    ];
    let run = Run { peers: labels, workloads, cells, info };
    std::fs::create_dir_all(&args.out).map_err(|e| format!("{}: {e}", args.out.display()))?;
    let md = args.out.join("peers.md");
    std::fs::write(&md, report::markdown(&run)).map_err(|e| format!("{}: {e}", md.display()))?;
    let svg = args.out.join("peers.svg");
    report::plot(&run, &svg)?;
    eprintln!("wrote {} and {}", md.display(), svg.display());
    for g in report::goals(&run) {
        eprintln!("  goal: {} -> {} ({:?})", g.goal, g.measured, g.met);
    }
    Ok(())
}

fn summary(cell: &Result<CellResult, String>) -> String {
    use keel_benches::peers::workloads::Measured;
    let f = |m: Option<&Measured>| match m {
        Some(Measured::Time(s)) => format!("{:.3} ms", s.median.as_secs_f64() * 1e3),
        Some(Measured::Failed(e)) => {
            let s = e.to_string();
            s.chars().take(60).collect()
        }
        None => "-".into(),
    };
    match cell {
        Err(e) => e.chars().take(80).collect(),
        Ok(c) => format!(
            "compile {} | inst {} | exec {}",
            f(Some(&c.compile)),
            f(c.instantiate.as_ref()),
            f(c.exec.as_ref())
        ),
    }
}

/// The 1-minute load average, as text.
fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "?".into())
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("model name")).map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string()))
        .unwrap_or_else(|| "unknown CPU".into())
}
