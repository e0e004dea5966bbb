//! Proof of authority (`specs/protocol.md`): a genesis file fixes the validator set and
//! the slot duration; the leader of slot `s` is `validators[s mod n]`; it builds a block
//! from its mempool, signs the header hash and gossips it. A block is accepted only if it
//! is the next height on top of the local head, names a slot after its parent's, is signed
//! by that slot's leader, and re-executing its transactions reproduces its header (state,
//! transactions and receipts roots).
//!
//! Fork choice ([`fork`], `specs/protocol.md` §4): the longest valid chain, ties broken by
//! the lower slot, then the lower header hash, of the first block after the fork point.
//! [`Chain::reorg`] switches to a preferred competing branch — reverting at most
//! [`Chain::max_reorg_depth`] blocks with [`StateDb::rollback_to`] and re-executing every
//! branch block — and restores the original chain if the branch turns out invalid.

mod execute;
pub mod fork;
mod genesis;
mod seal;
mod store;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use ed25519_dalek::SigningKey;
use parity_scale_codec::Encode;

pub use execute::{build, header_diff, receipt_diff, reexecute, Engine, ReexecError, Reexecuted, Rejected};
pub use genesis::{parse_hex32, ChainSpec, Genesis, GenesisBalance, GenesisError};
pub use seal::{signing_message, SignedBlock, BLOCK_SIGNING_DOMAIN, MAX_SIGNED_BLOCK_SIZE};
pub use fork::{compare_branches, prefers_theirs, DEFAULT_MAX_REORG_DEPTH};
pub use store::{ConsensusStore, StoreError};

use crate::chain::{address_of, Block, BlockError, BlockHeader, DecodeError, SignedTransaction, StoredBlock, TxError};
use crate::state::{Address, Hash32, StateDb, StateDbOptions, StateError};

/// Why a block was not imported. [`is_offence`](ImportError::is_offence) tells whether
/// the peer that sent it deserves a lower score.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The bytes are not a signed block.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// The block is for another chain.
    #[error("block is for chain {got}, this is chain {expected}")]
    WrongChain {
        /// This chain.
        expected: u64,
        /// The block's.
        got: u64,
    },
    /// Already have this block.
    #[error("block {height} is already known")]
    Known {
        /// Its height.
        height: u64,
    },
    /// A different block at a height the local chain already has (a competing branch:
    /// see [`Chain::reorg`]).
    #[error("block {height} conflicts with the block already accepted at that height")]
    Conflicting {
        /// Its height.
        height: u64,
    },
    /// Not the next height: the node is behind and must sync first.
    #[error("block {height} is ahead of the head {head}")]
    Ahead {
        /// Its height.
        height: u64,
        /// The local head's.
        head: u64,
    },
    /// The next height, but not on top of the local head.
    #[error("block {height} does not extend the head (unknown parent)")]
    UnknownParent {
        /// Its height.
        height: u64,
    },
    /// The timestamp is not the start of a slot, or the slot is not after the parent's.
    #[error("block timestamp {timestamp_ms} ms is not a slot start after the parent's slot {parent_slot}")]
    BadSlot {
        /// The block's timestamp.
        timestamp_ms: u64,
        /// The parent's slot.
        parent_slot: u64,
    },
    /// The slot has not started yet (allowing one slot of clock drift).
    #[error("block slot {slot} is in the future (now: slot {now})")]
    FutureSlot {
        /// The block's slot.
        slot: u64,
        /// The local clock's slot.
        now: u64,
    },
    /// The proposer is not the slot's leader.
    #[error("block of slot {slot} is proposed by {proposer:?}, the leader is {leader:?}")]
    WrongLeader {
        /// The slot.
        slot: u64,
        /// The header's proposer.
        proposer: Address,
        /// The slot's leader.
        leader: Address,
    },
    /// The signature does not verify against the proposer.
    #[error("bad block signature")]
    BadSignature,
    /// The block names another cost table.
    #[error("block names another cost table")]
    WrongCostTable,
    /// `transactions_root` does not match the transactions.
    #[error("transactions root does not match the transactions")]
    TransactionsRoot,
    /// A transaction in the block is invalid.
    #[error("transaction {index} is invalid: {error}")]
    InvalidTransaction {
        /// Position in the block.
        index: usize,
        /// Why.
        error: TxError,
    },
    /// Re-execution gives another header.
    #[error("re-execution disagrees with the header in: {}", fields.join(", "))]
    HeaderMismatch {
        /// Header fields that differ (e.g. `state_root`, `receipts_root`).
        fields: Vec<&'static str>,
    },
    /// A competing branch that does not start right after a block of the local chain, or
    /// whose blocks are not consecutive (each the parent of the next).
    #[error("competing branch is malformed: {0}")]
    BadBranch(String),
    /// A competing branch that the fork choice does not prefer over the local chain.
    #[error("competing branch from height {fork_height} is not preferred over the local chain")]
    NotPreferred {
        /// The last block both chains share.
        fork_height: u64,
    },
    /// Switching to a competing branch would revert more blocks than allowed.
    #[error("reorganisation would revert {depth} blocks, the limit is {max}")]
    ReorgTooDeep {
        /// Blocks that would be reverted.
        depth: u64,
        /// The limit ([`Chain::max_reorg_depth`]).
        max: u64,
    },
    /// A contract transaction that the chosen engine cannot run.
    #[error("{0}")]
    Engine(String),
    /// The local database failed (not the sender's fault).
    #[error("local state: {0}")]
    State(#[from] StateError),
    /// The local side store failed (not the sender's fault).
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl ImportError {
    /// Whether the block proves the sender relayed something invalid (decoding, chain,
    /// signature, leader, slot, roots, transactions): such a sender's score is lowered.
    /// Stale, duplicate, conflicting or early blocks and local failures are not offences.
    pub fn is_offence(&self) -> bool {
        !matches!(
            self,
            ImportError::Known { .. }
                | ImportError::Conflicting { .. }
                | ImportError::Ahead { .. }
                | ImportError::UnknownParent { .. }
                | ImportError::BadBranch(_)
                | ImportError::NotPreferred { .. }
                | ImportError::ReorgTooDeep { .. }
                | ImportError::FutureSlot { .. }
                | ImportError::Engine(_)
                | ImportError::State(_)
                | ImportError::Store(_)
        )
    }
}

impl From<BlockError> for ImportError {
    fn from(e: BlockError) -> Self {
        match e {
            BlockError::InvalidTransaction { index, error } => ImportError::InvalidTransaction { index, error },
            BlockError::State(e) => ImportError::State(e),
            BlockError::Runtime(e) => ImportError::Engine(e.to_string()),
        }
    }
}

impl From<ReexecError> for ImportError {
    fn from(e: ReexecError) -> Self {
        match e {
            ReexecError::Block(b) => b.into(),
        }
    }
}

/// Why opening a chain failed.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// Creating the data directory failed.
    #[error("data directory {path}: {source}")]
    Io {
        /// The directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The genesis does not fit the database.
    #[error(transparent)]
    Genesis(#[from] GenesisError),
    /// The state database failed to open.
    #[error(transparent)]
    State(#[from] StateError),
    /// The side store failed to open.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A block the node proposed, with what it left out of its candidates.
pub struct Proposed {
    /// The signed block (what is gossiped).
    pub block: SignedBlock,
    /// Its receipts.
    pub receipts: Vec<crate::chain::Receipt>,
    /// Candidates left out as invalid, with why.
    pub rejected: Vec<(SignedTransaction, TxError)>,
}

/// The outcome of a reorganisation ([`Chain::reorg`]).
#[derive(Debug)]
pub struct Reorg {
    /// The last block the old and the new chain share.
    pub fork_height: u64,
    /// The blocks reverted (old chain, in height order).
    pub reverted: Vec<StoredBlock>,
    /// The blocks applied (new chain, in height order).
    pub applied: Vec<StoredBlock>,
}

/// One node's view of the chain: the state database, the side store and the chain spec.
/// Imports, proposals and reorganisations are serialized by an internal lock; reads need
/// none.
pub struct Chain {
    spec: ChainSpec,
    db: Arc<StateDb>,
    store: ConsensusStore,
    head: Mutex<BlockHeader>,
    engine: Engine,
    max_reorg_depth: u64,
}

/// The files of a node's data directory: `state/` (RocksDB state, blocks, receipts),
/// `consensus/` (signatures, transaction index) and `genesis.toml` (a copy of the genesis,
/// what `keel replay` starts from).
pub fn data_paths(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    (dir.join("state"), dir.join("consensus"), dir.join("genesis.toml"))
}

impl Chain {
    /// Opens (creating if needed) a node's data directory for the chain `spec`, writing
    /// the genesis block into a fresh one and checking it otherwise.
    pub fn open(dir: &Path, spec: ChainSpec, sync_commits: bool) -> Result<Self, OpenError> {
        std::fs::create_dir_all(dir).map_err(|source| OpenError::Io { path: dir.to_path_buf(), source })?;
        let (state_path, store_path, genesis_path) = data_paths(dir);
        let db = StateDb::open_with(&state_path, StateDbOptions { sync_commits, keep_heights: None })?;
        let genesis_header = spec.init_db(&db)?;
        std::fs::write(&genesis_path, spec.to_toml()).map_err(|source| OpenError::Io { path: genesis_path, source })?;
        let store = ConsensusStore::open(&store_path)?;
        let chain = Self {
            spec,
            db: Arc::new(db),
            store,
            head: Mutex::new(genesis_header),
            engine: Engine::Native,
            max_reorg_depth: DEFAULT_MAX_REORG_DEPTH,
        };
        let head = chain.header_at(chain.height()?)?.ok_or(StateError::Corrupt("head block missing".into()))?;
        *chain.lock_head() = head;
        Ok(chain)
    }

    fn lock_head(&self) -> std::sync::MutexGuard<'_, BlockHeader> {
        // A poisoned lock only means a panic elsewhere; the header inside is whole.
        self.head.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The chain spec.
    pub fn spec(&self) -> &ChainSpec {
        &self.spec
    }

    /// The state database.
    pub fn db(&self) -> &Arc<StateDb> {
        &self.db
    }

    /// The side store (signatures, transaction index).
    pub fn store(&self) -> &ConsensusStore {
        &self.store
    }

    /// Chooses the engine contract code of imported blocks runs on (default native).
    pub fn set_engine(&mut self, engine: Engine) {
        self.engine = engine;
    }

    /// Sets the most blocks [`reorg`](Self::reorg) may revert (default
    /// [`DEFAULT_MAX_REORG_DEPTH`]; 0 disables reorganisations).
    pub fn set_max_reorg_depth(&mut self, depth: u64) {
        self.max_reorg_depth = depth;
    }

    /// The most blocks [`reorg`](Self::reorg) may revert.
    pub fn max_reorg_depth(&self) -> u64 {
        self.max_reorg_depth
    }

    /// `(height, index in block)` of the committed transaction with hash `tx_hash`, `None`
    /// if the local chain does not hold it. The transaction index is checked against the
    /// block it names, so a record left by a reverted block is never reported.
    pub fn tx_location(&self, tx_hash: &Hash32) -> Result<Option<(u64, u32)>, ImportError> {
        let Some((height, index)) = self.store.tx_position(tx_hash)? else { return Ok(None) };
        let Some(stored) = self.stored_block(height)? else { return Ok(None) };
        let holds = stored.block.transactions.get(index as usize).is_some_and(|t| t.hash() == *tx_hash);
        Ok(holds.then_some((height, index)))
    }

    /// The header of the last committed block.
    pub fn head(&self) -> BlockHeader {
        self.lock_head().clone()
    }

    /// Height of the last committed block.
    pub fn height(&self) -> Result<u64, StateError> {
        Ok(self.db.head()?.map_or(0, |h| h.height))
    }

    /// The stored block and receipts at `height`, `None` above the head.
    pub fn stored_block(&self, height: u64) -> Result<Option<StoredBlock>, StateError> {
        match self.db.block(height)? {
            None => Ok(None),
            Some(b) => StoredBlock::from_bytes(&b).map(Some),
        }
    }

    /// The header at `height`, `None` above the head.
    pub fn header_at(&self, height: u64) -> Result<Option<BlockHeader>, StateError> {
        Ok(self.stored_block(height)?.map(|s| s.block.header))
    }

    /// The signed block at `height` (what sync serves); `None` above the head, for
    /// genesis (never signed) or if the signature is missing.
    pub fn signed_block(&self, height: u64) -> Result<Option<SignedBlock>, ImportError> {
        if height == 0 {
            return Ok(None);
        }
        let Some(stored) = self.stored_block(height)? else { return Ok(None) };
        let Some(signature) = self.store.seal(&stored.block.header.hash())? else { return Ok(None) };
        Ok(Some(SignedBlock { block: stored.block, signature }))
    }

    /// The slot of a header (0 for genesis, or for a timestamp that is no slot start,
    /// which no accepted block has).
    pub fn slot_of(&self, header: &BlockHeader) -> u64 {
        self.spec.slot_of_timestamp(header.timestamp_ms).unwrap_or(0)
    }

    /// Checks everything about `sb` that needs no execution, against the local head and
    /// the local clock `now_ms`: chain id, height, parent, slot, leader, signature, cost
    /// table, transactions root.
    pub fn check_header(&self, sb: &SignedBlock, now_ms: u64) -> Result<(), ImportError> {
        self.check_header_on(&self.head(), sb, now_ms)
    }

    fn check_header_on(&self, head: &BlockHeader, sb: &SignedBlock, now_ms: u64) -> Result<(), ImportError> {
        let h = &sb.block.header;
        if h.chain_id != self.spec.chain_id() {
            return Err(ImportError::WrongChain { expected: self.spec.chain_id(), got: h.chain_id });
        }
        if h.height <= head.height {
            let known = self.header_at(h.height)?.map(|k| k.hash()) == Some(h.hash());
            if known {
                return Err(ImportError::Known { height: h.height });
            }
            // Still an offence if it is not even signed by a leader.
            self.check_seal(sb, None)?;
            return Err(ImportError::Conflicting { height: h.height });
        }
        if h.height > head.height + 1 {
            return Err(ImportError::Ahead { height: h.height, head: head.height });
        }
        if h.parent_hash != head.hash() {
            self.check_seal(sb, None)?;
            return Err(ImportError::UnknownParent { height: h.height });
        }
        let parent_slot = self.slot_of(head);
        let slot = self.check_seal(sb, Some(parent_slot))?;
        let now = self.spec.slot_at(now_ms);
        if slot > now + 1 {
            return Err(ImportError::FutureSlot { slot, now });
        }
        if h.cost_table_hash != self.spec.cost_table_hash {
            return Err(ImportError::WrongCostTable);
        }
        if sb.block.compute_transactions_root() != h.transactions_root {
            return Err(ImportError::TransactionsRoot);
        }
        Ok(())
    }

    /// Slot, leader and signature checks; returns the slot.
    fn check_seal(&self, sb: &SignedBlock, parent_slot: Option<u64>) -> Result<u64, ImportError> {
        let h = &sb.block.header;
        let bad_slot = || ImportError::BadSlot { timestamp_ms: h.timestamp_ms, parent_slot: parent_slot.unwrap_or(0) };
        let slot = self.spec.slot_of_timestamp(h.timestamp_ms).ok_or_else(bad_slot)?;
        if slot == 0 || parent_slot.is_some_and(|p| slot <= p) {
            return Err(bad_slot());
        }
        let leader = self.spec.leader(slot);
        if h.proposer != leader {
            return Err(ImportError::WrongLeader { slot, proposer: h.proposer, leader });
        }
        if !sb.verify_signature() {
            return Err(ImportError::BadSignature);
        }
        Ok(slot)
    }

    /// Validates and imports a block received from a peer: [`check_header`](Self::check_header),
    /// then re-execution, which must reproduce the header exactly; then the signature and
    /// transaction index, then the state (one atomic write). Returns the stored block.
    pub fn import(&self, sb: &SignedBlock, now_ms: u64) -> Result<StoredBlock, ImportError> {
        let mut head = self.lock_head();
        self.import_on(&mut head, sb, now_ms)
    }

    /// [`import`](Self::import) with the head lock held.
    fn import_on(&self, head: &mut BlockHeader, sb: &SignedBlock, now_ms: u64) -> Result<StoredBlock, ImportError> {
        self.check_header_on(head, sb, now_ms)?;
        let h = &sb.block.header;
        let slot = self.slot_of(h);
        let ctx = self.spec.context(h.height, slot, h.proposer);
        let re = reexecute(&self.db, &ctx, h.parent_hash, &sb.block.transactions, self.engine)?;
        let fields = header_diff(&re.header, h);
        if !fields.is_empty() {
            return Err(ImportError::HeaderMismatch { fields });
        }
        let stored = StoredBlock { block: sb.block.clone(), receipts: re.receipts };
        self.commit(&sb.signature, &stored, re.prepared)?;
        *head = stored.block.header.clone();
        Ok(stored)
    }

    /// Where `branch` (signed blocks in height order, the first one's parent on the local
    /// chain) forks from the local chain: skips its leading blocks that the local chain
    /// already holds and returns `(fork height, the rest)`. `None` if the first block's
    /// parent is not a local block.
    pub fn fork_point<'b>(&self, branch: &'b [SignedBlock]) -> Result<Option<(u64, &'b [SignedBlock])>, ImportError> {
        let Some(first) = branch.first() else { return Ok(None) };
        let h = first.block.header.height;
        if h == 0 || self.header_at(h - 1)?.map(|p| p.hash()) != Some(first.block.header.parent_hash) {
            return Ok(None);
        }
        let mut skip = 0;
        for sb in branch {
            let bh = &sb.block.header;
            if self.header_at(bh.height)?.map(|x| x.hash()) == Some(bh.hash()) {
                skip += 1;
            } else {
                break;
            }
        }
        Ok(Some((h - 1 + skip as u64, &branch[skip..])))
    }

    /// Switches the local chain to a competing branch if the fork choice
    /// ([`fork::compare_branches`]) prefers it: `branch` holds the signed blocks right
    /// after local block `fork_height`, consecutive, in height order. The local blocks
    /// above `fork_height` (at most [`max_reorg_depth`](Self::max_reorg_depth)) are
    /// reverted ([`StateDb::rollback_to`], and their transaction index records removed),
    /// then every branch block is imported with all the checks of [`import`](Self::import)
    /// (re-execution included). If a branch block fails, the branch is reverted and the
    /// original blocks re-imported: the node ends on its original chain and the error is
    /// returned (an offence of whoever served the branch, see
    /// [`ImportError::is_offence`]).
    ///
    /// Errors before anything is changed: [`ImportError::BadBranch`] (empty, not attached
    /// at `fork_height`, not consecutive), [`ImportError::ReorgTooDeep`],
    /// [`ImportError::NotPreferred`], and the seal checks of every branch block (chain,
    /// slot, leader, signature). A crash in the middle leaves a valid prefix of one of the
    /// two chains committed (every step is an atomic write); the node then syncs again.
    pub fn reorg(&self, fork_height: u64, branch: &[SignedBlock], now_ms: u64) -> Result<Reorg, ImportError> {
        let mut head = self.lock_head();
        let Some(first) = branch.first() else { return Err(ImportError::BadBranch("empty".into())) };
        if fork_height > head.height || first.block.header.height != fork_height + 1 {
            return Err(ImportError::BadBranch(format!(
                "starts at height {}, not after local block {fork_height} (head {})",
                first.block.header.height, head.height
            )));
        }
        let fork_header = self.header_at(fork_height)?.ok_or(StateError::UnknownHeight(fork_height))?;
        let mut parent = fork_header.clone();
        for sb in branch {
            let h = &sb.block.header;
            if h.height != parent.height + 1 || h.parent_hash != parent.hash() {
                return Err(ImportError::BadBranch(format!("block {} does not extend block {}", h.height, parent.height)));
            }
            if h.chain_id != self.spec.chain_id() {
                return Err(ImportError::WrongChain { expected: self.spec.chain_id(), got: h.chain_id });
            }
            self.check_seal(sb, Some(self.slot_of(&parent)))?;
            parent = h.clone();
        }
        let depth = head.height - fork_height;
        if depth > self.max_reorg_depth {
            return Err(ImportError::ReorgTooDeep { depth, max: self.max_reorg_depth });
        }
        let (mut old_signed, mut old) = (Vec::with_capacity(depth as usize), Vec::with_capacity(depth as usize));
        for height in fork_height + 1..=head.height {
            let stored = self.stored_block(height)?.ok_or(StateError::UnknownHeight(height))?;
            let signature = self
                .store
                .seal(&stored.block.header.hash())?
                .ok_or_else(|| StateError::Corrupt(format!("no signature for block {height}")))?;
            old_signed.push(SignedBlock { block: stored.block.clone(), signature });
            old.push(stored);
        }
        let ours: Vec<BlockHeader> = old.iter().map(|s| s.block.header.clone()).collect();
        let theirs: Vec<BlockHeader> = branch.iter().map(|sb| sb.block.header.clone()).collect();
        if !fork::prefers_theirs(&self.spec, fork_height, &ours, &theirs) {
            return Err(ImportError::NotPreferred { fork_height });
        }
        tracing::info!(fork_height, reverted = old.len(), applied = branch.len(), "reorganising to a preferred branch");
        self.revert_to(&mut head, &fork_header, &old)?;
        let mut applied = Vec::with_capacity(branch.len());
        for sb in branch {
            match self.import_on(&mut head, sb, now_ms) {
                Ok(stored) => applied.push(stored),
                Err(e) => {
                    tracing::warn!(fork_height, height = sb.block.header.height, "competing branch is invalid, restoring the original chain: {e}");
                    self.revert_to(&mut head, &fork_header, &applied)?;
                    for sb in &old_signed {
                        // These blocks were valid on this very state a moment ago, and the
                        // clock only moved forward.
                        self.import_on(&mut head, sb, u64::MAX)?;
                    }
                    return Err(e);
                }
            }
        }
        Ok(Reorg { fork_height, reverted: old, applied })
    }

    /// Reverts the local chain to `fork_header` (the head lock held): state rollback, then
    /// the transaction index records of the reverted `blocks`.
    fn revert_to(&self, head: &mut BlockHeader, fork_header: &BlockHeader, blocks: &[StoredBlock]) -> Result<(), ImportError> {
        self.db.rollback_to(fork_header.height)?;
        *head = fork_header.clone();
        let records: Vec<(Hash32, u64)> = blocks
            .iter()
            .flat_map(|s| s.block.transactions.iter().map(move |t| (t.hash(), s.block.header.height)))
            .collect();
        self.store.remove_txs(&records)?;
        Ok(())
    }

    fn commit(&self, signature: &[u8; 64], stored: &StoredBlock, prepared: crate::state::PreparedBlock) -> Result<(), ImportError> {
        let hashes: Vec<Hash32> = stored.block.transactions.iter().map(SignedTransaction::hash).collect();
        self.store.put_block(&stored.block.header.hash(), signature, stored.block.header.height, &hashes)?;
        self.db.commit_prepared(prepared, &stored.encode())?;
        Ok(())
    }

    /// Leader mode: builds block `head + 1` for `slot` from `candidates` (invalid ones
    /// are left out), signs it with `key`, and commits it. Errors: the key is not the
    /// slot's leader, or the slot is not after the head's
    /// ([`ImportError::WrongLeader`] / [`ImportError::BadSlot`]).
    pub fn propose(&self, key: &SigningKey, slot: u64, candidates: Vec<SignedTransaction>) -> Result<Proposed, ImportError> {
        let mut head = self.lock_head();
        let proposer = address_of(&key.verifying_key());
        let leader = self.spec.leader(slot);
        if proposer != leader {
            return Err(ImportError::WrongLeader { slot, proposer, leader });
        }
        let ctx = self.spec.context(head.height + 1, slot, proposer);
        let parent_slot = self.slot_of(&head);
        if slot <= parent_slot {
            return Err(ImportError::BadSlot { timestamp_ms: ctx.timestamp_ms, parent_slot });
        }
        let (re, included, rejected) = build(&self.db, &ctx, head.hash(), candidates)?;
        let block = SignedBlock::sign(Block { header: re.header, transactions: included }, key);
        let stored = StoredBlock { block: block.block.clone(), receipts: re.receipts };
        self.commit(&block.signature, &stored, re.prepared)?;
        *head = block.block.header.clone();
        Ok(Proposed { block, receipts: stored.receipts, rejected })
    }
}
