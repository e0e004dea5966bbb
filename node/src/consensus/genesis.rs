//! The genesis file: chain id, genesis time, slot duration, validator set and initial
//! balances (`specs/protocol.md` §1).

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::chain::{commit_genesis, BlockContext, BlockHeader, StoredBlock};
use crate::state::{Address, StateDb};

/// Why a genesis file was rejected.
#[derive(Debug, thiserror::Error)]
pub enum GenesisError {
    /// The file could not be read.
    #[error("cannot read genesis file {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The TOML does not parse into a genesis.
    #[error("genesis file: {0}")]
    Toml(#[from] toml::de::Error),
    /// A field has an invalid value.
    #[error("genesis file: {0}")]
    Invalid(String),
    /// The database holds another chain's genesis.
    #[error("the database holds another genesis: {0}")]
    Mismatch(String),
    /// Writing the genesis block failed.
    #[error(transparent)]
    Block(#[from] crate::chain::BlockError),
    /// Reading the database failed.
    #[error(transparent)]
    State(#[from] crate::state::StateError),
}

/// An initial balance. TOML: `{ address = "<64 hex digits>", balance = "1000000" }`
/// (balance as a decimal string: TOML integers stop at 2^63).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenesisBalance {
    /// Account address, 64 hex digits (optionally `0x`-prefixed).
    pub address: String,
    /// Balance in the token's smallest unit, decimal.
    pub balance: String,
}

/// The genesis file (TOML). Every node of a chain must load the same one.
///
/// ```toml
/// chain_id = 7
/// genesis_time_ms = 1700000000000
/// slot_ms = 500
/// validators = ["<64 hex digits: ed25519 public key>", "..."]
/// balances = [{ address = "<64 hex>", balance = "1000000000" }]
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Genesis {
    /// Chain id; transactions and blocks carry it.
    pub chain_id: u64,
    /// Start of slot 0 (the genesis block's timestamp), milliseconds since the Unix epoch.
    pub genesis_time_ms: u64,
    /// Slot duration in milliseconds (> 0).
    pub slot_ms: u64,
    /// The validator set: ed25519 public keys (= addresses), 64 hex digits each. The
    /// leader of slot `s` is `validators[s mod len]`.
    pub validators: Vec<String>,
    /// Initial balances.
    #[serde(default)]
    pub balances: Vec<GenesisBalance>,
}

/// Parses 64 hex digits (optionally `0x`-prefixed) into 32 bytes.
pub fn parse_hex32(s: &str) -> Result<[u8; 32], String> {
    let s = s.strip_prefix("0x").unwrap_or(s);
    let bytes = hex::decode(s).map_err(|e| format!("`{s}` is not hex: {e}"))?;
    <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| format!("`{s}` is {} bytes, expected 32", bytes.len()))
}

/// A checked genesis: parsed keys and balances, ready for slot arithmetic.
#[derive(Clone, Debug)]
pub struct ChainSpec {
    /// The file as loaded.
    pub genesis: Genesis,
    /// The validator set, in leader order.
    pub validators: Vec<Address>,
    /// The initial balances, in file order.
    pub balances: Vec<(Address, u128)>,
    /// `CostTable::hash()` of the cost table blocks are executed with.
    pub cost_table_hash: [u8; 32],
}

impl ChainSpec {
    /// Reads and checks a genesis TOML file.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, GenesisError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path)
            .map_err(|source| GenesisError::Io { path: path.display().to_string(), source })?;
        Self::from_toml(&text)
    }

    /// Parses and checks a genesis TOML text. Errors: [`GenesisError::Toml`] (syntax,
    /// unknown field), [`GenesisError::Invalid`] (no validators, slot of 0 ms, a key that
    /// is not 32 hex bytes or not an ed25519 point, a balance that is not a u128).
    pub fn from_toml(text: &str) -> Result<Self, GenesisError> {
        Self::new(toml::from_str(text)?)
    }

    /// Checks a genesis (see [`from_toml`](Self::from_toml) for the errors).
    pub fn new(genesis: Genesis) -> Result<Self, GenesisError> {
        if genesis.slot_ms == 0 {
            return Err(GenesisError::Invalid("slot_ms must be > 0".into()));
        }
        if genesis.validators.is_empty() {
            return Err(GenesisError::Invalid("the validator set is empty".into()));
        }
        let mut validators = Vec::with_capacity(genesis.validators.len());
        for v in &genesis.validators {
            let key = parse_hex32(v).map_err(|e| GenesisError::Invalid(format!("validator: {e}")))?;
            ed25519_dalek::VerifyingKey::from_bytes(&key)
                .map_err(|_| GenesisError::Invalid(format!("validator {v} is not an ed25519 public key")))?;
            validators.push(Address(key));
        }
        let mut balances = Vec::with_capacity(genesis.balances.len());
        for b in &genesis.balances {
            let addr = parse_hex32(&b.address).map_err(|e| GenesisError::Invalid(format!("balance address: {e}")))?;
            let amount: u128 = b
                .balance
                .parse()
                .map_err(|_| GenesisError::Invalid(format!("balance `{}` is not a u128", b.balance)))?;
            balances.push((Address(addr), amount));
        }
        Ok(Self { genesis, validators, balances, cost_table_hash: keel_metering::CostTable::default().hash() })
    }

    /// The TOML text of this genesis.
    pub fn to_toml(&self) -> String {
        // Serializing a struct of strings and integers cannot fail.
        toml::to_string(&self.genesis).unwrap_or_default()
    }

    /// Chain id.
    pub fn chain_id(&self) -> u64 {
        self.genesis.chain_id
    }

    /// Slot duration in milliseconds.
    pub fn slot_ms(&self) -> u64 {
        self.genesis.slot_ms
    }

    /// The leader of slot `slot`: `validators[slot mod len]`.
    pub fn leader(&self, slot: u64) -> Address {
        self.validators[(slot % self.validators.len() as u64) as usize]
    }

    /// Start of slot `slot` in ms since the epoch (saturating).
    pub fn slot_start_ms(&self, slot: u64) -> u64 {
        self.genesis.genesis_time_ms.saturating_add(slot.saturating_mul(self.genesis.slot_ms))
    }

    /// The slot a block timestamp names: `Some(s)` iff `timestamp_ms` is exactly the start
    /// of slot `s` (blocks carry their slot's start time).
    pub fn slot_of_timestamp(&self, timestamp_ms: u64) -> Option<u64> {
        let since = timestamp_ms.checked_sub(self.genesis.genesis_time_ms)?;
        (since % self.genesis.slot_ms == 0).then_some(since / self.genesis.slot_ms)
    }

    /// The slot that wall-clock time `now_ms` falls in (0 before genesis).
    pub fn slot_at(&self, now_ms: u64) -> u64 {
        now_ms.saturating_sub(self.genesis.genesis_time_ms) / self.genesis.slot_ms
    }

    /// The execution context of block `height` proposed in `slot` by `proposer`.
    pub fn context(&self, height: u64, slot: u64, proposer: Address) -> BlockContext {
        BlockContext {
            chain_id: self.genesis.chain_id,
            height,
            timestamp_ms: self.slot_start_ms(slot),
            proposer,
            cost_table_hash: self.cost_table_hash,
        }
    }

    /// The genesis context: height 0, slot 0, proposer all zeros.
    pub fn genesis_context(&self) -> BlockContext {
        self.context(0, 0, Address([0; 32]))
    }

    /// Writes the genesis block into a fresh database, or checks that the database's
    /// block 0 is this genesis (chain id, time, cost table and the state root of the
    /// initial balances). Returns the genesis header.
    pub fn init_db(&self, db: &StateDb) -> Result<BlockHeader, GenesisError> {
        if db.head()?.is_none() {
            let stored = commit_genesis(db, &self.genesis_context(), &self.balances)?;
            return Ok(stored.block.header);
        }
        let bytes = db.block(0)?.ok_or_else(|| GenesisError::Mismatch("block 0 is missing".into()))?;
        let stored = StoredBlock::from_bytes(&bytes)?;
        let h = &stored.block.header;
        let ctx = self.genesis_context();
        if h.chain_id != ctx.chain_id || h.timestamp_ms != ctx.timestamp_ms || h.cost_table_hash != ctx.cost_table_hash {
            return Err(GenesisError::Mismatch(format!(
                "stored genesis has chain id {} and time {} ms, the genesis file {} and {} ms (or another cost table)",
                h.chain_id, h.timestamp_ms, ctx.chain_id, ctx.timestamp_ms
            )));
        }
        let expected = self.genesis_state_root()?;
        if expected != h.state_root {
            return Err(GenesisError::Mismatch("the initial balances give another state root".into()));
        }
        Ok(stored.block.header.clone())
    }

    /// The state root of the initial balances (computed in a scratch database).
    pub fn genesis_state_root(&self) -> Result<[u8; 32], GenesisError> {
        let dir = tempfile::tempdir().map_err(|e| GenesisError::Io { path: "temporary directory".into(), source: e })?;
        let scratch = StateDb::open_with(dir.path(), crate::state::StateDbOptions { sync_commits: false, keep_heights: None })?;
        Ok(commit_genesis(&scratch, &self.genesis_context(), &self.balances)?.block.header.state_root)
    }
}
