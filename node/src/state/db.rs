//! RocksDB storage: column families, the jmt `TreeReader`/`TreeWriter` bridge, atomic
//! block commits, historical views, pruning and the compiled-artifact cache.

use std::collections::BTreeMap;
use std::path::Path;

use jmt::storage::{LeafNode, Node, NodeBatch, NodeKey, TreeReader};
use jmt::{KeyHash, OwnedValue, Version};
use parity_scale_codec::{Decode, DecodeAll, Encode};
use rocksdb::{
    ColumnFamily, ColumnFamilyDescriptor, Direction, IteratorMode, Options, ReadOptions, WriteBatch,
    WriteOptions, DB,
};

use super::changes::{decode_account, WorkingState};
use super::trie::{KeelJmt, StateProof, TrieKey, EMPTY_ROOT};
use super::{account_key, storage_key, Account, Address, Hash32, StateChanges, StateError};

/// Column family of trie nodes: key = Borsh(`NodeKey`) (version, nibble path), value =
/// Borsh(`Node`).
pub const CF_TRIE_NODES: &str = "trie_nodes";
/// Column family of versioned trie values (the flat read path): key = trie key (32) ‖
/// version (u64 BE), value = `0x00` (deleted at that version) or `0x01` ‖ value bytes.
pub const CF_TRIE_VALUES: &str = "trie_values";
/// Column family of stale trie nodes for pruning: key = stale-since version (u64 BE) ‖
/// Borsh(`NodeKey`), value empty.
pub const CF_STALE: &str = "trie_stale";
/// Column family of contract code: key = BLAKE3 code hash, value = code bytes.
pub const CF_CODE: &str = "code";
/// Column family of block data: key = height (u64 BE), value = the block bytes given to
/// [`StateDb::commit_block`].
pub const CF_BLOCKS: &str = "blocks";
/// Column family of the compiled-artifact cache: key = SCALE([`ArtifactKey`]), value =
/// artifact bytes. Not consensus data: a miss recompiles.
pub const CF_ARTIFACTS: &str = "artifacts";
/// Column family of undo records, one per committed height, for
/// [`StateDb::rollback_to`]: key = height (u64 BE), value = SCALE(`UndoRecord`): the trie
/// node keys and value keys the height wrote, the code it added, and the `byroot` record it
/// replaced.
pub const CF_UNDO: &str = "undo";
/// Column family of metadata: `b"head"` → SCALE([`CommittedHead`]); `b"root"` ‖ height
/// (u64 BE) → the 32-byte state root of that height; `b"byroot"` ‖ root → the latest height
/// (u64 BE) committed with that root.
pub const CF_META: &str = "meta";

const ALL_CFS: [&str; 8] =
    [CF_TRIE_NODES, CF_TRIE_VALUES, CF_STALE, CF_CODE, CF_BLOCKS, CF_ARTIFACTS, CF_META, CF_UNDO];
const HEAD_KEY: &[u8] = b"head";

/// The last committed block, as recorded in the `meta` column family.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode)]
pub struct CommittedHead {
    /// Height of the last committed block (genesis = 0).
    pub height: u64,
    /// State root after that block.
    pub state_root: Hash32,
}

/// What one committed height wrote, so that [`StateDb::rollback_to`] can remove exactly
/// that (stored in [`CF_UNDO`]).
#[derive(Clone, Debug, Default, PartialEq, Eq, Encode, Decode)]
struct UndoRecord {
    /// Borsh(`NodeKey`) of every trie node written at this height (jmt versions nodes by
    /// height, so none of them existed before).
    node_keys: Vec<Vec<u8>>,
    /// Trie keys whose value record `trie key ‖ height` this height wrote.
    value_keys: Vec<[u8; 32]>,
    /// Code hashes this height added to the code store (absent before it).
    new_codes: Vec<Hash32>,
    /// The `byroot` record of this height's state root before this height replaced it.
    prev_by_root: Option<u64>,
}

/// Options of [`StateDb::open_with`].
#[derive(Clone, Debug)]
pub struct StateDbOptions {
    /// `fsync` the write-ahead log on every block commit (default `true`). Without it a
    /// killed *process* still loses nothing (the WAL is in the OS page cache), but a power
    /// loss may lose the last blocks (never half of one).
    pub sync_commits: bool,
    /// Keep the trie nodes of only the last `n` heights readable (proofs of older roots
    /// fail with a trie error); `None` (default) keeps every height. Flat reads of old
    /// heights ([`StateView::get`]) and block data are kept regardless. It also bounds
    /// [`StateDb::rollback_to`] to the last `n` heights (their undo records are pruned with
    /// the nodes); with `None` every height keeps its undo record and can be rolled back.
    pub keep_heights: Option<u64>,
}

impl Default for StateDbOptions {
    fn default() -> Self {
        Self { sync_commits: true, keep_heights: None }
    }
}

/// Key of the compiled-artifact cache: everything the compiled code depends on.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct ArtifactKey {
    /// BLAKE3 hash of the contract code.
    pub code_hash: Hash32,
    /// Engine version string (e.g. `keel-engine 0.1.0`).
    pub engine_version: String,
    /// Target ISA and CPU features the code was compiled for (e.g. `x86_64+avx2,bmi2`).
    pub target: String,
    /// `CostTable::hash()` of the cost table the gas charges were compiled from.
    pub cost_table_hash: Hash32,
}

/// The state database. One per node; RocksDB's lock file keeps a second process out.
pub struct StateDb {
    db: DB,
    opts: StateDbOptions,
    /// Serializes commits, so the height check and the write are one step even when
    /// several threads share the database.
    commit_lock: std::sync::Mutex<()>,
}

/// A block's trie update, computed by [`StateDb::prepare_block`] and written by
/// [`StateDb::commit_prepared`]. Lets the caller learn the state root (to put it into the
/// block header) before writing the block.
pub struct PreparedBlock {
    height: u64,
    /// State root of the committed state the update was computed on.
    parent_root: Hash32,
    state_root: Hash32,
    batch: WriteBatch,
    undo: UndoRecord,
}

impl PreparedBlock {
    /// The state root the block will commit.
    pub fn state_root(&self) -> Hash32 {
        self.state_root
    }
    /// The height the block will commit at.
    pub fn height(&self) -> u64 {
        self.height
    }
}

fn value_key(key: &KeyHash, version: Version) -> [u8; 40] {
    let mut k = [0u8; 40];
    k[..32].copy_from_slice(&key.0);
    k[32..].copy_from_slice(&version.to_be_bytes());
    k
}

fn undo_key(height: u64) -> [u8; 8] {
    height.to_be_bytes()
}

fn root_meta_key(height: u64) -> [u8; 12] {
    let mut k = [0u8; 12];
    k[..4].copy_from_slice(b"root");
    k[4..].copy_from_slice(&height.to_be_bytes());
    k
}

fn by_root_key(root: &Hash32) -> [u8; 38] {
    let mut k = [0u8; 38];
    k[..6].copy_from_slice(b"byroot");
    k[6..].copy_from_slice(root);
    k
}

fn trie_err(e: impl std::fmt::Display) -> StateError {
    StateError::Trie(e.to_string())
}

/// Read-only access to the trie column families, as jmt wants it.
struct Reader<'a> {
    db: &'a StateDb,
}

impl TreeReader for Reader<'_> {
    fn get_node_option(&self, node_key: &NodeKey) -> anyhow::Result<Option<Node>> {
        let key = borsh::to_vec(node_key)?;
        match self.db.db.get_pinned_cf(self.db.cf(CF_TRIE_NODES), key)? {
            None => Ok(None),
            Some(bytes) => Ok(Some(borsh::from_slice(&bytes)?)),
        }
    }

    fn get_value_option(&self, max_version: Version, key_hash: KeyHash) -> anyhow::Result<Option<OwnedValue>> {
        Ok(self.db.value_at(max_version, &key_hash)?)
    }

    fn get_rightmost_leaf(&self) -> anyhow::Result<Option<(NodeKey, LeafNode)>> {
        anyhow::bail!("get_rightmost_leaf (state restore) is not supported by StateDb")
    }
}

impl StateDb {
    /// Opens (creating if needed) the state database at `path` with default options.
    /// Errors: [`StateError::Db`] (e.g. the directory is locked by another process).
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StateError> {
        Self::open_with(path, StateDbOptions::default())
    }

    /// Opens (creating if needed) the state database at `path`.
    pub fn open_with(path: impl AsRef<Path>, opts: StateDbOptions) -> Result<Self, StateError> {
        let mut db_opts = Options::default();
        db_opts.create_if_missing(true);
        db_opts.create_missing_column_families(true);
        let cfs = ALL_CFS.iter().map(|name| ColumnFamilyDescriptor::new(*name, Options::default()));
        let db = DB::open_cf_descriptors(&db_opts, path, cfs)?;
        Ok(Self { db, opts, commit_lock: std::sync::Mutex::new(()) })
    }

    fn cf(&self, name: &str) -> &ColumnFamily {
        // Every CF in ALL_CFS is created by `open_with`; a missing one is a programming error.
        self.db.cf_handle(name).expect("column family created at open")
    }

    /// The last committed block, `None` for a fresh database. Errors:
    /// [`StateError::Corrupt`] if the record does not decode.
    pub fn head(&self) -> Result<Option<CommittedHead>, StateError> {
        match self.db.get_pinned_cf(self.cf(CF_META), HEAD_KEY)? {
            None => Ok(None),
            Some(b) => CommittedHead::decode_all(&mut &b[..])
                .map(Some)
                .map_err(|e| StateError::Corrupt(format!("head record: {e}"))),
        }
    }

    /// The height the next [`commit_block`](Self::commit_block) must have (0 on a fresh
    /// database).
    pub fn next_height(&self) -> Result<u64, StateError> {
        Ok(self.head()?.map_or(0, |h| h.height + 1))
    }

    /// The state root recorded for committed height `height`. Errors:
    /// [`StateError::UnknownHeight`] if it was never committed.
    pub fn state_root(&self, height: u64) -> Result<Hash32, StateError> {
        match self.db.get_pinned_cf(self.cf(CF_META), root_meta_key(height))? {
            None => Err(StateError::UnknownHeight(height)),
            Some(b) => <[u8; 32]>::try_from(&b[..])
                .map_err(|_| StateError::Corrupt(format!("root record of height {height}"))),
        }
    }

    /// The block bytes stored with height `height`, `None` if not committed.
    pub fn block(&self, height: u64) -> Result<Option<Vec<u8>>, StateError> {
        Ok(self.db.get_cf(self.cf(CF_BLOCKS), height.to_be_bytes())?)
    }

    /// A read-only view of the state after the last committed block (the empty state on a
    /// fresh database).
    pub fn latest(&self) -> Result<StateView<'_>, StateError> {
        Ok(StateView { db: self, height: self.head()?.map(|h| h.height) })
    }

    /// A read-only view of the state after committed block `height`. Errors:
    /// [`StateError::UnknownHeight`].
    pub fn view(&self, height: u64) -> Result<StateView<'_>, StateError> {
        match self.head()? {
            Some(h) if height <= h.height => Ok(StateView { db: self, height: Some(height) }),
            _ => Err(StateError::UnknownHeight(height)),
        }
    }

    /// The latest committed height whose state root is `root` (several heights share a root
    /// when blocks change nothing), `None` if no committed height has it.
    pub fn height_of_root(&self, root: &Hash32) -> Result<Option<u64>, StateError> {
        match self.db.get_pinned_cf(self.cf(CF_META), by_root_key(root))? {
            None => Ok(None),
            Some(b) => <[u8; 8]>::try_from(&b[..])
                .map(|h| Some(u64::from_be_bytes(h)))
                .map_err(|_| StateError::Corrupt("root index record".into())),
        }
    }

    /// A read-only view of the state with root `root` (see
    /// [`height_of_root`](Self::height_of_root)), `None` if no committed height has it.
    pub fn view_at_root(&self, root: &Hash32) -> Result<Option<StateView<'_>>, StateError> {
        match self.height_of_root(root)? {
            None => Ok(None),
            Some(h) => self.view(h).map(Some),
        }
    }

    /// A [`WorkingState`] on top of the latest committed state, for executing the next block.
    pub fn working(&self) -> Result<WorkingState<'_>, StateError> {
        Ok(WorkingState::new(self.latest()?))
    }

    /// Latest value of `key` at a version ≤ `max_version` (flat read, one RocksDB seek).
    fn value_at(&self, max_version: Version, key: &KeyHash) -> Result<Option<Vec<u8>>, StateError> {
        let mut ro = ReadOptions::default();
        let mut lower = [0u8; 40];
        lower[..32].copy_from_slice(&key.0);
        ro.set_iterate_lower_bound(lower.to_vec());
        let seek = value_key(key, max_version);
        let mut it = self.db.iterator_cf_opt(
            self.cf(CF_TRIE_VALUES),
            ro,
            IteratorMode::From(&seek, Direction::Reverse),
        );
        match it.next() {
            None => Ok(None),
            Some(item) => {
                let (k, v) = item?;
                if k.len() != 40 || k[..32] != key.0 {
                    return Ok(None);
                }
                match v.split_first() {
                    Some((0, [])) => Ok(None),
                    Some((1, rest)) => Ok(Some(rest.to_vec())),
                    _ => Err(StateError::Corrupt("trie value record".into())),
                }
            }
        }
    }

    /// Computes the trie update of block `height` from `changes` without writing anything.
    /// Errors: [`StateError::WrongHeight`] unless `height` is [`next_height`](Self::next_height);
    /// [`StateError::Trie`] if the trie of the parent is unreadable.
    pub fn prepare_block(&self, height: u64, changes: &StateChanges) -> Result<PreparedBlock, StateError> {
        let head = self.head()?;
        let expected = head.map_or(0, |h| h.height + 1);
        if height != expected {
            return Err(StateError::WrongHeight { expected, got: height });
        }
        let parent_root = head.map_or(EMPTY_ROOT, |h| h.state_root);
        let reader = Reader { db: self };
        let tree = KeelJmt::new(&reader);
        let value_set: Vec<(KeyHash, Option<OwnedValue>)> =
            changes.writes().map(|(k, v)| (k.key_hash(), v.map(|v| v.to_vec()))).collect();
        let (root, update) = tree.put_value_set(value_set, height).map_err(trie_err)?;

        let mut batch = WriteBatch::default();
        write_node_batch(self, &mut batch, &update.node_batch)?;
        let mut undo = UndoRecord::default();
        for key in update.node_batch.nodes().keys() {
            undo.node_keys.push(borsh::to_vec(key).map_err(trie_err)?);
        }
        for (version, key) in update.node_batch.values().keys() {
            if *version != height {
                return Err(StateError::Trie(format!("value written at version {version} by height {height}")));
            }
            undo.value_keys.push(key.0);
        }
        if self.opts.keep_heights.is_some() {
            for stale in &update.stale_node_index_batch {
                let mut k = stale.stale_since_version.to_be_bytes().to_vec();
                k.extend(borsh::to_vec(&stale.node_key).map_err(trie_err)?);
                batch.put_cf(self.cf(CF_STALE), k, b"");
            }
        }
        for (hash, code) in changes.codes() {
            if self.db.get_pinned_cf(self.cf(CF_CODE), hash)?.is_none() && !undo.new_codes.contains(hash) {
                undo.new_codes.push(*hash);
            }
            batch.put_cf(self.cf(CF_CODE), hash, code);
        }
        Ok(PreparedBlock { height, parent_root, state_root: root.0, batch, undo })
    }

    /// Writes a prepared block, its `block_bytes` (stored under its height in the `blocks`
    /// column family) and the new head in ONE atomic RocksDB write: after a crash the
    /// database holds either all of it or none of it. The same write stores the height's
    /// undo record (for [`rollback_to`](Self::rollback_to)). Returns the state root.
    /// Errors: [`StateError::WrongHeight`] if another block was committed since
    /// `prepare_block`; [`StateError::ParentChanged`] if the head was rolled back and
    /// replaced by another state since.
    pub fn commit_prepared(&self, prepared: PreparedBlock, block_bytes: &[u8]) -> Result<Hash32, StateError> {
        let PreparedBlock { height, parent_root, state_root, mut batch, mut undo } = prepared;
        // A poisoned lock only means another commit panicked; the database is still whole.
        let _guard = self.commit_lock.lock().unwrap_or_else(|p| p.into_inner());
        let head = self.head()?;
        let expected = head.map_or(0, |h| h.height + 1);
        if height != expected {
            return Err(StateError::WrongHeight { expected, got: height });
        }
        if head.map_or(EMPTY_ROOT, |h| h.state_root) != parent_root {
            return Err(StateError::ParentChanged { height });
        }
        undo.prev_by_root = self.height_of_root(&state_root)?;
        batch.put_cf(self.cf(CF_UNDO), undo_key(height), undo.encode());
        batch.put_cf(self.cf(CF_BLOCKS), height.to_be_bytes(), block_bytes);
        batch.put_cf(self.cf(CF_META), root_meta_key(height), state_root);
        batch.put_cf(self.cf(CF_META), by_root_key(&state_root), height.to_be_bytes());
        batch.put_cf(self.cf(CF_META), HEAD_KEY, CommittedHead { height, state_root }.encode());
        if let Some(keep) = self.opts.keep_heights {
            self.prune_into(&mut batch, height.saturating_sub(keep.max(1)))?;
        }
        let mut wo = WriteOptions::default();
        wo.set_sync(self.opts.sync_commits);
        self.db.write_opt(batch, &wo)?;
        Ok(state_root)
    }

    /// [`prepare_block`](Self::prepare_block) then [`commit_prepared`](Self::commit_prepared).
    pub fn commit_block(&self, height: u64, changes: &StateChanges, block_bytes: &[u8]) -> Result<Hash32, StateError> {
        let prepared = self.prepare_block(height, changes)?;
        self.commit_prepared(prepared, block_bytes)
    }

    /// Un-commits every height above `height`, in ONE atomic RocksDB write: their trie
    /// nodes, value records, stale-node records, the code they added, their block bytes,
    /// root and `byroot` records and undo records are removed and the head becomes
    /// `height`, so that the latest state, every read, root and proof is again exactly that
    /// of `height` (and of every height below it), and the next commit is `height + 1`. A
    /// process killed during the rollback reopens with the old head or the new one, whole.
    /// Returns the new head; rolling back to the head itself changes nothing.
    ///
    /// Errors: [`StateError::UnknownHeight`] if `height` is above the head (or the database
    /// is empty); [`StateError::RollbackUnavailable`] if a height to remove has no undo
    /// record (committed by a version of Keel without them, or pruned: with
    /// `keep_heights: Some(n)` only the last `n` heights can be rolled back);
    /// [`StateError::Corrupt`] if a record does not decode. On error nothing is written.
    pub fn rollback_to(&self, height: u64) -> Result<CommittedHead, StateError> {
        let _guard = self.commit_lock.lock().unwrap_or_else(|p| p.into_inner());
        let head = self.head()?.ok_or(StateError::UnknownHeight(height))?;
        if height > head.height {
            return Err(StateError::UnknownHeight(height));
        }
        if height == head.height {
            return Ok(head);
        }
        if let Some(keep) = self.opts.keep_heights {
            if head.height - height > keep.max(1) {
                return Err(StateError::RollbackUnavailable { height: height + 1 });
            }
        }
        let new_root = self.state_root(height)?;
        let mut batch = WriteBatch::default();
        // Highest height first, so that each `byroot` record ends with the value it had
        // before the lowest removed height that replaced it.
        for v in (height + 1..=head.height).rev() {
            let undo = match self.db.get_pinned_cf(self.cf(CF_UNDO), undo_key(v))? {
                None => return Err(StateError::RollbackUnavailable { height: v }),
                Some(b) => UndoRecord::decode_all(&mut &b[..])
                    .map_err(|e| StateError::Corrupt(format!("undo record of height {v}: {e}")))?,
            };
            for key in &undo.node_keys {
                batch.delete_cf(self.cf(CF_TRIE_NODES), key);
            }
            for key in &undo.value_keys {
                batch.delete_cf(self.cf(CF_TRIE_VALUES), value_key(&KeyHash(*key), v));
            }
            for hash in &undo.new_codes {
                batch.delete_cf(self.cf(CF_CODE), hash);
            }
            let root = self.state_root(v)?;
            match undo.prev_by_root {
                Some(prev) => batch.put_cf(self.cf(CF_META), by_root_key(&root), prev.to_be_bytes()),
                None => batch.delete_cf(self.cf(CF_META), by_root_key(&root)),
            }
            batch.delete_cf(self.cf(CF_META), root_meta_key(v));
            batch.delete_cf(self.cf(CF_BLOCKS), v.to_be_bytes());
            batch.delete_cf(self.cf(CF_UNDO), undo_key(v));
        }
        // Nodes made stale by the removed heights are live again at `height`.
        let from = (height + 1).to_be_bytes();
        for item in self.db.iterator_cf(self.cf(CF_STALE), IteratorMode::From(&from, Direction::Forward)) {
            let (k, _) = item?;
            batch.delete_cf(self.cf(CF_STALE), &k);
        }
        let new_head = CommittedHead { height, state_root: new_root };
        batch.put_cf(self.cf(CF_META), HEAD_KEY, new_head.encode());
        let mut wo = WriteOptions::default();
        wo.set_sync(self.opts.sync_commits);
        self.db.write_opt(batch, &wo)?;
        Ok(new_head)
    }

    /// Adds deletions of trie nodes that became stale at a version ≤ `up_to`, and of the
    /// undo records of heights ≤ `up_to` (those heights can no longer be rolled back), to
    /// `batch`.
    fn prune_into(&self, batch: &mut WriteBatch, up_to: u64) -> Result<(), StateError> {
        // Each commit advances the window by one height: one undo record leaves it.
        batch.delete_cf(self.cf(CF_UNDO), undo_key(up_to));
        let cf = self.cf(CF_STALE);
        for item in self.db.iterator_cf(cf, IteratorMode::Start) {
            let (k, _) = item?;
            if k.len() < 8 {
                return Err(StateError::Corrupt("stale index record".into()));
            }
            let mut v = [0u8; 8];
            v.copy_from_slice(&k[..8]);
            if u64::from_be_bytes(v) > up_to {
                break;
            }
            batch.delete_cf(self.cf(CF_TRIE_NODES), &k[8..]);
            batch.delete_cf(cf, &k);
        }
        Ok(())
    }

    /// Recomputes the state root of committed `height` from the flat value records alone
    /// (rebuilding a trie in memory) — an integrity check independent of the stored trie
    /// nodes and root records. Reads every value record; meant for audits and tests.
    pub fn recompute_root(&self, height: u64) -> Result<Hash32, StateError> {
        let mut latest: BTreeMap<[u8; 32], Option<Vec<u8>>> = BTreeMap::new();
        for item in self.db.iterator_cf(self.cf(CF_TRIE_VALUES), IteratorMode::Start) {
            let (k, v) = item?;
            if k.len() != 40 {
                return Err(StateError::Corrupt("trie value key".into()));
            }
            let mut ver = [0u8; 8];
            ver.copy_from_slice(&k[32..]);
            if u64::from_be_bytes(ver) > height {
                continue;
            }
            let mut key = [0u8; 32];
            key.copy_from_slice(&k[..32]);
            let value = match v.split_first() {
                Some((0, [])) => None,
                Some((1, rest)) => Some(rest.to_vec()),
                _ => return Err(StateError::Corrupt("trie value record".into())),
            };
            // Keys sort by version within one trie key, so the last one seen wins.
            latest.insert(key, value);
        }
        let mem = MemTree;
        let tree = KeelJmt::new(&mem);
        let set: Vec<(KeyHash, Option<OwnedValue>)> =
            latest.into_iter().filter_map(|(k, v)| v.map(|v| (KeyHash(k), Some(v)))).collect();
        if set.is_empty() {
            return Ok(EMPTY_ROOT);
        }
        let (root, _) = tree.put_value_set(set, 0).map_err(trie_err)?;
        Ok(root.0)
    }

    /// Looks up a compiled artifact. `Ok(None)` on a miss.
    pub fn get_artifact(&self, key: &ArtifactKey) -> Result<Option<Vec<u8>>, StateError> {
        Ok(self.db.get_cf(self.cf(CF_ARTIFACTS), key.encode())?)
    }

    /// Stores a compiled artifact (not synced: the cache is not consensus data).
    pub fn put_artifact(&self, key: &ArtifactKey, artifact: &[u8]) -> Result<(), StateError> {
        Ok(self.db.put_cf(self.cf(CF_ARTIFACTS), key.encode(), artifact)?)
    }

    /// Removes a compiled artifact (e.g. one that failed to load).
    pub fn delete_artifact(&self, key: &ArtifactKey) -> Result<(), StateError> {
        Ok(self.db.delete_cf(self.cf(CF_ARTIFACTS), key.encode())?)
    }
}

fn write_node_batch(db: &StateDb, batch: &mut WriteBatch, nb: &NodeBatch) -> Result<(), StateError> {
    for (key, node) in nb.nodes() {
        batch.put_cf(
            db.cf(CF_TRIE_NODES),
            borsh::to_vec(key).map_err(trie_err)?,
            borsh::to_vec(node).map_err(trie_err)?,
        );
    }
    for ((version, key), value) in nb.values() {
        let record = match value {
            None => vec![0u8],
            Some(v) => {
                let mut r = Vec::with_capacity(v.len() + 1);
                r.push(1);
                r.extend_from_slice(v);
                r
            }
        };
        batch.put_cf(db.cf(CF_TRIE_VALUES), value_key(key, *version), record);
    }
    Ok(())
}

/// In-memory trie storage for [`StateDb::recompute_root`].
struct MemTree;

impl TreeReader for MemTree {
    fn get_node_option(&self, _: &NodeKey) -> anyhow::Result<Option<Node>> {
        // Building version 0 of a fresh tree reads nothing back from storage.
        Ok(None)
    }
    fn get_value_option(&self, _: Version, _: KeyHash) -> anyhow::Result<Option<OwnedValue>> {
        Ok(None)
    }
    fn get_rightmost_leaf(&self) -> anyhow::Result<Option<(NodeKey, LeafNode)>> {
        Ok(None)
    }
}

/// A read-only view of the committed state after one height.
#[derive(Clone, Copy)]
pub struct StateView<'db> {
    db: &'db StateDb,
    /// `None`: the empty state before genesis.
    height: Option<u64>,
}

impl<'db> StateView<'db> {
    /// The database this view reads (e.g. for the compiled-artifact cache).
    pub fn db(&self) -> &'db StateDb {
        self.db
    }

    /// The height this view shows (`None`: the empty state before genesis).
    pub fn height(&self) -> Option<u64> {
        self.height
    }

    /// The state root of this view ([`EMPTY_ROOT`] before genesis).
    pub fn root(&self) -> Result<Hash32, StateError> {
        match self.height {
            None => Ok(EMPTY_ROOT),
            Some(h) => self.db.state_root(h),
        }
    }

    /// Raw trie read (flat path: one RocksDB seek, no trie walk).
    pub fn get(&self, key: &TrieKey) -> Result<Option<Vec<u8>>, StateError> {
        match self.height {
            None => Ok(None),
            Some(h) => self.db.value_at(h, &key.key_hash()),
        }
    }

    /// The account record of `addr`, `None` if it never existed.
    pub fn account_opt(&self, addr: &Address) -> Result<Option<Account>, StateError> {
        self.get(&account_key(addr))?.map(|b| decode_account(&b)).transpose()
    }

    /// The account record of `addr`, or the default (zero balance, nonce 0, no code).
    pub fn account(&self, addr: &Address) -> Result<Account, StateError> {
        Ok(self.account_opt(addr)?.unwrap_or_default())
    }

    /// Storage slot `key` of contract `addr`.
    pub fn storage(&self, addr: &Address, key: &[u8]) -> Result<Option<Vec<u8>>, StateError> {
        self.get(&storage_key(addr, key))
    }

    /// Contract code by BLAKE3 hash (the code store is not versioned: code is immutable and
    /// content-addressed).
    pub fn code(&self, hash: &Hash32) -> Result<Option<Vec<u8>>, StateError> {
        Ok(self.db.db.get_cf(self.db.cf(CF_CODE), hash)?)
    }

    /// The account of `addr` (`None`: absent) and a proof of it against
    /// [`root`](Self::root); check it with [`crate::state::verify_account_proof`].
    /// Errors: as [`prove`](Self::prove); [`StateError::Corrupt`] if the record does not
    /// decode.
    pub fn prove_account(&self, addr: &Address) -> Result<(Option<Account>, StateProof), StateError> {
        let (value, proof) = self.prove(&account_key(addr))?;
        Ok((value.map(|v| decode_account(&v)).transpose()?, proof))
    }

    /// The value of `key` and a proof of it (membership if `Some`, non-membership if `None`)
    /// against [`root`](Self::root), by walking the trie. Errors: [`StateError::Trie`] if
    /// the trie nodes of this height were pruned.
    pub fn prove(&self, key: &TrieKey) -> Result<(Option<Vec<u8>>, StateProof), StateError> {
        let Some(h) = self.height else {
            return Err(StateError::Trie("no proofs for the empty pre-genesis state".into()));
        };
        let reader = Reader { db: self.db };
        let tree = KeelJmt::new(&reader);
        let (value, proof) = tree.get_with_proof(key.key_hash(), h).map_err(trie_err)?;
        Ok((value, StateProof(proof)))
    }
}
