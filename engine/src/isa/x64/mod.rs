//! x86-64: instruction encoding (`asm`), register roles (`regs`) and the
//! [`crate::masm::MacroAssembler`] implementation (`masm`).
//!
//! The calling convention between guest functions (the "ABI"): `r15` = callee vmctx,
//! `rsi` = pointer to the argument/result slots, `rdi` = callee context (same as `r15` for
//! wasm callees, the host context for host functions), `rdx` = caller vmctx, `r14` = gas
//! remaining (written to the store context first when the callee may be a host function).
//! A callee reached through a function reference (a function's entry thunk, or a host
//! function's shim) returns `eax = 0`, or a nonzero trap code (host functions only), and
//! the gas remaining in `rdx`. A direct call enters the callee's body, which keeps the gas
//! in `r14` and returns nothing but its results.

pub mod asm;
pub mod masm;
pub mod regs;

/// Optional CPU features the code generator uses when the host has them, as
/// `(name, present)` on the running machine: BMI2 (`rorx`, `shlx`, `shrx`, `sarx`).
pub fn optional_features() -> Vec<(&'static str, bool)> {
    #[cfg(target_arch = "x86_64")]
    {
        vec![("bmi2", std::is_x86_feature_detected!("bmi2"))]
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        vec![("bmi2", false)]
    }
}

/// CPU features the generated code requires (SSE4.1 `roundss`, `lzcnt`, `tzcnt` from
/// BMI1, `popcnt`), as `(name, present)` on the running machine.
pub fn required_features() -> Vec<(&'static str, bool)> {
    #[cfg(target_arch = "x86_64")]
    {
        vec![
            ("sse4.1", std::is_x86_feature_detected!("sse4.1")),
            ("popcnt", std::is_x86_feature_detected!("popcnt")),
            ("lzcnt", std::is_x86_feature_detected!("lzcnt")),
            ("bmi1", std::is_x86_feature_detected!("bmi1")),
        ]
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        vec![("sse4.1", false), ("popcnt", false), ("lzcnt", false), ("bmi1", false)]
    }
}
