//! Receipts: the consensus-visible outcome of one transaction.

use parity_scale_codec::{Decode, Encode};

use crate::state::{Address, Hash32};

/// Kind of a trap, as a stable code (SCALE: one byte, the code below). Codes 1–11 match
/// `keel_engine`'s `TrapCode`; 12 is the host's `HostLimitExceeded` (`specs/abi.md` §3.3).
/// Out of gas is reported as [`ReceiptStatus::OutOfGas`], not as a trap.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode)]
pub enum TrapKind {
    /// The deterministic stack budget was exhausted.
    #[codec(index = 2)]
    StackExhausted,
    /// `unreachable` executed.
    #[codec(index = 3)]
    Unreachable,
    /// Integer division or remainder by zero.
    #[codec(index = 4)]
    IntegerDivideByZero,
    /// Signed division overflow.
    #[codec(index = 5)]
    IntegerOverflow,
    /// Float-to-int conversion of NaN or out of range.
    #[codec(index = 6)]
    InvalidConversionToInteger,
    /// Linear memory access (or host pointer range) out of bounds.
    #[codec(index = 7)]
    MemoryOutOfBounds,
    /// Table access out of bounds.
    #[codec(index = 8)]
    TableOutOfBounds,
    /// `call_indirect` to a null entry.
    #[codec(index = 9)]
    IndirectCallToNull,
    /// `call_indirect` signature mismatch.
    #[codec(index = 10)]
    BadSignature,
    /// A host function trapped for another reason.
    #[codec(index = 11)]
    Host,
    /// A length or count passed to the host is over a limit of `specs/abi.md` §2.
    #[codec(index = 12)]
    HostLimitExceeded,
}

/// How a transaction ended. SCALE enum: 0 Success, 1 Revert(message), 2 Trap(kind),
/// 3 OutOfGas, 4 InvalidCode(message).
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub enum ReceiptStatus {
    /// Executed; effects kept.
    #[codec(index = 0)]
    Success,
    /// The contract reverted with this message (≤ 1024 bytes); effects rolled back.
    #[codec(index = 1)]
    Revert(Vec<u8>),
    /// The contract trapped; effects rolled back.
    #[codec(index = 2)]
    Trap(TrapKind),
    /// Gas ran out (gas used = gas limit); effects rolled back.
    #[codec(index = 3)]
    OutOfGas,
    /// A Deploy's module was rejected (profile or module-shape violation); nothing stored.
    #[codec(index = 4)]
    InvalidCode(String),
}

/// An event emitted by a contract (`emit_event`).
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct Event {
    /// The emitting contract.
    pub contract: Address,
    /// 0–4 topics of 32 bytes.
    pub topics: Vec<Hash32>,
    /// Data (≤ 16 KiB).
    pub data: Vec<u8>,
}

/// The outcome of one transaction. SCALE: fields in this order.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct Receipt {
    /// How it ended.
    pub status: ReceiptStatus,
    /// Gas used (the fee is `gas_used × gas_price`).
    pub gas_used: u64,
    /// Return data of the top-level frame (empty unless `Success`).
    pub return_data: Vec<u8>,
    /// Events, in emission order (empty unless `Success`).
    pub events: Vec<Event>,
}
