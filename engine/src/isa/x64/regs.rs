//! x86-64 register roles.

use super::asm::r;
use crate::masm::{FReg, Reg};

/// Registers the code generator may allocate: callee-clobbered or not, all values are
/// spilled before any call, so only these must stay clear of the scratch and pinned set
/// (`rax`, `r11` scratch; `rsp` frame; `rbp` memory base; `r14` gas counter; `r15`
/// vmctx). `rcx` and `rdx` have fixed roles at calls (stack count, gas; every value is
/// saved then) and in variable shifts and divisions, which keep a value they hold in
/// `r11` meanwhile. They come first: the value stack takes registers from the front
/// (short-lived values), locals from the back.
pub static ALLOCATABLE: &[Reg] = &[
    Reg(r::RCX),
    Reg(r::RDX),
    Reg(r::RBX),
    Reg(r::RSI),
    Reg(r::RDI),
    Reg(r::R8),
    Reg(r::R9),
    Reg(r::R10),
    Reg(r::R12),
    Reg(r::R13),
];

/// Where a direct call passes the arguments of a function with one to six parameters and
/// at most one result ([`crate::masm::MacroAssembler::call_arg_regs`]), argument k in
/// `ARG_REGS[k]`. Not `rcx` (the stack count at entry, the result at return), not `rdx`
/// (the callee's stack check computes the new count there before its prologue). `rsi`
/// first: a function with more parameters or results takes the argument pointer there.
pub static ARG_REGS: [Reg; ARG_REG_COUNT] = [Reg(r::RSI), Reg(r::RDI), Reg(r::R8), Reg(r::R9), Reg(r::R10), Reg(r::RBX)];

/// The number of [`ARG_REGS`].
pub const ARG_REG_COUNT: usize = 6;

/// Float registers the code generator may allocate to f64 values: `xmm2`-`xmm15` (all
/// caller-saved in the System V ABI; `xmm0` and `xmm1` stay scratch for the float
/// operations on general registers).
pub static FLOAT_ALLOCATABLE: &[FReg] = &[
    FReg(2),
    FReg(3),
    FReg(4),
    FReg(5),
    FReg(6),
    FReg(7),
    FReg(8),
    FReg(9),
    FReg(10),
    FReg(11),
    FReg(12),
    FReg(13),
    FReg(14),
    FReg(15),
];
