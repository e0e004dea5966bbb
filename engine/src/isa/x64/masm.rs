//! The x86-64 [`MacroAssembler`].
//!
//! Register roles (see `regs.rs`): `r15` holds the instance vmctx, `r14` the remaining gas
//! (the store context's counter, written back to the store context before every call that
//! leaves guest code, reloaded from the callee's second return register after it, and
//! stored by the entry trampoline when guest code returns or traps), `rbp` the frame;
//! `rax` and `r11` are scratch and never allocated. A function with one to six parameters
//! and at most one result takes its arguments in registers (`ARG_REGS`: `rsi`, `rdi`,
//! `r8`, `r9`, `r10`, `rbx`), any other through a pointer to the argument area in
//! `rsi`. A function's body returns nothing but its results (one result in `rcx`, more
//! through the caller's argument pointer); its external entry (a thunk emitted by
//! `finish`, what function references, exports and the trampoline point at) loads the
//! argument registers from the argument area, writes a result in `rcx` to it and returns
//! `eax = 0` and the gas in `rdx`, as the host shim does, so that callers through a
//! function reference need not know which kind they called.
//!
//! The deterministic stack count is passed by value: a function is entered with the slots
//! its callers use in `rcx`, checks its own frame against the budget, keeps the sum in its
//! frame and passes that to its callees. Returning releases nothing, so no memory counter
//! is read and written twice per call (a serial chain through memory across every call of
//! a recursion). The store context's `stack_used` is written before a call that may leave
//! guest code (imports, `call_indirect`), for host functions that re-enter wasm; the entry
//! trampoline reads it.
//!
//! `rbp` is not a frame pointer: it holds the instance's memory base, so that a memory
//! access is `[rbp + zext(addr) + offset]`. A function's external entry loads it, for
//! callers from outside the instance (the trampoline, `call_indirect`, imports); a direct
//! call stays in the instance and enters the body. Callers reload it after calls that may
//! enter another instance. Frames are addressed from `rsp`, which does not move inside a
//! function body: `slots` 8-byte slots from `rsp` up, slot 0 lowest, then the vmctx (saved
//! there only before a call that may switch it), the caller's argument pointer (kept
//! only by functions with more than one result) and the stack slots in use including
//! this frame; `rsp` is 16-byte aligned in the body. Values that are floats travel in
//! general-purpose registers and visit `xmm0`/`xmm1` only inside one operation.

use super::asm::{r, Alu, Asm, Cond, Mem, Shift};
use super::regs::{ALLOCATABLE, ARG_REGS, ARG_REG_COUNT, FLOAT_ALLOCATABLE};
use crate::masm::*;
use crate::runtime::vmctx::*;

#[derive(Debug, Clone, Copy)]
enum Fixup {
    /// rel32 relative to the end of the field.
    Rel32 { at: usize, label: Label },
    /// A jump table of `len` 32-bit entries at `at`, each holding a label number until
    /// `finish` replaces it by the label's offset from `at` (one fixup per table keeps
    /// huge `br_table`s at 4 bytes of memory per target).
    Table { at: usize, len: usize },
}

/// The x86-64 MacroAssembler over one module's code buffer.
#[derive(Debug)]
pub struct X64Masm {
    asm: Asm,
    labels: Vec<Option<usize>>,
    fixups: Vec<Fixup>,
    trap_labels: [Option<Label>; TrapCode::COUNT],
    /// Stub: trap with the code in `eax`.
    trap_eax: Option<Label>,
    /// Stub: trap with the code in `rdx`.
    trap_rdx: Option<Label>,
    /// Slots of the current function's frame.
    slots: u32,
    trampoline: u32,
    /// Offsets of the unchecked memory accesses (see [`CompiledCode::memory_trap_sites`]).
    memory_trap_sites: Vec<u32>,
    /// `(register, code offset)`: the instruction that ends at that offset wrote the
    /// register with a 32-bit operation, which zeroes its upper half. A memory access
    /// emitted right there (nothing emitted or bound in between) may use the register as
    /// its 64-bit index without zero-extending it first. The code generator also sets it
    /// for a value it knows is zero-extended ([`MacroAssembler::set_zero_extended`]).
    zero_extended: Option<(u8, usize)>,
    /// `(register, code offset)`: the instruction that ends at that offset was a memory
    /// access that left the register's zero-extension in `rax` and wrote neither. A memory
    /// access through the same register emitted right there (nothing emitted or bound in
    /// between) reuses `rax`.
    zext_in_scratch: Option<(u8, usize)>,
    /// The address register whose zero-extension [`Self::memory_operand`] just put in rax
    /// for the access being emitted (see [`Self::after_access`]).
    scratch_addr: Option<u8>,
    /// Bit r set: register r always holds a zero-extended i32 in this function: an i32
    /// local's (see [`Prologue::zero_extend`]).
    zero_extended_regs: u16,
    /// See [`X64Masm::use_bmi2`].
    bmi2: bool,
}

impl Default for X64Masm {
    fn default() -> Self {
        Self::new()
    }
}

/// Bytes of the frame header above the slots: vmctx, argument pointer, stack slots in use.
const FRAME_HEADER: u64 = 24;
/// The memory base register.
const MEM_BASE_REG: u8 = r::RBP;

const SCRATCH: u8 = r::RAX;
const SCRATCH2: u8 = r::R11;
/// The gas counter while guest code runs.
const GAS: u8 = r::R14;
/// Where a function with one result returns it to a direct caller
/// ([`MacroAssembler::call_result_reg`]): `rcx`, the value stack's first register (locals
/// take registers from the other end of `ALLOCATABLE`, so it is never a local's).
const RESULT_REG: Reg = Reg(r::RCX);

impl X64Masm {
    /// A new assembler; emits the entry trampoline first.
    pub fn new() -> X64Masm {
        Self::with_capacity(0)
    }

    /// A new assembler whose code buffer starts with room for `bytes` bytes.
    pub fn with_capacity(bytes: usize) -> X64Masm {
        Self::with_buffer(Vec::new(), bytes)
    }

    /// As [`Self::with_capacity`], emitting into `buffer` (cleared first): a buffer kept
    /// from an earlier compilation spares this one its allocation and growth.
    pub fn with_buffer(buffer: Vec<u8>, bytes: usize) -> X64Masm {
        let mut m = X64Masm::empty(buffer, bytes);
        m.emit_trampoline();
        m
    }

    /// An assembler over `buffer` (cleared, room for `bytes` bytes) with nothing emitted.
    fn empty(mut buffer: Vec<u8>, bytes: usize) -> X64Masm {
        buffer.clear();
        buffer.reserve(bytes);
        let asm = Asm { buf: buffer };
        // Contracts' code has about one label per 90 bytes, one fixup per 40 and one
        // memory access per 55, and `bytes` is usually about three times the code's size:
        // room for that spares these vectors their growth.
        X64Masm {
            asm,
            labels: Vec::with_capacity(bytes / 128),
            fixups: Vec::with_capacity(bytes / 64),
            trap_labels: [None; TrapCode::COUNT],
            trap_eax: None,
            trap_rdx: None,
            slots: 0,
            trampoline: 0,
            memory_trap_sites: Vec::with_capacity(bytes / 128),
            zero_extended: None,
            zext_in_scratch: None,
            scratch_addr: None,
            zero_extended_regs: 0,
            bmi2: false,
        }
    }

    /// Host-to-wasm entry:
    /// `extern "C" fn(vmctx, code, args, store_ctx, stack_top) -> u32 trap code`.
    /// Saves callee-saved registers, switches to `stack_top` when nonzero, records the
    /// unwind point for traps, loads the gas register, calls `code` with the wasm calling
    /// convention and stores the gas register back (on return and after a trap).
    fn emit_trampoline(&mut self) {
        let a = &mut self.asm;
        self.trampoline = a.pos() as u32;
        a.push(r::RBP);
        a.mov_rr(true, r::RBP, r::RSP);
        for reg in [r::RBX, r::R12, r::R13, r::R14, r::R15] {
            a.push(reg);
        }
        a.mov_rr(true, r::R15, r::RDI);
        a.mov_rr(true, r::RAX, r::RSP);
        // if stack_top != 0 { rsp = stack_top }
        a.test_rr(true, r::R8, r::R8);
        a.cmov(Cond::Ne, true, r::RSP, r::R8);
        a.alu_ri(Alu::And, true, r::RSP, -16);
        a.push(r::RAX); // old rsp
        a.push_m(Mem::new(r::RCX, SC_TRAP_SP)); // enclosing trap sp (re-entrancy)
        a.push(r::RCX); // the store context, twice (keeps the call 16-byte aligned)
        a.push(r::RCX);
        a.store(true, Mem::new(r::RCX, SC_TRAP_SP), r::RSP);
        a.load(true, GAS, Mem::new(r::RCX, SC_GAS));
        a.mov_rr(true, r::R11, r::RSI);
        a.mov_rr(true, r::RSI, r::RDX);
        a.load(true, r::RCX, Mem::new(r::RCX, SC_STACK_USED));
        a.call_r(r::R11);
        // eax = 0 on return, trap code when a trap stub "returned" here; rsp = trap sp.
        a.pop(r::RCX);
        a.pop(r::RCX);
        a.store(true, Mem::new(r::RCX, SC_GAS), GAS);
        a.pop_m(Mem::new(r::RCX, SC_TRAP_SP));
        a.pop(r::RSP);
        for reg in [r::R15, r::R14, r::R13, r::R12, r::RBX] {
            a.pop(reg);
        }
        a.pop(r::RBP);
        a.ret();
    }

    /// `dst = the store context` (from the vmctx in r15).
    fn load_store_ctx(&mut self, dst: u8) {
        self.asm.load(true, dst, Mem::new(r::R15, VM_STORE_CTX));
    }

    fn slot_mem(&self, slot: u32) -> Mem {
        Mem::new(r::RSP, (8 * u64::from(slot)) as i32)
    }

    /// The frame header's field `i` (0: vmctx, 1: argument pointer, 2: stack slots in use).
    fn header_mem(&self, i: u32) -> Mem {
        Mem::new(r::RSP, (8 * u64::from(self.slots) + 8 * u64::from(i)) as i32)
    }

    /// The end of a prologue whose arguments came in registers (`args`, the second one
    /// moved to r11 when `rdi_saved`): each parameter that lives in a register gets its
    /// argument (32 bits zero-extended for an i32), then each other local in a register
    /// its 0. The moves form a parallel move: each register is read before it is
    /// written, a cycle broken through the scratch register.
    fn enter_register_locals(&mut self, p: &Prologue<'_>, args: &[Reg], rdi_saved: bool) {
        // (destination, source, 32-bit) of each move still to emit.
        let mut pending = [(0u8, 0u8, false); ARG_REG_COUNT];
        let mut count = 0;
        for (k, &(i, reg)) in p.in_regs.iter().enumerate() {
            let Some(&Reg(mut src)) = args.get(i as usize) else { continue };
            if rdi_saved && src == r::RDI {
                src = SCRATCH2;
            }
            let zext = p.zero_extend >> k & 1 != 0;
            if src == reg.0 {
                if zext {
                    self.asm.mov_rr(false, src, src);
                }
            } else if count < pending.len() {
                pending[count] = (reg.0, src, zext);
                count += 1;
            }
        }
        while count > 0 {
            let ready = (0..count).find(|&i| !pending[..count].iter().any(|m| m.1 == pending[i].0));
            match ready {
                Some(i) => {
                    let (dst, src, zext) = pending[i];
                    self.asm.mov_rr(!zext, dst, src);
                    pending[i] = pending[count - 1];
                    count -= 1;
                }
                None => {
                    // A cycle: the first move's destination is read from the scratch
                    // register instead, which frees it.
                    let dst = pending[0].0;
                    self.asm.mov_rr(true, SCRATCH, dst);
                    for m in &mut pending[..count] {
                        if m.1 == dst {
                            m.1 = SCRATCH;
                        }
                    }
                }
            }
        }
        for &(i, reg) in p.in_regs {
            if i >= p.params && (p.zero_observed)(i) {
                self.asm.alu_rr(Alu::Xor, false, reg.0, reg.0);
            }
        }
    }

    /// Bytes `rsp` moves down on entry: the slots and the header, keeping `rsp` 16-byte
    /// aligned below the return address.
    fn frame_bytes(&self) -> u64 {
        (8 * u64::from(self.slots) + FRAME_HEADER + 8).next_multiple_of(16) - 8
    }

    /// `rcx` = the stack slots in use including this frame (what callees are entered with).
    fn load_stack_used_rcx(&mut self) {
        let m = self.header_mem(2);
        self.asm.load(true, r::RCX, m);
    }

    fn use_label_rel32(&mut self, at: usize, label: Label) {
        self.fixups.push(Fixup::Rel32 { at, label });
    }

    fn jcc(&mut self, cc: Cond, label: Label) {
        let at = self.asm.jcc_rel32(cc);
        self.use_label_rel32(at, label);
    }

    fn trap_label(&mut self, code: TrapCode) -> Label {
        if let Some(l) = self.trap_labels[code as usize] {
            return l;
        }
        let l = self.new_label();
        self.trap_labels[code as usize] = Some(l);
        l
    }

    fn trap_eax_label(&mut self) -> Label {
        if let Some(l) = self.trap_eax {
            return l;
        }
        let l = self.new_label();
        self.trap_eax = Some(l);
        l
    }

    fn trap_rdx_label(&mut self) -> Label {
        if let Some(l) = self.trap_rdx {
            return l;
        }
        let l = self.new_label();
        self.trap_rdx = Some(l);
        l
    }

    fn trap_if(&mut self, cc: Cond, code: TrapCode) {
        let l = self.trap_label(code);
        self.jcc(cc, l);
    }

    fn w(size: Size) -> bool {
        size == Size::S64
    }

    /// Prepares a `bytes`-wide access to `memory[zext(addr32) + offset]` and returns its
    /// operand: the caller emits the access instruction right away (nothing in between),
    /// then calls [`Self::after_access`]. Unchecked (`[rbp + index + offset]`, rbp = base)
    /// when the offset fits a displacement, so that the access stays inside the memory's
    /// guard reservation and a fault there is the out-of-bounds trap (`runtime::signals`):
    /// the instruction about to be emitted is then recorded as a trap site. The index is
    /// the address register itself when it is known to be zero-extended, else rax =
    /// zext(addr) (kept from the access right before when that went through the same
    /// register). Checked in code past that.
    #[inline]
    fn memory_operand(&mut self, addr: Reg, offset: u64, bytes: u32) -> Mem {
        let zext = self.zero_extended == Some((addr.0, self.asm.pos())) || self.zero_extended_regs >> addr.0 & 1 != 0;
        self.scratch_addr = None;
        if offset <= i32::MAX as u64 && zext {
            // The address was just written by a 32-bit operation, or its register only ever
            // holds zero-extended values: already zero-extended.
            self.memory_trap_sites.push(self.asm.pos() as u32);
            Mem::indexed(MEM_BASE_REG, addr.0, offset as i32)
        } else if offset <= i32::MAX as u64 {
            // The access right before went through the same register: rax still holds it.
            if self.zext_in_scratch != Some((addr.0, self.asm.pos())) {
                self.asm.mov_rr(false, SCRATCH, addr.0);
            }
            self.memory_trap_sites.push(self.asm.pos() as u32);
            self.scratch_addr = Some(addr.0);
            Mem::indexed(MEM_BASE_REG, SCRATCH, offset as i32)
        } else {
            self.bounds_check(addr, offset, bytes);
            Mem::indexed(SCRATCH2, SCRATCH, -(bytes as i32))
        }
    }

    /// After the access [`Self::memory_operand`] prepared, `writes` being the register it
    /// wrote, if any: when it indexed with rax = zext(addr) and wrote neither, records that
    /// rax still holds it (see `zext_in_scratch`).
    fn after_access(&mut self, writes: Option<u8>) {
        if let Some(a) = self.scratch_addr.take() {
            if writes != Some(a) && writes != Some(SCRATCH) {
                self.zext_in_scratch = Some((a, self.asm.pos()));
            }
        }
    }

    /// `d = d sh n` for a count `n` already reduced modulo the width. A shift by 0 leaves
    /// its destination alone, upper half included, so a 32-bit one is a `mov d32, d32`
    /// instead: an i32 result always comes out zero-extended.
    fn shift_imm(&mut self, sh: Shift, w: bool, d: u8, n: u8) {
        if n == 0 && !w {
            self.asm.mov_rr(false, d, d);
        } else {
            self.asm.shift_ri(sh, w, d, n);
        }
    }

    /// The x86-64 ALU operation of `op`, if it is one (add, sub, and, or, xor).
    fn alu_of(op: IntBin) -> Option<Alu> {
        match op {
            IntBin::Add => Some(Alu::Add),
            IntBin::Sub => Some(Alu::Sub),
            IntBin::And => Some(Alu::And),
            IntBin::Or => Some(Alu::Or),
            IntBin::Xor => Some(Alu::Xor),
            _ => None,
        }
    }

    /// `rorx`'s right-rotation count for rotation `op` (`Rotl` or `Rotr`) by `v` at
    /// `width` bits.
    fn rorx_count(op: IntBin, v: u64, width: u64) -> u8 {
        let k = v % width;
        (if op == IntBin::Rotr { k } else { (width - k) % width }) as u8
    }

    /// The x86-64 shift or rotation of shift-class `op`.
    fn shift_of(op: IntBin) -> Shift {
        match op {
            IntBin::Shl => Shift::Shl,
            IntBin::ShrS => Shift::Sar,
            IntBin::ShrU => Shift::Shr,
            IntBin::Rotl => Shift::Rol,
            _ => Shift::Ror,
        }
    }

    /// Whether to use BMI2's `rorx`, `shlx`, `shrx` and `sarx` (three operands, no flags,
    /// counts in any register): only when the engine's CPU feature list has `bmi2`
    /// ([`crate::Config::optional_cpu_features`]).
    pub fn use_bmi2(&mut self, on: bool) {
        self.bmi2 = on;
    }

    /// After an instruction that wrote `d` with a 64-bit (`w`) or 32-bit operation: records
    /// that `d` is zero-extended here when it was a 32-bit one (see `zero_extended`).
    fn note_zero_extended(&mut self, w: bool, d: u8) {
        self.zero_extended = if w { None } else { Some((d, self.asm.pos())) };
    }

    /// Computes the effective address `zext(addr32) + offset + bytes` into rax, checks it
    /// against the memory length, and leaves the memory base in r11. The access is then at
    /// `[r11 + rax - bytes]`.
    fn bounds_check(&mut self, addr: Reg, offset: u64, bytes: u32) {
        let a = &mut self.asm;
        a.mov_rr(false, SCRATCH, addr.0);
        let end = offset + u64::from(bytes);
        if end <= i32::MAX as u64 {
            a.alu_ri(Alu::Add, true, SCRATCH, end as i32);
        } else {
            a.mov_ri(SCRATCH2, end);
            a.alu_rr(Alu::Add, true, SCRATCH, SCRATCH2);
        }
        // The vmctx's copies of the length and base: two independent loads, no chain.
        a.alu_rm(Alu::Cmp, true, SCRATCH, Mem::new(r::R15, VM_MEMORY_LEN));
        self.trap_if(Cond::A, TrapCode::MemoryOutOfBounds);
        self.asm.load(true, SCRATCH2, Mem::new(r::R15, VM_MEMORY_BASE));
    }

    fn load_arg(&mut self, dst: u8, src: ArgSrc) {
        match src {
            ArgSrc::Slot(s) => {
                let m = self.slot_mem(s);
                self.asm.load(true, dst, m);
            }
            ArgSrc::Imm(v) => self.asm.mov_ri(dst, v),
        }
    }

    /// Calls the function whose code is in rax and vmctx in rdi, args at `args_slot`.
    /// The callee (a function's entry thunk, or the host shim) returns its status in eax
    /// and the gas in rdx.
    fn call_rax_with_vmctx_rdi(&mut self, args_slot: u32) {
        let m = self.slot_mem(args_slot);
        self.load_store_ctx(SCRATCH2);
        self.load_stack_used_rcx();
        let a = &mut self.asm;
        a.store(true, Mem::new(SCRATCH2, SC_GAS), GAS);
        a.store(true, Mem::new(SCRATCH2, SC_STACK_USED), r::RCX);
        a.lea(r::RSI, m);
        a.mov_rr(true, r::RDX, r::R15);
        let vmctx = self.header_mem(0);
        let a = &mut self.asm;
        a.store(true, vmctx, r::R15);
        a.mov_rr(true, r::R15, r::RDI);
        a.call_r(r::RAX);
        a.load(true, r::R15, vmctx);
        a.load(true, MEM_BASE_REG, Mem::new(r::R15, VM_MEMORY_BASE));
        a.mov_rr(true, GAS, r::RDX);
        a.test_rr(false, r::RAX, r::RAX);
        let l = self.trap_eax_label();
        self.jcc(Cond::Ne, l);
    }

    /// The global's cell as a memory operand: in the vmctx itself, or behind a pointer
    /// loaded into `tmp`.
    fn global_mem(&mut self, tmp: u8, at: GlobalAccess) -> Mem {
        match at {
            GlobalAccess::Value(off) => Mem::new(r::R15, off),
            GlobalAccess::Cell(off) => {
                self.asm.load(true, tmp, Mem::new(r::R15, off));
                Mem::new(tmp, 0)
            }
            GlobalAccess::Table(off) => {
                self.asm.load(true, tmp, Mem::new(r::R15, VM_GLOBALS));
                self.asm.load(true, tmp, Mem::new(tmp, off));
                Mem::new(tmp, 0)
            }
        }
    }

    /// Sets the flags from `lhs - rhs` (an immediate that does not fit 32 bits goes through
    /// the scratch register; comparing with 0 is a `test`).
    fn cmp_flags(&mut self, size: Size, lhs: Reg, rhs: RegImm) {
        let w = Self::w(size);
        match rhs {
            RegImm::Reg(s) => self.asm.alu_rr(Alu::Cmp, w, lhs.0, s.0),
            RegImm::Imm(0) => self.asm.test_rr(w, lhs.0, lhs.0),
            RegImm::Imm(v) => {
                let v = if w { v as i64 } else { i64::from(v as u32 as i32) };
                if v >= i64::from(i32::MIN) && v <= i64::from(i32::MAX) {
                    self.asm.alu_ri(Alu::Cmp, w, lhs.0, v as i32);
                } else {
                    self.asm.mov_ri(SCRATCH, v as u64);
                    self.asm.alu_rr(Alu::Cmp, w, lhs.0, SCRATCH);
                }
            }
        }
    }

    /// The x86 condition of an integer comparison.
    fn cond(cc: IntCmp) -> Cond {
        match cc {
            IntCmp::Eq => Cond::E,
            IntCmp::Ne => Cond::Ne,
            IntCmp::LtS => Cond::L,
            IntCmp::LtU => Cond::B,
            IntCmp::GtS => Cond::G,
            IntCmp::GtU => Cond::A,
            IntCmp::LeS => Cond::Le,
            IntCmp::LeU => Cond::Be,
            IntCmp::GeS => Cond::Ge,
            IntCmp::GeU => Cond::Ae,
        }
    }

    /// Loads a float operand into an xmm register.
    fn load_xmm(&mut self, size: Size, xmm: u8, src: u8) {
        self.asm.movq_xr(Self::w(size), xmm, src);
    }

    /// Replaces a NaN in f64 register `x` by the canonical NaN (a branch predicted not
    /// taken, off the value's dependency chain, as in [`Self::store_xmm0`]).
    fn canon_f64(&mut self, x: u8) {
        self.asm.ucomis(true, x, x);
        let ordered = self.new_label();
        self.jcc(Cond::Np, ordered);
        self.asm.mov_ri(SCRATCH, keel_metering::nan::CANONICAL_NAN_F64);
        self.asm.movq_xr(true, x, SCRATCH);
        self.bind(ordered);
    }

    /// Writes xmm0 back to `dst`, canonicalizing NaN when asked.
    fn store_xmm0(&mut self, size: Size, dst: u8, canon: bool) {
        let w = Self::w(size);
        self.asm.movq_rx(w, dst, 0);
        if canon {
            // ucomis xmm0, xmm0 sets PF only for NaN. A branch (predicted not taken: NaN
            // results are rare), not a cmov, keeps the check off the value's dependency
            // chain: a chain of float operations runs at the operations' latency.
            self.asm.ucomis(w, 0, 0);
            let bits = if w {
                keel_metering::nan::CANONICAL_NAN_F64
            } else {
                u64::from(keel_metering::nan::CANONICAL_NAN_F32)
            };
            let ordered = self.new_label();
            self.jcc(Cond::Np, ordered);
            self.asm.mov_ri(dst, bits);
            self.bind(ordered);
        }
    }
}

/// The registers in which a function with `params` parameters and `results` results
/// takes its arguments from direct callers (see [`ARG_REGS`]); empty: from the argument
/// area `rsi` points at.
fn arg_regs(params: u32, results: u32) -> &'static [Reg] {
    match ARG_REGS.get(..params as usize) {
        Some(regs) if results <= 1 => regs,
        _ => &[],
    }
}

impl MacroAssembler for X64Masm {
    fn allocatable(&self) -> &'static [Reg] {
        ALLOCATABLE
    }

    fn local_reg_handed_over(&mut self, reg: Reg, zero_extended: bool) {
        if zero_extended {
            self.zero_extended_regs |= 1 << reg.0;
        } else {
            self.zero_extended_regs &= !(1 << reg.0);
        }
    }

    fn new_label(&mut self) -> Label {
        self.labels.push(None);
        Label((self.labels.len() - 1) as u32)
    }

    fn bind(&mut self, label: Label) {
        self.labels[label.0 as usize] = Some(self.asm.pos());
        // Other paths may jump here with anything in any register.
        self.zero_extended = None;
        self.zext_in_scratch = None;
    }

    fn func_prologue(&mut self, p: &Prologue<'_>) {
        let Prologue { params, results, locals, slots, in_regs, zero_extend, calls, zero_observed } = *p;
        self.zero_extended_regs = 0;
        for (k, &(_, reg)) in in_regs.iter().enumerate() {
            if zero_extend >> k & 1 != 0 {
                self.zero_extended_regs |= 1 << reg.0;
            }
        }
        self.slots = slots;
        // At most 2^24 slots (the code generator's limit): far inside 32 bits.
        let frame = self.frame_bytes();
        self.asm.alu_ri(Alu::Sub, true, r::RSP, frame as i32);
        let (h1, h2) = (self.header_mem(1), self.header_mem(2));
        let a = &mut self.asm;
        // The vmctx is saved only before a call that may switch it
        // (`call_rax_with_vmctx_rdi`); the memory base was loaded by `stack_enter`.
        // One result goes back in `RESULT_REG`: no result pointer to keep.
        if results > 1 {
            a.store(true, h1, r::RSI);
        }
        // `stack_enter` left the count including this frame in rdx: what callees are
        // entered with.
        if calls {
            a.store(true, h2, r::RDX);
        }
        let in_reg = |i: u32| in_regs.iter().any(|p| p.0 == i);
        // A declared local whose slot needs no zero: in a register, or never read at 0.
        let no_zero = |i: u32| in_reg(i) || !zero_observed(i);
        // The arguments: in registers from direct callers (the entry loads them there for
        // the others), or where `rsi` points.
        let args = arg_regs(params, results);
        for i in (0..params).filter(|&i| !in_reg(i)) {
            let m = self.slot_mem(i);
            match args.get(i as usize) {
                Some(a) => self.asm.store(true, m, a.0),
                None => {
                    self.asm.load(true, SCRATCH, Mem::new(r::RSI, (8 * i) as i32));
                    self.asm.store(true, m, SCRATCH);
                }
            }
        }
        // `rep stosq` below takes rdi, the second argument register: that argument waits
        // in r11.
        let rdi_saved = locals > 64 && args.len() > 1;
        if rdi_saved {
            self.asm.mov_rr(true, SCRATCH2, r::RDI);
        }
        if locals > 0 {
            if locals <= 4 {
                let mut zeroed = false;
                for i in (params..params + locals).filter(|&i| !no_zero(i)) {
                    if !zeroed {
                        self.asm.alu_rr(Alu::Xor, false, SCRATCH, SCRATCH);
                        zeroed = true;
                    }
                    let m = self.slot_mem(i);
                    self.asm.store(true, m, SCRATCH);
                }
            } else if locals <= 64 {
                // 16 bytes per store; `rep stosq` costs tens of cycles to start, more
                // than a typical function's locals take to zero this way.
                // Slots of locals in registers are skipped (a pair with one is stored
                // whole).
                let mut zeroed = false;
                let mut i = params;
                while i < params + locals {
                    if no_zero(i) {
                        i += 1;
                    } else if i + 2 <= params + locals {
                        if !zeroed {
                            self.asm.xorps_self(0);
                            zeroed = true;
                        }
                        let m = self.slot_mem(i);
                        self.asm.movups_store(m, 0);
                        i += 2;
                    } else {
                        let m = self.slot_mem(i);
                        self.asm.store_imm32_q(m, 0);
                        i += 1;
                    }
                }
            } else {
                let m = self.slot_mem(params);
                self.asm.lea(r::RDI, m);
                self.asm.mov_ri(r::RCX, u64::from(locals));
                self.asm.alu_rr(Alu::Xor, false, SCRATCH, SCRATCH);
                self.asm.rep_stosq();
            }
        }
        if !args.is_empty() {
            return self.enter_register_locals(p, args, rdi_saved);
        }
        // The locals in registers, after the zeroing (`rep stosq` takes rdi and rcx); one
        // in rsi, which points at the arguments, last.
        let not_rsi = in_regs.iter().enumerate().filter(|(_, p)| p.1 .0 != r::RSI);
        let rsi = in_regs.iter().enumerate().filter(|(_, p)| p.1 .0 == r::RSI);
        for (k, &(i, reg)) in not_rsi.chain(rsi) {
            if i < params {
                // The caller has just stored the argument with a 64-bit store: a 32-bit
                // load of it would miss the store's fast forwarding path (quicksort ran
                // about 4% faster this way). An i32 comes through the scratch register,
                // zero-extended by a register move the CPU can eliminate.
                let m = Mem::new(r::RSI, (8 * i) as i32);
                if zero_extend >> k & 1 != 0 {
                    self.asm.load(true, SCRATCH, m);
                    self.asm.mov_rr(false, reg.0, SCRATCH);
                } else {
                    self.asm.load(true, reg.0, m);
                }
            } else if zero_observed(i) {
                self.asm.alu_rr(Alu::Xor, false, reg.0, reg.0);
            }
        }
    }

    fn func_epilogue(&mut self, first_result: u32, results: u32) {
        // One result: in `RESULT_REG` already.
        if results > 1 {
            let m = self.header_mem(1);
            self.asm.load(true, r::RDX, m);
            for i in 0..results {
                let m = self.slot_mem(first_result + i);
                self.asm.load(true, SCRATCH, m);
                self.asm.store(true, Mem::new(r::RDX, (8 * i) as i32), SCRATCH);
            }
        }
        let frame = self.frame_bytes();
        self.asm.alu_ri(Alu::Add, true, r::RSP, frame as i32);
        self.asm.ret();
    }

    fn stack_enter(&mut self, cost: u32) {
        let a = &mut self.asm;
        if cost <= i32::MAX as u32 {
            a.lea(r::RDX, Mem::new(r::RCX, cost as i32));
        } else {
            a.mov_ri(r::RDX, u64::from(cost));
            a.alu_rr(Alu::Add, true, r::RDX, r::RCX);
        }
        self.asm.alu_rm(Alu::Cmp, true, r::RDX, Mem::new(r::R15, VM_STACK_LIMIT));
        self.trap_if(Cond::A, TrapCode::StackExhausted);
    }

    /// Nothing: the count is passed by value, the caller's own is in its frame.
    fn stack_exit(&mut self, _cost: u32) {}

    /// `sub r14, gas; jl out_of_gas`: the counter is signed (at most `i64::MAX`, see
    /// `Store::set_gas_limit`), so a counter that unchecked charges left below zero traps
    /// too.
    fn charge_gas(&mut self, gas: u64) {
        self.charge_gas_unchecked(gas);
        self.trap_if(Cond::L, TrapCode::OutOfGas);
    }

    fn charge_gas_unchecked(&mut self, gas: u64) {
        if gas <= i32::MAX as u64 {
            self.asm.alu_ri(Alu::Sub, true, GAS, gas as i32);
        } else {
            self.asm.mov_ri(SCRATCH2, gas);
            self.asm.alu_rr(Alu::Sub, true, GAS, SCRATCH2);
        }
    }

    fn check_gas(&mut self) {
        self.asm.test_rr(true, GAS, GAS);
        self.trap_if(Cond::S, TrapCode::OutOfGas);
    }

    fn load_slot(&mut self, dst: Reg, slot: u32) {
        let m = self.slot_mem(slot);
        self.asm.load(true, dst.0, m);
    }

    fn load_slot_u32(&mut self, dst: Reg, slot: u32) {
        let m = self.slot_mem(slot);
        self.asm.load(false, dst.0, m);
        self.note_zero_extended(false, dst.0);
    }

    fn is_zero_extended(&self, reg: Reg) -> bool {
        self.zero_extended == Some((reg.0, self.asm.pos()))
    }

    fn set_zero_extended(&mut self, reg: Reg) {
        self.zero_extended = Some((reg.0, self.asm.pos()));
    }

    fn store_slot(&mut self, slot: u32, src: Reg) {
        let m = self.slot_mem(slot);
        // A store writes no register: a zero-extended one stays so past it.
        let kept = self.zero_extended.filter(|z| z.1 == self.asm.pos());
        self.asm.store(true, m, src.0);
        if let Some((r, _)) = kept {
            self.zero_extended = Some((r, self.asm.pos()));
        }
    }

    fn store_slot_imm(&mut self, slot: u32, imm: u64) {
        let m = self.slot_mem(slot);
        if (imm as i64) >= i64::from(i32::MIN) && (imm as i64) <= i64::from(i32::MAX) {
            self.asm.store_imm32_q(m, imm as i64 as i32);
        } else {
            self.asm.mov_ri(SCRATCH, imm);
            self.asm.store(true, m, SCRATCH);
        }
    }

    fn copy_slot(&mut self, dst: u32, src: u32) {
        if dst == src {
            return;
        }
        let s = self.slot_mem(src);
        let d = self.slot_mem(dst);
        self.asm.load(true, SCRATCH, s);
        self.asm.store(true, d, SCRATCH);
    }

    fn mov(&mut self, dst: Reg, src: Reg) {
        if dst != src {
            self.asm.mov_rr(true, dst.0, src.0);
        }
    }

    fn mov_imm(&mut self, dst: Reg, imm: u64) {
        self.asm.mov_ri(dst.0, imm);
        // Below 2^32 it is a `mov r32, imm32`.
        self.note_zero_extended(imm > u64::from(u32::MAX), dst.0);
    }

    fn mov_u32(&mut self, dst: Reg, src: Reg) {
        self.asm.mov_rr(false, dst.0, src.0);
        self.note_zero_extended(false, dst.0);
    }

    fn int_bin_from(&mut self, op: IntBin, size: Size, dst: Reg, src: Reg, rhs: RegImm) {
        let w = Self::w(size);
        let width = if w { 64 } else { 32 };
        match (op, rhs) {
            // BMI2's three-operand rotation and shifts.
            (IntBin::Rotl | IntBin::Rotr, RegImm::Imm(v)) if self.bmi2 => {
                self.asm.rorx(w, dst.0, src.0, Self::rorx_count(op, v, width));
                return self.note_zero_extended(w, dst.0);
            }
            (IntBin::Shl | IntBin::ShrU | IntBin::ShrS, RegImm::Reg(c)) if self.bmi2 => {
                self.asm.shiftx(Self::shift_of(op), w, dst.0, src.0, c.0);
                return self.note_zero_extended(w, dst.0);
            }
            _ => {}
        }
        /// A three-operand x86-64 form of `dst = src op rhs`.
        enum Form {
            /// `lea dst, [m]`.
            Lea(Mem),
            /// `lea dst, [src << k]`.
            LeaScaled(u8),
            /// `imul dst, src, imm`.
            Imul(i32),
        }
        let (d, s) = (dst.0, src.0);
        // The immediate as the instruction sign-extends it, if it fits in 32 bits.
        let imm32 = |v: u64| i32::try_from(if w { v as i64 } else { i64::from(v as u32 as i32) }).ok();
        let form = match (op, rhs) {
            (IntBin::Add, RegImm::Imm(v)) => imm32(v).map(|i| Form::Lea(Mem::new(s, i))),
            // 32-bit: the negation wraps as the subtraction does. 64-bit: -i32::MIN does not
            // fit a displacement.
            (IntBin::Sub, RegImm::Imm(v)) => imm32(v)
                .and_then(|i| if w { i.checked_neg() } else { Some(i.wrapping_neg()) })
                .map(|i| Form::Lea(Mem::new(s, i))),
            (IntBin::Add, RegImm::Reg(r)) => Some(Form::Lea(Mem::indexed(s, r.0, 0))),
            (IntBin::Mul, RegImm::Imm(v)) => match if w { v } else { u64::from(v as u32) } {
                2 => Some(Form::Lea(Mem::indexed(s, s, 0))),
                v @ (4 | 8) => Some(Form::LeaScaled(v.trailing_zeros() as u8)),
                // Other powers of two stay shifts (`int_bin`).
                v if v.is_power_of_two() => None,
                v => imm32(v).map(Form::Imul),
            },
            (IntBin::Shl, RegImm::Imm(v)) => match v % if w { 64 } else { 32 } {
                1 => Some(Form::Lea(Mem::indexed(s, s, 0))),
                k @ 2..=3 => Some(Form::LeaScaled(k as u8)),
                _ => None,
            },
            _ => None,
        };
        match form {
            Some(Form::Lea(m)) => self.asm.lea_w(w, d, m),
            Some(Form::LeaScaled(k)) => self.asm.lea_scaled(w, d, s, k),
            Some(Form::Imul(i)) => self.asm.imul_rri(w, d, s, i),
            None => {
                self.mov(dst, src);
                return self.int_bin(op, size, dst, rhs);
            }
        }
        self.note_zero_extended(w, d);
    }

    fn int_bin(&mut self, op: IntBin, size: Size, dst: Reg, rhs: RegImm) {
        let w = Self::w(size);
        let d = dst.0;
        if let Some(alu) = Self::alu_of(op) {
            match rhs {
                RegImm::Reg(s) => self.asm.alu_rr(alu, w, d, s.0),
                RegImm::Imm(v) => {
                    let v = if w { v as i64 } else { i64::from(v as u32 as i32) };
                    if v >= i64::from(i32::MIN) && v <= i64::from(i32::MAX) {
                        self.asm.alu_ri(alu, w, d, v as i32);
                    } else {
                        self.asm.mov_ri(SCRATCH, v as u64);
                        self.asm.alu_rr(alu, w, d, SCRATCH);
                    }
                }
            }
            self.note_zero_extended(w, d);
            return;
        }
        if op == IntBin::Mul {
            match rhs {
                RegImm::Reg(s) => self.asm.imul_rr(w, d, s.0),
                RegImm::Imm(v) => {
                    let v = if w { v as i64 } else { i64::from(v as u32 as i32) };
                    if v > 0 && (v as u64).is_power_of_two() {
                        // Multiplying by 2^k is shifting left by k (wrapping alike).
                        self.shift_imm(Shift::Shl, w, d, v.trailing_zeros() as u8);
                    } else if v >= i64::from(i32::MIN) && v <= i64::from(i32::MAX) {
                        self.asm.imul_rri(w, d, d, v as i32);
                    } else {
                        self.asm.mov_ri(SCRATCH, v as u64);
                        self.asm.imul_rr(w, d, SCRATCH);
                    }
                }
            }
            self.note_zero_extended(w, d);
            return;
        }
        let sh = Self::shift_of(op);
        match rhs {
            RegImm::Reg(s) if self.bmi2 && !matches!(sh, Shift::Rol | Shift::Ror) => {
                self.asm.shiftx(sh, w, d, d, s.0);
                self.note_zero_extended(w, d);
            }
            RegImm::Imm(v) => {
                let mask = if w { 63 } else { 31 };
                self.shift_imm(sh, w, d, (v & mask) as u8);
                self.note_zero_extended(w, d);
            }
            // The count goes to cl; rcx is allocatable, so a value it holds waits in r11.
            RegImm::Reg(s) if d == r::RCX => {
                self.asm.mov_rr(true, SCRATCH2, d);
                self.asm.mov_rr(false, r::RCX, s.0);
                self.asm.shift_cl(sh, w, SCRATCH2);
                self.asm.mov_rr(true, d, SCRATCH2);
            }
            RegImm::Reg(s) if s.0 == r::RCX => self.asm.shift_cl(sh, w, d),
            RegImm::Reg(s) => {
                self.asm.mov_rr(true, SCRATCH2, r::RCX);
                self.asm.mov_rr(false, r::RCX, s.0);
                self.asm.shift_cl(sh, w, d);
                self.asm.mov_rr(true, r::RCX, SCRATCH2);
            }
        }
    }

    fn int_bin_slot(&mut self, op: IntBin, size: Size, dst: Reg, slot: u32) {
        let m = self.slot_mem(slot);
        // Only 64-bit operations take the slot as a memory operand. Slots are written with
        // 64-bit stores; a 32-bit read of one just written misses the store's forwarding
        // fast path (on AMD Zen the renaming of rsp-relative memory needs equal sizes:
        // sha256 ran 1.2x slower with 32-bit memory operands). Otherwise the slot is read
        // whole, into the scratch register.
        match (size, Self::alu_of(op)) {
            (Size::S64, Some(alu)) => self.asm.alu_rm(alu, true, dst.0, m),
            (Size::S64, None) if op == IntBin::Mul => self.asm.imul_rm(true, dst.0, m),
            _ => {
                self.asm.load(true, SCRATCH, m);
                return self.int_bin(op, size, dst, RegImm::Reg(Reg(SCRATCH)));
            }
        }
        self.note_zero_extended(true, dst.0);
    }

    fn int_bin_from_slot(&mut self, op: IntBin, size: Size, dst: Reg, slot: u32, imm: u64) {
        let m = self.slot_mem(slot);
        // Memory operands at 64 bits only (see `int_bin_slot`).
        match (size, op, i32::try_from(imm as i64)) {
            // Multiplications by powers of two stay shifts (`int_bin`).
            (Size::S64, IntBin::Mul, Ok(i)) if !imm.is_power_of_two() => self.asm.imul_rmi(true, dst.0, m, i),
            (Size::S64, IntBin::Rotl | IntBin::Rotr, _) if self.bmi2 => {
                self.asm.rorx_m(true, dst.0, m, Self::rorx_count(op, imm, 64));
            }
            _ => {
                self.asm.load(true, dst.0, m);
                return self.int_bin(op, size, dst, RegImm::Imm(imm));
            }
        }
        self.note_zero_extended(true, dst.0);
    }

    fn int_div(&mut self, op: IntDiv, size: Size, dst: Reg, rhs: Reg) {
        let w = Self::w(size);
        let (d, mut s) = (dst.0, rhs.0);
        self.asm.test_rr(w, s, s);
        self.trap_if(Cond::E, TrapCode::IntegerDivideByZero);
        // `div` takes rdx:rax; rdx is allocatable, so unless it is the destination its
        // value (maybe the divisor, maybe a local) waits in r11 and comes back after.
        let keep_rdx = d != r::RDX;
        if keep_rdx {
            self.asm.mov_rr(true, SCRATCH2, r::RDX);
            if s == r::RDX {
                s = SCRATCH2;
            }
        }
        match op {
            IntDiv::DivU | IntDiv::RemU => {
                self.asm.mov_rr(w, r::RAX, d);
                self.asm.alu_rr(Alu::Xor, false, r::RDX, r::RDX);
                self.asm.div(false, w, s);
            }
            IntDiv::DivS => {
                // Overflow: MIN / -1.
                self.asm.alu_ri(Alu::Cmp, w, s, -1);
                let ok = self.new_label();
                self.jcc(Cond::Ne, ok);
                let min = if w { i64::MIN as u64 } else { u64::from(i32::MIN as u32) };
                self.asm.mov_ri(r::RAX, min);
                self.asm.alu_rr(Alu::Cmp, w, d, r::RAX);
                self.trap_if(Cond::E, TrapCode::IntegerOverflow);
                self.bind(ok);
                self.asm.mov_rr(w, r::RAX, d);
                self.asm.sign_extend_rax(w);
                self.asm.div(true, w, s);
            }
            IntDiv::RemS => {
                // x rem -1 = 0 (idiv would fault on MIN rem -1). The dividend is read
                // before rdx is cleared: it may be in rdx.
                self.asm.mov_rr(w, r::RAX, d);
                self.asm.alu_rr(Alu::Xor, false, r::RDX, r::RDX);
                self.asm.alu_ri(Alu::Cmp, w, s, -1);
                let done = self.new_label();
                self.jcc(Cond::E, done);
                self.asm.sign_extend_rax(w);
                self.asm.div(true, w, s);
                self.bind(done);
            }
        }
        let res = if matches!(op, IntDiv::DivS | IntDiv::DivU) { r::RAX } else { r::RDX };
        self.asm.mov_rr(w, d, res);
        if keep_rdx {
            self.asm.mov_rr(true, r::RDX, SCRATCH2);
        }
    }

    fn int_cmp(&mut self, cc: IntCmp, size: Size, dst: Reg, rhs: RegImm) {
        self.cmp_flags(size, dst, rhs);
        self.asm.setcc(Self::cond(cc), SCRATCH);
        self.asm.movzx8_rr(dst.0, SCRATCH);
    }

    fn branch_cmp(&mut self, cc: IntCmp, size: Size, lhs: Reg, rhs: RegImm, target: Label) {
        self.cmp_flags(size, lhs, rhs);
        self.jcc(Self::cond(cc), target);
    }

    fn int_un(&mut self, op: IntUn, size: Size, dst: Reg) {
        let w = Self::w(size);
        let d = dst.0;
        match op {
            IntUn::Clz => self.asm.bitcount(0xBD, w, d, d),
            IntUn::Ctz => self.asm.bitcount(0xBC, w, d, d),
            IntUn::Popcnt => self.asm.bitcount(0xB8, w, d, d),
            IntUn::Eqz => {
                self.asm.test_rr(w, d, d);
                self.asm.setcc(Cond::E, SCRATCH);
                self.asm.movzx8_rr(d, SCRATCH);
            }
            IntUn::Extend8S => self.asm.movsx8_rr(w, d, d),
            IntUn::Extend16S => self.asm.movsx16_rr(w, d, d),
            IntUn::Extend32S => self.asm.movsxd_rr(d, d),
            IntUn::ZeroExtend32 => {
                // Nothing to do right after a 32-bit instruction wrote `d`.
                if self.zero_extended != Some((d, self.asm.pos())) {
                    self.asm.mov_rr(false, d, d);
                }
                self.note_zero_extended(false, d);
            }
        }
    }

    fn float_allocatable(&self) -> &'static [FReg] {
        FLOAT_ALLOCATABLE
    }

    fn f64_mov(&mut self, dst: FReg, src: FReg) {
        if dst != src {
            self.asm.movaps_rr(dst.0, src.0);
        }
    }

    fn f64_mov_imm(&mut self, dst: FReg, bits: u64) {
        if bits == 0 {
            self.asm.xorps_self(dst.0);
        } else {
            self.asm.mov_ri(SCRATCH, bits);
            self.asm.movq_xr(true, dst.0, SCRATCH);
        }
    }

    fn f64_from_gpr(&mut self, dst: FReg, src: Reg) {
        self.asm.movq_xr(true, dst.0, src.0);
    }

    fn f64_to_gpr(&mut self, dst: Reg, src: FReg) {
        self.asm.movq_rx(true, dst.0, src.0);
    }

    fn f64_load_slot(&mut self, dst: FReg, slot: u32) {
        let m = self.slot_mem(slot);
        self.asm.movsd_load(dst.0, m);
    }

    fn f64_store_slot(&mut self, slot: u32, src: FReg) {
        let m = self.slot_mem(slot);
        self.asm.movsd_store(m, src.0);
    }

    fn f64_load(&mut self, dst: FReg, addr: Reg, offset: u64) {
        let m = self.memory_operand(addr, offset, 8);
        self.asm.movsd_load(dst.0, m);
        self.after_access(None);
    }

    fn f64_store(&mut self, addr: Reg, src: FReg, offset: u64) {
        let m = self.memory_operand(addr, offset, 8);
        self.asm.movsd_store(m, src.0);
        self.after_access(None);
    }

    fn f64_bin(&mut self, op: FloatBin, dst: FReg, rhs: FReg, canon: bool) {
        let opc = match op {
            FloatBin::Add => 0x58,
            FloatBin::Sub => 0x5C,
            FloatBin::Mul => 0x59,
            FloatBin::Div => 0x5E,
        };
        self.asm.sse_rr(0xF2, opc, dst.0, rhs.0);
        if canon {
            self.canon_f64(dst.0);
        }
    }

    fn float_bin(&mut self, op: FloatBin, size: Size, dst: Reg, rhs: Reg, canon: bool) {
        let w = Self::w(size);
        self.load_xmm(size, 0, dst.0);
        self.load_xmm(size, 1, rhs.0);
        let opc = match op {
            FloatBin::Add => 0x58,
            FloatBin::Sub => 0x5C,
            FloatBin::Mul => 0x59,
            FloatBin::Div => 0x5E,
        };
        self.asm.sse_rr(if w { 0xF2 } else { 0xF3 }, opc, 0, 1);
        self.store_xmm0(size, dst.0, canon);
    }

    fn float_un(&mut self, op: FloatUn, size: Size, dst: Reg, canon: bool) {
        let w = Self::w(size);
        let pre = if w { 0xF2 } else { 0xF3 };
        match op {
            FloatUn::Sqrt => {
                self.load_xmm(size, 1, dst.0);
                self.asm.sse_rr(pre, 0x51, 0, 1);
            }
            FloatUn::Ceil | FloatUn::Floor | FloatUn::Trunc | FloatUn::Nearest => {
                self.load_xmm(size, 1, dst.0);
                let mode = match op {
                    FloatUn::Nearest => 0,
                    FloatUn::Floor => 1,
                    FloatUn::Ceil => 2,
                    _ => 3,
                };
                // Bit 3 suppresses the precision exception; irrelevant but conventional.
                self.asm.round(w, 0, 1, mode | 8);
            }
            FloatUn::Promote => {
                self.load_xmm(Size::S32, 1, dst.0);
                self.asm.sse_rr(0xF3, 0x5A, 0, 1);
            }
            FloatUn::Demote => {
                self.load_xmm(Size::S64, 1, dst.0);
                self.asm.sse_rr(0xF2, 0x5A, 0, 1);
            }
            FloatUn::ConvertI32S => {
                self.asm.movsxd_rr(SCRATCH, dst.0);
                self.asm.cvtsi2f(w, true, 0, SCRATCH);
            }
            FloatUn::ConvertI64S => {
                self.asm.cvtsi2f(w, true, 0, dst.0);
            }
            FloatUn::ConvertI32U => {
                // Zero-extended to 64 bits, the value is a non-negative i64: the signed
                // conversion rounds it exactly as the unsigned one does.
                self.asm.mov_rr(false, SCRATCH, dst.0);
                self.asm.cvtsi2f(w, true, 0, SCRATCH);
            }
        }
        self.store_xmm0(size, dst.0, canon);
    }

    fn float_cmp(&mut self, cc: FloatCmp, size: Size, dst: Reg, rhs: Reg) {
        let w = Self::w(size);
        self.load_xmm(size, 0, dst.0);
        self.load_xmm(size, 1, rhs.0);
        let d = dst.0;
        match cc {
            FloatCmp::Eq => {
                self.asm.ucomis(w, 0, 1);
                self.asm.setcc(Cond::E, SCRATCH);
                self.asm.setcc(Cond::Np, SCRATCH2);
                self.asm.alu_rr(Alu::And, false, SCRATCH, SCRATCH2);
            }
            FloatCmp::Ne => {
                self.asm.ucomis(w, 0, 1);
                self.asm.setcc(Cond::Ne, SCRATCH);
                self.asm.setcc(Cond::P, SCRATCH2);
                self.asm.alu_rr(Alu::Or, false, SCRATCH, SCRATCH2);
            }
            FloatCmp::Gt => {
                self.asm.ucomis(w, 0, 1);
                self.asm.setcc(Cond::A, SCRATCH);
            }
            FloatCmp::Ge => {
                self.asm.ucomis(w, 0, 1);
                self.asm.setcc(Cond::Ae, SCRATCH);
            }
            FloatCmp::Lt => {
                self.asm.ucomis(w, 1, 0);
                self.asm.setcc(Cond::A, SCRATCH);
            }
            FloatCmp::Le => {
                self.asm.ucomis(w, 1, 0);
                self.asm.setcc(Cond::Ae, SCRATCH);
            }
        }
        self.asm.movzx8_rr(d, SCRATCH);
    }

    fn select(&mut self, dst: Reg, alt: Reg, cond: Reg) {
        self.asm.test_rr(false, cond.0, cond.0);
        self.asm.cmov(Cond::E, true, dst.0, alt.0);
    }

    fn load(&mut self, kind: LoadKind, dst: Reg, addr: Reg, offset: u64) {
        let d = dst.0;
        let m = self.memory_operand(addr, offset, kind.bytes());
        let a = &mut self.asm;
        match kind {
            LoadKind::U64 => a.load(true, d, m),
            LoadKind::U32 => a.load(false, d, m),
            LoadKind::S32To64 => a.load_s32(d, m),
            LoadKind::U16 => a.load_u16(d, m),
            LoadKind::S16To32 => {
                a.load_s16(false, d, m);
            }
            LoadKind::S16To64 => a.load_s16(true, d, m),
            LoadKind::U8 => a.load_u8(d, m),
            LoadKind::S8To32 => a.load_s8(false, d, m),
            LoadKind::S8To64 => a.load_s8(true, d, m),
        }
        self.after_access(Some(d));
        let w = matches!(kind, LoadKind::U64 | LoadKind::S32To64 | LoadKind::S16To64 | LoadKind::S8To64);
        self.note_zero_extended(w, d);
    }

    fn store(&mut self, bytes: u32, addr: Reg, value: Reg, offset: u64) {
        let v = value.0;
        let m = self.memory_operand(addr, offset, bytes);
        let a = &mut self.asm;
        match bytes {
            8 => a.store(true, m, v),
            4 => a.store(false, m, v),
            2 => a.store16(m, v),
            _ => a.store8(m, v),
        }
        self.after_access(None);
    }

    fn memory_size(&mut self, dst: Reg) {
        self.asm.load(true, dst.0, Mem::new(r::R15, VM_MEMORY_LEN));
        self.asm.shift_ri(Shift::Shr, true, dst.0, 16);
    }

    fn global_get(&mut self, dst: Reg, at: GlobalAccess) {
        let m = self.global_mem(dst.0, at);
        self.asm.load(true, dst.0, m);
    }

    fn global_set(&mut self, at: GlobalAccess, src: Reg) {
        let m = self.global_mem(SCRATCH, at);
        self.asm.store(true, m, src.0);
    }

    fn jump(&mut self, target: Label) {
        let at = self.asm.jmp_rel32();
        self.use_label_rel32(at, target);
    }

    fn branch(&mut self, cond: Reg, if_nonzero: bool, target: Label) {
        self.asm.test_rr(false, cond.0, cond.0);
        self.jcc(if if_nonzero { Cond::Ne } else { Cond::E }, target);
    }

    fn br_table(&mut self, index: Reg, targets: &[Label], default: Label) {
        let n = targets.len() as u64;
        self.asm.mov_ri(SCRATCH, n);
        self.asm.alu_rr(Alu::Cmp, false, index.0, SCRATCH);
        self.jcc(Cond::Ae, default);
        // lea r11, [rip + table]; movsxd rax, [r11 + index*4]; add rax, r11; jmp rax
        self.asm.mov_rr(false, SCRATCH, index.0);
        self.asm.byte(0x4C);
        self.asm.byte(0x8D);
        self.asm.byte(0x1D); // lea r11, [rip + disp32]
        let disp_at = self.asm.pos();
        self.asm.u32(0);
        // movsxd rax, dword [r11 + rax*4]
        self.asm.byte(0x49);
        self.asm.byte(0x63);
        self.asm.byte(0x04);
        self.asm.byte(0x83);
        self.asm.alu_rr(Alu::Add, true, SCRATCH, SCRATCH2);
        self.asm.jmp_r(SCRATCH);
        let table = self.asm.pos();
        let disp = (table - (disp_at + 4)) as u32;
        self.asm.patch_u32(disp_at, disp);
        self.asm.buf.reserve(4 * targets.len());
        for &t in targets {
            self.asm.u32(t.0);
        }
        self.fixups.push(Fixup::Table { at: table, len: targets.len() });
    }

    /// The callee's body itself (not its external entry): it shares the caller's
    /// instance, so `rbp` already holds its memory base, and the caller reads no status.
    fn call_direct(&mut self, func: Label, args_slot: Option<u32>) {
        self.load_stack_used_rcx();
        if let Some(slot) = args_slot {
            let m = self.slot_mem(slot);
            self.asm.lea(r::RSI, m);
        }
        let at = self.asm.call_rel32();
        self.use_label_rel32(at, func);
    }

    fn call_result_reg(&self) -> Option<Reg> {
        Some(RESULT_REG)
    }

    fn call_arg_regs(&self, params: u32, results: u32) -> &'static [Reg] {
        arg_regs(params, results)
    }

    fn call_import(&mut self, import: u32, args_slot: u32) {
        let base = (FUNCREF_SIZE as i64 * i64::from(import)) as i32;
        self.asm.load(true, r::RAX, Mem::new(r::R15, VM_IMPORTS));
        self.asm.load(true, r::RDI, Mem::new(r::RAX, base + FUNCREF_VMCTX));
        self.asm.load(true, r::RAX, Mem::new(r::RAX, base + FUNCREF_CODE));
        self.call_rax_with_vmctx_rdi(args_slot);
    }

    fn call_indirect(&mut self, table: u32, type_index: u32, index: ArgSrc, args_slot: u32) {
        // rax = zext(index); r11 = the VMTable.
        match index {
            ArgSrc::Imm(v) => self.asm.mov_ri(r::RAX, v & 0xffff_ffff),
            ArgSrc::Slot(s) => {
                let m = self.slot_mem(s);
                self.asm.load(false, r::RAX, m);
            }
        }
        self.asm.load(true, SCRATCH2, Mem::new(r::R15, VM_TABLES));
        self.asm.load(true, SCRATCH2, Mem::new(SCRATCH2, (8 * table) as i32));
        self.asm.alu_rm(Alu::Cmp, true, r::RAX, Mem::new(SCRATCH2, TBL_LEN));
        self.trap_if(Cond::Ae, TrapCode::TableOutOfBounds);
        self.asm.load(true, SCRATCH2, Mem::new(SCRATCH2, TBL_BASE));
        self.asm.shift_ri(Shift::Shl, true, r::RAX, 3);
        self.asm.load(true, r::RAX, Mem::indexed(SCRATCH2, r::RAX, 0));
        self.asm.test_rr(true, r::RAX, r::RAX);
        self.trap_if(Cond::E, TrapCode::IndirectCallToNull);
        self.asm.load(true, SCRATCH2, Mem::new(r::R15, VM_TYPE_IDS));
        self.asm.load(true, SCRATCH2, Mem::new(SCRATCH2, (8 * type_index) as i32));
        self.asm.alu_rm(Alu::Cmp, true, SCRATCH2, Mem::new(r::RAX, FUNCREF_TYPE));
        self.trap_if(Cond::Ne, TrapCode::BadSignature);
        self.asm.load(true, r::RDI, Mem::new(r::RAX, FUNCREF_VMCTX));
        self.asm.load(true, r::RAX, Mem::new(r::RAX, FUNCREF_CODE));
        self.call_rax_with_vmctx_rdi(args_slot);
    }

    fn libcall(&mut self, call: LibCall, args: &[ArgSrc], result_slot: Option<u32>) {
        self.libcall_raw(call, args);
        self.asm.test_rr(true, r::RDX, r::RDX);
        let l = self.trap_rdx_label();
        self.jcc(Cond::Ne, l);
        if let Some(s) = result_slot {
            let m = self.slot_mem(s);
            self.asm.store(true, m, r::RAX);
        }
    }

    fn trap(&mut self, code: TrapCode) {
        let l = self.trap_label(code);
        self.jump(l);
    }

    fn part(&self, bytes: usize) -> X64Masm {
        let mut part = X64Masm::empty(Vec::new(), bytes);
        part.bmi2 = self.bmi2;
        part
    }

    fn seal_part(&mut self) {
        let fixups = std::mem::take(&mut self.fixups);
        self.fixups.reserve(fixups.len() / 2);
        for f in fixups {
            match f {
                Fixup::Rel32 { at, label } => match self.labels[label.0 as usize] {
                    Some(target) => self.asm.patch_u32(at, (target as i64 - (at as i64 + 4)) as i32 as u32),
                    None => self.fixups.push(f),
                },
                // Jump tables target their own function's labels: left to `finish`, which
                // resolves them in place (they are rare).
                Fixup::Table { .. } => self.fixups.push(f),
            }
        }
    }

    fn append(&mut self, part: X64Masm, shared: SharedLabels) -> u32 {
        let base = self.asm.pos();
        let stubs = self.trap_labels.iter_mut().chain([&mut self.trap_eax, &mut self.trap_rdx]);
        let part_stubs = part.trap_labels.iter().chain([&part.trap_eax, &part.trap_rdx]).copied();
        let map = append_labels(&mut self.labels, &part.labels, base, shared, stubs.zip(part_stubs));
        self.asm.buf.extend_from_slice(&part.asm.buf);
        self.fixups.reserve(part.fixups.len());
        for f in part.fixups {
            self.fixups.push(match f {
                Fixup::Rel32 { at, label } => Fixup::Rel32 { at: at + base, label: Label(map[label.0 as usize]) },
                Fixup::Table { at, len } => {
                    // The entries hold label numbers until `finish`: renumber them.
                    for e in (base + at..base + at + 4 * len).step_by(4) {
                        let label = u32::from_le_bytes([
                            self.asm.buf[e],
                            self.asm.buf[e + 1],
                            self.asm.buf[e + 2],
                            self.asm.buf[e + 3],
                        ]);
                        self.asm.patch_u32(e, map[label as usize]);
                    }
                    Fixup::Table { at: at + base, len }
                }
            });
        }
        self.memory_trap_sites.extend(part.memory_trap_sites.iter().map(|&s| s + base as u32));
        self.zero_extended = None;
        self.zext_in_scratch = None;
        base as u32
    }

    fn finish(
        mut self,
        functions: Vec<u32>,
        signatures: &[(u32, u32)],
    ) -> Result<CompiledCode, crate::error::CompileError> {
        // Each function's external entry, for callers from outside its body's instance
        // or from the host (the trampoline, `call_indirect`, imports, exports): loads the
        // memory base, calls the body (`rsp` stays 16-byte aligned at its entry as at any
        // call) with its arguments in `ARG_REGS` when it takes them there, writes a
        // result the body returned in `RESULT_REG` to the argument area (its pointer kept
        // in the 8 bytes that align the call) and returns a status of 0 in `eax` and the
        // gas in `rdx`, as a host function does. Direct calls enter the bodies and need
        // none of it.
        let mut entries = Vec::with_capacity(functions.len());
        for (i, &body) in functions.iter().enumerate() {
            let (params, results) = signatures.get(i).copied().unwrap_or((0, 0));
            let one_result = results == 1;
            entries.push(self.asm.pos() as u32);
            self.asm.load(true, MEM_BASE_REG, Mem::new(r::R15, VM_MEMORY_BASE));
            self.asm.alu_ri(Alu::Sub, true, r::RSP, 8);
            if one_result {
                self.asm.store(true, Mem::new(r::RSP, 0), r::RSI);
            }
            // rsi, the pointer, is the first argument register: loaded last.
            for (k, a) in arg_regs(params, results).iter().enumerate().rev() {
                self.asm.load(true, a.0, Mem::new(r::RSI, (8 * k) as i32));
            }
            let at = self.asm.call_rel32();
            let rel = i64::from(body) - (at as i64 + 4);
            self.asm.patch_u32(at, rel as i32 as u32);
            if one_result {
                self.asm.load(true, SCRATCH, Mem::new(r::RSP, 0));
                self.asm.store(true, Mem::new(SCRATCH, 0), RESULT_REG.0);
            }
            self.asm.alu_ri(Alu::Add, true, r::RSP, 8);
            self.asm.alu_rr(Alu::Xor, false, r::RAX, r::RAX);
            self.asm.mov_rr(true, r::RDX, GAS);
            self.asm.ret();
        }
        // Shared trap stubs; a faulting unchecked access resumes at the out-of-bounds one.
        if !self.memory_trap_sites.is_empty() {
            self.trap_label(TrapCode::MemoryOutOfBounds);
        }
        let common = self.new_label();
        for code in TrapCode::ALL {
            if let Some(l) = self.trap_labels[code as usize] {
                self.bind(l);
                if code == TrapCode::OutOfGas {
                    self.asm.alu_rr(Alu::Xor, false, GAS, GAS);
                }
                self.asm.mov_ri(r::RAX, code as u64);
                self.jump(common);
            }
        }
        if let Some(l) = self.trap_rdx {
            self.bind(l);
            self.asm.mov_rr(false, r::RAX, r::RDX);
            self.jump(common);
        }
        if let Some(l) = self.trap_eax {
            self.bind(l);
            self.jump(common);
        }
        // Unwind: the trampoline's call pushed its return address just below trap_sp.
        // The trampoline stores the gas register back.
        self.bind(common);
        self.load_store_ctx(r::RCX);
        self.asm.load(true, r::RSP, Mem::new(r::RCX, SC_TRAP_SP));
        self.asm.alu_ri(Alu::Sub, true, r::RSP, 8);
        self.asm.ret();

        for f in std::mem::take(&mut self.fixups) {
            match f {
                Fixup::Rel32 { at, label } => {
                    let target = self.labels[label.0 as usize].expect("label bound before finish");
                    let rel = target as i64 - (at as i64 + 4);
                    self.asm.patch_u32(at, rel as i32 as u32);
                }
                Fixup::Table { at, len } => {
                    for e in (at..at + 4 * len).step_by(4) {
                        let label = u32::from_le_bytes([
                            self.asm.buf[e],
                            self.asm.buf[e + 1],
                            self.asm.buf[e + 2],
                            self.asm.buf[e + 3],
                        ]);
                        let target = self.labels[label as usize].expect("label bound before finish");
                        let rel = target as i64 - at as i64;
                        self.asm.patch_u32(e, rel as i32 as u32);
                    }
                }
            }
        }
        let memory_trap_stub = match self.trap_labels[TrapCode::MemoryOutOfBounds as usize] {
            Some(l) if !self.memory_trap_sites.is_empty() => {
                self.labels[l.0 as usize].expect("trap stubs are bound") as u32
            }
            _ => 0,
        };
        Ok(CompiledCode {
            code: self.asm.buf,
            trampoline: self.trampoline,
            functions: entries,
            memory_trap_sites: self.memory_trap_sites,
            memory_trap_stub,
        })
    }

    fn offset(&self) -> u32 {
        self.asm.pos() as u32
    }
}

impl X64Masm {
    /// Loads libcall arguments (rdi = vmctx) and calls the libcall; result in rax/rdx.
    fn libcall_raw(&mut self, call: LibCall, args: &[ArgSrc]) {
        const ARG_REGS: [u8; 5] = [r::RSI, r::RDX, r::RCX, r::R8, r::R9];
        for (i, a) in args.iter().enumerate().take(ARG_REGS.len()) {
            self.load_arg(ARG_REGS[i], *a);
        }
        self.asm.mov_rr(true, r::RDI, r::R15);
        self.load_store_ctx(SCRATCH2);
        self.asm.store(true, Mem::new(SCRATCH2, SC_GAS), GAS);
        self.asm.call_m(Mem::new(SCRATCH2, SC_LIBCALLS + 8 * call as i32));
        // r15 is callee-saved in the native ABI, so the vmctx survives; a helper may
        // charge gas.
        self.load_store_ctx(SCRATCH2);
        self.asm.load(true, GAS, Mem::new(SCRATCH2, SC_GAS));
    }
}
