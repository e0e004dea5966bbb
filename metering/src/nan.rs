//! NaN canonicalization rules shared by the reference instrumenter and the compiler.
//!
//! After every float operator that can produce a NaN, a NaN result is replaced by the
//! canonical NaN, positive with only the top fraction bit set. x86-64 produces a negative
//! "default NaN" where aarch64 produces a positive one, and propagates payloads where
//! aarch64 may not; canonicalizing makes every float result bit-identical across ISAs
//! (`specs/profile.md`, "Floats"). Operators that only move or flip bits (`abs`, `neg`,
//! `copysign`, loads, stores, `reinterpret`, `select`) keep their input bits and are not
//! canonicalized; conversions from integers never produce NaN.

use wasmparser::Operator;

/// The canonical f32 NaN bits.
pub const CANONICAL_NAN_F32: u32 = 0x7fc0_0000;
/// The canonical f64 NaN bits.
pub const CANONICAL_NAN_F64: u64 = 0x7ff8_0000_0000_0000;

/// Width of a float result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FloatWidth {
    /// `f32`.
    F32,
    /// `f64`.
    F64,
}

/// If `op` can produce a NaN, the width of its (single) float result, which must be
/// canonicalized; otherwise `None`.
#[inline]
pub fn canonicalized_result(op: &Operator<'_>) -> Option<FloatWidth> {
    use Operator as O;
    match op {
        O::F32Add | O::F32Sub | O::F32Mul | O::F32Div | O::F32Sqrt | O::F32Min | O::F32Max
        | O::F32Ceil | O::F32Floor | O::F32Trunc | O::F32Nearest | O::F32DemoteF64 => {
            Some(FloatWidth::F32)
        }
        O::F64Add | O::F64Sub | O::F64Mul | O::F64Div | O::F64Sqrt | O::F64Min | O::F64Max
        | O::F64Ceil | O::F64Floor | O::F64Trunc | O::F64Nearest | O::F64PromoteF32 => {
            Some(FloatWidth::F64)
        }
        _ => None,
    }
}

/// Canonicalizes an f32 result given as bits.
pub fn canonicalize_f32(bits: u32) -> u32 {
    if f32::from_bits(bits).is_nan() { CANONICAL_NAN_F32 } else { bits }
}

/// Canonicalizes an f64 result given as bits.
pub fn canonicalize_f64(bits: u64) -> u64 {
    if f64::from_bits(bits).is_nan() { CANONICAL_NAN_F64 } else { bits }
}
