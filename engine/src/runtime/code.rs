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
/// dropped; at most [`StackPool::MAX_POOLED`] wait, each trimmed to its top
/// [`StackPool::KEEP_BYTES`] of resident pages. Reuse never changes results: guest code
/// only reads stack slots it wrote.
#[derive(Debug)]
pub struct StackPool {
    size: usize,
    free: Mutex<Vec<GuestStack>>,
}

impl StackPool {
    /// Stacks kept at most (more are unmapped on return).
    pub const MAX_POOLED: usize = 64;
    /// Resident bytes a pooled stack keeps at its top (the frames every call touches).
    pub const KEEP_BYTES: usize = 64 << 10;

    /// An empty pool of stacks of `size` usable bytes.
    pub fn new(size: usize) -> StackPool {
        StackPool { size, free: Mutex::new(Vec::new()) }
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
        stack.trim(Self::KEEP_BYTES);
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
        let pool = StackPool::new(1 << 20);
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
