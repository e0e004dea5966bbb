//! `metering::instrument`: the reference instrumentation. It writes the charges of
//! [`crate::analyze`] into the module itself, as ordinary wasm, so that any engine (wasmi,
//! Wasmtime) running the output charges exactly the gas and stack Keel's compiler charges
//! natively. It is how Keel is tested, and how anyone can audit Keel's gas without trusting
//! its compiler. The rules are in `specs/gas.md`.
//!
//! The output module has four more mutable globals, exported for the host:
//!
//! | export | type | meaning |
//! |---|---|---|
//! | [`GAS_EXPORT`] `__keel_gas` | i64 | remaining gas (read as u64); the host sets it before a call |
//! | [`STACK_EXPORT`] `__keel_stack` | i64 | stack slots in use; 0 at a top-level call |
//! | [`STACK_LIMIT_EXPORT`] `__keel_stack_limit` | i64 | the deterministic stack budget, slots |
//! | [`TRAP_EXPORT`] `__keel_trap` | i32 | why the module stopped: [`TRAP_OUT_OF_GAS`], [`TRAP_STACK_EXHAUSTED`] or 0 |
//!
//! Out of gas and stack exhaustion set `__keel_trap` and then execute `unreachable`; the host
//! reads `__keel_trap` to tell them from a genuine `unreachable` trap. Out of gas also sets
//! `__keel_gas` to 0 (gas used = gas limit).
//!
//! Each defined function is rewritten as
//!
//! ```text
//! (func ... (local ...original...) (local $n i32) (local $c i64) (local $f f32) (local $d f64)
//!   ;; stack: trap if __keel_stack + frame_cost > __keel_stack_limit, else add frame_cost
//!   block $body (result ...function results...)
//!     ...original body, `return` turned into `br $body`, a gas charge before the first
//!        operator of each metered basic block, operand charges before memory.grow /
//!        memory.fill / ..., NaN canonicalization after float operators (optional)...
//!   end
//!   ;; __keel_stack -= frame_cost
//! )
//! ```
//!
//! No function, import, type or global index of the input changes: the new globals and
//! types are appended after the existing ones, and no import is added. A defined memory or
//! table without a declared maximum gets the profile's (`max_memory_pages`,
//! `max_table_elements`), the bound Keel's engine enforces on it.

use std::collections::BTreeMap;

use wasm_encoder::reencode::{Reencode, RoundtripReencoder};
use wasm_encoder::{
    BlockType, CodeSection, ConstExpr, ExportKind, ExportSection, Function, GlobalSection,
    GlobalType, InstructionSink, Module, RawSection, TypeSection, ValType,
};
use wasmparser::{Operator, Parser, Payload};

use crate::analyze::{FunctionAnalysis, ModuleAnalysis, DEFAULT_MAX_STACK_SLOTS};
use crate::cost::{CostTable, DynamicKind};
use crate::error::{InstrumentError, ValidationError};
use crate::nan::{canonicalized_result, FloatWidth, CANONICAL_NAN_F32, CANONICAL_NAN_F64};
use crate::profile::{analyze, Profile};

/// Export name of the remaining-gas global (i64, read as u64).
pub const GAS_EXPORT: &str = "__keel_gas";
/// Export name of the stack-slots-in-use global (i64).
pub const STACK_EXPORT: &str = "__keel_stack";
/// Export name of the stack-budget global (i64, slots).
pub const STACK_LIMIT_EXPORT: &str = "__keel_stack_limit";
/// Export name of the trap-reason global (i32).
pub const TRAP_EXPORT: &str = "__keel_trap";
/// `__keel_trap` value: the module ran out of gas.
pub const TRAP_OUT_OF_GAS: i32 = 1;
/// `__keel_trap` value: the deterministic stack budget was exceeded.
pub const TRAP_STACK_EXHAUSTED: i32 = 2;

/// What to instrument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstrumentConfig {
    /// The profile the input is validated against.
    pub profile: Profile,
    /// The gas schedule.
    pub costs: CostTable,
    /// Write gas charges (per basic block and per operand).
    pub gas: bool,
    /// Write stack accounting (frame cost on entry and exit).
    pub stack: bool,
    /// Canonicalize NaN results of float operators.
    pub nan_canonicalization: bool,
    /// Initial value of `__keel_gas`: the gas available to the start function at
    /// instantiation (the host sets it again before each call).
    pub initial_gas: u64,
    /// Initial value of `__keel_stack_limit`, slots.
    pub stack_limit: u64,
}

impl Default for InstrumentConfig {
    /// Chain profile, default cost table, gas + stack + NaN canonicalization, a stack budget
    /// of [`DEFAULT_MAX_STACK_SLOTS`] and unlimited gas for the start function.
    fn default() -> Self {
        InstrumentConfig {
            profile: Profile::default(),
            costs: CostTable::default(),
            gas: true,
            stack: true,
            nan_canonicalization: true,
            initial_gas: u64::MAX,
            stack_limit: DEFAULT_MAX_STACK_SLOTS,
        }
    }
}

/// An instrumented module and the analysis its charges came from.
#[derive(Debug, Clone)]
pub struct Instrumented {
    /// The instrumented module's bytes.
    pub wasm: Vec<u8>,
    /// The analysis (charges and frame costs) of the input module.
    pub analysis: ModuleAnalysis,
}

/// Instruments `wasm` as `config` says.
///
/// Errors: [`InstrumentError::Validation`] if the input is not accepted by the profile (it is
/// validated in the same pass as the analysis), [`InstrumentError::Encode`] if re-encoding
/// fails. Never panics on any input.
pub fn instrument(wasm: &[u8], config: &InstrumentConfig) -> Result<Instrumented, InstrumentError> {
    let (_info, analysis) = analyze(wasm, &config.profile, &config.costs)?;
    let wasm = Rewriter::new(config, &analysis).rewrite(wasm)?;
    Ok(Instrumented { wasm, analysis })
}

/// Scratch locals appended to every function, relative to its first appended local.
const SCRATCH_I32: u32 = 0;
const SCRATCH_I64: u32 = 1;
const SCRATCH_F32: u32 = 2;
const SCRATCH_F64: u32 = 3;

struct Rewriter<'a> {
    config: &'a InstrumentConfig,
    analysis: &'a ModuleAnalysis,
    /// Results of every type index (function types only).
    type_results: Vec<Vec<ValType>>,
    /// Type index of every function (imports first).
    func_types: Vec<u32>,
    /// For result lists longer than one: the appended `[] -> results` type.
    multi_result_types: BTreeMap<Vec<ValType>, u32>,
    imported_globals: u32,
    defined_globals: u32,
    out: Module,
    globals_done: bool,
    exports_done: bool,
    types_done: bool,
}

fn enc<E: std::fmt::Debug>(e: E) -> InstrumentError {
    InstrumentError::Encode(format!("{e:?}"))
}

fn wp(e: wasmparser::BinaryReaderError) -> InstrumentError {
    InstrumentError::Validation(ValidationError::from_wasmparser(e))
}

impl<'a> Rewriter<'a> {
    fn new(config: &'a InstrumentConfig, analysis: &'a ModuleAnalysis) -> Self {
        Rewriter {
            config,
            analysis,
            type_results: Vec::new(),
            func_types: Vec::new(),
            multi_result_types: BTreeMap::new(),
            imported_globals: 0,
            defined_globals: 0,
            out: Module::new(),
            globals_done: false,
            exports_done: false,
            types_done: false,
        }
    }

    fn gas_global(&self) -> u32 {
        self.imported_globals + self.defined_globals
    }
    fn stack_global(&self) -> u32 {
        self.gas_global() + 1
    }
    fn limit_global(&self) -> u32 {
        self.gas_global() + 2
    }
    fn trap_global(&self) -> u32 {
        self.gas_global() + 3
    }

    /// Emits the sections this module lacks and the rewrite needs, before section `next`.
    fn fill_before(&mut self, next: Option<u8>) {
        let before = |id: u8| next.is_none_or(|n| section_rank(n) > section_rank(id));
        if !self.types_done && before(1) {
            // A module without a type section has no function, so needs no type.
            self.types_done = true;
        }
        if !self.globals_done && before(6) {
            let mut g = GlobalSection::new();
            self.append_globals(&mut g);
            self.out.section(&g);
            self.globals_done = true;
        }
        if !self.exports_done && before(7) {
            let mut e = ExportSection::new();
            self.append_exports(&mut e);
            self.out.section(&e);
            self.exports_done = true;
        }
    }

    fn append_globals(&self, g: &mut GlobalSection) {
        let var = |ty| GlobalType { val_type: ty, mutable: true, shared: false };
        g.global(var(ValType::I64), &ConstExpr::i64_const(self.config.initial_gas as i64));
        g.global(var(ValType::I64), &ConstExpr::i64_const(0));
        g.global(var(ValType::I64), &ConstExpr::i64_const(self.config.stack_limit as i64));
        g.global(var(ValType::I32), &ConstExpr::i32_const(0));
    }

    fn append_exports(&self, e: &mut ExportSection) {
        e.export(GAS_EXPORT, ExportKind::Global, self.gas_global());
        e.export(STACK_EXPORT, ExportKind::Global, self.stack_global());
        e.export(STACK_LIMIT_EXPORT, ExportKind::Global, self.limit_global());
        e.export(TRAP_EXPORT, ExportKind::Global, self.trap_global());
    }

    fn rewrite(mut self, wasm: &[u8]) -> Result<Vec<u8>, InstrumentError> {
        let mut re = RoundtripReencoder;
        let mut defined = 0usize;
        let mut code: Option<CodeSection> = None;
        for payload in Parser::new(0).parse_all(wasm) {
            let payload = payload.map_err(wp)?;
            if let Some((id, _)) = payload.as_section() {
                if id != 0 {
                    self.fill_before(Some(id));
                }
            }
            match payload {
                Payload::TypeSection(s) => {
                    let mut types = TypeSection::new();
                    for rec in s {
                        let rec = rec.map_err(wp)?;
                        for sub in rec.types() {
                            let results = match &sub.composite_type.inner {
                                wasmparser::CompositeInnerType::Func(f) => f
                                    .results()
                                    .iter()
                                    .map(|t| re.val_type(*t))
                                    .collect::<Result<Vec<_>, _>>()
                                    .map_err(enc)?,
                                _ => Vec::new(),
                            };
                            self.type_results.push(results);
                        }
                        re.parse_recursive_type_group(types.ty(), rec).map_err(enc)?;
                    }
                    let mut next = self.type_results.len() as u32;
                    for results in &self.type_results {
                        if results.len() > 1 && !self.multi_result_types.contains_key(results) {
                            types.ty().function([], results.iter().copied());
                            self.multi_result_types.insert(results.clone(), next);
                            next += 1;
                        }
                    }
                    self.out.section(&types);
                    self.types_done = true;
                }
                Payload::ImportSection(s) => {
                    for imp in s.clone().into_imports() {
                        match imp.map_err(wp)?.ty {
                            wasmparser::TypeRef::Func(t) => self.func_types.push(t),
                            wasmparser::TypeRef::Global(_) => self.imported_globals += 1,
                            _ => {}
                        }
                    }
                    self.copy_section(wasm, 2, s.range());
                }
                Payload::FunctionSection(s) => {
                    for t in s.clone() {
                        self.func_types.push(t.map_err(wp)?);
                    }
                    self.copy_section(wasm, 3, s.range());
                }
                Payload::GlobalSection(s) => {
                    self.defined_globals = s.count();
                    let mut g = GlobalSection::new();
                    re.parse_global_section(&mut g, s).map_err(enc)?;
                    self.append_globals(&mut g);
                    self.out.section(&g);
                    self.globals_done = true;
                }
                Payload::ExportSection(s) => {
                    let mut e = ExportSection::new();
                    re.parse_export_section(&mut e, s).map_err(enc)?;
                    self.append_exports(&mut e);
                    self.out.section(&e);
                    self.exports_done = true;
                }
                Payload::MemorySection(s) => {
                    let mut mems = wasm_encoder::MemorySection::new();
                    for m in s {
                        let m = m.map_err(wp)?;
                        let mut ty = re.memory_type(m).map_err(enc)?;
                        ty.maximum = ty.maximum.or(Some(self.memory_cap(m.initial)));
                        mems.memory(ty);
                    }
                    self.out.section(&mems);
                }
                Payload::TableSection(s) => {
                    let mut tables = wasm_encoder::TableSection::new();
                    for t in s {
                        let t = t.map_err(wp)?;
                        let mut ty = re.table_type(t.ty).map_err(enc)?;
                        ty.maximum = ty.maximum.or(Some(self.table_cap(t.ty.initial)));
                        match t.init {
                            wasmparser::TableInit::RefNull => tables.table(ty),
                            wasmparser::TableInit::Expr(e) => {
                                tables.table_with_init(ty, &re.const_expr(e).map_err(enc)?)
                            }
                        };
                    }
                    self.out.section(&tables);
                }
                Payload::CodeSectionStart { .. } => code = Some(CodeSection::new()),
                Payload::CodeSectionEntry(body) => {
                    let fa = self.analysis.functions.get(defined).ok_or_else(|| {
                        InstrumentError::Encode("more function bodies than analyzed".into())
                    })?;
                    let f = self.rewrite_function(&mut re, &body, fa)?;
                    if let Some(c) = code.as_mut() {
                        c.function(&f);
                    }
                    defined += 1;
                    if defined == self.analysis.functions.len() {
                        if let Some(c) = code.take() {
                            self.out.section(&c);
                        }
                    }
                }
                Payload::End(_) => {}
                other => {
                    if let Some((id, range)) = other.as_section() {
                        self.copy_section(wasm, id, range);
                    }
                }
            }
        }
        self.fill_before(None);
        Ok(self.out.finish())
    }

    /// The maximum written into a defined memory that declares none: the profile's
    /// `max_memory_pages` (a 32-bit memory has at most 65,536 pages), never below `initial`.
    fn memory_cap(&self, initial: u64) -> u64 {
        self.config.profile.limits.max_memory_pages.min(65_536).max(initial)
    }

    /// The maximum written into a defined table that declares none: the profile's
    /// `max_table_elements` (at most `u32::MAX`), never below `initial`.
    fn table_cap(&self, initial: u64) -> u64 {
        self.config.profile.limits.max_table_elements.min(u64::from(u32::MAX)).max(initial)
    }

    fn copy_section(&mut self, wasm: &[u8], id: u8, range: std::ops::Range<u64>) {
        let data = &wasm[range.start as usize..range.end as usize];
        self.out.section(&RawSection { id, data });
    }

    fn rewrite_function(
        &self,
        re: &mut RoundtripReencoder,
        body: &wasmparser::FunctionBody<'_>,
        fa: &FunctionAnalysis,
    ) -> Result<Function, InstrumentError> {
        let mut locals = Vec::new();
        for pair in body.get_locals_reader().map_err(wp)? {
            let (count, ty) = pair.map_err(wp)?;
            locals.push((count, re.val_type(ty).map_err(enc)?));
        }
        locals.extend([(1, ValType::I32), (1, ValType::I64), (1, ValType::F32), (1, ValType::F64)]);
        let scratch = fa.params + fa.locals;
        let mut f = Function::new(locals);

        let ty = self.func_types.get(fa.func_index as usize).copied().unwrap_or(0);
        let results = self.type_results.get(ty as usize).cloned().unwrap_or_default();
        let block_type = match results.len() {
            0 => BlockType::Empty,
            1 => BlockType::Result(results[0]),
            _ => BlockType::FunctionType(self.multi_result_types.get(&results).copied().ok_or_else(
                || InstrumentError::Encode("missing multi-result block type".into()),
            )?),
        };
        let frame = i64::from(fa.frame_cost);
        if self.config.stack {
            let (stack, limit, trap) = (self.stack_global(), self.limit_global(), self.trap_global());
            let mut s = f.instructions();
            s.global_get(stack).i64_const(frame).i64_add().global_get(limit).i64_gt_u();
            s.if_(BlockType::Empty).i32_const(TRAP_STACK_EXHAUSTED).global_set(trap).unreachable().end();
            s.global_get(stack).i64_const(frame).i64_add().global_set(stack);
        }
        f.instructions().block(block_type);

        let bytes = body.as_bytes();
        let base = body.range().start;
        let mut ops = body.get_operators_reader().map_err(wp)?;
        let mut charges = fa.charges.iter().peekable();
        let mut depth = 0u32;
        let mut index = 0u32;
        while !ops.eof() {
            let start = (ops.original_position() - base) as usize;
            let op = ops.read().map_err(wp)?;
            let end = (ops.original_position() - base) as usize;
            if self.config.gas {
                if let Some(c) = charges.next_if(|c| c.op_index == index) {
                    self.charge_const(&mut f.instructions(), c.gas);
                }
                if let Some(kind) = DynamicKind::of(&op) {
                    self.charge_operand(&mut f.instructions(), kind, scratch);
                }
            }
            match op {
                Operator::Block { .. } | Operator::Loop { .. } | Operator::If { .. } => {
                    depth += 1;
                    f.raw(bytes[start..end].iter().copied());
                }
                Operator::End if depth == 0 => {
                    // The function's end closes `$body`; then the epilogue and a new end.
                    f.instructions().end();
                    if self.config.stack {
                        let stack = self.stack_global();
                        f.instructions().global_get(stack).i64_const(frame).i64_sub().global_set(stack);
                    }
                    f.instructions().end();
                }
                Operator::End => {
                    depth -= 1;
                    f.raw(bytes[start..end].iter().copied());
                }
                Operator::Return => {
                    f.instructions().br(depth);
                }
                _ => {
                    f.raw(bytes[start..end].iter().copied());
                    if self.config.nan_canonicalization {
                        if let Some(width) = canonicalized_result(&op) {
                            canonicalize(&mut f.instructions(), width, scratch);
                        }
                    }
                }
            }
            index += 1;
        }
        Ok(f)
    }

    /// `if (gas < c) { trap = OOG; gas = 0; unreachable } gas -= c`
    fn charge_const(&self, s: &mut InstructionSink<'_>, gas: u64) {
        let g = self.gas_global();
        s.global_get(g).i64_const(gas as i64).i64_lt_u();
        self.out_of_gas_if(s);
        s.global_get(g).i64_const(gas as i64).i64_sub().global_set(g);
    }

    /// Charges `operand * unit` where the operand is the i32 on top of the stack (kept).
    fn charge_operand(&self, s: &mut InstructionSink<'_>, kind: DynamicKind, scratch: u32) {
        let g = self.gas_global();
        let (n, c) = (scratch + SCRATCH_I32, scratch + SCRATCH_I64);
        let unit = self.config.costs.unit_cost(kind) as i64;
        s.local_tee(n).local_get(n).i64_extend_i32_u().i64_const(unit).i64_mul().local_set(c);
        s.global_get(g).local_get(c).i64_lt_u();
        self.out_of_gas_if(s);
        s.global_get(g).local_get(c).i64_sub().global_set(g);
    }

    fn out_of_gas_if(&self, s: &mut InstructionSink<'_>) {
        s.if_(BlockType::Empty)
            .i32_const(TRAP_OUT_OF_GAS)
            .global_set(self.trap_global())
            .i64_const(0)
            .global_set(self.gas_global())
            .unreachable()
            .end();
    }
}

/// Position of a section id in the order the binary format requires (custom sections: 0).
fn section_rank(id: u8) -> u8 {
    match id {
        1..=5 => id,
        13 => 6,      // tag
        6..=9 => id + 1, // global 7, export 8, start 9, element 10
        12 => 11,     // data count
        10 => 12,     // code
        11 => 13,     // data
        _ => 0,
    }
}

/// `x` on the stack becomes `x == x ? x : canonical NaN`.
fn canonicalize(s: &mut InstructionSink<'_>, width: FloatWidth, scratch: u32) {
    match width {
        FloatWidth::F32 => {
            let t = scratch + SCRATCH_F32;
            s.local_set(t)
                .local_get(t)
                .f32_const(f32::from_bits(CANONICAL_NAN_F32).into())
                .local_get(t)
                .local_get(t)
                .f32_eq()
                .select();
        }
        FloatWidth::F64 => {
            let t = scratch + SCRATCH_F64;
            s.local_set(t)
                .local_get(t)
                .f64_const(f64::from_bits(CANONICAL_NAN_F64).into())
                .local_get(t)
                .local_get(t)
                .f64_eq()
                .select();
        }
    }
}
