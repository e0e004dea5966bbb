//! Keel's state: RocksDB storage, the authenticated trie, accounts, contract storage, the
//! code store and the compiled-artifact cache.
//!
//! - [`StateDb`] owns the database. [`StateDb::view`] gives a read-only [`StateView`] of
//!   any committed height; [`StateDb::commit_block`] writes one block's [`StateChanges`]
//!   and block bytes in one atomic RocksDB `WriteBatch` and returns the new state root.
//! - [`WorkingState`] is what a block's execution reads and writes: a [`StateView`] of the
//!   parent state plus the block's [`StateChanges`], with nested checkpoints
//!   ([`WorkingState::checkpoint`], [`WorkingState::revert_to`],
//!   [`WorkingState::commit_checkpoint`]) for failing transactions and calls.
//! - [`verify_proof`] checks a membership / non-membership proof with no database.
//!
//! The layout on disk and in the trie is specified in `specs/state.md`.
//!
//! ```
//! use keel_node::state::{verify_account_proof, Account, Address, StateDb};
//!
//! let dir = tempfile::tempdir().unwrap();
//! let db = StateDb::open(dir.path()).unwrap();
//! let alice = Address([1; 32]);
//!
//! // Execute block 0: write through a WorkingState, with a checkpoint per transaction.
//! let mut state = db.working().unwrap();
//! let cp = state.checkpoint();
//! state.set_account(&alice, &Account { balance: 100, nonce: 0, code_hash: None });
//! state.commit_checkpoint(cp).unwrap();
//! let failed = state.checkpoint();
//! state.storage_write(&alice, b"key", b"value".to_vec()).unwrap();
//! state.revert_to(failed).unwrap(); // this write is gone
//! let root = db.commit_block(0, state.changes(), b"block 0 bytes").unwrap();
//!
//! // Read it back, and prove it to a light client that only knows `root`.
//! let view = db.view(0).unwrap();
//! assert_eq!(view.account(&alice).unwrap().balance, 100);
//! assert_eq!(view.storage(&alice, b"key").unwrap(), None);
//! let (account, proof) = view.prove_account(&alice).unwrap();
//! let proof_bytes = proof.to_bytes(); // sent over the wire
//! let proof = keel_node::state::StateProof::from_bytes(&proof_bytes).unwrap();
//! verify_account_proof(&root, &alice, account.as_ref(), &proof).unwrap();
//! ```

mod changes;
mod db;
mod trie;

pub use trie::verify_account_proof;
pub use changes::{Checkpoint, StateChanges, WorkingState};
pub use db::{
    ArtifactKey, CommittedHead, PreparedBlock, StateDb, StateDbOptions, StateView, CF_ARTIFACTS,
    CF_BLOCKS, CF_CODE, CF_META, CF_STALE, CF_TRIE_NODES, CF_TRIE_VALUES, CF_UNDO,
};
pub use trie::{
    account_key, storage_key, verify_proof, verify_proof_bytes, Blake3Hasher, ProofError,
    StateProof, TrieKey, ACCOUNT_KEY_CONTEXT, EMPTY_ROOT, MAX_PROOF_BYTES, STORAGE_KEY_CONTEXT,
};

use parity_scale_codec::{Decode, Encode};

/// A 32-byte address of an account or contract. For an externally owned account it is the
/// account's ed25519 public key.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Encode, Decode)]
pub struct Address(pub [u8; 32]);

impl std::fmt::Debug for Address {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Address(")?;
        for b in &self.0[..8] {
            write!(f, "{b:02x}")?;
        }
        write!(f, "..)")
    }
}

/// A 32-byte BLAKE3 hash.
pub type Hash32 = [u8; 32];

/// BLAKE3 hash of contract code (the code store's key and [`Account::code_hash`]).
pub fn code_hash(code: &[u8]) -> Hash32 {
    *blake3::hash(code).as_bytes()
}

/// BLAKE3 `derive_key` context of [`contract_address`].
pub const CONTRACT_ADDRESS_CONTEXT: &str = "keel state v1 contract address";

/// Address of the contract deployed by `deployer`'s transaction with nonce `nonce`:
/// `blake3::derive_key(CONTRACT_ADDRESS_CONTEXT, deployer ‖ nonce as u64 LE)`. Unique per
/// (deployer, nonce), and never an ed25519 key anyone holds the secret of.
pub fn contract_address(deployer: &Address, nonce: u64) -> Address {
    let mut h = blake3::Hasher::new_derive_key(CONTRACT_ADDRESS_CONTEXT);
    h.update(&deployer.0);
    h.update(&nonce.to_le_bytes());
    Address(*h.finalize().as_bytes())
}

/// An account record, stored SCALE-encoded in the trie under [`account_key`].
///
/// Encoding: `balance` (u128 LE, 16 bytes) ‖ `nonce` (u64 LE) ‖ `code_hash`
/// (`Option<[u8; 32]>`: `0x00`, or `0x01` then 32 bytes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Encode, Decode)]
pub struct Account {
    /// Balance of the native token, in its smallest unit.
    pub balance: u128,
    /// Number of transactions this account has sent (the next valid nonce).
    pub nonce: u64,
    /// BLAKE3 hash of the contract code, `None` for an externally owned account.
    pub code_hash: Option<Hash32>,
}

/// Errors of the state layer.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// RocksDB failed (I/O, corruption detected by RocksDB, lock held by another process...).
    #[error("database error: {0}")]
    Db(#[from] rocksdb::Error),
    /// Bytes read back from the database do not decode; the database is corrupt.
    #[error("corrupt database: {0}")]
    Corrupt(String),
    /// The trie library reported an error (e.g. a missing node: corrupt or pruned).
    #[error("trie error: {0}")]
    Trie(String),
    /// The requested height is not committed (or was pruned).
    #[error("height {0} is not available")]
    UnknownHeight(u64),
    /// `commit_block` was given a height other than the next one.
    #[error("expected block height {expected}, got {got}")]
    WrongHeight {
        /// The next height the database accepts.
        expected: u64,
        /// The height that was given.
        got: u64,
    },
    /// `commit_prepared` found another state at the parent height than the one the block
    /// was prepared on (the head was rolled back and replaced in between).
    #[error("block {height} was prepared on a state that is no longer the head")]
    ParentChanged {
        /// The prepared block's height.
        height: u64,
    },
    /// `rollback_to` cannot remove `height`: it has no undo record (committed by an older
    /// version of Keel, or pruned with `keep_heights`).
    #[error("height {height} cannot be rolled back (no undo record)")]
    RollbackUnavailable {
        /// The first height that cannot be removed.
        height: u64,
    },
    /// A checkpoint that is no longer open was passed to `revert_to`/`commit_checkpoint`.
    #[error("checkpoint {0} is not open")]
    StaleCheckpoint(usize),
}
