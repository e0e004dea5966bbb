//! A block's pending state changes, with nested checkpoints, and the read-through
//! [`WorkingState`] that execution uses.

use std::collections::BTreeMap;

use parity_scale_codec::{DecodeAll, Encode};

use super::{account_key, code_hash, storage_key, Account, Address, Hash32, StateError, StateView, TrieKey};

/// One undo record of the journal.
#[derive(Debug, Clone)]
enum Undo {
    /// The trie key had this overlay entry before (`None`: no overlay entry).
    Write { key: TrieKey, prev: Option<Option<Vec<u8>>> },
    /// This code hash was newly added to the overlay.
    Code { hash: Hash32 },
}

/// A checkpoint handle returned by [`StateChanges::checkpoint`]. Checkpoints nest: reverting
/// to or committing an outer checkpoint also closes every checkpoint taken after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checkpoint {
    depth: usize,
    journal_len: usize,
}

/// The state writes of one block not yet committed: trie writes (`Some(value)` sets,
/// `None` deletes) and new contract code, in deterministic (sorted) order, plus an undo
/// journal for open checkpoints.
///
/// A block's execution takes a [`Checkpoint`] before each transaction (and each nested
/// call), then either [`commit_checkpoint`](Self::commit_checkpoint)s it or
/// [`revert_to`](Self::revert_to)s it, which undoes every write made since.
#[derive(Debug, Clone, Default)]
pub struct StateChanges {
    writes: BTreeMap<TrieKey, Option<Vec<u8>>>,
    code: BTreeMap<Hash32, Vec<u8>>,
    journal: Vec<Undo>,
    /// Journal length at each open checkpoint, outermost first.
    open: Vec<usize>,
}

impl StateChanges {
    /// An empty change set.
    pub fn new() -> Self {
        Self::default()
    }

    /// The pending write of `key`, if any: `Some(Some(v))` set, `Some(None)` deleted,
    /// `None` untouched by this change set.
    pub fn get(&self, key: &TrieKey) -> Option<Option<&[u8]>> {
        self.writes.get(key).map(|v| v.as_deref())
    }

    /// Sets `key` to `value`.
    pub fn set(&mut self, key: TrieKey, value: Vec<u8>) {
        self.write(key, Some(value));
    }

    /// Deletes `key`.
    pub fn delete(&mut self, key: TrieKey) {
        self.write(key, None);
    }

    fn write(&mut self, key: TrieKey, value: Option<Vec<u8>>) {
        let prev = self.writes.insert(key, value);
        if !self.open.is_empty() {
            self.journal.push(Undo::Write { key, prev });
        }
    }

    /// Adds contract code to the code store (keyed by its BLAKE3 hash) and returns the hash.
    pub fn put_code(&mut self, code: Vec<u8>) -> Hash32 {
        let hash = code_hash(&code);
        if let std::collections::btree_map::Entry::Vacant(e) = self.code.entry(hash) {
            e.insert(code);
            if !self.open.is_empty() {
                self.journal.push(Undo::Code { hash });
            }
        }
        hash
    }

    /// Code added by this change set, by hash.
    pub fn code(&self, hash: &Hash32) -> Option<&[u8]> {
        self.code.get(hash).map(|c| c.as_slice())
    }

    /// All pending trie writes, sorted by key.
    pub fn writes(&self) -> impl Iterator<Item = (&TrieKey, Option<&[u8]>)> {
        self.writes.iter().map(|(k, v)| (k, v.as_deref()))
    }

    /// All code added, sorted by hash.
    pub fn codes(&self) -> impl Iterator<Item = (&Hash32, &[u8])> {
        self.code.iter().map(|(k, v)| (k, v.as_slice()))
    }

    /// Number of pending trie writes.
    pub fn len(&self) -> usize {
        self.writes.len()
    }

    /// True if nothing is pending.
    pub fn is_empty(&self) -> bool {
        self.writes.is_empty() && self.code.is_empty()
    }

    /// Opens a checkpoint nested inside the currently open ones.
    pub fn checkpoint(&mut self) -> Checkpoint {
        let cp = Checkpoint { depth: self.open.len(), journal_len: self.journal.len() };
        self.open.push(self.journal.len());
        cp
    }

    /// Number of open checkpoints.
    pub fn checkpoint_depth(&self) -> usize {
        self.open.len()
    }

    fn check_open(&self, cp: Checkpoint) -> Result<(), StateError> {
        match self.open.get(cp.depth) {
            Some(&len) if len == cp.journal_len => Ok(()),
            _ => Err(StateError::StaleCheckpoint(cp.depth)),
        }
    }

    /// Undoes every write made since `cp` was taken and closes `cp` and every checkpoint
    /// opened after it. Errors: [`StateError::StaleCheckpoint`] if `cp` is no longer open.
    pub fn revert_to(&mut self, cp: Checkpoint) -> Result<(), StateError> {
        self.check_open(cp)?;
        while self.journal.len() > cp.journal_len {
            match self.journal.pop() {
                Some(Undo::Write { key, prev }) => match prev {
                    Some(v) => {
                        self.writes.insert(key, v);
                    }
                    None => {
                        self.writes.remove(&key);
                    }
                },
                Some(Undo::Code { hash }) => {
                    self.code.remove(&hash);
                }
                None => break,
            }
        }
        self.open.truncate(cp.depth);
        Ok(())
    }

    /// Keeps the writes made since `cp` (they become part of the enclosing checkpoint, or
    /// final if none is open) and closes `cp` and every checkpoint opened after it.
    /// Errors: [`StateError::StaleCheckpoint`] if `cp` is no longer open.
    pub fn commit_checkpoint(&mut self, cp: Checkpoint) -> Result<(), StateError> {
        self.check_open(cp)?;
        self.open.truncate(cp.depth);
        if self.open.is_empty() {
            self.journal.clear();
        }
        Ok(())
    }
}

/// The state a block executes against: the parent state ([`StateView`]) overlaid with the
/// block's pending [`StateChanges`]. Reads see the block's own earlier writes.
pub struct WorkingState<'db> {
    view: StateView<'db>,
    changes: StateChanges,
}

impl<'db> WorkingState<'db> {
    /// Starts from `view` with no pending changes.
    pub fn new(view: StateView<'db>) -> Self {
        Self { view, changes: StateChanges::new() }
    }

    /// Starts from `view` with existing pending `changes`.
    pub fn with_changes(view: StateView<'db>, changes: StateChanges) -> Self {
        Self { view, changes }
    }

    /// The parent state this working state reads through to.
    pub fn view(&self) -> &StateView<'db> {
        &self.view
    }

    /// The pending changes.
    pub fn changes(&self) -> &StateChanges {
        &self.changes
    }

    /// Consumes the working state, returning the pending changes (to commit them).
    pub fn into_changes(self) -> StateChanges {
        self.changes
    }

    /// Raw trie read: the pending value if written, else the parent state's.
    pub fn get(&self, key: &TrieKey) -> Result<Option<Vec<u8>>, StateError> {
        match self.changes.get(key) {
            Some(v) => Ok(v.map(|v| v.to_vec())),
            None => self.view.get(key),
        }
    }

    /// The account record of `addr`, `None` if it never existed. Errors:
    /// [`StateError::Corrupt`] if the stored record does not decode.
    pub fn account_opt(&self, addr: &Address) -> Result<Option<Account>, StateError> {
        match self.get(&account_key(addr))? {
            None => Ok(None),
            Some(bytes) => decode_account(&bytes).map(Some),
        }
    }

    /// The account record of `addr`, or the default (zero balance, nonce 0, no code).
    pub fn account(&self, addr: &Address) -> Result<Account, StateError> {
        Ok(self.account_opt(addr)?.unwrap_or_default())
    }

    /// Writes the account record of `addr`.
    pub fn set_account(&mut self, addr: &Address, account: &Account) {
        self.changes.set(account_key(addr), account.encode());
    }

    /// Reads storage slot `key` of contract `addr` (`None`: absent).
    pub fn storage_read(&self, addr: &Address, key: &[u8]) -> Result<Option<Vec<u8>>, StateError> {
        self.get(&storage_key(addr, key))
    }

    /// Writes storage slot `key` of `addr`; returns whether it had a value before.
    pub fn storage_write(&mut self, addr: &Address, key: &[u8], value: Vec<u8>) -> Result<bool, StateError> {
        let k = storage_key(addr, key);
        let existed = self.get(&k)?.is_some();
        self.changes.set(k, value);
        Ok(existed)
    }

    /// Removes storage slot `key` of `addr`; returns whether it had a value.
    pub fn storage_remove(&mut self, addr: &Address, key: &[u8]) -> Result<bool, StateError> {
        let k = storage_key(addr, key);
        let existed = self.get(&k)?.is_some();
        if existed {
            self.changes.delete(k);
        }
        Ok(existed)
    }

    /// Contract code by hash, from this block's pending code or the code store.
    pub fn code(&self, hash: &Hash32) -> Result<Option<Vec<u8>>, StateError> {
        match self.changes.code(hash) {
            Some(c) => Ok(Some(c.to_vec())),
            None => self.view.code(hash),
        }
    }

    /// Adds code to the code store (committed with the block); returns its hash.
    pub fn put_code(&mut self, code: Vec<u8>) -> Hash32 {
        self.changes.put_code(code)
    }

    /// See [`StateChanges::checkpoint`].
    pub fn checkpoint(&mut self) -> Checkpoint {
        self.changes.checkpoint()
    }

    /// See [`StateChanges::revert_to`].
    pub fn revert_to(&mut self, cp: Checkpoint) -> Result<(), StateError> {
        self.changes.revert_to(cp)
    }

    /// See [`StateChanges::commit_checkpoint`].
    pub fn commit_checkpoint(&mut self, cp: Checkpoint) -> Result<(), StateError> {
        self.changes.commit_checkpoint(cp)
    }
}

/// Decodes an account record read back from storage.
pub(crate) fn decode_account(bytes: &[u8]) -> Result<Account, StateError> {
    Account::decode_all(&mut &bytes[..])
        .map_err(|e| StateError::Corrupt(format!("account record: {e}")))
}
