//! [`Module`]: a validated, analyzed and compiled wasm module, and its serialized artifact.

use std::sync::Arc;

use wasmparser::{ExternalKind, Parser, Payload, TypeRef};

use crate::compiler::CompileEnv;
use crate::engine::Engine;
use crate::error::Error;
use crate::isa::aarch64::masm::Aarch64Masm;
use crate::isa::x64::masm::X64Masm;
use crate::isa::Isa;
use crate::masm::CompiledCode;
use crate::pipeline::compile;
use crate::runtime::code::CodeMemory;
use crate::runtime::signals::TrapRegion;
use crate::values::{FuncType, ValType};

/// A constant expression (initializers and segment offsets).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ConstExpr {
    /// A number (bits).
    Bits(u64),
    /// `ref.null`.
    Null,
    /// `ref.func i`.
    RefFunc(u32),
    /// `global.get i`.
    Global(u32),
}

/// A table's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableType {
    /// Element type (`FuncRef` or `ExternRef`).
    pub element: ValType,
    /// Initial size.
    pub min: u64,
    /// Maximum size.
    pub max: Option<u64>,
}

/// A memory's type, in 64 KiB pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryType {
    /// Initial pages.
    pub min: u64,
    /// Maximum pages.
    pub max: Option<u64>,
}

/// A global's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GlobalType {
    /// Value type.
    pub ty: ValType,
    /// Whether `global.set` is allowed.
    pub mutable: bool,
}

/// What an import expects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExternType {
    /// A function of this signature.
    Func(FuncType),
    /// A table.
    Table(TableType),
    /// A memory.
    Memory(MemoryType),
    /// A global.
    Global(GlobalType),
}

/// One import of a module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportDesc {
    /// Module name.
    pub module: String,
    /// Field name.
    pub name: String,
    /// Expected type.
    pub ty: ExternType,
}

/// Kind and index of an export.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportIndex {
    /// Function index.
    Func(u32),
    /// Table index.
    Table(u32),
    /// Memory index.
    Memory(u32),
    /// Global index.
    Global(u32),
}

#[derive(Debug, Clone)]
pub(crate) enum ElemMode {
    Passive,
    Declared,
    Active { table: u32, offset: ConstExpr },
}

#[derive(Debug, Clone)]
pub(crate) struct ElemSegment {
    pub mode: ElemMode,
    pub items: Vec<ConstExpr>,
}

#[derive(Debug, Clone)]
pub(crate) struct DataSegment {
    pub active: Option<ConstExpr>,
    pub bytes: Vec<u8>,
}

/// Everything about a module except its code.
#[derive(Debug, Clone, Default)]
pub(crate) struct ModuleMeta {
    pub types: Vec<FuncType>,
    pub imports: Vec<ImportDesc>,
    pub func_types: Vec<u32>,
    pub imported_funcs: u32,
    pub tables: Vec<TableType>,
    pub imported_tables: u32,
    pub memory: Option<MemoryType>,
    pub memory_imported: bool,
    pub globals: Vec<GlobalType>,
    pub imported_globals: u32,
    pub global_inits: Vec<ConstExpr>,
    pub exports: Vec<(String, ExportIndex)>,
    pub start: Option<u32>,
    pub elements: Vec<ElemSegment>,
    pub data: Vec<DataSegment>,
    /// Size of the code section's contents, bytes (0 without one).
    pub code_bytes: usize,
}

fn wp(e: wasmparser::BinaryReaderError) -> Error {
    Error::Artifact(format!("module parse: {}", e.message()))
}

fn const_expr(e: &wasmparser::ConstExpr<'_>) -> Result<ConstExpr, Error> {
    use wasmparser::Operator as O;
    let mut r = e.get_operators_reader();
    let op = r.read().map_err(wp)?;
    Ok(match op {
        O::I32Const { value } => ConstExpr::Bits(u64::from(value as u32)),
        O::I64Const { value } => ConstExpr::Bits(value as u64),
        O::F32Const { value } => ConstExpr::Bits(u64::from(value.bits())),
        O::F64Const { value } => ConstExpr::Bits(value.bits()),
        O::RefNull { .. } => ConstExpr::Null,
        O::RefFunc { function_index } => ConstExpr::RefFunc(function_index),
        O::GlobalGet { global_index } => ConstExpr::Global(global_index),
        other => return Err(Error::Artifact(format!("unsupported constant expression {other:?}"))),
    })
}

fn ref_type(r: wasmparser::RefType) -> ValType {
    if r.is_func_ref() { ValType::FuncRef } else { ValType::ExternRef }
}

fn table_type(t: &wasmparser::TableType) -> TableType {
    TableType { element: ref_type(t.element_type), min: t.initial, max: t.maximum }
}

impl ModuleMeta {
    /// Parses the module-level sections (the module was validated before).
    pub(crate) fn parse(wasm: &[u8]) -> Result<ModuleMeta, Error> {
        Self::parse_sections(wasm, false)
    }

    /// As [`Self::parse`], stepping over the code section's function bodies without
    /// reading them (for a module whose bodies are validated and compiled next, which
    /// reports any error in them): the code section's header is still read.
    pub(crate) fn parse_skipping_bodies(wasm: &[u8]) -> Result<ModuleMeta, Error> {
        Self::parse_sections(wasm, true)
    }

    fn parse_sections(mut wasm: &[u8], skip_bodies: bool) -> Result<ModuleMeta, Error> {
        let mut m = ModuleMeta::default();
        let mut parser = Parser::new(0);
        loop {
            let payload = match parser.parse(wasm, true).map_err(wp)? {
                wasmparser::Chunk::Parsed { consumed, payload } => {
                    wasm = wasm.get(consumed..).unwrap_or_default();
                    payload
                }
                // Not produced with `eof = true` (the parser reports the missing bytes).
                wasmparser::Chunk::NeedMoreData(_) => return Err(Error::Artifact("truncated module".into())),
            };
            match payload {
                Payload::End(_) => break,
                Payload::CodeSectionStart { size, .. } if skip_bodies => {
                    // The parser does not check that the section fits in the module.
                    wasm = wasm.get(size as usize..).ok_or_else(|| Error::Artifact("code section past the end".into()))?;
                    m.code_bytes = size as usize;
                    parser.skip_section();
                }
                Payload::TypeSection(s) => {
                    for rec in s {
                        for sub in rec.map_err(wp)?.types() {
                            if let wasmparser::CompositeInnerType::Func(f) = &sub.composite_type.inner {
                                m.types.push(FuncType {
                                    params: f.params().iter().map(|t| ValType::from_wasmparser(*t)).collect(),
                                    results: f.results().iter().map(|t| ValType::from_wasmparser(*t)).collect(),
                                });
                            } else {
                                m.types.push(FuncType::default());
                            }
                        }
                    }
                }
                Payload::ImportSection(s) => {
                    for imp in s.into_imports() {
                        let imp = imp.map_err(wp)?;
                        let ty = match imp.ty {
                            TypeRef::Func(t) => {
                                m.func_types.push(t);
                                m.imported_funcs += 1;
                                ExternType::Func(m.types.get(t as usize).cloned().unwrap_or_default())
                            }
                            TypeRef::Table(t) => {
                                m.tables.push(table_type(&t));
                                m.imported_tables += 1;
                                ExternType::Table(table_type(&t))
                            }
                            TypeRef::Memory(t) => {
                                let mt = MemoryType { min: t.initial, max: t.maximum };
                                m.memory = Some(mt);
                                m.memory_imported = true;
                                ExternType::Memory(mt)
                            }
                            TypeRef::Global(g) => {
                                let gt = GlobalType {
                                    ty: ValType::from_wasmparser(g.content_type),
                                    mutable: g.mutable,
                                };
                                m.globals.push(gt);
                                m.imported_globals += 1;
                                ExternType::Global(gt)
                            }
                            _ => return Err(Error::Artifact("unsupported import kind".into())),
                        };
                        m.imports.push(ImportDesc { module: imp.module.into(), name: imp.name.into(), ty });
                    }
                }
                Payload::FunctionSection(s) => {
                    for t in s {
                        m.func_types.push(t.map_err(wp)?);
                    }
                }
                Payload::TableSection(s) => {
                    for t in s {
                        m.tables.push(table_type(&t.map_err(wp)?.ty));
                    }
                }
                Payload::MemorySection(s) => {
                    for t in s {
                        let t = t.map_err(wp)?;
                        m.memory = Some(MemoryType { min: t.initial, max: t.maximum });
                    }
                }
                Payload::GlobalSection(s) => {
                    for g in s {
                        let g = g.map_err(wp)?;
                        m.globals.push(GlobalType {
                            ty: ValType::from_wasmparser(g.ty.content_type),
                            mutable: g.ty.mutable,
                        });
                        m.global_inits.push(const_expr(&g.init_expr)?);
                    }
                }
                Payload::ExportSection(s) => {
                    for e in s {
                        let e = e.map_err(wp)?;
                        let idx = match e.kind {
                            ExternalKind::Func => ExportIndex::Func(e.index),
                            ExternalKind::Table => ExportIndex::Table(e.index),
                            ExternalKind::Memory => ExportIndex::Memory(e.index),
                            ExternalKind::Global => ExportIndex::Global(e.index),
                            _ => continue,
                        };
                        m.exports.push((e.name.into(), idx));
                    }
                }
                Payload::StartSection { func, .. } => m.start = Some(func),
                Payload::CodeSectionStart { size, .. } => m.code_bytes = size as usize,
                Payload::ElementSection(s) => {
                    for e in s {
                        let e = e.map_err(wp)?;
                        let mode = match e.kind {
                            wasmparser::ElementKind::Passive => ElemMode::Passive,
                            wasmparser::ElementKind::Declared => ElemMode::Declared,
                            wasmparser::ElementKind::Active { table_index, offset_expr } => {
                                ElemMode::Active {
                                    table: table_index.unwrap_or(0),
                                    offset: const_expr(&offset_expr)?,
                                }
                            }
                        };
                        let mut items = Vec::new();
                        match e.items {
                            wasmparser::ElementItems::Functions(r) => {
                                for f in r {
                                    items.push(ConstExpr::RefFunc(f.map_err(wp)?));
                                }
                            }
                            wasmparser::ElementItems::Expressions(_, r) => {
                                for x in r {
                                    items.push(const_expr(&x.map_err(wp)?)?);
                                }
                            }
                        }
                        m.elements.push(ElemSegment { mode, items });
                    }
                }
                Payload::DataSection(s) => {
                    for d in s {
                        let d = d.map_err(wp)?;
                        let active = match d.kind {
                            wasmparser::DataKind::Passive => None,
                            wasmparser::DataKind::Active { offset_expr, .. } => {
                                Some(const_expr(&offset_expr)?)
                            }
                        };
                        m.data.push(DataSegment { active, bytes: d.data.to_vec() });
                    }
                }
                _ => {}
            }
        }
        Ok(m)
    }

    pub(crate) fn compile_env(&self) -> CompileEnv {
        CompileEnv {
            types: self.types.iter().map(|t| (t.params.len() as u32, t.results.len() as u32)).collect(),
            func_types: self.func_types.clone(),
            imported_funcs: self.imported_funcs,
            imported_globals: self.imported_globals,
            metering: true,
        }
    }
}

pub(crate) struct ModuleInner {
    pub(crate) engine: Engine,
    pub(crate) wasm: Vec<u8>,
    pub(crate) meta: ModuleMeta,
    /// The code's registration with the fault handler (declared before `code`: it is
    /// dropped, unregistering, before the code is unmapped).
    _trap_region: Option<TrapRegion>,
    pub(crate) code: CodeMemory,
    pub(crate) functions: Vec<u32>,
    pub(crate) trampoline: u32,
    /// See [`CompiledCode::memory_trap_sites`].
    memory_trap_sites: Vec<u32>,
    /// See [`CompiledCode::memory_trap_stub`].
    memory_trap_stub: u32,
    /// Engine-wide signature ids per module type index.
    pub(crate) type_ids: Vec<u32>,
    /// Maximum pages of a memory this module defines.
    pub(crate) memory_max_pages: u64,
}

impl Drop for ModuleInner {
    /// Unregisters the code from the fault handler, then gives its mapping to the engine's
    /// [`crate::runtime::code::CodePool`]: nothing can run it any more (every store that
    /// instantiated the module holds a reference to it).
    fn drop(&mut self) {
        self._trap_region = None;
        if let Some(map) = self.code.release() {
            self.engine.inner.code_pool.give(map);
        }
    }
}

/// A compiled module. Cheap to clone (shared, `Send + Sync`).
///
/// ```
/// use keel_engine::{Engine, Module};
/// let engine = Engine::default();
/// let wasm = wat::parse_str(r#"(module (func (export "f") (result i32) i32.const 7))"#).unwrap();
/// let module = Module::new(&engine, &wasm).unwrap();
/// assert_eq!(module.exports().count(), 1);
/// ```
#[derive(Clone)]
pub struct Module {
    pub(crate) inner: Arc<ModuleInner>,
}

impl std::fmt::Debug for Module {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Module").field("functions", &self.inner.functions.len()).finish()
    }
}

/// Where things are in a module's machine code: [`CompiledCode`] without the bytes.
struct CodeLayout {
    trampoline: u32,
    functions: Vec<u32>,
    memory_trap_sites: Vec<u32>,
    memory_trap_stub: u32,
}

const MAGIC: &[u8; 8] = b"KEELART\0";
/// Bumped whenever generated code changes its conventions (3: gas counter in a register;
/// 4: stack count passed by value, memory accesses checked by the MMU on x86-64;
/// 5: stack limit in the vmctx; 6: x86-64 functions reached from outside through
/// entry thunks, bodies return no status; 7: an instance's own first globals kept in
/// its vmctx, x86-64 bodies return one result in a register; 8: x86-64 bodies take up to
/// six arguments in registers).
const FORMAT_VERSION: u32 = 8;

impl Module {
    /// Validates `wasm` against the engine's profile, analyzes its metering and compiles
    /// it, in time and memory linear in its size. With [`crate::Config::parallel_compilation`]
    /// (the default) and a code section of at least
    /// [`crate::PARALLEL_COMPILATION_MIN_CODE_BYTES`], two threads compile parts of the
    /// functions each; the results are the same (see the option for the code itself).
    ///
    /// Errors: [`Error::Validation`] for modules the profile rejects (with the reason and
    /// byte offset; it takes precedence over any compile error), [`Error::Compile`] if
    /// compilation fails, [`Error::Engine`] if code
    /// memory cannot be mapped.
    pub fn new(engine: &Engine, wasm: &[u8]) -> Result<Module, Error> {
        let cfg = &engine.inner.config;
        // The module-level sections are read first (the code generator needs the
        // signatures); a module too large or too malformed for that gets its validation
        // error, exactly as if validation had run first.
        if wasm.len() as u64 > cfg.profile.limits.max_module_bytes {
            keel_metering::validate(wasm, &cfg.profile)?;
        }
        let meta = match ModuleMeta::parse_skipping_bodies(wasm) {
            Ok(meta) => meta,
            Err(e) => {
                keel_metering::validate(wasm, &cfg.profile)?;
                return Err(e);
            }
        };
        let env = CompileEnv { metering: cfg.metering, ..meta.compile_env() };
        let defined = meta.func_types.len().saturating_sub(meta.imported_funcs as usize);
        // Machine code is typically 3-6 times the size of the wasm code (x86-64 and aarch64
        // alike); room for 8 times (plus the trampoline and trap stubs) spares the buffer
        // its reallocations, and pages never written are never touched.
        let code_hint = meta.code_bytes.saturating_mul(8).saturating_add(4096);
        let code_bytes = meta.code_bytes as u64;
        let helpers = &engine.inner.helpers;
        // Buffers of earlier compilations (returned to the engine even after an error).
        let pool = &engine.inner.compile_buffers;
        let mut buffers = pool.take();
        let code_buffer = std::mem::take(&mut buffers.code);
        let compiled = match cfg.isa {
            Isa::X64 => {
                let mut masm = X64Masm::with_buffer(code_buffer, code_hint);
                masm.use_bmi2(engine.uses_cpu_feature("bmi2"));
                compile(masm, wasm, cfg, &env, defined, code_bytes, helpers, &mut buffers)
            }
            Isa::Aarch64 => {
                let masm = Aarch64Masm::with_buffer(code_buffer, code_hint);
                compile(masm, wasm, cfg, &env, defined, code_bytes, helpers, &mut buffers)
            }
        };
        let (info, compiled) = match compiled {
            Ok(compiled) => compiled,
            Err(e) => {
                pool.give(buffers);
                return Err(e);
            }
        };
        let max = info.memory_maximum_pages.unwrap_or(cfg.profile.limits.max_memory_pages);
        let CompiledCode { code, trampoline, functions, memory_trap_sites, memory_trap_stub } = compiled;
        let layout = CodeLayout { trampoline, functions, memory_trap_sites, memory_trap_stub };
        let module = Module::from_parts(engine, wasm.to_vec(), meta, &code, layout, max);
        // The code was copied into the module's own memory: the buffer serves the next one.
        buffers.code = code;
        pool.give(buffers);
        module
    }

    fn from_parts(
        engine: &Engine,
        wasm: Vec<u8>,
        meta: ModuleMeta,
        code: &[u8],
        layout: CodeLayout,
        memory_max_pages: u64,
    ) -> Result<Module, Error> {
        let CodeLayout { trampoline, functions, memory_trap_sites, memory_trap_stub } = layout;
        let (code, trap_region) = if engine.can_execute() {
            let code = CodeMemory::new_pooled(code, &engine.inner.code_pool).map_err(Error::Engine)?;
            let region = match (code.addr(0), memory_trap_sites.is_empty()) {
                (Some(start), false) => Some(
                    TrapRegion::register(start, code.bytes().len(), memory_trap_stub, &memory_trap_sites)
                        .map_err(Error::Engine)?,
                ),
                _ => None,
            };
            (code, region)
        } else {
            (CodeMemory::inert(code), None)
        };
        let type_ids = meta.types.iter().map(|t| engine.intern(t)).collect();
        Ok(Module {
            inner: Arc::new(ModuleInner {
                engine: engine.clone(),
                wasm,
                meta,
                _trap_region: trap_region,
                code,
                functions,
                trampoline,
                memory_trap_sites,
                memory_trap_stub,
                type_ids,
                memory_max_pages,
            }),
        })
    }

    /// The engine this module was compiled for.
    pub fn engine(&self) -> &Engine {
        &self.inner.engine
    }

    /// The module's imports, in order.
    pub fn imports(&self) -> impl Iterator<Item = &ImportDesc> {
        self.inner.meta.imports.iter()
    }

    /// The module's exports: name and kind/index.
    pub fn exports(&self) -> impl Iterator<Item = (&str, ExportIndex)> {
        self.inner.meta.exports.iter().map(|(n, i)| (n.as_str(), *i))
    }

    /// The module's memory (defined or imported): initial and maximum size in 64 KiB
    /// pages; `None` without one.
    pub fn memory(&self) -> Option<MemoryType> {
        self.inner.meta.memory
    }

    /// The instruction set this module's code is for.
    pub fn isa(&self) -> crate::Isa {
        self.inner.engine.inner.config.isa
    }

    /// The generated machine code (position-independent; the entry trampoline first).
    pub fn code(&self) -> &[u8] {
        self.inner.code.bytes()
    }

    /// Size of the generated machine code, bytes.
    pub fn code_size(&self) -> usize {
        self.inner.code.bytes().len()
    }

    fn header_fields(engine: &Engine) -> Vec<u8> {
        let cfg = &engine.inner.config;
        let mut h = Vec::new();
        let put = |h: &mut Vec<u8>, s: &[u8]| {
            h.extend_from_slice(&(s.len() as u32).to_le_bytes());
            h.extend_from_slice(s);
        };
        put(&mut h, env!("CARGO_PKG_VERSION").as_bytes());
        put(&mut h, cfg.isa.name().as_bytes());
        put(&mut h, engine.inner.features.as_bytes());
        put(&mut h, if cfg.metering { b"metered" } else { b"unmetered" });
        h.extend_from_slice(&cfg.cost_table.hash());
        h.extend_from_slice(&cfg.profile.hash());
        h
    }

    /// Serializes the compiled module: a header (format version, engine version, target
    /// ISA, CPU features, metering on or off, cost-table hash, profile hash), a blake3 hash of the payload, and
    /// the payload (the wasm bytes, the machine code and function offsets).
    pub fn serialize(&self) -> Vec<u8> {
        let i = &self.inner;
        let mut payload = Vec::new();
        payload.extend_from_slice(&(i.wasm.len() as u64).to_le_bytes());
        payload.extend_from_slice(&i.wasm);
        let code = i.code.bytes();
        payload.extend_from_slice(&(code.len() as u64).to_le_bytes());
        payload.extend_from_slice(code);
        payload.extend_from_slice(&i.trampoline.to_le_bytes());
        payload.extend_from_slice(&i.memory_max_pages.to_le_bytes());
        payload.extend_from_slice(&(i.functions.len() as u32).to_le_bytes());
        for f in &i.functions {
            payload.extend_from_slice(&f.to_le_bytes());
        }
        payload.extend_from_slice(&i.memory_trap_stub.to_le_bytes());
        payload.extend_from_slice(&(i.memory_trap_sites.len() as u32).to_le_bytes());
        for s in &i.memory_trap_sites {
            payload.extend_from_slice(&s.to_le_bytes());
        }
        let mut out = Vec::with_capacity(payload.len() + 256);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        out.extend_from_slice(&Self::header_fields(&i.engine));
        out.extend_from_slice(blake3::hash(&payload).as_bytes());
        out.extend_from_slice(&payload);
        out
    }

    /// The key under which a compiled artifact of `wasm` may be cached for `engine`: a
    /// blake3 hash of the artifact header fields (engine version, ISA, CPU features,
    /// metering on or off, cost-table and profile hashes) and of the wasm bytes.
    pub fn cache_key(engine: &Engine, wasm: &[u8]) -> [u8; 32] {
        let mut h = blake3::Hasher::new();
        h.update(MAGIC);
        h.update(&FORMAT_VERSION.to_le_bytes());
        h.update(&Self::header_fields(engine));
        h.update(blake3::hash(wasm).as_bytes());
        *h.finalize().as_bytes()
    }

    /// Loads an artifact made by [`Module::serialize`] without recompiling.
    ///
    /// Errors: [`Error::Artifact`] naming the first mismatch: not an artifact, another
    /// format version, engine version, ISA, CPU feature set, metering setting, cost table or
    /// profile, or a
    /// corrupted payload (hash mismatch, truncation).
    ///
    /// # Safety
    ///
    /// The artifact's machine code is executed as is. The header checks and the payload
    /// hash catch mismatches and accidental corruption, not tampering: only load artifacts
    /// that this engine version produced and that were stored where no one else can write
    /// (the node's own cache). Never deserialize bytes received from the network.
    pub unsafe fn deserialize(engine: &Engine, bytes: &[u8]) -> Result<Module, Error> {
        let bad = |m: &str| Error::Artifact(m.to_string());
        let mut r = Reader { b: bytes, at: 0 };
        if r.take(8).ok_or_else(|| bad("truncated header"))? != MAGIC {
            return Err(bad("not a Keel artifact"));
        }
        if r.u32().ok_or_else(|| bad("truncated header"))? != FORMAT_VERSION {
            return Err(bad("artifact format version mismatch"));
        }
        let expect = Self::header_fields(engine);
        let mut er = Reader { b: &expect, at: 0 };
        for what in ["engine version", "target ISA", "CPU features", "metering"] {
            let want = er.string().ok_or_else(|| bad("internal header"))?;
            let got = r.string().ok_or_else(|| bad("truncated header"))?;
            if want != got {
                return Err(Error::Artifact(format!(
                    "{what} mismatch: artifact has {:?}, engine has {:?}",
                    String::from_utf8_lossy(got),
                    String::from_utf8_lossy(want)
                )));
            }
        }
        for what in ["cost table", "profile"] {
            let want = er.take(32).ok_or_else(|| bad("internal header"))?;
            let got = r.take(32).ok_or_else(|| bad("truncated header"))?;
            if want != got {
                return Err(Error::Artifact(format!("{what} hash mismatch")));
            }
        }
        let hash = r.take(32).ok_or_else(|| bad("truncated header"))?;
        let payload = &bytes[r.at..];
        if blake3::hash(payload).as_bytes() != hash {
            return Err(bad("payload hash mismatch (corrupted artifact)"));
        }
        let mut p = Reader { b: payload, at: 0 };
        let trunc = || bad("truncated payload");
        let wl = p.u64().ok_or_else(trunc)? as usize;
        let wasm = p.take(wl).ok_or_else(trunc)?.to_vec();
        let cl = p.u64().ok_or_else(trunc)? as usize;
        let code = p.take(cl).ok_or_else(trunc)?;
        let trampoline = p.u32().ok_or_else(trunc)?;
        let max = p.u64().ok_or_else(trunc)?;
        let n = p.u32().ok_or_else(trunc)? as usize;
        let mut functions = Vec::with_capacity(n.min(1 << 20));
        for _ in 0..n {
            let off = p.u32().ok_or_else(trunc)?;
            if off as usize >= code.len() {
                return Err(bad("function offset outside the code"));
            }
            functions.push(off);
        }
        if trampoline as usize >= code.len() {
            return Err(bad("trampoline offset outside the code"));
        }
        let memory_trap_stub = p.u32().ok_or_else(trunc)?;
        let n = p.u32().ok_or_else(trunc)? as usize;
        let mut memory_trap_sites = Vec::with_capacity(n.min(1 << 20));
        for _ in 0..n {
            let off = p.u32().ok_or_else(trunc)?;
            if off as usize >= code.len() || memory_trap_sites.last().is_some_and(|l| *l >= off) {
                return Err(bad("memory trap site outside the code or out of order"));
            }
            memory_trap_sites.push(off);
        }
        if n > 0 && memory_trap_stub as usize >= code.len() {
            return Err(bad("memory trap stub outside the code"));
        }
        let meta = ModuleMeta::parse(&wasm)?;
        if meta.func_types.len() != meta.imported_funcs as usize + functions.len() {
            return Err(bad("function count mismatch"));
        }
        let layout = CodeLayout { trampoline, functions, memory_trap_sites, memory_trap_stub };
        Module::from_parts(engine, wasm, meta, code, layout, max)
    }
}

struct Reader<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.at.checked_add(n)?;
        let s = self.b.get(self.at..end)?;
        self.at = end;
        Some(s)
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }
    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
    fn string(&mut self) -> Option<&'a [u8]> {
        let n = self.u32()? as usize;
        self.take(n)
    }
}

#[cfg(test)]
mod tests {
    //! `Module::new` reads the module-level sections without the function bodies
    //! (`ModuleMeta::parse_skipping_bodies`): a body that is malformed or does not fit its
    //! section must still fail with the validation error `keel_metering::validate` gives.

    use super::*;
    use crate::engine::Config;

    /// `(module (func))` with its one body's bytes (size, locals, code) replaced.
    fn with_body(body: &[u8]) -> Vec<u8> {
        let mut wasm = b"\0asm\x01\0\0\0".to_vec();
        wasm.extend_from_slice(&[0x01, 0x04, 0x01, 0x60, 0x00, 0x00]); // type section
        wasm.extend_from_slice(&[0x03, 0x02, 0x01, 0x00]); // function section
        wasm.extend_from_slice(&[0x0a, body.len() as u8 + 1, 0x01]); // code section, 1 body
        wasm.extend_from_slice(body);
        wasm
    }

    /// The engine's compile buffers (`CompileBufferPool`) carry capacity, never content,
    /// from one compilation to the next: a module compiles to the same artifact on an
    /// engine that compiled others before it (valid ones of other sizes, and one that
    /// fails validation in its last function, leaving its buffers half used) as on a new
    /// engine, on one thread and on two.
    #[test]
    fn reused_compile_buffers_change_no_artifact() {
        let contracts: [&[u8]; 3] = [
            include_bytes!("../../contracts/wasm/token.wasm"),
            include_bytes!("../../contracts/wasm/c_counter.wasm"),
            include_bytes!("../../contracts/wasm/ed25519_verifier.wasm"),
        ];
        // Forty functions with loops and blocks, the last one ill-typed.
        let mut text = String::from("(module (memory 1)");
        for i in 0..40 {
            text.push_str("(func (param i32) (result i32) (local i64) (block (loop local.get 0 i32.const 1 i32.sub");
            text.push_str(" local.tee 0 i32.load i64.extend_i32_u local.set 1 local.get 0 br_if 0)) local.get 0");
            text.push_str(if i == 39 { " i64.const 1 i32.add)" } else { ")" });
        }
        text.push(')');
        let invalid = wat::parse_str(&text).expect("wat");
        for parallel in [false, true] {
            let config = Config::default().parallel_compilation(parallel);
            let fresh: Vec<Vec<u8>> = contracts
                .iter()
                .map(|w| Module::new(&Engine::new(config.clone()).expect("engine"), w).expect("compiles").serialize())
                .collect();
            let engine = Engine::new(config.clone()).expect("engine");
            for round in 0..2 {
                for (i, w) in contracts.iter().enumerate() {
                    let again = Module::new(&engine, w).expect("compiles").serialize();
                    assert!(again == fresh[i], "parallel {parallel}, round {round}: contract {i} differs");
                }
                let broken = Module::new(&engine, &invalid).map(|_| ());
                assert!(matches!(broken, Err(Error::Validation(_))), "the broken module fails validation");
            }
        }
    }

    /// A dropped module's code mapping serves the next module (`CodePool`), which runs and
    /// traps out of bounds (the fault handler's region moved with it) as from a fresh
    /// mapping; a module a store still holds keeps its mapping.
    #[test]
    fn a_dropped_modules_code_mapping_serves_the_next_one() {
        use crate::{Linker, Store, Trap};
        let engine = Engine::new(Config::default()).expect("engine");
        if !engine.can_execute() {
            return;
        }
        let load = |offset: u32, add: i32| {
            let text = format!(
                "(module (memory 1) (func (export \"f\") (param i32) (result i32) \
                 local.get 0 i32.load offset={offset} i32.const {add} i32.add))"
            );
            wat::parse_str(&text).expect("wat")
        };
        let run = |module: &Module, arg: i32| {
            let mut store = Store::new(&engine, ());
            store.set_gas_limit(1_000_000);
            let instance = Linker::new().instantiate(&mut store, module).expect("instantiates");
            let f = instance.get_typed_func::<(), i32, i32>(&mut store, "f").expect("f");
            f.call(&mut store, arg)
        };
        let first = Module::new(&engine, &load(0, 1)).expect("compiles");
        assert_eq!(run(&first, 0), Ok(1));
        let at = first.inner.code.addr(0);
        drop(first);
        let second = Module::new(&engine, &load(4, 2)).expect("compiles");
        assert_eq!(second.inner.code.addr(0), at, "the mapping is reused");
        assert_eq!(run(&second, 0), Ok(2));
        assert_eq!(run(&second, 65_530), Err(Error::Trap(Trap::MemoryOutOfBounds)));
        // A store holding an instance keeps the module, and its code, alive.
        let mut store = Store::new(&engine, ());
        store.set_gas_limit(1_000_000);
        let instance = Linker::new().instantiate(&mut store, &second).expect("instantiates");
        drop(second);
        let third = Module::new(&engine, &load(8, 3)).expect("compiles");
        assert_ne!(third.inner.code.addr(0), at, "still in use");
        let f = instance.get_typed_func::<(), i32, i32>(&mut store, "f").expect("f");
        assert_eq!(f.call(&mut store, 0), Ok(2));
        assert_eq!(run(&third, 0), Ok(3));
    }

    #[test]
    fn bad_function_bodies_get_the_validation_error() {
        let engine = Engine::new(Config::default()).expect("engine");
        assert!(Module::new(&engine, &with_body(&[0x02, 0x00, 0x0b])).is_ok(), "the unbroken module compiles");
        for body in [
            &[0x02, 0x00, 0xff][..],       // an illegal opcode
            &[0x03, 0x00, 0x41, 0x0b][..], // i32.const without its immediate
            &[0x05, 0x00, 0x0b][..],       // a body longer than the section
            &[0x02, 0x00, 0x01][..],       // no final `end`
        ] {
            let wasm = with_body(body);
            let expected = keel_metering::validate(&wasm, &engine.config().profile).expect_err("invalid module");
            let got = Module::new(&engine, &wasm).map(|_| ());
            assert_eq!(got, Err(Error::Validation(expected)), "body {body:02x?}");
        }
        // A code section that claims to run past the end of the module (by 2 bytes, or
        // by 4 GiB).
        for size in [&[0x06][..], &[0xff, 0xff, 0xff, 0xff, 0x0f][..]] {
            let mut wasm = with_body(&[0x02, 0x00, 0x0b]);
            wasm.truncate(wasm.len() - 5);
            wasm.extend_from_slice(size);
            wasm.extend_from_slice(&[0x01, 0x02, 0x00, 0x0b]);
            let expected = keel_metering::validate(&wasm, &engine.config().profile).expect_err("invalid module");
            let got = Module::new(&engine, &wasm).map(|_| ());
            assert_eq!(got, Err(Error::Validation(expected)), "section size {size:02x?}");
        }
    }
}
