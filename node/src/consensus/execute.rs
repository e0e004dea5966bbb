//! Re-execution of a block's transactions without committing: what a validator does to
//! check a received block and what `keel replay` does to audit a stored one.

use parity_scale_codec::Encode;

use crate::chain::{build_uncommitted, execute_uncommitted, execute_uncommitted_with, merkle_root, BlockContext, BlockError, BlockHeader, Receipt, SignedTransaction, TxError};
use crate::state::{Hash32, PreparedBlock, StateDb};

/// Which execution backend runs contract code: the hook of `keel replay --engine`.
/// Transfers execute the same on both (no contract code runs).
pub use crate::runtime::Backend as Engine;

/// Why re-execution failed.
#[derive(Debug, thiserror::Error)]
pub enum ReexecError {
    /// A transaction is invalid, or the state could not be read.
    #[error(transparent)]
    Block(#[from] BlockError),
}

/// The outcome of re-executing a block: the header it must have, the receipts, and the
/// state update (not yet written).
pub struct Reexecuted {
    /// The header execution produces (to compare with the received one).
    pub header: BlockHeader,
    /// One receipt per transaction.
    pub receipts: Vec<Receipt>,
    /// The trie update, for [`StateDb::commit_prepared`].
    pub prepared: PreparedBlock,
}

/// Executes `transactions` as block `ctx.height` on top of the latest committed state of
/// `db` (which must be at `ctx.height - 1`), computing the header and receipts without
/// writing anything. Every transaction must be valid.
pub fn reexecute(
    db: &StateDb,
    ctx: &BlockContext,
    parent_hash: Hash32,
    transactions: &[SignedTransaction],
    engine: Engine,
) -> Result<Reexecuted, ReexecError> {
    let (receipts, changes) = match engine {
        Engine::Native => execute_uncommitted(db, ctx, transactions)?,
        Engine::Wasmi => {
            let rt = crate::runtime::Runtime::shared_backend(engine).map_err(BlockError::Runtime)?;
            execute_uncommitted_with(rt, db, ctx, transactions)?
        }
    };
    let prepared = db.prepare_block(ctx.height, &changes).map_err(BlockError::from)?;
    let header = header_for(ctx, parent_hash, prepared.state_root(), transactions, &receipts);
    Ok(Reexecuted { header, receipts, prepared })
}

/// Candidates a proposer left out, with why.
pub type Rejected = Vec<(SignedTransaction, TxError)>;

/// Proposer mode: executes `candidates` in order as block `ctx.height` on the latest
/// committed state, leaving out each invalid one (it changes nothing), without writing.
/// Returns the re-execution result of the included transactions, the included
/// transactions, and the left-out ones with why.
pub fn build(
    db: &StateDb,
    ctx: &BlockContext,
    parent_hash: Hash32,
    candidates: Vec<SignedTransaction>,
) -> Result<(Reexecuted, Vec<SignedTransaction>, Rejected), BlockError> {
    let (included, receipts, rejected, changes) = build_uncommitted(db, ctx, candidates)?;
    let prepared = db.prepare_block(ctx.height, &changes)?;
    let header = header_for(ctx, parent_hash, prepared.state_root(), &included, &receipts);
    Ok((Reexecuted { header, receipts, prepared }, included, rejected))
}

fn header_for(ctx: &BlockContext, parent_hash: Hash32, state_root: Hash32, txs: &[SignedTransaction], receipts: &[Receipt]) -> BlockHeader {
    let tx_bytes: Vec<Vec<u8>> = txs.iter().map(|t| t.encode()).collect();
    let receipt_bytes: Vec<Vec<u8>> = receipts.iter().map(|r| r.encode()).collect();
    BlockHeader {
        chain_id: ctx.chain_id,
        height: ctx.height,
        parent_hash,
        timestamp_ms: ctx.timestamp_ms,
        proposer: ctx.proposer,
        state_root,
        transactions_root: merkle_root(&tx_bytes),
        receipts_root: merkle_root(&receipt_bytes),
        cost_table_hash: ctx.cost_table_hash,
    }
}

/// Names of the header fields where `a` and `b` differ (e.g. `["state_root"]`).
pub fn header_diff(a: &BlockHeader, b: &BlockHeader) -> Vec<&'static str> {
    let mut d = Vec::new();
    macro_rules! cmp {
        ($($f:ident),*) => { $( if a.$f != b.$f { d.push(stringify!($f)); } )* };
    }
    cmp!(chain_id, height, parent_hash, timestamp_ms, proposer, state_root, transactions_root, receipts_root, cost_table_hash);
    d
}

/// Names of the receipt fields where `a` and `b` differ.
pub fn receipt_diff(a: &Receipt, b: &Receipt) -> Vec<&'static str> {
    let mut d = Vec::new();
    if a.status != b.status {
        d.push("status");
    }
    if a.gas_used != b.gas_used {
        d.push("gas_used");
    }
    if a.return_data != b.return_data {
        d.push("return_data");
    }
    if a.events != b.events {
        d.push("events");
    }
    d
}
