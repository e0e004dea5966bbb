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

/// Validates each visited operator with `validator` and returns it decoded.
pub(crate) struct Decoder<V> {
    /// The function validator's visitor for this operator.
    pub(crate) validator: V,
}

/// Why [`Decoder`] rejected an operator.
#[derive(Debug)]
pub(crate) enum Rejected {
    /// The validator's error.
    Invalid(BinaryReaderError),
    /// A SIMD operator, and the validator has no SIMD visitor (wasmparser built without
    /// its `simd` feature; with it, the validator rejects SIMD itself).
    Simd,
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
                Ok(Operator::$op $({ $($arg),* })?)
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
                Ok(Operator::$op $({ $($arg),* })?)
            }
        )*
    };
}

impl<'a, V> VisitOperator<'a> for Decoder<V>
where
    V: VisitOperator<'a, Output = wasmparser::Result<()>>,
{
    type Output = Result<Operator<'a>, Rejected>;

    fn simd_visitor(&mut self) -> Option<&mut dyn VisitSimdOperator<'a, Output = Self::Output>> {
        Some(self)
    }

    wasmparser::for_each_visit_operator!(define_visit);
}

impl<'a, V> VisitSimdOperator<'a> for Decoder<V>
where
    V: VisitOperator<'a, Output = wasmparser::Result<()>>,
{
    wasmparser::for_each_visit_simd_operator!(define_visit_simd);
}
