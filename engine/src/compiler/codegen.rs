//! The operator visitor: maps each wasm operator to MacroAssembler calls, in one forward
//! pass with O(1) work per operator (O(targets) for `br_table`).
//!
//! Invariants at every control-flow merge (block/loop/if entry, branch targets, `end`):
//! no value is in a register; entries below the frame's parameters are constants or in
//! their slots and never change inside the frame; parameters and results are in their
//! slots. Branches copy their carried values into the target frame's slots.

use std::borrow::Borrow;
use std::collections::HashMap;

use keel_metering::nan::canonicalized_result;
use keel_metering::{BlockCharge, CostTable, DynamicKind, FunctionAnalysis, LiveRange};
use wasmparser::{BlockType, FunctionBody, Operator};

use super::control::{ControlFrame, ExitTest, FrameKind, MAX_EXIT_TEST_OPS, NO_LOOP};
use super::frame::FrameLayout;
use super::stack::{Val, ValueStack};
use crate::error::CompileError;
use crate::masm::*;
use crate::runtime::vmctx::global_access;

/// What the code generator needs to know about the module.
#[derive(Debug, Clone, Default)]
pub struct CompileEnv {
    /// Signatures: (params, results) counts per type index.
    pub types: Vec<(u32, u32)>,
    /// Type index of every function (imports first).
    pub func_types: Vec<u32>,
    /// Number of imported functions.
    pub imported_funcs: u32,
    /// Number of imported globals (they come first in the global index space).
    pub imported_globals: u32,
    /// Whether to emit gas charges (block charges and operand-dependent unit costs).
    /// The deterministic stack accounting is emitted either way.
    pub metering: bool,
}

impl CompileEnv {
    /// `(params, results)` of function `func` (imports first), if it has a type.
    pub fn signature(&self, func: u32) -> Option<(u32, u32)> {
        self.func_types.get(func as usize).and_then(|t| self.types.get(*t as usize)).copied()
    }
}

/// Compiles every defined function from its body, decoding the operators here. `bodies`
/// and `analyses` (from [`keel_metering::analyze`]) are in definition order.
/// [`crate::Module::new`] takes the faster route of [`ModuleCompiler`] fed by
/// [`keel_metering::analyze_each`], which decodes each operator once; both produce the
/// same code.
///
/// Errors: [`CompileError`] when a body cannot be read (the module was validated before,
/// so this only happens for inconsistent inputs) or a frame is too large.
pub fn compile_module<M: MacroAssembler>(
    masm: M,
    env: &CompileEnv,
    bodies: &[FunctionBody<'_>],
    analyses: &[FunctionAnalysis],
    costs: &CostTable,
) -> Result<CompiledCode, CompileError> {
    if bodies.len() != analyses.len() {
        return Err(CompileError::Internal("analysis does not match the code section".into()));
    }
    let mut mc = ModuleCompiler::new(masm, env, costs, bodies.len());
    for (body, fa) in bodies.iter().zip(analyses) {
        mc.compile_function_from_body(fa, body)?;
    }
    mc.finish()
}

/// Compiles a module's defined functions one at a time, in definition order, each from its
/// analysis and its decoded operators (as [`keel_metering::analyze_each`] hands them over),
/// into one code buffer.
pub struct ModuleCompiler<'a, M: MacroAssembler> {
    masm: M,
    env: &'a CompileEnv,
    costs: &'a CostTable,
    /// One label per defined function (call targets), bound at its first instruction.
    labels: Vec<Label>,
    /// Offset of each function compiled so far.
    offsets: Vec<u32>,
    /// Index among the defined functions of the first one this compiler compiles: 0, or
    /// the first of a part ([`Self::part`]).
    first: usize,
    /// Buffers reused from one function to the next.
    scratch: Scratch,
}

/// Consecutive functions of a module compiled apart ([`ModuleCompiler::part`]), for
/// [`ModuleCompiler::append`]: their code with its unresolved branches (to other functions
/// and to the shared stubs), and each function's offset in it.
pub struct CompiledPart<M> {
    masm: M,
    /// Index among the defined functions of the part's first function.
    first: usize,
    /// The part's label of defined function 0 (its function labels are consecutive).
    function_labels: Label,
    offsets: Vec<u32>,
}

/// The buffers one function's compilation needs, kept from one function to the next so
/// that each is allocated once per module (and, through [`ModuleCompiler::with_scratch`],
/// from one module to the next). Holds only capacity between functions.
#[derive(Default)]
pub struct Scratch {
    control: Vec<ControlFrame>,
    vals: Vec<Val>,
    pinned: Vec<(u32, Reg)>,
    fpinned: Vec<(u32, FReg)>,
    /// [`FuncCodegen::pin_of`].
    pin_of: Vec<u8>,
    /// [`pick_local_regs`]' and [`share_local_regs`]' candidates.
    chosen: Vec<(u32, u32)>,
    /// [`share_local_regs`]' assignments.
    shared: Vec<(usize, u32, LiveRange)>,
    /// [`FuncCodegen::handovers`].
    handovers: Vec<Handover>,
    gas_stubs: Vec<(Label, u64, Label)>,
    /// [`FuncCodegen::test_ops`].
    test_ops: Vec<Operator<'static>>,
    /// [`FuncCodegen::exit_tests`].
    exit_tests: Vec<ExitTest>,
}

impl<'a, M: MacroAssembler> ModuleCompiler<'a, M> {
    /// A compiler for a module with `defined` defined functions.
    pub fn new(masm: M, env: &'a CompileEnv, costs: &'a CostTable, defined: usize) -> Self {
        Self::with_scratch(masm, env, costs, defined, Scratch::default())
    }

    /// As [`Self::new`], with the per-function buffers of an earlier compilation
    /// (see [`Self::take_scratch`]).
    pub fn with_scratch(mut masm: M, env: &'a CompileEnv, costs: &'a CostTable, defined: usize, scratch: Scratch) -> Self {
        let labels = (0..defined).map(|_| masm.new_label()).collect();
        ModuleCompiler { masm, env, costs, labels, offsets: Vec::with_capacity(defined), first: 0, scratch }
    }

    /// A compiler for the module's defined functions from index `first` on, into code of
    /// its own (an assembler [`MacroAssembler::part`] of this one's, with room for
    /// `bytes` bytes), to be [`Self::append`]ed to this compiler once it has compiled the
    /// functions before `first`. It may run on another thread; `scratch` are its buffers.
    pub fn part(&self, first: usize, bytes: usize, scratch: Scratch) -> ModuleCompiler<'a, M> {
        let mut masm = self.masm.part(bytes);
        let labels = (0..self.labels.len()).map(|_| masm.new_label()).collect();
        ModuleCompiler { masm, env: self.env, costs: self.costs, labels, offsets: Vec::new(), first, scratch }
    }

    /// The functions a [`Self::part`] compiler compiled, and its buffers back.
    pub fn into_part(mut self) -> (CompiledPart<M>, Scratch) {
        self.masm.seal_part();
        let scratch = self.take_scratch();
        let function_labels = self.labels.first().copied().unwrap_or(Label(0));
        (CompiledPart { masm: self.masm, first: self.first, function_labels, offsets: self.offsets }, scratch)
    }

    /// Appends `part`'s functions after those compiled so far: the code is what compiling
    /// them here would have emitted (up to an ISA's range-extension veneers, see
    /// [`MacroAssembler::append`]).
    ///
    /// Errors: [`CompileError::Internal`] when the part does not start at the next function.
    pub fn append(&mut self, part: CompiledPart<M>) -> Result<(), CompileError> {
        if part.first != self.first + self.offsets.len() || self.offsets.len() + part.offsets.len() > self.labels.len() {
            return Err(CompileError::Internal("a part appended out of order".into()));
        }
        let shared = SharedLabels {
            part_first: part.function_labels,
            first: self.labels.first().copied().unwrap_or(Label(0)),
            count: self.labels.len() as u32,
        };
        let base = self.masm.append(part.masm, shared);
        self.offsets.extend(part.offsets.iter().map(|&o| o + base));
        Ok(())
    }

    /// The per-function buffers, for the next module's compiler (this one gets empty ones).
    pub fn take_scratch(&mut self) -> Scratch {
        std::mem::take(&mut self.scratch)
    }

    /// Gives this compiler `scratch` as its per-function buffers (see [`Self::take_scratch`]).
    pub fn restore_scratch(&mut self, scratch: Scratch) {
        self.scratch = scratch;
    }

    /// Compiles the next defined function: `fa` is its analysis and `operators` its body's
    /// operators in order, the final `end` included.
    ///
    /// Errors: [`CompileError::Internal`] when called more often than there are defined
    /// functions or for a function without a type, [`CompileError::FrameTooLarge`], or an
    /// operator the compiler does not support (the profile rejects all of those).
    pub fn compile_function(
        &mut self,
        fa: &FunctionAnalysis,
        operators: &[Operator<'_>],
    ) -> Result<(), CompileError> {
        self.compile_from(fa, operators.iter())
    }

    /// As [`Self::compile_function`], decoding the operators from `body` as code
    /// generation goes (no buffer of the body's operators: a huge function needs no
    /// memory in proportion to its operators beyond its machine code).
    ///
    /// Errors: as [`Self::compile_function`], and [`CompileError`] from wasmparser when
    /// the body cannot be decoded (it was validated before, so only for inconsistent
    /// inputs).
    pub fn compile_function_from_body(
        &mut self,
        fa: &FunctionAnalysis,
        body: &FunctionBody<'_>,
    ) -> Result<(), CompileError> {
        let reader = body.get_operators_reader().map_err(CompileError::from_wasmparser)?;
        let mut decoder = Decoding { reader, error: None };
        let compiled = self.compile_from(fa, &mut decoder);
        match decoder.error {
            Some(e) => Err(e),
            None => compiled,
        }
    }

    /// Compiles the next defined function of module `wasm` as [`keel_metering::analyze_each`]
    /// hands it over: from `operators` when the walk kept them, else (a body larger than
    /// [`keel_metering::MAX_BUFFERED_BODY_BYTES`]) decoding its body from `wasm`.
    ///
    /// Errors: as [`Self::compile_function_from_body`]; [`CompileError::Internal`] when
    /// the analysis's body range is not inside `wasm`.
    pub fn compile_analyzed(
        &mut self,
        fa: &FunctionAnalysis,
        operators: &[Operator<'_>],
        wasm: &[u8],
    ) -> Result<(), CompileError> {
        if fa.operators_buffered() {
            return self.compile_function(fa, operators);
        }
        let bytes = wasm
            .get(fa.body.clone())
            .ok_or_else(|| CompileError::Internal("function body outside the module".into()))?;
        let body = FunctionBody::new(wasmparser::BinaryReader::new(bytes, fa.body.start as u64));
        self.compile_function_from_body(fa, &body)
    }

    fn compile_from<'o, O: Borrow<Operator<'o>>>(
        &mut self,
        fa: &FunctionAnalysis,
        operators: impl Iterator<Item = O>,
    ) -> Result<(), CompileError> {
        let i = self.first + self.offsets.len();
        let label = *self
            .labels
            .get(i)
            .ok_or_else(|| CompileError::Internal("more function bodies than functions".into()))?;
        self.masm.bind(label);
        self.offsets.push(self.masm.offset());
        let env = self.env;
        let ty = env
            .signature(env.imported_funcs + i as u32)
            .ok_or_else(|| CompileError::Internal("function without a type".into()))?;
        let scratch = &mut self.scratch;
        FuncCodegen::compile(&mut self.masm, env, &self.labels, operators, fa, ty, self.costs, scratch)
    }

    /// Emits the shared stubs and resolves every branch (see [`MacroAssembler::finish`]).
    ///
    /// Errors: [`CompileError::Internal`] when fewer functions were compiled than the
    /// module defines; the ISA's own limits (code size, branch range).
    pub fn finish(self) -> Result<CompiledCode, CompileError> {
        if self.offsets.len() != self.labels.len() {
            return Err(CompileError::Internal("fewer function bodies than functions".into()));
        }
        let env = self.env;
        let signatures: Vec<(u32, u32)> =
            (0..self.labels.len() as u32).map(|i| env.signature(env.imported_funcs + i).unwrap_or((0, 0))).collect();
        self.masm.finish(self.offsets, &signatures)
    }
}

/// A body's operators decoded one at a time; the first decoding error ends the sequence
/// and is kept in `error`.
struct Decoding<'a> {
    reader: wasmparser::OperatorsReader<'a>,
    error: Option<CompileError>,
}

impl<'a> Iterator for Decoding<'a> {
    type Item = Operator<'a>;

    fn next(&mut self) -> Option<Operator<'a>> {
        if self.error.is_some() || self.reader.eof() {
            return None;
        }
        match self.reader.read() {
            Ok(op) => Some(op),
            Err(e) => {
                self.error = Some(CompileError::from_wasmparser(e));
                None
            }
        }
    }
}

/// Frame size limit (slots): keeps every displacement far inside 32 bits.
const MAX_FRAME_SLOTS: u64 = 1 << 24;

/// Allocatable registers always left to the value stack when locals take registers.
const MIN_STACK_REGS: usize = 4;

/// Least [`FunctionAnalysis::local_weights`] weight for a local to get a register: one use
/// inside a loop, or eight outside. Below it the register costs more than it saves (a
/// load on entry, a store and a load around every call).
const MIN_PIN_WEIGHT: u32 = 8;

/// As [`MIN_PIN_WEIGHT`], for a parameter that would live in a general register: one use.
/// The prologue loads it from the caller's arguments straight into its register, which
/// costs less than the copy into its slot that it replaces.
const MIN_PARAM_PIN_WEIGHT: u32 = 1;

/// As [`MIN_PIN_WEIGHT`], in a function without calls ([`FunctionAnalysis::calls`]):
/// two uses. There a register costs no store and load around calls, and a local first
/// written in the body costs no load on entry either. (Session 13: sha2_hasher executes
/// 2.2% fewer instructions with 4, 2 or 1 alike; the kernels and ed25519_verifier, whose
/// hot locals are used in loops, do not change.)
const MIN_LEAF_PIN_WEIGHT: u32 = 2;

/// Float registers always left to the value stack when f64 locals take float registers.
const MIN_FLOAT_STACK_REGS: usize = 6;

/// Picks the locals that live in registers among those `eligible` accepts: the heaviest by
/// [`FunctionAnalysis::local_weights`] (ties to the lower index), as many as `regs`
/// beyond the `keep` left to the value stack allow, never one weighing less than
/// [`MIN_PIN_WEIGHT`] (the first `params`: [`MIN_PARAM_PIN_WEIGHT`]). Returns `(local
/// index, register)` pairs, the registers taken from the end of `regs`, into `out`
/// (cleared first; `chosen` is scratch space); O(locals × registers).
#[allow(clippy::too_many_arguments)]
fn pick_local_regs<R: Copy>(
    regs: &[R],
    keep: usize,
    weights: &[u32],
    params: usize,
    eligible: impl Fn(usize) -> bool,
    chosen: &mut Vec<(u32, u32)>,
    out: &mut Vec<(u32, R)>,
) {
    // At most 64: `FuncCodegen::dirty` has a bit per pinned local.
    let n = regs.len().saturating_sub(keep).min(64);
    out.clear();
    heaviest_locals(weights, params, MIN_PIN_WEIGHT, eligible, n, chosen);
    out.extend(chosen.iter().zip(regs.iter().rev()).map(|(&(i, _), &r)| (i, r)));
}

/// The at most `cap` heaviest locals `eligible` accepts, as `(local, weight)` pairs in
/// descending weight (ties to the lower index), into `chosen` (cleared first): none
/// weighing less than `min_weight` (the first `params`: [`MIN_PARAM_PIN_WEIGHT`]).
/// O(locals × cap).
fn heaviest_locals(
    weights: &[u32],
    params: usize,
    min_weight: u32,
    eligible: impl Fn(usize) -> bool,
    cap: usize,
    chosen: &mut Vec<(u32, u32)>,
) {
    chosen.clear();
    for (i, &w) in weights.iter().enumerate() {
        let min = if i < params { MIN_PARAM_PIN_WEIGHT } else { min_weight };
        if w < min || !eligible(i) {
            continue;
        }
        // Insertion into a list sorted by descending weight, of at most `cap` entries.
        let at = chosen.iter().position(|&(_, cw)| w > cw).unwrap_or(chosen.len());
        if at < cap {
            chosen.insert(at, (i as u32, w));
            chosen.truncate(cap);
        }
    }
}

/// Candidates [`share_local_regs`] considers per register it may hand out: the heaviest
/// locals, so that its work per function stays bounded (at most
/// `(SHARE_CANDIDATES_PER_REG * n)^2 * n` range comparisons for `n` registers).
const SHARE_CANDIDATES_PER_REG: usize = 4;

/// A general register passing from one local to the next at an operator
/// ([`FuncCodegen::handovers`]).
#[derive(Debug, Clone, Copy)]
struct Handover {
    /// The operator index where `local`'s [`LiveRange`] starts.
    at: u32,
    /// Index into [`FuncCodegen::pinned`].
    k: usize,
    local: u32,
}

/// Gives general registers to locals, a register to several locals when their live
/// ranges ([`FunctionAnalysis::live_ranges`]) are disjoint: a linear scan over the
/// operators where the heaviest locals by [`FunctionAnalysis::local_weights`] come first
/// (ties to the lower index), each taking the first register none of whose locals' ranges
/// meets its own. Eligibility and least weights as [`pick_local_regs`] (in a function
/// without calls, [`MIN_LEAF_PIN_WEIGHT`] for locals that are not parameters); the registers
/// (as many as `regs` beyond the `keep` left to the value stack allow) are taken from the
/// end of `regs`. A parameter's range, and that of a local whose initial 0 may be read
/// ([`FunctionAnalysis::zero_observed`]), starts at the function's entry (the prologue
/// puts their values in their registers); every other local is written before it is
/// read on every path, so its register may hold anything where its range starts.
///
/// Fills `out` with each register's first local (what the prologue sees) and `handovers`
/// with the later ones, in operator order; `chosen` and `shared` are scratch space. Work:
/// O(locals × candidates) to pick the candidates, then bounded by
/// [`SHARE_CANDIDATES_PER_REG`].
#[allow(clippy::too_many_arguments)]
fn share_local_regs<R: Copy>(
    regs: &[R],
    keep: usize,
    fa: &FunctionAnalysis,
    eligible: impl Fn(usize) -> bool,
    chosen: &mut Vec<(u32, u32)>,
    shared: &mut Vec<(usize, u32, LiveRange)>,
    out: &mut Vec<(u32, R)>,
    handovers: &mut Vec<Handover>,
) {
    let n = regs.len().saturating_sub(keep).min(64);
    let params = fa.params as usize;
    shared.clear();
    out.clear();
    handovers.clear();
    let min_weight = if fa.calls { MIN_PIN_WEIGHT } else { MIN_LEAF_PIN_WEIGHT };
    heaviest_locals(&fa.local_weights, params, min_weight, eligible, n * SHARE_CANDIDATES_PER_REG, chosen);
    // With a register for every candidate, nothing need be shared: each takes its own.
    let fits = chosen.len() <= n;
    let mut used = 0;
    for (c, &(i, _)) in chosen.iter().enumerate() {
        let Some(&range) = fa.live_ranges.get(i as usize) else { continue };
        let range = if (i as usize) < params || fa.zero_observed(i) { LiveRange { start: 0, ..range } } else { range };
        let free = if fits {
            Some(c)
        } else {
            (0..n).find(|&k| !shared.iter().any(|&(sk, _, r)| sk == k && r.overlaps(range)))
        };
        if let Some(k) = free {
            shared.push((k, i, range));
            used = used.max(k + 1);
        }
    }
    // Each register's locals in operator order: the first is the register's at entry.
    shared.sort_unstable_by_key(|&(k, _, r)| (k, r.start));
    let mut last = None;
    for &(k, i, r) in shared.iter() {
        if last == Some(k) {
            handovers.push(Handover { at: r.start, k, local: i });
        } else {
            out.push((i, regs[regs.len() - 1 - k]));
            last = Some(k);
        }
    }
    debug_assert_eq!(out.len(), used);
    handovers.sort_unstable_by_key(|h| h.at);
}

/// Whether local `local` is an i32 ([`FunctionAnalysis::local_types`]): its register, if
/// it has one, holds it zero-extended (see [`FuncCodegen::zero_extended`]).
fn is_i32(local_types: &[wasmparser::ValType], local: u32) -> bool {
    local_types.get(local as usize) == Some(&wasmparser::ValType::I32)
}

/// A mask of the `n` low bits (all 64 for `n >= 64`).
fn low_bits(n: usize) -> u64 {
    if n >= 64 { u64::MAX } else { (1u64 << n) - 1 }
}

/// [`FuncCodegen::pin_of`] of a local in no register.
const UNPINNED: u8 = 0;

/// [`FuncCodegen::pin_of`] of `fpinned[k]`'s local is `FPINNED_BASE + k` (that of
/// `pinned[k]`'s is `k + 1`; each list has at most 64 entries).
const FPINNED_BASE: u8 = 65;

struct FuncCodegen<'a, M: MacroAssembler> {
    masm: &'a mut M,
    env: &'a CompileEnv,
    labels: &'a [Label],
    costs: &'a CostTable,
    stack: ValueStack,
    control: Vec<ControlFrame>,
    reachable: bool,
    /// Nesting depth of blocks opened in unreachable code.
    dead_depth: u32,
    /// The locals that live in registers, `(local, register)`, one entry per register
    /// (at most the allocatable registers beyond [`MIN_STACK_REGS`]): the register's local
    /// at the current operator. A local lives in its register over its whole live range
    /// ([`share_local_regs`]); its slot is only a save area across calls.
    pinned: Vec<(u32, Reg)>,
    /// Where a register passes from one local to the next, in operator order
    /// ([`Self::hand_over`]): between two live ranges, the register is the next local's.
    handovers: Vec<Handover>,
    /// The first entry of `handovers` not done yet.
    next_handover: usize,
    /// Bit k set: `pinned[k]` is an i32 local. Its register only ever receives
    /// zero-extended values: every write to it is a 32-bit operation (`int_bin` and
    /// `int_bin_from` at `Size::S32`, i32 loads), [`MacroAssembler::mov_u32`],
    /// [`MacroAssembler::load_slot_u32`] or a constant below 2^32 (see
    /// [`Prologue::zero_extend`]).
    zero_extended: u64,
    /// For each local (parameters first): [`UNPINNED`], `k + 1` for `pinned[k]`, or
    /// [`FPINNED_BASE`]` + k` for `fpinned[k]`. Spares `local.get`, `local.set` and
    /// `local.tee` a search of `pinned` and `fpinned`.
    pin_of: Vec<u8>,
    /// Bit k set: `pinned[k]`'s register may differ from its slot, so a call must store
    /// it first. Cleared by every save; set by writes to the local and, at every label
    /// other paths may jump to, for all (the paths' states are not merged).
    dirty: u64,
    /// Bit k set: `pinned[k]`'s register does not hold the local, its slot does (a call
    /// ran since and the register is the callee's). Loaded back lazily: by the first read
    /// of the local ([`Self::local_reg`]), or for all at once before any branch and at
    /// any label ([`Self::unstale`]), so that every path into a label arrives with none
    /// set. A write to the local clears its bit without a load. Never set with `dirty`.
    stale: u64,
    /// The f64 locals that live in float registers, as `pinned`.
    fpinned: Vec<(u32, FReg)>,
    /// As `dirty`, for `fpinned`.
    fdirty: u64,
    /// As `stale`, for `fpinned`.
    fstale: u64,
    /// A comparison not emitted yet, whose i32 result is the top entry (`Val::Reg(lhs)`).
    /// Only `br_if`, `if` and `i32.eqz` see it; every other operator emits it first.
    pending: Option<PendingCmp>,
    /// An `i32.wrap_i64` whose zero-extension of register `.0` is not emitted yet: the
    /// next operator is an `i32.const`, and when the one after it takes the two with a
    /// 32-bit instruction (`i32.and`, a shift, a comparison, ...: [`reads_low32_imm`]),
    /// which reads the low half only, none is needed. Any other operator emits it first.
    pending_wrap: Option<Reg>,
    /// Gas of the pure blocks (`BlockCharge::pure`) run since the last charge, not
    /// subtracted yet: the next block's charge takes it (so a loop's pure exit test costs
    /// no instruction of its own), and it is subtracted, unchecked, before every other
    /// way out of the straight-line code (branches, labels, the return).
    pending_gas: u64,
    /// [`FunctionAnalysis::charges`], in increasing `op_index` order ([`Self::charge`]).
    charges: &'a [BlockCharge],
    /// The first entry of `charges` not done yet.
    next_charge: usize,
    /// Whether a charge of this function went unchecked (`BlockCharge::pure`): the
    /// caller then resumes in the middle of a block whose charge it checked already, so
    /// the gas is checked before returning.
    unchecked: bool,
    /// `(stub, gas, target)`: a taken `br_if` out of code with pending gas goes through a
    /// stub, emitted after the function, that subtracts the gas and jumps on.
    gas_stubs: Vec<(Label, u64, Label)>,
    /// [`FunctionAnalysis::live_ranges`]: a local whose range ends before the current
    /// operator is dead, and a call does not save it.
    live_ranges: &'a [LiveRange],
    /// [`FunctionAnalysis::local_types`]: integer locals that live in their slots are
    /// read lazily ([`Val::LocalSlot`]).
    local_types: &'a [wasmparser::ValType],
    /// Index of the operator being compiled (as the analysis counts them).
    op_index: u32,
    /// The operators of the loops' exit tests ([`ExitTest::first`] indexes it), kept
    /// for their repetition at back edges (only side-effect-free operators without
    /// borrowed data, so they are stored as `'static`).
    test_ops: Vec<Operator<'static>>,
    /// The loops' exit tests (`FrameKind::Loop::test` indexes it).
    exit_tests: Vec<ExitTest>,
    /// The exit test being recorded: the operators after a `loop` while they may still
    /// be one ([`FuncCodegen::record_exit_test`]).
    recording: Option<Recording>,
    /// An exit test whose `br_if` was just compiled ([`FuncCodegen::finish_exit_test`]
    /// runs before the next operator).
    finishing: Option<(Recording, u32)>,
    /// The operator index of the next charge ([`Self::charge`]).
    next_charge_at: u32,
    /// The operator index of the next handover ([`Self::hand_over`]).
    next_handover_at: u32,
}

/// An [`ExitTest`] being recorded.
#[derive(Debug, Clone, Copy)]
struct Recording {
    /// [`ExitTest::at`].
    at: u32,
    /// [`ExitTest::first`].
    first: u32,
    /// Values the test's operators have pushed so far (they may not consume the loop's).
    height: i32,
    /// Index of the loop's control frame.
    frame: usize,
}

/// `op` as an operator of an exit test (see [`ExitTest`]), owned, with the number of values
/// it adds to the stack; `None` for operators that cannot be one (anything with a side
/// effect, a trap, a float or a control transfer).
fn exit_test_op(op: &Operator<'_>) -> Option<(Operator<'static>, i32)> {
    use Operator as O;
    Some(match *op {
        O::LocalGet { local_index } => (O::LocalGet { local_index }, 1),
        O::I32Const { value } => (O::I32Const { value }, 1),
        O::I64Const { value } => (O::I64Const { value }, 1),
        O::I32Eqz => (O::I32Eqz, 0),
        O::I64Eqz => (O::I64Eqz, 0),
        O::I32WrapI64 => (O::I32WrapI64, 0),
        O::I32Eq => (O::I32Eq, -1),
        O::I32Ne => (O::I32Ne, -1),
        O::I32LtS => (O::I32LtS, -1),
        O::I32LtU => (O::I32LtU, -1),
        O::I32GtS => (O::I32GtS, -1),
        O::I32GtU => (O::I32GtU, -1),
        O::I32LeS => (O::I32LeS, -1),
        O::I32LeU => (O::I32LeU, -1),
        O::I32GeS => (O::I32GeS, -1),
        O::I32GeU => (O::I32GeU, -1),
        O::I64Eq => (O::I64Eq, -1),
        O::I64Ne => (O::I64Ne, -1),
        O::I64LtS => (O::I64LtS, -1),
        O::I64LtU => (O::I64LtU, -1),
        O::I64GtS => (O::I64GtS, -1),
        O::I64GtU => (O::I64GtU, -1),
        O::I64LeS => (O::I64LeS, -1),
        O::I64LeU => (O::I64LeU, -1),
        O::I64GeS => (O::I64GeS, -1),
        O::I64GeU => (O::I64GeU, -1),
        O::I32Add => (O::I32Add, -1),
        O::I32Sub => (O::I32Sub, -1),
        O::I32And => (O::I32And, -1),
        O::I32Or => (O::I32Or, -1),
        O::I32Xor => (O::I32Xor, -1),
        O::I64Add => (O::I64Add, -1),
        O::I64Sub => (O::I64Sub, -1),
        O::I64And => (O::I64And, -1),
        _ => return None,
    })
}

/// Whether `next` is f64 arithmetic (`add`, `sub`, `mul`, `div`): it takes the current
/// operator's result as its right operand and canonicalizes its own NaN result, and a NaN
/// operand makes a NaN result, so the current result's NaN need not be canonicalized first.
fn next_is_f64_arith(next: Option<&Operator<'_>>) -> bool {
    matches!(next, Some(Operator::F64Add | Operator::F64Sub | Operator::F64Mul | Operator::F64Div))
}

/// Whether `next` is an i32 comparison or one of `i32.add/sub/mul/and/or/xor`: it takes
/// the current operator's result (its right or only operand) with 32-bit instructions,
/// which read the low half of a register only.
fn next_reads_low32(next: Option<&Operator<'_>>) -> bool {
    matches!(
        next,
        Some(
            Operator::I32Eqz
                | Operator::I32Eq
                | Operator::I32Ne
                | Operator::I32LtS
                | Operator::I32LtU
                | Operator::I32GtS
                | Operator::I32GtU
                | Operator::I32LeS
                | Operator::I32LeU
                | Operator::I32GeS
                | Operator::I32GeU
                | Operator::I32Add
                | Operator::I32Sub
                | Operator::I32Mul
                | Operator::I32And
                | Operator::I32Or
                | Operator::I32Xor
        )
    )
}

/// Whether `op` is an i32 operation that x86-64 and aarch64 emit with 32-bit instructions
/// when its right operand is a constant (an ALU operation, a multiplication, a shift or
/// rotation, a comparison): it reads only the low half of its left operand's register.
fn reads_low32_imm(op: &Operator<'_>) -> bool {
    !matches!(op, Operator::I32Eqz)
        && (next_reads_low32(Some(op))
            || matches!(
                op,
                Operator::I32Shl | Operator::I32ShrS | Operator::I32ShrU | Operator::I32Rotl | Operator::I32Rotr
            ))
}

/// An integer comparison whose emission is deferred (see [`FuncCodegen::cmp`]).
#[derive(Debug, Clone, Copy)]
struct PendingCmp {
    cc: IntCmp,
    size: Size,
    lhs: Reg,
    rhs: RegImm,
}

impl<'a, M: MacroAssembler> FuncCodegen<'a, M> {
    #[allow(clippy::too_many_arguments)]
    fn compile<'o, O: Borrow<Operator<'o>>>(
        masm: &'a mut M,
        env: &'a CompileEnv,
        labels: &'a [Label],
        operators: impl Iterator<Item = O>,
        fa: &'a FunctionAnalysis,
        (params, results): (u32, u32),
        costs: &'a CostTable,
        scratch: &mut Scratch,
    ) -> Result<(), CompileError> {
        let layout = FrameLayout { params: fa.params, locals: fa.locals, max_stack: fa.max_stack_height };
        let nlocals = layout.stack_base();
        let slots = layout.slots();
        if slots > MAX_FRAME_SLOTS {
            return Err(CompileError::FrameTooLarge { func_index: fa.func_index, slots });
        }
        let regs = masm.allocatable();
        let fregs = masm.float_allocatable();
        // f64 locals take float registers where the ISA has them; the rest compete for the
        // general ones (an f64 local in a float register is not moved between the files).
        let mut fpinned = std::mem::take(&mut scratch.fpinned);
        let is_f64 = |i: usize| fa.local_types.get(i) == Some(&wasmparser::ValType::F64);
        // f64 parameters still go through their slots (see `enter_locals`).
        pick_local_regs(fregs, MIN_FLOAT_STACK_REGS, &fa.local_weights, 0, is_f64, &mut scratch.chosen, &mut fpinned);
        let mut pinned = std::mem::take(&mut scratch.pinned);
        let mut handovers = std::mem::take(&mut scratch.handovers);
        let not_fpinned = |i: usize| !fpinned.iter().any(|p| p.0 as usize == i);
        share_local_regs(
            regs,
            MIN_STACK_REGS,
            fa,
            not_fpinned,
            &mut scratch.chosen,
            &mut scratch.shared,
            &mut pinned,
            &mut handovers,
        );
        let mut pin_of = std::mem::take(&mut scratch.pin_of);
        pin_of.clear();
        if !pinned.is_empty() || !fpinned.is_empty() {
            pin_of.resize(nlocals as usize, UNPINNED);
            for (k, p) in pinned.iter().enumerate() {
                if let Some(e) = pin_of.get_mut(p.0 as usize) {
                    *e = k as u8 + 1;
                }
            }
            for h in &handovers {
                if let Some(e) = pin_of.get_mut(h.local as usize) {
                    *e = h.k as u8 + 1;
                }
            }
            for (k, p) in fpinned.iter().enumerate() {
                if let Some(e) = pin_of.get_mut(p.0 as usize) {
                    *e = FPINNED_BASE + k as u8;
                }
            }
        }
        // The deterministic budget is checked before the frame touches native memory: a
        // frame larger than the remaining guest stack must trap, not write below it.
        // i32 locals' registers only ever receive zero-extended values (see
        // `FuncCodegen::zero_extended`): they are addresses as they are.
        let mut zero_extended = 0u64;
        for (k, &(i, _)) in pinned.iter().enumerate() {
            if is_i32(&fa.local_types, i) {
                zero_extended |= 1 << k;
            }
        }
        masm.stack_enter(fa.frame_cost);
        // The locals in general registers start there (parameters straight from the
        // caller's arguments), their slots not written: they start dirty.
        masm.func_prologue(&Prologue {
            params,
            results,
            locals: fa.locals,
            slots: slots as u32,
            in_regs: &pinned,
            zero_extend: zero_extended,
            calls: fa.calls,
            zero_observed: &|i| fa.zero_observed(i),
        });
        let ret = masm.new_label();
        let dirty = low_bits(pinned.len());
        let mut control = std::mem::take(&mut scratch.control);
        control.clear();
        control.push(ControlFrame {
            kind: FrameKind::Function,
            label: ret,
            height: 0,
            params: 0,
            results,
            innermost_loop: NO_LOOP,
        });
        let mut cg = FuncCodegen {
            masm,
            env,
            labels,
            costs,
            stack: ValueStack::with_buffer(
                std::mem::take(&mut scratch.vals),
                (regs, pinned.iter().map(|p| p.1)),
                (fregs, fpinned.iter().map(|p| p.1)),
                nlocals,
            ),
            control,
            reachable: true,
            dead_depth: 0,
            pinned,
            handovers,
            next_handover: 0,
            zero_extended,
            pin_of,
            dirty,
            stale: 0,
            fpinned,
            fdirty: 0,
            fstale: 0,
            pending: None,
            pending_wrap: None,
            pending_gas: 0,
            charges: &fa.charges,
            next_charge: 0,
            unchecked: false,
            gas_stubs: std::mem::take(&mut scratch.gas_stubs),
            live_ranges: &fa.live_ranges,
            local_types: &fa.local_types,
            op_index: 0,
            test_ops: std::mem::take(&mut scratch.test_ops),
            exit_tests: std::mem::take(&mut scratch.exit_tests),
            recording: None,
            finishing: None,
            next_charge_at: u32::MAX,
            next_handover_at: u32::MAX,
        };
        cg.test_ops.clear();
        cg.exit_tests.clear();
        cg.enter_locals(fa.params);
        let mut operators = operators.peekable();
        cg.next_charge_at = cg.charges.first().map_or(u32::MAX, |c| c.op_index);
        cg.next_handover_at = cg.handovers.first().map_or(u32::MAX, |h| h.at);
        // The next operator index where the loop has more to do than visiting the
        // operator ([`FuncCodegen::at_stop`]): one comparison per operator.
        let mut next_stop = cg.next_charge_at.min(cg.next_handover_at);
        let mut op_index: u32 = 0;
        while let Some(op) = operators.next() {
            let op = op.borrow();
            if op_index >= next_stop {
                next_stop = cg.at_stop(op_index, op);
            }
            cg.op_index = op_index;
            cg.visit(op, operators.peek().map(Borrow::borrow))?;
            op_index += 1;
        }
        if !cg.control.is_empty() {
            return Err(CompileError::Internal("unbalanced control frames".into()));
        }
        cg.masm.bind(ret);
        if cg.unchecked {
            // The caller resumes in the middle of a block whose charge it checked already.
            cg.masm.check_gas();
        }
        cg.masm.stack_exit(fa.frame_cost);
        cg.masm.func_epilogue(nlocals, results);
        for &(stub, gas, target) in &cg.gas_stubs {
            cg.masm.bind(stub);
            cg.masm.charge_gas_unchecked(gas);
            cg.masm.jump(target);
        }
        cg.gas_stubs.clear();
        scratch.control = cg.control;
        scratch.vals = cg.stack.into_buffer();
        scratch.pinned = cg.pinned;
        scratch.handovers = cg.handovers;
        scratch.fpinned = cg.fpinned;
        scratch.pin_of = cg.pin_of;
        scratch.gas_stubs = cg.gas_stubs;
        scratch.test_ops = cg.test_ops;
        scratch.exit_tests = cg.exit_tests;
        Ok(())
    }

    /// Before operator `op_index`: the charges of the metered blocks that start here
    /// ([`Self::charges`]; none in unreachable code or without metering). A pure block's
    /// gas is left pending, subtracted with the next charge or on the way out and checked
    /// by the next checked charge or before returning. Returns the operator index of the
    /// next charge (u32::MAX when none is left).
    fn charge(&mut self, op_index: u32) -> u32 {
        while let Some(&c) = self.charges.get(self.next_charge) {
            if c.op_index > op_index {
                return c.op_index;
            }
            self.next_charge += 1;
            if c.op_index == op_index {
                self.apply_charge(c);
            }
        }
        u32::MAX
    }

    /// Charges block charge `c` here, as [`Self::charge`] describes (nothing in
    /// unreachable code or without metering).
    fn apply_charge(&mut self, c: BlockCharge) {
        if self.reachable && self.env.metering {
            if c.pure {
                self.pending_gas = self.pending_gas.saturating_add(c.gas);
                self.unchecked = true;
            } else {
                self.masm.charge_gas(c.gas.saturating_add(self.pending_gas));
                self.pending_gas = 0;
            }
        }
    }

    /// Before operator `op_index` (`op`), where the compile loop stops: finishes an exit
    /// test whose `br_if` came right before (its body label goes before the body's
    /// charge), records `op` into the exit test being recorded, hands registers over and
    /// charges gas where due. Returns the next operator index to stop at. (A block starts
    /// right after every `loop`, so its first operator is a stop wherever a block costs
    /// gas, as all do under the default cost table; elsewhere no test is recorded.) Out of
    /// line: it keeps the loop over the operators small.
    #[inline(never)]
    fn at_stop(&mut self, op_index: u32, op: &Operator<'_>) -> u32 {
        let testing = self.recording.is_some() || self.finishing.is_some();
        if testing {
            self.exit_test_step(op_index, op);
        }
        if op_index >= self.next_handover_at {
            self.next_handover_at = self.hand_over(op_index);
        }
        if op_index >= self.next_charge_at {
            self.next_charge_at = self.charge(op_index);
        }
        if testing && (self.recording.is_some() || self.finishing.is_some()) {
            return op_index + 1;
        }
        self.next_charge_at.min(self.next_handover_at)
    }

    /// [`Self::at_stop`]'s part for exit tests: finishes the one whose `br_if` came
    /// right before, or records `op` into the one being recorded.
    #[cold]
    #[inline(never)]
    fn exit_test_step(&mut self, op_index: u32, op: &Operator<'_>) {
        if let Some(test) = self.finishing.take() {
            self.finish_exit_test(test);
        }
        if self.recording.is_some() {
            self.finishing = self.record_exit_test(op_index, op);
        }
    }

    /// Before operator `op` is visited, while an exit test is being recorded (see
    /// [`Self::recording`]): keeps `op` if it can be one of the test's operators, else stops
    /// recording. Returns the recording when `op` is the test's `br_if` (see
    /// [`Self::finish_exit_test`]). The code is the same either way: a test is only
    /// repeated at the back edges.
    fn record_exit_test(&mut self, op_index: u32, op: &Operator<'_>) -> Option<(Recording, u32)> {
        let mut rec = self.recording.take()?;
        let len = self.test_ops.len() - rec.first as usize;
        if op_index != rec.at + len as u32 {
            // The loop's first operator was no stop of the compile loop: no test.
            self.test_ops.truncate(rec.first as usize);
            return None;
        }
        if let Operator::BrIf { relative_depth } = *op {
            if relative_depth >= 1 && rec.height == 1 && len > 0 {
                return Some((rec, relative_depth));
            }
        } else if let Some((owned, effect)) = exit_test_op(op) {
            if len < MAX_EXIT_TEST_OPS && rec.height + effect >= 1 {
                rec.height += effect;
                self.test_ops.push(owned);
                self.recording = Some(rec);
                return None;
            }
        }
        self.test_ops.truncate(rec.first as usize);
        None
    }

    /// After the `br_if` that ends recording `rec` (its relative depth `depth`): the loop
    /// gets its [`ExitTest`] if that exit carries no values, and the test's body label is
    /// bound here.
    fn finish_exit_test(&mut self, (rec, depth): (Recording, u32)) {
        // The test's operators open no frame and cannot end the reachable code.
        debug_assert!(self.control.len() == rec.frame + 1 && self.reachable);
        let exit = rec.frame.checked_sub(depth as usize).and_then(|i| self.control.get(i));
        let bare = exit.is_some_and(|f| f.branch_arity() == 0);
        if !bare {
            self.test_ops.truncate(rec.first as usize);
            return;
        }
        let len = self.test_ops.len() as u32 - rec.first;
        let body = self.masm.new_label();
        let test = ExitTest { at: rec.at, first: rec.first, len, depth, body };
        self.control[rec.frame].kind = FrameKind::Loop { test: Some(self.exit_tests.len() as u32) };
        self.exit_tests.push(test);
        self.bind_merge(body);
    }

    /// A `br` to a loop whose exit test `t` is repeated here (see [`ExitTest`]); the
    /// loop is `relative_depth` frames out. The test's block is charged as it is at the
    /// loop's header, its operators are compiled again, and its `br_if` becomes a branch
    /// on the negated condition to [`ExitTest::body`], where the body's charge follows as
    /// on the way through the header; the fall-through pays the pending gas as the
    /// `br_if`'s taken edge does and jumps to the exit.
    #[inline(never)]
    fn repeat_exit_test(&mut self, relative_depth: u32, t: ExitTest) -> Result<(), CompileError> {
        let li = self.control.len() - 1 - relative_depth as usize;
        let exit = li.checked_sub(t.depth as usize).map(|i| self.control[i]);
        let Some(exit) = exit else {
            return Err(CompileError::Internal("exit test branches out of the function".into()));
        };
        // As for any branch: the gas of the pure blocks before it, the locals back.
        self.flush_gas();
        self.unstale();
        // The values above the loop's height are dropped by the `br`.
        self.stack.truncate(self.control[li].height);
        let at = self.charges.binary_search_by_key(&t.at, |c| c.op_index);
        if let Ok(i) = at {
            self.apply_charge(self.charges[i]);
        }
        let ops = std::mem::take(&mut self.test_ops);
        let br_if = Operator::BrIf { relative_depth: t.depth };
        let test = ops.get(t.first as usize..(t.first + t.len) as usize).unwrap_or_default();
        let mut compiled = Ok(());
        for (i, op) in test.iter().enumerate() {
            compiled = self.visit(op, Some(test.get(i + 1).unwrap_or(&br_if)));
            if compiled.is_err() {
                break;
            }
        }
        self.test_ops = ops;
        compiled?;
        if let Some(r) = self.pending_wrap.take() {
            self.settle_wrap(r, &br_if);
        }
        let c = self.pop_cond();
        self.masm.branch_cmp(c.cc.negate(), c.size, c.lhs, c.rhs, t.body);
        self.free_cond(c);
        self.flush_gas();
        self.masm.jump(exit.label);
        self.reachable = false;
        Ok(())
    }

    /// Before operator `op_index`: the registers whose next local's live range starts here
    /// pass to it. The previous local's range is over (it is never accessed again), and
    /// the new one's value is written before it is read, so the register's content
    /// carries over as it is: nothing is emitted. Returns the operator index of the next
    /// handover (u32::MAX when none is left).
    fn hand_over(&mut self, op_index: u32) -> u32 {
        while let Some(&Handover { at, k, local }) = self.handovers.get(self.next_handover) {
            if at > op_index {
                return at;
            }
            self.next_handover += 1;
            let reg = self.pinned[k].1;
            self.pinned[k].0 = local;
            let i32_local = is_i32(self.local_types, local);
            if i32_local {
                self.zero_extended |= 1 << k;
            } else {
                self.zero_extended &= !(1 << k);
            }
            // The slot does not hold the register (a call saves it), and the register
            // is the local's, whatever it holds.
            self.dirty |= 1 << k;
            self.stale &= !(1 << k);
            self.masm.local_reg_handed_over(reg, i32_local);
        }
        u32::MAX
    }

    /// The register of local `i`, if it has one. `write`: the caller writes the whole
    /// register before it reads it (the local becomes dirty; a stale register is not
    /// loaded). Otherwise the register holds the local's value on return (a stale one is
    /// loaded from the slot first).
    fn local_reg(&mut self, i: u32, write: bool) -> Option<Reg> {
        let k = self.pin_of.get(i as usize).copied().unwrap_or(UNPINNED);
        if k == UNPINNED || k >= FPINNED_BASE {
            return None;
        }
        let k = usize::from(k - 1);
        let (local, r) = self.pinned[k];
        if write {
            self.dirty |= 1 << k;
        } else if self.stale >> k & 1 != 0 {
            self.load_local(k, local, r);
        }
        self.stale &= !(1 << k);
        Some(r)
    }

    /// The float register of f64 local `i`, if it has one; `write` as in
    /// [`Self::local_reg`].
    fn local_freg(&mut self, i: u32, write: bool) -> Option<FReg> {
        let k = self.pin_of.get(i as usize).copied().unwrap_or(UNPINNED);
        if k < FPINNED_BASE {
            return None;
        }
        let k = usize::from(k - FPINNED_BASE);
        let (local, x) = self.fpinned[k];
        if write {
            self.fdirty |= 1 << k;
        } else if self.fstale >> k & 1 != 0 {
            self.masm.f64_load_slot(x, local);
        }
        self.fstale &= !(1 << k);
        Some(x)
    }

    /// At function entry: the f64 parameters that live in float registers come from their
    /// slots, the other f64 register locals start at 0 (in their slots too). Locals in
    /// general registers got their values in the prologue.
    fn enter_locals(&mut self, params: u32) {
        for &(i, x) in &self.fpinned {
            if i < params {
                self.masm.f64_load_slot(x, i);
            } else {
                self.masm.f64_mov_imm(x, 0);
            }
        }
    }

    /// Loads `pinned[k]` (local `local`, register `r`) from its slot.
    fn load_local(&mut self, k: usize, local: u32, r: Reg) {
        if self.zero_extended >> k & 1 != 0 {
            self.masm.load_slot_u32(r, local);
        } else {
            self.masm.load_slot(r, local);
        }
    }

    /// The register local `next` writes (`local.set`/`local.tee`) and its register, if
    /// any: a value computed now can go straight there.
    fn next_set(&self, next: Option<&Operator<'_>>) -> Option<(u32, Reg)> {
        match next {
            Some(Operator::LocalSet { local_index } | Operator::LocalTee { local_index }) => {
                match self.pin_of.get(*local_index as usize).copied().unwrap_or(UNPINNED) {
                    k @ 1..FPINNED_BASE => Some(self.pinned[usize::from(k - 1)]),
                    _ => None,
                }
            }
            _ => None,
        }
    }

    /// As [`Self::next_set`], for an f64 local in a float register.
    fn next_fset(&self, next: Option<&Operator<'_>>) -> Option<(u32, FReg)> {
        match next {
            Some(Operator::LocalSet { local_index } | Operator::LocalTee { local_index }) => {
                match self.pin_of.get(*local_index as usize).copied().unwrap_or(UNPINNED) {
                    k @ FPINNED_BASE.. => Some(self.fpinned[usize::from(k - FPINNED_BASE)]),
                    _ => None,
                }
            }
            _ => None,
        }
    }

    /// Subtracts the pending gas of pure blocks (see [`Self::pending_gas`]), unchecked.
    fn flush_gas(&mut self) {
        if self.pending_gas > 0 {
            self.masm.charge_gas_unchecked(self.pending_gas);
            self.pending_gas = 0;
        }
    }

    /// Binds `label`, a point other paths may jump to: every local may be dirty there.
    /// The path falling through, if any, first loads its live stale locals (see
    /// [`Self::stale`]; where only the return follows, none is live).
    fn bind_merge(&mut self, label: Label) {
        if self.reachable {
            self.unstale();
        }
        self.masm.bind(label);
        self.dirty = u64::MAX;
        self.fdirty = u64::MAX;
        self.stale = 0;
        self.fstale = 0;
    }

    /// Loads every stale local (see [`Self::stale`]) back into its register: before a
    /// branch, so that every path into a label arrives with all live locals in registers
    /// (a dead one, [`Self::is_live`], is left as it is).
    fn unstale(&mut self) {
        while self.stale != 0 {
            let k = self.stale.trailing_zeros() as usize;
            self.stale &= self.stale - 1;
            let (local, r) = self.pinned[k];
            if self.is_live(local) {
                self.load_local(k, local, r);
            }
        }
        while self.fstale != 0 {
            let k = self.fstale.trailing_zeros() as usize;
            self.fstale &= self.fstale - 1;
            let (local, x) = self.fpinned[k];
            if self.is_live(local) {
                self.masm.f64_load_slot(x, local);
            }
        }
    }

    /// Whether `local` may still be accessed ([`Self::live_ranges`]): at or ahead of the
    /// current operator, or inside an open loop around it (reached again through its back
    /// edge: the range covers the whole loop). A dead local's register and slot may hold
    /// anything.
    fn is_live(&self, local: u32) -> bool {
        self.live_ranges.get(local as usize).is_none_or(|r| r.end >= self.op_index)
    }

    /// Before a call: locals in registers go to their slots (every register is the
    /// callee's), except dead ones ([`Self::is_live`]): never read again, they may come
    /// back from their slots as anything.
    fn save_locals(&mut self) {
        for k in 0..self.pinned.len() {
            let (i, r) = self.pinned[k];
            if self.dirty & (1 << k) != 0 && self.is_live(i) {
                self.masm.store_slot(i, r);
            }
        }
        for k in 0..self.fpinned.len() {
            let (i, x) = self.fpinned[k];
            if self.fdirty & (1 << k) != 0 && self.is_live(i) {
                self.masm.f64_store_slot(i, x);
            }
        }
        self.dirty = 0;
        self.fdirty = 0;
    }

    /// After a call: locals in registers are in their slots only, and come back from
    /// there when next read or at the next branch or label (see [`Self::stale`]).
    fn mark_locals_stale(&mut self) {
        self.stale = low_bits(self.pinned.len());
        self.fstale = low_bits(self.fpinned.len());
    }

    fn block_arity(&self, bt: BlockType) -> (u32, u32) {
        match bt {
            BlockType::Empty => (0, 0),
            BlockType::Type(_) => (0, 1),
            BlockType::FuncType(i) => self.env.types.get(i as usize).copied().unwrap_or((0, 0)),
        }
    }

    fn func_arity(&self, func: u32) -> (u32, u32) {
        self.env.signature(func).unwrap_or((0, 0))
    }

    /// Whether a branch `depth` frames out leaves the innermost open loop (its target is
    /// a frame outside that loop).
    fn leaves_loop(&self, depth: u32) -> bool {
        let target = self.control.len().saturating_sub(1 + depth as usize);
        self.control.last().is_some_and(|f| f.innermost_loop != NO_LOOP && f.innermost_loop as usize > target)
    }

    fn frame(&self, depth: u32) -> ControlFrame {
        let i = self.control.len().saturating_sub(1 + depth as usize);
        self.control[i]
    }

    /// Copies the values a branch to `f` carries into `f`'s slots (no stack change), or
    /// its only result into [`Self::frame_result_reg`].
    fn branch_moves(&mut self, f: &ControlFrame) {
        let k = f.branch_arity() as usize;
        let h = self.stack.len();
        if let Some(r) = self.frame_result_reg(f) {
            self.stack.copy_to_reg(self.masm, h - 1, r);
            return;
        }
        for i in 0..k {
            let src = h - k + i;
            let dst = self.stack.slot_of(f.height + i);
            match self.stack.get(src) {
                Val::Const(c) => self.masm.store_slot_imm(dst, c),
                Val::Reg(r) | Val::Local(r) => self.masm.store_slot(dst, r),
                Val::FReg(x) | Val::FLocal(x) => self.masm.f64_store_slot(dst, x),
                Val::Slot => {
                    let s = self.stack.slot_of(src);
                    self.masm.copy_slot(dst, s);
                }
                Val::LocalSlot(local) => self.masm.copy_slot(dst, local),
            }
        }
    }

    /// The register that carries frame `f`'s only result to its end, if it has one:
    /// - the function's frame: [`MacroAssembler::call_result_reg`] (which
    ///   [`MacroAssembler::func_epilogue`] then expects it in);
    /// - a `block` or `if` without parameters: the value stack's first register, always
    ///   in its pool (locals take registers from the other end), and free where the
    ///   frame ends (the entries below a frame's height went to their slots when it was
    ///   entered, [`Self::enter_frame`]). Every path into the end moves the value there:
    ///   the fall-through at `else` and `end`, each branch on its taken edge only
    ///   ([`Self::branch_moves`]), where any other value that register holds is dead.
    /// - a `loop` (branches to it carry its parameters) or any other frame: `None`, the
    ///   values go through the frame's slots.
    fn frame_result_reg(&self, f: &ControlFrame) -> Option<Reg> {
        if f.results != 1 {
            return None;
        }
        match f.kind {
            FrameKind::Function => self.masm.call_result_reg(),
            FrameKind::Block | FrameKind::If { .. } if f.params == 0 => self.masm.allocatable().first().copied(),
            _ => None,
        }
    }

    /// At `else` or `end` of frame `f`: its results go where its end expects them, their
    /// slots or [`Self::frame_result_reg`].
    fn fall_through_results(&mut self, f: &ControlFrame) {
        match self.frame_result_reg(f) {
            Some(r) => {
                let h = self.stack.len();
                self.stack.copy_to_reg(self.masm, h - 1, r);
            }
            None => self.stack.materialize_top(self.masm, f.results as usize),
        }
    }

    fn enter_frame(&mut self, kind: FrameKind, bt: BlockType, label: Label) {
        let (p, r) = self.block_arity(bt);
        self.stack.spill_all(self.masm);
        self.stack.materialize_top(self.masm, p as usize);
        let height = self.stack.len() - p as usize;
        let innermost_loop = match kind {
            FrameKind::Loop { .. } => self.control.len() as u32,
            _ => self.control.last().map_or(NO_LOOP, |f| f.innermost_loop),
        };
        self.control.push(ControlFrame { kind, label, height, params: p, results: r, innermost_loop });
    }

    fn reset_to(&mut self, height: usize, n: u32) {
        self.stack.truncate(height);
        for _ in 0..n {
            self.stack.push(Val::Slot);
        }
    }

    fn binop(&mut self, op: IntBin, size: Size, next: Option<&Operator<'_>>) {
        let h = self.stack.len();
        // Operations `int_bin_slot` takes a right operand in a slot for.
        let slot_rhs = matches!(op, IntBin::Add | IntBin::Sub | IntBin::Mul | IntBin::And | IntBin::Or | IntBin::Xor);
        let in_place = self.next_set(next).is_some();
        match (self.stack.get(h - 2), self.stack.get(h - 1)) {
            // A slot local and a constant: read from the slot by the operation itself where
            // the ISA has such a form (`imul r, [m], imm`, `rorx r, [m], imm`).
            (Val::LocalSlot(local), Val::Const(c)) if !in_place => {
                self.stack.pop();
                self.stack.pop();
                let dst = self.stack.alloc(self.masm);
                self.masm.int_bin_from_slot(op, size, dst, local, c);
                return self.push_result(dst);
            }
            // A right operand in a slot (a slot local's, or a spilled one: a call's result,
            // say) is read from there.
            (_, Val::LocalSlot(local)) if slot_rhs => return self.binop_slot(op, size, next, local),
            (_, Val::Slot) if slot_rhs => return self.binop_slot(op, size, next, self.stack.slot_of(h - 1)),
            // A commutative operation on a slot local and a value of the stack's own
            // register: computed into that register, the local read from its slot.
            (Val::LocalSlot(local), Val::Reg(r)) if slot_rhs && op != IntBin::Sub && !in_place => {
                self.stack.pop();
                self.stack.pop();
                self.masm.int_bin_slot(op, size, r, local);
                return self.push_result(r);
            }
            // The same with a left operand the stack keeps in its own slot (a call's result
            // spilled by the next call, as in `f(x) + g(y)`).
            (Val::Slot, Val::Reg(r)) if slot_rhs && op != IntBin::Sub && !in_place => {
                let slot = self.stack.slot_of(h - 2);
                self.stack.pop();
                self.stack.pop();
                self.masm.int_bin_slot(op, size, r, slot);
                return self.push_result(r);
            }
            _ => {}
        }
        if self.binop_in_place(op, size, next) {
            return;
        }
        let rhs = self.stack.pop_regimm(self.masm);
        let h = self.stack.len();
        if let Some(Val::Local(src)) = h.checked_sub(1).map(|i| self.stack.get(i)) {
            // `local.get x; ...; op`: x's register is read in place, not copied first.
            self.stack.pop();
            let dst = self.stack.alloc(self.masm);
            self.masm.int_bin_from(op, size, dst, src, rhs);
            self.stack.free_regimm(rhs);
            self.push_result(dst);
            return;
        }
        let lhs = self.stack.pop_reg(self.masm);
        self.masm.int_bin(op, size, lhs, rhs);
        self.stack.free_regimm(rhs);
        self.push_result(lhs);
    }

    /// [`Self::binop`] whose right operand, the top entry, is in frame slot `slot`: a slot
    /// local's ([`Val::LocalSlot`]) or its own ([`Val::Slot`]). Computed into the
    /// register local the next operator sets, as [`Self::binop_in_place`], else into a
    /// register of the stack. Nothing writes the
    /// slot before it is read: the entry is popped, and spills write below it.
    fn binop_slot(&mut self, op: IntBin, size: Size, next: Option<&Operator<'_>>, slot: u32) {
        self.stack.pop();
        let h = self.stack.len();
        if let Some((x, lr)) = self.next_set(next) {
            let lhs = self.stack.pop();
            self.claim_local(x);
            self.set_reg(lr, lhs, h - 1);
            self.masm.int_bin_slot(op, size, lr, slot);
            self.stack.push(Val::Local(lr));
            return;
        }
        let dst = self.stack.pop_reg(self.masm);
        self.masm.int_bin_slot(op, size, dst, slot);
        self.push_result(dst);
    }

    /// `...; op; local.set x` (or `local.tee x`) with `x` in a register: computes into
    /// `x`'s register at once and leaves `x` on the stack for the `local.set`, which has
    /// nothing left to do. For `local.get x; ...; op` that is `add r12d, 4`, not a copy,
    /// the operation and a copy back; for another left operand, one copy less. Copies of
    /// `x`'s old value still on the stack keep it. Returns false, emitting nothing, when
    /// the pattern does not apply (no such `local.set`, or the right operand is `x`'s old
    /// value and the left one is not).
    fn binop_in_place(&mut self, op: IntBin, size: Size, next: Option<&Operator<'_>>) -> bool {
        let Some((x, lr)) = self.next_set(next) else { return false };
        let h = self.stack.len();
        if h < 2 || (self.stack.get(h - 2) != Val::Local(lr) && self.stack.get(h - 1) == Val::Local(lr)) {
            return false;
        }
        // `local.tee` keeps the value on the stack: computed in the left operand's own
        // register and copied into x's, it stays there for the next operator to consume
        // (in x's register, an operation that overwrites its operand would copy it back).
        if matches!(next, Some(Operator::LocalTee { .. })) && matches!(self.stack.get(h - 2), Val::Reg(_)) {
            return false;
        }
        let rhs = self.stack.pop_regimm(self.masm);
        let lhs = self.stack.pop();
        self.claim_local(x);
        match lhs {
            // Another local's register (the right operand is not x's old value, see above).
            Val::Local(src) if src != lr => self.masm.int_bin_from(op, size, lr, src, rhs),
            _ => {
                self.set_reg(lr, lhs, h - 2);
                self.masm.int_bin(op, size, lr, rhs);
            }
        }
        self.stack.free_regimm(rhs);
        self.stack.push(Val::Local(lr));
        true
    }

    /// Makes register local `x`'s register ready to take a value computed now (see
    /// [`Self::next_set`]): copies of its old value on the stack are materialized and the
    /// local marked dirty. The caller leaves `Val::Local(reg)` on the stack, so the
    /// `local.set` or `local.tee` has nothing left to do.
    fn claim_local(&mut self, x: u32) {
        if let Some(lr) = self.local_reg(x, true) {
            self.materialize_copies(lr);
        }
    }

    /// Before register local `lr` is written: copies of its old value still on the
    /// stack must keep that value (the other locals' copies stay lazy).
    fn materialize_copies(&mut self, lr: Reg) {
        let zext = self.is_i32_local(lr);
        self.stack.materialize_copies(self.masm, Val::Local(lr), zext);
    }

    /// As [`Self::claim_local`], for f64 local `x` in a float register.
    fn claim_flocal(&mut self, x: u32) {
        if let Some(fx) = self.local_freg(x, true) {
            self.stack.materialize_copies(self.masm, Val::FLocal(fx), false);
        }
    }

    /// An integer comparison: emitted when its result is consumed (fused into the branch
    /// of a following `br_if` or `if`).
    fn cmp(&mut self, cc: IntCmp, size: Size) {
        let rhs = self.stack.pop_regimm(self.masm);
        self.pending_cmp(cc, size, rhs);
    }

    /// `eqz`: a pending comparison with 0.
    fn eqz(&mut self, size: Size) {
        self.pending_cmp(IntCmp::Eq, size, RegImm::Imm(0));
    }

    /// Makes `top cc rhs` the pending comparison. A local's register is compared in place
    /// (a branch only reads it); the top entry stands for the comparison's result.
    fn pending_cmp(&mut self, cc: IntCmp, size: Size, rhs: RegImm) {
        let lhs = self.stack.pop_read(self.masm);
        self.stack.push(if self.stack.owns(lhs) { Val::Reg(lhs) } else { Val::Local(lhs) });
        self.pending = Some(PendingCmp { cc, size, lhs, rhs });
    }

    /// Emits the pending comparison into a register of its own (the top entry).
    fn materialize_pending(&mut self) {
        if let Some(p) = self.pending.take() {
            let dst = if self.stack.owns(p.lhs) {
                p.lhs
            } else {
                // The top entry is the local's register: the result needs its own.
                self.stack.pop();
                let n = self.stack.alloc(self.masm);
                self.masm.mov(n, p.lhs);
                self.stack.push(Val::Reg(n));
                n
            };
            self.masm.int_cmp(p.cc, p.size, dst, p.rhs);
            self.stack.free_regimm(p.rhs);
        }
    }

    /// Pops an i32 condition as a comparison: the pending one, or `top != 0` (a local's
    /// register read in place).
    fn pop_cond(&mut self) -> PendingCmp {
        if let Some(p) = self.pending.take() {
            self.stack.pop();
            return p;
        }
        let lhs = self.stack.pop_read(self.masm);
        PendingCmp { cc: IntCmp::Ne, size: Size::S32, lhs, rhs: RegImm::Imm(0) }
    }

    /// Frees the registers of a consumed condition.
    fn free_cond(&mut self, c: PendingCmp) {
        self.stack.free_reg(c.lhs);
        self.stack.free_regimm(c.rhs);
    }

    fn div(&mut self, op: IntDiv, size: Size) {
        let rhs = self.stack.pop_read(self.masm);
        let lhs = self.stack.pop_reg(self.masm);
        self.masm.int_div(op, size, lhs, rhs);
        self.stack.free_reg(rhs);
        self.push_result(lhs);
    }

    fn unop(&mut self, op: IntUn, size: Size) {
        // A zero-extension of a value known to be zero-extended already emits nothing.
        let zext = op == IntUn::ZeroExtend32
            && match self.stack.get(self.stack.len() - 1) {
                Val::Reg(_) => self.stack.top_zero_extended(),
                Val::Local(lr) => self.is_i32_local(lr),
                _ => false,
            };
        if op == IntUn::ZeroExtend32 && !zext {
            if let Val::Local(src) = self.stack.get(self.stack.len() - 1) {
                // `i32.wrap_i64` of an i64 local in a register: one 32-bit move, not a
                // copy and then a zero-extension in place.
                self.stack.pop();
                let r = self.stack.alloc(self.masm);
                self.masm.mov_u32(r, src);
                return self.push_result(r);
            }
        }
        let r = self.stack.pop_reg(self.masm);
        if zext {
            self.masm.set_zero_extended(r);
        }
        self.masm.int_un(op, size, r);
        self.push_result(r);
    }

    fn fbin(&mut self, op: FloatBin, size: Size, canon: bool, next: Option<&Operator<'_>>) {
        if size == Size::S64 && self.stack.has_fregs() {
            return self.fbin64(op, canon, next);
        }
        let rhs = self.stack.pop_read(self.masm);
        let lhs = self.stack.pop_reg(self.masm);
        self.masm.float_bin(op, size, lhs, rhs, canon);
        self.stack.free_reg(rhs);
        self.push_result(lhs);
    }

    /// An f64 operation in float registers; into the f64 local the next operator sets, when
    /// it has one (as [`Self::binop_in_place`]).
    fn fbin64(&mut self, op: FloatBin, canon: bool, next: Option<&Operator<'_>>) {
        let h = self.stack.len();
        if let Some((x, fx)) = self.next_fset(next) {
            // Not when the right operand is the local's old value and the left one is not:
            // writing the left one into the register first would clobber it.
            if h >= 2 && !(self.stack.get(h - 1) == Val::FLocal(fx) && self.stack.get(h - 2) != Val::FLocal(fx)) {
                let rhs = self.stack.pop_f64_read(self.masm);
                let lhs = self.stack.pop();
                self.claim_flocal(x);
                self.set_freg(fx, lhs, h - 2);
                self.masm.f64_bin(op, fx, rhs, canon);
                self.stack.ffree_reg(rhs);
                self.stack.push(Val::FLocal(fx));
                return;
            }
        }
        let rhs = self.stack.pop_f64_read(self.masm);
        let lhs = self.stack.pop_f64(self.masm);
        self.masm.f64_bin(op, lhs, rhs, canon && !next_is_f64_arith(next));
        self.stack.ffree_reg(rhs);
        self.stack.push(Val::FReg(lhs));
    }

    /// `f64.load` into a float register (the f64 local the next operator sets, if any).
    fn load_f64(&mut self, offset: u64, next: Option<&Operator<'_>>) {
        let addr = self.stack.pop_addr(self.masm);
        let (dst, entry) = match self.next_fset(next) {
            Some((x, fx)) => {
                self.claim_flocal(x);
                (fx, Val::FLocal(fx))
            }
            None => {
                let x = self.stack.falloc(self.masm);
                (x, Val::FReg(x))
            }
        };
        self.masm.f64_load(dst, addr, offset);
        self.stack.free_reg(addr);
        self.stack.push(entry);
    }

    /// `f64.store` of a value in a float register (else as any 8-byte store).
    fn store_f64(&mut self, offset: u64) {
        let h = self.stack.len();
        if !matches!(self.stack.get(h - 1), Val::FReg(_) | Val::FLocal(_)) {
            return self.store(8, offset);
        }
        let val = self.stack.pop_f64_read(self.masm);
        let addr = self.stack.pop_addr(self.masm);
        self.masm.f64_store(addr, val, offset);
        self.stack.ffree_reg(val);
        self.stack.free_reg(addr);
    }

    fn fun(&mut self, op: FloatUn, size: Size, canon: bool) {
        let r = self.stack.pop_reg(self.masm);
        self.masm.float_un(op, size, r, canon);
        self.push_result(r);
    }

    fn fcmp(&mut self, cc: FloatCmp, size: Size) {
        let rhs = self.stack.pop_read(self.masm);
        let lhs = self.stack.pop_reg(self.masm);
        self.masm.float_cmp(cc, size, lhs, rhs);
        self.stack.free_reg(rhs);
        self.push_result(lhs);
    }

    fn load(&mut self, kind: LoadKind, offset: u64, next: Option<&Operator<'_>>) {
        let addr = self.stack.pop_addr(self.masm);
        if let Some((x, lr)) = self.next_set(next) {
            self.claim_local(x);
            // Loaded straight into the register local the next operator sets (the address
            // is read before the register is written, even when it is that local).
            self.masm.load(kind, lr, addr, offset);
            self.stack.free_reg(addr);
            self.stack.push(Val::Local(lr));
            return;
        }
        let dst = if self.stack.owns(addr) { addr } else { self.stack.alloc(self.masm) };
        self.masm.load(kind, dst, addr, offset);
        self.push_result(dst);
    }

    fn store(&mut self, bytes: u32, offset: u64) {
        let val = self.stack.pop_read(self.masm);
        let addr = self.stack.pop_addr(self.masm);
        self.masm.store(bytes, addr, val, offset);
        self.stack.free_reg(val);
        self.stack.free_reg(addr);
    }

    /// Calls libcall `lc` with `prefix` immediates, the top `n` operands and `suffix`
    /// immediates; pushes its result when `result`.
    fn lib(&mut self, lc: LibCall, prefix: &[u64], n: usize, suffix: &[u64], result: bool) {
        self.stack.spill_all(self.masm);
        let mut args: Vec<ArgSrc> = prefix.iter().map(|v| ArgSrc::Imm(*v)).collect();
        args.extend(self.stack.pop_args(n));
        args.extend(suffix.iter().map(|v| ArgSrc::Imm(*v)));
        let slot = if result { Some(self.stack.slot_of(self.stack.len())) } else { None };
        self.save_locals();
        self.masm.libcall(lc, &args, slot);
        self.mark_locals_stale();
        if result {
            self.stack.push(Val::Slot);
        }
    }

    fn unit(&self, op: &Operator<'_>) -> u64 {
        if !self.env.metering {
            return 0;
        }
        DynamicKind::of(op).map_or(0, |k| self.costs.unit_cost(k))
    }

    /// Emits `op`; `next` is the operator after it (`None` after the final `end`), which
    /// a few operators look at (see [`Self::next_set`]).
    #[inline(always)]
    fn visit(&mut self, op: &Operator<'_>, next: Option<&Operator<'_>>) -> Result<(), CompileError> {
        if let Some(r) = self.pending_wrap.take() {
            self.settle_wrap(r, op);
        }
        if !self.reachable {
            return self.visit_dead(op);
        }
        use Operator as O;
        if self.pending.is_some() && !matches!(op, O::BrIf { .. } | O::If { .. } | O::I32Eqz) {
            self.materialize_pending();
        }
        // Whether `op`'s NaN result is canonicalized: asked by the float operators only.
        let canon = || canonicalized_result(op).is_some();
        match *op {
            O::Unreachable => {
                self.masm.trap(TrapCode::Unreachable);
                self.reachable = false;
            }
            O::Nop => {}
            O::Block { blockty } => {
                let l = self.masm.new_label();
                self.enter_frame(FrameKind::Block, blockty, l);
            }
            O::Loop { blockty } => {
                let l = self.masm.new_label();
                // The exit test, if any, is known at its `br_if` (`finish_exit_test`).
                self.enter_frame(FrameKind::Loop { test: None }, blockty, l);
                if blockty == BlockType::Empty {
                    self.recording = Some(Recording {
                        at: self.op_index + 1,
                        first: self.test_ops.len() as u32,
                        height: 0,
                        frame: self.control.len() - 1,
                    });
                }
                self.flush_gas();
                self.bind_merge(l);
            }
            O::If { blockty } => {
                let cond = self.pop_cond();
                let end = self.masm.new_label();
                let else_label = self.masm.new_label();
                self.enter_frame(FrameKind::If { else_label: Some(else_label) }, blockty, end);
                self.flush_gas();
                self.unstale();
                self.masm.branch_cmp(cond.cc.negate(), cond.size, cond.lhs, cond.rhs, else_label);
                self.free_cond(cond);
            }
            O::Else => {
                let f = self.frame(0);
                self.fall_through_results(&f);
                self.flush_gas();
                self.unstale();
                self.masm.jump(f.label);
                self.begin_else();
            }
            O::End => {
                let f = self.frame(0);
                self.fall_through_results(&f);
                self.flush_gas();
                self.end_frame();
            }
            O::Br { relative_depth } => {
                let f = self.frame(relative_depth);
                if let FrameKind::Loop { test: Some(i) } = f.kind {
                    if let Some(&t) = self.exit_tests.get(i as usize) {
                        return self.repeat_exit_test(relative_depth, t);
                    }
                }
                self.branch_moves(&f);
                self.flush_gas();
                self.unstale();
                self.masm.jump(f.label);
                self.reachable = false;
            }
            O::BrIf { relative_depth } => {
                let c = self.pop_cond();
                let f = self.frame(relative_depth);
                self.unstale();
                if f.branch_arity() == 0 && self.pending_gas == 0 {
                    self.masm.branch_cmp(c.cc, c.size, c.lhs, c.rhs, f.label);
                } else if f.branch_arity() == 0 && !self.leaves_loop(relative_depth) {
                    // A branch that stays in the innermost loop (forward inside its body,
                    // or back to its header) or is in no loop: both edges pay the pending
                    // gas, subtracted before the branch, as either may be the common one.
                    self.flush_gas();
                    self.masm.branch_cmp(c.cc, c.size, c.lhs, c.rhs, f.label);
                } else if f.branch_arity() == 0 {
                    // Out of a loop, the fall-through is the common edge (a loop's exit
                    // test): the taken edge pays the pending gas in a stub; the
                    // fall-through still owes it to the next charge.
                    let stub = self.masm.new_label();
                    self.masm.branch_cmp(c.cc, c.size, c.lhs, c.rhs, stub);
                    self.gas_stubs.push((stub, self.pending_gas, f.label));
                } else {
                    let skip = self.masm.new_label();
                    self.masm.branch_cmp(c.cc.negate(), c.size, c.lhs, c.rhs, skip);
                    self.branch_moves(&f);
                    if self.pending_gas > 0 {
                        self.masm.charge_gas_unchecked(self.pending_gas);
                    }
                    self.masm.jump(f.label);
                    self.masm.bind(skip);
                }
                self.free_cond(c);
            }
            O::BrTable { ref targets } => {
                let index = self.stack.pop_read(self.masm);
                let mut stubs: HashMap<u32, Label> = HashMap::new();
                let mut pending: Vec<(u32, Label)> = Vec::new();
                let mut resolve = |this: &mut Self, depth: u32| -> Label {
                    let f = this.frame(depth);
                    if f.branch_arity() == 0 {
                        return f.label;
                    }
                    *stubs.entry(depth).or_insert_with(|| {
                        let l = this.masm.new_label();
                        pending.push((depth, l));
                        l
                    })
                };
                let mut labels = Vec::with_capacity(targets.len() as usize);
                for t in targets.targets() {
                    let t = t.map_err(CompileError::from_wasmparser)?;
                    labels.push(resolve(self, t));
                }
                let default = resolve(self, targets.default());
                self.flush_gas();
                self.unstale();
                self.masm.br_table(index, &labels, default);
                self.stack.free_reg(index);
                for (depth, l) in pending {
                    self.masm.bind(l);
                    let f = self.frame(depth);
                    self.branch_moves(&f);
                    self.masm.jump(f.label);
                }
                self.reachable = false;
            }
            O::Return => {
                let f = self.control[0];
                self.branch_moves(&f);
                self.flush_gas();
                self.masm.jump(f.label);
                self.reachable = false;
            }
            O::Call { function_index } => {
                let (np, nr) = self.func_arity(function_index);
                let direct = match function_index.checked_sub(self.env.imported_funcs) {
                    Some(i) => Some(*self.labels.get(i as usize).ok_or_else(|| {
                        CompileError::Internal("call to an unknown function".into())
                    })?),
                    None => None,
                };
                let arg_regs = if direct.is_some() { self.masm.call_arg_regs(np, nr) } else { &[] };
                let h = self.stack.len().saturating_sub(np as usize);
                if let (Some(l), false) = (direct, arg_regs.is_empty()) {
                    // The arguments go straight to their registers; only the values below
                    // them are spilled. Locals are saved first: an argument register may
                    // be a local's.
                    self.stack.spill_below(self.masm, np as usize);
                    self.save_locals();
                    self.stack.pop_into(self.masm, arg_regs);
                    self.masm.call_direct(l, None);
                } else {
                    self.stack.spill_all(self.masm);
                    self.stack.materialize_top(self.masm, np as usize);
                    let args_slot = self.stack.slot_of(h);
                    self.save_locals();
                    match direct {
                        None => self.masm.call_import(function_index, args_slot),
                        Some(l) => self.masm.call_direct(l, Some(args_slot)),
                    }
                }
                let result_reg = direct.and(self.masm.call_result_reg()).filter(|_| nr == 1);
                self.mark_locals_stale();
                match result_reg {
                    // The value stack holds no register across a call: `r` is free.
                    Some(r) => self.stack.reset_to_reg(h, r),
                    None => self.reset_to(h, nr),
                }
            }
            O::CallIndirect { type_index, table_index } => {
                let (np, nr) =
                    self.env.types.get(type_index as usize).copied().unwrap_or((0, 0));
                self.stack.spill_all(self.masm);
                let idx = self.stack.pop_args(1)[0];
                self.stack.materialize_top(self.masm, np as usize);
                let h = self.stack.len() - np as usize;
                let args_slot = self.stack.slot_of(h);
                self.save_locals();
                self.masm.call_indirect(table_index, type_index, idx, args_slot);
                self.mark_locals_stale();
                self.reset_to(h, nr);
            }
            O::Drop => match self.stack.pop() {
                Val::Reg(r) => self.stack.free_reg(r),
                Val::FReg(x) => self.stack.ffree_reg(x),
                _ => {}
            },
            O::Select | O::TypedSelect { .. } => {
                let cond = self.stack.pop_read(self.masm);
                let b = self.stack.pop_read(self.masm);
                let a = self.stack.pop_reg(self.masm);
                self.masm.select(a, b, cond);
                self.stack.free_reg(b);
                self.stack.free_reg(cond);
                self.push_result(a);
            }
            O::LocalGet { local_index } => self.local_get(local_index),
            O::LocalSet { local_index } => self.local_set(local_index),
            O::LocalTee { local_index } => self.local_tee(local_index),
            O::GlobalGet { global_index } => {
                let r = self.stack.alloc(self.masm);
                self.masm.global_get(r, global_access(global_index, self.env.imported_globals));
                self.push_result(r);
            }
            O::GlobalSet { global_index } => {
                let r = self.stack.pop_read(self.masm);
                self.masm.global_set(global_access(global_index, self.env.imported_globals), r);
                self.stack.free_reg(r);
            }

            O::I32Load { memarg } | O::F32Load { memarg } => self.load(LoadKind::U32, memarg.offset, next),
            O::I64Load { memarg } => self.load(LoadKind::U64, memarg.offset, next),
            O::F64Load { memarg } if self.stack.has_fregs() => self.load_f64(memarg.offset, next),
            O::F64Load { memarg } => self.load(LoadKind::U64, memarg.offset, next),
            O::I32Load8S { memarg } => self.load(LoadKind::S8To32, memarg.offset, next),
            O::I32Load8U { memarg } | O::I64Load8U { memarg } => self.load(LoadKind::U8, memarg.offset, next),
            O::I32Load16S { memarg } => self.load(LoadKind::S16To32, memarg.offset, next),
            O::I32Load16U { memarg } | O::I64Load16U { memarg } => {
                self.load(LoadKind::U16, memarg.offset, next)
            }
            O::I64Load8S { memarg } => self.load(LoadKind::S8To64, memarg.offset, next),
            O::I64Load16S { memarg } => self.load(LoadKind::S16To64, memarg.offset, next),
            O::I64Load32S { memarg } => self.load(LoadKind::S32To64, memarg.offset, next),
            O::I64Load32U { memarg } => self.load(LoadKind::U32, memarg.offset, next),
            O::I32Store { memarg } | O::F32Store { memarg } | O::I64Store32 { memarg } => {
                self.store(4, memarg.offset)
            }
            O::I64Store { memarg } => self.store(8, memarg.offset),
            O::F64Store { memarg } => self.store_f64(memarg.offset),
            O::I32Store8 { memarg } | O::I64Store8 { memarg } => self.store(1, memarg.offset),
            O::I32Store16 { memarg } | O::I64Store16 { memarg } => self.store(2, memarg.offset),
            O::MemorySize { .. } => {
                let r = self.stack.alloc(self.masm);
                self.masm.memory_size(r);
                self.push_result(r);
            }
            O::MemoryGrow { .. } => {
                let u = self.unit(op);
                self.lib(LibCall::MemoryGrow, &[], 1, &[u], true)
            }
            O::MemoryFill { .. } => {
                let u = self.unit(op);
                self.lib(LibCall::MemoryFill, &[], 3, &[u], false)
            }
            O::MemoryCopy { .. } => {
                let u = self.unit(op);
                self.lib(LibCall::MemoryCopy, &[], 3, &[u], false)
            }
            O::MemoryInit { data_index, .. } => {
                let u = self.unit(op);
                self.lib(LibCall::MemoryInit, &[u64::from(data_index)], 3, &[u], false)
            }
            O::DataDrop { data_index } => {
                self.lib(LibCall::DataDrop, &[u64::from(data_index)], 0, &[], false)
            }

            O::I32Const { value } => self.stack.push(Val::Const(u64::from(value as u32))),
            O::I64Const { value } => self.stack.push(Val::Const(value as u64)),
            O::F32Const { value } => self.stack.push(Val::Const(u64::from(value.bits()))),
            O::F64Const { value } => self.stack.push(Val::Const(value.bits())),
            O::RefNull { .. } => self.stack.push(Val::Const(0)),
            O::RefIsNull => self.unop(IntUn::Eqz, Size::S64),
            O::RefFunc { function_index } => {
                self.lib(LibCall::RefFunc, &[u64::from(function_index)], 0, &[], true)
            }

            O::I32Eqz => match self.pending.as_mut() {
                // `eqz` of a pending comparison's 0/1 is the opposite comparison.
                Some(p) => p.cc = p.cc.negate(),
                None => self.eqz(Size::S32),
            },
            O::I64Eqz => self.eqz(Size::S64),
            O::I32Eq => self.cmp(IntCmp::Eq, Size::S32),
            O::I32Ne => self.cmp(IntCmp::Ne, Size::S32),
            O::I32LtS => self.cmp(IntCmp::LtS, Size::S32),
            O::I32LtU => self.cmp(IntCmp::LtU, Size::S32),
            O::I32GtS => self.cmp(IntCmp::GtS, Size::S32),
            O::I32GtU => self.cmp(IntCmp::GtU, Size::S32),
            O::I32LeS => self.cmp(IntCmp::LeS, Size::S32),
            O::I32LeU => self.cmp(IntCmp::LeU, Size::S32),
            O::I32GeS => self.cmp(IntCmp::GeS, Size::S32),
            O::I32GeU => self.cmp(IntCmp::GeU, Size::S32),
            O::I64Eq => self.cmp(IntCmp::Eq, Size::S64),
            O::I64Ne => self.cmp(IntCmp::Ne, Size::S64),
            O::I64LtS => self.cmp(IntCmp::LtS, Size::S64),
            O::I64LtU => self.cmp(IntCmp::LtU, Size::S64),
            O::I64GtS => self.cmp(IntCmp::GtS, Size::S64),
            O::I64GtU => self.cmp(IntCmp::GtU, Size::S64),
            O::I64LeS => self.cmp(IntCmp::LeS, Size::S64),
            O::I64LeU => self.cmp(IntCmp::LeU, Size::S64),
            O::I64GeS => self.cmp(IntCmp::GeS, Size::S64),
            O::I64GeU => self.cmp(IntCmp::GeU, Size::S64),

            O::F32Eq => self.fcmp(FloatCmp::Eq, Size::S32),
            O::F32Ne => self.fcmp(FloatCmp::Ne, Size::S32),
            O::F32Lt => self.fcmp(FloatCmp::Lt, Size::S32),
            O::F32Gt => self.fcmp(FloatCmp::Gt, Size::S32),
            O::F32Le => self.fcmp(FloatCmp::Le, Size::S32),
            O::F32Ge => self.fcmp(FloatCmp::Ge, Size::S32),
            O::F64Eq => self.fcmp(FloatCmp::Eq, Size::S64),
            O::F64Ne => self.fcmp(FloatCmp::Ne, Size::S64),
            O::F64Lt => self.fcmp(FloatCmp::Lt, Size::S64),
            O::F64Gt => self.fcmp(FloatCmp::Gt, Size::S64),
            O::F64Le => self.fcmp(FloatCmp::Le, Size::S64),
            O::F64Ge => self.fcmp(FloatCmp::Ge, Size::S64),

            O::I32Clz => self.unop(IntUn::Clz, Size::S32),
            O::I32Ctz => self.unop(IntUn::Ctz, Size::S32),
            O::I32Popcnt => self.unop(IntUn::Popcnt, Size::S32),
            O::I32Add => self.binop(IntBin::Add, Size::S32, next),
            O::I32Sub => self.binop(IntBin::Sub, Size::S32, next),
            O::I32Mul => self.binop(IntBin::Mul, Size::S32, next),
            O::I32DivS => self.div(IntDiv::DivS, Size::S32),
            O::I32DivU => self.div(IntDiv::DivU, Size::S32),
            O::I32RemS => self.div(IntDiv::RemS, Size::S32),
            O::I32RemU => self.div(IntDiv::RemU, Size::S32),
            O::I32And => self.binop(IntBin::And, Size::S32, next),
            O::I32Or => self.binop(IntBin::Or, Size::S32, next),
            O::I32Xor => self.binop(IntBin::Xor, Size::S32, next),
            O::I32Shl => self.binop(IntBin::Shl, Size::S32, next),
            O::I32ShrS => self.binop(IntBin::ShrS, Size::S32, next),
            O::I32ShrU => self.binop(IntBin::ShrU, Size::S32, next),
            O::I32Rotl => self.binop(IntBin::Rotl, Size::S32, next),
            O::I32Rotr => self.binop(IntBin::Rotr, Size::S32, next),
            O::I64Clz => self.unop(IntUn::Clz, Size::S64),
            O::I64Ctz => self.unop(IntUn::Ctz, Size::S64),
            O::I64Popcnt => self.unop(IntUn::Popcnt, Size::S64),
            O::I64Add => self.binop(IntBin::Add, Size::S64, next),
            O::I64Sub => self.binop(IntBin::Sub, Size::S64, next),
            O::I64Mul => self.binop(IntBin::Mul, Size::S64, next),
            O::I64DivS => self.div(IntDiv::DivS, Size::S64),
            O::I64DivU => self.div(IntDiv::DivU, Size::S64),
            O::I64RemS => self.div(IntDiv::RemS, Size::S64),
            O::I64RemU => self.div(IntDiv::RemU, Size::S64),
            O::I64And => self.binop(IntBin::And, Size::S64, next),
            O::I64Or => self.binop(IntBin::Or, Size::S64, next),
            O::I64Xor => self.binop(IntBin::Xor, Size::S64, next),
            O::I64Shl => self.binop(IntBin::Shl, Size::S64, next),
            O::I64ShrS => self.binop(IntBin::ShrS, Size::S64, next),
            O::I64ShrU => self.binop(IntBin::ShrU, Size::S64, next),
            O::I64Rotl => self.binop(IntBin::Rotl, Size::S64, next),
            O::I64Rotr => self.binop(IntBin::Rotr, Size::S64, next),

            O::F32Abs => self.bits(IntBin::And, Size::S32, 0x7fff_ffff),
            O::F32Neg => self.bits(IntBin::Xor, Size::S32, 0x8000_0000),
            O::F64Abs => self.bits(IntBin::And, Size::S64, 0x7fff_ffff_ffff_ffff),
            O::F64Neg => self.bits(IntBin::Xor, Size::S64, 0x8000_0000_0000_0000),
            O::F32Copysign => self.copysign(Size::S32, 0x8000_0000),
            O::F64Copysign => self.copysign(Size::S64, 0x8000_0000_0000_0000),
            O::F32Ceil => self.fun(FloatUn::Ceil, Size::S32, canon()),
            O::F32Floor => self.fun(FloatUn::Floor, Size::S32, canon()),
            O::F32Trunc => self.fun(FloatUn::Trunc, Size::S32, canon()),
            O::F32Nearest => self.fun(FloatUn::Nearest, Size::S32, canon()),
            O::F32Sqrt => self.fun(FloatUn::Sqrt, Size::S32, canon()),
            O::F64Ceil => self.fun(FloatUn::Ceil, Size::S64, canon()),
            O::F64Floor => self.fun(FloatUn::Floor, Size::S64, canon()),
            O::F64Trunc => self.fun(FloatUn::Trunc, Size::S64, canon()),
            O::F64Nearest => self.fun(FloatUn::Nearest, Size::S64, canon()),
            O::F64Sqrt => self.fun(FloatUn::Sqrt, Size::S64, canon()),
            O::F32Add => self.fbin(FloatBin::Add, Size::S32, canon(), next),
            O::F32Sub => self.fbin(FloatBin::Sub, Size::S32, canon(), next),
            O::F32Mul => self.fbin(FloatBin::Mul, Size::S32, canon(), next),
            O::F32Div => self.fbin(FloatBin::Div, Size::S32, canon(), next),
            O::F64Add => self.fbin(FloatBin::Add, Size::S64, canon(), next),
            O::F64Sub => self.fbin(FloatBin::Sub, Size::S64, canon(), next),
            O::F64Mul => self.fbin(FloatBin::Mul, Size::S64, canon(), next),
            O::F64Div => self.fbin(FloatBin::Div, Size::S64, canon(), next),
            O::F32Min => self.lib(LibCall::FloatMinMax, &[], 2, &[0], true),
            O::F32Max => self.lib(LibCall::FloatMinMax, &[], 2, &[1], true),
            O::F64Min => self.lib(LibCall::FloatMinMax, &[], 2, &[2], true),
            O::F64Max => self.lib(LibCall::FloatMinMax, &[], 2, &[3], true),

            O::I32WrapI64 => self.wrap(next),
            O::I64ExtendI32U => self.unop(IntUn::ZeroExtend32, Size::S64),
            O::I64ExtendI32S | O::I64Extend32S => self.unop(IntUn::Extend32S, Size::S64),
            O::I32Extend8S => self.unop(IntUn::Extend8S, Size::S32),
            O::I32Extend16S => self.unop(IntUn::Extend16S, Size::S32),
            O::I64Extend8S => self.unop(IntUn::Extend8S, Size::S64),
            O::I64Extend16S => self.unop(IntUn::Extend16S, Size::S64),
            O::F32DemoteF64 => self.fun(FloatUn::Demote, Size::S32, canon()),
            O::F64PromoteF32 => self.fun(FloatUn::Promote, Size::S64, canon()),
            O::F32ConvertI32S => self.fun(FloatUn::ConvertI32S, Size::S32, false),
            O::F32ConvertI64S => self.fun(FloatUn::ConvertI64S, Size::S32, false),
            O::F64ConvertI32S => self.fun(FloatUn::ConvertI32S, Size::S64, false),
            O::F64ConvertI64S => self.fun(FloatUn::ConvertI64S, Size::S64, false),
            O::F32ConvertI32U => self.fun(FloatUn::ConvertI32U, Size::S32, false),
            O::F32ConvertI64U => self.lib(LibCall::IntToFloat, &[], 1, &[1], true),
            O::F64ConvertI32U => self.fun(FloatUn::ConvertI32U, Size::S64, false),
            O::F64ConvertI64U => self.lib(LibCall::IntToFloat, &[], 1, &[3], true),
            O::I64ReinterpretF64 => {
                // An f64 in a float register moves to a general one: integer operators
                // take general registers only.
                if let Val::FReg(_) | Val::FLocal(_) = self.stack.get(self.stack.len() - 1) {
                    let r = self.stack.pop_reg(self.masm);
                    self.push_result(r);
                }
            }
            O::I32ReinterpretF32 | O::F32ReinterpretI32 | O::F64ReinterpretI64 => {}
            O::I32TruncF32S => self.f2i(0),
            O::I32TruncF32U => self.f2i(1),
            O::I32TruncF64S => self.f2i(2),
            O::I32TruncF64U => self.f2i(3),
            O::I64TruncF32S => self.f2i(4),
            O::I64TruncF32U => self.f2i(5),
            O::I64TruncF64S => self.f2i(6),
            O::I64TruncF64U => self.f2i(7),
            O::I32TruncSatF32S => self.f2i(8),
            O::I32TruncSatF32U => self.f2i(9),
            O::I32TruncSatF64S => self.f2i(10),
            O::I32TruncSatF64U => self.f2i(11),
            O::I64TruncSatF32S => self.f2i(12),
            O::I64TruncSatF32U => self.f2i(13),
            O::I64TruncSatF64S => self.f2i(14),
            O::I64TruncSatF64U => self.f2i(15),

            O::TableGet { table } => self.lib(LibCall::TableGet, &[u64::from(table)], 1, &[], true),
            O::TableSet { table } => self.lib(LibCall::TableSet, &[u64::from(table)], 2, &[], false),
            O::TableSize { table } => self.lib(LibCall::TableSize, &[u64::from(table)], 0, &[], true),
            O::TableGrow { table } => {
                let u = self.unit(op);
                self.lib(LibCall::TableGrow, &[u64::from(table)], 2, &[u], true)
            }
            O::TableFill { table } => {
                let u = self.unit(op);
                self.lib(LibCall::TableFill, &[u64::from(table)], 3, &[u], false)
            }
            O::TableCopy { dst_table, src_table } => {
                let u = self.unit(op);
                let t = u64::from(dst_table) | (u64::from(src_table) << 32);
                self.lib(LibCall::TableCopy, &[t], 3, &[u], false)
            }
            O::TableInit { elem_index, table } => {
                let u = self.unit(op);
                let t = u64::from(table) | (u64::from(elem_index) << 32);
                self.lib(LibCall::TableInit, &[t], 3, &[u], false)
            }
            O::ElemDrop { elem_index } => {
                self.lib(LibCall::ElemDrop, &[u64::from(elem_index)], 0, &[], false)
            }
            ref other => {
                return Err(CompileError::Unsupported(format!("{other:?}")));
            }
        }
        Ok(())
    }

    /// Pushes `r`, just written by an operation, noting whether that operation left it
    /// zero-extended ([`MacroAssembler::is_zero_extended`]): a memory access that takes
    /// it as its address may then skip the zero-extension ([`ValueStack::pop_addr`]).
    fn push_result(&mut self, r: Reg) {
        let zext = self.masm.is_zero_extended(r);
        self.stack.push_reg(r, zext);
    }

    /// `local.get`: the local's register (a lazy copy), or a load from its slot.
    fn local_get(&mut self, local: u32) {
        if let Some(lr) = self.local_reg(local, false) {
            self.stack.push(Val::Local(lr));
        } else if let Some(fx) = self.local_freg(local, false) {
            self.stack.push(Val::FLocal(fx));
        } else if let Some(v) = self.slot_copy(local) {
            self.stack.push(v);
        } else {
            let r = self.stack.alloc(self.masm);
            self.masm.load_slot(r, local);
            self.push_result(r);
        }
    }

    /// The entry a `local.get` of `local` pushes when it lives in its slot: a lazy
    /// [`Val::LocalSlot`] for an integer, `None` for another type (loaded at once).
    fn slot_copy(&self, local: u32) -> Option<Val> {
        match self.local_types.get(local as usize) {
            Some(wasmparser::ValType::I32 | wasmparser::ValType::I64) => Some(Val::LocalSlot(local)),
            _ => None,
        }
    }

    /// Before integer local `local`, which lives in its slot, is written with `v`: copies
    /// of its old value still on the stack are copied out. True when `v` is that old
    /// value itself, so that there is nothing to write.
    fn before_slot_write(&mut self, local: u32, v: Val) -> bool {
        let Some(of) = self.slot_copy(local) else { return false };
        if v == of {
            return true;
        }
        self.stack.materialize_copies(self.masm, of, false);
        false
    }

    /// `local.set`: into the local's register, or its slot.
    fn local_set(&mut self, local: u32) {
        let h = self.stack.len() - 1;
        let v = self.stack.pop();
        // Copies of the local's old value still on the stack must not see the write.
        if let Some(fx) = self.local_freg(local, true) {
            self.stack.materialize_copies(self.masm, Val::FLocal(fx), false);
            return self.set_freg(fx, v, h);
        }
        if let Some(lr) = self.local_reg(local, true) {
            self.materialize_copies(lr);
            return self.set_reg(lr, v, h);
        }
        if self.before_slot_write(local, v) {
            return; // `local.get x; local.set x`
        }
        match v {
            Val::Const(c) => self.masm.store_slot_imm(local, c),
            Val::LocalSlot(src) => self.masm.copy_slot(local, src),
            Val::Reg(r) | Val::Local(r) => {
                self.masm.store_slot(local, r);
                self.stack.free_reg(r);
            }
            Val::Slot => self.masm.copy_slot(local, self.stack.slot_of(h)),
            Val::FReg(x) | Val::FLocal(x) => {
                self.masm.f64_store_slot(local, x);
                self.stack.ffree_reg(x);
            }
        }
    }

    /// Writes popped entry `v` (from height `h`) into general register `lr`, freeing its
    /// register (nothing to free for a local's).
    fn set_reg(&mut self, lr: Reg, v: Val, h: usize) {
        let zext = self.is_i32_local(lr);
        match v {
            // An i32 constant is below 2^32 already; the mask makes it evident.
            Val::Const(c) if zext => self.masm.mov_imm(lr, c & 0xffff_ffff),
            Val::Const(c) => self.masm.mov_imm(lr, c),
            Val::Reg(r) | Val::Local(r) => {
                self.copy_to_local(lr, r, zext);
                self.stack.free_reg(r);
            }
            Val::Slot if zext => self.masm.load_slot_u32(lr, self.stack.slot_of(h)),
            Val::Slot => self.masm.load_slot(lr, self.stack.slot_of(h)),
            // Straight from the slot local's slot into the register (whole: see
            // `Val::LocalSlot`), then zero-extended in place for an i32.
            Val::LocalSlot(src) => {
                self.masm.load_slot(lr, src);
                if zext {
                    self.masm.mov_u32(lr, lr);
                }
            }
            Val::FReg(x) | Val::FLocal(x) => {
                self.masm.f64_to_gpr(lr, x);
                self.stack.ffree_reg(x);
            }
        }
    }

    /// Writes popped entry `v` (from height `h`) into float register `fx`, freeing its
    /// register (nothing to free for a local's).
    fn set_freg(&mut self, fx: FReg, v: Val, h: usize) {
        match v {
            Val::Const(c) => self.masm.f64_mov_imm(fx, c),
            Val::Reg(r) | Val::Local(r) => {
                self.masm.f64_from_gpr(fx, r);
                self.stack.free_reg(r);
            }
            Val::Slot => self.masm.f64_load_slot(fx, self.stack.slot_of(h)),
            Val::LocalSlot(src) => self.masm.f64_load_slot(fx, src),
            Val::FReg(x) | Val::FLocal(x) => {
                self.masm.f64_mov(fx, x);
                self.stack.ffree_reg(x);
            }
        }
    }

    /// `local.tee`: as `local.set`, keeping the value on the stack.
    fn local_tee(&mut self, local: u32) {
        let top = self.stack.get(self.stack.len() - 1);
        if let Some(fx) = self.local_freg(local, true) {
            if top == Val::FLocal(fx) {
                // Already the local's value, in its register (`fbin64`, `load_f64`).
                return;
            }
            self.stack.materialize_copies(self.masm, Val::FLocal(fx), false);
            let h = self.stack.len() - 1;
            let v = self.stack.pop();
            self.set_freg(fx, v, h);
            // The value on the stack is now the local's.
            self.stack.push(Val::FLocal(fx));
            return;
        }
        let lr = self.local_reg(local, true);
        if let Some(r) = lr {
            if top == Val::Local(r) {
                // Already the local's value, in its register (`binop_in_place`).
                return;
            }
            self.materialize_copies(r);
        } else if self.before_slot_write(local, top) {
            return; // `local.get x; local.tee x`
        }
        match (self.stack.get(self.stack.len() - 1), lr) {
            (Val::Const(c), Some(lr)) => {
                let c = if self.is_i32_local(lr) { c & 0xffff_ffff } else { c };
                return self.masm.mov_imm(lr, c);
            }
            (Val::Const(c), None) => return self.masm.store_slot_imm(local, c),
            (Val::FReg(x) | Val::FLocal(x), None) => return self.masm.f64_store_slot(local, x),
            _ => {}
        }
        let r = self.stack.pop_reg(self.masm);
        match lr {
            Some(lr) => {
                let zext = self.is_i32_local(lr);
                self.copy_to_local(lr, r, zext);
            }
            None => self.masm.store_slot(local, r),
        }
        self.push_result(r);
    }

    /// Whether `lr` is the register of an i32 local (see [`Self::zero_extended`]).
    fn is_i32_local(&self, lr: Reg) -> bool {
        self.pinned.iter().enumerate().any(|(k, p)| p.1 == lr && self.zero_extended >> k & 1 != 0)
    }

    /// `lr = r` into a local's register; 32 bits, zero-extended, when `zext`.
    fn copy_to_local(&mut self, lr: Reg, r: Reg, zext: bool) {
        if zext {
            if lr != r {
                self.masm.mov_u32(lr, r);
            }
        } else {
            self.masm.mov(lr, r);
        }
    }

    /// `i32.wrap_i64`: folded into a constant; nothing at all when the next operator
    /// reads only the low 32 bits ([`next_reads_low32`]); else a zero-extension.
    fn wrap(&mut self, next: Option<&Operator<'_>>) {
        match self.stack.get(self.stack.len() - 1) {
            Val::Const(c) => {
                self.stack.pop();
                self.stack.push(Val::Const(c & 0xffff_ffff));
            }
            _ if next_reads_low32(next) => {}
            Val::Reg(r) if matches!(next, Some(Operator::I32Const { .. })) => self.pending_wrap = Some(r),
            _ => self.unop(IntUn::ZeroExtend32, Size::S64),
        }
    }

    /// Before `op`, with [`Self::pending_wrap`] `r` taken: waits over the `i32.const`
    /// right after the wrap; drops the zero-extension when `op` reads the low halves of
    /// `r` and that constant only; else emits it now.
    fn settle_wrap(&mut self, r: Reg, op: &Operator<'_>) {
        let h = self.stack.len();
        let top = self.stack.get(h - 1);
        if top == Val::Reg(r) && matches!(op, Operator::I32Const { .. }) {
            self.pending_wrap = Some(r);
            return;
        }
        let low32 = h >= 2 && self.stack.get(h - 2) == Val::Reg(r) && matches!(top, Val::Const(_));
        if !(low32 && reads_low32_imm(op)) {
            self.masm.int_un(IntUn::ZeroExtend32, Size::S64, r);
            self.stack.set_zero_extended(r);
        }
    }

    fn f2i(&mut self, kind: u64) {
        self.lib(LibCall::FloatToInt, &[], 1, &[kind], true);
    }

    fn bits(&mut self, op: IntBin, size: Size, mask: u64) {
        let r = self.stack.pop_reg(self.masm);
        self.masm.int_bin(op, size, r, RegImm::Imm(mask));
        self.push_result(r);
    }

    fn copysign(&mut self, size: Size, sign: u64) {
        let b = self.stack.pop_reg(self.masm);
        let a = self.stack.pop_reg(self.masm);
        let not_sign = if size == Size::S32 { !sign & 0xffff_ffff } else { !sign };
        self.masm.int_bin(IntBin::And, size, a, RegImm::Imm(not_sign));
        self.masm.int_bin(IntBin::And, size, b, RegImm::Imm(sign));
        self.masm.int_bin(IntBin::Or, size, a, RegImm::Reg(b));
        self.stack.free_reg(b);
        self.push_result(a);
    }

    /// `else` of the innermost `if`: switch to the condition-false path.
    fn begin_else(&mut self) {
        let i = self.control.len() - 1;
        let f = self.control[i];
        if let FrameKind::If { else_label: Some(l) } = f.kind {
            self.bind_merge(l);
        }
        self.control[i].kind = FrameKind::If { else_label: None };
        self.reset_to(f.height, f.params);
        self.reachable = true;
    }

    /// `end` of the innermost frame (results already in their slots, or its only result in
    /// [`Self::frame_result_reg`], if reachable).
    fn end_frame(&mut self) {
        let f = match self.control.pop() {
            Some(f) => f,
            None => return,
        };
        let result_reg = match f.kind {
            FrameKind::Function => None,
            _ => self.frame_result_reg(&f),
        };
        match f.kind {
            FrameKind::If { else_label: Some(l) } => {
                self.bind_merge(l);
                self.bind_merge(f.label);
            }
            FrameKind::If { else_label: None } | FrameKind::Block => self.bind_merge(f.label),
            FrameKind::Loop { .. } | FrameKind::Function => {}
        }
        match result_reg {
            Some(r) => self.stack.reset_to_reg(f.height, r),
            None => self.reset_to(f.height, f.results),
        }
        self.reachable = true;
    }

    fn visit_dead(&mut self, op: &Operator<'_>) -> Result<(), CompileError> {
        match op {
            Operator::Block { .. } | Operator::Loop { .. } | Operator::If { .. } => {
                self.dead_depth += 1;
            }
            Operator::Else if self.dead_depth == 0 => self.begin_else(),
            Operator::End if self.dead_depth == 0 => self.end_frame(),
            Operator::End => self.dead_depth -= 1,
            _ => {}
        }
        Ok(())
    }
}
