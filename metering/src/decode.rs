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

/// Validates each visited operator with `validator` and appends it, decoded, to `out`
/// (built in place: no copy of the whole `Operator` per operator).
pub(crate) struct Decoder<'o, 'a, V> {
    /// The function validator's visitor for this operator.
    pub(crate) validator: V,
    /// Where the decoded operator goes.
    pub(crate) out: &'o mut Vec<Operator<'a>>,
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
                self.out.push(Operator::$op $({ $($arg),* })?);
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
                self.out.push(Operator::$op $({ $($arg),* })?);
                Ok(())
            }
        )*
    };
}

impl<'a, V> VisitOperator<'a> for Decoder<'_, 'a, V>
where
    V: VisitOperator<'a, Output = wasmparser::Result<()>>,
{
    type Output = Result<(), Rejected>;

    fn simd_visitor(&mut self) -> Option<&mut dyn VisitSimdOperator<'a, Output = Self::Output>> {
        Some(self)
    }

    wasmparser::for_each_visit_operator!(define_visit);
}

impl<'a, V> VisitSimdOperator<'a> for Decoder<'_, 'a, V>
where
    V: VisitOperator<'a, Output = wasmparser::Result<()>>,
{
    wasmparser::for_each_visit_simd_operator!(define_visit_simd);
}
