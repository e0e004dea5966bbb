//! The transaction pool: transactions waiting for a block, per sender ordered by nonce
//! (`specs/protocol.md` §5).
//!
//! Admission checks everything that can be checked before execution — chain id, size
//! limits, signature, nonce not below the sender's, gas limit not below the action's fixed
//! gas, and that the sender can pay the worst case of all its pending transactions — and
//! enforces limits on the pool and on each sender. Selection hands out, for each sender,
//! the run of consecutive nonces starting at the account's nonce, interleaving senders.

use std::collections::{BTreeMap, HashSet};

use crate::chain::{check_chain_and_limits, check_gas_limit, SignedTransaction, TxError};
use crate::state::{Address, Hash32, StateError, StateView};

/// Limits of a [`Mempool`].
#[derive(Clone, Copy, Debug)]
pub struct MempoolLimits {
    /// Most transactions in the pool (default 50,000).
    pub max_transactions: usize,
    /// Most pending transactions per sender (default 1,024); also the largest nonce gap
    /// accepted above the sender's account nonce.
    pub max_per_sender: usize,
    /// Most total encoded bytes in the pool (default 64 MiB).
    pub max_bytes: usize,
}

impl Default for MempoolLimits {
    fn default() -> Self {
        Self { max_transactions: 50_000, max_per_sender: 1024, max_bytes: 64 << 20 }
    }
}

/// Why a transaction was not admitted.
#[derive(Debug, thiserror::Error)]
pub enum MempoolError {
    /// A check that block execution makes too, and that no state can make pass: the
    /// bytes do not decode or exceed a size limit ([`TxError::Decode`]), the chain id
    /// ([`TxError::WrongChain`]), the gas limit below the action's intrinsic gas
    /// ([`TxError::GasLimitTooLow`]) or the signature ([`TxError::BadSignature`]).
    #[error(transparent)]
    Invalid(TxError),
    /// The nonce is already used by the account.
    #[error("nonce {got} is below the account nonce {expected}")]
    NonceTooLow {
        /// The account's nonce.
        expected: u64,
        /// The transaction's.
        got: u64,
    },
    /// The nonce is too far above the account nonce.
    #[error("nonce {got} is more than {max_gap} above the account nonce {expected}")]
    NonceGap {
        /// The account's nonce.
        expected: u64,
        /// The transaction's.
        got: u64,
        /// The largest gap accepted.
        max_gap: usize,
    },
    /// Another transaction with this sender and nonce is pending.
    #[error("a transaction with this sender and nonce is already pending")]
    Known,
    /// The sender cannot pay this transaction on top of its pending ones.
    #[error("insufficient balance: pending transactions of this sender need {required}, the balance is {available}")]
    CannotPay {
        /// Worst-case cost of the sender's pending transactions plus this one.
        required: u128,
        /// The sender's balance.
        available: u128,
    },
    /// The pool or the sender's queue is full.
    #[error("mempool full ({0})")]
    Full(&'static str),
    /// The state could not be read.
    #[error(transparent)]
    State(#[from] StateError),
}

impl MempoolError {
    /// Whether relaying this transaction proves the relayer misbehaved (it could have
    /// checked): [`MempoolError::Invalid`]. Nonce, balance and fullness depend on the
    /// receiver's view and are not offences.
    pub fn is_offence(&self) -> bool {
        matches!(self, MempoolError::Invalid(_))
    }
}

/// The pool. Not thread-safe by itself; the node wraps it in a mutex.
pub struct Mempool {
    chain_id: u64,
    limits: MempoolLimits,
    by_sender: BTreeMap<Address, BTreeMap<u64, (SignedTransaction, usize)>>,
    hashes: HashSet<Hash32>,
    len: usize,
    bytes: usize,
}

impl Mempool {
    /// An empty pool for chain `chain_id`.
    pub fn new(chain_id: u64, limits: MempoolLimits) -> Self {
        Self { chain_id, limits, by_sender: BTreeMap::new(), hashes: HashSet::new(), len: 0, bytes: 0 }
    }

    /// Number of pending transactions.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the pool is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether a transaction with this hash is pending.
    pub fn contains(&self, hash: &Hash32) -> bool {
        self.hashes.contains(hash)
    }

    /// Checks `stx` against `state` (the latest committed state) and the pool, and admits
    /// it. Returns its hash. Changes nothing on error.
    pub fn insert(&mut self, stx: SignedTransaction, state: &StateView<'_>) -> Result<Hash32, MempoolError> {
        let tx = &stx.tx;
        check_chain_and_limits(&stx, self.chain_id).map_err(MempoolError::Invalid)?;
        check_gas_limit(tx).map_err(MempoolError::Invalid)?;
        let account = state.account(&tx.sender)?;
        if tx.nonce < account.nonce {
            return Err(MempoolError::NonceTooLow { expected: account.nonce, got: tx.nonce });
        }
        if tx.nonce - account.nonce >= self.limits.max_per_sender as u64 {
            return Err(MempoolError::NonceGap { expected: account.nonce, got: tx.nonce, max_gap: self.limits.max_per_sender });
        }
        let queue = self.by_sender.get(&tx.sender);
        if queue.is_some_and(|q| q.contains_key(&tx.nonce)) {
            return Err(MempoolError::Known);
        }
        if queue.is_some_and(|q| q.len() >= self.limits.max_per_sender) {
            return Err(MempoolError::Full("sender queue"));
        }
        let size = stx.to_bytes().len();
        if self.len >= self.limits.max_transactions || self.bytes + size > self.limits.max_bytes {
            return Err(MempoolError::Full("pool"));
        }
        // Worst case of everything this sender has pending (still executable) plus this one.
        let mut cost = tx.max_cost().unwrap_or(u128::MAX);
        for (nonce, (p, _)) in queue.into_iter().flatten() {
            if *nonce >= account.nonce {
                cost = cost.saturating_add(p.tx.max_cost().unwrap_or(u128::MAX));
            }
        }
        if cost > account.balance {
            return Err(MempoolError::CannotPay { required: cost, available: account.balance });
        }
        // Signature last: the most expensive check.
        if !stx.verify_signature() {
            return Err(MempoolError::Invalid(TxError::BadSignature));
        }
        let hash = stx.hash();
        self.hashes.insert(hash);
        self.len += 1;
        self.bytes += size;
        self.by_sender.entry(stx.tx.sender).or_default().insert(stx.tx.nonce, (stx, size));
        Ok(hash)
    }

    /// Up to `max` transactions for the next block: for each sender the consecutive nonces
    /// starting at its account nonce in `state`; senders interleaved round-robin in address
    /// order. Does not remove them (see [`prune`](Self::prune)).
    pub fn select(&self, state: &StateView<'_>, max: usize) -> Result<Vec<SignedTransaction>, StateError> {
        let mut runs: Vec<Vec<&SignedTransaction>> = Vec::new();
        for (sender, queue) in &self.by_sender {
            let first = state.account(sender)?.nonce;
            // The consecutive nonces first, first + 1, ... (stops at a gap).
            let run: Vec<&SignedTransaction> = queue
                .range(first..)
                .zip(first..)
                .take_while(|((nonce, _), expected)| **nonce == *expected)
                .map(|(( _, (stx, _)), _)| stx)
                .collect();
            if !run.is_empty() {
                runs.push(run);
            }
        }
        let mut out = Vec::new();
        let mut round = 0;
        while out.len() < max {
            let mut any = false;
            for run in &runs {
                if let Some(stx) = run.get(round) {
                    any = true;
                    out.push((*stx).clone());
                    if out.len() == max {
                        break;
                    }
                }
            }
            if !any {
                break;
            }
            round += 1;
        }
        Ok(out)
    }

    /// Drops every transaction whose nonce is below its sender's account nonce in `state`
    /// (included in a block, or replaced by one), and `extra` (left out of a block as
    /// invalid).
    pub fn prune(&mut self, state: &StateView<'_>, extra: &[Hash32]) -> Result<(), StateError> {
        let extra: HashSet<&Hash32> = extra.iter().collect();
        let mut emptied = Vec::new();
        for (sender, queue) in self.by_sender.iter_mut() {
            let nonce = state.account(sender)?.nonce;
            let keep = queue.split_off(&nonce);
            for (_, (stx, size)) in std::mem::replace(queue, keep) {
                self.hashes.remove(&stx.hash());
                self.len -= 1;
                self.bytes -= size;
            }
            if !extra.is_empty() {
                let drop: Vec<u64> = queue.iter().filter(|(_, (s, _))| extra.contains(&s.hash())).map(|(n, _)| *n).collect();
                for n in drop {
                    if let Some((stx, size)) = queue.remove(&n) {
                        self.hashes.remove(&stx.hash());
                        self.len -= 1;
                        self.bytes -= size;
                    }
                }
            }
            if queue.is_empty() {
                emptied.push(*sender);
            }
        }
        for s in emptied {
            self.by_sender.remove(&s);
        }
        Ok(())
    }
}
