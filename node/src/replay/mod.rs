//! `keel replay`: re-executes a node's stored blocks from the genesis state in a scratch
//! database, on this machine, and checks every header (state, transactions and receipts
//! roots) and every receipt against what is stored. Stops at the first divergence and says
//! which block, which transaction and which receipt fields differ.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use parity_scale_codec::Encode;

use crate::chain::{BlockHeader, Receipt, StoredBlock};
use crate::consensus::{data_paths, header_diff, receipt_diff, reexecute, ChainSpec, Engine, GenesisError, ReexecError};
use crate::state::{StateDb, StateDbOptions, StateError};

/// What to replay.
#[derive(Clone, Debug)]
pub struct ReplayOptions {
    /// A node's data directory (holding `state/` and `genesis.toml`), or a state
    /// database directory itself.
    pub db: PathBuf,
    /// Genesis file; default `<db>/genesis.toml`.
    pub genesis: Option<PathBuf>,
    /// First height to check (blocks below are re-executed to rebuild state, unchecked).
    pub from: u64,
    /// Last height to check; default the stored head.
    pub to: Option<u64>,
    /// Execution backend for contract code.
    pub engine: Engine,
    /// Show a progress bar on stderr.
    pub progress: bool,
}

/// Why a replay could not run (as opposed to finding a divergence).
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// The genesis file.
    #[error(transparent)]
    Genesis(#[from] GenesisError),
    /// A database failed.
    #[error(transparent)]
    State(#[from] StateError),
    /// The scratch directory.
    #[error("scratch database: {0}")]
    Io(#[from] std::io::Error),
    /// The chosen engine cannot run a stored block.
    #[error("{0}")]
    Engine(String),
    /// Asked for heights the database does not have.
    #[error("the database holds heights 0..={head}, asked for {from}..={to}")]
    Range {
        /// First height asked.
        from: u64,
        /// Last height asked.
        to: u64,
        /// The stored head.
        head: u64,
    },
}

/// What differs at the first diverging block.
#[derive(Debug)]
pub enum DivergenceKind {
    /// The stored block bytes do not decode.
    Undecodable(String),
    /// Genesis: the genesis file gives another block 0.
    Genesis {
        /// Header fields that differ.
        fields: Vec<&'static str>,
    },
    /// A transaction of the block is invalid on re-execution.
    InvalidTransaction {
        /// Position in the block.
        index: usize,
        /// Transaction hash, hex.
        tx_hash: String,
        /// Why.
        error: String,
    },
    /// The number of stored receipts is not the number of transactions.
    ReceiptCount {
        /// Stored receipts.
        stored: usize,
        /// Transactions.
        transactions: usize,
    },
    /// A receipt differs.
    Receipt {
        /// Position in the block.
        index: usize,
        /// Transaction hash, hex.
        tx_hash: String,
        /// Receipt fields that differ (`status`, `gas_used`, `return_data`, `events`).
        fields: Vec<&'static str>,
        /// As stored.
        stored: Box<Receipt>,
        /// As re-executed.
        replayed: Box<Receipt>,
    },
    /// Receipts agree but the header does not (e.g. `state_root`).
    Header {
        /// Header fields that differ.
        fields: Vec<&'static str>,
        /// As stored.
        stored: Box<BlockHeader>,
        /// As re-executed.
        replayed: Box<BlockHeader>,
    },
}

/// The first diverging block.
#[derive(Debug)]
pub struct Divergence {
    /// Its height.
    pub height: u64,
    /// What differs.
    pub kind: DivergenceKind,
}

impl std::fmt::Display for Divergence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "block {}: ", self.height)?;
        match &self.kind {
            DivergenceKind::Undecodable(e) => write!(f, "stored block does not decode: {e}"),
            DivergenceKind::Genesis { fields } => write!(f, "genesis differs in {}", fields.join(", ")),
            DivergenceKind::InvalidTransaction { index, tx_hash, error } => {
                write!(f, "transaction {index} ({tx_hash}) is invalid on re-execution: {error}")
            }
            DivergenceKind::ReceiptCount { stored, transactions } => {
                write!(f, "{stored} receipts stored for {transactions} transactions")
            }
            DivergenceKind::Receipt { index, tx_hash, fields, stored, replayed } => write!(
                f,
                "transaction {index} ({tx_hash}): receipt differs in {}\n  stored:   {stored:?}\n  replayed: {replayed:?}",
                fields.join(", ")
            ),
            DivergenceKind::Header { fields, stored, replayed } => {
                write!(f, "header differs in {}", fields.join(", "))?;
                for field in fields {
                    let (s, r) = match *field {
                        "state_root" => (hex::encode(stored.state_root), hex::encode(replayed.state_root)),
                        "receipts_root" => (hex::encode(stored.receipts_root), hex::encode(replayed.receipts_root)),
                        "transactions_root" => (hex::encode(stored.transactions_root), hex::encode(replayed.transactions_root)),
                        "parent_hash" => (hex::encode(stored.parent_hash), hex::encode(replayed.parent_hash)),
                        _ => continue,
                    };
                    write!(f, "\n  {field}: stored {s}, replayed {r}")?;
                }
                Ok(())
            }
        }
    }
}

/// The outcome of a replay.
#[derive(Debug)]
pub struct ReplayReport {
    /// First height checked.
    pub from: u64,
    /// Last height checked (or reached, on a divergence).
    pub to: u64,
    /// Blocks re-executed (including unchecked ones below `from`).
    pub blocks: u64,
    /// Transactions re-executed.
    pub transactions: u64,
    /// Wall time of re-execution.
    pub elapsed: Duration,
    /// The first divergence, `None` if every checked block agreed.
    pub divergence: Option<Divergence>,
}

impl ReplayReport {
    /// Blocks per second.
    pub fn blocks_per_sec(&self) -> f64 {
        self.blocks as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
    /// Transactions per second.
    pub fn txs_per_sec(&self) -> f64 {
        self.transactions as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

fn state_dir(db: &Path) -> PathBuf {
    let (state, _, _) = data_paths(db);
    if state.is_dir() {
        state
    } else {
        db.to_path_buf()
    }
}

/// Replays the blocks of `opts.db`. `Err` only when the replay cannot run; a divergence
/// is a successful replay with [`ReplayReport::divergence`] set.
pub fn replay(opts: &ReplayOptions) -> Result<ReplayReport, ReplayError> {
    let genesis_path = opts.genesis.clone().unwrap_or_else(|| data_paths(&opts.db).2);
    let spec = ChainSpec::load(&genesis_path)?;
    let source = StateDb::open(state_dir(&opts.db))?;
    let head = source.head()?.map_or(0, |h| h.height);
    let to = opts.to.unwrap_or(head);
    if to > head || opts.from > to {
        return Err(ReplayError::Range { from: opts.from, to, head });
    }
    let scratch_dir = tempfile::tempdir()?;
    let scratch = StateDb::open_with(scratch_dir.path(), StateDbOptions { sync_commits: false, keep_heights: None })?;
    let mut report = ReplayReport { from: opts.from, to, blocks: 0, transactions: 0, elapsed: Duration::ZERO, divergence: None };

    let decode = |h: u64| -> Result<Result<StoredBlock, String>, StateError> {
        let bytes = source.block(h)?.ok_or(StateError::UnknownHeight(h))?;
        Ok(StoredBlock::from_bytes(&bytes).map_err(|e| e.to_string()))
    };
    // Genesis.
    let replayed_genesis = spec.init_db(&scratch)?;
    match decode(0)? {
        Err(e) => {
            report.divergence = Some(Divergence { height: 0, kind: DivergenceKind::Undecodable(e) });
            return Ok(report);
        }
        Ok(stored) => {
            let fields = header_diff(&stored.block.header, &replayed_genesis);
            if !fields.is_empty() {
                report.divergence = Some(Divergence { height: 0, kind: DivergenceKind::Genesis { fields } });
                return Ok(report);
            }
        }
    }
    let bar = if opts.progress && to > 0 {
        let b = indicatif::ProgressBar::new(to);
        b.set_style(
            indicatif::ProgressStyle::with_template("{elapsed_precise} [{bar:40}] {pos}/{len} blocks  {per_sec}  {msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        Some(b)
    } else {
        None
    };
    let start = Instant::now();
    let mut parent = replayed_genesis;
    for h in 1..=to {
        let stored = match decode(h)? {
            Ok(s) => s,
            Err(e) => {
                report.divergence = Some(Divergence { height: h, kind: DivergenceKind::Undecodable(e) });
                break;
            }
        };
        let sh = &stored.block.header;
        let ctx = crate::chain::BlockContext {
            chain_id: spec.chain_id(),
            height: h,
            timestamp_ms: sh.timestamp_ms,
            proposer: sh.proposer,
            cost_table_hash: spec.cost_table_hash,
        };
        let txs = &stored.block.transactions;
        let re = match reexecute(&scratch, &ctx, parent.hash(), txs, opts.engine) {
            Ok(r) => r,
            Err(ReexecError::Block(crate::chain::BlockError::InvalidTransaction { index, error })) => {
                let tx_hash = hex::encode(txs[index].hash());
                report.divergence = Some(Divergence {
                    height: h,
                    kind: DivergenceKind::InvalidTransaction { index, tx_hash, error: error.to_string() },
                });
                break;
            }
            Err(ReexecError::Block(crate::chain::BlockError::State(e))) => return Err(e.into()),
            Err(ReexecError::Block(crate::chain::BlockError::Runtime(e))) => return Err(ReplayError::Engine(format!("block {h}: {e}"))),
        };
        report.blocks += 1;
        report.transactions += txs.len() as u64;
        if h >= opts.from {
            if let Some(kind) = compare(&stored, &re.header, &re.receipts) {
                report.divergence = Some(Divergence { height: h, kind });
                report.to = h;
                break;
            }
        }
        let replayed = StoredBlock { block: crate::chain::Block { header: re.header.clone(), transactions: txs.clone() }, receipts: re.receipts };
        scratch.commit_prepared(re.prepared, &replayed.encode())?;
        parent = re.header;
        if let Some(b) = &bar {
            b.set_position(h);
            if h % 64 == 0 {
                b.set_message(format!("{:.0} tx/s", report.transactions as f64 / start.elapsed().as_secs_f64().max(1e-9)));
            }
        }
    }
    report.elapsed = start.elapsed();
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    Ok(report)
}

/// Receipts first (the first differing one names the transaction), then the header.
fn compare(stored: &StoredBlock, header: &BlockHeader, receipts: &[Receipt]) -> Option<DivergenceKind> {
    if stored.receipts.len() != stored.block.transactions.len() {
        return Some(DivergenceKind::ReceiptCount { stored: stored.receipts.len(), transactions: stored.block.transactions.len() });
    }
    for (index, (s, r)) in stored.receipts.iter().zip(receipts).enumerate() {
        let fields = receipt_diff(s, r);
        if !fields.is_empty() {
            return Some(DivergenceKind::Receipt {
                index,
                tx_hash: hex::encode(stored.block.transactions[index].hash()),
                fields,
                stored: Box::new(s.clone()),
                replayed: Box::new(r.clone()),
            });
        }
    }
    let fields = header_diff(&stored.block.header, header);
    if !fields.is_empty() {
        return Some(DivergenceKind::Header { fields, stored: Box::new(stored.block.header.clone()), replayed: Box::new(header.clone()) });
    }
    None
}
