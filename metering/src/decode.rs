//! Decoding and validating a function body's operators in one dispatch per operator.
//!
//! wasmparser's usual route reads an [`Operator`] (one dispatch on the opcode) and then
//! validates it with [`wasmparser::FuncValidator::op`] (a second dispatch on the operator).
//! [`Decoder`] is a [`VisitOperator`] that the reader calls directly: each visit method
//! hands its immediates to the validator's own visit method and then builds the
//! [`Operator`], so validation and decoding share the reader's single dispatch. Validation
//! is exactly wasmparser's: the same visit methods run with the same arguments in the same
//! order.

use wasmparser::{BinaryReaderError, Operator, VisitOperator, VisitSimdOperator};

use crate::analyze::FunctionWalker;
use crate::error::ValidationError;

/// Validates each visited operator with `validator`, accounts for it in `walker` and
/// appends it, decoded, to `out`. Each visit method knows its operator statically, so the
/// walker's per-operator logic (gas class, local weights, control flow) folds to the few
/// instructions that operator needs.
pub(crate) struct Decoder<'o, 'a, 'w, 'c, V> {
    /// The function validator's visitor for this operator.
    pub(crate) validator: V,
    /// Where the decoded operator goes, when `keep`.
    pub(crate) out: &'o mut Vec<Operator<'a>>,
    /// Whether to keep the decoded operators (see `crate::analyze::MAX_BUFFERED_BODY_BYTES`).
    pub(crate) keep: bool,
    /// The metering analysis of the function.
    pub(crate) walker: &'w mut FunctionWalker<'c>,
    /// Byte offset of the operator.
    pub(crate) offset: u32,
}

/// Why [`Decoder`] rejected an operator.
#[derive(Debug)]
pub(crate) enum Rejected {
    /// The validator's error.
    Invalid(BinaryReaderError),
    /// A SIMD operator, and the validator has no SIMD visitor (wasmparser built without
    /// its `simd` feature; with it, the validator rejects SIMD itself).
    Simd,
    /// A profile limit the walker enforces (nesting depth); boxed to keep every visit
    /// method's result two words.
    Limit(Box<ValidationError>),
}

impl From<BinaryReaderError> for Rejected {
    fn from(e: BinaryReaderError) -> Rejected {
        Rejected::Invalid(e)
    }
}

macro_rules! define_visit {
    ($(@$proposal:ident $op:ident $({ $($arg:ident: $argty:ty),* })? => $visit:ident ($($ann:tt)*))*) => {
        $(
            #[inline]
            fn $visit(&mut self $($(,$arg: $argty)*)?) -> Self::Output {
                self.validator.$visit($($($arg.clone()),*)?)?;
                let op = Operator::$op $({ $($arg),* })?;
                self.walker.visit(self.offset, &op).map_err(|e| Rejected::Limit(Box::new(e)))?;
                if self.keep {
                    self.out.push(op);
                }
                Ok(())
            }
        )*
    };
}

macro_rules! define_visit_simd {
    ($(@$proposal:ident $op:ident $({ $($arg:ident: $argty:ty),* })? => $visit:ident ($($ann:tt)*))*) => {
        $(
            fn $visit(&mut self $($(,$arg: $argty)*)?) -> Self::Output {
                match self.validator.simd_visitor() {
                    Some(v) => v.$visit($($($arg.clone()),*)?)?,
                    None => return Err(Rejected::Simd),
                }
                let op = Operator::$op $({ $($arg),* })?;
                self.walker.visit(self.offset, &op).map_err(|e| Rejected::Limit(Box::new(e)))?;
                if self.keep {
                    self.out.push(op);
                }
                Ok(())
            }
        )*
    };
}

impl<'a, V> VisitOperator<'a> for Decoder<'_, 'a, '_, '_, V>
where
    V: VisitOperator<'a, Output = wasmparser::Result<()>>,
{
    type Output = Result<(), Rejected>;

    fn simd_visitor(&mut self) -> Option<&mut dyn VisitSimdOperator<'a, Output = Self::Output>> {
        Some(self)
    }

    wasmparser::for_each_visit_operator!(define_visit);
}

impl<'a, V> VisitSimdOperator<'a> for Decoder<'_, 'a, '_, '_, V>
where
    V: VisitOperator<'a, Output = wasmparser::Result<()>>,
{
    wasmparser::for_each_visit_simd_operator!(define_visit_simd);
}
