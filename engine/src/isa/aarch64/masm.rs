//! The aarch64 [`MacroAssembler`].
//!
//! Register roles are in `regs.rs`: `x28` holds the instance vmctx, `x27` the store
//! context, `x29` the frame; `x14`-`x17` and `x8` are scratch. Frame layout: `x29` points
//! at the saved `x29`/`x30` pair; the saved vmctx is at `x29-8`, the caller's argument
//! pointer at `x29-16`, and the `slots` 8-byte slots lie below, slot 0 lowest; `sp` is
//! 16-byte aligned and slot `n` is addressed as `[sp + pad + 8n]` (`pad` is 0 or 8).
//! Floats travel in general-purpose registers as bits and visit `v0`/`v1` only inside
//! one operation, as on x86-64.
//!
//! Branch ranges: conditional branches (`b.cond`, `cbz`, `cbnz`) reach +-1 MiB. A forward
//! conditional branch whose label is not yet bound is remembered; before the oldest such
//! branch would fall out of range, a *veneer island* is emitted at an operation boundary
//! (`b over; b label1; b label2; ...; over:`) and the pending branches are pointed at
//! their veneers, whose `b` reaches +-128 MiB. Jump tables are emitted whole after such
//! an island when needed. Code beyond +-128 MiB fails with
//! [`CompileError::CodeTooLarge`].

use std::collections::{HashMap, VecDeque};

use super::asm::{imm19_fits, r, Alu, Asm, Cond, FpBin, FpUn, Ldst, Shift};
use super::regs::{ADDR, ALLOCATABLE, FLOAT_ALLOCATABLE, S0, S1, S2, S3, STORE_CTX, VMCTX, WINDOW};
use crate::error::CompileError;
use crate::masm::*;
use crate::runtime::vmctx::*;

#[derive(Debug, Clone, Copy)]
enum Fixup {
    /// `b`/`bl` at `at`.
    Imm26 { at: usize, label: Label },
    /// 32-bit offset of the label from `base` (jump tables).
    Table { at: usize, base: usize, label: Label },
}

/// Distance from the oldest pending conditional branch's range limit at which an island
/// is emitted; every operation emits less than this between two checks.
const ISLAND_MARGIN: usize = 128 << 10;

/// The aarch64 MacroAssembler over one module's code buffer.
#[derive(Debug)]
pub struct Aarch64Masm {
    asm: Asm,
    labels: Vec<Option<usize>>,
    fixups: Vec<Fixup>,
    /// Conditional branches to labels that were unbound when emitted, oldest first.
    pending: VecDeque<(usize, Label)>,
    trap_labels: [Option<Label>; TrapCode::COUNT],
    /// Stub: trap with the code in `x0`.
    trap_x0: Option<Label>,
    /// Stub: trap with the code in `x1`.
    trap_x1: Option<Label>,
    /// Slots of the current function's frame.
    slots: u32,
    /// Bytes between `sp` and slot 0 in the current frame.
    pad: u32,
    /// `Some(b)` when the window register holds `sp + b` at this point of the code.
    window: Option<i64>,
    trampoline: u32,
}

impl Default for Aarch64Masm {
    fn default() -> Self {
        Self::new()
    }
}

/// The zero register in operand positions that read it (31).
const ZR: u8 = r::ZR;
/// The stack pointer in operand positions that accept it (31).
const SP: u8 = r::SP;

impl Aarch64Masm {
    /// A new assembler; emits the entry trampoline first.
    pub fn new() -> Aarch64Masm {
        Aarch64Masm::with_capacity(0)
    }

    /// A new assembler whose code buffer starts with room for `bytes` bytes.
    pub fn with_capacity(bytes: usize) -> Aarch64Masm {
        Self::with_buffer(Vec::new(), bytes)
    }

    /// As [`Self::with_capacity`], emitting into `buffer` (cleared first): a buffer kept
    /// from an earlier compilation spares this one its allocation and growth.
    pub fn with_buffer(buffer: Vec<u8>, bytes: usize) -> Aarch64Masm {
        let mut m = Aarch64Masm::empty(buffer, bytes);
        m.emit_trampoline();
        m
    }

    /// An assembler over `buffer` (cleared, room for `bytes` bytes) with nothing emitted.
    fn empty(mut buffer: Vec<u8>, bytes: usize) -> Aarch64Masm {
        buffer.clear();
        buffer.reserve(bytes);
        let asm = Asm { buf: buffer };
        Aarch64Masm {
            asm,
            labels: Vec::new(),
            fixups: Vec::new(),
            pending: VecDeque::new(),
            trap_labels: [None; TrapCode::COUNT],
            trap_x0: None,
            trap_x1: None,
            slots: 0,
            pad: 0,
            window: None,
            trampoline: 0,
        }
    }

    /// Host-to-wasm entry (AAPCS64):
    /// `extern "C" fn(vmctx, code, args, store_ctx, stack_top) -> u32 trap code`.
    /// Saves the callee-saved registers it uses, switches to `stack_top` when nonzero,
    /// records the unwind point for traps (the store context's `trap_sp` points at a
    /// 16-byte record holding the resume address), and calls `code` with the guest ABI.
    /// A trap stub restores `sp` from `trap_sp` and branches to the resume address with
    /// the trap code in `x0`; a normal return arrives there with `x0 = 0`.
    fn emit_trampoline(&mut self) {
        let a = &mut self.asm;
        self.trampoline = a.pos() as u32;
        a.stp_pre16(r::FP, r::LR, SP);
        a.mov_sp(r::FP, SP);
        for (x, y) in [(r::X19, r::X20), (r::X21, r::X22), (r::X23, r::X24), (r::X25, r::X26), (r::X27, r::X28)] {
            a.stp_pre16(x, y, SP);
        }
        a.mov_rr(true, VMCTX, r::X0);
        a.mov_rr(true, STORE_CTX, r::X3);
        a.mov_sp(r::X9, SP); // old sp
        a.addsub_imm(Alu::Subs, true, ZR, r::X4, 0, false);
        a.csel(true, r::X10, r::X4, r::X9, Cond::Ne);
        let aligned = a.try_logical_imm(Alu::And, true, r::X10, r::X10, !15u64);
        debug_assert!(aligned);
        a.mov_sp(SP, r::X10);
        a.ldst_uimm(Ldst::Ldr64, r::X11, STORE_CTX, SC_TRAP_SP as u32);
        a.stp_pre16(r::X9, r::X11, SP); // old sp, enclosing trap sp (re-entrancy)
        let adr_at = a.pos();
        a.adr(r::X12, 0);
        a.stp_pre16(r::X12, ZR, SP); // resume address
        a.mov_sp(r::X13, SP);
        a.ldst_uimm(Ldst::Str64, r::X13, STORE_CTX, SC_TRAP_SP as u32);
        a.mov_rr(true, S0, r::X1);
        a.mov_rr(true, r::X1, r::X2);
        a.mov_rr(true, r::X0, VMCTX);
        a.blr(S0);
        // Resume point: sp == trap_sp; x0 = 0 or a trap code.
        let resume = a.pos();
        a.patch_adr(adr_at, resume);
        a.addsub_imm(Alu::Add, true, SP, SP, 16, false);
        a.ldp_post16(r::X9, r::X11, SP);
        a.ldst_uimm(Ldst::Str64, r::X11, STORE_CTX, SC_TRAP_SP as u32);
        a.mov_sp(SP, r::X9);
        for (x, y) in [(r::X27, r::X28), (r::X25, r::X26), (r::X23, r::X24), (r::X21, r::X22), (r::X19, r::X20)] {
            a.ldp_post16(x, y, SP);
        }
        a.ldp_post16(r::FP, r::LR, SP);
        a.ret();
    }

    /// `[sp + off]` of slot `n`.
    fn slot_off(&self, slot: u32) -> i64 {
        i64::from(self.pad) + 8 * i64::from(slot)
    }

    /// `op rt, [base, #off]`, through the `ADDR` scratch when the offset does not fit.
    fn ldst(&mut self, op: Ldst, rt: u8, base: u8, off: i64) {
        if !self.asm.try_ldst(op, rt, base, off) {
            self.asm.mov_imm(ADDR, off as u64);
            self.asm.ldst_reg(op, rt, base, ADDR);
        }
    }

    /// Accesses slot `slot`. Slots within 32 KiB of `sp` are one instruction; farther
    /// ones go through the window register (`x26 = sp + base`), which is moved (one `add`)
    /// only when the slot lies outside its current 32 KiB window. The window is forgotten
    /// at every label and call, so each access costs at most two instructions and code
    /// with locality (the operand stack) stays near one instruction per access.
    fn ldst_slot(&mut self, op: Ldst, rt: u8, slot: u32) {
        let off = self.slot_off(slot);
        if self.asm.try_ldst(op, rt, SP, off) {
            return;
        }
        const SPAN: i64 = 4095 * 8;
        let base = match self.window {
            Some(b) if off >= b && off - b <= SPAN => b,
            _ => {
                // Centre a 4 KiB-aligned window on the slot.
                let b = (off - SPAN / 2).max(0) & !0xfff;
                if b < (1 << 24) {
                    self.asm.addsub_imm(Alu::Add, true, WINDOW, SP, (b >> 12) as u32, true);
                } else {
                    self.asm.mov_imm(WINDOW, b as u64);
                    self.asm.addsub_ext(false, WINDOW, SP, WINDOW);
                }
                self.window = Some(b);
                b
            }
        };
        self.asm.ldst_uimm(op, rt, WINDOW, (off - base) as u32);
    }

    /// `rd = sp + offset of slot n`.
    fn slot_addr(&mut self, rd: u8, slot: u32) {
        let off = self.slot_off(slot) as u64;
        if !self.asm.try_addsub_imm(Alu::Add, true, rd, SP, off) {
            self.asm.mov_imm(rd, off);
            self.asm.addsub_ext(false, rd, SP, rd);
        }
    }

    /// `rd = rn + imm` (64-bit), using `tmp` when `imm` does not encode.
    fn add_imm(&mut self, rd: u8, rn: u8, imm: u64, tmp: u8) {
        if !self.asm.try_addsub_imm(Alu::Add, true, rd, rn, imm) {
            self.asm.mov_imm(tmp, imm);
            self.asm.alu_rr(Alu::Add, true, rd, rn, tmp);
        }
    }

    fn label_pos(&self, label: Label) -> Option<usize> {
        self.labels[label.0 as usize]
    }

    /// Emits the conditional-branch word `word` (a `b.cond`, `cbz` or `cbnz` with a zero
    /// offset) to `label`.
    fn cond_branch(&mut self, word: u32, label: Label) {
        let at = self.asm.pos();
        match self.label_pos(label) {
            Some(t) if imm19_fits(t as i64 - at as i64) => {
                self.asm.emit(word);
                let ok = self.asm.patch_imm19(at, t);
                debug_assert!(ok);
            }
            Some(_) => {
                // Backward and far: skip over an unconditional branch when not taken.
                self.asm.emit(invert_cond_branch(word) | (2 << 5));
                let b = self.asm.b();
                self.fixups.push(Fixup::Imm26 { at: b, label });
            }
            None => {
                self.asm.emit(word);
                self.pending.push_back((at, label));
            }
        }
    }

    fn b_cond(&mut self, cond: Cond, label: Label) {
        self.cond_branch(0x5400_0000 | cond as u32, label);
    }

    /// `cbz`/`cbnz` on the 32-bit (`w` false) or 64-bit register `rt`.
    fn cbz(&mut self, nonzero: bool, w: bool, rt: u8, label: Label) {
        let word = (if w { 1 << 31 } else { 0 }) | if nonzero { 0x3500_0000 } else { 0x3400_0000 } | u32::from(rt);
        self.cond_branch(word, label);
    }

    /// Emits a veneer island when the next `bytes` of code could push the oldest pending
    /// conditional branch out of range.
    fn ensure_room(&mut self, bytes: usize) {
        let Some(&(oldest, _)) = self.pending.front() else { return };
        let limit = oldest + (1 << 20);
        let island = 4 * (self.pending.len() + 1);
        if self.asm.pos() + bytes + island + ISLAND_MARGIN >= limit {
            self.emit_island();
        }
    }

    fn emit_island(&mut self) {
        let pending = std::mem::take(&mut self.pending);
        let mut open = Vec::new();
        for (at, label) in pending {
            match self.label_pos(label) {
                Some(t) => {
                    if !self.asm.patch_imm19(at, t) {
                        // Cannot happen: the label was bound after the branch, within range.
                        open.push((at, label));
                    }
                }
                None => open.push((at, label)),
            }
        }
        if open.is_empty() {
            return;
        }
        let over = self.asm.b();
        let mut veneers: HashMap<Label, usize> = HashMap::new();
        for (at, label) in open {
            let v = *veneers.entry(label).or_insert_with(|| {
                let v = self.asm.b();
                self.fixups.push(Fixup::Imm26 { at: v, label });
                v
            });
            let ok = self.asm.patch_imm19(at, v);
            debug_assert!(ok, "island placed within range");
        }
        let end = self.asm.pos();
        let ok = self.asm.patch_imm26(over, end);
        debug_assert!(ok);
    }

    fn room(&mut self) {
        self.ensure_room(0);
    }

    fn trap_label(&mut self, code: TrapCode) -> Label {
        if let Some(l) = self.trap_labels[code as usize] {
            return l;
        }
        let l = self.new_label();
        self.trap_labels[code as usize] = Some(l);
        l
    }

    fn trap_if(&mut self, cond: Cond, code: TrapCode) {
        let l = self.trap_label(code);
        self.b_cond(cond, l);
    }

    fn trap_x0_label(&mut self) -> Label {
        if let Some(l) = self.trap_x0 {
            return l;
        }
        let l = self.new_label();
        self.trap_x0 = Some(l);
        l
    }

    fn trap_x1_label(&mut self) -> Label {
        if let Some(l) = self.trap_x1 {
            return l;
        }
        let l = self.new_label();
        self.trap_x1 = Some(l);
        l
    }

    fn w(size: Size) -> bool {
        size == Size::S64
    }

    /// An immediate truncated to the operation size.
    fn sized(size: Size, v: u64) -> u64 {
        if size == Size::S64 {
            v
        } else {
            v & 0xffff_ffff
        }
    }

    /// The two's-complement negation of `v` at the operation size.
    fn neg_sized(size: Size, v: u64) -> u64 {
        Self::sized(size, v.wrapping_neg())
    }

    /// The global's cell as `(base register, offset)`: in the vmctx itself, or behind a
    /// pointer loaded into `tmp`.
    fn global_mem(&mut self, tmp: u8, at: GlobalAccess) -> (u8, i64) {
        match at {
            GlobalAccess::Value(off) => (VMCTX, i64::from(off)),
            GlobalAccess::Cell(off) => {
                self.ldst(Ldst::Ldr64, tmp, VMCTX, i64::from(off));
                (tmp, 0)
            }
            GlobalAccess::Table(off) => {
                self.ldst(Ldst::Ldr64, tmp, VMCTX, i64::from(VM_GLOBALS));
                self.ldst(Ldst::Ldr64, tmp, tmp, i64::from(off));
                (tmp, 0)
            }
        }
    }

    /// The A64 condition of an integer comparison.
    fn cond(cc: IntCmp) -> Cond {
        match cc {
            IntCmp::Eq => Cond::Eq,
            IntCmp::Ne => Cond::Ne,
            IntCmp::LtS => Cond::Lt,
            IntCmp::LtU => Cond::Lo,
            IntCmp::GtS => Cond::Gt,
            IntCmp::GtU => Cond::Hi,
            IntCmp::LeS => Cond::Le,
            IntCmp::LeU => Cond::Ls,
            IntCmp::GeS => Cond::Ge,
            IntCmp::GeU => Cond::Hs,
        }
    }

    /// Sets flags for `rn - rhs` (`cmp`), choosing `cmp #imm`, `cmn #-imm` or a scratch.
    fn cmp(&mut self, size: Size, rn: u8, rhs: RegImm) {
        let w = Self::w(size);
        match rhs {
            RegImm::Reg(s) => self.asm.alu_rr(Alu::Subs, w, ZR, rn, s.0),
            RegImm::Imm(v) => {
                let v = Self::sized(size, v);
                if !self.asm.try_addsub_imm(Alu::Subs, w, ZR, rn, v)
                    && !self.asm.try_addsub_imm(Alu::Adds, w, ZR, rn, Self::neg_sized(size, v))
                {
                    self.asm.mov_imm(S0, v);
                    self.asm.alu_rr(Alu::Subs, w, ZR, rn, S0);
                }
            }
        }
    }

    /// Computes the effective address `zext(addr32) + offset` into `S0`, checks
    /// `S0 + bytes` against the memory length, and leaves the memory base in `S1`. The
    /// access is then at `[S1 + S0]`.
    fn bounds_check(&mut self, addr: Reg, offset: u64, bytes: u32) {
        self.asm.mov_rr(false, S0, addr.0);
        if offset != 0 {
            self.add_imm(S0, S0, offset, S2);
        }
        self.asm.addsub_imm(Alu::Add, true, S2, S0, bytes, false);
        // The vmctx's copies of the length and base: two independent loads, no chain.
        self.ldst(Ldst::Ldr64, S3, VMCTX, i64::from(VM_MEMORY_LEN));
        self.ldst(Ldst::Ldr64, S1, VMCTX, i64::from(VM_MEMORY_BASE));
        self.asm.alu_rr(Alu::Subs, true, ZR, S2, S3);
        self.trap_if(Cond::Hi, TrapCode::MemoryOutOfBounds);
    }

    fn load_arg(&mut self, dst: u8, src: ArgSrc) {
        match src {
            ArgSrc::Slot(s) => self.ldst_slot(Ldst::Ldr64, dst, s),
            ArgSrc::Imm(v) => self.asm.mov_imm(dst, v),
        }
    }

    /// Calls the function whose code is in `S0` with context `x0`, args at `args_slot`.
    fn call_s0_with_ctx_x0(&mut self, args_slot: u32) {
        self.slot_addr(r::X1, args_slot);
        self.asm.mov_rr(true, r::X2, VMCTX);
        self.asm.mov_rr(true, VMCTX, r::X0);
        self.asm.blr(S0);
        self.window = None;
        self.asm.ldst_simm9(Ldst::Ldr64, VMCTX, r::FP, -8);
        let l = self.trap_x0_label();
        self.cbz(true, false, r::X0, l);
    }

    /// Loads a float operand into `v{vd}`.
    fn load_fp(&mut self, size: Size, vd: u8, src: u8) {
        self.asm.fmov_to_fp(Self::w(size), vd, src);
    }

    /// Writes `v0` back to `dst`, canonicalizing NaN when asked (`fcmp v0, v0` is
    /// unordered, setting V, exactly for NaN).
    fn store_v0(&mut self, size: Size, dst: u8, canon: bool) {
        let w = Self::w(size);
        self.asm.fmov_from_fp(w, dst, 0);
        if canon {
            let bits = if w {
                keel_metering::nan::CANONICAL_NAN_F64
            } else {
                u64::from(keel_metering::nan::CANONICAL_NAN_F32)
            };
            self.asm.fcmp(w, 0, 0);
            self.asm.mov_imm(S0, bits);
            self.asm.csel(true, dst, S0, dst, Cond::Vs);
        }
    }

    /// Resolves every fixup; `Err` names the code size when a branch is out of range.
    fn resolve(&mut self) -> Result<(), CompileError> {
        let too_large = CompileError::CodeTooLarge(self.asm.pos());
        for (at, label) in std::mem::take(&mut self.pending) {
            let t = self.label_pos(label).ok_or_else(|| CompileError::Internal("unbound label".into()))?;
            if !self.asm.patch_imm19(at, t) {
                return Err(too_large);
            }
        }
        for f in std::mem::take(&mut self.fixups) {
            match f {
                Fixup::Imm26 { at, label } => {
                    let t = self.label_pos(label).ok_or_else(|| CompileError::Internal("unbound label".into()))?;
                    if !self.asm.patch_imm26(at, t) {
                        return Err(too_large);
                    }
                }
                Fixup::Table { at, base, label } => {
                    let t = self.label_pos(label).ok_or_else(|| CompileError::Internal("unbound label".into()))?;
                    let rel = t as i64 - base as i64;
                    self.asm.patch(at, rel as i32 as u32);
                }
            }
        }
        Ok(())
    }
}

/// The conditional-branch word with the opposite condition (`b.cond` flips the condition,
/// `cbz` and `cbnz` swap), offset cleared.
fn invert_cond_branch(word: u32) -> u32 {
    let word = word & 0xFF00_001F;
    if word & 0xFF00_0000 == 0x5400_0000 {
        word ^ 1
    } else {
        word ^ (1 << 24)
    }
}

impl MacroAssembler for Aarch64Masm {
    fn allocatable(&self) -> &'static [Reg] {
        ALLOCATABLE
    }

    fn new_label(&mut self) -> Label {
        self.labels.push(None);
        Label((self.labels.len() - 1) as u32)
    }

    fn bind(&mut self, label: Label) {
        self.labels[label.0 as usize] = Some(self.asm.pos());
        self.window = None;
    }

    fn local_reg_handed_over(&mut self, reg: Reg, zero_extended: bool) {
        // Nothing to track: every address is zero-extended before use (`bounds_check`'s
        // 32-bit move), whatever its register holds.
        let _ = (reg, zero_extended);
    }

    fn func_prologue(&mut self, p: &Prologue<'_>) {
        let Prologue { params, results, locals, slots, in_regs, zero_extend, zero_observed, .. } = *p;
        self.ensure_room(96 + 16 * params as usize + 8 * in_regs.len());
        self.slots = slots;
        self.window = None;
        let frame = (16u64 + 8 * u64::from(slots)).next_multiple_of(16);
        self.pad = (frame - 16 - 8 * u64::from(slots)) as u32;
        let a = &mut self.asm;
        a.stp_pre16(r::FP, r::LR, SP);
        a.mov_sp(r::FP, SP);
        if !a.try_addsub_imm(Alu::Sub, true, SP, SP, frame) {
            a.mov_imm(S0, frame);
            a.addsub_ext(true, SP, SP, S0);
        }
        a.ldst_simm9(Ldst::Str64, VMCTX, r::FP, -8);
        if results > 0 {
            a.ldst_simm9(Ldst::Str64, r::X1, r::FP, -16);
        }
        let in_reg = |i: u32| in_regs.iter().any(|p| p.0 == i);
        for i in (0..params).filter(|&i| !in_reg(i)) {
            self.ldst(Ldst::Ldr64, S0, r::X1, 8 * i64::from(i));
            self.ldst_slot(Ldst::Str64, S0, i);
        }
        // x1 (the arguments) is not allocatable: no local's register is it.
        for (k, &(i, reg)) in in_regs.iter().enumerate() {
            if i < params {
                let ldr = if zero_extend >> k & 1 != 0 { Ldst::Ldr32 } else { Ldst::Ldr64 };
                self.ldst(ldr, reg.0, r::X1, 8 * i64::from(i));
            } else if zero_observed(i) {
                self.asm.mov_imm(reg.0, 0);
            }
        }
        if locals > 0 {
            if locals <= 8 {
                for i in (params..params + locals).filter(|&i| !in_reg(i) && zero_observed(i)) {
                    self.ldst_slot(Ldst::Str64, ZR, i);
                }
            } else {
                self.slot_addr(S0, params);
                self.asm.mov_imm(S1, u64::from(locals));
                let top = self.new_label();
                self.bind(top);
                self.asm.str_post8(ZR, S0);
                self.asm.addsub_imm(Alu::Subs, true, S1, S1, 1, false);
                self.b_cond(Cond::Ne, top);
            }
        }
    }

    fn func_epilogue(&mut self, first_result: u32, results: u32) {
        self.ensure_room(64 + 16 * results as usize);
        if results > 0 {
            self.asm.ldst_simm9(Ldst::Ldr64, S1, r::FP, -16);
            for i in 0..results {
                self.ldst_slot(Ldst::Ldr64, S0, first_result + i);
                self.ldst(Ldst::Str64, S0, S1, 8 * i64::from(i));
            }
        }
        let a = &mut self.asm;
        a.movz(false, r::X0, 0, 0);
        a.mov_sp(SP, r::FP);
        a.ldp_post16(r::FP, r::LR, SP);
        a.ret();
    }

    fn stack_enter(&mut self, cost: u32) {
        self.room();
        self.ldst(Ldst::Ldr64, S0, STORE_CTX, i64::from(SC_STACK_USED));
        self.add_imm(S0, S0, u64::from(cost), S1);
        self.ldst(Ldst::Ldr64, S1, STORE_CTX, i64::from(SC_STACK_LIMIT));
        self.asm.alu_rr(Alu::Subs, true, ZR, S0, S1);
        self.trap_if(Cond::Hi, TrapCode::StackExhausted);
        self.ldst(Ldst::Str64, S0, STORE_CTX, i64::from(SC_STACK_USED));
    }

    fn stack_exit(&mut self, cost: u32) {
        self.room();
        self.ldst(Ldst::Ldr64, S0, STORE_CTX, i64::from(SC_STACK_USED));
        if !self.asm.try_addsub_imm(Alu::Sub, true, S0, S0, u64::from(cost)) {
            self.asm.mov_imm(S1, u64::from(cost));
            self.asm.alu_rr(Alu::Sub, true, S0, S0, S1);
        }
        self.ldst(Ldst::Str64, S0, STORE_CTX, i64::from(SC_STACK_USED));
    }

    fn charge_gas(&mut self, gas: u64) {
        self.room();
        self.ldst(Ldst::Ldr64, S0, STORE_CTX, i64::from(SC_GAS));
        if !self.asm.try_addsub_imm(Alu::Subs, true, S0, S0, gas) {
            self.asm.mov_imm(S1, gas);
            self.asm.alu_rr(Alu::Subs, true, S0, S0, S1);
        }
        self.trap_if(Cond::Lo, TrapCode::OutOfGas);
        self.ldst(Ldst::Str64, S0, STORE_CTX, i64::from(SC_GAS));
    }

    fn load_slot(&mut self, dst: Reg, slot: u32) {
        self.room();
        self.ldst_slot(Ldst::Ldr64, dst.0, slot);
    }

    fn load_slot_u32(&mut self, dst: Reg, slot: u32) {
        self.room();
        self.ldst_slot(Ldst::Ldr32, dst.0, slot);
    }

    fn store_slot(&mut self, slot: u32, src: Reg) {
        self.room();
        self.ldst_slot(Ldst::Str64, src.0, slot);
    }

    fn store_slot_imm(&mut self, slot: u32, imm: u64) {
        self.room();
        if imm == 0 {
            self.ldst_slot(Ldst::Str64, ZR, slot);
        } else {
            self.asm.mov_imm(S0, imm);
            self.ldst_slot(Ldst::Str64, S0, slot);
        }
    }

    fn copy_slot(&mut self, dst: u32, src: u32) {
        if dst == src {
            return;
        }
        self.room();
        self.ldst_slot(Ldst::Ldr64, S0, src);
        self.ldst_slot(Ldst::Str64, S0, dst);
    }

    fn mov(&mut self, dst: Reg, src: Reg) {
        if dst != src {
            self.room();
            self.asm.mov_rr(true, dst.0, src.0);
        }
    }

    fn mov_imm(&mut self, dst: Reg, imm: u64) {
        self.room();
        self.asm.mov_imm(dst.0, imm);
    }

    fn mov_u32(&mut self, dst: Reg, src: Reg) {
        self.room();
        self.asm.mov_rr(false, dst.0, src.0);
    }

    fn int_bin(&mut self, op: IntBin, size: Size, dst: Reg, rhs: RegImm) {
        self.int_bin_from(op, size, dst, dst, rhs);
    }

    fn int_bin_from(&mut self, op: IntBin, size: Size, dst: Reg, src: Reg, rhs: RegImm) {
        self.room();
        let w = Self::w(size);
        let bits = if w { 64 } else { 32 };
        let (d, n) = (dst.0, src.0);
        match (op, rhs) {
            (IntBin::Add | IntBin::Sub, RegImm::Imm(v)) => {
                let (alu, inv) = if op == IntBin::Add { (Alu::Add, Alu::Sub) } else { (Alu::Sub, Alu::Add) };
                let v = Self::sized(size, v);
                if !self.asm.try_addsub_imm(alu, w, d, n, v)
                    && !self.asm.try_addsub_imm(inv, w, d, n, Self::neg_sized(size, v))
                {
                    self.asm.mov_imm(S0, v);
                    self.asm.alu_rr(alu, w, d, n, S0);
                }
            }
            (IntBin::And | IntBin::Or | IntBin::Xor, RegImm::Imm(v)) => {
                let alu = match op {
                    IntBin::And => Alu::And,
                    IntBin::Or => Alu::Orr,
                    _ => Alu::Eor,
                };
                let v = Self::sized(size, v);
                if !self.asm.try_logical_imm(alu, w, d, n, v) {
                    self.asm.mov_imm(S0, v);
                    self.asm.alu_rr(alu, w, d, n, S0);
                }
            }
            (IntBin::Mul, RegImm::Imm(v)) => {
                self.asm.mov_imm(S0, Self::sized(size, v));
                self.asm.mul(w, d, n, S0);
            }
            (IntBin::Shl | IntBin::ShrS | IntBin::ShrU | IntBin::Rotl | IntBin::Rotr, RegImm::Imm(v)) => {
                let amount = (v % bits) as u32;
                let (sh, amount) = match op {
                    IntBin::Shl => (Shift::Lsl, amount),
                    IntBin::ShrS => (Shift::Asr, amount),
                    IntBin::ShrU => (Shift::Lsr, amount),
                    IntBin::Rotr => (Shift::Ror, amount),
                    _ => (Shift::Ror, (bits as u32 - amount) % bits as u32),
                };
                self.asm.shift_ri(sh, w, d, n, amount);
            }
            (_, RegImm::Reg(s)) => {
                let s = s.0;
                match op {
                    IntBin::Add => self.asm.alu_rr(Alu::Add, w, d, n, s),
                    IntBin::Sub => self.asm.alu_rr(Alu::Sub, w, d, n, s),
                    IntBin::And => self.asm.alu_rr(Alu::And, w, d, n, s),
                    IntBin::Or => self.asm.alu_rr(Alu::Orr, w, d, n, s),
                    IntBin::Xor => self.asm.alu_rr(Alu::Eor, w, d, n, s),
                    IntBin::Mul => self.asm.mul(w, d, n, s),
                    IntBin::Shl => self.asm.shift_rr(Shift::Lsl, w, d, n, s),
                    IntBin::ShrS => self.asm.shift_rr(Shift::Asr, w, d, n, s),
                    IntBin::ShrU => self.asm.shift_rr(Shift::Lsr, w, d, n, s),
                    IntBin::Rotr => self.asm.shift_rr(Shift::Ror, w, d, n, s),
                    IntBin::Rotl => {
                        // rotl(x, n) = rotr(x, -n); rorv takes the count modulo the width.
                        self.asm.alu_rr(Alu::Sub, w, S0, ZR, s);
                        self.asm.shift_rr(Shift::Ror, w, d, n, S0);
                    }
                }
            }
        }
    }

    fn int_bin_slot(&mut self, op: IntBin, size: Size, dst: Reg, slot: u32) {
        self.room();
        self.ldst_slot(Ldst::Ldr64, S3, slot);
        self.int_bin(op, size, dst, RegImm::Reg(Reg(S3)));
    }

    fn int_div(&mut self, op: IntDiv, size: Size, dst: Reg, rhs: Reg) {
        self.room();
        let w = Self::w(size);
        let (d, s) = (dst.0, rhs.0);
        let l = self.trap_label(TrapCode::IntegerDivideByZero);
        self.cbz(false, w, s, l);
        match op {
            IntDiv::DivU => self.asm.div(false, w, d, d, s),
            IntDiv::DivS => {
                // Overflow: MIN / -1 (sdiv itself would return MIN without trapping).
                self.asm.addsub_imm(Alu::Adds, w, ZR, s, 1, false);
                let ok = self.new_label();
                self.b_cond(Cond::Ne, ok);
                let min = if w { i64::MIN as u64 } else { u64::from(i32::MIN as u32) };
                self.asm.mov_imm(S0, min);
                self.asm.alu_rr(Alu::Subs, w, ZR, d, S0);
                self.trap_if(Cond::Eq, TrapCode::IntegerOverflow);
                self.bind(ok);
                self.asm.div(true, w, d, d, s);
            }
            IntDiv::RemS | IntDiv::RemU => {
                // d - (d / s) * s; MIN rem -1: sdiv gives MIN, and MIN - MIN * -1 wraps to 0.
                self.asm.div(op == IntDiv::RemS, w, S0, d, s);
                self.asm.msub(w, d, S0, s, d);
            }
        }
    }

    fn int_cmp(&mut self, cc: IntCmp, size: Size, dst: Reg, rhs: RegImm) {
        self.room();
        self.cmp(size, dst.0, rhs);
        self.asm.cset(false, dst.0, Self::cond(cc));
    }

    fn branch_cmp(&mut self, cc: IntCmp, size: Size, lhs: Reg, rhs: RegImm, target: Label) {
        self.room();
        match (cc, rhs) {
            (IntCmp::Eq | IntCmp::Ne, RegImm::Imm(0)) => {
                self.cbz(cc == IntCmp::Ne, Self::w(size), lhs.0, target);
            }
            _ => {
                self.cmp(size, lhs.0, rhs);
                self.b_cond(Self::cond(cc), target);
            }
        }
    }

    fn int_un(&mut self, op: IntUn, size: Size, dst: Reg) {
        self.room();
        let w = Self::w(size);
        let d = dst.0;
        match op {
            IntUn::Clz => self.asm.clz(w, d, d),
            IntUn::Ctz => {
                self.asm.rbit(w, d, d);
                self.asm.clz(w, d, d);
            }
            IntUn::Popcnt => {
                self.asm.fmov_to_fp(w, 0, d);
                self.asm.cnt8b(0, 0);
                self.asm.addv8b(0, 0);
                self.asm.fmov_from_fp(false, d, 0);
            }
            IntUn::Eqz => {
                self.asm.addsub_imm(Alu::Subs, w, ZR, d, 0, false);
                self.asm.cset(false, d, Cond::Eq);
            }
            IntUn::Extend8S => self.asm.sbfm(w, d, d, 0, 7),
            IntUn::Extend16S => self.asm.sbfm(w, d, d, 0, 15),
            IntUn::Extend32S => self.asm.sbfm(true, d, d, 0, 31),
            IntUn::ZeroExtend32 => self.asm.mov_rr(false, d, d),
        }
    }

    fn float_allocatable(&self) -> &'static [FReg] {
        FLOAT_ALLOCATABLE
    }

    fn f64_mov(&mut self, dst: FReg, src: FReg) {
        if dst != src {
            self.room();
            self.asm.fmov_dd(dst.0, src.0);
        }
    }

    fn f64_mov_imm(&mut self, dst: FReg, bits: u64) {
        self.room();
        if bits == 0 {
            self.asm.fmov_to_fp(true, dst.0, ZR);
        } else {
            self.asm.mov_imm(S0, bits);
            self.asm.fmov_to_fp(true, dst.0, S0);
        }
    }

    fn f64_from_gpr(&mut self, dst: FReg, src: Reg) {
        self.room();
        self.asm.fmov_to_fp(true, dst.0, src.0);
    }

    fn f64_to_gpr(&mut self, dst: Reg, src: FReg) {
        self.room();
        self.asm.fmov_from_fp(true, dst.0, src.0);
    }

    fn f64_load_slot(&mut self, dst: FReg, slot: u32) {
        self.room();
        self.ldst_slot(Ldst::Ldr64, S0, slot);
        self.asm.fmov_to_fp(true, dst.0, S0);
    }

    fn f64_store_slot(&mut self, slot: u32, src: FReg) {
        self.room();
        self.asm.fmov_from_fp(true, S0, src.0);
        self.ldst_slot(Ldst::Str64, S0, slot);
    }

    fn f64_load(&mut self, dst: FReg, addr: Reg, offset: u64) {
        self.room();
        self.bounds_check(addr, offset, 8);
        // The access is at [S1 + S0]; S2 is free once the check is done.
        self.asm.ldst_reg(Ldst::Ldr64, S2, S1, S0);
        self.asm.fmov_to_fp(true, dst.0, S2);
    }

    fn f64_store(&mut self, addr: Reg, src: FReg, offset: u64) {
        self.room();
        self.bounds_check(addr, offset, 8);
        self.asm.fmov_from_fp(true, S2, src.0);
        self.asm.ldst_reg(Ldst::Str64, S2, S1, S0);
    }

    fn f64_bin(&mut self, op: FloatBin, dst: FReg, rhs: FReg, canon: bool) {
        self.room();
        let op = match op {
            FloatBin::Add => FpBin::Add,
            FloatBin::Sub => FpBin::Sub,
            FloatBin::Mul => FpBin::Mul,
            FloatBin::Div => FpBin::Div,
        };
        self.asm.fp_bin(op, true, dst.0, dst.0, rhs.0);
        if canon {
            // `fcmp d, d` is unordered (V set) exactly for NaN.
            self.asm.fcmp(true, dst.0, dst.0);
            let ordered = self.new_label();
            self.b_cond(Cond::Vc, ordered);
            self.asm.mov_imm(S0, keel_metering::nan::CANONICAL_NAN_F64);
            self.asm.fmov_to_fp(true, dst.0, S0);
            self.bind(ordered);
        }
    }

    fn float_bin(&mut self, op: FloatBin, size: Size, dst: Reg, rhs: Reg, canon: bool) {
        self.room();
        self.load_fp(size, 0, dst.0);
        self.load_fp(size, 1, rhs.0);
        let op = match op {
            FloatBin::Add => FpBin::Add,
            FloatBin::Sub => FpBin::Sub,
            FloatBin::Mul => FpBin::Mul,
            FloatBin::Div => FpBin::Div,
        };
        self.asm.fp_bin(op, Self::w(size), 0, 0, 1);
        self.store_v0(size, dst.0, canon);
    }

    fn float_un(&mut self, op: FloatUn, size: Size, dst: Reg, canon: bool) {
        self.room();
        let w = Self::w(size);
        let d = dst.0;
        let un = |op| match op {
            FloatUn::Sqrt => Some(FpUn::Sqrt),
            FloatUn::Ceil => Some(FpUn::Frintp),
            FloatUn::Floor => Some(FpUn::Frintm),
            FloatUn::Trunc => Some(FpUn::Frintz),
            FloatUn::Nearest => Some(FpUn::Frintn),
            _ => None,
        };
        match op {
            FloatUn::Promote => {
                self.asm.fmov_to_fp(false, 1, d);
                self.asm.fcvt(true, 0, 1);
            }
            FloatUn::Demote => {
                self.asm.fmov_to_fp(true, 1, d);
                self.asm.fcvt(false, 0, 1);
            }
            FloatUn::ConvertI32S => self.asm.scvtf(w, false, 0, d),
            FloatUn::ConvertI64S => self.asm.scvtf(w, true, 0, d),
            FloatUn::ConvertI32U => self.asm.ucvtf(w, false, 0, d),
            other => {
                let fop = un(other).unwrap_or(FpUn::Sqrt);
                self.load_fp(size, 1, d);
                self.asm.fp_un(fop, w, 0, 1);
            }
        }
        self.store_v0(size, d, canon);
    }

    fn float_cmp(&mut self, cc: FloatCmp, size: Size, dst: Reg, rhs: Reg) {
        self.room();
        self.load_fp(size, 0, dst.0);
        self.load_fp(size, 1, rhs.0);
        self.asm.fcmp(Self::w(size), 0, 1);
        // Unordered sets C and V (N = Z = 0): every condition below is false for it, except
        // Ne.
        let c = match cc {
            FloatCmp::Eq => Cond::Eq,
            FloatCmp::Ne => Cond::Ne,
            FloatCmp::Lt => Cond::Mi,
            FloatCmp::Gt => Cond::Gt,
            FloatCmp::Le => Cond::Ls,
            FloatCmp::Ge => Cond::Ge,
        };
        self.asm.cset(false, dst.0, c);
    }

    fn select(&mut self, dst: Reg, alt: Reg, cond: Reg) {
        self.room();
        self.asm.addsub_imm(Alu::Subs, false, ZR, cond.0, 0, false);
        self.asm.csel(true, dst.0, dst.0, alt.0, Cond::Ne);
    }

    fn load(&mut self, kind: LoadKind, dst: Reg, addr: Reg, offset: u64) {
        self.room();
        self.bounds_check(addr, offset, kind.bytes());
        let op = match kind {
            LoadKind::U64 => Ldst::Ldr64,
            LoadKind::U32 => Ldst::Ldr32,
            LoadKind::S32To64 => Ldst::Ldrsw,
            LoadKind::U16 => Ldst::Ldrh,
            LoadKind::S16To32 => Ldst::Ldrsh32,
            LoadKind::S16To64 => Ldst::Ldrsh64,
            LoadKind::U8 => Ldst::Ldrb,
            LoadKind::S8To32 => Ldst::Ldrsb32,
            LoadKind::S8To64 => Ldst::Ldrsb64,
        };
        self.asm.ldst_reg(op, dst.0, S1, S0);
    }

    fn store(&mut self, bytes: u32, addr: Reg, value: Reg, offset: u64) {
        self.room();
        self.bounds_check(addr, offset, bytes);
        let op = match bytes {
            8 => Ldst::Str64,
            4 => Ldst::Str32,
            2 => Ldst::Strh,
            _ => Ldst::Strb,
        };
        self.asm.ldst_reg(op, value.0, S1, S0);
    }

    fn memory_size(&mut self, dst: Reg) {
        self.room();
        let d = dst.0;
        self.ldst(Ldst::Ldr64, d, VMCTX, i64::from(VM_MEMORY_LEN));
        self.asm.shift_ri(Shift::Lsr, true, d, d, 16);
    }

    fn global_get(&mut self, dst: Reg, at: GlobalAccess) {
        self.room();
        let (base, off) = self.global_mem(dst.0, at);
        self.ldst(Ldst::Ldr64, dst.0, base, off);
    }

    fn global_set(&mut self, at: GlobalAccess, src: Reg) {
        self.room();
        let (base, off) = self.global_mem(S0, at);
        self.ldst(Ldst::Str64, src.0, base, off);
    }

    fn jump(&mut self, target: Label) {
        self.room();
        let at = self.asm.b();
        self.fixups.push(Fixup::Imm26 { at, label: target });
    }

    fn branch(&mut self, cond: Reg, if_nonzero: bool, target: Label) {
        self.room();
        self.cbz(if_nonzero, false, cond.0, target);
    }

    fn br_table(&mut self, index: Reg, targets: &[Label], default: Label) {
        // The table must be contiguous with the code that indexes it: make room first.
        self.ensure_room(64 + 4 * targets.len());
        let n = targets.len() as u64;
        self.asm.mov_imm(S0, n);
        self.asm.alu_rr(Alu::Subs, false, ZR, index.0, S0);
        // b.lo in_range; b default (unconditional: no pending branch across the table).
        self.asm.emit(0x5400_0000 | Cond::Lo as u32 | (2 << 5));
        let at = self.asm.b();
        self.fixups.push(Fixup::Imm26 { at, label: default });
        // adr S1, table; ldrsw S0, [S1, w_index, uxtw #2]; add S1, S1, S0; br S1
        self.asm.adr(S1, 16);
        self.asm.ldrsw_uxtw2(S0, S1, index.0);
        self.asm.alu_rr(Alu::Add, true, S1, S1, S0);
        self.asm.br(S1);
        let table = self.asm.pos();
        for &t in targets {
            let at = self.asm.pos();
            self.asm.data32(0);
            self.fixups.push(Fixup::Table { at, base: table, label: t });
        }
    }

    /// The arguments are always in the argument area on aarch64 (`call_arg_regs` is
    /// empty).
    fn call_direct(&mut self, func: Label, args_slot: Option<u32>) {
        debug_assert!(args_slot.is_some(), "aarch64 passes no arguments in registers");
        self.room();
        self.slot_addr(r::X1, args_slot.unwrap_or(0));
        let at = self.asm.bl();
        self.window = None;
        self.fixups.push(Fixup::Imm26 { at, label: func });
    }

    /// Results go back through the argument area on aarch64 (no external entry per
    /// function to translate for other callers).
    fn call_result_reg(&self) -> Option<Reg> {
        None
    }

    fn call_import(&mut self, import: u32, args_slot: u32) {
        self.room();
        let base = i64::from(FUNCREF_SIZE) * i64::from(import);
        self.ldst(Ldst::Ldr64, S0, VMCTX, i64::from(VM_IMPORTS));
        self.ldst(Ldst::Ldr64, r::X0, S0, base + i64::from(FUNCREF_VMCTX));
        self.ldst(Ldst::Ldr64, S0, S0, base + i64::from(FUNCREF_CODE));
        self.call_s0_with_ctx_x0(args_slot);
    }

    fn call_indirect(&mut self, table: u32, type_index: u32, index: ArgSrc, args_slot: u32) {
        self.room();
        // S0 = zext(index); S1 = the VMTable.
        match index {
            ArgSrc::Imm(v) => self.asm.mov_imm(S0, v & 0xffff_ffff),
            ArgSrc::Slot(s) => self.ldst_slot(Ldst::Ldr32, S0, s),
        }
        self.ldst(Ldst::Ldr64, S1, VMCTX, i64::from(VM_TABLES));
        self.ldst(Ldst::Ldr64, S1, S1, 8 * i64::from(table));
        self.ldst(Ldst::Ldr64, S2, S1, i64::from(TBL_LEN));
        self.asm.alu_rr(Alu::Subs, true, ZR, S0, S2);
        self.trap_if(Cond::Hs, TrapCode::TableOutOfBounds);
        self.ldst(Ldst::Ldr64, S1, S1, i64::from(TBL_BASE));
        self.asm.shift_ri(Shift::Lsl, true, S0, S0, 3);
        self.asm.ldst_reg(Ldst::Ldr64, S0, S1, S0);
        let null = self.trap_label(TrapCode::IndirectCallToNull);
        self.cbz(false, true, S0, null);
        self.ldst(Ldst::Ldr64, S1, VMCTX, i64::from(VM_TYPE_IDS));
        self.ldst(Ldst::Ldr64, S1, S1, 8 * i64::from(type_index));
        self.ldst(Ldst::Ldr64, S2, S0, i64::from(FUNCREF_TYPE));
        self.asm.alu_rr(Alu::Subs, true, ZR, S1, S2);
        self.trap_if(Cond::Ne, TrapCode::BadSignature);
        self.ldst(Ldst::Ldr64, r::X0, S0, i64::from(FUNCREF_VMCTX));
        self.ldst(Ldst::Ldr64, S0, S0, i64::from(FUNCREF_CODE));
        self.call_s0_with_ctx_x0(args_slot);
    }

    fn libcall(&mut self, call: LibCall, args: &[ArgSrc], result_slot: Option<u32>) {
        self.room();
        const ARG_REGS: [u8; 5] = [r::X1, r::X2, r::X3, r::X4, r::X5];
        for (i, a) in args.iter().enumerate().take(ARG_REGS.len()) {
            self.load_arg(ARG_REGS[i], *a);
        }
        self.asm.mov_rr(true, r::X0, VMCTX);
        self.ldst(Ldst::Ldr64, S0, STORE_CTX, i64::from(SC_LIBCALLS) + 8 * call as i64);
        self.asm.blr(S0);
        self.window = None;
        // x27/x28 are callee-saved in AAPCS64: the store context and vmctx survive.
        let l = self.trap_x1_label();
        self.cbz(true, true, r::X1, l);
        if let Some(s) = result_slot {
            self.ldst_slot(Ldst::Str64, r::X0, s);
        }
    }

    fn trap(&mut self, code: TrapCode) {
        self.room();
        let l = self.trap_label(code);
        let at = self.asm.b();
        self.fixups.push(Fixup::Imm26 { at, label: l });
    }

    fn part(&self, bytes: usize) -> Aarch64Masm {
        Aarch64Masm::empty(Vec::new(), bytes)
    }

    fn seal_part(&mut self) {
        // Unconditional branches and jump-table entries whose labels are bound; pending
        // conditional branches stay pending (islands depend on them).
        let fixups = std::mem::take(&mut self.fixups);
        for f in fixups {
            let (Fixup::Imm26 { label, .. } | Fixup::Table { label, .. }) = f;
            match (self.label_pos(label), f) {
                (Some(t), Fixup::Imm26 { at, .. }) if self.asm.patch_imm26(at, t) => {}
                (Some(t), Fixup::Table { at, base, .. }) => self.asm.patch(at, (t as i64 - base as i64) as i32 as u32),
                _ => self.fixups.push(f),
            }
        }
    }

    fn append(&mut self, part: Aarch64Masm, shared: SharedLabels) -> u32 {
        // This assembler's pending conditional branches must stay in range across the
        // part: if the part could take the oldest out of range, an island goes first.
        self.ensure_room(part.asm.pos());
        let base = self.asm.pos();
        let stubs = self.trap_labels.iter_mut().chain([&mut self.trap_x0, &mut self.trap_x1]);
        let part_stubs = part.trap_labels.iter().chain([&part.trap_x0, &part.trap_x1]).copied();
        let map = append_labels(&mut self.labels, &part.labels, base, shared, stubs.zip(part_stubs));
        self.asm.buf.extend_from_slice(&part.asm.buf);
        let label = |l: Label| Label(map[l.0 as usize]);
        self.fixups.reserve(part.fixups.len());
        for f in part.fixups {
            self.fixups.push(match f {
                Fixup::Imm26 { at, label: l } => Fixup::Imm26 { at: at + base, label: label(l) },
                Fixup::Table { at, base: b, label: l } => Fixup::Table { at: at + base, base: b + base, label: label(l) },
            });
        }
        // The part's pending branches are younger than all of this assembler's.
        self.pending.extend(part.pending.into_iter().map(|(at, l)| (at + base, label(l))));
        self.window = None;
        base as u32
    }

    fn finish(mut self, functions: Vec<u32>, _signatures: &[(u32, u32)]) -> Result<CompiledCode, CompileError> {
        self.room();
        // Shared trap stubs.
        let common = self.new_label();
        for code in TrapCode::ALL {
            if let Some(l) = self.trap_labels[code as usize] {
                self.room();
                self.bind(l);
                if code == TrapCode::OutOfGas {
                    self.ldst(Ldst::Str64, ZR, STORE_CTX, i64::from(SC_GAS));
                }
                self.asm.movz(false, r::X0, code as u16, 0);
                self.jump(common);
            }
        }
        if let Some(l) = self.trap_x1 {
            self.room();
            self.bind(l);
            self.asm.mov_rr(true, r::X0, r::X1);
            self.jump(common);
        }
        if let Some(l) = self.trap_x0 {
            self.room();
            self.bind(l);
        }
        // Unwind: trap_sp points at the trampoline's record whose first word is the
        // resume address.
        self.bind(common);
        self.ldst(Ldst::Ldr64, S0, STORE_CTX, i64::from(SC_TRAP_SP));
        self.asm.mov_sp(SP, S0);
        self.asm.ldst_uimm(Ldst::Ldr64, r::LR, SP, 0);
        self.asm.br(r::LR);
        self.resolve()?;
        Ok(CompiledCode {
            code: std::mem::take(&mut self.asm.buf),
            trampoline: self.trampoline,
            functions,
            // Every access is checked in code (see `runtime::signals` for why).
            memory_trap_sites: Vec::new(),
            memory_trap_stub: 0,
        })
    }

    fn offset(&self) -> u32 {
        self.asm.pos() as u32
    }
}

impl Aarch64Masm {
    /// The code emitted so far (encoding tests disassemble it).
    pub fn code(&self) -> &[u8] {
        &self.asm.buf
    }
}
