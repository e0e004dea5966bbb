//! aarch64 register roles.
//!
//! | register | role |
//! |---|---|
//! | `x0`-`x5` | arguments of calls (guest ABI and libcalls), results `x0`/`x1` |
//! | `x8`, `x14`-`x17` | scratch, never allocated |
//! | `x9`-`x13`, `x19`-`x25` | allocatable (every value is spilled before a call) |
//! | `x26` | frame window: `sp + base` for slots beyond 32 KiB of `sp` |
//! | `x18` | platform register: never touched |
//! | `x27` | store context (callee-saved in AAPCS64, so it survives host calls) |
//! | `x28` | instance vmctx (callee-saved) |
//! | `x29`, `x30`, `sp` | frame pointer, link register, stack pointer |
//! | `v0`-`v1` | float scratch inside one operation |
//! | `v16`-`v31` | allocatable to f64 values (caller-saved in AAPCS64) |

use super::asm::r;
use crate::masm::{FReg, Reg};

/// Registers the code generator may allocate.
pub static ALLOCATABLE: &[Reg] = &[
    Reg(r::X19),
    Reg(r::X20),
    Reg(r::X21),
    Reg(r::X22),
    Reg(r::X23),
    Reg(r::X24),
    Reg(r::X25),
    Reg(r::X9),
    Reg(r::X10),
    Reg(r::X11),
    Reg(r::X12),
    Reg(r::X13),
];

/// Float registers the code generator may allocate to f64 values: `v16`-`v31`, whose
/// low 64 bits AAPCS64 leaves caller-saved (`v8`-`v15` are the host's).
pub static FLOAT_ALLOCATABLE: &[FReg] = &[
    FReg(16),
    FReg(17),
    FReg(18),
    FReg(19),
    FReg(20),
    FReg(21),
    FReg(22),
    FReg(23),
    FReg(24),
    FReg(25),
    FReg(26),
    FReg(27),
    FReg(28),
    FReg(29),
    FReg(30),
    FReg(31),
];

/// Store context (pinned).
pub const STORE_CTX: u8 = r::X27;
/// Instance vmctx (pinned).
pub const VMCTX: u8 = r::X28;
/// First scratch register.
pub const S0: u8 = r::X16;
/// Second scratch register.
pub const S1: u8 = r::X17;
/// Third scratch register.
pub const S2: u8 = r::X15;
/// Fourth scratch register.
pub const S3: u8 = r::X14;
/// Window register for far frame slots (see `masm.rs`, `ldst_slot`).
pub const WINDOW: u8 = r::X26;
/// Scratch for out-of-range memory displacements only.
pub const ADDR: u8 = r::X8;
