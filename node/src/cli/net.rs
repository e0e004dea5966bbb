//! Node-facing subcommands: `keel node`, `keel devnet`, `keel replay`, `keel key new`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand, ValueEnum};
use ed25519_dalek::SigningKey;
use serde::Deserialize;

use crate::consensus::{parse_hex32, ChainSpec, Engine};
use crate::mempool::MempoolLimits;
use crate::validator::{Node, NodeConfig};

fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread().enable_all().build()?)
}

async fn ctrl_c() {
    if tokio::signal::ctrl_c().await.is_err() {
        // No signal handler available: never resolve (other stop conditions still apply).
        std::future::pending::<()>().await;
    }
}

/// Reads a key file: 64 hex digits (the ed25519 secret key), surrounding whitespace ignored.
pub fn read_key(path: &Path) -> Result<SigningKey> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading key file {}", path.display()))?;
    let secret = parse_hex32(text.trim()).map_err(|e| anyhow::anyhow!("key file {}: {e}", path.display()))?;
    Ok(SigningKey::from_bytes(&secret))
}

/// `keel node --config node.toml`.
#[derive(Debug, Args)]
pub struct NodeArgs {
    /// Node configuration file (TOML; see `specs/protocol.md` §7).
    #[arg(long)]
    pub config: PathBuf,
}

/// The node configuration file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeFile {
    /// Data directory (relative paths are relative to the config file).
    pub data_dir: PathBuf,
    /// Genesis file.
    pub genesis: PathBuf,
    /// Validator key file (64 hex digits); absent for a full node.
    pub key_file: Option<PathBuf>,
    /// Listen multiaddrs.
    #[serde(default = "default_listen")]
    pub listen: Vec<String>,
    /// Bootnode multiaddrs.
    #[serde(default)]
    pub bootnodes: Vec<String>,
    /// JSON-RPC listen address, e.g. `127.0.0.1:8545`.
    pub rpc: Option<SocketAddr>,
    /// Prometheus metrics listen address.
    pub metrics: Option<SocketAddr>,
    /// mDNS discovery.
    #[serde(default)]
    pub mdns: bool,
    /// Most transactions per block.
    #[serde(default = "default_max_block_txs")]
    pub max_block_txs: usize,
    /// The most committed blocks a reorganisation may revert (`specs/protocol.md` §4).
    #[serde(default = "default_max_reorg_depth")]
    pub max_reorg_depth: u64,
}

fn default_listen() -> Vec<String> {
    vec!["/ip4/0.0.0.0/tcp/30333".into()]
}
fn default_max_block_txs() -> usize {
    10_000
}
fn default_max_reorg_depth() -> u64 {
    crate::consensus::DEFAULT_MAX_REORG_DEPTH
}

/// Runs `keel node`.
pub fn node(args: NodeArgs) -> Result<()> {
    let text = std::fs::read_to_string(&args.config).with_context(|| format!("reading {}", args.config.display()))?;
    let file: NodeFile = toml::from_str(&text).with_context(|| format!("parsing {}", args.config.display()))?;
    let base = args.config.parent().unwrap_or(Path::new("."));
    let rel = |p: &Path| if p.is_absolute() { p.to_path_buf() } else { base.join(p) };
    let spec = ChainSpec::load(rel(&file.genesis))?;
    let key = file.key_file.as_deref().map(|p| read_key(&rel(p))).transpose()?;
    let parse_addrs = |v: &[String], what: &str| -> Result<Vec<libp2p::Multiaddr>> {
        v.iter().map(|s| s.parse().with_context(|| format!("{what}: `{s}` is not a multiaddr"))).collect()
    };
    let config = NodeConfig {
        data_dir: rel(&file.data_dir),
        spec,
        key,
        p2p_key: None,
        listen: parse_addrs(&file.listen, "listen")?,
        bootnodes: parse_addrs(&file.bootnodes, "bootnodes")?,
        rpc: file.rpc,
        metrics: file.metrics,
        mdns: file.mdns,
        max_block_txs: file.max_block_txs,
        mempool: MempoolLimits::default(),
        sync_commits: true,
        max_reorg_depth: file.max_reorg_depth,
    };
    runtime()?.block_on(async move {
        let node = Node::start(config).await?;
        for a in node.listen_addrs() {
            println!("listening on {a}");
        }
        if let Some(a) = node.rpc_addr() {
            println!("JSON-RPC on http://{a}");
        }
        let mut blocks = node.api().subscribe();
        loop {
            tokio::select! {
                _ = ctrl_c() => break,
                ev = blocks.recv() => match ev {
                    Ok(ev) => tracing::info!(height = ev.height, txs = ev.transactions, gas = ev.gas_used, state_root = %hex::encode(ev.state_root), "block"),
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                    Err(_) => break,
                },
            }
        }
        println!("stopping");
        node.shutdown().await;
        Ok(())
    })
}

/// `keel devnet`.
#[derive(Debug, Args)]
pub struct DevnetArgs {
    /// Number of validators.
    #[arg(long, default_value_t = 3)]
    pub validators: usize,
    /// Slot duration in milliseconds.
    #[arg(long, default_value_t = 1000)]
    pub slot_ms: u64,
    /// Stop when this height is reached (default: run until Ctrl-C).
    #[arg(long)]
    pub blocks: Option<u64>,
    /// Stop after this many seconds.
    #[arg(long)]
    pub duration: Option<f64>,
    /// Target transactions per second of the load generator.
    #[arg(long, default_value_t = 1000)]
    pub tps: u64,
    /// Funded accounts sending transactions.
    #[arg(long, default_value_t = 256)]
    pub accounts: usize,
    /// Most transactions per block.
    #[arg(long, default_value_t = 2000)]
    pub max_block_txs: usize,
    /// Keep the nodes' data here (default: a temporary directory, removed at the end).
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// JSON-RPC port of validator 0 (default: any free port).
    #[arg(long, default_value_t = 0)]
    pub rpc_port: u16,
    /// Prometheus metrics port of validator 0 (default: none).
    #[arg(long)]
    pub metrics_port: Option<u16>,
    /// Skip the replay of validator 0's database at the end.
    #[arg(long)]
    pub no_replay: bool,
    /// Do not print each block.
    #[arg(long)]
    pub quiet: bool,
    /// Stream native transfers instead of deploying the example contracts and streaming
    /// token transfers.
    #[arg(long)]
    pub native: bool,
}

/// Runs `keel devnet`.
pub fn devnet(args: DevnetArgs) -> Result<()> {
    let opts = crate::devnet::DevnetOptions {
        validators: args.validators,
        slot_ms: args.slot_ms.max(1),
        dir: args.dir,
        blocks: args.blocks,
        duration: args.duration.filter(|d| d.is_finite() && *d >= 0.0).map(Duration::from_secs_f64),
        accounts: args.accounts,
        tps: args.tps,
        max_block_txs: args.max_block_txs,
        rpc_port: Some(args.rpc_port),
        metrics_port: args.metrics_port,
        replay: !args.no_replay,
        print_blocks: !args.quiet,
        contracts: !args.native,
    };
    runtime()?.block_on(async move { crate::devnet::run(opts, ctrl_c()).await.map(|_| ()) })
}

/// Execution engine for `keel replay`.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum EngineArg {
    /// Keel's single-pass compiler.
    Native,
    /// wasmi over keel-metering's reference instrumentation.
    Wasmi,
}

/// `keel replay`.
#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// A node's data directory (or its `state/` database).
    #[arg(long)]
    pub db: PathBuf,
    /// Genesis file (default: `<db>/genesis.toml`).
    #[arg(long)]
    pub genesis: Option<PathBuf>,
    /// First height to check (lower blocks are re-executed, unchecked).
    #[arg(long, default_value_t = 1)]
    pub from: u64,
    /// Last height to check (default: the stored head).
    #[arg(long)]
    pub to: Option<u64>,
    /// Execution engine for contract code.
    #[arg(long, value_enum, default_value_t = EngineArg::Native)]
    pub engine: EngineArg,
}

/// Runs `keel replay`. Fails (exit code 1) on a divergence.
pub fn replay(args: ReplayArgs) -> Result<()> {
    let opts = crate::replay::ReplayOptions {
        db: args.db,
        genesis: args.genesis,
        from: args.from,
        to: args.to,
        engine: match args.engine {
            EngineArg::Native => Engine::Native,
            EngineArg::Wasmi => Engine::Wasmi,
        },
        progress: true,
    };
    let r = crate::replay::replay(&opts)?;
    let engine = match opts.engine {
        Engine::Native => "Keel's compiler",
        Engine::Wasmi => "wasmi over the reference instrumentation",
    };
    println!(
        "replayed {} blocks ({} transactions; contracts on {engine}) in {:.2} s: {:.0} blocks/s, {:.0} tx/s",
        r.blocks,
        r.transactions,
        r.elapsed.as_secs_f64(),
        r.blocks_per_sec(),
        r.txs_per_sec()
    );
    match r.divergence {
        None => {
            println!("heights {}..={}: every state root, receipts root and receipt matches", r.from, r.to);
            Ok(())
        }
        Some(d) => bail!("first divergence at {d}"),
    }
}

/// `keel key ...`.
#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Generate an ed25519 key: writes the secret (64 hex digits) to a file and prints the
    /// address (= public key) and libp2p peer id.
    New {
        /// Where to write the secret key (refuses to overwrite).
        #[arg(long, short)]
        out: PathBuf,
    },
    /// Print the address and peer id of a key file.
    Show {
        /// The key file.
        file: PathBuf,
    },
}

/// Runs `keel key ...`.
pub fn key(cmd: KeyCommand) -> Result<()> {
    let (key, path) = match cmd {
        KeyCommand::New { out } => {
            if out.exists() {
                bail!("{} exists; not overwriting a key", out.display());
            }
            let mut seed = [0u8; 32];
            getrandom(&mut seed)?;
            let key = SigningKey::from_bytes(&seed);
            std::fs::write(&out, format!("{}\n", hex::encode(key.to_bytes())))?;
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(&out, std::fs::Permissions::from_mode(0o600))?;
            }
            (key, out)
        }
        KeyCommand::Show { file } => (read_key(&file)?, file),
    };
    println!("key file: {}", path.display());
    println!("address:  {}", hex::encode(key.verifying_key().to_bytes()));
    println!("peer id:  {}", crate::net::identity_of(&key).public().to_peer_id());
    Ok(())
}

/// Fills `buf` from the operating system's random source.
fn getrandom(buf: &mut [u8]) -> Result<()> {
    use std::io::Read;
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(buf))
        .context("reading /dev/urandom")
}
