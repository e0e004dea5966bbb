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

impl TrapKind {
    /// Every kind, in code order.
    pub const ALL: [TrapKind; 11] = [
        TrapKind::StackExhausted,
        TrapKind::Unreachable,
        TrapKind::IntegerDivideByZero,
        TrapKind::IntegerOverflow,
        TrapKind::InvalidConversionToInteger,
        TrapKind::MemoryOutOfBounds,
        TrapKind::TableOutOfBounds,
        TrapKind::IndirectCallToNull,
        TrapKind::BadSignature,
        TrapKind::Host,
        TrapKind::HostLimitExceeded,
    ];

    /// The stable code (also the SCALE byte).
    pub fn code(self) -> u8 {
        match self {
            TrapKind::StackExhausted => 2,
            TrapKind::Unreachable => 3,
            TrapKind::IntegerDivideByZero => 4,
            TrapKind::IntegerOverflow => 5,
            TrapKind::InvalidConversionToInteger => 6,
            TrapKind::MemoryOutOfBounds => 7,
            TrapKind::TableOutOfBounds => 8,
            TrapKind::IndirectCallToNull => 9,
            TrapKind::BadSignature => 10,
            TrapKind::Host => 11,
            TrapKind::HostLimitExceeded => 12,
        }
    }

    /// The kind of a stable code, e.g. of `keel_engine::Trap::stable_code()`; `None` for 1
    /// (out of gas, reported as [`ReceiptStatus::OutOfGas`]) and unknown codes.
    pub fn from_code(code: u8) -> Option<TrapKind> {
        TrapKind::ALL.into_iter().find(|k| k.code() == code)
    }
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
