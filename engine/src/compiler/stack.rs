//! The abstract value stack and the register allocator.
//!
//! Each operand-stack entry is a constant (kept as an immediate until needed), a register,
//! or "in its slot": the frame slot fixed by its height. Spilling writes a register entry to
//! its slot. `spill_all` remembers the height below which no entry is in a register, so
//! repeated spills cost amortized O(1) per entry: compilation stays linear.
//!
//! When the ISA has float registers, f64 values that f64 operators produce stay in them
//! ([`Val::FReg`], [`Val::FLocal`]); every pop that needs a general register moves them
//! there, so the operators that know nothing of floats never see one.

use crate::masm::{ArgSrc, FReg, MacroAssembler, Reg, RegImm};

/// One operand-stack entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Val {
    /// A constant (bit pattern; i32 and f32 in the low 32 bits).
    Const(u64),
    /// In a register.
    Reg(Reg),
    /// In the frame slot of its height.
    Slot,
    /// The current value of the local that lives in this register (a `local.get` not
    /// copied yet). Valid until that local is written: [`ValueStack::materialize_locals`]
    /// runs first. Never below the watermark, never across a control-flow merge.
    Local(Reg),
    /// An f64 in a float register.
    FReg(FReg),
    /// As [`Val::Local`], for an f64 local that lives in a float register.
    FLocal(FReg),
    /// The current value of integer local `.0`, which lives in its frame slot (a
    /// `local.get` not loaded yet: an operation can take it from the slot, a
    /// `local.set` of another local copies it straight). Loaded whole (64 bits, as slots
    /// are written: a narrower load of a slot just written is slower). Valid until that
    /// local is written: [`ValueStack::materialize_copies`] runs first. Never below the
    /// watermark, never across a control-flow merge.
    LocalSlot(u32),
}

/// Entries [`ValueStack::materialize_copies`] scans at most before it materializes every
/// lazy entry instead.
const SELECTIVE_SCAN: usize = 16;

/// The value stack plus the set of free registers.
#[derive(Debug)]
pub struct ValueStack {
    vals: Vec<Val>,
    /// No entry below this height is in a register.
    watermark: usize,
    regs: &'static [Reg],
    /// Bit i set = `regs[i]` free.
    free: u32,
    /// Bit i set = `regs[i]` belongs to the value stack (not reserved for a local).
    pool: u32,
    /// Slot of operand-stack height 0 (params + locals).
    base_slot: u32,
    /// The float registers, as `regs`/`free`/`pool` (empty: floats stay in `regs`).
    fregs: &'static [FReg],
    ffree: u32,
    fpool: u32,
    /// No [`Val::Local`] entry below this height (`usize::MAX`: none at all).
    lazy_low: usize,
    /// Bit r set = the [`Val::Reg`] entry in register number r holds an i32 zero-extended to 64
    /// bits: the operation that produced it was a 32-bit one ([`ValueStack::push_reg`]).
    /// An entry's register is written by nothing else while the entry lives, so the bit
    /// stays true until the entry is popped; `push` and `alloc` clear it.
    zext: u32,
}

impl ValueStack {
    /// An empty stack over the allocatable registers `regs` minus `reserved` and the float
    /// registers `fregs` minus `freserved` (the registers that hold locals), keeping the
    /// allocation of `buffer` (its entries are discarded: a compiler reuses one buffer for
    /// every function of a module); height 0 lives in `base_slot`.
    pub fn with_buffer(
        mut buffer: Vec<Val>,
        (regs, reserved): (&'static [Reg], impl Iterator<Item = Reg>),
        (fregs, freserved): (&'static [FReg], impl Iterator<Item = FReg>),
        base_slot: u32,
    ) -> ValueStack {
        buffer.clear();
        let pool = Self::pool_of(regs, reserved);
        let fpool = Self::pool_of(fregs, freserved);
        ValueStack {
            vals: buffer,
            watermark: 0,
            regs,
            free: pool,
            pool,
            base_slot,
            lazy_low: usize::MAX,
            zext: 0,
            fregs,
            ffree: fpool,
            fpool,
        }
    }

    /// Bit i set for each of the first 32 of `regs` not in `reserved`.
    fn pool_of<R: PartialEq>(regs: &[R], reserved: impl Iterator<Item = R>) -> u32 {
        let mut pool = if regs.len() >= 32 { u32::MAX } else { (1u32 << regs.len()) - 1 };
        for r in reserved {
            if let Some(i) = regs.iter().position(|x| *x == r).filter(|i| *i < 32) {
                pool &= !(1 << i);
            }
        }
        pool
    }

    /// The entry buffer, for [`ValueStack::with_buffer`].
    pub fn into_buffer(self) -> Vec<Val> {
        self.vals
    }

    /// Current height.
    pub fn len(&self) -> usize {
        self.vals.len()
    }

    /// Whether empty.
    pub fn is_empty(&self) -> bool {
        self.vals.is_empty()
    }

    /// Slot of height `h`.
    pub fn slot_of(&self, h: usize) -> u32 {
        self.base_slot + h as u32
    }

    /// Entry at height `h`.
    pub fn get(&self, h: usize) -> Val {
        self.vals[h]
    }

    /// Pushes an entry.
    pub fn push(&mut self, v: Val) {
        match v {
            Val::Local(_) | Val::FLocal(_) | Val::LocalSlot(_) => {
                self.lazy_low = self.lazy_low.min(self.vals.len());
            }
            Val::Reg(r) => self.zext &= !Self::zext_bit(r),
            _ => {}
        }
        self.vals.push(v);
    }

    /// Pushes register `r`, which holds a value zero-extended to 64 bits when
    /// `zero_extended` ([`MacroAssembler::is_zero_extended`] right after the operation that
    /// wrote it); [`ValueStack::pop_addr`] passes that on.
    pub fn push_reg(&mut self, r: Reg, zero_extended: bool) {
        self.push(Val::Reg(r));
        if zero_extended {
            self.zext |= Self::zext_bit(r);
        }
    }

    /// Records that entry register `r` now holds an i32 zero-extended to 64 bits (as
    /// [`ValueStack::push_reg`] does for a new entry).
    pub fn set_zero_extended(&mut self, r: Reg) {
        self.zext |= Self::zext_bit(r);
    }

    /// Whether the top entry is a register pushed zero-extended ([`ValueStack::push_reg`]).
    pub fn top_zero_extended(&self) -> bool {
        matches!(self.vals.last(), Some(Val::Reg(r)) if self.zext & Self::zext_bit(*r) != 0)
    }

    /// `r`'s bit in [`ValueStack::zext`] (keyed by register number: both ISAs have 32
    /// general registers at most).
    fn zext_bit(r: Reg) -> u32 {
        1 << (r.0 & 31)
    }

    /// Whether `r` is a value-stack register (not a local's).
    pub fn owns(&self, r: Reg) -> bool {
        self.regs.iter().position(|x| *x == r).is_some_and(|i| i < 32 && self.pool & (1 << i) != 0)
    }

    /// Turns every [`Val::Local`] entry into a copy (a register, or its slot when
    /// registers run out): required before any local that lives in a register is
    /// written. Amortized O(1) per entry: only entries pushed since the last call are
    /// visited.
    pub fn materialize_locals<M: MacroAssembler>(&mut self, masm: &mut M) {
        if self.lazy_low == usize::MAX {
            return;
        }
        let from = self.lazy_low.max(self.watermark);
        self.lazy_low = usize::MAX;
        for h in from..self.vals.len() {
            self.materialize_entry(masm, h, false);
        }
    }

    /// As [`ValueStack::materialize_locals`], for the copies of one local only (`of`: its
    /// [`Val::Local`], [`Val::FLocal`] or [`Val::LocalSlot`] entry; the other locals' stay
    /// lazy), marked
    /// zero-extended when `zext` (the local is an i32 kept zero-extended). When more
    /// than [`SELECTIVE_SCAN`] entries could be lazy it falls back to
    /// [`ValueStack::materialize_locals`], so a call costs O(1) and compilation stays
    /// linear however many lazy entries a crafted body piles up.
    pub fn materialize_copies<M: MacroAssembler>(&mut self, masm: &mut M, of: Val, zext: bool) {
        if self.lazy_low == usize::MAX {
            return;
        }
        // `lazy_low` is a lower bound kept across pops, so it may lie above the stack.
        let from = self.lazy_low.max(self.watermark);
        if self.vals.len().saturating_sub(from) > SELECTIVE_SCAN {
            return self.materialize_locals(masm);
        }
        let mut low = usize::MAX;
        for h in from..self.vals.len() {
            match self.vals[h] {
                v if v == of => {
                    self.materialize_entry(masm, h, zext);
                    if self.watermark > h {
                        // `alloc` spilled every entry: no lazy one is left.
                        low = usize::MAX;
                    }
                }
                Val::Local(_) | Val::FLocal(_) | Val::LocalSlot(_) => low = low.min(h),
                _ => {}
            }
        }
        self.lazy_low = low;
    }

    /// Turns entry `h`, if a [`Val::Local`], [`Val::FLocal`] or [`Val::LocalSlot`], into a
    /// copy in a register (zero-extended when `zext`), or into its slot when `alloc` had
    /// to spill.
    fn materialize_entry<M: MacroAssembler>(&mut self, masm: &mut M, h: usize, zext: bool) {
        match self.vals[h] {
            Val::Local(_) | Val::LocalSlot(_) => {
                let n = self.alloc(masm);
                // `alloc` may have spilled every entry, this one included.
                match self.vals[h] {
                    Val::Local(lr) => {
                        masm.mov(n, lr);
                        if zext {
                            self.zext |= Self::zext_bit(n);
                        }
                    }
                    Val::LocalSlot(local) => masm.load_slot(n, local),
                    _ => return self.free_reg(n),
                }
                self.vals[h] = Val::Reg(n);
            }
            Val::FLocal(_) => {
                let n = self.falloc(masm);
                match self.vals[h] {
                    Val::FLocal(lr) => {
                        masm.f64_mov(n, lr);
                        self.vals[h] = Val::FReg(n);
                    }
                    _ => self.ffree_reg(n),
                }
            }
            _ => {}
        }
    }

    /// Pops the top entry (its register, if any, stays allocated: the caller frees it).
    pub fn pop(&mut self) -> Val {
        let v = self.vals.pop().unwrap_or(Val::Slot);
        if self.watermark > self.vals.len() {
            self.watermark = self.vals.len();
        }
        v
    }

    /// Drops entries down to height `h`, freeing their registers.
    pub fn truncate(&mut self, h: usize) {
        while self.vals.len() > h {
            match self.pop() {
                Val::Reg(r) => self.free_reg(r),
                Val::FReg(x) => self.ffree_reg(x),
                _ => {}
            }
        }
    }

    fn index_of(&self, r: Reg) -> usize {
        self.regs.iter().position(|x| *x == r).unwrap_or(0)
    }

    /// Returns `r` to the free set (no effect on a local's register).
    pub fn free_reg(&mut self, r: Reg) {
        let i = self.index_of(r);
        self.free |= (1 << i) & self.pool;
    }

    /// Frees `v`'s register, if it has one.
    pub fn free_regimm(&mut self, v: RegImm) {
        if let RegImm::Reg(r) = v {
            self.free_reg(r);
        }
    }

    /// Returns float register `x` to the free set (no effect on a local's register).
    pub fn ffree_reg(&mut self, x: FReg) {
        if let Some(i) = self.fregs.iter().position(|f| *f == x) {
            self.ffree |= (1 << i) & self.fpool;
        }
    }

    /// Whether the ISA has float registers for f64 values.
    pub fn has_fregs(&self) -> bool {
        self.fpool != 0
    }

    /// Allocates a float register, spilling every register entry when none is free.
    pub fn falloc<M: MacroAssembler>(&mut self, masm: &mut M) -> FReg {
        if self.ffree == 0 {
            self.spill_all(masm);
        }
        debug_assert!(self.ffree != 0, "float register pool exhausted");
        let i = self.ffree.trailing_zeros() as usize;
        self.ffree &= !(1 << i);
        self.fregs[i.min(self.fregs.len() - 1)]
    }

    /// Allocates a register, spilling every register entry when none is free.
    pub fn alloc<M: MacroAssembler>(&mut self, masm: &mut M) -> Reg {
        if self.free == 0 {
            self.spill_all(masm);
        }
        debug_assert!(self.free != 0, "register pool exhausted");
        let i = self.free.trailing_zeros() as usize;
        // With all stack entries spilled, only the (at most three) registers an operator
        // is holding remain allocated, far fewer than the allocatable set.
        self.free &= !(1 << i);
        let r = self.regs[i.min(self.regs.len() - 1)];
        self.zext &= !Self::zext_bit(r);
        r
    }

    /// Drops entries down to height `h`, then pushes register `r` as the one value a call
    /// or a frame's end left there. `r` must be free once the entries are dropped (the
    /// stack holds no register across a call, nor below an open frame's height).
    pub fn reset_to_reg(&mut self, h: usize, r: Reg) {
        self.truncate(h);
        let i = self.index_of(r);
        debug_assert!(self.free & (1 << i) != 0, "register taken twice");
        self.free &= !(1 << i);
        self.push_reg(r, false);
    }

    /// Writes every register entry to its slot and frees the registers.
    pub fn spill_all<M: MacroAssembler>(&mut self, masm: &mut M) {
        self.spill_below(masm, 0);
    }

    /// As [`ValueStack::spill_all`], for every entry but the top `n` (a direct call's
    /// arguments, which [`ValueStack::pop_into`] takes next).
    pub fn spill_below<M: MacroAssembler>(&mut self, masm: &mut M, n: usize) {
        let top = self.vals.len().saturating_sub(n);
        for h in self.watermark..top {
            match self.vals[h] {
                Val::Reg(r) => {
                    masm.store_slot(self.base_slot + h as u32, r);
                    self.free_reg(r);
                    self.vals[h] = Val::Slot;
                }
                Val::Local(r) => {
                    masm.store_slot(self.base_slot + h as u32, r);
                    self.vals[h] = Val::Slot;
                }
                Val::FReg(x) => {
                    masm.f64_store_slot(self.base_slot + h as u32, x);
                    self.ffree_reg(x);
                    self.vals[h] = Val::Slot;
                }
                Val::FLocal(x) => {
                    masm.f64_store_slot(self.base_slot + h as u32, x);
                    self.vals[h] = Val::Slot;
                }
                Val::LocalSlot(local) => {
                    masm.copy_slot(self.base_slot + h as u32, local);
                    self.vals[h] = Val::Slot;
                }
                Val::Const(_) | Val::Slot => {}
            }
        }
        self.watermark = self.watermark.max(top);
        // No lazy entry is left below `top`; those above may be.
        if n == 0 {
            self.lazy_low = usize::MAX;
        } else if self.lazy_low != usize::MAX {
            self.lazy_low = self.lazy_low.max(top);
        }
    }

    /// Pops the top `dsts.len()` entries (at most 8), the deepest into `dsts[0]`, each
    /// into its register. Every entry below must be spilled ([`ValueStack::spill_below`]),
    /// and the registers in `dsts` may hold nothing else the caller still needs (locals'
    /// registers are saved). The moves between registers are ordered so that each
    /// register is read before it is written; a cycle among them is broken through one
    /// entry's slot.
    pub fn pop_into<M: MacroAssembler>(&mut self, masm: &mut M, dsts: &[Reg]) {
        const MAX: usize = 8;
        debug_assert!(dsts.len() <= MAX);
        let n = dsts.len().min(MAX).min(self.vals.len());
        let h = self.vals.len() - n;
        // (destination, source, entry) of each register-to-register move still to emit.
        let mut pending = [(Reg(0), Reg(0), 0usize); MAX];
        let mut count = 0;
        for (k, &d) in dsts.iter().enumerate().take(n) {
            if let Val::Reg(r) | Val::Local(r) = self.vals[h + k] {
                if r != d {
                    pending[count] = (d, r, k);
                    count += 1;
                }
            }
        }
        while count > 0 {
            let ready = (0..count).find(|&i| !pending[..count].iter().any(|m| m.1 == pending[i].0));
            let i = match ready {
                Some(i) => {
                    masm.mov(pending[i].0, pending[i].1);
                    i
                }
                None => {
                    // Every destination is still to be read: park one source in its
                    // entry's slot, loaded from there below.
                    let (_, src, k) = pending[0];
                    masm.store_slot(self.base_slot + (h + k) as u32, src);
                    if let Val::Reg(r) = self.vals[h + k] {
                        self.free_reg(r);
                    }
                    self.vals[h + k] = Val::Slot;
                    0
                }
            };
            pending[i] = pending[count - 1];
            count -= 1;
        }
        // The entries that read no general register, last.
        for (k, &d) in dsts.iter().enumerate().take(n) {
            if !matches!(self.vals[h + k], Val::Reg(_) | Val::Local(_)) {
                self.copy_to_reg(masm, h + k, d);
            }
        }
        self.truncate(h);
    }

    /// Copies entry `h` into register `r` (no stack change).
    pub fn copy_to_reg<M: MacroAssembler>(&self, masm: &mut M, h: usize, r: Reg) {
        match self.vals[h] {
            Val::Const(c) => masm.mov_imm(r, c),
            Val::Reg(x) | Val::Local(x) => {
                if x != r {
                    masm.mov(r, x);
                }
            }
            Val::FReg(x) | Val::FLocal(x) => masm.f64_to_gpr(r, x),
            Val::Slot => masm.load_slot(r, self.base_slot + h as u32),
            Val::LocalSlot(local) => masm.load_slot(r, local),
        }
    }

    /// Puts the top `n` entries into their slots.
    pub fn materialize_top<M: MacroAssembler>(&mut self, masm: &mut M, n: usize) {
        let len = self.vals.len();
        for h in len.saturating_sub(n)..len {
            match self.vals[h] {
                Val::Const(c) => masm.store_slot_imm(self.base_slot + h as u32, c),
                Val::Reg(r) => {
                    masm.store_slot(self.base_slot + h as u32, r);
                    self.free_reg(r);
                }
                Val::Local(r) => masm.store_slot(self.base_slot + h as u32, r),
                Val::FReg(x) => {
                    masm.f64_store_slot(self.base_slot + h as u32, x);
                    self.ffree_reg(x);
                }
                Val::FLocal(x) => masm.f64_store_slot(self.base_slot + h as u32, x),
                Val::LocalSlot(local) => masm.copy_slot(self.base_slot + h as u32, local),
                Val::Slot => {}
            }
            self.vals[h] = Val::Slot;
        }
    }

    /// Pops the top entry into a register.
    pub fn pop_reg<M: MacroAssembler>(&mut self, masm: &mut M) -> Reg {
        let h = self.vals.len().saturating_sub(1);
        match self.pop() {
            Val::Reg(r) => r,
            Val::Const(c) => {
                let r = self.alloc(masm);
                masm.mov_imm(r, c);
                r
            }
            Val::Slot => {
                let r = self.alloc(masm);
                masm.load_slot(r, self.base_slot + h as u32);
                r
            }
            Val::Local(lr) => {
                let r = self.alloc(masm);
                masm.mov(r, lr);
                r
            }
            Val::FReg(x) => {
                let r = self.alloc(masm);
                masm.f64_to_gpr(r, x);
                self.ffree_reg(x);
                r
            }
            Val::FLocal(x) => {
                let r = self.alloc(masm);
                masm.f64_to_gpr(r, x);
                r
            }
            Val::LocalSlot(local) => {
                let r = self.alloc(masm);
                masm.load_slot(r, local);
                r
            }
        }
    }

    /// Pops the top entry (an f64) into a float register of its own.
    pub fn pop_f64<M: MacroAssembler>(&mut self, masm: &mut M) -> FReg {
        let h = self.vals.len().saturating_sub(1);
        match self.pop() {
            Val::FReg(x) => x,
            Val::FLocal(lx) => {
                let x = self.falloc(masm);
                masm.f64_mov(x, lx);
                x
            }
            Val::Const(c) => {
                let x = self.falloc(masm);
                masm.f64_mov_imm(x, c);
                x
            }
            Val::Slot => {
                let x = self.falloc(masm);
                masm.f64_load_slot(x, self.base_slot + h as u32);
                x
            }
            Val::Reg(r) => {
                let x = self.falloc(masm);
                masm.f64_from_gpr(x, r);
                self.free_reg(r);
                x
            }
            Val::Local(lr) => {
                let x = self.falloc(masm);
                masm.f64_from_gpr(x, lr);
                x
            }
            Val::LocalSlot(local) => {
                let x = self.falloc(masm);
                masm.f64_load_slot(x, local);
                x
            }
        }
    }

    /// Pops the top entry (an f64) into a float register the caller only reads (a
    /// local's own register when the entry is a [`Val::FLocal`]); release it with
    /// [`ValueStack::ffree_reg`].
    pub fn pop_f64_read<M: MacroAssembler>(&mut self, masm: &mut M) -> FReg {
        if let Some(Val::FLocal(lx)) = self.vals.last().copied() {
            self.pop();
            return lx;
        }
        self.pop_f64(masm)
    }

    /// Pops the top entry into a register the caller only reads (a local's own register
    /// when the entry is a [`Val::Local`]); release it with [`ValueStack::free_reg`].
    pub fn pop_read<M: MacroAssembler>(&mut self, masm: &mut M) -> Reg {
        if let Some(Val::Local(lr)) = self.vals.last().copied() {
            self.pop();
            return lr;
        }
        self.pop_reg(masm)
    }

    /// Pops the top entry, an i32 memory address, into a register read only (as
    /// [`ValueStack::pop_read`]) for the memory access the caller emits next. When the
    /// register is known to hold the address zero-extended (an entry pushed zero-extended,
    /// or a slot, loaded with a 32-bit load), tells `masm` so
    /// ([`MacroAssembler::set_zero_extended`]).
    pub fn pop_addr<M: MacroAssembler>(&mut self, masm: &mut M) -> Reg {
        match self.vals.last().copied() {
            Some(Val::Reg(r)) => {
                self.pop();
                if self.zext & Self::zext_bit(r) != 0 {
                    masm.set_zero_extended(r);
                }
                r
            }
            Some(Val::Local(lr)) => {
                self.pop();
                lr
            }
            Some(Val::Slot) => {
                let h = self.vals.len() - 1;
                self.pop();
                let r = self.alloc(masm);
                masm.load_slot_u32(r, self.base_slot + h as u32);
                r
            }
            _ => self.pop_reg(masm),
        }
    }

    /// Pops the top entry as a register (read only, as [`ValueStack::pop_read`]) or an
    /// immediate.
    pub fn pop_regimm<M: MacroAssembler>(&mut self, masm: &mut M) -> RegImm {
        if let Some(Val::Const(c)) = self.vals.last().copied() {
            self.pop();
            return RegImm::Imm(c);
        }
        RegImm::Reg(self.pop_read(masm))
    }

    /// After `spill_all`: pops the top `n` entries as call arguments (deepest first).
    pub fn pop_args(&mut self, n: usize) -> Vec<ArgSrc> {
        let len = self.vals.len();
        let start = len.saturating_sub(n);
        let args = (start..len)
            .map(|h| match self.vals[h] {
                Val::Const(c) => ArgSrc::Imm(c),
                Val::LocalSlot(local) => ArgSrc::Slot(local),
                _ => ArgSrc::Slot(self.base_slot + h as u32),
            })
            .collect();
        self.truncate(start);
        args
    }

    /// Whether every register is free (true at every control-flow merge).
    pub fn all_free(&self) -> bool {
        self.free == self.pool && self.ffree == self.fpool
    }
}
