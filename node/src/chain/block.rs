//! Block headers and the binary Merkle root over transactions and receipts.

use parity_scale_codec::{Decode, Encode};

use crate::state::{Address, Hash32};

/// Domain prefix of [`BlockHeader::hash`].
pub const HEADER_DOMAIN: &[u8] = b"keel/header/v1";

/// A block header. SCALE: fields in this order.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct BlockHeader {
    /// Chain id (the one transactions must carry).
    pub chain_id: u64,
    /// Height (genesis = 0).
    pub height: u64,
    /// Hash of the parent header (all zeros for genesis).
    pub parent_hash: Hash32,
    /// Milliseconds since the Unix epoch.
    pub timestamp_ms: u64,
    /// Address of the proposer; it receives the block's fees.
    pub proposer: Address,
    /// State root after the block.
    pub state_root: Hash32,
    /// [`merkle_root`] of the SCALE-encoded signed transactions.
    pub transactions_root: Hash32,
    /// [`merkle_root`] of the SCALE-encoded receipts.
    pub receipts_root: Hash32,
    /// `CostTable::hash()` of the cost table used for gas.
    pub cost_table_hash: Hash32,
}

impl BlockHeader {
    /// Header hash: `blake3(HEADER_DOMAIN ‖ SCALE(header))`.
    pub fn hash(&self) -> Hash32 {
        let mut h = blake3::Hasher::new();
        h.update(HEADER_DOMAIN);
        h.update(&self.encode());
        *h.finalize().as_bytes()
    }
}

/// A block: header and transactions, SCALE-encoded in this order. Receipts are stored
/// alongside by [`crate::chain::execute_block`] (see `specs/state.md`).
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct Block {
    /// The header.
    pub header: BlockHeader,
    /// The transactions, in execution order.
    pub transactions: Vec<crate::chain::SignedTransaction>,
}

/// Largest encoded [`Block`] accepted by [`Block::from_bytes`], in bytes (16 MiB).
pub const MAX_BLOCK_SIZE: usize = 16 * 1024 * 1024;

impl Block {
    /// SCALE encoding (the wire format).
    pub fn to_bytes(&self) -> Vec<u8> {
        self.encode()
    }

    /// Decodes an untrusted block: at most [`MAX_BLOCK_SIZE`] bytes, no trailing bytes,
    /// every transaction within its size limits. Does not check signatures or execute.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, crate::chain::DecodeError> {
        use crate::chain::DecodeError;
        use parity_scale_codec::DecodeAll;
        if bytes.len() > MAX_BLOCK_SIZE {
            return Err(DecodeError::TooLarge { size: bytes.len(), max: MAX_BLOCK_SIZE });
        }
        let block = Block::decode_all(&mut &bytes[..]).map_err(|e| DecodeError::Malformed(e.to_string()))?;
        for tx in &block.transactions {
            tx.check_limits()?;
        }
        Ok(block)
    }

    /// [`merkle_root`] of this block's transactions (what `transactions_root` must be).
    pub fn compute_transactions_root(&self) -> Hash32 {
        let enc: Vec<Vec<u8>> = self.transactions.iter().map(|t| t.encode()).collect();
        merkle_root(&enc)
    }
}

/// Binary Merkle root (RFC 6962 shape, BLAKE3) over `items`, each already encoded:
///
/// - empty list: `blake3("")`;
/// - leaf: `blake3(0x00 ‖ item)`;
/// - list of n > 1 items: split at k = the largest power of two < n, then
///   `blake3(0x01 ‖ root(items[..k]) ‖ root(items[k..]))`.
///
/// Prefixes 0x00/0x01 keep a leaf from passing for an inner node.
pub fn merkle_root<T: AsRef<[u8]>>(items: &[T]) -> Hash32 {
    if items.is_empty() {
        return *blake3::hash(b"").as_bytes();
    }
    let leaves: Vec<Hash32> = items
        .iter()
        .map(|it| {
            let mut h = blake3::Hasher::new();
            h.update(&[0]);
            h.update(it.as_ref());
            *h.finalize().as_bytes()
        })
        .collect();
    subtree(&leaves)
}

fn subtree(leaves: &[Hash32]) -> Hash32 {
    if leaves.len() == 1 {
        return leaves[0];
    }
    let k = leaves.len().next_power_of_two() / 2;
    let mut h = blake3::Hasher::new();
    h.update(&[1]);
    h.update(&subtree(&leaves[..k]));
    h.update(&subtree(&leaves[k..]));
    *h.finalize().as_bytes()
}
