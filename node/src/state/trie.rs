//! The authenticated key-value trie: a Jellyfish Merkle Tree (crate `jmt`) hashed with
//! BLAKE3, the state-key layout, and standalone proof verification for light clients.
//!
//! Key layout (see `specs/state.md`): every trie key is a 32-byte [`TrieKey`], the BLAKE3
//! `derive_key` hash of the logical key under a per-kind context string, so account records
//! and storage slots can never collide and the trie stays balanced whatever keys contracts
//! choose.

use jmt::proof::SparseMerkleProof;
use jmt::{KeyHash, RootHash, SimpleHasher};
use parity_scale_codec::{Decode, Encode};

use crate::state::Address;

/// BLAKE3 (default, unkeyed mode) as the trie's [`SimpleHasher`]: node hashes, value hashes
/// and the state root are all BLAKE3 digests.
#[derive(Clone)]
pub struct Blake3Hasher(blake3::Hasher);

impl SimpleHasher for Blake3Hasher {
    fn new() -> Self {
        Blake3Hasher(blake3::Hasher::new())
    }
    fn update(&mut self, data: &[u8]) {
        self.0.update(data);
    }
    fn finalize(self) -> [u8; 32] {
        *self.0.finalize().as_bytes()
    }
}

/// The trie type used by Keel.
pub(crate) type KeelJmt<'a, R> = jmt::JellyfishMerkleTree<'a, R, Blake3Hasher>;

/// Root hash of the empty trie (jmt's placeholder: the ASCII bytes
/// `"SPARSE_MERKLE_PLACEHOLDER_HASH__"`).
pub const EMPTY_ROOT: [u8; 32] = *b"SPARSE_MERKLE_PLACEHOLDER_HASH__";

/// BLAKE3 `derive_key` context for account records.
pub const ACCOUNT_KEY_CONTEXT: &str = "keel state v1 account";
/// BLAKE3 `derive_key` context for contract storage slots.
pub const STORAGE_KEY_CONTEXT: &str = "keel state v1 storage";

/// A 32-byte key of the authenticated trie (already hashed; see [`account_key`] and
/// [`storage_key`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Encode, Decode)]
pub struct TrieKey(pub [u8; 32]);

impl TrieKey {
    pub(crate) fn key_hash(self) -> KeyHash {
        KeyHash(self.0)
    }
}

/// Trie key of the account record of `addr`:
/// `blake3::derive_key(ACCOUNT_KEY_CONTEXT, addr)`.
pub fn account_key(addr: &Address) -> TrieKey {
    let mut h = blake3::Hasher::new_derive_key(ACCOUNT_KEY_CONTEXT);
    h.update(&addr.0);
    TrieKey(*h.finalize().as_bytes())
}

/// Trie key of storage slot `key` (0..=1024 bytes, any content) of contract `addr`:
/// `blake3::derive_key(STORAGE_KEY_CONTEXT, addr ‖ key)`. The address has a fixed length of
/// 32 bytes, so the concatenation is unambiguous.
pub fn storage_key(addr: &Address, key: &[u8]) -> TrieKey {
    let mut h = blake3::Hasher::new_derive_key(STORAGE_KEY_CONTEXT);
    h.update(&addr.0);
    h.update(key);
    TrieKey(*h.finalize().as_bytes())
}

/// Upper bound on the byte length of an encoded [`StateProof`] accepted by
/// [`StateProof::from_bytes`] (a proof has at most 256 siblings of ~33 bytes plus a leaf).
pub const MAX_PROOF_BYTES: usize = 16 * 1024;

/// A Merkle proof of membership (the key has this value) or non-membership (the key is
/// absent) against a state root.
///
/// Wire format: the Borsh encoding of jmt's `SparseMerkleProof` (an optional leaf
/// `(key hash, value hash)`, then the siblings from the bottom level up), see
/// `specs/state.md`.
#[derive(Debug, PartialEq)]
pub struct StateProof(pub(crate) SparseMerkleProof<Blake3Hasher>);

impl Clone for StateProof {
    fn clone(&self) -> Self {
        // SparseMerkleProof<H> only derives Clone when H: Clone; go through bytes to stay
        // independent of that bound.
        StateProof(
            borsh::from_slice(&self.to_bytes()).expect("re-decoding a proof we encoded"),
        )
    }
}

impl StateProof {
    /// Encodes the proof for transport (Borsh, at most [`MAX_PROOF_BYTES`] bytes).
    pub fn to_bytes(&self) -> Vec<u8> {
        borsh::to_vec(&self.0).expect("serializing to a Vec cannot fail")
    }

    /// Decodes an untrusted proof. Errors: [`ProofError::Malformed`] if the bytes are longer
    /// than [`MAX_PROOF_BYTES`], truncated, have trailing bytes, or do not decode.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, ProofError> {
        if bytes.len() > MAX_PROOF_BYTES {
            return Err(ProofError::Malformed(format!(
                "proof is {} bytes, the limit is {MAX_PROOF_BYTES}",
                bytes.len()
            )));
        }
        borsh::from_slice::<SparseMerkleProof<Blake3Hasher>>(bytes)
            .map(StateProof)
            .map_err(|e| ProofError::Malformed(e.to_string()))
    }
}

/// Why a proof was rejected.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ProofError {
    /// The proof bytes do not decode.
    #[error("malformed proof: {0}")]
    Malformed(String),
    /// The proof does not show the claimed (key, value) / absence under the given root.
    #[error("proof does not verify: {0}")]
    Invalid(String),
}

/// Verifies, without any database, that under state root `root` the trie key `key` holds
/// `value` (`Some`) or is absent (`None`).
///
/// This is the function a light client runs: `root` comes from a trusted block header,
/// `proof` from an untrusted server. Errors: [`ProofError::Invalid`] if the proof does not
/// show exactly that.
pub fn verify_proof(
    root: &[u8; 32],
    key: &TrieKey,
    value: Option<&[u8]>,
    proof: &StateProof,
) -> Result<(), ProofError> {
    // jmt's verifier is written for trusted-structure proofs; guard against a panic on
    // hostile input so that a bad proof is always an error, never a crash.
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        proof.0.verify(RootHash(*root), key.key_hash(), value)
    }));
    match result {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(ProofError::Invalid(e.to_string())),
        Err(_) => Err(ProofError::Invalid("proof verification panicked".into())),
    }
}

/// [`verify_proof`] on an encoded proof (see [`StateProof::from_bytes`]).
pub fn verify_proof_bytes(
    root: &[u8; 32],
    key: &TrieKey,
    value: Option<&[u8]>,
    proof: &[u8],
) -> Result<(), ProofError> {
    verify_proof(root, key, value, &StateProof::from_bytes(proof)?)
}

/// [`verify_proof`] for an account record: checks that under `root` the account of `addr`
/// is `account` (SCALE-encoded as stored), or absent if `None`.
pub fn verify_account_proof(
    root: &[u8; 32],
    addr: &Address,
    account: Option<&crate::state::Account>,
    proof: &StateProof,
) -> Result<(), ProofError> {
    let value = account.map(Encode::encode);
    verify_proof(root, &account_key(addr), value.as_deref(), proof)
}
