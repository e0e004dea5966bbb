//! The `MacroAssembler` trait: the only interface between the arch-neutral code generator
//! (`compiler/`) and an instruction set (`isa/*`).
//!
//! The code generator thinks in terms of a fixed frame of 8-byte *slots* (parameters and
//! locals first, then one slot per operand-stack height), a small set of allocatable
//! registers that each hold one 64-bit value of any wasm type (floats and references are
//! kept as their bit patterns), labels, and a handful of semantic operations. Every value
//! is 64 bits wide in a slot or register; 32-bit operations ignore the upper half.
//! An ISA may also offer float registers ([`MacroAssembler::float_allocatable`]): the code
//! generator then keeps f64 values that f64 operators produce or consume there, and moves
//! them to a general register or a slot wherever any other operator takes them.
//!
//! Calling convention (implemented by each ISA): a call passes a pointer to the argument
//! slots; the callee copies them into its own frame and writes its results back through
//! the same pointer, except that an ISA may pass a direct call's arguments in registers
//! ([`MacroAssembler::call_arg_regs`]) and return a function's only result in a register
//! to direct callers ([`MacroAssembler::call_result_reg`]). Traps jump to a stub that
//! unwinds to the entry trampoline.

pub use crate::runtime::vmctx::GlobalAccess;

/// An allocatable register, by hardware number. Opaque to the code generator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Reg(pub u8);

/// An allocatable float register, by hardware number; it holds one f64 value (see
/// [`MacroAssembler::float_allocatable`]). Opaque to the code generator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FReg(pub u8);

/// A code label (a position bound later), created by [`MacroAssembler::new_label`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Label(pub u32);

/// Labels created in the same order in an assembler and its [`MacroAssembler::part`]s
/// (the module's functions): `count` labels from `part_first` in the part are the
/// labels from `first` in the assembler it is appended to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SharedLabels {
    /// The first shared label in the part.
    pub part_first: Label,
    /// The first shared label in the assembler appended to.
    pub first: Label,
    /// Shared labels.
    pub count: u32,
}

/// The ISA-independent half of [`MacroAssembler::append`]: merges a part's labels
/// (`part_labels`, each a code offset once bound) into `labels`, the part's code starting
/// at offset `base`. `stubs` pairs each of this assembler's lazily created stub labels with
/// the part's for the same stub (a part's are never bound: stubs are emitted by
/// `finish`); each stub the part used is created here when this assembler has none yet.
/// Returns the new number of each of the part's labels.
pub(crate) fn append_labels<'s>(
    labels: &mut Vec<Option<usize>>,
    part_labels: &[Option<usize>],
    base: usize,
    shared: SharedLabels,
    stubs: impl Iterator<Item = (&'s mut Option<Label>, Option<Label>)>,
) -> Vec<u32> {
    const UNMAPPED: u32 = u32::MAX;
    let mut map = vec![UNMAPPED; part_labels.len()];
    labels.reserve(part_labels.len());
    for k in 0..shared.count {
        let (theirs, mine) = ((shared.part_first.0 + k) as usize, shared.first.0 + k);
        map[theirs] = mine;
        if let Some(pos) = part_labels[theirs] {
            labels[mine as usize] = Some(pos + base);
        }
    }
    for (mine, theirs) in stubs {
        if let Some(theirs) = theirs {
            debug_assert!(part_labels[theirs.0 as usize].is_none(), "a part's stubs are unbound");
            let mine = *mine.get_or_insert_with(|| {
                labels.push(None);
                Label((labels.len() - 1) as u32)
            });
            map[theirs.0 as usize] = mine.0;
        }
    }
    for (new, pos) in map.iter_mut().zip(part_labels) {
        if *new == UNMAPPED {
            labels.push(pos.map(|p| p + base));
            *new = (labels.len() - 1) as u32;
        }
    }
    map
}

/// Operand width of an integer or float operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Size {
    /// 32-bit (`i32`, `f32`).
    S32,
    /// 64-bit (`i64`, `f64`).
    S64,
}

/// Right-hand operand: a register or an immediate (bits, truncated to the operation size).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegImm {
    /// A register.
    Reg(Reg),
    /// An immediate.
    Imm(u64),
}

/// A call argument: a frame slot or an immediate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArgSrc {
    /// Value in frame slot `n`.
    Slot(u32),
    /// An immediate value.
    Imm(u64),
}

/// Two-operand integer operations (`dst = dst op rhs`). Shift counts are taken modulo the
/// operation width, as in wasm.
#[allow(missing_docs)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IntBin {
    Add,
    Sub,
    Mul,
    And,
    Or,
    Xor,
    Shl,
    ShrS,
    ShrU,
    Rotl,
    Rotr,
}

/// Integer division and remainder; they trap on a zero divisor, and `DivS` on overflow.
#[allow(missing_docs)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IntDiv {
    DivS,
    DivU,
    RemS,
    RemU,
}

/// Integer comparisons; the result is an i32 0 or 1.
#[allow(missing_docs)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IntCmp {
    Eq,
    Ne,
    LtS,
    LtU,
    GtS,
    GtU,
    LeS,
    LeU,
    GeS,
    GeU,
}

impl IntCmp {
    /// The comparison that holds exactly when `self` does not.
    pub fn negate(self) -> IntCmp {
        match self {
            IntCmp::Eq => IntCmp::Ne,
            IntCmp::Ne => IntCmp::Eq,
            IntCmp::LtS => IntCmp::GeS,
            IntCmp::GeS => IntCmp::LtS,
            IntCmp::LtU => IntCmp::GeU,
            IntCmp::GeU => IntCmp::LtU,
            IntCmp::GtS => IntCmp::LeS,
            IntCmp::LeS => IntCmp::GtS,
            IntCmp::GtU => IntCmp::LeU,
            IntCmp::LeU => IntCmp::GtU,
        }
    }
}

/// One-operand integer operations (`dst = op dst`).
#[allow(missing_docs)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IntUn {
    Clz,
    Ctz,
    Popcnt,
    /// Result is an i32 0 or 1.
    Eqz,
    Extend8S,
    Extend16S,
    /// 64-bit only: sign-extend the low 32 bits.
    Extend32S,
    /// Zero-extend the low 32 bits into 64 (`i64.extend_i32_u`, `i32.wrap_i64`).
    ZeroExtend32,
}

/// Two-operand float operations on bit patterns held in registers.
#[allow(missing_docs)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FloatBin {
    Add,
    Sub,
    Mul,
    Div,
}

/// One-operand float operations. `Promote` takes an f32 and yields an f64; `Demote` the
/// reverse; `ConvertI32S`/`ConvertI64S` take a signed integer, `ConvertI32U` an unsigned
/// i32, and yield the float of the
/// operation size.
#[allow(missing_docs)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FloatUn {
    Sqrt,
    Ceil,
    Floor,
    Trunc,
    Nearest,
    Promote,
    Demote,
    ConvertI32S,
    ConvertI64S,
    ConvertI32U,
}

/// Float comparisons (ordered; any NaN operand yields 0, except `Ne` which yields 1).
#[allow(missing_docs)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FloatCmp {
    Eq,
    Ne,
    Lt,
    Gt,
    Le,
    Ge,
}

/// Linear-memory load kinds: width and extension. The result fills the register as the
/// wasm result type requires (i32 results are zero-extended into 64 bits).
#[allow(missing_docs)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoadKind {
    /// 8 bytes.
    U64,
    /// 4 bytes, zero-extended.
    U32,
    /// 4 bytes, sign-extended to 64.
    S32To64,
    U16,
    S16To32,
    S16To64,
    U8,
    S8To32,
    S8To64,
}

impl LoadKind {
    /// Bytes read.
    pub fn bytes(self) -> u32 {
        match self {
            LoadKind::U64 => 8,
            LoadKind::U32 | LoadKind::S32To64 => 4,
            LoadKind::U16 | LoadKind::S16To32 | LoadKind::S16To64 => 2,
            LoadKind::U8 | LoadKind::S8To32 | LoadKind::S8To64 => 1,
        }
    }
}

/// Runtime trap codes shared by generated code, stubs and the runtime. The numbers are
/// stable and consensus-visible ([`crate::Trap::stable_code`]): never renumber.
#[allow(missing_docs)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum TrapCode {
    OutOfGas = 1,
    StackExhausted = 2,
    Unreachable = 3,
    IntegerDivideByZero = 4,
    IntegerOverflow = 5,
    InvalidConversionToInteger = 6,
    MemoryOutOfBounds = 7,
    TableOutOfBounds = 8,
    IndirectCallToNull = 9,
    BadSignature = 10,
    /// A host function trapped; the details are kept by the store.
    Host = 11,
}

impl TrapCode {
    /// Number of trap codes plus one (codes start at 1).
    pub const COUNT: usize = 12;
    /// All codes, in order.
    pub const ALL: [TrapCode; 11] = [
        TrapCode::OutOfGas,
        TrapCode::StackExhausted,
        TrapCode::Unreachable,
        TrapCode::IntegerDivideByZero,
        TrapCode::IntegerOverflow,
        TrapCode::InvalidConversionToInteger,
        TrapCode::MemoryOutOfBounds,
        TrapCode::TableOutOfBounds,
        TrapCode::IndirectCallToNull,
        TrapCode::BadSignature,
        TrapCode::Host,
    ];
    /// The code with number `n`, if any.
    pub fn from_u32(n: u32) -> Option<TrapCode> {
        TrapCode::ALL.get((n as usize).checked_sub(1)?).copied()
    }
}

/// Runtime helper functions ("libcalls") that generated code calls for complex operators.
/// Every libcall has the native signature
/// `extern "C" fn(vmctx, a, b, c, d, e) -> LibcallResult { value, trap }`;
/// a nonzero `trap` is a [`TrapCode`]. Their addresses live in a table the generated code
/// reaches through the store context, so compiled code holds no absolute addresses.
#[allow(missing_docs)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum LibCall {
    /// (delta, unit_cost) -> old pages or -1.
    MemoryGrow = 0,
    /// (dst, val, len, unit_cost).
    MemoryFill,
    /// (dst, src, len, unit_cost).
    MemoryCopy,
    /// (segment, dst, src, len, unit_cost).
    MemoryInit,
    /// (segment).
    DataDrop,
    /// (table, index) -> ref.
    TableGet,
    /// (table, index, ref).
    TableSet,
    /// (table) -> size.
    TableSize,
    /// (table, init, delta, unit_cost) -> old size or -1.
    TableGrow,
    /// (table, index, ref, len, unit_cost).
    TableFill,
    /// (dst_table | src_table << 32, dst, src, len, unit_cost).
    TableCopy,
    /// (table | segment << 32, dst, src, len, unit_cost).
    TableInit,
    /// (segment).
    ElemDrop,
    /// (function index) -> funcref.
    RefFunc,
    /// (a, b, op) float binary op on bits: op 0 = f32.min, 1 = f32.max, 2 = f64.min,
    /// 3 = f64.max.
    FloatMinMax,
    /// (bits, kind) float -> int conversion; kinds in `runtime::libcalls`.
    FloatToInt,
    /// (bits, kind) int -> float conversion; kinds in `runtime::libcalls`.
    IntToFloat,
}

impl LibCall {
    /// Number of libcalls.
    pub const COUNT: usize = 17;
}

/// What a finished module's code buffer looks like.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompiledCode {
    /// Machine code: position-independent, no absolute addresses.
    pub code: Vec<u8>,
    /// Offset of the host-to-wasm entry trampoline.
    pub trampoline: u32,
    /// Offset of each defined function, in definition order.
    pub functions: Vec<u32>,
    /// Offsets of the memory accesses emitted without a bounds check, sorted: each relies
    /// on the memory's guard reservation (`runtime::signals`), and a fault there is the
    /// `MemoryOutOfBounds` trap. Empty for an ISA that checks every access in code.
    pub memory_trap_sites: Vec<u32>,
    /// Offset of the stub a faulting access in `memory_trap_sites` resumes at (it traps
    /// `MemoryOutOfBounds`); 0 when there are no such sites.
    pub memory_trap_stub: u32,
}

/// What [`MacroAssembler::func_prologue`] sets up: a frame of `slots` slots (the
/// `params` parameters first, then the `locals` declared locals, then the operand stack).
/// The arguments are copied into slots `0..params` and slots `params..params+locals` are
/// zeroed, except for the locals in `in_regs` (`(local, register)` pairs): each of those
/// gets its initial value in its register instead (a parameter straight from the caller's
/// argument area, 32 bits zero-extended when bit k of `zero_extend` is set for
/// `in_regs[k]`; any other local 0), and its slot may be left unwritten. A declared local
/// for which `zero_observed` is false is not zeroed at all (in its register or slot).
#[derive(Clone, Copy)]
pub struct Prologue<'a> {
    /// Parameters.
    pub params: u32,
    /// Results: the caller's result area is kept for [`MacroAssembler::func_epilogue`]
    /// only when nonzero.
    pub results: u32,
    /// Declared locals.
    pub locals: u32,
    /// Frame slots.
    pub slots: u32,
    /// The locals that live in registers.
    pub in_regs: &'a [(u32, Reg)],
    /// Bit k: `in_regs[k]` is an i32 local (loaded 32 bits, zero-extended). Until the
    /// next prologue its register holds an i32 zero-extended to 64 bits wherever the
    /// function reads it: the code generator writes it only with 32-bit operations
    /// ([`MacroAssembler::int_bin`] and [`MacroAssembler::int_bin_from`] at [`Size::S32`],
    /// i32 loads), [`MacroAssembler::mov_u32`], [`MacroAssembler::load_slot_u32`] and
    /// constants below 2^32. An ISA that must zero-extend a 32-bit address before using it
    /// as an index may use such a register as it is.
    pub zero_extend: u64,
    /// Whether the body calls (`call`, `call_indirect`): only then does the frame keep
    /// what callees are entered with (the deterministic stack count).
    pub calls: bool,
    /// Whether a declared local's initial 0 may be read
    /// (`keel_metering::FunctionAnalysis::zero_observed`).
    pub zero_observed: &'a dyn Fn(u32) -> bool,
}

/// The arch-neutral interface every ISA implements. See the module docs for the model.
pub trait MacroAssembler {
    /// Registers the code generator may allocate.
    fn allocatable(&self) -> &'static [Reg];
    /// Creates an unbound label.
    fn new_label(&mut self) -> Label;
    /// Binds `label` to the current position.
    fn bind(&mut self, label: Label);

    /// Starts a function: see [`Prologue`].
    fn func_prologue(&mut self, p: &Prologue<'_>);
    /// From here to the end of the function (or the next call for `reg`), register `reg`,
    /// one of [`Prologue::in_regs`]' registers, holds another local than before: an i32
    /// one when `zero_extended` (which then holds as [`Prologue::zero_extend`] says),
    /// else one whose register may hold any 64 bits. Emits nothing.
    fn local_reg_handed_over(&mut self, reg: Reg, zero_extended: bool);
    /// Copies `results` values from slots `first_result..` to the caller's result area and
    /// returns to the caller; a single result is in [`Self::call_result_reg`] already
    /// when the ISA has one (the code generator leaves it there).
    fn func_epilogue(&mut self, first_result: u32, results: u32);
    /// Deterministic stack accounting at entry, emitted before [`Self::func_prologue`]
    /// (registers as at the call; only scratch registers may be used): traps
    /// `StackExhausted` when `used + cost > limit`, else `used += cost`.
    fn stack_enter(&mut self, cost: u32);
    /// Releases the frame's stack slots: `used -= cost` (no code at all for an ISA that
    /// passes `used` to callees by value).
    fn stack_exit(&mut self, cost: u32);
    /// Charges `gas` (traps `OutOfGas`, leaving 0 remaining, when not enough is left,
    /// including when [`Self::charge_gas_unchecked`] overdrew the counter before).
    fn charge_gas(&mut self, gas: u64);
    /// Subtracts `gas` without checking: the counter may go below zero, which the next
    /// [`Self::charge_gas`] or [`Self::check_gas`] turns into `OutOfGas`. The code generator
    /// uses it only for [`keel_metering::BlockCharge::pure`] blocks, and checks before the
    /// function returns. The default checks (an ISA whose counter is unsigned).
    fn charge_gas_unchecked(&mut self, gas: u64) {
        self.charge_gas(gas);
    }
    /// Traps `OutOfGas`, leaving 0 remaining, when unchecked charges overdrew the counter.
    /// The default does nothing: it goes with the default [`Self::charge_gas_unchecked`].
    fn check_gas(&mut self) {}

    /// `dst = slot[n]`.
    fn load_slot(&mut self, dst: Reg, slot: u32);
    /// `dst = slot[n]`'s low 32 bits, zero-extended.
    fn load_slot_u32(&mut self, dst: Reg, slot: u32);
    /// Whether the instruction emitted last wrote `reg` with a 32-bit operation, so that
    /// it holds a value zero-extended to 64 bits. `false` when unknown (the default).
    fn is_zero_extended(&self, reg: Reg) -> bool {
        let _ = reg;
        false
    }
    /// `reg` holds a value zero-extended to 64 bits right now: the code generator saw it
    /// written by a 32-bit operation ([`Self::is_zero_extended`]) and has not let anything
    /// write it since. Holds until the next instruction is emitted; an ISA that must
    /// zero-extend a 32-bit address (or an `i64.extend_i32_u` operand) may skip that for
    /// `reg` in the operation emitted next. The default ignores it.
    fn set_zero_extended(&mut self, reg: Reg) {
        let _ = reg;
    }
    /// `slot[n] = src`.
    fn store_slot(&mut self, slot: u32, src: Reg);
    /// `slot[n] = imm`.
    fn store_slot_imm(&mut self, slot: u32, imm: u64);
    /// `slot[dst] = slot[src]`.
    fn copy_slot(&mut self, dst: u32, src: u32);
    /// `dst = src`.
    fn mov(&mut self, dst: Reg, src: Reg);
    /// `dst = imm`.
    fn mov_imm(&mut self, dst: Reg, imm: u64);
    /// `dst = src`'s low 32 bits, zero-extended.
    fn mov_u32(&mut self, dst: Reg, src: Reg);

    /// `dst = dst op rhs`. At [`Size::S32`] the result is zero-extended to 64 bits (i32
    /// locals' registers rely on it, see [`Prologue::zero_extend`]).
    fn int_bin(&mut self, op: IntBin, size: Size, dst: Reg, rhs: RegImm);
    /// `dst = src op rhs`, leaving `src` (a local's register) unchanged. `dst` differs from
    /// `src` and from `rhs`'s register. One instruction where the ISA has a three-operand
    /// form (aarch64 always; x86-64 `lea` for additions and subtractions, `imul r, r, imm`);
    /// otherwise a copy and [`Self::int_bin`], which is the default. At [`Size::S32`] the
    /// result is zero-extended, as [`Self::int_bin`]'s.
    fn int_bin_from(&mut self, op: IntBin, size: Size, dst: Reg, src: Reg, rhs: RegImm) {
        self.mov(dst, src);
        self.int_bin(op, size, dst, rhs);
    }
    /// `dst = dst op slot` for `op` one of add, sub, and, or, xor and mul, the right
    /// operand read from frame slot `slot` (its low 32 bits at [`Size::S32`]): x86-64 uses
    /// a memory operand at [`Size::S64`], aarch64 a scratch register. Slots are read
    /// whole (64 bits), as they are written. At [`Size::S32`] the result is
    /// zero-extended, as [`Self::int_bin`]'s.
    fn int_bin_slot(&mut self, op: IntBin, size: Size, dst: Reg, slot: u32);
    /// `dst = slot op imm`, the left operand read from frame slot `slot` (at
    /// [`Size::S32`] its low 32 bits, and the result zero-extended). One instruction
    /// where the ISA reads memory in such a form (x86-64 at [`Size::S64`]:
    /// `imul dst, [m], imm`, BMI2's `rorx dst, [m], imm`); otherwise a load of the whole
    /// slot and [`Self::int_bin`], the default.
    fn int_bin_from_slot(&mut self, op: IntBin, size: Size, dst: Reg, slot: u32, imm: u64) {
        self.load_slot(dst, slot);
        self.int_bin(op, size, dst, RegImm::Imm(imm));
    }
    /// `dst = dst op rhs`, trapping on zero divisor / overflow.
    fn int_div(&mut self, op: IntDiv, size: Size, dst: Reg, rhs: Reg);
    /// `dst = (dst cc rhs) as i32`.
    fn int_cmp(&mut self, cc: IntCmp, size: Size, dst: Reg, rhs: RegImm);
    /// `dst = op dst`.
    fn int_un(&mut self, op: IntUn, size: Size, dst: Reg);
    /// Float registers the code generator may allocate to f64 values (operands and
    /// locals), all caller-saved; empty when the ISA keeps every value in general
    /// registers, in which case none of the `f64_*` methods below is called.
    fn float_allocatable(&self) -> &'static [FReg];
    /// `dst = src` (f64).
    fn f64_mov(&mut self, dst: FReg, src: FReg);
    /// `dst = bits` (the f64 whose bit pattern is `bits`).
    fn f64_mov_imm(&mut self, dst: FReg, bits: u64);
    /// `dst = src`, the 64 bits of a general register taken as an f64's bit pattern.
    fn f64_from_gpr(&mut self, dst: FReg, src: Reg);
    /// `dst = src`, an f64's 64-bit pattern into a general register.
    fn f64_to_gpr(&mut self, dst: Reg, src: FReg);
    /// `dst = slot[n]` (8 bytes).
    fn f64_load_slot(&mut self, dst: FReg, slot: u32);
    /// `slot[n] = src` (8 bytes).
    fn f64_store_slot(&mut self, slot: u32, src: FReg);
    /// `dst = f64.load(memory[addr32 + offset])`, trapping `MemoryOutOfBounds` exactly as
    /// [`Self::load`] of 8 bytes does.
    fn f64_load(&mut self, dst: FReg, addr: Reg, offset: u64);
    /// `memory[addr32 + offset] = src` (8 bytes), trapping as [`Self::store`] does.
    fn f64_store(&mut self, addr: Reg, src: FReg, offset: u64);
    /// `dst = dst op rhs` on f64 registers; `canon` replaces a NaN result by the canonical
    /// NaN. `rhs` is only read (it may be a local's register).
    fn f64_bin(&mut self, op: FloatBin, dst: FReg, rhs: FReg, canon: bool);
    /// `dst = dst op rhs` on floats; `canon` replaces a NaN result by the canonical NaN.
    fn float_bin(&mut self, op: FloatBin, size: Size, dst: Reg, rhs: Reg, canon: bool);
    /// `dst = op dst` on floats; `size` is the result size.
    fn float_un(&mut self, op: FloatUn, size: Size, dst: Reg, canon: bool);
    /// `dst = (dst cc rhs) as i32` on floats.
    fn float_cmp(&mut self, cc: FloatCmp, size: Size, dst: Reg, rhs: Reg);
    /// `dst = if cond32 != 0 { dst } else { alt }`.
    fn select(&mut self, dst: Reg, alt: Reg, cond: Reg);

    /// `dst = load(memory[addr32 + offset])`, trapping `MemoryOutOfBounds`. The kinds
    /// with an i32 result leave it zero-extended to 64 bits.
    fn load(&mut self, kind: LoadKind, dst: Reg, addr: Reg, offset: u64);
    /// `memory[addr32 + offset] = value` (low `bytes` bytes), trapping `MemoryOutOfBounds`.
    fn store(&mut self, bytes: u32, addr: Reg, value: Reg, offset: u64);
    /// `dst = memory size in pages`.
    fn memory_size(&mut self, dst: Reg);
    /// `dst = global` (all 64 bits of its cell), the global found as `at` says.
    fn global_get(&mut self, dst: Reg, at: GlobalAccess);
    /// `global = src` (all 64 bits of its cell), the global found as `at` says.
    fn global_set(&mut self, at: GlobalAccess, src: Reg);

    /// Unconditional jump.
    fn jump(&mut self, target: Label);
    /// Jumps when `cond` (i32) is nonzero (`if_nonzero`) or zero.
    fn branch(&mut self, cond: Reg, if_nonzero: bool, target: Label);
    /// Jumps to `target` when `lhs cc rhs` holds. Reads `lhs` and `rhs` without changing
    /// them (the code generator passes locals' own registers).
    fn branch_cmp(&mut self, cc: IntCmp, size: Size, lhs: Reg, rhs: RegImm, target: Label);
    /// Jumps to `targets[index]`, or `default` when `index >= targets.len()` (index is u32).
    fn br_table(&mut self, index: Reg, targets: &[Label], default: Label);
    /// Calls a function of this module; arguments and results at `args_slot..`, except a
    /// function's only result, which is in [`Self::call_result_reg`] when that is `Some`.
    /// `args_slot` is `None` when the arguments are in the callee's
    /// [`Self::call_arg_regs`] (never for an ISA whose list is always empty).
    fn call_direct(&mut self, func: Label, args_slot: Option<u32>);
    /// The registers in which a direct call ([`Self::call_direct`]) passes the arguments
    /// of a function with `params` parameters and `results` results, argument k in
    /// register k (each as 64 bits of which an i32 uses the low 32); empty when such a
    /// function takes its arguments from the argument area, as every function reached
    /// otherwise does through the entry [`Self::finish`] emits, which loads them into
    /// these registers. Allocatable registers, never [`Self::call_result_reg`]; the
    /// default is always empty.
    fn call_arg_regs(&self, params: u32, results: u32) -> &'static [Reg] {
        let _ = (params, results);
        &[]
    }
    /// The register, one of the value stack's (never one [`Self::allocatable`] lists last,
    /// which locals take), in which a function with exactly one result returns it to a
    /// direct caller ([`Self::call_direct`]); `None`: in the argument area, as every
    /// function reached otherwise (function references, imports, exports, the host)
    /// returns its results, through the entry [`Self::finish`] emits.
    fn call_result_reg(&self) -> Option<Reg>;
    /// Calls imported function `import`; arguments and results at `args_slot..`.
    fn call_import(&mut self, import: u32, args_slot: u32);
    /// Calls through `table[index]`, checking the signature against `type_index`.
    fn call_indirect(&mut self, table: u32, type_index: u32, index: ArgSrc, args_slot: u32);
    /// Calls a runtime helper; the result, if any, goes to `result_slot`.
    fn libcall(&mut self, call: LibCall, args: &[ArgSrc], result_slot: Option<u32>);
    /// Unconditional trap.
    fn trap(&mut self, code: TrapCode);

    /// A new, empty assembler with this one's settings, for a part of the module's
    /// functions compiled apart (on another thread) and then [`Self::append`]ed: no entry
    /// trampoline, room for `bytes` bytes of code.
    fn part(&self, bytes: usize) -> Self
    where
        Self: Sized;
    /// Resolves the branches of a [`Self::part`] whose targets are bound in it (all but
    /// those to other parts' functions and to the shared stubs), so that the thread that
    /// compiled the part does that work rather than [`Self::append`] and `finish`, which
    /// run on one thread. Changes no byte of the final code: branches are relative.
    fn seal_part(&mut self);
    /// Appends `part`'s code (a [`Self::part`] of this assembler, not finished) at the
    /// current offset, which it must be ready to run at: its labels, pending branches and
    /// unchecked-access sites move with it, its branches to the shared stubs go to this
    /// assembler's, and `shared`'s labels (the functions) become this assembler's.
    /// Everything in `part`'s code stays where it was relative to its start, so code
    /// emitted by parts appended in order is the code one assembler would have emitted,
    /// except for an ISA's range-extension veneers placed where a part starts. Returns the
    /// offset where the part's code now starts (after such veneers).
    fn append(&mut self, part: Self, shared: SharedLabels) -> u32
    where
        Self: Sized;

    /// Emits the shared stubs and resolves every label; consumes the assembler.
    /// `functions[i]` is the offset of defined function i's body and `signatures[i]` its
    /// (parameters, results) (an ISA that emits an external entry per function loads
    /// [`Self::call_arg_regs`] arguments and writes a [`Self::call_result_reg`] result to
    /// the argument area there).
    ///
    /// Errors: [`crate::error::CompileError::CodeTooLarge`] when a branch cannot reach its
    /// target within the ISA's branch range.
    fn finish(
        self,
        functions: Vec<u32>,
        signatures: &[(u32, u32)],
    ) -> Result<CompiledCode, crate::error::CompileError>;
    /// Current code offset.
    fn offset(&self) -> u32;
}
