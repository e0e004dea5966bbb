//! Transactions: the SCALE wire format, ed25519 signatures and bounded decoding of
//! untrusted bytes.

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use parity_scale_codec::{Decode, DecodeAll, Encode};

use crate::state::{Address, Hash32};

/// Largest encoded [`SignedTransaction`] accepted, in bytes: room for the largest code
/// and the largest input plus 4 KiB of fixed fields (4 MiB + 68 KiB).
pub const MAX_TX_SIZE: usize = MAX_CODE_SIZE + MAX_INPUT_SIZE + 4096;
/// Largest contract code in a Deploy transaction, in bytes: 4 MiB, the deterministic
/// profile's default `max_module_bytes` (`keel_metering::profile::Limits`).
pub const MAX_CODE_SIZE: usize = 4 * 1024 * 1024;
/// Largest call data / constructor input, in bytes (64 KiB, `specs/abi.md` §2).
pub const MAX_INPUT_SIZE: usize = 64 * 1024;

/// Domain-separation prefix of the signed message: the signature covers
/// `SIGNING_DOMAIN ‖ SCALE(Transaction)`.
pub const SIGNING_DOMAIN: &[u8] = b"keel/tx/v1";

/// What a transaction does. SCALE enum: index byte 0 Transfer, 1 Deploy, 2 Call.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub enum TxAction {
    /// Move `amount` from the sender to `to`.
    #[codec(index = 0)]
    Transfer {
        /// Recipient.
        to: Address,
        /// Amount in the token's smallest unit.
        amount: u128,
    },
    /// Deploy a contract: validate `code`, store it, run its `deploy` export with `input`,
    /// crediting it `value`.
    #[codec(index = 1)]
    Deploy {
        /// WebAssembly module bytes (≤ [`MAX_CODE_SIZE`]).
        code: Vec<u8>,
        /// Constructor call data (≤ [`MAX_INPUT_SIZE`]).
        input: Vec<u8>,
        /// Value credited to the new contract.
        value: u128,
    },
    /// Call `contract`'s `call` export with `input`, crediting it `value`.
    #[codec(index = 2)]
    Call {
        /// Contract address.
        contract: Address,
        /// Call data (≤ [`MAX_INPUT_SIZE`]).
        input: Vec<u8>,
        /// Value credited to the contract.
        value: u128,
    },
}

impl TxAction {
    /// The value the sender pays besides the fee.
    pub fn value(&self) -> u128 {
        match self {
            TxAction::Transfer { amount, .. } => *amount,
            TxAction::Deploy { value, .. } | TxAction::Call { value, .. } => *value,
        }
    }
}

/// An unsigned transaction. SCALE: fields in this order.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct Transaction {
    /// Chain the transaction is valid on (replay protection across chains).
    pub chain_id: u64,
    /// Sender address = the sender's ed25519 public key.
    pub sender: Address,
    /// Must equal the sender account's nonce.
    pub nonce: u64,
    /// Most gas the transaction may use.
    pub gas_limit: u64,
    /// Price per gas unit, in the token's smallest unit.
    pub gas_price: u64,
    /// What the transaction does.
    pub action: TxAction,
}

impl Transaction {
    /// The exact bytes the sender signs: `SIGNING_DOMAIN ‖ SCALE(self)`.
    pub fn signing_message(&self) -> Vec<u8> {
        let mut m = SIGNING_DOMAIN.to_vec();
        self.encode_to(&mut m);
        m
    }

    /// Signs with `key`. The sender must be `key`'s public key (not checked here; a
    /// mismatch fails [`SignedTransaction::verify_signature`]).
    pub fn sign(self, key: &SigningKey) -> SignedTransaction {
        let signature = key.sign(&self.signing_message()).to_bytes();
        SignedTransaction { tx: self, signature }
    }

    /// Most the sender can be charged: `gas_limit × gas_price + value`, `None` on u128
    /// overflow.
    pub fn max_cost(&self) -> Option<u128> {
        (self.gas_limit as u128).checked_mul(self.gas_price as u128)?.checked_add(self.action.value())
    }
}

/// A transaction with the sender's ed25519 signature. SCALE: `tx` then the 64 signature
/// bytes.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct SignedTransaction {
    /// The signed payload.
    pub tx: Transaction,
    /// Ed25519 signature of [`Transaction::signing_message`].
    pub signature: [u8; 64],
}

/// Why transaction bytes were rejected before any state was read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// More than [`MAX_TX_SIZE`] bytes.
    #[error("transaction is {size} bytes, the limit is {max}")]
    TooLarge {
        /// Size given.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// The bytes are not a SCALE-encoded signed transaction (truncated, unknown action,
    /// trailing bytes...).
    #[error("malformed transaction: {0}")]
    Malformed(String),
    /// Deploy code longer than [`MAX_CODE_SIZE`].
    #[error("code is {size} bytes, the limit is {max}")]
    CodeTooLarge {
        /// Size given.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// Call data longer than [`MAX_INPUT_SIZE`].
    #[error("input is {size} bytes, the limit is {max}")]
    InputTooLarge {
        /// Size given.
        size: usize,
        /// The limit.
        max: usize,
    },
}

impl SignedTransaction {
    /// SCALE encoding (the wire format).
    pub fn to_bytes(&self) -> Vec<u8> {
        self.encode()
    }

    /// Decodes untrusted bytes, enforcing [`MAX_TX_SIZE`], [`MAX_CODE_SIZE`] and
    /// [`MAX_INPUT_SIZE`], and rejecting trailing bytes. Does not check the signature.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, DecodeError> {
        if bytes.len() > MAX_TX_SIZE {
            return Err(DecodeError::TooLarge { size: bytes.len(), max: MAX_TX_SIZE });
        }
        // SCALE's Vec<u8> decoding checks the length prefix against the remaining input
        // before allocating, so a hostile prefix cannot cause a large allocation.
        let stx = SignedTransaction::decode_all(&mut &bytes[..])
            .map_err(|e| DecodeError::Malformed(e.to_string()))?;
        stx.check_limits()?;
        Ok(stx)
    }

    /// Checks the field size limits.
    pub fn check_limits(&self) -> Result<(), DecodeError> {
        let (code, input) = match &self.tx.action {
            TxAction::Transfer { .. } => (0, 0),
            TxAction::Deploy { code, input, .. } => (code.len(), input.len()),
            TxAction::Call { input, .. } => (0, input.len()),
        };
        if code > MAX_CODE_SIZE {
            return Err(DecodeError::CodeTooLarge { size: code, max: MAX_CODE_SIZE });
        }
        if input > MAX_INPUT_SIZE {
            return Err(DecodeError::InputTooLarge { size: input, max: MAX_INPUT_SIZE });
        }
        Ok(())
    }

    /// Verifies the signature with `ed25519_dalek::VerifyingKey::verify_strict` against
    /// the sender's public key. Returns `false` for a malformed key or signature.
    pub fn verify_signature(&self) -> bool {
        let Ok(key) = VerifyingKey::from_bytes(&self.tx.sender.0) else {
            return false;
        };
        let sig = Signature::from_bytes(&self.signature);
        key.verify_strict(&self.tx.signing_message(), &sig).is_ok()
    }

    /// Transaction hash: BLAKE3 of the SCALE encoding of the signed transaction.
    pub fn hash(&self) -> Hash32 {
        *blake3::hash(&self.encode()).as_bytes()
    }
}

/// The address of an ed25519 key: its 32-byte public key.
pub fn address_of(key: &VerifyingKey) -> Address {
    Address(key.to_bytes())
}
