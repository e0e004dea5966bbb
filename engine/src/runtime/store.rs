//! [`Store`]: host data, gas, the deterministic stack counter and everything instances own
//! (functions, memories, tables, globals), addressed by small copyable handles.

use std::sync::Arc;

use super::code::GuestStack;
use super::memory::{LinearMemory, MAX_WASM32_PAGES};
use super::vmctx::{StoreContext, VMContext, VMFuncRef, VMMemory, VMTable};
use crate::engine::{Engine, NATIVE_BYTES_PER_REENTRY, NATIVE_BYTES_PER_SLOT};
use crate::error::{Error, Trap};
use crate::masm::TrapCode;
use crate::module::{GlobalType, MemoryType, Module, TableType};
use crate::values::{FuncType, Val, ValType};


/// The largest gas limit a store takes ([`Store::set_gas_limit`]): `i64::MAX`. Generated
/// code keeps the counter signed, so that gas subtracted without a check (the charges of
/// blocks that cannot trap, `keel_metering::BlockCharge::pure`) may take it below zero
/// until the next check.
pub const MAX_GAS_LIMIT: u64 = i64::MAX as u64;
/// Whether `[start, start + len)` lies inside `[0, size)`.
fn fits(start: u64, len: u64, size: u64) -> bool {
    start.checked_add(len).is_some_and(|end| end <= size)
}

/// Bytes per wasm page.
pub const PAGE_SIZE: u64 = 65_536;

/// A host function body: gets a [`Caller`], the arguments, and fills the results.
pub type HostFn<T> =
    Arc<dyn Fn(Caller<'_, T>, &[Val], &mut [Val]) -> Result<(), Trap> + Send + Sync + 'static>;

/// A function in a store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Func(pub(crate) usize);
/// A linear memory in a store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Memory(pub(crate) usize);
/// A table in a store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Table(pub(crate) usize);
/// A global in a store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Global(pub(crate) usize);
/// An instance in a store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Instance(pub(crate) usize);

/// Something an import can be satisfied with, or an export is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Extern {
    /// A function.
    Func(Func),
    /// A memory.
    Memory(Memory),
    /// A table.
    Table(Table),
    /// A global.
    Global(Global),
}

#[derive(Debug)]
pub(crate) enum FuncKind {
    Wasm { instance: usize, index: u32 },
    Host { host: usize },
}

pub(crate) struct FuncEntry {
    pub funcref: Box<VMFuncRef>,
    pub ty: FuncType,
    pub kind: FuncKind,
    /// For host functions: `[store pointer, host index]`, what `funcref.vmctx` points to.
    pub _host_ctx: Option<Box<[usize; 2]>>,
}

pub(crate) struct MemoryData {
    pub vm: VMMemory,
    /// The bytes, in a reservation of `max_pages` (they never move; see [`LinearMemory`]).
    pub bytes: LinearMemory,
    pub max_pages: u64,
    pub ty: MemoryType,
}

pub(crate) struct TableData {
    pub elems: Vec<u64>,
    pub ty: TableType,
    /// What generated code reads; updated whenever `elems` may have moved.
    pub vm: Box<VMTable>,
}

impl TableData {
    pub(crate) fn new(elems: Vec<u64>, ty: TableType) -> TableData {
        let mut t = TableData { elems, ty, vm: Box::new(VMTable { base: std::ptr::null_mut(), len: 0 }) };
        t.sync();
        t
    }

    /// Refreshes the generated-code view after a resize.
    pub(crate) fn sync(&mut self) {
        self.vm.base = self.elems.as_mut_ptr();
        self.vm.len = self.elems.len() as u64;
    }
}

pub(crate) struct GlobalData {
    pub cell: GlobalCell,
    pub ty: GlobalType,
}

/// Where a global's 64-bit value lives.
pub(crate) enum GlobalCell {
    /// A cell of its own: globals the host creates, and an instance's own globals past
    /// the first [`crate::runtime::vmctx::INLINE_GLOBALS`].
    Boxed(Box<u64>),
    /// An entry of the defining instance's [`VMContext::global_values`], which generated
    /// code reads without following a pointer. The vmctx is boxed and owned by an
    /// [`InstanceData`] of the same store, and a store drops no instance before itself:
    /// the pointer is valid as long as this cell is reachable.
    Vmctx(std::ptr::NonNull<u64>),
}

impl GlobalCell {
    /// The value's bits.
    pub fn get(&self) -> u64 {
        match self {
            GlobalCell::Boxed(b) => **b,
            // SAFETY: see `GlobalCell::Vmctx`; guest code, the only other writer, is not
            // running while the store is borrowed here.
            GlobalCell::Vmctx(p) => unsafe { p.as_ptr().read() },
        }
    }

    /// Replaces the value's bits.
    pub fn set(&mut self, bits: u64) {
        match self {
            GlobalCell::Boxed(b) => **b = bits,
            // SAFETY: as in `get`.
            GlobalCell::Vmctx(p) => unsafe { p.as_ptr().write(bits) },
        }
    }

    /// The cell's address, for generated code.
    pub fn as_ptr(&mut self) -> *mut u64 {
        match self {
            GlobalCell::Boxed(b) => &mut **b,
            GlobalCell::Vmctx(p) => p.as_ptr(),
        }
    }
}

pub(crate) struct InstanceData {
    pub module: Module,
    pub vmctx: Box<VMContext>,
    /// Store function index of every function index.
    pub funcs: Vec<usize>,
    pub _imports: Box<[VMFuncRef]>,
    pub _global_ptrs: Box<[*mut u64]>,
    pub _table_ptrs: Box<[*mut VMTable]>,
    pub _type_ids: Box<[u64]>,
    pub globals: Vec<usize>,
    pub tables: Vec<usize>,
    pub memory: Option<usize>,
    pub data_dropped: Vec<bool>,
    pub elements: Vec<Vec<u64>>,
}

/// The non-generic part of a store, reached by runtime helpers through the vmctx.
#[doc(hidden)]
pub struct StoreCore {
    pub(crate) engine: Engine,
    pub(crate) ctx: Box<StoreContext>,
    pub(crate) funcs: Vec<FuncEntry>,
    // Boxed: generated code holds pointers to each memory's `VMMemory`.
    #[allow(clippy::vec_box)]
    pub(crate) memories: Vec<Box<MemoryData>>,
    pub(crate) tables: Vec<TableData>,
    pub(crate) globals: Vec<GlobalData>,
    pub(crate) instances: Vec<InstanceData>,
    pub(crate) pending_trap: Option<Trap>,
    guest_stack: Option<GuestStack>,
    depth: u32,
    gas_limit: u64,
}

impl StoreCore {
    /// Charges `gas` (the consensus rule: not enough left = 0 left and `OutOfGas`).
    pub(crate) fn charge(&mut self, gas: u64) -> Result<(), Trap> {
        if self.ctx.gas < gas {
            self.ctx.gas = 0;
            return Err(Trap::OutOfGas);
        }
        self.ctx.gas -= gas;
        Ok(())
    }

    pub(crate) fn instance_memory(&self, inst: usize) -> Option<usize> {
        self.instances.get(inst)?.memory
    }

    pub(crate) fn instance_table(&self, inst: usize, t: usize) -> Result<usize, Trap> {
        self.instances[inst].tables.get(t).copied().ok_or(Trap::TableOutOfBounds)
    }

    pub(crate) fn memory_bytes_mut(&mut self, m: usize) -> &mut [u8] {
        &mut self.memories[m].bytes
    }

    /// Grows memory `m` by `delta` pages; returns the old size, or `None` when the
    /// maximum would be exceeded.
    pub(crate) fn memory_grow(&mut self, m: usize, delta: u64) -> Option<u64> {
        let md = &mut self.memories[m];
        let old = md.bytes.len() as u64 / PAGE_SIZE;
        let new = old.checked_add(delta)?;
        if new > md.max_pages.min(MAX_WASM32_PAGES) {
            return None;
        }
        if delta > 0 {
            // Within the reservation (made for `max_pages` at creation), so this can fail
            // only when the host cannot commit memory. That must not become a result other
            // nodes would not compute (a -1 here would be one): it is an allocation
            // failure, handled as the standard library handles one (abort), as the
            // `Vec`-backed memory did.
            if md.bytes.grow_to(new).is_err() {
                let bytes = (new * PAGE_SIZE) as usize;
                std::alloc::handle_alloc_error(std::alloc::Layout::from_size_align(bytes, 1).unwrap_or(std::alloc::Layout::new::<u8>()));
            }
            md.vm.base = md.bytes.as_mut_ptr();
            md.vm.len = md.bytes.len() as u64;
            let len = md.vm.len;
            // Generated code bounds-checks against each instance's copy of the length.
            for inst in self.instances.iter_mut().filter(|i| i.memory == Some(m)) {
                inst.vmctx.memory_len = len;
            }
        }
        Some(old)
    }

    pub(crate) fn table_grow(&mut self, t: usize, delta: u64, init: u64) -> Option<u64> {
        // A table without a declared maximum may grow to the profile's table limit, as a
        // memory without one may grow to the profile's page limit.
        let profile_max = self.engine.inner.config.profile.limits.max_table_elements;
        let td = &mut self.tables[t];
        let old = td.elems.len() as u64;
        let new = old.checked_add(delta)?;
        let max = td.ty.max.unwrap_or(profile_max).min(super::libcalls::MAX_TABLE_GROW_ELEMENTS);
        if new > max && delta > 0 {
            return None;
        }
        td.elems.resize(new as usize, init);
        td.sync();
        Some(old)
    }

    pub(crate) fn memory_init(&mut self, inst: usize, seg: usize, d: u64, s: u64, n: u64) -> Result<(), Trap> {
        let i = &self.instances[inst];
        let dropped = i.data_dropped.get(seg).copied().unwrap_or(true);
        let data: &[u8] = if dropped { &[] } else { &i.module.inner.meta.data[seg].bytes };
        let m = i.memory.ok_or(Trap::MemoryOutOfBounds)?;
        let mem_len = self.memories[m].bytes.len() as u64;
        if !fits(s, n, data.len() as u64) || !fits(d, n, mem_len) {
            return Err(Trap::MemoryOutOfBounds);
        }
        let src = data[s as usize..(s + n) as usize].to_vec();
        self.memories[m].bytes[d as usize..(d + n) as usize].copy_from_slice(&src);
        Ok(())
    }

    pub(crate) fn table_init(&mut self, inst: usize, t: usize, seg: usize, d: u64, s: u64, n: u64) -> Result<(), Trap> {
        let t = self.instance_table(inst, t)?;
        let items = self.instances[inst].elements.get(seg).cloned().unwrap_or_default();
        let tlen = self.tables[t].elems.len() as u64;
        if !fits(s, n, items.len() as u64) || !fits(d, n, tlen) {
            return Err(Trap::TableOutOfBounds);
        }
        self.tables[t].elems[d as usize..(d + n) as usize]
            .copy_from_slice(&items[s as usize..(s + n) as usize]);
        Ok(())
    }

    /// The funcref value (pointer) of store function `f`.
    pub(crate) fn funcref_ptr(&self, f: usize) -> u64 {
        &*self.funcs[f].funcref as *const VMFuncRef as u64
    }

    /// Converts a host value to its raw bits.
    pub(crate) fn to_raw(&self, v: &Val) -> Result<u64, Error> {
        Ok(match *v {
            Val::I32(x) => u64::from(x as u32),
            Val::I64(x) => x as u64,
            Val::F32(x) => u64::from(x),
            Val::F64(x) => x,
            Val::FuncRef(None) | Val::ExternRef(None) => 0,
            Val::FuncRef(Some(f)) => {
                if f.0 >= self.funcs.len() {
                    return Err(Error::Type("function handle from another store".into()));
                }
                self.funcref_ptr(f.0)
            }
            Val::ExternRef(Some(x)) => u64::from(x) + 1,
        })
    }

    /// Converts raw bits of type `ty` to a host value.
    pub(crate) fn raw_to_val(&self, ty: ValType, raw: u64) -> Val {
        match ty {
            ValType::I32 => Val::I32(raw as u32 as i32),
            ValType::I64 => Val::I64(raw as i64),
            ValType::F32 => Val::F32(raw as u32),
            ValType::F64 => Val::F64(raw),
            ValType::FuncRef if raw == 0 => Val::FuncRef(None),
            ValType::FuncRef => {
                // SAFETY: non-null funcref bits are pointers to VMFuncRefs boxed in this
                // store (only `funcref_ptr` produces them).
                let f = unsafe { &*(raw as *const VMFuncRef) };
                Val::FuncRef(Some(Func(f.store_func as usize)))
            }
            ValType::ExternRef if raw == 0 => Val::ExternRef(None),
            ValType::ExternRef => Val::ExternRef(Some((raw - 1) as u32)),
        }
    }

    fn guest_stack_top(&mut self) -> Result<usize, Error> {
        if self.guest_stack.is_none() {
            self.guest_stack = Some(self.engine.inner.stacks.take().map_err(Error::Engine)?);
        }
        Ok(self.guest_stack.as_ref().map_or(0, |s| s.top()))
    }
}

/// Native stack bytes of one store's guest stack under `config`: room for the whole
/// deterministic budget (`stack_limit × NATIVE_BYTES_PER_SLOT`), host functions
/// (`host_stack_bytes`) and `max_host_reentry + 1` levels of host re-entry.
pub(crate) fn guest_stack_size(cfg: &crate::engine::Config) -> usize {
    (cfg.stack_limit as usize)
        .saturating_mul(NATIVE_BYTES_PER_SLOT)
        .saturating_add(cfg.host_stack_bytes)
        .saturating_add((cfg.max_host_reentry as usize + 1).saturating_mul(NATIVE_BYTES_PER_REENTRY))
}

impl Drop for StoreCore {
    /// Gives the guest stack and the linear memories back to the engine's pools (no guest
    /// code runs now: a store cannot be dropped while `invoke_raw` holds it, and nothing
    /// outside the store keeps pointers into its memories).
    fn drop(&mut self) {
        if let Some(stack) = self.guest_stack.take() {
            self.engine.inner.stacks.give(stack);
        }
        for md in self.memories.drain(..) {
            self.engine.inner.memories.give(md.bytes);
        }
    }
}

/// The store proper: core plus host data and host functions.
#[doc(hidden)]
pub struct StoreInner<T> {
    pub(crate) core: StoreCore,
    pub(crate) data: T,
    pub(crate) hosts: Vec<HostFn<T>>,
}

/// Owns all runtime state of a set of instances: host data `T`, the gas counter, the
/// deterministic stack counter, memories, tables, globals and functions.
///
/// ```
/// use keel_engine::{Engine, Store};
/// let mut store = Store::new(&Engine::default(), ());
/// store.set_gas_limit(1_000);
/// assert_eq!(store.gas_remaining(), 1_000);
/// assert_eq!(store.gas_used(), 0);
/// ```
pub struct Store<T> {
    pub(crate) inner: Box<StoreInner<T>>,
}

impl<T> std::fmt::Debug for Store<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("gas", &self.inner.core.ctx.gas).finish()
    }
}

/// Access to a store from host code: implemented by [`Store`] and [`Caller`].
pub trait AsContextMut<T> {
    /// The store.
    #[doc(hidden)]
    fn as_inner(&mut self) -> &mut StoreInner<T>;
}

impl<T> AsContextMut<T> for Store<T> {
    fn as_inner(&mut self) -> &mut StoreInner<T> {
        &mut self.inner
    }
}

impl<T> Store<T> {
    /// A new store with gas limit 0 (set one with [`Store::set_gas_limit`]).
    pub fn new(engine: &Engine, data: T) -> Store<T> {
        let ctx = Box::new(StoreContext {
            gas: 0,
            stack_used: 0,
            stack_limit: engine.inner.config.stack_limit,
            trap_sp: 0,
            libcalls: super::libcalls::table(),
        });
        Store {
            inner: Box::new(StoreInner {
                core: StoreCore {
                    engine: engine.clone(),
                    ctx,
                    funcs: Vec::new(),
                    memories: Vec::new(),
                    tables: Vec::new(),
                    globals: Vec::new(),
                    instances: Vec::new(),
                    pending_trap: None,
                    guest_stack: None,
                    depth: 0,
                    gas_limit: 0,
                },
                data,
                hosts: Vec::new(),
            }),
        }
    }

    /// The engine.
    pub fn engine(&self) -> &Engine {
        &self.inner.core.engine
    }
    /// Host data.
    pub fn data(&self) -> &T {
        &self.inner.data
    }
    /// Host data, mutably.
    pub fn data_mut(&mut self) -> &mut T {
        &mut self.inner.data
    }
    /// Sets the gas limit: remaining gas becomes `limit`, gas used 0. Limits above
    /// [`MAX_GAS_LIMIT`] (`i64::MAX`) are lowered to it.
    pub fn set_gas_limit(&mut self, limit: u64) {
        // Generated code keeps the counter signed (see `MacroAssembler::charge_gas`).
        let limit = limit.min(MAX_GAS_LIMIT);
        self.inner.core.gas_limit = limit;
        self.inner.core.ctx.gas = limit;
    }
    /// Gas remaining.
    pub fn gas_remaining(&self) -> u64 {
        self.inner.core.ctx.gas
    }
    /// Gas used since the last [`Store::set_gas_limit`].
    pub fn gas_used(&self) -> u64 {
        self.inner.core.gas_limit.saturating_sub(self.inner.core.ctx.gas)
    }
    /// Deterministic stack slots in use (0 between calls).
    pub fn stack_used(&self) -> u64 {
        self.inner.core.ctx.stack_used
    }
    /// Sets the slots already in use by outer frames (cross-contract calls pass theirs).
    pub fn set_stack_used(&mut self, used: u64) {
        self.inner.core.ctx.stack_used = used;
    }

    /// Creates a host function with an untyped closure.
    pub fn func_new(
        &mut self,
        ty: FuncType,
        f: impl Fn(Caller<'_, T>, &[Val], &mut [Val]) -> Result<(), Trap> + Send + Sync + 'static,
    ) -> Func {
        self.inner.new_host_func(ty, Arc::new(f))
    }

    /// Creates a memory of `min` pages that may grow to `max` (or the profile maximum).
    ///
    /// Errors: [`Error::Engine`] when the host refuses the memory's address-space
    /// reservation (its maximum size) or its initial pages.
    pub fn memory_new(&mut self, ty: MemoryType) -> Result<Memory, Error> {
        let max = ty.max.unwrap_or(self.inner.core.engine.inner.config.profile.limits.max_memory_pages);
        Ok(Memory(self.inner.core.new_memory(ty, max)?))
    }
    /// Creates a table filled with `init`.
    pub fn table_new(&mut self, ty: TableType, init: Val) -> Result<Table, Error> {
        let raw = self.inner.core.to_raw(&init)?;
        self.inner.core.tables.push(TableData::new(vec![raw; ty.min as usize], ty));
        Ok(Table(self.inner.core.tables.len() - 1))
    }
    /// Creates a global.
    pub fn global_new(&mut self, ty: GlobalType, init: Val) -> Result<Global, Error> {
        if init.ty() != ty.ty {
            return Err(Error::Type("global initializer type".into()));
        }
        let raw = self.inner.core.to_raw(&init)?;
        self.inner.core.globals.push(GlobalData { cell: GlobalCell::Boxed(Box::new(raw)), ty });
        Ok(Global(self.inner.core.globals.len() - 1))
    }
}

impl StoreCore {
    /// Creates a memory of `ty.min` zero pages in a reservation for `max_pages` (see
    /// [`LinearMemory`]); returns its index. Errors: [`Error::Engine`] when the host refuses
    /// the reservation or the initial pages.
    pub(crate) fn new_memory(&mut self, ty: MemoryType, max_pages: u64) -> Result<usize, Error> {
        // Every memory of an engine reserves at least the profile's maximum, whatever its
        // own maximum (enforced by `memory_grow` from `max_pages`): all reservations have one
        // size, so any pooled memory fits any module, and a module cannot pick a maximum to
        // miss the pool and get cold pages at the price of warm ones.
        let reserve = max_pages.max(self.engine.inner.config.profile.limits.max_memory_pages);
        let mut bytes = self.engine.inner.memories.take(ty.min, reserve).map_err(Error::Engine)?;
        let vm = VMMemory { base: bytes.as_mut_ptr(), len: bytes.len() as u64 };
        self.memories.push(Box::new(MemoryData { vm, bytes, max_pages, ty }));
        Ok(self.memories.len() - 1)
    }
}

impl<T> StoreInner<T> {
    pub(crate) fn new_host_func(&mut self, ty: FuncType, f: HostFn<T>) -> Func {
        let host = self.hosts.len();
        self.hosts.push(f);
        let idx = self.core.funcs.len();
        let ctx = Box::new([self as *mut StoreInner<T> as usize, idx]);
        let funcref = Box::new(VMFuncRef {
            code: super::host::host_shim::<T> as *const () as usize,
            vmctx: &*ctx as *const [usize; 2] as usize,
            type_id: u64::from(self.core.engine.intern(&ty)),
            store_func: idx as u64,
        });
        self.core.funcs.push(FuncEntry { funcref, ty, kind: FuncKind::Host { host }, _host_ctx: Some(ctx) });
        Func(idx)
    }

    /// Calls store function `f` with raw arguments; returns raw results.
    pub(crate) fn invoke_raw(&mut self, f: usize, args: &[u64]) -> Result<Vec<u64>, Trap> {
        let nres = self.core.funcs[f].ty.results.len();
        match self.core.funcs[f].kind {
            FuncKind::Host { host } => {
                let ty = self.core.funcs[f].ty.clone();
                let h = self.hosts[host].clone();
                let vals: Vec<Val> =
                    ty.params.iter().zip(args).map(|(t, r)| self.core.raw_to_val(*t, *r)).collect();
                let mut res: Vec<Val> = ty.results.iter().map(|t| Val::default_for(*t)).collect();
                h(Caller { inner: self, instance: None }, &vals, &mut res)?;
                let mut out = Vec::with_capacity(nres);
                for (v, t) in res.iter().zip(&ty.results) {
                    if v.ty() != *t {
                        return Err(Trap::Host("host function returned a wrong type".into()));
                    }
                    out.push(self.core.to_raw(v).map_err(|e| Trap::Host(e.to_string()))?);
                }
                Ok(out)
            }
            FuncKind::Wasm { instance, index } => {
                let stack_top = if self.core.depth == 0 {
                    self.core.guest_stack_top().map_err(|e| Trap::Host(e.to_string()))?
                } else {
                    if self.core.depth > self.core.engine.inner.config.max_host_reentry {
                        return Err(Trap::StackExhausted);
                    }
                    0
                };
                let inst = &mut self.core.instances[instance];
                let module = inst.module.clone();
                let m = &module.inner;
                let def = (index - m.meta.imported_funcs) as usize;
                // The per-host glue: only code for this host's ISA is ever entered.
                let (Some(code), Some(tramp)) = (m.code.addr(m.functions[def]), m.code.addr(m.trampoline))
                else {
                    return Err(Trap::Host(format!("{} code cannot run on this host", module.isa())));
                };
                let vmctx: *mut VMContext = &mut *inst.vmctx;
                let mut buf = vec![0u64; args.len().max(nres).max(1)];
                buf[..args.len()].copy_from_slice(args);
                let saved_stack = self.core.ctx.stack_used;
                let ctx: *mut StoreContext = &mut *self.core.ctx;
                self.core.depth += 1;
                self.core.pending_trap = None;
                type Tramp = unsafe extern "C" fn(*mut VMContext, usize, *mut u64, *mut StoreContext, usize) -> u32;
                // SAFETY: `tramp` is the entry trampoline of this module's executable code,
                // with exactly this signature; `code` is a compiled function of the same
                // module; `vmctx` and `ctx` point to live structures of this store;
                // `buf` holds at least max(params, results) slots; `stack_top` is the top
                // of this store's guest stack (or 0 when already running on it).
                let rc = unsafe {
                    let f: Tramp = std::mem::transmute::<usize, Tramp>(tramp);
                    f(vmctx, code, buf.as_mut_ptr(), ctx, stack_top)
                };
                self.core.depth -= 1;
                // Generated code may pass the count by value and leave the store's copy as
                // it was when it last called out: every frame is gone now.
                self.core.ctx.stack_used = saved_stack;
                if rc != 0 {
                    let trap = self.core.pending_trap.take().unwrap_or_else(|| {
                        TrapCode::from_u32(rc).map_or(Trap::Host(format!("unknown trap {rc}")), Trap::from_code)
                    });
                    return Err(trap);
                }
                buf.truncate(nres);
                Ok(buf)
            }
        }
    }
}

/// The view of the store a host function gets: host data, the calling instance's memory,
/// gas.
pub struct Caller<'a, T> {
    pub(crate) inner: &'a mut StoreInner<T>,
    pub(crate) instance: Option<usize>,
}

impl<T> std::fmt::Debug for Caller<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Caller").field("instance", &self.instance).finish()
    }
}

impl<T> AsContextMut<T> for Caller<'_, T> {
    fn as_inner(&mut self) -> &mut StoreInner<T> {
        self.inner
    }
}

impl<T> Caller<'_, T> {
    /// Host data.
    pub fn data(&self) -> &T {
        &self.inner.data
    }
    /// Host data, mutably.
    pub fn data_mut(&mut self) -> &mut T {
        &mut self.inner.data
    }
    /// The calling instance (`None` when called directly from the host).
    pub fn instance(&self) -> Option<Instance> {
        self.instance.map(Instance)
    }
    /// Charges `gas`; on failure gas remaining becomes 0 and the returned trap should be
    /// propagated (`?`).
    pub fn consume_gas(&mut self, gas: u64) -> Result<(), Trap> {
        self.inner.core.charge(gas)
    }
    /// Gas remaining.
    pub fn gas_remaining(&self) -> u64 {
        self.inner.core.ctx.gas
    }
    fn memory_index(&self) -> Result<usize, Trap> {
        self.instance
            .and_then(|i| self.inner.core.instances[i].memory)
            .ok_or_else(|| Trap::Host("caller has no memory".into()))
    }
    /// Reads `buf.len()` bytes of the caller's memory at `offset`.
    ///
    /// Errors: [`Trap::MemoryOutOfBounds`] when the range is outside the memory.
    pub fn read_memory(&self, offset: u64, buf: &mut [u8]) -> Result<(), Trap> {
        let m = self.memory_index()?;
        let bytes = &self.inner.core.memories[m].bytes;
        let end = offset.checked_add(buf.len() as u64).ok_or(Trap::MemoryOutOfBounds)?;
        let src = bytes.get(offset as usize..end as usize).ok_or(Trap::MemoryOutOfBounds)?;
        buf.copy_from_slice(src);
        Ok(())
    }
    /// Writes `data` into the caller's memory at `offset`.
    ///
    /// Errors: [`Trap::MemoryOutOfBounds`] when the range is outside the memory.
    pub fn write_memory(&mut self, offset: u64, data: &[u8]) -> Result<(), Trap> {
        let m = self.memory_index()?;
        let bytes = &mut self.inner.core.memories[m].bytes;
        let end = offset.checked_add(data.len() as u64).ok_or(Trap::MemoryOutOfBounds)?;
        let dst = bytes.get_mut(offset as usize..end as usize).ok_or(Trap::MemoryOutOfBounds)?;
        dst.copy_from_slice(data);
        Ok(())
    }
    /// Size of the caller's memory, bytes (0 without memory).
    pub fn memory_size(&self) -> u64 {
        self.memory_index().map_or(0, |m| self.inner.core.memories[m].bytes.len() as u64)
    }
    /// An export of the calling instance.
    pub fn get_export(&self, name: &str) -> Option<Extern> {
        let i = self.instance?;
        Instance(i).export_in(&self.inner.core, name)
    }
}

// SAFETY: every raw pointer inside a store (vmctx fields, host contexts, global cells,
// memory bases, funcref pointers) points into heap allocations owned by this same store
// (or by modules it keeps alive through `Arc`), never into thread-local or stack data; the
// guest stack is a private mapping. Moving the store to another thread moves all of it
// together, and `&mut Store` is needed to run code, so there is no concurrent access.
unsafe impl<T: Send> Send for Store<T> {}
