//! Executable code memory: written while read-write, then switched to read-execute (W^X),
//! with the instruction cache made coherent where the hardware needs it (aarch64).

use super::sys::Mapping;

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
}
