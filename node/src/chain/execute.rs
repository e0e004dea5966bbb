//! Transaction checks and block execution: Transfer natively, Deploy and Call through the
//! contract runtime ([`crate::runtime`]), with intrinsic gas, fees and nonces around them
//! (`specs/state.md` §4).

use parity_scale_codec::{Decode, Encode};

use super::block::{merkle_root, Block, BlockHeader};
use super::receipt::{Receipt, ReceiptStatus};
use super::tx::{DecodeError, SignedTransaction, Transaction, TxAction};
use crate::runtime::{self, BlockEnv, CallParams, DeployParams, Outcome, Runtime, RuntimeError};
use crate::state::{contract_address, Account, Address, Hash32, StateDb, StateError, WorkingState};

/// Intrinsic gas of every transaction's ed25519 signature check: the cost table's
/// `[host.ed25519_verify]` base (`specs/gas-schedule.toml`; a contract pays the same for
/// the same work), calibrated by `keel bench gas` at about 45 µs = 150,000 gas of 0.3 ns.
/// A test keeps the two equal. (Without it a Transfer cost 10,000 gas for ~15x that much
/// work: the field's "operator priced 10x too cheap", at the transaction level.)
pub const TX_SIGNATURE_GAS: u64 = 150_000;
/// Gas used by a Transfer transaction (fixed): the signature check ([`TX_SIGNATURE_GAS`])
/// plus 10,000 for the two account updates and the fee move.
pub const TRANSFER_GAS: u64 = TX_SIGNATURE_GAS + 10_000;
/// Intrinsic gas of every Deploy and Call transaction besides [`TX_SIGNATURE_GAS`], charged before the contract runs: it
/// pays for the top-level frame's fixed cost (module from the cache, fresh store and
/// instance, checkpoint, account reads), which no operator meters. Derived from the
/// calibrated empty frame (`specs/gas.md`, "Version 2"; `specs/state.md` §4); the frame's
/// initial memory is charged separately, per page.
pub const TX_BASE_GAS: u64 = 50_000;
/// Revert message of a Call transaction to an address that holds no contract (the
/// transaction is valid: it pays its intrinsic gas and bumps the nonce; the value stays).
pub const NO_CONTRACT_MESSAGE: &[u8] = b"no contract at this address";
/// Intrinsic gas per byte of call data or constructor input.
pub const TX_INPUT_GAS_PER_BYTE: u64 = 4;
/// Intrinsic gas per byte of deployed code (validation, compilation, code store).
pub const DEPLOY_CODE_GAS_PER_BYTE: u64 = 50;

/// The gas an action costs before any contract code runs: [`TRANSFER_GAS`] for a Transfer;
/// `TX_SIGNATURE_GAS + TX_BASE_GAS + TX_INPUT_GAS_PER_BYTE × input` for a Call; the same
/// plus `DEPLOY_CODE_GAS_PER_BYTE × code` for a Deploy (`specs/state.md` §4).
pub fn intrinsic_gas(action: &TxAction) -> u64 {
    let base = TX_SIGNATURE_GAS + TX_BASE_GAS;
    match action {
        TxAction::Transfer { .. } => TRANSFER_GAS,
        TxAction::Call { input, .. } => base + TX_INPUT_GAS_PER_BYTE * input.len() as u64,
        TxAction::Deploy { code, input, .. } => {
            base + TX_INPUT_GAS_PER_BYTE * input.len() as u64 + DEPLOY_CODE_GAS_PER_BYTE * code.len() as u64
        }
    }
}

/// The block-level inputs a transaction executes under.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlockContext {
    /// Chain id; transactions carrying another one are invalid.
    pub chain_id: u64,
    /// Height of the block being executed.
    pub height: u64,
    /// Block timestamp, milliseconds since the Unix epoch.
    pub timestamp_ms: u64,
    /// Block proposer; receives every fee of the block.
    pub proposer: Address,
    /// `CostTable::hash()` of the cost table in force.
    pub cost_table_hash: Hash32,
}

/// Why a transaction is invalid. An invalid transaction changes no state and has no
/// receipt; a block containing one is invalid.
#[derive(Debug, thiserror::Error)]
pub enum TxError {
    /// The bytes do not decode or exceed a size limit.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// `chain_id` is not this chain's.
    #[error("transaction is for chain {got}, this is chain {expected}")]
    WrongChain {
        /// This chain.
        expected: u64,
        /// The transaction's.
        got: u64,
    },
    /// The signature does not verify (`verify_strict`) against the sender's key.
    #[error("bad signature")]
    BadSignature,
    /// `nonce` is not the sender's next nonce.
    #[error("wrong nonce: expected {expected}, got {got}")]
    WrongNonce {
        /// The sender's account nonce.
        expected: u64,
        /// The transaction's nonce.
        got: u64,
    },
    /// `gas_limit` is below the intrinsic gas of the action ([`intrinsic_gas`]).
    #[error("gas limit {got} is below the required {required}")]
    GasLimitTooLow {
        /// Gas the action needs at least.
        required: u64,
        /// The transaction's gas limit.
        got: u64,
    },
    /// The sender cannot pay `gas_limit × gas_price + value`.
    #[error("insufficient balance: need {required}, have {available}")]
    InsufficientBalance {
        /// `gas_limit × gas_price + value` (saturated at u128::MAX on overflow).
        required: u128,
        /// The sender's balance.
        available: u128,
    },
    /// The contract runtime could not run (configuration, executor thread).
    #[error(transparent)]
    Runtime(RuntimeError),
    /// The state could not be read.
    #[error(transparent)]
    State(#[from] StateError),
}

/// Why a block could not be executed.
#[derive(Debug, thiserror::Error)]
pub enum BlockError {
    /// Transaction `index` is invalid; nothing was committed.
    #[error("transaction {index} is invalid: {error}")]
    InvalidTransaction {
        /// Position in the block.
        index: usize,
        /// Why.
        error: TxError,
    },
    /// The state database failed or refused the commit (e.g. wrong height).
    #[error(transparent)]
    State(#[from] StateError),
    /// The contract runtime could not run (configuration, executor thread).
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
}

fn block_error(index: usize, error: TxError) -> BlockError {
    match error {
        TxError::State(e) => BlockError::State(e),
        TxError::Runtime(e) => BlockError::Runtime(e),
        error => BlockError::InvalidTransaction { index, error },
    }
}

/// Pre-execution checks, in this order: chain id, limits, signature, nonce, gas limit ≥
/// the action's intrinsic gas, balance ≥ `gas_limit × gas_price + value`. Reads state, changes nothing. Returns the sender's account.
pub fn check_transaction(state: &WorkingState<'_>, ctx: &BlockContext, stx: &SignedTransaction) -> Result<Account, TxError> {
    check_inner(state, ctx, stx, None)
}

/// The checks of `stx` that need no state: its chain id is `chain_id` and its fields are
/// within the size limits.
///
/// Errors: [`TxError::WrongChain`], [`TxError::Decode`] (a size limit), in that order.
pub fn check_chain_and_limits(stx: &SignedTransaction, chain_id: u64) -> Result<(), TxError> {
    if stx.tx.chain_id != chain_id {
        return Err(TxError::WrongChain { expected: chain_id, got: stx.tx.chain_id });
    }
    stx.check_limits()?;
    Ok(())
}

/// `tx`'s gas limit covers its action's intrinsic gas ([`intrinsic_gas`]).
///
/// Errors: [`TxError::GasLimitTooLow`].
pub fn check_gas_limit(tx: &Transaction) -> Result<(), TxError> {
    let required = intrinsic_gas(&tx.action);
    if tx.gas_limit < required {
        return Err(TxError::GasLimitTooLow { required, got: tx.gas_limit });
    }
    Ok(())
}

/// `signature_ok`: the result of `stx.verify_signature()` if already computed.
fn check_inner(
    state: &WorkingState<'_>,
    ctx: &BlockContext,
    stx: &SignedTransaction,
    signature_ok: Option<bool>,
) -> Result<Account, TxError> {
    let tx = &stx.tx;
    check_chain_and_limits(stx, ctx.chain_id)?;
    if !signature_ok.unwrap_or_else(|| stx.verify_signature()) {
        return Err(TxError::BadSignature);
    }
    let sender = state.account(&tx.sender)?;
    if tx.nonce != sender.nonce {
        return Err(TxError::WrongNonce { expected: sender.nonce, got: tx.nonce });
    }
    check_gas_limit(tx)?;
    let required = tx.max_cost().unwrap_or(u128::MAX);
    if tx.max_cost().is_none() || sender.balance < required {
        return Err(TxError::InsufficientBalance { required, available: sender.balance });
    }
    Ok(sender)
}

/// Checks and executes one transaction in `state` with the shared runtime
/// ([`Runtime::shared`]). `Err`: the transaction is invalid and `state` is unchanged.
/// `Ok`: its receipt; the fee `gas_used × gas_price` has moved from the sender to the
/// proposer and the sender's nonce is bumped, whatever the status. Deploy and Call run on
/// the executor thread ([`runtime::on_executor`]).
pub fn apply_transaction(state: &mut WorkingState<'_>, ctx: &BlockContext, stx: &SignedTransaction) -> Result<Receipt, TxError> {
    if matches!(stx.tx.action, TxAction::Transfer { .. }) {
        // No contract code: works even where the engine cannot run.
        return apply_inner(None, state, ctx, stx, None);
    }
    let rt = Runtime::shared().map_err(TxError::Runtime)?;
    apply_transaction_with(rt, state, ctx, stx)
}

/// [`apply_transaction`] with a given runtime (engine configuration, module cache).
pub fn apply_transaction_with(
    rt: &Runtime,
    state: &mut WorkingState<'_>,
    ctx: &BlockContext,
    stx: &SignedTransaction,
) -> Result<Receipt, TxError> {
    if matches!(stx.tx.action, TxAction::Transfer { .. }) {
        return apply_inner(Some(rt), state, ctx, stx, None);
    }
    runtime::on_executor(rt.engine().config(), || apply_inner(Some(rt), state, ctx, stx, None)).map_err(TxError::Runtime)?
}

/// `rt`: `None` only when no contract runs (then the shared runtime is used if one does).
fn apply_inner(
    rt: Option<&Runtime>,
    state: &mut WorkingState<'_>,
    ctx: &BlockContext,
    stx: &SignedTransaction,
    signature_ok: Option<bool>,
) -> Result<Receipt, TxError> {
    let sender = check_inner(state, ctx, stx, signature_ok)?;
    match stx.tx.action {
        TxAction::Transfer { to, amount } => apply_transfer(state, ctx, stx, sender, to, amount),
        TxAction::Deploy { .. } | TxAction::Call { .. } => {
            let rt = match rt {
                Some(rt) => rt,
                None => Runtime::shared().map_err(TxError::Runtime)?,
            };
            apply_contract(rt, state, ctx, stx, sender)
        }
    }
}

fn apply_transfer(
    state: &mut WorkingState<'_>,
    ctx: &BlockContext,
    stx: &SignedTransaction,
    mut sender: Account,
    to: Address,
    amount: u128,
) -> Result<Receipt, TxError> {
    let tx = &stx.tx;
    let gas_used = TRANSFER_GAS;
    let fee = gas_used as u128 * tx.gas_price as u128;
    let cp = state.checkpoint();
    let result = (|| -> Result<ReceiptStatus, StateError> {
        // Fee and nonce: never rolled back. Affordability was checked above, so no underflow.
        sender.nonce += 1;
        sender.balance -= fee;
        state.set_account(&tx.sender, &sender);
        credit(state, &ctx.proposer, fee)?;
        // The value transfer (read after write: a transfer to oneself is a no-op).
        let inner = state.checkpoint();
        let mut from = state.account(&tx.sender)?;
        from.balance -= amount;
        state.set_account(&tx.sender, &from);
        let mut dest = state.account(&to)?;
        match dest.balance.checked_add(amount) {
            Some(b) => {
                dest.balance = b;
                state.set_account(&to, &dest);
                state.commit_checkpoint(inner)?;
                Ok(ReceiptStatus::Success)
            }
            None => {
                state.revert_to(inner)?;
                Ok(ReceiptStatus::Revert(b"recipient balance overflow".to_vec()))
            }
        }
    })();
    match result {
        Ok(status) => {
            state.commit_checkpoint(cp)?;
            Ok(Receipt { status, gas_used, return_data: Vec::new(), events: Vec::new() })
        }
        Err(e) => {
            state.revert_to(cp)?;
            Err(TxError::State(e))
        }
    }
}

/// Adds `amount` to `addr`'s balance (saturating: the total supply is bounded by genesis).
fn credit(state: &mut WorkingState<'_>, addr: &Address, amount: u128) -> Result<(), StateError> {
    let mut acc = state.account(addr)?;
    acc.balance = acc.balance.saturating_add(amount);
    state.set_account(addr, &acc);
    Ok(())
}

/// Deploy / Call: the sender pays `gas_limit × gas_price` up front and its nonce is bumped
/// (never rolled back); the runtime runs the frame with `gas_limit − intrinsic gas`; the
/// unused gas is refunded and the fee `gas_used × gas_price` goes to the proposer. A Deploy
/// creates the contract at `contract_address(sender, nonce)`.
fn apply_contract(
    rt: &Runtime,
    state: &mut WorkingState<'_>,
    ctx: &BlockContext,
    stx: &SignedTransaction,
    mut sender: Account,
) -> Result<Receipt, TxError> {
    let tx = &stx.tx;
    let intrinsic = intrinsic_gas(&tx.action);
    let price = tx.gas_price as u128;
    let cp = state.checkpoint();
    let result = (|| -> Result<Receipt, TxError> {
        // Affordable: check_inner checked balance ≥ gas_limit × gas_price + value.
        sender.nonce += 1;
        sender.balance -= tx.gas_limit as u128 * price;
        state.set_account(&tx.sender, &sender);
        let env = BlockEnv { height: ctx.height, timestamp_ms: ctx.timestamp_ms };
        let gas_limit = tx.gas_limit - intrinsic;
        let outcome = match &tx.action {
            TxAction::Deploy { code, input, value } => rt.deploy(
                state,
                &env,
                DeployParams {
                    deployer: tx.sender,
                    address: contract_address(&tx.sender, tx.nonce),
                    code: code.clone(),
                    input: input.clone(),
                    value: *value,
                    gas_limit,
                },
            ),
            TxAction::Call { contract, input, value } => rt.call(
                state,
                &env,
                CallParams { caller: tx.sender, contract: *contract, input: input.clone(), value: *value, gas_limit },
            ),
            TxAction::Transfer { .. } => return Err(TxError::Runtime(RuntimeError::Config("transfer is not a contract action".into()))),
        };
        let outcome = match outcome {
            Ok(o) => o,
            Err(RuntimeError::State(e)) => return Err(TxError::State(e)),
            // A Call to an address without code is valid (whether the address holds code
            // may depend on earlier transactions of the block) and reverts.
            Err(RuntimeError::NoContract(_)) => Outcome {
                status: ReceiptStatus::Revert(NO_CONTRACT_MESSAGE.to_vec()),
                gas_used: 0,
                return_data: Vec::new(),
                events: Vec::new(),
            },
            Err(e) => return Err(TxError::Runtime(e)),
        };
        let gas_used = intrinsic + outcome.gas_used.min(gas_limit);
        credit(state, &tx.sender, (tx.gas_limit - gas_used) as u128 * price)?;
        credit(state, &ctx.proposer, gas_used as u128 * price)?;
        Ok(Receipt { status: outcome.status, gas_used, return_data: outcome.return_data, events: outcome.events })
    })();
    match result {
        Ok(receipt) => {
            state.commit_checkpoint(cp)?;
            Ok(receipt)
        }
        Err(e) => {
            state.revert_to(cp)?;
            Err(e)
        }
    }
}

/// What [`execute_block`] stores under the block's height: SCALE(`StoredBlock`).
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct StoredBlock {
    /// The block (header and transactions).
    pub block: Block,
    /// One receipt per transaction, in order.
    pub receipts: Vec<Receipt>,
}

impl StoredBlock {
    /// Decodes the bytes stored in the `blocks` column family. Errors: [`StateError::Corrupt`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, StateError> {
        use parity_scale_codec::DecodeAll;
        StoredBlock::decode_all(&mut &bytes[..]).map_err(|e| StateError::Corrupt(format!("stored block: {e}")))
    }
}

/// Executes `transactions` as block `ctx.height` on top of the latest committed state and
/// commits it atomically (state, block and receipts in one write). All transactions must
/// be valid: on the first invalid one nothing is committed and
/// [`BlockError::InvalidTransaction`] says which. Returns the header and the receipts.
/// Contracts run with the shared runtime ([`Runtime::shared`]) on the executor thread.
pub fn execute_block(
    db: &StateDb,
    ctx: &BlockContext,
    parent_hash: Hash32,
    transactions: Vec<SignedTransaction>,
) -> Result<StoredBlock, BlockError> {
    execute_inner(shared_runtime_for(&transactions)?, db, ctx, parent_hash, transactions)
}

/// [`execute_block`] with a given runtime.
pub fn execute_block_with(
    rt: &Runtime,
    db: &StateDb,
    ctx: &BlockContext,
    parent_hash: Hash32,
    transactions: Vec<SignedTransaction>,
) -> Result<StoredBlock, BlockError> {
    execute_inner(Some(rt), db, ctx, parent_hash, transactions)
}

fn execute_inner(
    rt: Option<&Runtime>,
    db: &StateDb,
    ctx: &BlockContext,
    parent_hash: Hash32,
    transactions: Vec<SignedTransaction>,
) -> Result<StoredBlock, BlockError> {
    let (receipts, changes) = run_block(rt, db, ctx, &transactions)?;
    commit_executed(db, ctx, parent_hash, transactions, receipts, &changes)
}

/// Executes `transactions` (all must be valid) on the latest committed state and returns
/// their receipts and the state changes, writing nothing.
fn run_block(
    rt: Option<&Runtime>,
    db: &StateDb,
    ctx: &BlockContext,
    transactions: &[SignedTransaction],
) -> Result<(Vec<Receipt>, crate::state::StateChanges), BlockError> {
    let mut state = db.working()?;
    let signatures = verify_signatures(transactions);
    let receipts = on_executor_if_needed(rt, runs_contracts(transactions), || {
        let mut receipts = Vec::with_capacity(transactions.len());
        for (index, stx) in transactions.iter().enumerate() {
            receipts.push(apply_inner(rt, &mut state, ctx, stx, Some(signatures[index])).map_err(|e| block_error(index, e))?);
        }
        Ok(receipts)
    })?;
    Ok((receipts, state.into_changes()))
}

/// Candidates executed by [`run_build`]: the included ones, their receipts, the left-out
/// ones with their position among the candidates and why, and the state changes.
type BuildRun = (Vec<SignedTransaction>, Vec<Receipt>, Vec<(usize, SignedTransaction, TxError)>, crate::state::StateChanges);

/// Executes `candidates` in order on the latest committed state, leaving out each invalid
/// one (it changes nothing), and writes nothing. A state or runtime failure aborts.
fn run_build(rt: Option<&Runtime>, db: &StateDb, ctx: &BlockContext, candidates: Vec<SignedTransaction>) -> Result<BuildRun, BlockError> {
    let mut state = db.working()?;
    let signatures = verify_signatures(&candidates);
    let contracts = runs_contracts(&candidates);
    let (included, receipts, rejected) = on_executor_if_needed(rt, contracts, || {
        let (mut included, mut receipts, mut rejected) = (Vec::new(), Vec::new(), Vec::new());
        for (index, stx) in candidates.into_iter().enumerate() {
            match apply_inner(rt, &mut state, ctx, &stx, Some(signatures[index])) {
                Ok(receipt) => {
                    receipts.push(receipt);
                    included.push(stx);
                }
                // A state read failure is not the transaction's fault: abort the block.
                Err(TxError::State(e)) => return Err(BlockError::State(e)),
                Err(TxError::Runtime(e)) => return Err(BlockError::Runtime(e)),
                Err(error) => rejected.push((index, stx, error)),
            }
        }
        Ok((included, receipts, rejected))
    })?;
    Ok((included, receipts, rejected, state.into_changes()))
}

/// The shared runtime if any of `txs` runs contract code, else none (transfer-only blocks
/// never need it, so they run where the engine cannot).
fn shared_runtime_for(txs: &[SignedTransaction]) -> Result<Option<&'static Runtime>, BlockError> {
    Ok(if runs_contracts(txs) { Some(Runtime::shared()?) } else { None })
}

/// Whether any transaction runs contract code (Deploy or Call).
fn runs_contracts(txs: &[SignedTransaction]) -> bool {
    txs.iter().any(|t| !matches!(t.tx.action, TxAction::Transfer { .. }))
}

/// Runs `work` on the executor thread of `rt` if `needed` (some transaction runs contract
/// code), else on this thread.
fn on_executor_if_needed<R: Send>(
    rt: Option<&Runtime>,
    needed: bool,
    work: impl FnOnce() -> Result<R, BlockError> + Send,
) -> Result<R, BlockError> {
    match rt {
        Some(rt) if needed => runtime::on_executor(rt.engine().config(), work)?,
        _ => work(),
    }
}

/// Verifies every signature, spread over the available cores. Only speed depends on the
/// thread count: the result is `verify_signature()` of each transaction, in order.
fn verify_signatures(txs: &[SignedTransaction]) -> Vec<bool> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(16);
    if threads <= 1 || txs.len() < 64 {
        return txs.iter().map(SignedTransaction::verify_signature).collect();
    }
    let chunk = txs.len().div_ceil(threads);
    let mut out = vec![false; txs.len()];
    std::thread::scope(|s| {
        for (txs, out) in txs.chunks(chunk).zip(out.chunks_mut(chunk)) {
            s.spawn(move || {
                for (tx, ok) in txs.iter().zip(out.iter_mut()) {
                    *ok = tx.verify_signature();
                }
            });
        }
    });
    out
}

/// A block built by a proposer with [`build_block`].
#[derive(Debug)]
pub struct BuiltBlock {
    /// The committed block and receipts (valid transactions only, in candidate order).
    pub stored: StoredBlock,
    /// Candidates left out, with their position among the candidates and why.
    pub rejected: Vec<(usize, TxError)>,
}

/// Proposer mode: executes `candidates` in order as block `ctx.height`, leaving out every
/// invalid one (it changes nothing, see [`apply_transaction`]), and commits the block of
/// the valid ones. The result validates with [`execute_block`] to the same header.
pub fn build_block(
    db: &StateDb,
    ctx: &BlockContext,
    parent_hash: Hash32,
    candidates: Vec<SignedTransaction>,
) -> Result<BuiltBlock, BlockError> {
    build_inner(shared_runtime_for(&candidates)?, db, ctx, parent_hash, candidates)
}

/// [`build_block`] with a given runtime.
pub fn build_block_with(
    rt: &Runtime,
    db: &StateDb,
    ctx: &BlockContext,
    parent_hash: Hash32,
    candidates: Vec<SignedTransaction>,
) -> Result<BuiltBlock, BlockError> {
    build_inner(Some(rt), db, ctx, parent_hash, candidates)
}

fn build_inner(
    rt: Option<&Runtime>,
    db: &StateDb,
    ctx: &BlockContext,
    parent_hash: Hash32,
    candidates: Vec<SignedTransaction>,
) -> Result<BuiltBlock, BlockError> {
    let (included, receipts, rejected, changes) = run_build(rt, db, ctx, candidates)?;
    let stored = commit_executed(db, ctx, parent_hash, included, receipts, &changes)?;
    Ok(BuiltBlock { stored, rejected: rejected.into_iter().map(|(index, _, error)| (index, error)).collect() })
}

/// [`execute_block`] without the commit: executes `transactions` on the latest committed
/// state and returns the receipts and the state changes, writing nothing. For a validator
/// that must check a received block's header before committing it, and for replay.
pub fn execute_uncommitted(
    db: &StateDb,
    ctx: &BlockContext,
    transactions: &[SignedTransaction],
) -> Result<(Vec<Receipt>, crate::state::StateChanges), BlockError> {
    run_block(shared_runtime_for(transactions)?, db, ctx, transactions)
}

/// [`execute_uncommitted`] with a given runtime (e.g. one on the wasmi backend, for
/// `keel replay --engine wasmi`).
pub fn execute_uncommitted_with(
    rt: &Runtime,
    db: &StateDb,
    ctx: &BlockContext,
    transactions: &[SignedTransaction],
) -> Result<(Vec<Receipt>, crate::state::StateChanges), BlockError> {
    run_block(Some(rt), db, ctx, transactions)
}

/// Transactions included by [`build_uncommitted`]: the included ones, their receipts, the
/// left-out candidates with why, and the state changes.
pub type Built = (Vec<SignedTransaction>, Vec<Receipt>, Vec<(SignedTransaction, TxError)>, crate::state::StateChanges);

/// [`build_block`] without the commit: executes `candidates` in order on the latest
/// committed state, leaving out each invalid one, and writes nothing.
pub fn build_uncommitted(db: &StateDb, ctx: &BlockContext, candidates: Vec<SignedTransaction>) -> Result<Built, BlockError> {
    let (included, receipts, rejected, changes) = run_build(shared_runtime_for(&candidates)?, db, ctx, candidates)?;
    Ok((included, receipts, rejected.into_iter().map(|(_, stx, error)| (stx, error)).collect(), changes))
}

/// Commits block `ctx.height` with initial balances `alloc` (later entries for the same
/// address win) and no transactions. Meant for height 0.
pub fn commit_genesis(db: &StateDb, ctx: &BlockContext, alloc: &[(Address, u128)]) -> Result<StoredBlock, BlockError> {
    let mut state = db.working()?;
    for (addr, balance) in alloc {
        let mut acc = state.account(addr)?;
        acc.balance = *balance;
        state.set_account(addr, &acc);
    }
    let changes = state.into_changes();
    commit_executed(db, ctx, [0; 32], Vec::new(), Vec::new(), &changes)
}

fn commit_executed(
    db: &StateDb,
    ctx: &BlockContext,
    parent_hash: Hash32,
    transactions: Vec<SignedTransaction>,
    receipts: Vec<Receipt>,
    changes: &crate::state::StateChanges,
) -> Result<StoredBlock, BlockError> {
    let prepared = db.prepare_block(ctx.height, changes)?;
    let tx_bytes: Vec<Vec<u8>> = transactions.iter().map(|t| t.encode()).collect();
    let receipt_bytes: Vec<Vec<u8>> = receipts.iter().map(|r| r.encode()).collect();
    let header = BlockHeader {
        chain_id: ctx.chain_id,
        height: ctx.height,
        parent_hash,
        timestamp_ms: ctx.timestamp_ms,
        proposer: ctx.proposer,
        state_root: prepared.state_root(),
        transactions_root: merkle_root(&tx_bytes),
        receipts_root: merkle_root(&receipt_bytes),
        cost_table_hash: ctx.cost_table_hash,
    };
    let stored = StoredBlock { block: Block { header, transactions }, receipts };
    db.commit_prepared(prepared, &stored.encode())?;
    Ok(stored)
}
