//! `metering::analyze`: one linear pass over each function's operators that yields its
//! metered basic blocks with their gas costs and the function's frame cost.
//!
//! Two consumers read the same [`ModuleAnalysis`]: Keel's single-pass compiler, which emits a
//! native charge before the operator at each [`BlockCharge::op_index`], and the reference
//! instrumenter ([`crate::instrument`]), which writes the same charge in wasm. The rules are
//! written in `specs/gas.md`:
//!
//! * A metered basic block starts at the function's first operator, after every `loop`,
//!   `if`, `else`, `end` and `br_if`, and after an unreachable region ends (at `else` or
//!   `end`). It ends after a `loop`, `if`, `else`, `end`, `br`, `br_if`, `br_table`,
//!   `return` or `unreachable`.
//! * Its cost is the sum of the class costs of its operators; it is charged before its
//!   first operator runs. Blocks costing 0 gas carry no charge.
//! * Operators in unreachable code (after `br`, `br_table`, `return` or `unreachable`,
//!   until the enclosing `else` or `end`) belong to no block and are never charged.
//! * Operand-dependent costs ([`crate::DynamicKind`]) are charged by the operator itself,
//!   from its operand, before it does any work.

use wasmparser::{FuncValidator, FunctionBody, Operator, ValType, ValidatorResources};

use crate::cost::{CostTable, OpClass};
use crate::decode::{Decoder, Rejected};
use crate::error::{Limit, ValidationError};

/// Stack slots every function frame costs on top of its params, locals and operand stack:
/// the return address, the caller's frame link and the vmctx (`specs/gas.md`, "Stack").
pub const FRAME_OVERHEAD_SLOTS: u32 = 4;

/// Default deterministic stack budget, in slots (`specs/gas.md`, "Stack"). A call whose
/// frame would take the slots in use above the budget traps with "stack exhausted". The
/// budget spans nested cross-contract calls.
pub const DEFAULT_MAX_STACK_SLOTS: u64 = 65_536;

/// A gas charge placed before one operator of a function body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockCharge {
    /// Index of the block's first operator in the function body's operator sequence
    /// (0-based; every operator counts, including each `end`).
    pub op_index: u32,
    /// Byte offset of that operator in the module.
    pub offset: u32,
    /// Gas charged before the operator runs: the sum of the class costs of every operator
    /// of the block. Never 0.
    pub gas: u64,
    /// The block cannot trap and leaves no trace a trap would show: no call, no memory,
    /// table or global write, no load (which may trap out of bounds), no division or
    /// trapping conversion, no `unreachable`, `return` or `br_table`; and it does not branch
    /// back to a `loop`. Were its charge more than the gas left, running it anyway and
    /// trapping `OutOfGas` at a later check is indistinguishable from trapping before it
    /// (same trap, same gas used, same memory, globals and tables), as long as that check
    /// comes before anything observable. Every cycle of the control-flow graph contains a
    /// branch back to a loop, so it contains a block that is not pure. A compiler may
    /// subtract a pure block's gas without checking it (see keel-engine's codegen).
    pub pure: bool,
}

/// What the analysis knows about one defined function.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FunctionAnalysis {
    /// Index in the module's function index space (imported functions come first).
    pub func_index: u32,
    /// Number of parameters.
    pub params: u32,
    /// Number of declared locals, parameters excluded.
    pub locals: u32,
    /// Highest operand-stack height (values) reached anywhere in the body.
    pub max_stack_height: u32,
    /// Stack slots accounted on entry and released on exit:
    /// `FRAME_OVERHEAD_SLOTS + params + locals + max_stack_height`.
    pub frame_cost: u32,
    /// Number of operators in the body, including the final `end`.
    pub operator_count: u32,
    /// The charges, in increasing `op_index` order.
    pub charges: Vec<BlockCharge>,
    /// How much each local (parameters first, then declared locals) is used: every
    /// `local.get`, `local.set` and `local.tee` in reachable code counts
    /// `8^loop_depth` (loop nesting capped at 4), saturating. A register-allocation hint
    /// for compilers; it has no bearing on gas. Empty when computed by
    /// [`crate::validate`] (only [`crate::analyze`] fills it).
    pub local_weights: Vec<u32>,
    /// The type of each local (parameters first, then declared locals), for a compiler
    /// that keeps locals of different types in different register files. Empty when
    /// computed by [`crate::validate`], as `local_weights`.
    pub local_types: Vec<ValType>,
    /// Whether the body has a `call` or `call_indirect` (reachable or not).
    pub calls: bool,
    /// For each local (parameters first), how the body first touches it:
    /// [`FIRST_WRITE_AT_TOP`] when the first access (in body order) is a `local.set` or
    /// `local.tee` outside every block, so that the local's initial 0 is never observed
    /// (nothing reaches a later read without passing that write; see
    /// [`FunctionAnalysis::zero_observed`]). Empty when computed by [`crate::validate`],
    /// as `local_weights`.
    pub first_access: Vec<u8>,
    /// For each local (parameters first), the operators over which its value may be
    /// needed ([`LiveRange`]): from its first access to its last one in body order, each
    /// end widened to the whole outermost loop around it (a loop's back edge runs its body
    /// again, reads before writes included). Outside its range a local is never read or
    /// written, so two locals whose ranges are disjoint may share one register, and past
    /// its end its value is dead (a compiler need not save it around a call). Empty when
    /// computed by [`crate::validate`], as `local_weights`.
    pub live_ranges: Vec<LiveRange>,
    /// Bit `i` (for the first [`ASSIGNMENT_TRACKED`] locals, parameters first): a
    /// reachable `local.get` of local `i` may run before any write to it, reading its
    /// initial 0. Clear means every path from the function's entry to each read passes a
    /// `local.set` or `local.tee` of it (a forward data-flow over the structured control
    /// flow, see [`FunctionAnalysis::zero_observed`]).
    pub maybe_zero_reads: u64,
    /// The body's bytes in the module (offsets from the module's first byte, the locals
    /// declaration included): what a consumer decodes itself when the walk did not keep
    /// the operators ([`FunctionAnalysis::operators_buffered`]).
    pub body: std::ops::Range<usize>,
}

/// The operators (as [`FunctionAnalysis::operator_count`] counts them, from 0) over which a
/// local may be accessed: `start..=end`. A local never accessed has `start > end`
/// ([`LiveRange::UNTOUCHED`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LiveRange {
    /// First operator of the range: the local's first access, or the `loop` of the
    /// outermost loop around it.
    pub start: u32,
    /// Last operator of the range: the local's last access, or the `end` of the outermost
    /// loop around it.
    pub end: u32,
}

impl LiveRange {
    /// The range of a local not accessed anywhere.
    pub const UNTOUCHED: LiveRange = LiveRange { start: u32::MAX, end: 0 };

    /// Whether the two ranges share an operator.
    pub fn overlaps(self, other: LiveRange) -> bool {
        self.start <= other.end && other.start <= self.end
    }
}

/// While the walk runs, a [`LiveRange::end`] at or above this stands for the end of an
/// outermost loop ([`FunctionWalker::live_ranges`]): far above any operator index (a body
/// has at most one operator per byte, and bodies are far below 2 GiB).
const IN_LOOP: u32 = 1 << 31;

/// Largest function body, in bytes, whose decoded operators [`crate::analyze_each`] and
/// [`crate::ParsedModule::analyze_part`] keep for their callback. A decoded operator takes about 20
/// times its encoded size, so a larger body (a JIT-bomb shape; real functions are far
/// smaller) would need a buffer of tens of megabytes that the allocator maps and unmaps
/// for every module: its callback gets no operators and decodes the body again, which
/// costs less.
pub const MAX_BUFFERED_BODY_BYTES: usize = 256 * 1024;

/// Locals (parameters first) whose definite assignment the walk tracks, one bit each
/// ([`FunctionAnalysis::maybe_zero_reads`]): a constant amount of work per operator.
pub const ASSIGNMENT_TRACKED: u32 = 64;

/// [`FunctionAnalysis::first_access`] of a local not touched (yet).
pub const UNTOUCHED: u8 = 0;
/// [`FunctionAnalysis::first_access`] of a local first written outside every block.
pub const FIRST_WRITE_AT_TOP: u8 = 1;
/// [`FunctionAnalysis::first_access`] of a local first read, or first written in a block.
pub const FIRST_OTHER: u8 = 2;

impl FunctionAnalysis {
    /// Whether local `local`'s initial 0 may be read (true when unknown): a compiler need
    /// not zero a local for which this is false.
    pub fn zero_observed(&self, local: u32) -> bool {
        let tracked = local < ASSIGNMENT_TRACKED && !self.first_access.is_empty();
        self.first_access.get(local as usize) != Some(&FIRST_WRITE_AT_TOP)
            && (!tracked || self.maybe_zero_reads >> local & 1 != 0)
    }

    /// Whether [`crate::analyze_each`] hands this function's decoded operators to its
    /// callback: false for a body larger than [`MAX_BUFFERED_BODY_BYTES`], whose
    /// operators the callback decodes from [`FunctionAnalysis::body`] (already validated).
    pub fn operators_buffered(&self) -> bool {
        self.body.len() <= MAX_BUFFERED_BODY_BYTES
    }

    /// This analysis emptied, its vectors' capacity kept (for the next function's walk).
    pub(crate) fn emptied(self) -> FunctionAnalysis {
        let mut charges = self.charges;
        let mut local_weights = self.local_weights;
        let mut local_types = self.local_types;
        let mut first_access = self.first_access;
        let mut live_ranges = self.live_ranges;
        live_ranges.clear();
        charges.clear();
        local_weights.clear();
        local_types.clear();
        first_access.clear();
        FunctionAnalysis {
            charges,
            local_weights,
            local_types,
            first_access,
            live_ranges,
            ..FunctionAnalysis::default()
        }
    }

    /// Total gas of all charges, a quick checksum for tests and tools.
    pub fn static_gas(&self) -> u64 {
        self.charges.iter().map(|c| c.gas).sum()
    }
}

/// The analysis of every defined function of a module, in definition order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ModuleAnalysis {
    /// Number of imported functions (the index of the first defined function).
    pub imported_functions: u32,
    /// One entry per defined function (code section order).
    pub functions: Vec<FunctionAnalysis>,
    /// Hash of the cost table the charges were computed with.
    pub cost_table_hash: [u8; 32],
}

impl ModuleAnalysis {
    /// The analysis of function `func_index` (module index space), if it is defined here.
    pub fn function(&self, func_index: u32) -> Option<&FunctionAnalysis> {
        let i = func_index.checked_sub(self.imported_functions)?;
        self.functions.get(i as usize)
    }
}

/// A [`FunctionWalker`]'s buffers: its control frames and the operator reader's.
pub(crate) type WalkerBuffers = (Vec<WalkFrame>, wasmparser::OperatorsReaderAllocations);

/// An open control frame of the walk (the function's own included).
#[derive(Debug, Clone, Copy)]
pub(crate) struct WalkFrame {
    /// Reachability at the frame's entry.
    reachable: bool,
    kind: FrameKind,
    /// Definite assignment ([`FunctionWalker::assigned`]): the set at the frame's entry,
    /// and the intersection of the sets of the branches to its end (and of the
    /// then-branch's end, for an `if` with an `else`).
    entry: u64,
    merged: u64,
}

/// The kind of an open control frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FrameKind {
    Block,
    Loop,
    /// An `if` whose `else` has not been seen.
    If,
    /// An `if` past its `else`.
    IfElse,
}

/// Walks function bodies: validates every operator, enforces the nesting-depth limit, and
/// (when `costs` is given) records the metered basic blocks. One walker serves every
/// function of a module, so its buffers are allocated once.
pub(crate) struct FunctionWalker<'c> {
    costs: Option<&'c CostTable>,
    max_nesting: u32,
    /// The open control frames (the function's included).
    frames: Vec<WalkFrame>,
    /// Open `loop` frames.
    loop_depth: u32,
    /// The operator reader's frame stack, kept from one function to the next.
    reader_allocs: wasmparser::OperatorsReaderAllocations,
    /// See [`FunctionAnalysis::local_weights`].
    local_weights: Vec<u32>,
    /// See [`FunctionAnalysis::local_types`].
    local_types: Vec<ValType>,
    /// See [`FunctionAnalysis::calls`].
    calls: bool,
    /// See [`FunctionAnalysis::first_access`].
    first_access: Vec<u8>,
    /// See [`FunctionAnalysis::live_ranges`]. While the walk runs, the `end` of a local
    /// last accessed inside a loop is [`IN_LOOP`]` + ` the number of the outermost loop
    /// (numbered from 0 in body order), replaced by that loop's end once the body is done.
    live_ranges: Vec<LiveRange>,
    /// For each outermost loop, in body order: the operator index of its `end` (u32::MAX
    /// while it is open).
    loop_ends: Vec<u32>,
    /// The operator index of the open outermost loop's `loop`.
    outer_loop_start: u32,
    /// Definite assignment, one bit per tracked local ([`ASSIGNMENT_TRACKED`]): the
    /// locals written on every path to this point (all bits where no path reaches it).
    assigned: u64,
    /// See [`FunctionAnalysis::maybe_zero_reads`].
    maybe_zero_reads: u64,
    reachable: bool,
    /// The open block: (first op index, its offset, gas so far).
    open: Option<(u32, u32, u64, bool)>,
    charges: Vec<BlockCharge>,
    max_height: u32,
    op_index: u32,
}

impl<'c> FunctionWalker<'c> {
    /// A walker pricing with `costs` (none: validation only), reusing `frames`' allocation.
    pub(crate) fn new(
        costs: Option<&'c CostTable>,
        max_nesting: u32,
        (mut frames, reader_allocs): WalkerBuffers,
    ) -> FunctionWalker<'c> {
        frames.clear();
        FunctionWalker {
            costs,
            max_nesting,
            frames,
            reader_allocs,
            loop_depth: 0,
            local_weights: Vec::new(),
            local_types: Vec::new(),
            calls: false,
            first_access: Vec::new(),
            live_ranges: Vec::new(),
            loop_ends: Vec::new(),
            outer_loop_start: 0,
            assigned: 0,
            maybe_zero_reads: 0,
            reachable: true,
            open: None,
            charges: Vec::new(),
            max_height: 0,
            op_index: 0,
        }
    }

    /// The buffers, for the next walker.
    pub(crate) fn into_buffers(self) -> WalkerBuffers {
        (self.frames, self.reader_allocs)
    }

    /// Validates and analyzes one function body into `out` (whose vectors are reused:
    /// their previous contents are replaced). `operators` is cleared and receives every
    /// decoded operator of the body in order (the final `end` included), so that a
    /// consumer such as the compiler need not decode the body a second time.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn run<'a>(
        &mut self,
        func_index: u32,
        params: u32,
        body: &FunctionBody<'a>,
        validator: &mut FuncValidator<ValidatorResources>,
        out: &mut FunctionAnalysis,
        operators: &mut Vec<Operator<'a>>,
    ) -> Result<(), ValidationError> {
        self.frames.clear();
        self.loop_depth = 0;
        self.reachable = true;
        self.open = None;
        self.max_height = 0;
        self.op_index = 0;
        let reused = std::mem::take(out).emptied();
        self.charges = reused.charges;
        self.local_weights = reused.local_weights;
        self.local_types = reused.local_types;
        self.first_access = reused.first_access;
        self.live_ranges = reused.live_ranges;
        self.loop_ends.clear();
        self.calls = false;
        self.assigned = if params >= ASSIGNMENT_TRACKED { u64::MAX } else { (1u64 << params) - 1 };
        self.maybe_zero_reads = 0;
        let mut reader = body.get_binary_reader();
        validator.read_locals(&mut reader).map_err(ValidationError::from_wasmparser)?;
        let locals = validator.len_locals().saturating_sub(params);
        if self.costs.is_some() {
            self.local_weights.resize(validator.len_locals() as usize, 0);
            self.first_access.resize(validator.len_locals() as usize, UNTOUCHED);
            self.live_ranges.resize(validator.len_locals() as usize, LiveRange::UNTOUCHED);
            let n = validator.len_locals();
            self.local_types.extend((0..n).map(|i| validator.get_local_type(i).unwrap_or(ValType::I32)));
        }
        // Operators are decoded under the profile's features (the default reader decodes
        // every proposal's encodings, overlong memory indices included).
        let mut ops_reader = reader;
        ops_reader.set_features(*validator.features());
        let mut ops = wasmparser::OperatorsReader::new_with_allocs(ops_reader, std::mem::take(&mut self.reader_allocs));
        forget_operators(operators);
        let range = body.range();
        let to_usize = |x: u64| usize::try_from(x).unwrap_or(usize::MAX);
        let body_range = to_usize(range.start)..to_usize(range.end);
        let keep = body_range.len() <= MAX_BUFFERED_BODY_BYTES;
        if keep {
            // Wasm code averages two to three bytes per operator: one reservation up front
            // spares most functions the buffer's repeated growth (and its copies).
            operators.reserve(body_range.len() / 2);
        }
        self.frames.push(WalkFrame { reachable: true, kind: FrameKind::Block, entry: self.assigned, merged: u64::MAX });
        while !ops.eof() {
            let offset = ops.original_position();
            // Decoded, validated and accounted for in one dispatch (see `crate::decode`);
            // matched rather than `map_err`ed, so nothing large moves through a `Result`.
            let decoded = ops.visit_operator(&mut Decoder {
                validator: validator.visitor(offset),
                out: operators,
                keep,
                walker: self,
                offset: offset as u32,
            });
            match decoded {
                Ok(Ok(())) => {}
                Err(e) | Ok(Err(Rejected::Invalid(e))) => return Err(ValidationError::from_wasmparser(e)),
                Ok(Err(Rejected::Limit(e))) => return Err(*e),
                Ok(Err(Rejected::Simd)) => {
                    return Err(ValidationError::Invalid { message: "SIMD support is not enabled".into(), offset })
                }
            }
            self.max_height = self.max_height.max(validator.operand_stack_height());
            self.op_index += 1;
        }
        ops.finish().map_err(ValidationError::from_wasmparser)?;
        self.reader_allocs = ops.into_allocations();
        // Ranges whose last access is in a loop end with the outermost one.
        for range in &mut self.live_ranges {
            if let Some(l) = range.end.checked_sub(IN_LOOP) {
                range.end = self.loop_ends.get(l as usize).copied().unwrap_or(u32::MAX);
            }
        }
        let frame_cost = FRAME_OVERHEAD_SLOTS
            .saturating_add(params)
            .saturating_add(locals)
            .saturating_add(self.max_height);
        *out = FunctionAnalysis {
            func_index,
            params,
            locals,
            max_stack_height: self.max_height,
            frame_cost,
            operator_count: self.op_index,
            charges: std::mem::take(&mut self.charges),
            local_weights: std::mem::take(&mut self.local_weights),
            local_types: std::mem::take(&mut self.local_types),
            calls: self.calls,
            first_access: std::mem::take(&mut self.first_access),
            live_ranges: std::mem::take(&mut self.live_ranges),
            maybe_zero_reads: self.maybe_zero_reads,
            body: body_range,
        };
        Ok(())
    }

    fn close(&mut self) {
        if let Some((op_index, offset, gas, pure)) = self.open.take() {
            if gas > 0 {
                self.charges.push(BlockCharge { op_index, offset, gas, pure });
            }
        }
    }

    /// Accounts for one validated operator (`offset`: its byte offset): its gas in the open
    /// block, local weights, control frames. Inlined into each of [`Decoder`]'s visit
    /// methods, where `op`'s variant is known and the matches below fold away.
    #[inline(always)]
    pub(crate) fn visit(&mut self, offset: u32, op: &Operator<'_>) -> Result<(), ValidationError> {
        match *op {
            Operator::LocalGet { local_index } => {
                self.extend_range(local_index);
                // Empty without a cost table: nothing to record.
                if let Some(f @ &mut UNTOUCHED) = self.first_access.get_mut(local_index as usize) {
                    *f = FIRST_OTHER;
                }
                // Where no path reaches, every bit is set: unreachable reads do not count.
                if local_index < ASSIGNMENT_TRACKED && self.assigned >> local_index & 1 == 0 {
                    self.maybe_zero_reads |= 1 << local_index;
                }
            }
            Operator::LocalSet { local_index } | Operator::LocalTee { local_index } => {
                self.extend_range(local_index);
                // Only the function's own frame is open: no block to branch past the write.
                let at_top = self.frames.len() == 1;
                if let Some(f @ &mut UNTOUCHED) = self.first_access.get_mut(local_index as usize) {
                    *f = if at_top { FIRST_WRITE_AT_TOP } else { FIRST_OTHER };
                }
                if local_index < ASSIGNMENT_TRACKED {
                    self.assigned |= 1 << local_index;
                }
            }
            Operator::Call { .. } | Operator::CallIndirect { .. } => self.calls = true,
            _ => {}
        }
        if self.reachable {
            if let Some(costs) = self.costs {
                let branches_back = match *op {
                    Operator::Br { relative_depth } | Operator::BrIf { relative_depth } => {
                        let i = self.frames.len().checked_sub(1 + relative_depth as usize);
                        i.and_then(|i| self.frames.get(i)).is_none_or(|f| f.kind == FrameKind::Loop)
                    }
                    _ => false,
                };
                let open = self.open.get_or_insert((self.op_index, offset, 0, true));
                // Validation has accepted `op`, so it is in the profile and has a class; an
                // operator without one would be a bug in `OpClass::of`, priced as a branch.
                let class = OpClass::of(op).unwrap_or(OpClass::Branch);
                open.2 = open.2.saturating_add(costs.class_cost(class));
                open.3 = open.3 && !branches_back && is_pure(op, class);
                if let Operator::LocalGet { local_index }
                | Operator::LocalSet { local_index }
                | Operator::LocalTee { local_index } = *op
                {
                    if let Some(w) = self.local_weights.get_mut(local_index as usize) {
                        *w = w.saturating_add(1 << (3 * self.loop_depth.min(4)));
                    }
                }
            }
        }
        // Control frames, and definite assignment across them: branches merge their set
        // into their targets' ends, `else` and `end` join paths, and where no path
        // reaches (after `br`, `br_table`, `return`, `unreachable`) every bit is set.
        match *op {
            Operator::Block { .. } => self.push_frame(offset, FrameKind::Block)?,
            Operator::If { .. } => {
                self.push_frame(offset, FrameKind::If)?;
                self.close();
            }
            Operator::Loop { .. } => {
                self.push_frame(offset, FrameKind::Loop)?;
                if self.loop_depth == 0 {
                    self.outer_loop_start = self.op_index;
                    self.loop_ends.push(u32::MAX);
                }
                self.loop_depth += 1;
                self.close();
            }
            Operator::Else => {
                self.close();
                if let Some(f) = self.frames.last_mut() {
                    self.reachable = f.reachable;
                    f.merged &= self.assigned;
                    f.kind = FrameKind::IfElse;
                    self.assigned = f.entry;
                }
            }
            Operator::End => {
                self.close();
                let f = self.frames.pop().unwrap_or(WalkFrame {
                    reachable: false,
                    kind: FrameKind::Block,
                    entry: u64::MAX,
                    merged: u64::MAX,
                });
                self.reachable = f.reachable;
                self.assigned = match f.kind {
                    // Only the body's end falls through to after a loop.
                    FrameKind::Loop => {
                        self.loop_depth = self.loop_depth.saturating_sub(1);
                        if self.loop_depth == 0 {
                            if let Some(end) = self.loop_ends.last_mut() {
                                *end = self.op_index;
                            }
                        }
                        self.assigned
                    }
                    FrameKind::Block | FrameKind::IfElse => self.assigned & f.merged,
                    // The missing else-branch leaves the entry's set.
                    FrameKind::If => self.assigned & f.merged & f.entry,
                };
            }
            Operator::BrIf { relative_depth } => {
                self.close();
                self.merge_into(relative_depth);
            }
            Operator::Br { relative_depth } => {
                self.close();
                self.merge_into(relative_depth);
                self.unreachable();
            }
            Operator::BrTable { ref targets } => {
                self.close();
                self.merge_into(targets.default());
                for depth in targets.targets().flatten() {
                    self.merge_into(depth);
                }
                self.unreachable();
            }
            Operator::Return | Operator::Unreachable => {
                self.close();
                self.unreachable();
            }
            _ => {}
        }
        Ok(())
    }

    /// An access of `local` at the current operator: its live range reaches it, or, inside
    /// a loop, the whole outermost loop (its end is settled when the body is done).
    /// Nothing without a cost table (the per-local vectors are empty then).
    #[inline(always)]
    fn extend_range(&mut self, local: u32) {
        let Some(range) = self.live_ranges.get_mut(local as usize) else { return };
        let (start, end) = match self.loop_depth {
            0 => (self.op_index, self.op_index),
            // The open outermost loop is the last one numbered.
            _ => (self.outer_loop_start, IN_LOOP + self.loop_ends.len() as u32 - 1),
        };
        if range.start == u32::MAX {
            range.start = start;
        }
        range.end = end;
    }

    /// After an unconditional branch: nothing reaches the next operator.
    fn unreachable(&mut self) {
        self.reachable = false;
        self.assigned = u64::MAX;
    }

    /// A branch to the frame `relative_depth` out: the target's end gets this path's
    /// assigned set (a loop's header keeps its entry's, a subset of every back edge's).
    fn merge_into(&mut self, relative_depth: u32) {
        let i = self.frames.len().checked_sub(1 + relative_depth as usize);
        if let Some(f) = i.and_then(|i| self.frames.get_mut(i)) {
            if f.kind != FrameKind::Loop {
                f.merged &= self.assigned;
            }
        }
    }

    fn push_frame(&mut self, offset: u32, kind: FrameKind) -> Result<(), ValidationError> {
        // The function's own frame is not counted as nesting.
        let depth = self.frames.len() as u64;
        if depth > u64::from(self.max_nesting) {
            return Err(ValidationError::LimitExceeded {
                limit: Limit::NestingDepth,
                found: depth,
                max: u64::from(self.max_nesting),
                offset: Some(u64::from(offset)),
            });
        }
        self.frames.push(WalkFrame { reachable: self.reachable, kind, entry: self.assigned, merged: u64::MAX });
        Ok(())
    }
}

/// Empties `operators` without running `Operator`'s drop glue, which would test every
/// element's variant (about a tenth of the analysis' per-operator work) for the few variants
/// that own heap memory: `try_table` (exception handling), the stack-switching `resume`
/// operators and multi-result `select` (which wasmparser's validator always rejects). The
/// buffer only ever holds operators the validator accepted under
/// [`crate::allowed_features`], which has neither proposal, so nothing forgotten owns
/// memory; were such a proposal ever allowed, its operators' memory would leak, never be
/// used after free.
pub(crate) fn forget_operators(operators: &mut Vec<Operator<'_>>) {
    // SAFETY: a length of 0 is at most the capacity and leaves no element to be
    // initialized; the elements are forgotten (not dropped), which is always sound.
    unsafe { operators.set_len(0) }
}

/// Whether `op` (of cost class `class`) can neither trap nor change anything a trap leaves
/// observable (memory, tables, globals, the host): see [`BlockCharge::pure`]. Branches
/// count as pure here; the caller rules out branches back to a loop.
fn is_pure(op: &Operator<'_>, class: OpClass) -> bool {
    use Operator as O;
    match class {
        OpClass::Structure
        | OpClass::Const
        | OpClass::Local
        | OpClass::Parametric
        | OpClass::IntAlu
        | OpClass::IntMul
        | OpClass::FloatSimple
        | OpClass::FloatArith
        | OpClass::FloatDiv
        | OpClass::MemorySize => true,
        OpClass::Global => matches!(op, O::GlobalGet { .. }),
        OpClass::Branch => matches!(op, O::Br { .. } | O::BrIf { .. } | O::If { .. }),
        OpClass::Conversion => !matches!(
            op,
            O::I32TruncF32S
                | O::I32TruncF32U
                | O::I32TruncF64S
                | O::I32TruncF64U
                | O::I64TruncF32S
                | O::I64TruncF32U
                | O::I64TruncF64S
                | O::I64TruncF64U
        ),
        _ => false,
    }
}
