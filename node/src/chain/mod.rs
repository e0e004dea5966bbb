//! Chain types — transactions, receipts, block headers — and block execution over the
//! state layer ([`crate::state`]). Encodings are specified in `specs/state.md`.

mod block;
mod execute;
mod receipt;
mod tx;

pub use block::{merkle_root, Block, BlockHeader, HEADER_DOMAIN, MAX_BLOCK_SIZE};
pub use execute::{
    apply_transaction, build_block, check_transaction, commit_genesis, execute_block, BuiltBlock, BlockContext, BlockError,
    StoredBlock, TxError, TRANSFER_GAS,
};
pub use receipt::{Event, Receipt, ReceiptStatus, TrapKind};
pub use tx::{
    address_of, DecodeError, SignedTransaction, Transaction, TxAction, MAX_CODE_SIZE, MAX_INPUT_SIZE,
    MAX_TX_SIZE, SIGNING_DOMAIN,
};
