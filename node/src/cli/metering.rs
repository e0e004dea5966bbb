//! `keel validate`, `keel analyze` and `keel instrument`: the metering half of the pipeline
//! from the command line.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::Args;
use keel_metering::{CostTable, InstrumentConfig, Profile};

/// Profile and cost-table options shared by the metering commands.
#[derive(Debug, Args)]
pub struct ProfileArgs {
    /// Lift the structural limits and allow any import (as the spec testsuite needs).
    #[arg(long)]
    pub permissive: bool,
    /// Gas schedule TOML (default: the shipped specs/gas-schedule.toml).
    #[arg(long, value_name = "FILE")]
    pub gas_schedule: Option<PathBuf>,
}

impl ProfileArgs {
    fn profile(&self) -> Profile {
        if self.permissive { Profile::permissive() } else { Profile::default() }
    }

    fn costs(&self) -> Result<CostTable> {
        match &self.gas_schedule {
            None => Ok(CostTable::default()),
            Some(p) => {
                let text = std::fs::read_to_string(p)
                    .with_context(|| format!("reading gas schedule {}", p.display()))?;
                CostTable::from_toml(&text).with_context(|| format!("gas schedule {}", p.display()))
            }
        }
    }
}

/// `keel validate FILE`.
#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Module to check (.wasm, or .wat text).
    pub file: PathBuf,
    #[command(flatten)]
    pub profile: ProfileArgs,
}

/// `keel analyze FILE`.
#[derive(Debug, Args)]
pub struct AnalyzeArgs {
    /// Module to analyze (.wasm or .wat).
    pub file: PathBuf,
    /// Also list every charge (operator index and gas).
    #[arg(long)]
    pub charges: bool,
    #[command(flatten)]
    pub profile: ProfileArgs,
}

/// `keel instrument FILE -o OUT`.
#[derive(Debug, Args)]
pub struct InstrumentArgs {
    /// Module to instrument (.wasm or .wat).
    pub file: PathBuf,
    /// Where to write the instrumented .wasm.
    #[arg(short, long)]
    pub output: PathBuf,
    /// Leave NaN results as the hardware produces them.
    #[arg(long)]
    pub no_nan_canonicalization: bool,
    /// Leave out stack accounting.
    #[arg(long)]
    pub no_stack: bool,
    /// Deterministic stack budget written into `__keel_stack_limit`, slots.
    #[arg(long, default_value_t = keel_metering::DEFAULT_MAX_STACK_SLOTS)]
    pub stack_limit: u64,
    #[command(flatten)]
    pub profile: ProfileArgs,
}

/// Reads a module: .wat/.wast text is assembled, anything else is taken as binary.
pub fn read_module(path: &Path) -> Result<Vec<u8>> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    if bytes.starts_with(b"\0asm") {
        return Ok(bytes);
    }
    let is_text = matches!(path.extension().and_then(|e| e.to_str()), Some("wat" | "wast"));
    if is_text || std::str::from_utf8(&bytes).is_ok() {
        return wat::parse_bytes(&bytes)
            .map(|b| b.into_owned())
            .with_context(|| format!("{} is not valid WebAssembly text", path.display()));
    }
    bail!("{} is neither a wasm binary nor WebAssembly text", path.display())
}

pub(crate) fn validate(a: ValidateArgs) -> Result<()> {
    let wasm = read_module(&a.file)?;
    let info = keel_metering::validate(&wasm, &a.profile.profile())
        .with_context(|| format!("{} is rejected", a.file.display()))?;
    println!(
        "{}: valid ({} bytes, {} imported + {} defined functions, memory {:?} pages, max {:?})",
        a.file.display(),
        wasm.len(),
        info.imported_functions,
        info.defined_functions,
        info.memory_initial_pages,
        info.memory_maximum_pages
    );
    Ok(())
}

pub(crate) fn analyze(a: AnalyzeArgs) -> Result<()> {
    let wasm = read_module(&a.file)?;
    let costs = a.profile.costs()?;
    let (_, analysis) = keel_metering::analyze(&wasm, &a.profile.profile(), &costs)
        .with_context(|| format!("{} is rejected", a.file.display()))?;
    println!("cost table v{} {}", costs.version(), hex(&costs.hash()));
    println!("{:>6} {:>9} {:>7} {:>7} {:>6} {:>7} {:>12}", "func", "operators", "params", "locals", "height", "frame", "blocks/gas");
    for f in &analysis.functions {
        println!(
            "{:>6} {:>9} {:>7} {:>7} {:>6} {:>7} {:>5}/{}",
            f.func_index,
            f.operator_count,
            f.params,
            f.locals,
            f.max_stack_height,
            f.frame_cost,
            f.charges.len(),
            f.static_gas()
        );
        if a.charges {
            for c in &f.charges {
                println!("         op {:>6} @ {:#x}: {} gas", c.op_index, c.offset, c.gas);
            }
        }
    }
    Ok(())
}

pub(crate) fn instrument(a: InstrumentArgs) -> Result<()> {
    let wasm = read_module(&a.file)?;
    let config = InstrumentConfig {
        profile: a.profile.profile(),
        costs: a.profile.costs()?,
        nan_canonicalization: !a.no_nan_canonicalization,
        stack: !a.no_stack,
        stack_limit: a.stack_limit,
        ..InstrumentConfig::default()
    };
    let out = keel_metering::instrument(&wasm, &config)
        .with_context(|| format!("instrumenting {}", a.file.display()))?;
    std::fs::write(&a.output, &out.wasm).with_context(|| format!("writing {}", a.output.display()))?;
    println!("{} -> {} ({} -> {} bytes)", a.file.display(), a.output.display(), wasm.len(), out.wasm.len());
    Ok(())
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
