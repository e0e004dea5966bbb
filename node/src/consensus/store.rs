//! The consensus side store: block signatures and the transaction index, in a RocksDB
//! beside the state database. The state database keeps blocks and receipts; this store
//! keeps what consensus and RPC add to them. Written before the block's state commit, so
//! a crash leaves at most an unused record, never a committed block without its seal.

use std::path::Path;

use rocksdb::{WriteBatch, DB};

use crate::state::Hash32;

/// Why the side store failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// RocksDB failed.
    #[error("consensus store: {0}")]
    Db(#[from] rocksdb::Error),
    /// A record has the wrong length.
    #[error("consensus store: corrupt record: {0}")]
    Corrupt(&'static str),
}

/// Block signatures by header hash, and `(height, index)` by transaction hash.
pub struct ConsensusStore {
    db: DB,
}

fn key(prefix: &[u8], hash: &Hash32) -> Vec<u8> {
    let mut k = prefix.to_vec();
    k.extend_from_slice(hash);
    k
}

impl ConsensusStore {
    /// Opens (creating if needed) the store at `path`.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let mut opts = rocksdb::Options::default();
        opts.create_if_missing(true);
        Ok(Self { db: DB::open(&opts, path)? })
    }

    /// Records a block's signature and the position of each of its transactions
    /// (`tx_hashes` in block order), in one write.
    pub fn put_block(&self, header_hash: &Hash32, signature: &[u8; 64], height: u64, tx_hashes: &[Hash32]) -> Result<(), StoreError> {
        let mut batch = WriteBatch::default();
        batch.put(key(b"seal", header_hash), signature);
        for (i, h) in tx_hashes.iter().enumerate() {
            let mut v = height.to_be_bytes().to_vec();
            v.extend_from_slice(&(i as u32).to_be_bytes());
            batch.put(key(b"tx", h), v);
        }
        Ok(self.db.write(batch)?)
    }

    /// Removes the index records of reverted transactions: `(hash, height)` pairs, each
    /// removed only if it still names that height (one write). Signatures are kept: they
    /// are keyed by header hash and stay true of their blocks.
    pub fn remove_txs(&self, records: &[(Hash32, u64)]) -> Result<(), StoreError> {
        let mut batch = WriteBatch::default();
        for (hash, height) in records {
            if self.tx_position(hash)?.is_some_and(|(h, _)| h == *height) {
                batch.delete(key(b"tx", hash));
            }
        }
        Ok(self.db.write(batch)?)
    }

    /// The signature of the block with header hash `header_hash`, if recorded.
    pub fn seal(&self, header_hash: &Hash32) -> Result<Option<[u8; 64]>, StoreError> {
        match self.db.get_pinned(key(b"seal", header_hash))? {
            None => Ok(None),
            Some(v) => <[u8; 64]>::try_from(&v[..]).map(Some).map_err(|_| StoreError::Corrupt("seal")),
        }
    }

    /// `(height, index in block)` of the transaction with hash `tx_hash`, if indexed.
    pub fn tx_position(&self, tx_hash: &Hash32) -> Result<Option<(u64, u32)>, StoreError> {
        match self.db.get_pinned(key(b"tx", tx_hash))? {
            None => Ok(None),
            Some(v) if v.len() == 12 => {
                let mut h = [0u8; 8];
                h.copy_from_slice(&v[..8]);
                let mut i = [0u8; 4];
                i.copy_from_slice(&v[8..]);
                Ok(Some((u64::from_be_bytes(h), u32::from_be_bytes(i))))
            }
            Some(_) => Err(StoreError::Corrupt("transaction index")),
        }
    }
}
