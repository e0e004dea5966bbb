//! aarch64 (AArch64, AAPCS64): instruction encoding (`asm`), register roles (`regs`) and
//! the [`crate::masm::MacroAssembler`] implementation (`masm`).
//!
//! The calling convention between guest functions (the "ABI"), chosen so that host
//! functions and runtime helpers, which are plain AAPCS64 `extern "C"` functions, are
//! called directly with no adapter: `x0` = callee context (the callee's vmctx for wasm
//! callees, the host context for host functions), `x1` = pointer to the argument/result
//! slots, `x2` = caller vmctx; `x28` = callee vmctx and `x27` = store context, both
//! callee-saved under AAPCS64. A callee returns `x0 = 0`, or a nonzero trap code (host
//! functions only). Runtime helpers (libcalls) take `x0` = vmctx and up to five
//! arguments in `x1`-`x5`, and return their two-word result in `x0`/`x1` (AAPCS64 returns
//! a 16-byte composite in `x0`/`x1`).

pub mod asm;
pub mod masm;
pub mod regs;

/// CPU features the generated code requires (Advanced SIMD for `cnt`/`addv`; the FP
/// unit comes with it), as `(name, present)` on the running machine (`false` on other
/// architectures: the code cannot run there at all).
pub fn required_features() -> Vec<(&'static str, bool)> {
    #[cfg(target_arch = "aarch64")]
    {
        vec![("neon", std::arch::is_aarch64_feature_detected!("neon"))]
    }
    #[cfg(not(target_arch = "aarch64"))]
    {
        vec![("neon", false)]
    }
}
