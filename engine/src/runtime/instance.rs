//! Instantiation (import checks, globals, tables, memory, segments, start) and the methods
//! of the store handles ([`Instance`], [`Func`], [`Memory`], [`Table`], [`Global`]).

use super::store::*;
use super::vmctx::{VMContext, VMFuncRef, VMTable, INLINE_GLOBALS};
use crate::error::{Error, Trap};
use crate::module::{ConstExpr, ElemMode, ExportIndex, ExternType, Module};
use crate::values::{FuncType, Val, ValType};

fn link_err(m: &str, n: &str, why: &str) -> Error {
    Error::Link(format!("import {m}::{n}: {why}"))
}

fn limits_match(have_min: u64, have_max: Option<u64>, want_min: u64, want_max: Option<u64>) -> bool {
    if have_min < want_min {
        return false;
    }
    match (want_max, have_max) {
        (None, _) => true,
        (Some(_), None) => false,
        (Some(w), Some(h)) => h <= w,
    }
}

impl<T> StoreInner<T> {
    /// Instantiates `module` with `imports` (one per module import, in order).
    pub(crate) fn instantiate(&mut self, module: &Module, imports: &[Extern]) -> Result<Instance, Error> {
        let meta = &module.inner.meta;
        if !crate::engine::Engine::same(&module.inner.engine, &self.core.engine) {
            return Err(Error::Link("module was compiled by another engine".into()));
        }
        if !module.inner.code.is_executable() {
            return Err(Error::Engine(format!(
                "module was compiled for {} and cannot run on this {} host (cross-compiled artifact)",
                module.isa(),
                crate::isa::host_name()
            )));
        }
        if imports.len() != meta.imports.len() {
            return Err(Error::Link(format!("expected {} imports, got {}", meta.imports.len(), imports.len())));
        }
        let core = &mut self.core;
        // 1. Type-check imports.
        for (imp, ext) in meta.imports.iter().zip(imports) {
            let (m, n) = (&imp.module, &imp.name);
            match (&imp.ty, ext) {
                (ExternType::Func(ft), Extern::Func(f)) => {
                    let e = core.funcs.get(f.0).ok_or_else(|| link_err(m, n, "unknown function"))?;
                    if &e.ty != ft {
                        return Err(link_err(m, n, "incompatible import type"));
                    }
                }
                (ExternType::Table(tt), Extern::Table(t)) => {
                    let td = core.tables.get(t.0).ok_or_else(|| link_err(m, n, "unknown table"))?;
                    if td.ty.element != tt.element
                        || !limits_match(td.elems.len() as u64, td.ty.max, tt.min, tt.max)
                    {
                        return Err(link_err(m, n, "incompatible import type"));
                    }
                }
                (ExternType::Memory(mt), Extern::Memory(mem)) => {
                    let md = core.memories.get(mem.0).ok_or_else(|| link_err(m, n, "unknown memory"))?;
                    let pages = md.bytes.len() as u64 / PAGE_SIZE;
                    if !limits_match(pages, md.ty.max, mt.min, mt.max) {
                        return Err(link_err(m, n, "incompatible import type"));
                    }
                }
                (ExternType::Global(gt), Extern::Global(g)) => {
                    let gd = core.globals.get(g.0).ok_or_else(|| link_err(m, n, "unknown global"))?;
                    if gd.ty != *gt {
                        return Err(link_err(m, n, "incompatible import type"));
                    }
                }
                _ => return Err(link_err(m, n, "incompatible import type")),
            }
        }

        let inst_idx = core.instances.len();
        let mut vmctx = Box::new(VMContext {
            store_ctx: &mut *core.ctx,
            store_core: core as *mut StoreCore as *mut u8,
            instance: inst_idx,
            memory: std::ptr::null_mut(),
            globals: std::ptr::null(),
            imports: std::ptr::null(),
            tables: std::ptr::null(),
            type_ids: std::ptr::null(),
            memory_base: std::ptr::null_mut(),
            memory_len: 0,
            inline_globals: [std::ptr::null_mut(); INLINE_GLOBALS],
            stack_limit: core.ctx.stack_limit,
            global_values: [0; INLINE_GLOBALS],
        });
        let vmctx_addr = &mut *vmctx as *mut VMContext as usize;

        // 2. Functions: imports, then one store entry per defined function.
        let mut funcs = Vec::with_capacity(meta.func_types.len());
        let mut import_refs = Vec::new();
        let mut globals = Vec::new();
        let mut tables = Vec::new();
        let mut memory = None;
        for ext in imports {
            match *ext {
                Extern::Func(f) => {
                    funcs.push(f.0);
                    import_refs.push(*core.funcs[f.0].funcref);
                }
                Extern::Global(g) => globals.push(g.0),
                Extern::Table(t) => tables.push(t.0),
                Extern::Memory(m) => memory = Some(m.0),
            }
        }
        for (i, off) in module.inner.functions.iter().enumerate() {
            let index = meta.imported_funcs + i as u32;
            let ty_idx = meta.func_types[index as usize] as usize;
            let idx = core.funcs.len();
            core.funcs.push(FuncEntry {
                funcref: Box::new(VMFuncRef {
                    // Checked executable above: `addr` is Some.
                    code: module.inner.code.addr(*off).unwrap_or(0),
                    vmctx: vmctx_addr,
                    type_id: u64::from(module.inner.type_ids[ty_idx]),
                    store_func: idx as u64,
                }),
                ty: meta.types[ty_idx].clone(),
                kind: FuncKind::Wasm { instance: inst_idx, index },
                _host_ctx: None,
            });
            funcs.push(idx);
        }

        // 3. Globals.
        let eval = |core: &StoreCore, globals: &[usize], e: &ConstExpr| -> u64 {
            match *e {
                ConstExpr::Bits(b) => b,
                ConstExpr::Null => 0,
                ConstExpr::RefFunc(f) => funcs.get(f as usize).map_or(0, |sf| core.funcref_ptr(*sf)),
                ConstExpr::Global(g) => globals.get(g as usize).map_or(0, |gi| core.globals[*gi].cell.get()),
            }
        };
        for (i, init) in meta.global_inits.iter().enumerate() {
            let v = eval(core, &globals, init);
            let index = meta.imported_globals as usize + i;
            let ty = meta.globals[index];
            // The first ones live in the vmctx, where generated code reads them directly
            // (`vmctx::global_access`); the vmctx is boxed, so they stay put.
            let cell = match vmctx.global_values.get_mut(index) {
                Some(v_cell) => {
                    *v_cell = v;
                    GlobalCell::Vmctx(std::ptr::NonNull::from(v_cell))
                }
                None => GlobalCell::Boxed(Box::new(v)),
            };
            core.globals.push(GlobalData { cell, ty });
            globals.push(core.globals.len() - 1);
        }
        let global_ptrs: Box<[*mut u64]> = globals.iter().map(|g| core.globals[*g].cell.as_ptr()).collect();

        // 4. Tables and memory.
        for tt in &meta.tables[meta.imported_tables as usize..] {
            core.tables.push(TableData::new(vec![0; tt.min as usize], *tt));
            tables.push(core.tables.len() - 1);
        }
        if let (Some(mt), false) = (meta.memory, meta.memory_imported) {
            memory = Some(core.new_memory(mt, module.inner.memory_max_pages)?);
        }
        let import_refs: Box<[VMFuncRef]> = import_refs.into_boxed_slice();
        vmctx.memory = memory.map_or(std::ptr::null_mut(), |m| &mut core.memories[m].vm as *mut _);
        if let Some(m) = memory {
            vmctx.memory_base = core.memories[m].vm.base;
            vmctx.memory_len = core.memories[m].vm.len;
        }
        vmctx.globals = global_ptrs.as_ptr();
        for (inline, cell) in vmctx.inline_globals.iter_mut().zip(global_ptrs.iter()) {
            *inline = *cell;
        }
        vmctx.imports = import_refs.as_ptr();
        let table_ptrs: Box<[*mut VMTable]> =
            tables.iter().map(|t| &mut *core.tables[*t].vm as *mut VMTable).collect();
        let type_ids: Box<[u64]> = module.inner.type_ids.iter().map(|t| u64::from(*t)).collect();
        vmctx.tables = table_ptrs.as_ptr();
        vmctx.type_ids = type_ids.as_ptr();

        // 5. Element segments, resolved to raw values.
        let elements: Vec<Vec<u64>> = meta
            .elements
            .iter()
            .map(|s| s.items.iter().map(|e| eval(core, &globals, e)).collect())
            .collect();
        let data_dropped = vec![false; meta.data.len()];
        core.instances.push(InstanceData {
            module: module.clone(),
            vmctx,
            funcs,
            _imports: import_refs,
            _global_ptrs: global_ptrs,
            _table_ptrs: table_ptrs,
            _type_ids: type_ids,
            globals,
            tables,
            memory,
            data_dropped,
            elements,
        });

        // 6. Active element segments, then data segments, then start.
        for (i, seg) in meta.elements.iter().enumerate() {
            match &seg.mode {
                ElemMode::Active { table, offset } => {
                    let globals = core.instances[inst_idx].globals.clone();
                    let off = eval_simple(core, &globals, offset) as u32 as u64;
                    let n = seg.items.len() as u64;
                    core.table_init(inst_idx, *table as usize, i, off, 0, n)?;
                    core.instances[inst_idx].elements[i] = Vec::new();
                }
                ElemMode::Declared => core.instances[inst_idx].elements[i] = Vec::new(),
                ElemMode::Passive => {}
            }
        }
        for (i, seg) in meta.data.iter().enumerate() {
            if let Some(offset) = &seg.active {
                let globals = core.instances[inst_idx].globals.clone();
                let off = eval_simple(core, &globals, offset) as u32 as u64;
                core.memory_init(inst_idx, i, off, 0, seg.bytes.len() as u64)?;
                core.instances[inst_idx].data_dropped[i] = true;
            }
        }
        if let Some(start) = meta.start {
            let f = core.instances[inst_idx].funcs[start as usize];
            self.invoke_raw(f, &[])?;
        }
        Ok(Instance(inst_idx))
    }
}

fn eval_simple(core: &StoreCore, globals: &[usize], e: &ConstExpr) -> u64 {
    match *e {
        ConstExpr::Bits(b) => b,
        ConstExpr::Global(g) => globals.get(g as usize).map_or(0, |gi| core.globals[*gi].cell.get()),
        _ => 0,
    }
}

impl Instance {
    pub(crate) fn export_in(&self, core: &StoreCore, name: &str) -> Option<Extern> {
        let inst = core.instances.get(self.0)?;
        let (_, idx) = inst.module.inner.meta.exports.iter().find(|(n, _)| n == name)?;
        Some(match *idx {
            ExportIndex::Func(i) => Extern::Func(Func(*inst.funcs.get(i as usize)?)),
            ExportIndex::Table(i) => Extern::Table(Table(*inst.tables.get(i as usize)?)),
            ExportIndex::Memory(_) => Extern::Memory(Memory(inst.memory?)),
            ExportIndex::Global(i) => Extern::Global(Global(*inst.globals.get(i as usize)?)),
        })
    }

    /// The export called `name`.
    pub fn get_export<T>(&self, store: &mut impl AsContextMut<T>, name: &str) -> Option<Extern> {
        self.export_in(&store.as_inner().core, name)
    }

    /// All exports, in module order.
    pub fn exports<T>(&self, store: &mut impl AsContextMut<T>) -> Vec<(String, Extern)> {
        let core = &store.as_inner().core;
        let Some(inst) = core.instances.get(self.0) else { return Vec::new() };
        inst.module
            .inner
            .meta
            .exports
            .iter()
            .filter_map(|(n, _)| Some((n.clone(), self.export_in(core, n)?)))
            .collect()
    }

    /// The exported function `name`.
    pub fn get_func<T>(&self, store: &mut impl AsContextMut<T>, name: &str) -> Option<Func> {
        match self.get_export(store, name)? {
            Extern::Func(f) => Some(f),
            _ => None,
        }
    }

    /// The exported memory `name`.
    pub fn get_memory<T>(&self, store: &mut impl AsContextMut<T>, name: &str) -> Option<Memory> {
        match self.get_export(store, name)? {
            Extern::Memory(m) => Some(m),
            _ => None,
        }
    }

    /// The exported global `name`.
    pub fn get_global<T>(&self, store: &mut impl AsContextMut<T>, name: &str) -> Option<Global> {
        match self.get_export(store, name)? {
            Extern::Global(g) => Some(g),
            _ => None,
        }
    }

    /// The exported function `name` with a statically checked signature.
    ///
    /// Errors: [`Error::Type`] when there is no such function or its signature differs.
    pub fn get_typed_func<T, P: WasmParams, R: WasmResults>(
        &self,
        store: &mut impl AsContextMut<T>,
        name: &str,
    ) -> Result<TypedFunc<P, R>, Error> {
        let f = self.get_func(store, name).ok_or_else(|| Error::Type(format!("no function export {name}")))?;
        f.typed(store)
    }

    /// The instance's memory 0, if it has one.
    pub fn memory<T>(&self, store: &mut impl AsContextMut<T>) -> Option<Memory> {
        store.as_inner().core.instances.get(self.0)?.memory.map(Memory)
    }

    /// A blake3 hash of the instance's memory bytes and its globals' values (in index
    /// order): a compact fingerprint of its final state, for differential tests.
    pub fn state_hash<T>(&self, store: &mut impl AsContextMut<T>) -> [u8; 32] {
        let core = &store.as_inner().core;
        let mut h = blake3::Hasher::new();
        if let Some(inst) = core.instances.get(self.0) {
            if let Some(m) = inst.memory {
                h.update(&core.memories[m].bytes);
            }
            for g in &inst.globals {
                h.update(&core.globals[*g].cell.get().to_le_bytes());
            }
        }
        *h.finalize().as_bytes()
    }
}

impl Func {
    /// The signature.
    pub fn ty<T>(&self, store: &mut impl AsContextMut<T>) -> FuncType {
        store.as_inner().core.funcs.get(self.0).map(|f| f.ty.clone()).unwrap_or_default()
    }

    /// Calls the function: `params` must match its parameter types and `results` have one
    /// slot per result.
    ///
    /// Errors: [`Error::Trap`] when execution traps (the store stays usable; gas used
    /// stays charged), [`Error::Type`] on argument mismatch.
    pub fn call<T>(&self, store: &mut impl AsContextMut<T>, params: &[Val], results: &mut [Val]) -> Result<(), Error> {
        let inner = store.as_inner();
        let entry = inner.core.funcs.get(self.0).ok_or_else(|| Error::Type("unknown function".into()))?;
        let ty = entry.ty.clone();
        if params.len() != ty.params.len() || params.iter().zip(&ty.params).any(|(v, t)| v.ty() != *t) {
            return Err(Error::Type(format!("arguments do not match {:?}", ty.params)));
        }
        if results.len() != ty.results.len() {
            return Err(Error::Type(format!("expected {} result slots", ty.results.len())));
        }
        let raw: Vec<u64> = params.iter().map(|v| inner.core.to_raw(v)).collect::<Result<_, _>>()?;
        let out = inner.invoke_raw(self.0, &raw)?;
        for ((slot, r), t) in results.iter_mut().zip(out).zip(&ty.results) {
            *slot = inner.core.raw_to_val(*t, r);
        }
        Ok(())
    }

    /// A typed view of the function.
    ///
    /// Errors: [`Error::Type`] when the signature is not `P -> R`.
    pub fn typed<T, P: WasmParams, R: WasmResults>(&self, store: &mut impl AsContextMut<T>) -> Result<TypedFunc<P, R>, Error> {
        let ty = self.ty(store);
        if ty.params != P::types() || ty.results != R::types() {
            return Err(Error::Type(format!("function type is {ty:?}")));
        }
        Ok(TypedFunc { func: *self, _m: std::marker::PhantomData })
    }
}

/// A Rust type that is a wasm value type.
pub trait WasmTy: Sized {
    /// The wasm type.
    fn ty() -> ValType;
    /// To a value.
    fn into_val(self) -> Val;
    /// From a value of type [`WasmTy::ty`].
    fn from_val(v: Val) -> Option<Self>;
}

macro_rules! wasm_ty {
    ($t:ty, $vt:ident, $v:ident, $to:expr, $from:expr) => {
        impl WasmTy for $t {
            fn ty() -> ValType {
                ValType::$vt
            }
            fn into_val(self) -> Val {
                let f: fn($t) -> Val = $to;
                f(self)
            }
            fn from_val(v: Val) -> Option<Self> {
                match v {
                    Val::$v(x) => {
                        let f = $from;
                        Some(f(x))
                    }
                    _ => None,
                }
            }
        }
    };
}
wasm_ty!(i32, I32, I32, |x| Val::I32(x), |x: i32| x);
wasm_ty!(u32, I32, I32, |x| Val::I32(x as i32), |x: i32| x as u32);
wasm_ty!(i64, I64, I64, |x| Val::I64(x), |x: i64| x);
wasm_ty!(u64, I64, I64, |x| Val::I64(x as i64), |x: i64| x as u64);
wasm_ty!(f32, F32, F32, |x| Val::F32(x.to_bits()), |x: u32| f32::from_bits(x));
wasm_ty!(f64, F64, F64, |x| Val::F64(x.to_bits()), |x: u64| f64::from_bits(x));

/// Parameter lists of [`TypedFunc`]: `()`, a single [`WasmTy`], or tuples of them.
pub trait WasmParams {
    /// The wasm types.
    fn types() -> Vec<ValType>;
    /// To values.
    fn into_vals(self) -> Vec<Val>;
}

/// Result lists of [`TypedFunc`]: `()`, a single [`WasmTy`], or tuples of them.
pub trait WasmResults: Sized {
    /// The wasm types.
    fn types() -> Vec<ValType>;
    /// From values of [`WasmResults::types`].
    fn from_vals(v: &[Val]) -> Option<Self>;
}

impl<A: WasmTy> WasmParams for A {
    fn types() -> Vec<ValType> {
        vec![A::ty()]
    }
    fn into_vals(self) -> Vec<Val> {
        vec![self.into_val()]
    }
}

impl<A: WasmTy> WasmResults for A {
    fn types() -> Vec<ValType> {
        vec![A::ty()]
    }
    fn from_vals(v: &[Val]) -> Option<Self> {
        A::from_val(*v.first()?)
    }
}

macro_rules! tuples {
    ($($n:ident $i:tt),*) => {
        impl<$($n: WasmTy),*> WasmParams for ($($n,)*) {
            fn types() -> Vec<ValType> { vec![$($n::ty()),*] }
            #[allow(clippy::unused_unit)]
            fn into_vals(self) -> Vec<Val> { vec![$(self.$i.into_val()),*] }
        }
        impl<$($n: WasmTy),*> WasmResults for ($($n,)*) {
            fn types() -> Vec<ValType> { vec![$($n::ty()),*] }
            #[allow(unused_variables)]
            fn from_vals(v: &[Val]) -> Option<Self> { Some(($($n::from_val(*v.get($i)?)?,)*)) }
        }
    };
}
tuples!();
tuples!(A 0, B 1);
tuples!(A 0, B 1, C 2);
tuples!(A 0, B 1, C 2, D 3);
tuples!(A 0, B 1, C 2, D 3, E 4);
tuples!(A 0, B 1, C 2, D 3, E 4, F 5);
tuples!(A 0, B 1, C 2, D 3, E 4, F 5, G 6);
tuples!(A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7);

/// A function with a statically known signature `P -> R`.
///
/// ```
/// use keel_engine::{Engine, Linker, Module, Store};
/// let engine = Engine::default();
/// let wasm = wat::parse_str(r#"(module (func (export "add") (param i32 i32) (result i32)
///     local.get 0 local.get 1 i32.add))"#).unwrap();
/// let module = Module::new(&engine, &wasm).unwrap();
/// let mut store = Store::new(&engine, ());
/// store.set_gas_limit(1_000);
/// let instance = Linker::new().instantiate(&mut store, &module).unwrap();
/// let add = instance.get_typed_func::<(), (i32, i32), i32>(&mut store, "add").unwrap();
/// assert_eq!(add.call(&mut store, (2, 3)).unwrap(), 5);
/// assert!(store.gas_used() > 0);
/// ```
#[derive(Debug)]
pub struct TypedFunc<P, R> {
    func: Func,
    _m: std::marker::PhantomData<fn(P) -> R>,
}

impl<P, R> Clone for TypedFunc<P, R> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<P, R> Copy for TypedFunc<P, R> {}

impl<P: WasmParams, R: WasmResults> TypedFunc<P, R> {
    /// Calls the function.
    ///
    /// Errors: [`Error::Trap`] when execution traps.
    pub fn call<T>(&self, store: &mut impl AsContextMut<T>, params: P) -> Result<R, Error> {
        let mut res: Vec<Val> = R::types().into_iter().map(Val::default_for).collect();
        self.func.call(store, &params.into_vals(), &mut res)?;
        R::from_vals(&res).ok_or_else(|| Error::Type("result types".into()))
    }
    /// The untyped function.
    pub fn func(&self) -> Func {
        self.func
    }
}

impl Memory {
    /// Size in bytes.
    pub fn data_size<T>(&self, store: &mut impl AsContextMut<T>) -> u64 {
        store.as_inner().core.memories.get(self.0).map_or(0, |m| m.bytes.len() as u64)
    }
    /// Reads bytes at `offset`.
    ///
    /// Errors: [`Trap::MemoryOutOfBounds`] outside the memory.
    pub fn read<T>(&self, store: &mut impl AsContextMut<T>, offset: u64, buf: &mut [u8]) -> Result<(), Trap> {
        let m = store.as_inner().core.memories.get(self.0).ok_or(Trap::MemoryOutOfBounds)?;
        let end = offset.checked_add(buf.len() as u64).ok_or(Trap::MemoryOutOfBounds)?;
        buf.copy_from_slice(m.bytes.get(offset as usize..end as usize).ok_or(Trap::MemoryOutOfBounds)?);
        Ok(())
    }
    /// Writes bytes at `offset`.
    ///
    /// Errors: [`Trap::MemoryOutOfBounds`] outside the memory.
    pub fn write<T>(&self, store: &mut impl AsContextMut<T>, offset: u64, data: &[u8]) -> Result<(), Trap> {
        let m = store.as_inner().core.memories.get_mut(self.0).ok_or(Trap::MemoryOutOfBounds)?;
        let end = offset.checked_add(data.len() as u64).ok_or(Trap::MemoryOutOfBounds)?;
        m.bytes.get_mut(offset as usize..end as usize).ok_or(Trap::MemoryOutOfBounds)?.copy_from_slice(data);
        Ok(())
    }
    /// Grows by `delta` pages; returns the old size in pages, `None` past the maximum.
    pub fn grow<T>(&self, store: &mut impl AsContextMut<T>, delta: u64) -> Option<u64> {
        let core = &mut store.as_inner().core;
        if self.0 >= core.memories.len() {
            return None;
        }
        core.memory_grow(self.0, delta)
    }
}

impl Global {
    /// The current value.
    pub fn get<T>(&self, store: &mut impl AsContextMut<T>) -> Val {
        let core = &store.as_inner().core;
        match core.globals.get(self.0) {
            Some(g) => core.raw_to_val(g.ty.ty, g.cell.get()),
            None => Val::I32(0),
        }
    }
    /// Sets the value.
    ///
    /// Errors: [`Error::Type`] when immutable or of another type.
    pub fn set<T>(&self, store: &mut impl AsContextMut<T>, v: Val) -> Result<(), Error> {
        let core = &mut store.as_inner().core;
        let raw = core.to_raw(&v)?;
        let g = core.globals.get_mut(self.0).ok_or_else(|| Error::Type("unknown global".into()))?;
        if !g.ty.mutable || g.ty.ty != v.ty() {
            return Err(Error::Type("global is immutable or of another type".into()));
        }
        g.cell.set(raw);
        Ok(())
    }
}

impl Table {
    /// Number of elements.
    pub fn size<T>(&self, store: &mut impl AsContextMut<T>) -> u64 {
        store.as_inner().core.tables.get(self.0).map_or(0, |t| t.elems.len() as u64)
    }
    /// Element `i`.
    pub fn get<T>(&self, store: &mut impl AsContextMut<T>, i: u64) -> Option<Val> {
        let core = &store.as_inner().core;
        let t = core.tables.get(self.0)?;
        let raw = *t.elems.get(i as usize)?;
        Some(core.raw_to_val(t.ty.element, raw))
    }
}
