//! The `keel` command line: one subcommand per user task.

use anyhow::Result;
use clap::{Parser, Subcommand};

pub mod bench;
pub mod contract;
pub mod demo;
pub mod engine;
pub mod metering;
pub mod net;

/// Keel: a deterministic smart-contract execution engine.
#[derive(Debug, Parser)]
#[command(name = "keel", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// `keel` subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// The main job: a local network of validators on loopback in one process, fed a
    /// stream of transactions; prints blocks, state roots and tx/s (Ctrl-C or --blocks to stop).
    Devnet(net::DevnetArgs),
    /// Run a validator or full node.
    Node(net::NodeArgs),
    /// Re-execute stored blocks and check every state root, receipts root and receipt.
    Replay(net::ReplayArgs),
    /// Key management.
    #[command(subcommand)]
    Key(net::KeyCommand),
    /// Deploy, call and query contracts through a node's JSON-RPC.
    #[command(subcommand)]
    Contract(contract::ContractCommand),
    /// Send a native transfer through a node's JSON-RPC.
    Transfer(contract::TransferArgs),
    /// Check a module (.wasm or .wat) against the deterministic profile.
    Validate(metering::ValidateArgs),
    /// Show each function's metered basic blocks, gas and frame cost.
    Analyze(metering::AnalyzeArgs),
    /// Write the reference-instrumented module (gas, stack, NaN canonicalization in wasm).
    Instrument(metering::InstrumentArgs),
    /// Compile a module and call one of its exports (like `wasmtime run --invoke`).
    Run(engine::RunArgs),
    /// Compile a module: validation errors, compile time, code size; optionally write the
    /// serialized artifact.
    Compile(engine::CompileArgs),
    /// Validate, analyze, instrument and compile every contract under a directory and
    /// print a report.
    Demo(demo::DemoArgs),
    /// Benchmarks: `keel bench gas` calibrates the gas schedule on this machine.
    Bench(bench::BenchArgs),
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Validate(a) => metering::validate(a),
        Command::Analyze(a) => metering::analyze(a),
        Command::Instrument(a) => metering::instrument(a),
        Command::Demo(a) => demo::demo(a),
        Command::Devnet(a) => net::devnet(a),
        Command::Node(a) => net::node(a),
        Command::Replay(a) => net::replay(a),
        Command::Key(c) => net::key(c),
        Command::Contract(c) => contract::contract(c),
        Command::Transfer(a) => contract::transfer(a),
        Command::Run(a) => engine::run(a),
        Command::Compile(a) => engine::compile(a),
        Command::Bench(a) => bench::bench(a),
    }
}
