//! The in-memory structures generated code reads: the store context (gas, stack budget),
//! the per-instance vmctx, memories and function references. All `#[repr(C)]`; the field
//! offsets are the constants below, shared with every ISA's MacroAssembler.

use crate::masm::LibCall;

/// Per-store context, reached through [`VMContext::store_ctx`]. While guest code runs, an
/// ISA may keep `gas` in a register and write it back here before every call that leaves
/// guest code (host functions, runtime helpers) and when guest code returns or traps.
#[repr(C)]
#[derive(Debug)]
pub struct StoreContext {
    /// Remaining gas.
    pub gas: u64,
    /// Deterministic stack slots in use.
    pub stack_used: u64,
    /// Deterministic stack budget, slots.
    pub stack_limit: u64,
    /// Native stack pointer a trap unwinds to (set by the entry trampoline).
    pub trap_sp: u64,
    /// Libcall addresses, indexed by [`LibCall`].
    pub libcalls: [usize; LibCall::COUNT],
}

/// Offset of [`StoreContext::gas`].
pub const SC_GAS: i32 = 0;
/// Offset of [`StoreContext::stack_used`].
pub const SC_STACK_USED: i32 = 8;
/// Offset of [`StoreContext::stack_limit`].
pub const SC_STACK_LIMIT: i32 = 16;
/// Offset of [`StoreContext::trap_sp`].
pub const SC_TRAP_SP: i32 = 24;
/// Offset of [`StoreContext::libcalls`].
pub const SC_LIBCALLS: i32 = 32;

/// Per-instance context, pinned in a register while the instance's code runs.
#[repr(C)]
#[derive(Debug)]
pub struct VMContext {
    /// The store context (same for every instance of a store).
    pub store_ctx: *mut StoreContext,
    /// The non-generic part of the store (`runtime::store::StoreCore`).
    pub store_core: *mut u8,
    /// This instance's index in the store.
    pub instance: usize,
    /// The instance's memory 0 (null when it has none).
    pub memory: *mut VMMemory,
    /// Pointer to an array of pointers to global cells (8 bytes each).
    pub globals: *const *mut u64,
    /// Pointer to an array of imported functions.
    pub imports: *const VMFuncRef,
    /// Pointer to an array of pointers to the instance's tables.
    pub tables: *const *mut VMTable,
    /// Pointer to the engine-wide signature id of each module type index.
    pub type_ids: *const u64,
    /// Copy of memory 0's [`VMMemory::base`] (null when the instance has no memory): what
    /// generated code addresses memory from, one load away from the vmctx register. The
    /// base never moves ([`crate::runtime::memory::LinearMemory`]).
    pub memory_base: *mut u8,
    /// Copy of memory 0's [`VMMemory::len`], bytes: what bounds checks compare against.
    /// `StoreCore::memory_grow` updates it in every instance that uses the memory, the
    /// importers of a shared memory included, so it always equals the memory's length.
    pub memory_len: u64,
    /// Copies of `globals[0..INLINE_GLOBALS]` (null past the instance's globals): generated
    /// code reaches these cells with one load less. A toolchain's shadow-stack pointer is
    /// global 0, read and written by most functions' prologues and epilogues.
    pub inline_globals: [*mut u64; INLINE_GLOBALS],
    /// Copy of [`StoreContext::stack_limit`] (the engine's, the same in every store):
    /// generated code checks a frame against it with one load less.
    pub stack_limit: u64,
    /// The cells of the instance's own (not imported) globals among the first
    /// [`INLINE_GLOBALS`], by global index (an imported one's entry is unused): generated
    /// code reads and writes them with one load or store, no pointer to follow. The store's
    /// handle to such a global points here (as Wasmtime keeps defined globals in its
    /// vmctx), and `globals`/`inline_globals` hold pointers to these entries too.
    pub global_values: [u64; INLINE_GLOBALS],
}

/// How many global cell pointers the vmctx holds inline ([`VMContext::inline_globals`]).
pub const INLINE_GLOBALS: usize = 4;

/// Offset of [`VMContext::store_ctx`].
pub const VM_STORE_CTX: i32 = 0;
/// Offset of [`VMContext::memory`].
pub const VM_MEMORY: i32 = 24;
/// Offset of [`VMContext::globals`].
pub const VM_GLOBALS: i32 = 32;
/// Offset of [`VMContext::imports`].
pub const VM_IMPORTS: i32 = 40;
/// Offset of [`VMContext::tables`].
pub const VM_TABLES: i32 = 48;
/// Offset of [`VMContext::type_ids`].
pub const VM_TYPE_IDS: i32 = 56;
/// Offset of [`VMContext::memory_base`].
pub const VM_MEMORY_BASE: i32 = 64;
/// Offset of [`VMContext::memory_len`].
pub const VM_MEMORY_LEN: i32 = 72;
/// Offset of [`VMContext::inline_globals`].
pub const VM_INLINE_GLOBALS: i32 = 80;
/// Offset of [`VMContext::stack_limit`].
pub const VM_STACK_LIMIT: i32 = VM_INLINE_GLOBALS + 8 * INLINE_GLOBALS as i32;
/// Offset of [`VMContext::global_values`].
pub const VM_GLOBAL_VALUES: i32 = VM_STACK_LIMIT + 8;

/// Where generated code finds global `index` of a module with `imported` imported
/// globals ([`global_access`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GlobalAccess {
    /// The value itself, at this offset in the vmctx ([`VMContext::global_values`]): the
    /// instance's own globals among the first [`INLINE_GLOBALS`].
    Value(i32),
    /// A pointer to the cell, at this offset in the vmctx ([`VMContext::inline_globals`]):
    /// imported globals among the first [`INLINE_GLOBALS`].
    Cell(i32),
    /// A pointer to the cell, at this offset in the array at [`VM_GLOBALS`]: the others.
    Table(i32),
}

/// How generated code reaches global `index` of a module whose first `imported` globals
/// are imported (their cells belong to another instance or to the host, so only a pointer
/// to them can be in this vmctx).
pub fn global_access(index: u32, imported: u32) -> GlobalAccess {
    let i = index as i32;
    if (index as usize) >= INLINE_GLOBALS {
        GlobalAccess::Table(8 * i)
    } else if index >= imported {
        GlobalAccess::Value(VM_GLOBAL_VALUES + 8 * i)
    } else {
        GlobalAccess::Cell(VM_INLINE_GLOBALS + 8 * i)
    }
}

/// A table as generated code sees it (kept in sync with the table's storage).
#[repr(C)]
#[derive(Debug)]
pub struct VMTable {
    /// Address of element 0 (raw 64-bit reference values).
    pub base: *mut u64,
    /// Number of elements.
    pub len: u64,
}

/// Offset of [`VMTable::base`].
pub const TBL_BASE: i32 = 0;
/// Offset of [`VMTable::len`].
pub const TBL_LEN: i32 = 8;

/// A linear memory as generated code sees it.
#[repr(C)]
#[derive(Debug)]
pub struct VMMemory {
    /// Base address of the bytes.
    pub base: *mut u8,
    /// Length in bytes.
    pub len: u64,
}

/// Offset of [`VMMemory::base`].
pub const MEM_BASE: i32 = 0;
/// Offset of [`VMMemory::len`].
pub const MEM_LEN: i32 = 8;

/// A callable function: what `funcref` values point to, and what import slots hold.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct VMFuncRef {
    /// Native code address.
    pub code: usize,
    /// The callee's vmctx (for host functions: its host context).
    pub vmctx: usize,
    /// Engine-wide signature id.
    pub type_id: u64,
    /// Index of the function in its store.
    pub store_func: u64,
}

/// Size of [`VMFuncRef`].
pub const FUNCREF_SIZE: i32 = 32;
/// Offset of [`VMFuncRef::code`].
pub const FUNCREF_CODE: i32 = 0;
/// Offset of [`VMFuncRef::vmctx`].
pub const FUNCREF_VMCTX: i32 = 8;
/// Offset of [`VMFuncRef::type_id`].
pub const FUNCREF_TYPE: i32 = 16;

// The offsets generated code uses must be the fields' real offsets.
const _: () = {
    use std::mem::offset_of;
    assert!(offset_of!(StoreContext, gas) == SC_GAS as usize);
    assert!(offset_of!(StoreContext, stack_used) == SC_STACK_USED as usize);
    assert!(offset_of!(StoreContext, stack_limit) == SC_STACK_LIMIT as usize);
    assert!(offset_of!(StoreContext, trap_sp) == SC_TRAP_SP as usize);
    assert!(offset_of!(StoreContext, libcalls) == SC_LIBCALLS as usize);
    assert!(offset_of!(VMContext, store_ctx) == VM_STORE_CTX as usize);
    assert!(offset_of!(VMContext, memory) == VM_MEMORY as usize);
    assert!(offset_of!(VMContext, globals) == VM_GLOBALS as usize);
    assert!(offset_of!(VMContext, imports) == VM_IMPORTS as usize);
    assert!(offset_of!(VMContext, tables) == VM_TABLES as usize);
    assert!(offset_of!(VMContext, type_ids) == VM_TYPE_IDS as usize);
    assert!(offset_of!(VMContext, memory_base) == VM_MEMORY_BASE as usize);
    assert!(offset_of!(VMContext, memory_len) == VM_MEMORY_LEN as usize);
    assert!(offset_of!(VMContext, inline_globals) == VM_INLINE_GLOBALS as usize);
    assert!(offset_of!(VMContext, stack_limit) == VM_STACK_LIMIT as usize);
    assert!(offset_of!(VMContext, global_values) == VM_GLOBAL_VALUES as usize);
    assert!(offset_of!(VMTable, base) == TBL_BASE as usize);
    assert!(offset_of!(VMTable, len) == TBL_LEN as usize);
    assert!(offset_of!(VMMemory, base) == MEM_BASE as usize);
    assert!(offset_of!(VMMemory, len) == MEM_LEN as usize);
    assert!(std::mem::size_of::<VMFuncRef>() == FUNCREF_SIZE as usize);
    assert!(offset_of!(VMFuncRef, code) == FUNCREF_CODE as usize);
    assert!(offset_of!(VMFuncRef, vmctx) == FUNCREF_VMCTX as usize);
    assert!(offset_of!(VMFuncRef, type_id) == FUNCREF_TYPE as usize);
};
