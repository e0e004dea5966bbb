//! x86-64 register roles.

use super::asm::r;
use crate::masm::Reg;

/// Registers the code generator may allocate: callee-clobbered or not, all values are
/// spilled before any call, so only these must stay clear of the scratch and pinned set
/// (`rax`, `rcx`, `rdx`, `r11` scratch; `rsp` frame; `rbp` memory base; `r14` gas counter; `r15`
/// vmctx).
pub static ALLOCATABLE: &[Reg] = &[
    Reg(r::RBX),
    Reg(r::RSI),
    Reg(r::RDI),
    Reg(r::R8),
    Reg(r::R9),
    Reg(r::R10),
    Reg(r::R12),
    Reg(r::R13),
];
