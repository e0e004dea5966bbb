//! Error types: compilation, linking, artifacts and traps.

use keel_metering::ValidationError;

/// A runtime trap: why guest execution stopped abnormally.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Trap {
    /// `unreachable` executed.
    #[error("unreachable executed")]
    Unreachable,
    /// Integer division or remainder by zero.
    #[error("integer divide by zero")]
    IntegerDivideByZero,
    /// Signed division overflow (`MIN / -1`).
    #[error("integer overflow")]
    IntegerOverflow,
    /// Float-to-int conversion of NaN or an out-of-range value.
    #[error("invalid conversion to integer")]
    InvalidConversionToInteger,
    /// Linear-memory access (or bulk operation, or segment) out of bounds.
    #[error("out of bounds memory access")]
    MemoryOutOfBounds,
    /// Table access (or bulk operation, or segment) out of bounds.
    #[error("out of bounds table access")]
    TableOutOfBounds,
    /// `call_indirect` to a null entry.
    #[error("indirect call to null")]
    IndirectCallToNull,
    /// `call_indirect` signature mismatch.
    #[error("indirect call signature mismatch")]
    BadSignature,
    /// The gas limit was reached (gas remaining is then 0).
    #[error("out of gas")]
    OutOfGas,
    /// The deterministic stack budget was exhausted.
    #[error("stack exhausted")]
    StackExhausted,
    /// A host function returned an error.
    #[error("host trap: {0}")]
    Host(String),
}

impl Trap {
    pub(crate) fn from_code(code: crate::masm::TrapCode) -> Trap {
        use crate::masm::TrapCode as C;
        match code {
            C::OutOfGas => Trap::OutOfGas,
            C::StackExhausted => Trap::StackExhausted,
            C::Unreachable => Trap::Unreachable,
            C::IntegerDivideByZero => Trap::IntegerDivideByZero,
            C::IntegerOverflow => Trap::IntegerOverflow,
            C::InvalidConversionToInteger => Trap::InvalidConversionToInteger,
            C::MemoryOutOfBounds => Trap::MemoryOutOfBounds,
            C::TableOutOfBounds => Trap::TableOutOfBounds,
            C::IndirectCallToNull => Trap::IndirectCallToNull,
            C::BadSignature => Trap::BadSignature,
            C::Host => Trap::Host("host trap".into()),
        }
    }

    /// The trap's stable numeric code, part of consensus (receipts record it):
    /// 1 out of gas, 2 stack exhausted, 3 unreachable, 4 integer divide by zero,
    /// 5 integer overflow, 6 invalid conversion to integer, 7 memory out of bounds,
    /// 8 table out of bounds, 9 indirect call to null, 10 bad signature, 11 host.
    /// These numbers never change.
    pub fn stable_code(&self) -> u8 {
        self.code() as u8
    }

    pub(crate) fn code(&self) -> crate::masm::TrapCode {
        use crate::masm::TrapCode as C;
        match self {
            Trap::OutOfGas => C::OutOfGas,
            Trap::StackExhausted => C::StackExhausted,
            Trap::Unreachable => C::Unreachable,
            Trap::IntegerDivideByZero => C::IntegerDivideByZero,
            Trap::IntegerOverflow => C::IntegerOverflow,
            Trap::InvalidConversionToInteger => C::InvalidConversionToInteger,
            Trap::MemoryOutOfBounds => C::MemoryOutOfBounds,
            Trap::TableOutOfBounds => C::TableOutOfBounds,
            Trap::IndirectCallToNull => C::IndirectCallToNull,
            Trap::BadSignature => C::BadSignature,
            Trap::Host(_) => C::Host,
        }
    }
}

/// Compilation failed after validation succeeded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CompileError {
    /// An operator the compiler does not implement.
    #[error("unsupported operator: {0}")]
    Unsupported(String),
    /// A function's frame exceeds the compiler's limit.
    #[error("function {func_index}: frame of {slots} slots is too large")]
    FrameTooLarge {
        /// Function index.
        func_index: u32,
        /// Slots needed.
        slots: u64,
    },
    /// The generated code exceeds what the target ISA's branches can reach (bytes of code).
    #[error("generated code of {0} bytes exceeds the target's branch range")]
    CodeTooLarge(usize),
    /// The body could not be read.
    #[error("malformed function body: {0}")]
    Malformed(String),
    /// Inconsistent inputs (a bug).
    #[error("internal compiler error: {0}")]
    Internal(String),
}

impl CompileError {
    pub(crate) fn from_wasmparser(e: wasmparser::BinaryReaderError) -> CompileError {
        CompileError::Malformed(format!("{} (at offset {})", e.message(), e.offset()))
    }
}

/// Every error of the engine's public API.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The module was rejected by the deterministic profile.
    #[error("validation: {0}")]
    Validation(#[from] ValidationError),
    /// The compiler failed.
    #[error("compile: {0}")]
    Compile(#[from] CompileError),
    /// An import could not be resolved or has the wrong type.
    #[error("link: {0}")]
    Link(String),
    /// Execution trapped.
    #[error("trap: {0}")]
    Trap(#[from] Trap),
    /// Wrong number or types of arguments/results, or a handle from another store.
    #[error("type mismatch: {0}")]
    Type(String),
    /// A serialized artifact was refused.
    #[error("artifact: {0}")]
    Artifact(String),
    /// The engine cannot run on this machine (unsupported ISA, missing CPU feature) or an
    /// operating-system resource (executable memory, guest stack) could not be obtained.
    #[error("engine: {0}")]
    Engine(String),
}

impl Error {
    /// The trap, when this error is one.
    pub fn trap(&self) -> Option<&Trap> {
        match self {
            Error::Trap(t) => Some(t),
            _ => None,
        }
    }
}
