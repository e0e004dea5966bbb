//! Executable code memory: written while read-write, then switched to read-execute (W^X).

use super::sys::Mapping;

/// A module's machine code, mapped read+execute.
#[derive(Debug)]
pub struct CodeMemory {
    map: Mapping,
    len: usize,
}

impl CodeMemory {
    /// Copies `code` into a fresh mapping and makes it executable (never writable again).
    ///
    /// Errors: a description when the OS refuses the mapping or the protection change.
    pub fn new(code: &[u8]) -> Result<CodeMemory, String> {
        let map = Mapping::new(code.len())?;
        // SAFETY: the mapping is at least `code.len()` bytes, writable, and not shared.
        unsafe {
            std::ptr::copy_nonoverlapping(code.as_ptr(), map.as_ptr(), code.len());
        }
        map.make_executable()?;
        Ok(CodeMemory { map, len: code.len() })
    }

    /// Address of byte `offset`.
    pub fn addr(&self, offset: u32) -> usize {
        self.map.as_ptr() as usize + offset as usize
    }

    /// The code bytes.
    pub fn bytes(&self) -> &[u8] {
        // SAFETY: the first `len` bytes were initialized in `new` and are readable.
        unsafe { std::slice::from_raw_parts(self.map.as_ptr(), self.len) }
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
}
