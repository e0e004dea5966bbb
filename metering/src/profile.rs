//! `metering::validate`: the deterministic profile (allowed proposals plus structural
//! limits), as specified in `specs/profile.md`.

use wasmparser::{
    FuncToValidate, FuncValidatorAllocations, FunctionBody, Operator, Parser, Payload, TypeRef, Validator,
    ValidatorResources, WasmFeatures, WasmModuleResources,
};

use crate::analyze::{FunctionAnalysis, FunctionWalker, ModuleAnalysis};
use crate::cost::CostTable;
use crate::error::{Feature, Limit, ValidationError};

/// Export names starting with this prefix are reserved for the instrumenter's globals.
pub const RESERVED_EXPORT_PREFIX: &str = "__keel_";

/// The proposals the profile allows: WebAssembly 2.0 without SIMD. That is the MVP plus
/// mutable globals, sign extension, saturating float-to-int, multi-value, bulk memory and
/// reference types (`specs/profile.md`, "Features").
pub fn allowed_features() -> WasmFeatures {
    WasmFeatures::WASM2.difference(WasmFeatures::SIMD)
}

/// Structural limits. Defaults are in [`Limits::default`] and `specs/profile.md`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Size of the whole module, bytes.
    pub max_module_bytes: u64,
    /// Size of one function body, bytes.
    pub max_function_body_bytes: u64,
    /// Functions, imported plus defined.
    pub max_functions: u64,
    /// Type section entries (signatures).
    pub max_types: u64,
    /// Declared locals per function, parameters excluded.
    pub max_locals_per_function: u64,
    /// Parameters per signature.
    pub max_params: u64,
    /// Results per signature.
    pub max_results: u64,
    /// Globals, imported plus defined.
    pub max_globals: u64,
    /// Tables, imported plus defined.
    pub max_tables: u64,
    /// Initial and maximum elements of each table.
    pub max_table_elements: u64,
    /// Imports.
    pub max_imports: u64,
    /// Exports.
    pub max_exports: u64,
    /// Data segments.
    pub max_data_segments: u64,
    /// Element segments.
    pub max_element_segments: u64,
    /// Initial size of the memory, 64 KiB pages.
    pub max_initial_memory_pages: u64,
    /// Declared maximum of the memory, 64 KiB pages; a memory without a declared maximum
    /// may grow up to this many pages.
    pub max_memory_pages: u64,
    /// `block`/`loop`/`if` nesting depth in one function.
    pub max_nesting_depth: u64,
}

impl Default for Limits {
    /// The defaults of `specs/profile.md`.
    fn default() -> Self {
        Limits {
            max_module_bytes: 4 * 1024 * 1024,
            max_function_body_bytes: 256 * 1024,
            max_functions: 10_000,
            max_types: 1_000,
            max_locals_per_function: 10_000,
            max_params: 100,
            max_results: 8,
            max_globals: 1_000,
            max_tables: 4,
            max_table_elements: 2_500,
            max_imports: 100,
            max_exports: 1_000,
            max_data_segments: 1_000,
            max_element_segments: 1_000,
            max_initial_memory_pages: 512,
            max_memory_pages: 512,
            max_nesting_depth: 1_024,
        }
    }
}

impl Limits {
    /// Limits as large as wasmparser's own implementation limits, for running the spec
    /// testsuite and benchmarks on shapes beyond a chain's profile.
    pub fn unlimited() -> Limits {
        Limits {
            max_module_bytes: u64::MAX,
            max_function_body_bytes: u64::MAX,
            max_functions: u64::MAX,
            max_types: u64::MAX,
            max_locals_per_function: u64::MAX,
            max_params: u64::MAX,
            max_results: u64::MAX,
            max_globals: u64::MAX,
            max_tables: u64::MAX,
            max_table_elements: u64::MAX,
            max_imports: u64::MAX,
            max_exports: u64::MAX,
            max_data_segments: u64::MAX,
            max_element_segments: u64::MAX,
            max_initial_memory_pages: 65_536,
            max_memory_pages: 65_536,
            max_nesting_depth: u64::from(u32::MAX),
        }
    }
}

/// Which imports a module may have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImportPolicy {
    /// Only functions, only from these host modules (the chain default: `["env"]`).
    HostFunctions(Vec<String>),
    /// Anything (for the spec testsuite, which imports from `spectest` and other modules).
    Any,
}

/// The deterministic profile: allowed features are fixed; limits and imports configurable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    /// Structural limits.
    pub limits: Limits,
    /// Import policy.
    pub imports: ImportPolicy,
}

impl Default for Profile {
    /// Default limits; function imports from `"env"` only.
    fn default() -> Self {
        Profile { limits: Limits::default(), imports: ImportPolicy::HostFunctions(vec!["env".into()]) }
    }
}

impl Profile {
    /// The allowed features with no structural limit and any import: what the spec
    /// testsuite and the JIT-bomb benchmarks use.
    pub fn permissive() -> Profile {
        Profile { limits: Limits::unlimited(), imports: ImportPolicy::Any }
    }

    /// A hash of the profile, recorded in compiled artifacts: blake3 over
    /// `"keel-profile/v1"`, every limit as u64 LE in the order of [`Limits`]' fields, then
    /// the import policy (tag 0 + count u32 LE + each module name as length u32 LE and
    /// bytes, or tag 1 for any import). Stable across Rust and crate versions.
    pub fn hash(&self) -> [u8; 32] {
        let l = &self.limits;
        let mut h = blake3::Hasher::new();
        h.update(b"keel-profile/v1");
        for v in [
            l.max_module_bytes,
            l.max_function_body_bytes,
            l.max_functions,
            l.max_types,
            l.max_locals_per_function,
            l.max_params,
            l.max_results,
            l.max_globals,
            l.max_tables,
            l.max_table_elements,
            l.max_imports,
            l.max_exports,
            l.max_data_segments,
            l.max_element_segments,
            l.max_initial_memory_pages,
            l.max_memory_pages,
            l.max_nesting_depth,
        ] {
            h.update(&v.to_le_bytes());
        }
        match &self.imports {
            ImportPolicy::HostFunctions(modules) => {
                h.update(&[0]);
                h.update(&(modules.len() as u32).to_le_bytes());
                for m in modules {
                    h.update(&(m.len() as u32).to_le_bytes());
                    h.update(m.as_bytes());
                }
            }
            ImportPolicy::Any => {
                h.update(&[1]);
            }
        }
        *h.finalize().as_bytes()
    }
}

/// Facts about a validated module that later stages need.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ModuleInfo {
    /// Imported functions.
    pub imported_functions: u32,
    /// Defined functions.
    pub defined_functions: u32,
    /// Initial pages of the memory, if the module has one.
    pub memory_initial_pages: Option<u64>,
    /// The maximum pages the memory may reach: its declared maximum, or the profile's
    /// `max_memory_pages` when it declares none.
    pub memory_maximum_pages: Option<u64>,
}

/// Validates `wasm` against `profile`: the allowed proposals, the structural limits and the
/// import policy. Every function body is validated.
///
/// Errors: [`ValidationError`], naming the feature or limit, the value found and the byte
/// offset where there is one. Never panics on any input.
pub fn validate(wasm: &[u8], profile: &Profile) -> Result<ModuleInfo, ValidationError> {
    walk(wasm, profile, None, &mut Discard, &mut WalkBuffers::default()).map(|(info, _)| info)
}

/// The buffers a validation walk allocates (wasmparser's operand and control stacks, the
/// analysis' vectors, the decoded-operator buffer), kept from one walk to the next by a
/// caller that validates many modules ([`analyze_each_with`]), so that each walk starts
/// with buffers already grown. Holds no data between walks: only capacity.
#[derive(Default)]
pub struct WalkBuffers {
    allocs: FuncValidatorAllocations,
    walker: crate::analyze::WalkerBuffers,
    function: FunctionAnalysis,
    /// Always empty between walks (see [`WalkBuffers::keep_operators`]).
    operators: Vec<Operator<'static>>,
}

// `Engine`s keep these behind a mutex, shared between threads.
const _: () = {
    const fn assert_send<T: Send>() {}
    assert_send::<WalkBuffers>();
};

impl std::fmt::Debug for WalkBuffers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WalkBuffers").field("operators_capacity", &self.operators.capacity()).finish()
    }
}

impl WalkBuffers {
    /// Bytes of heap the decoded-operator buffer holds (its capacity), for a caller
    /// that bounds what it keeps.
    pub fn operator_bytes(&self) -> usize {
        self.operators.capacity() * std::mem::size_of::<Operator<'static>>()
    }

    /// Keeps `operators`' allocation (not its contents) for the next walk.
    fn keep_operators(&mut self, mut operators: Vec<Operator<'_>>) {
        crate::analyze::forget_operators(&mut operators);
        let mut operators = std::mem::ManuallyDrop::new(operators);
        let (ptr, capacity) = (operators.as_mut_ptr(), operators.capacity());
        // SAFETY: the allocation comes from a `Vec` of a type with the same layout (the
        // types differ only in a lifetime), with this capacity; its length is 0, so no
        // element outlives the data it borrowed. `ManuallyDrop` keeps the old `Vec` from
        // freeing it.
        self.operators = unsafe { Vec::from_raw_parts(ptr.cast::<Operator<'static>>(), 0, capacity) };
    }
}

/// Validates `wasm` (exactly as [`validate`]) and, in the same pass, analyzes every
/// function: metered basic blocks with their gas under `costs`, and frame costs.
pub fn analyze(
    wasm: &[u8],
    profile: &Profile,
    costs: &CostTable,
) -> Result<(ModuleInfo, ModuleAnalysis), ValidationError> {
    let mut collect = Collect(Vec::new());
    let (info, mut analysis) = walk(wasm, profile, Some(costs), &mut collect, &mut WalkBuffers::default())?;
    analysis.functions = collect.0;
    Ok((info, analysis))
}

/// Validates and analyzes `wasm` exactly as [`analyze`], handing each defined function to
/// `on_function` as soon as it is validated, in definition order: its [`FunctionAnalysis`]
/// and its operators, decoded once (the final `end` included; `operators[i]` is the
/// operator that [`crate::BlockCharge::op_index`] `i` names). A single-pass compiler can
/// compile from these without decoding the body again, while the module is still being
/// validated. Both arguments are only borrowed for the call (their buffers are reused for
/// the next function). A body larger than [`crate::MAX_BUFFERED_BODY_BYTES`] comes with no
/// operators ([`FunctionAnalysis::operators_buffered`] is false): the callback decodes it
/// from [`FunctionAnalysis::body`].
///
/// Returns the module's [`ModuleInfo`] with the outcome of the callbacks: `Ok(())`, or the
/// first error `on_function` returned (it is not called again after an error, and the
/// rest of the module is still validated, so a validation error anywhere in the module
/// always takes precedence over a callback error).
///
/// Errors: [`ValidationError`], as [`validate`].
pub fn analyze_each<'a, E>(
    wasm: &'a [u8],
    profile: &Profile,
    costs: &CostTable,
    on_function: impl FnMut(&FunctionAnalysis, &[Operator<'a>]) -> Result<(), E>,
) -> Result<(ModuleInfo, Result<(), E>), ValidationError> {
    analyze_each_with(wasm, profile, costs, &mut WalkBuffers::default(), on_function)
}

/// [`analyze_each`], with its buffers taken from `buffers` and left there for the next
/// call (a caller compiling many modules spares each walk the buffers' allocation and
/// growth). Same results and errors as [`analyze_each`].
pub fn analyze_each_with<'a, E>(
    wasm: &'a [u8],
    profile: &Profile,
    costs: &CostTable,
    buffers: &mut WalkBuffers,
    on_function: impl FnMut(&FunctionAnalysis, &[Operator<'a>]) -> Result<(), E>,
) -> Result<(ModuleInfo, Result<(), E>), ValidationError> {
    let mut sink = Each { on_function, outcome: Ok(()) };
    let (info, _) = walk(wasm, profile, Some(costs), &mut sink, buffers)?;
    Ok((info, sink.outcome))
}

/// Where [`walk`] sends each analyzed function.
trait FunctionSink<'a> {
    /// One validated, analyzed function with its decoded operators. Either may be taken
    /// or swapped for another buffer (the walk clears what it gets back).
    fn function(&mut self, analysis: &mut FunctionAnalysis, operators: &mut Vec<Operator<'a>>);
}

/// [`validate`]: nothing is kept.
struct Discard;

impl<'a> FunctionSink<'a> for Discard {
    fn function(&mut self, _: &mut FunctionAnalysis, _: &mut Vec<Operator<'a>>) {}
}

/// [`analyze`]: every analysis is kept.
struct Collect(Vec<FunctionAnalysis>);

impl<'a> FunctionSink<'a> for Collect {
    fn function(&mut self, analysis: &mut FunctionAnalysis, _: &mut Vec<Operator<'a>>) {
        self.0.push(std::mem::take(analysis));
    }
}

/// [`analyze_each`]: the caller's callback, until it fails.
struct Each<F, E> {
    on_function: F,
    outcome: Result<(), E>,
}

impl<'a, E, F> FunctionSink<'a> for Each<F, E>
where
    F: FnMut(&FunctionAnalysis, &[Operator<'a>]) -> Result<(), E>,
{
    fn function(&mut self, analysis: &mut FunctionAnalysis, operators: &mut Vec<Operator<'a>>) {
        if self.outcome.is_ok() {
            self.outcome = (self.on_function)(analysis, operators);
        }
    }
}

pub(crate) fn limit(limit: Limit, found: u64, max: u64, offset: u64) -> Result<(), ValidationError> {
    if found > max {
        return Err(ValidationError::LimitExceeded { limit, found, max, offset: Some(offset) });
    }
    Ok(())
}

fn walk<'a>(
    wasm: &'a [u8],
    profile: &Profile,
    costs: Option<&CostTable>,
    sink: &mut dyn FunctionSink<'a>,
    buffers: &mut WalkBuffers,
) -> Result<(ModuleInfo, ModuleAnalysis), ValidationError> {
    let l = &profile.limits;
    limit(Limit::ModuleBytes, wasm.len() as u64, l.max_module_bytes, 0)?;
    walk_inner(wasm, profile, costs, sink, buffers).map_err(|e| explained(wasm, e))
}

/// `e`, with the rejected proposal named when that is why the module is invalid.
pub(crate) fn explained(wasm: &[u8], e: ValidationError) -> ValidationError {
    match e {
        ValidationError::Invalid { message, offset } => explain_invalid(wasm, message, offset),
        e => e,
    }
}

/// The rejected proposals contracts most often carry, tried first by [`explain_invalid`]
/// so that a typical rejection costs two or three extra validation passes.
const COMMON_REJECTED: [WasmFeatures; 8] = [
    WasmFeatures::SIMD,
    WasmFeatures::THREADS,
    WasmFeatures::EXCEPTIONS,
    WasmFeatures::TAIL_CALL,
    WasmFeatures::MEMORY64,
    WasmFeatures::MULTI_MEMORY,
    WasmFeatures::GC,
    WasmFeatures::EXTENDED_CONST,
];

/// When the module fails under the allowed features, finds whether a rejected proposal is
/// the cause: a feature F is needed when the module is invalid with every feature but F.
/// Only the rejection path pays for this: one validation with every feature, then one per
/// candidate until one is found (common proposals first; at most one pass per wasmparser
/// feature flag, each over a module no larger than `max_module_bytes`).
fn explain_invalid(wasm: &[u8], message: String, offset: u64) -> ValidationError {
    let all = WasmFeatures::all();
    if Validator::new_with_features(all).validate_all(wasm).is_err() {
        return ValidationError::Invalid { message, offset };
    }
    let rejected = all.difference(allowed_features());
    let common = COMMON_REJECTED.iter().flat_map(|f| f.iter_names());
    let rest = rejected.iter_names().filter(|(_, f)| !COMMON_REJECTED.contains(f));
    for (name, flag) in common.chain(rest) {
        if Validator::new_with_features(all.difference(flag)).validate_all(wasm).is_err() {
            return ValidationError::UnsupportedFeature {
                feature: Feature::from_wasmparser_name(name),
                offset: Some(offset),
            };
        }
    }
    ValidationError::Invalid { message, offset }
}

/// The per-function half of the walk: validates and analyzes one body at a time into
/// `function` and `operators`, with buffers taken from (and given back to) a
/// [`WalkBuffers`].
pub(crate) struct BodyWalker<'a, 'c> {
    walker: FunctionWalker<'c>,
    allocs: FuncValidatorAllocations,
    /// The last body's analysis.
    pub(crate) function: FunctionAnalysis,
    /// The last body's decoded operators (see [`analyze_each`]).
    pub(crate) operators: Vec<Operator<'a>>,
}

impl<'a, 'c> BodyWalker<'a, 'c> {
    /// A walker pricing with `costs` (none: validation only) under `profile`'s nesting
    /// limit, with `buffers`' allocations.
    pub(crate) fn new(profile: &Profile, costs: Option<&'c CostTable>, buffers: &mut WalkBuffers) -> Self {
        let nesting = u32::try_from(profile.limits.max_nesting_depth).unwrap_or(u32::MAX);
        BodyWalker {
            walker: FunctionWalker::new(costs, nesting, std::mem::take(&mut buffers.walker)),
            allocs: std::mem::take(&mut buffers.allocs),
            function: std::mem::take(&mut buffers.function),
            operators: std::mem::take(&mut buffers.operators),
        }
    }

    /// Validates and analyzes `body`, the defined function `func` stands for (from
    /// [`Validator::code_section_entry`]).
    pub(crate) fn walk(
        &mut self,
        body: &FunctionBody<'a>,
        func: FuncToValidate<ValidatorResources>,
    ) -> Result<(), ValidationError> {
        let func_index = func.index;
        let mut fv = func.into_validator(std::mem::take(&mut self.allocs));
        let params = fv.resources().type_id_of_function(func_index).map_or(0, |id| {
            match &fv.resources().sub_type_at_id(id).composite_type.inner {
                wasmparser::CompositeInnerType::Func(f) => f.params().len() as u32,
                _ => 0,
            }
        });
        let walked = self.walker.run(func_index, params, body, &mut fv, &mut self.function, &mut self.operators);
        self.allocs = fv.into_allocations();
        walked
    }

    /// Gives the buffers back to `buffers` (capacity only) for the next walk.
    pub(crate) fn put_back(self, buffers: &mut WalkBuffers) {
        buffers.allocs = self.allocs;
        buffers.walker = self.walker.into_buffers();
        buffers.function = self.function.emptied();
        buffers.keep_operators(self.operators);
    }
}

/// Validates and analyzes all of `wasm` in order, each function body as it comes, handing
/// each to `sink` (only when `costs` is given).
fn walk_inner<'a>(
    wasm: &'a [u8],
    profile: &Profile,
    costs: Option<&CostTable>,
    sink: &mut dyn FunctionSink<'a>,
    buffers: &mut WalkBuffers,
) -> Result<(ModuleInfo, ModuleAnalysis), ValidationError> {
    let mut bodies = BodyWalker::new(profile, costs, buffers);
    let walked = walk_module(wasm, profile, &mut |body, func| {
        bodies.walk(&body, func)?;
        if costs.is_some() {
            sink.function(&mut bodies.function, &mut bodies.operators);
        }
        Ok(())
    });
    bodies.put_back(buffers);
    let info = walked?;
    let analysis = ModuleAnalysis {
        cost_table_hash: costs.map(|c| c.hash()).unwrap_or_default(),
        imported_functions: info.imported_functions,
        ..ModuleAnalysis::default()
    };
    Ok((info, analysis))
}

/// A function body reached by [`walk_module`]: its body, and its validator (with its
/// function index).
pub(crate) type OnBody<'a, 'f> =
    dyn FnMut(FunctionBody<'a>, FuncToValidate<ValidatorResources>) -> Result<(), ValidationError> + 'f;

/// Validates `wasm`'s module-level sections and the profile's limits, in order, handing
/// each function body (after its size and locals limits are checked) to `on_body`, which
/// validates it or keeps it for later. Stops at the first error, `on_body`'s included.
pub(crate) fn walk_module<'a>(
    wasm: &'a [u8],
    profile: &Profile,
    on_body: &mut OnBody<'a, '_>,
) -> Result<ModuleInfo, ValidationError> {
    let l = &profile.limits;
    let mut validator = Validator::new_with_features(allowed_features());
    let mut info = ModuleInfo::default();
    let mut counts = Counts::default();
    let mut defined_index = 0u32;
    let wp = ValidationError::from_wasmparser;

    let mut parser = Parser::new(0);
    parser.set_features(allowed_features());
    for payload in parser.parse_all(wasm) {
        let payload = payload.map_err(wp)?;
        // A function body, the most common payload, goes to the validator's own method:
        // `Validator::payload` would return it in a `ValidPayload`, an enum as large as
        // the module's types (its `End` variant), copied for every body.
        if let Payload::CodeSectionEntry(body) = &payload {
            let to_validate = match validator.code_section_entry(body) {
                Ok(to_validate) => to_validate,
                Err(e) => return Err(wp(e)),
            };
            let range = body.range();
            limit(Limit::FunctionBodyBytes, range.end - range.start, l.max_function_body_bytes, range.start)?;
            check_locals(l, body)?;
            debug_assert_eq!(to_validate.index, info.imported_functions + defined_index);
            on_body(body.clone(), to_validate)?;
            defined_index += 1;
            continue;
        }
        // Every other payload is validated whole; none of them is a function body, so the
        // result (a `ValidPayload::End` holding the module's types, or nothing of use) is
        // dropped. Matched, not `map_err`ed, so that the large `Ok` is not moved around.
        if let Err(e) = validator.payload(&payload) {
            return Err(wp(e));
        }
        match &payload {
            Payload::TypeSection(s) => {
                limit(Limit::Types, u64::from(s.count()), l.max_types, s.range().start)?;
                for rec in s.clone().into_iter_with_offsets() {
                    let (offset, rec) = rec.map_err(wp)?;
                    for sub in rec.types() {
                        if let wasmparser::CompositeInnerType::Func(f) = &sub.composite_type.inner {
                            limit(Limit::Params, f.params().len() as u64, l.max_params, offset)?;
                            limit(Limit::Results, f.results().len() as u64, l.max_results, offset)?;
                        }
                    }
                }
            }
            Payload::ImportSection(s) => {
                limit(Limit::Imports, u64::from(s.count()), l.max_imports, s.range().start)?;
                for imp in s.clone().into_imports_with_offsets() {
                    let (offset, imp) = imp.map_err(wp)?;
                    if let ImportPolicy::HostFunctions(modules) = &profile.imports {
                        if !modules.iter().any(|m| m == imp.module) {
                            return Err(ValidationError::ForbiddenImport {
                                module: imp.module.to_string(),
                                name: imp.name.to_string(),
                                reason: format!("only imports from {modules:?} are allowed"),
                                offset: Some(offset),
                            });
                        }
                        if !matches!(imp.ty, TypeRef::Func(_)) {
                            return Err(ValidationError::ForbiddenImport {
                                module: imp.module.to_string(),
                                name: imp.name.to_string(),
                                reason: "only function imports are allowed".into(),
                                offset: Some(offset),
                            });
                        }
                    }
                    match imp.ty {
                        TypeRef::Func(_) => {
                            counts.functions += 1;
                            info.imported_functions += 1;
                        }
                        TypeRef::Global(_) => counts.globals += 1,
                        TypeRef::Table(t) => {
                            counts.tables += 1;
                            check_table(l, &t, offset)?;
                        }
                        TypeRef::Memory(m) => check_memory(l, &m, offset, &mut info)?,
                        _ => {}
                    }
                }
                limit(Limit::Functions, counts.functions, l.max_functions, s.range().start)?;
                limit(Limit::Globals, counts.globals, l.max_globals, s.range().start)?;
                limit(Limit::Tables, counts.tables, l.max_tables, s.range().start)?;
            }
            Payload::FunctionSection(s) => {
                counts.functions += u64::from(s.count());
                limit(Limit::Functions, counts.functions, l.max_functions, s.range().start)?;
            }
            Payload::TableSection(s) => {
                counts.tables += u64::from(s.count());
                limit(Limit::Tables, counts.tables, l.max_tables, s.range().start)?;
                for t in s.clone().into_iter_with_offsets() {
                    let (offset, t) = t.map_err(wp)?;
                    check_table(l, &t.ty, offset)?;
                }
            }
            Payload::MemorySection(s) => {
                for m in s.clone().into_iter_with_offsets() {
                    let (offset, m) = m.map_err(wp)?;
                    check_memory(l, &m, offset, &mut info)?;
                }
            }
            Payload::GlobalSection(s) => {
                counts.globals += u64::from(s.count());
                limit(Limit::Globals, counts.globals, l.max_globals, s.range().start)?;
            }
            Payload::ExportSection(s) => {
                limit(Limit::Exports, u64::from(s.count()), l.max_exports, s.range().start)?;
                for e in s.clone().into_iter_with_offsets() {
                    let (offset, e) = e.map_err(wp)?;
                    if e.name.starts_with(RESERVED_EXPORT_PREFIX) {
                        return Err(ValidationError::ReservedExport {
                            name: e.name.to_string(),
                            offset: Some(offset),
                        });
                    }
                }
            }
            Payload::ElementSection(s) => {
                limit(Limit::ElementSegments, u64::from(s.count()), l.max_element_segments, s.range().start)?;
            }
            Payload::DataSection(s) => {
                limit(Limit::DataSegments, u64::from(s.count()), l.max_data_segments, s.range().start)?;
            }
            _ => {}
        }
    }
    info.defined_functions = defined_index;
    Ok(info)
}

#[derive(Default)]
struct Counts {
    functions: u64,
    globals: u64,
    tables: u64,
}

fn check_locals(l: &Limits, body: &wasmparser::FunctionBody<'_>) -> Result<(), ValidationError> {
    let mut reader = body.get_locals_reader().map_err(ValidationError::from_wasmparser)?;
    let mut total = 0u64;
    for _ in 0..reader.get_count() {
        let offset = reader.original_position();
        let (count, _) = reader.read().map_err(ValidationError::from_wasmparser)?;
        total += u64::from(count);
        limit(Limit::LocalsPerFunction, total, l.max_locals_per_function, offset)?;
    }
    Ok(())
}

fn check_table(l: &Limits, t: &wasmparser::TableType, offset: u64) -> Result<(), ValidationError> {
    limit(Limit::TableElements, t.initial, l.max_table_elements, offset)?;
    if let Some(max) = t.maximum {
        limit(Limit::TableElements, max, l.max_table_elements, offset)?;
    }
    Ok(())
}

fn check_memory(
    l: &Limits,
    m: &wasmparser::MemoryType,
    offset: u64,
    info: &mut ModuleInfo,
) -> Result<(), ValidationError> {
    limit(Limit::InitialMemoryPages, m.initial, l.max_initial_memory_pages, offset)?;
    if let Some(max) = m.maximum {
        limit(Limit::MaximumMemoryPages, max, l.max_memory_pages, offset)?;
    }
    info.memory_initial_pages = Some(m.initial);
    info.memory_maximum_pages = Some(m.maximum.unwrap_or(l.max_memory_pages));
    Ok(())
}

#[cfg(test)]
mod tests {
    //! [`analyze_each_with`] with one [`WalkBuffers`] for many modules hands over exactly
    //! what [`analyze_each`] (fresh buffers) does: the buffers carry capacity, never content.

    use super::*;

    /// Everything the walk hands over for `wasm`: each function's analysis and its
    /// operators (as their `Debug` text), or the error.
    type Walked = Result<(ModuleInfo, Vec<(FunctionAnalysis, Vec<String>)>), ValidationError>;

    fn walk_with(wasm: &[u8], buffers: Option<&mut WalkBuffers>) -> Walked {
        let (profile, costs) = (Profile::default(), CostTable::default());
        let mut seen = Vec::new();
        let collect = |fa: &FunctionAnalysis, ops: &[Operator<'_>]| {
            seen.push((fa.clone(), ops.iter().map(|op| format!("{op:?}")).collect()));
            Ok::<(), ()>(())
        };
        let (info, outcome) = match buffers {
            Some(buffers) => analyze_each_with(wasm, &profile, &costs, buffers, collect)?,
            None => analyze_each(wasm, &profile, &costs, collect)?,
        };
        assert_eq!(outcome, Ok(()));
        Ok((info, seen))
    }

    #[test]
    fn reused_walk_buffers_change_nothing() {
        let mut modules: Vec<Vec<u8>> = vec![
            include_bytes!("../../contracts/wasm/token.wasm").to_vec(),
            include_bytes!("../../contracts/wasm/c_counter.wasm").to_vec(),
            include_bytes!("../../contracts/wasm/ed25519_verifier.wasm").to_vec(),
        ];
        // Nested blocks and loops (the walk's frame stacks), then an ill-typed last function.
        let mut text = String::from("(module (memory 1)");
        for i in 0..30 {
            text.push_str("(func (param i32) (result i32) (local i64) (block (loop (block local.get 0");
            text.push_str(" i32.const 1 i32.sub local.tee 0 i32.load i64.extend_i32_u local.set 1 local.get 0");
            text.push_str(" br_if 1)) ) local.get 0");
            text.push_str(if i == 29 { " i64.const 1 i32.add)" } else { ")" });
        }
        text.push(')');
        modules.insert(1, wat::parse_str(&text).expect("wat"));
        let fresh: Vec<Walked> = modules.iter().map(|w| walk_with(w, None)).collect();
        assert!(fresh[1].is_err() && fresh.iter().filter(|r| r.is_ok()).count() == 3);
        let mut buffers = WalkBuffers::default();
        for round in 0..2 {
            for (i, wasm) in modules.iter().enumerate() {
                assert!(walk_with(wasm, Some(&mut buffers)) == fresh[i], "round {round}, module {i}");
            }
        }
    }
}
