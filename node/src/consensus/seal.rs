//! Signed blocks: the block as it travels between validators (gossip and sync), with its
//! proposer's ed25519 signature over the header hash (`specs/protocol.md` §2).

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use parity_scale_codec::{Decode, DecodeAll, Encode};

use crate::chain::{Block, DecodeError, MAX_BLOCK_SIZE};
use crate::state::Hash32;

/// Domain prefix of the block signature: the proposer signs `BLOCK_SIGNING_DOMAIN ‖
/// header hash` (32 bytes).
pub const BLOCK_SIGNING_DOMAIN: &[u8] = b"keel/block/v1";

/// Largest encoded [`SignedBlock`], in bytes: a maximal block plus the signature.
pub const MAX_SIGNED_BLOCK_SIZE: usize = MAX_BLOCK_SIZE + 64;

/// A block and its proposer's signature. SCALE: `block` then the 64 signature bytes.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct SignedBlock {
    /// The block (header and transactions).
    pub block: Block,
    /// Ed25519 signature by `block.header.proposer` of [`signing_message`].
    pub signature: [u8; 64],
}

/// The bytes a proposer signs for a header with hash `header_hash`.
pub fn signing_message(header_hash: &Hash32) -> Vec<u8> {
    let mut m = BLOCK_SIGNING_DOMAIN.to_vec();
    m.extend_from_slice(header_hash);
    m
}

impl SignedBlock {
    /// Signs `block` with the proposer's key (which must be `block.header.proposer`'s).
    pub fn sign(block: Block, key: &SigningKey) -> Self {
        let signature = key.sign(&signing_message(&block.header.hash())).to_bytes();
        Self { block, signature }
    }

    /// SCALE encoding (the gossip and sync wire format).
    pub fn to_bytes(&self) -> Vec<u8> {
        self.encode()
    }

    /// Decodes untrusted bytes: at most [`MAX_SIGNED_BLOCK_SIZE`], no trailing bytes, every
    /// transaction within its limits. Checks no signature.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, DecodeError> {
        if bytes.len() > MAX_SIGNED_BLOCK_SIZE {
            return Err(DecodeError::TooLarge { size: bytes.len(), max: MAX_SIGNED_BLOCK_SIZE });
        }
        let sb = SignedBlock::decode_all(&mut &bytes[..]).map_err(|e| DecodeError::Malformed(e.to_string()))?;
        for tx in &sb.block.transactions {
            tx.check_limits()?;
        }
        Ok(sb)
    }

    /// Whether the signature verifies (`verify_strict`) against the header's proposer.
    pub fn verify_signature(&self) -> bool {
        let Ok(key) = VerifyingKey::from_bytes(&self.block.header.proposer.0) else {
            return false;
        };
        key.verify_strict(&signing_message(&self.block.header.hash()), &Signature::from_bytes(&self.signature))
            .is_ok()
    }
}
