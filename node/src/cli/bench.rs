//! `keel bench gas`: calibrate the gas schedule on this machine (see
//! [`crate::calibrate`] and `specs/gas.md`, "Calibration").

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use keel_metering::CostTable;

use crate::calibrate::{self, report, CalibrationConfig};

/// `keel bench ...`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// What to benchmark.
    #[command(subcommand)]
    pub what: BenchCommand,
}

/// Benchmarks.
#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Measure every operator class and host function, fit a candidate gas schedule and
    /// report how well the current one prices time (markdown, CSV, SVG plot, TOML).
    Gas(GasArgs),
}

/// `keel bench gas [--quick] [--samples N] [--out DIR]`.
#[derive(Debug, Args)]
pub struct GasArgs {
    /// Output directory: report.md, calibration.csv, ns_per_gas.svg,
    /// gas-schedule.candidate.toml.
    #[arg(long, default_value = "target/calibration")]
    pub out: PathBuf,
    /// Timed samples per measurement (the median is kept). Default: 21, or 3 with --quick.
    #[arg(long)]
    pub samples: Option<usize>,
    /// A fast, noisy run (short samples, short blocks, small state): for smoke tests.
    #[arg(long)]
    pub quick: bool,
    /// Target time of one timed call (thread CPU time), milliseconds (default 20, or 0.3 with --quick).
    #[arg(long)]
    pub target_ms: Option<f64>,
    /// Units per straight-line block of an operator-class benchmark (default 1000, or 64
    /// with --quick).
    #[arg(long)]
    pub units: Option<usize>,
    /// The committed example contracts, for whole-contract runs (skipped if missing).
    #[arg(long, default_value = "contracts/wasm")]
    pub contracts: PathBuf,
    /// The cost table to evaluate (default: the shipped specs/gas-schedule.toml).
    #[arg(long)]
    pub table: Option<PathBuf>,
}

/// Runs a `keel bench` subcommand.
pub fn bench(args: BenchArgs) -> Result<()> {
    match args.what {
        BenchCommand::Gas(a) => gas(a),
    }
}

fn gas(a: GasArgs) -> Result<()> {
    let current = match &a.table {
        Some(p) => {
            let text = std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
            CostTable::from_toml(&text).with_context(|| format!("loading {}", p.display()))?
        }
        None => CostTable::default(),
    };
    let mut cfg = if a.quick { CalibrationConfig::quick(current) } else { CalibrationConfig::full(current) };
    if let Some(s) = a.samples {
        anyhow::ensure!(s >= 1, "--samples must be at least 1");
        cfg.samples = s;
    }
    if let Some(ms) = a.target_ms {
        anyhow::ensure!(ms.is_finite() && ms > 0.0, "--target-ms must be positive");
        cfg.target = Duration::from_secs_f64(ms / 1e3);
    }
    if let Some(u) = a.units {
        anyhow::ensure!((1..=20_000).contains(&u), "--units must be in 1..=20000");
        cfg.units = u;
    }
    cfg.contracts_dir = Some(a.contracts.clone());
    let start = Instant::now();
    let cal = calibrate::calibrate(&cfg, |step| {
        eprintln!("[{:>6.1}s] {step}", start.elapsed().as_secs_f64());
    })?;
    let files = report::write_all(&cal, &a.out)?;
    let rank = report::ranking(&cal);
    println!("1 gas = {:.4} ns (reference class {})", cal.gas_ns, calibrate::REFERENCE_CLASS.name());
    println!("median ns/gas over priced classes: {:.4}", cal.median_ns_per_gas);
    if let (Some(hi), Some(lo)) = (rank.first(), rank.last()) {
        println!("worst under-priced: {} ({:.2}x median)", hi.what, hi.ratio);
        println!("worst over-priced:  {} ({:.3}x median)", lo.what, lo.ratio);
    }
    for f in rank.iter().filter(|f| f.ratio > calibrate::UNDER_PRICED_RATIO) {
        println!("DoS vector: {} is under-priced, {:.1}x the median ns/gas", f.what, f.ratio);
    }
    for p in files {
        println!("wrote {}", p.display());
    }
    Ok(())
}
