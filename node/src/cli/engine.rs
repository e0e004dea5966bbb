//! `keel run` and `keel compile`: the single-pass compiler from the command line, in the
//! manner of `wasmtime run --invoke` and `wasmtime compile`.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{anyhow, bail, Context, Result};
use clap::Args;
use keel_engine::{Config, Engine, Linker, Module, Store, Val, ValType};

use super::metering::read_module;

/// `keel run FILE --invoke NAME [ARGS...]`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Module to run (.wasm or .wat).
    pub file: PathBuf,
    /// Exported function to call.
    #[arg(long)]
    pub invoke: String,
    /// Arguments, one per parameter: integers (decimal or 0x hex) or floats.
    #[arg(allow_hyphen_values = true)]
    pub args: Vec<String>,
    /// Gas limit for instantiation plus the call.
    #[arg(long, default_value_t = 10_000_000_000)]
    pub gas: u64,
    /// Lift the structural limits and allow any import.
    #[arg(long)]
    pub permissive: bool,
}

/// `keel compile FILE [-o ARTIFACT]`.
#[derive(Debug, Args)]
pub struct CompileArgs {
    /// Module to compile (.wasm or .wat).
    pub file: PathBuf,
    /// Write the serialized artifact here.
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    /// Lift the structural limits and allow any import.
    #[arg(long)]
    pub permissive: bool,
    /// Instruction set to compile for (default: this machine's). Code for another ISA can
    /// be compiled, measured and serialized here, not run.
    #[arg(long, value_enum)]
    pub target: Option<TargetArg>,
}

/// `keel compile --target`.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum TargetArg {
    /// x86-64 (System V).
    #[value(name = "x86_64")]
    X64,
    /// AArch64 (AAPCS64).
    Aarch64,
}

impl From<TargetArg> for keel_engine::Isa {
    fn from(t: TargetArg) -> Self {
        match t {
            TargetArg::X64 => keel_engine::Isa::X64,
            TargetArg::Aarch64 => keel_engine::Isa::Aarch64,
        }
    }
}

fn engine(permissive: bool) -> Result<Engine> {
    let config = if permissive { Config::permissive() } else { Config::default() };
    Engine::new(config).map_err(|e| anyhow!("engine: {e}"))
}

/// Parses a command-line argument as a value of type `ty`.
fn parse_arg(text: &str, ty: ValType) -> Result<Val> {
    fn int(text: &str) -> Result<i128> {
        let (neg, digits) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let v = match digits.strip_prefix("0x").or_else(|| digits.strip_prefix("0X")) {
            Some(hex) => i128::from_str_radix(hex, 16),
            None => digits.parse::<i128>(),
        }
        .with_context(|| format!("{text:?} is not an integer"))?;
        Ok(if neg { -v } else { v })
    }
    Ok(match ty {
        ValType::I32 => {
            let v = int(text)?;
            if !(i128::from(i32::MIN)..=i128::from(u32::MAX)).contains(&v) {
                bail!("{text} does not fit in i32");
            }
            Val::I32(v as i32)
        }
        ValType::I64 => {
            let v = int(text)?;
            if !(i128::from(i64::MIN)..=i128::from(u64::MAX)).contains(&v) {
                bail!("{text} does not fit in i64");
            }
            Val::I64(v as i64)
        }
        ValType::F32 => Val::F32(text.parse::<f32>().with_context(|| format!("{text:?} is not an f32"))?.to_bits()),
        ValType::F64 => Val::F64(text.parse::<f64>().with_context(|| format!("{text:?} is not an f64"))?.to_bits()),
        ValType::FuncRef | ValType::ExternRef => bail!("reference arguments cannot be given on the command line"),
    })
}

fn show(v: &Val) -> String {
    match v {
        Val::I32(x) => x.to_string(),
        Val::I64(x) => x.to_string(),
        Val::F32(b) => format!("{} (0x{b:08x})", f32::from_bits(*b)),
        Val::F64(b) => format!("{} (0x{b:016x})", f64::from_bits(*b)),
        Val::FuncRef(f) => if f.is_some() { "funcref".into() } else { "null funcref".into() },
        Val::ExternRef(r) => r.map_or("null externref".into(), |r| format!("externref {r}")),
    }
}

pub(crate) fn run(a: RunArgs) -> Result<()> {
    let wasm = read_module(&a.file)?;
    let engine = engine(a.permissive)?;
    let module = Module::new(&engine, &wasm).map_err(|e| anyhow!("{}: {e}", a.file.display()))?;
    let mut store = Store::new(&engine, ());
    store.set_gas_limit(a.gas);
    let linker = Linker::<()>::new();
    let instance = linker
        .instantiate(&mut store, &module)
        .map_err(|e| anyhow!("instantiating {}: {e}", a.file.display()))?;
    let func = instance
        .get_func(&mut store, &a.invoke)
        .ok_or_else(|| anyhow!("{} exports no function {:?}", a.file.display(), a.invoke))?;
    let ty = func.ty(&mut store);
    if ty.params.len() != a.args.len() {
        bail!("{} takes {} argument(s) {:?}, {} given", a.invoke, ty.params.len(), ty.params, a.args.len());
    }
    let params = a
        .args
        .iter()
        .zip(&ty.params)
        .map(|(t, ty)| parse_arg(t, *ty))
        .collect::<Result<Vec<_>>>()?;
    let mut results: Vec<Val> = ty.results.iter().map(|t| Val::default_for(*t)).collect();
    let outcome = func.call(&mut store, &params, &mut results);
    match outcome {
        Ok(()) => {
            for r in &results {
                println!("{}", show(r));
            }
            eprintln!("gas used: {}", store.gas_used());
            Ok(())
        }
        Err(e) => {
            eprintln!("gas used: {}", store.gas_used());
            match e.trap() {
                Some(trap) => bail!("trap: {trap}"),
                None => bail!("{e}"),
            }
        }
    }
}

pub(crate) fn compile(a: CompileArgs) -> Result<()> {
    let wasm = read_module(&a.file)?;
    let mut config = if a.permissive { Config::permissive() } else { Config::default() };
    if let Some(t) = a.target {
        config.isa = t.into();
    }
    let engine = Engine::new(config).map_err(|e| anyhow!("engine: {e}"))?;
    let start = Instant::now();
    let module = Module::new(&engine, &wasm).map_err(|e| anyhow!("{}: {e}", a.file.display()))?;
    let elapsed = start.elapsed();
    let mbps = wasm.len() as f64 / elapsed.as_secs_f64().max(1e-9) / 1e6;
    println!(
        "{}: {} bytes of wasm -> {} bytes of {} code in {:.3} ms ({mbps:.1} MB/s, validation + analysis + compilation)",
        a.file.display(),
        wasm.len(),
        module.code_size(),
        engine.config().isa.name(),
        elapsed.as_secs_f64() * 1e3
    );
    if let Some(out) = &a.output {
        let bytes = module.serialize();
        std::fs::write(out, &bytes).with_context(|| format!("writing {}", out.display()))?;
        println!("artifact: {} ({} bytes)", out.display(), bytes.len());
    }
    Ok(())
}
