//! Executable code memory: written while read-write, then switched to read-execute (W^X),
//! with the instruction cache made coherent where the hardware needs it (aarch64); and the
//! native stacks guest code runs on, pooled per engine.

use std::sync::Mutex;

use super::sys::{Mapping, PAGE};

/// A module's machine code: mapped read+execute when it targets this host, or kept as
/// plain bytes (never executable) when it was cross-compiled for another ISA.
#[derive(Debug)]
pub struct CodeMemory {
    storage: Storage,
    len: usize,
}

#[derive(Debug)]
enum Storage {
    Executable(Mapping),
    Inert(Vec<u8>),
}

impl CodeMemory {
    /// Copies `code` into a fresh mapping and makes it executable (never writable again).
    ///
    /// Errors: a description when the OS refuses the mapping or the protection change.
    pub fn new(code: &[u8]) -> Result<CodeMemory, String> {
        let map = Mapping::new_code(code.len())?;
        map.write_code(code)?;
        map.make_executable()?;
        Ok(CodeMemory { storage: Storage::Executable(map), len: code.len() })
    }

    /// As [`CodeMemory::new`], in a mapping a dropped module gave back to `pool` when one
    /// fits (made writable again, written, its tail zeroed, made executable): no mapping
    /// to create, no fresh pages to fault in, none to unmap later. Else a fresh mapping.
    ///
    /// Errors: as [`CodeMemory::new`].
    pub fn new_pooled(code: &[u8], pool: &CodePool) -> Result<CodeMemory, String> {
        let Some(map) = pool.take(code.len()) else {
            return CodeMemory::new(code);
        };
        map.commit(0, map.len())?;
        map.write_code(code)?;
        // The previous module's code past this one's: zero, as a fresh mapping would be.
        // SAFETY: `take` returned a mapping of at least `code.len()` bytes, read-write now,
        // owned by this value alone (its module was dropped before it went back to the pool).
        unsafe { std::ptr::write_bytes(map.as_ptr().add(code.len()), 0, map.len() - code.len()) };
        map.make_executable()?;
        Ok(CodeMemory { storage: Storage::Executable(map), len: code.len() })
    }

    /// The executable mapping, for [`CodePool::give`] once nothing can run this code any
    /// more; this value keeps no code. `None` for inert code.
    pub(crate) fn release(&mut self) -> Option<Mapping> {
        let storage = std::mem::replace(&mut self.storage, Storage::Inert(Vec::new()));
        self.len = 0;
        match storage {
            Storage::Executable(map) => Some(map),
            Storage::Inert(_) => None,
        }
    }

    /// Keeps cross-compiled `code` as data: it can be serialized and inspected, never run.
    pub fn inert(code: &[u8]) -> CodeMemory {
        CodeMemory { storage: Storage::Inert(code.to_vec()), len: code.len() }
    }

    /// Whether the code is mapped executable (it targets this host).
    pub fn is_executable(&self) -> bool {
        matches!(self.storage, Storage::Executable(_))
    }

    /// Address of byte `offset`, or `None` when the code is not executable here.
    pub fn addr(&self, offset: u32) -> Option<usize> {
        match &self.storage {
            Storage::Executable(map) => Some(map.as_ptr() as usize + offset as usize),
            Storage::Inert(_) => None,
        }
    }

    /// The code bytes.
    pub fn bytes(&self) -> &[u8] {
        match &self.storage {
            // SAFETY: the first `len` bytes were initialized in `new` and are readable.
            Storage::Executable(map) => unsafe { std::slice::from_raw_parts(map.as_ptr(), self.len) },
            Storage::Inert(v) => v,
        }
    }
}

/// Code mappings of dropped modules, kept by an engine for its next modules' code
/// ([`CodeMemory::new_pooled`]): creating, populating and unmapping a code mapping were
/// about a tenth of a contract's compile time (system calls and fresh pages). At most
/// [`CodePool::MAX_POOLED`] mappings wait, none larger than [`CodePool::MAX_BYTES`]; they
/// stay read+execute while they wait. Reuse never changes results: a module's code is
/// written whole, the rest of the mapping zeroed, before it runs. Not used where code
/// mappings are `MAP_JIT` (macOS on aarch64), whose protection works differently.
#[derive(Debug, Default)]
pub struct CodePool {
    free: Mutex<Vec<Mapping>>,
}

impl CodePool {
    /// Mappings kept at most (more are unmapped on return).
    pub const MAX_POOLED: usize = 8;
    /// Largest mapping kept, bytes.
    pub const MAX_BYTES: usize = 2 << 20;
    /// Whether mappings are pooled at all: not where they are `MAP_JIT`.
    const POOLING: bool = !cfg!(all(target_os = "macos", target_arch = "aarch64"));

    /// A kept mapping that holds `len` bytes, at most twice the pages they need; `None`
    /// when there is none.
    fn take(&self, len: usize) -> Option<Mapping> {
        if !Self::POOLING {
            return None;
        }
        let need = len.max(1).next_multiple_of(PAGE);
        let mut free = self.free.lock().unwrap_or_else(|e| e.into_inner());
        let i = free.iter().position(|m| m.len() >= need && m.len() <= 2 * need)?;
        Some(free.swap_remove(i))
    }

    /// Keeps `map` (code no module can run any more: its module was dropped and its trap
    /// region unregistered) for a later module, or unmaps it when the pool is full or it
    /// is larger than [`CodePool::MAX_BYTES`].
    pub(crate) fn give(&self, map: Mapping) {
        if map.len() > Self::MAX_BYTES || !Self::POOLING {
            return;
        }
        let mut free = self.free.lock().unwrap_or_else(|e| e.into_inner());
        if free.len() < Self::MAX_POOLED {
            free.push(map);
        }
    }
}

/// A native stack for guest code: a mapping whose lowest page is a guard.
#[derive(Debug)]
pub struct GuestStack {
    map: Mapping,
}

impl GuestStack {
    /// A stack of `size` usable bytes plus a guard page.
    pub fn new(size: usize) -> Result<GuestStack, String> {
        let map = Mapping::new(size + super::sys::PAGE)?;
        map.guard_low(super::sys::PAGE)?;
        Ok(GuestStack { map })
    }

    /// The initial stack pointer (16-byte aligned top).
    pub fn top(&self) -> usize {
        (self.map.as_ptr() as usize + self.map.len()) & !15
    }

    /// Usable bytes (without the guard page).
    pub fn size(&self) -> usize {
        self.map.len() - PAGE
    }

    /// Returns the physical pages below the top `keep` bytes to the OS (the address range
    /// stays mapped): a deep recursion's pages do not stay resident while the stack waits in
    /// a pool.
    fn trim(&self, keep: usize) {
        let keep = keep.next_multiple_of(PAGE).min(self.size());
        let _ = self.map.discard(PAGE, self.size() - keep);
    }
}

/// Guest stacks of one size kept for reuse, so that a store's first call does not map a
/// fresh stack (tens of MiB of address space, a guard page, page faults) and its drop does
/// not unmap it. A store takes a stack on its first call into wasm and gives it back when
/// dropped; at most [`StackPool::MAX_POOLED`] wait, each trimmed to its top `keep` bytes of
/// resident pages ([`StackPool::new`]). Reuse never changes results: guest code
/// only reads stack slots it wrote.
#[derive(Debug)]
pub struct StackPool {
    size: usize,
    keep: usize,
    free: Mutex<Vec<GuestStack>>,
}

impl StackPool {
    /// Stacks kept at most (more are unmapped on return).
    pub const MAX_POOLED: usize = 64;

    /// An empty pool of stacks of `size` usable bytes, each keeping its top `keep` bytes
    /// resident while it waits (the rest is given back to the OS). `keep` should cover
    /// what guest frames within the deterministic budget can touch, so that a deep
    /// recursion does not fault fresh pages in every frame: first touches of fresh pages
    /// are the expensive part of a stack (see `memory.rs`).
    pub fn new(size: usize, keep: usize) -> StackPool {
        StackPool { size, keep, free: Mutex::new(Vec::new()) }
    }

    /// Usable bytes of each stack.
    pub fn stack_size(&self) -> usize {
        self.size
    }

    /// A stack from the pool, or a fresh one. Errors: a description when the OS refuses
    /// the mapping.
    pub fn take(&self) -> Result<GuestStack, String> {
        let pooled = self.free.lock().unwrap_or_else(|e| e.into_inner()).pop();
        match pooled {
            Some(s) => Ok(s),
            None => GuestStack::new(self.size),
        }
    }

    /// Gives `stack` back (trimmed), or unmaps it when the pool is full or its size differs.
    pub fn give(&self, stack: GuestStack) {
        if stack.size() != self.size.next_multiple_of(PAGE) {
            return;
        }
        stack.trim(self.keep);
        let mut free = self.free.lock().unwrap_or_else(|e| e.into_inner());
        if free.len() < Self::MAX_POOLED {
            free.push(stack);
        }
    }

    /// Stacks waiting in the pool.
    pub fn pooled(&self) -> usize {
        self.free.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_reuses_stacks() {
        let pool = StackPool::new(1 << 20, 64 << 10);
        let a = pool.take().unwrap();
        let top = a.top();
        assert_eq!(a.size(), 1 << 20);
        // SAFETY: the byte just below the top lies in the stack's writable range.
        unsafe { *((top - 8) as *mut u64) = 42 };
        pool.give(a);
        assert_eq!(pool.pooled(), 1);
        let b = pool.take().unwrap();
        assert_eq!(b.top(), top, "the pooled stack comes back");
        assert_eq!(pool.pooled(), 0);
        let c = pool.take().unwrap();
        assert_ne!(c.top(), top, "an empty pool maps a fresh stack");
        pool.give(b);
        pool.give(c);
        assert_eq!(pool.pooled(), 2);
        pool.give(GuestStack::new(1 << 16).unwrap());
        assert_eq!(pool.pooled(), 2, "a stack of another size is not pooled");
    }
}
