//! Chain types — transactions, receipts, block headers — and block execution over the
//! state layer ([`crate::state`]). Encodings are specified in `specs/state.md`.
//!
//! ```
//! use ed25519_dalek::SigningKey;
//! use keel_node::chain::*;
//! use keel_node::state::{Address, StateDb};
//!
//! let dir = tempfile::tempdir().unwrap();
//! let db = StateDb::open(dir.path()).unwrap();
//! let key = SigningKey::from_bytes(&[7; 32]);
//! let alice = address_of(&key.verifying_key());
//! let ctx = |height| BlockContext {
//!     chain_id: 1, height, timestamp_ms: 0, proposer: Address([9; 32]), cost_table_hash: [0; 32],
//! };
//! let genesis = commit_genesis(&db, &ctx(0), &[(alice, 1_000_000)]).unwrap();
//!
//! // A signed transfer, as it travels on the wire.
//! let tx = Transaction {
//!     chain_id: 1, sender: alice, nonce: 0, gas_limit: TRANSFER_GAS, gas_price: 1,
//!     action: TxAction::Transfer { to: Address([2; 32]), amount: 500 },
//! };
//! let wire = tx.sign(&key).to_bytes();
//! let stx = SignedTransaction::from_bytes(&wire).unwrap();
//!
//! let block = execute_block(&db, &ctx(1), genesis.block.header.hash(), vec![stx]).unwrap();
//! assert_eq!(block.receipts[0].status, ReceiptStatus::Success);
//! assert_eq!(block.block.header.state_root, db.state_root(1).unwrap());
//! let view = db.latest().unwrap();
//! assert_eq!(view.account(&alice).unwrap().balance, 1_000_000 - 500 - TRANSFER_GAS as u128);
//! ```

mod block;
mod execute;
mod receipt;
mod tx;

pub use block::{merkle_root, Block, BlockHeader, HEADER_DOMAIN, MAX_BLOCK_SIZE};
pub use execute::{
    apply_transaction, apply_transaction_with, build_block, build_block_with, build_uncommitted, check_chain_and_limits,
    check_gas_limit, check_transaction,
    commit_genesis, execute_block, execute_uncommitted, execute_uncommitted_with, Built, execute_block_with, intrinsic_gas, BlockContext, BlockError, BuiltBlock, StoredBlock, TxError,
    DEPLOY_CODE_GAS_PER_BYTE, NO_CONTRACT_MESSAGE, TRANSFER_GAS, TX_BASE_GAS, TX_INPUT_GAS_PER_BYTE, TX_SIGNATURE_GAS,
};
pub use receipt::{Event, Receipt, ReceiptStatus, TrapKind};
pub use tx::{
    address_of, DecodeError, SignedTransaction, Transaction, TxAction, MAX_CODE_SIZE, MAX_INPUT_SIZE,
    MAX_TX_SIZE, SIGNING_DOMAIN,
};
