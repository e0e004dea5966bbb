//! `keel demo`: the main job until the devnet exists. Every contract under a directory goes
//! through the pipeline: profile validation, metering analysis, reference instrumentation and
//! single-pass compilation; the report shows what each stage made of it.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::Args;
use keel_metering::{CostTable, InstrumentConfig};

use super::metering::hex;

/// `keel demo [DIRS...]`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Directories of contracts (.wasm) to process.
    #[arg(default_values = ["contracts/wasm"])]
    pub dirs: Vec<PathBuf>,
}

pub(crate) fn demo(a: DemoArgs) -> Result<()> {
    let costs = CostTable::default();
    let engine = keel_engine::Engine::new(keel_engine::Config::default())
        .map_err(|e| anyhow::anyhow!("engine: {e}"))?;
    println!("Keel demo: deterministic profile, gas metering and single-pass compilation");
    println!("cost table v{} {}\n", costs.version(), hex(&costs.hash()));
    let mut files = Vec::new();
    for dir in &a.dirs {
        let entries = std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))?;
        files.extend(entries.flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|x| x == "wasm")));
    }
    files.sort();
    if files.is_empty() {
        bail!("no .wasm files found under {:?}", a.dirs);
    }
    println!(
        "{:<9} {:<34} {:>8} {:>5} {:>7} {:>6} {:>10} {:>9} {:>9}",
        "", "contract", "wasm B", "fns", "blocks", "frame", "instr. B", "code B", "compile"
    );
    let (mut accepted, mut rejected) = (0, 0);
    for p in &files {
        let wasm = std::fs::read(p).with_context(|| format!("reading {}", p.display()))?;
        let name = p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let instrumented = match keel_metering::instrument(&wasm, &InstrumentConfig::default()) {
            Ok(out) => out,
            Err(e) => {
                rejected += 1;
                println!("{:<9} {name:<34} {e}", "rejected");
                continue;
            }
        };
        let start = Instant::now();
        let module = keel_engine::Module::new(&engine, &wasm);
        let compile_time = start.elapsed();
        let code = match &module {
            Ok(m) => m.code_size().to_string(),
            Err(e) => format!("compile error: {e}"),
        };
        accepted += 1;
        let a = &instrumented.analysis;
        println!(
            "{:<9} {name:<34} {:>8} {:>5} {:>7} {:>6} {:>10} {:>9} {:>7.2}ms",
            "accepted",
            wasm.len(),
            a.functions.len(),
            a.functions.iter().map(|f| f.charges.len()).sum::<usize>(),
            a.functions.iter().map(|f| f.frame_cost).max().unwrap_or(0),
            instrumented.wasm.len(),
            code,
            compile_time.as_secs_f64() * 1e3
        );
    }
    println!("\n{accepted} accepted, {rejected} rejected by the deterministic profile");
    Ok(())
}
