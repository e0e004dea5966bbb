//! The few operating-system calls the runtime needs (POSIX `mmap` family), declared
//! directly against the C library the standard library already links.

use std::ffi::c_void;

extern "C" {
    fn mmap(addr: *mut c_void, len: usize, prot: i32, flags: i32, fd: i32, off: i64) -> *mut c_void;
    fn munmap(addr: *mut c_void, len: usize) -> i32;
    fn mprotect(addr: *mut c_void, len: usize, prot: i32) -> i32;
}

const PROT_NONE: i32 = 0;
const PROT_READ: i32 = 1;
const PROT_WRITE: i32 = 2;
const PROT_EXEC: i32 = 4;
const MAP_PRIVATE: i32 = 0x02;
#[cfg(target_os = "linux")]
const MAP_ANONYMOUS: i32 = 0x20;
#[cfg(not(target_os = "linux"))]
const MAP_ANONYMOUS: i32 = 0x1000;
const MAP_FAILED: *mut c_void = !0usize as *mut c_void;

/// Page size assumed for protections (4 KiB, the x86-64 and common aarch64 page).
pub const PAGE: usize = 4096;

/// An anonymous private mapping, unmapped on drop.
#[derive(Debug)]
pub struct Mapping {
    ptr: *mut u8,
    len: usize,
}

// SAFETY: the mapping is plain memory owned by this value; nothing is thread-affine.
unsafe impl Send for Mapping {}
// SAFETY: shared access only reads through the pointer (code execution or `as_ptr`).
unsafe impl Sync for Mapping {}

impl Mapping {
    /// Maps `len` bytes (rounded up to pages), readable and writable.
    pub fn new(len: usize) -> Result<Mapping, String> {
        let len = len.max(1).next_multiple_of(PAGE);
        // SAFETY: an anonymous mapping at a kernel-chosen address touches no existing memory.
        let p = unsafe {
            mmap(std::ptr::null_mut(), len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
        };
        if p == MAP_FAILED || p.is_null() {
            return Err(format!("mmap of {len} bytes failed"));
        }
        Ok(Mapping { ptr: p as *mut u8, len })
    }

    /// Start address.
    pub fn as_ptr(&self) -> *mut u8 {
        self.ptr
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Makes `[offset, offset+len)` read+execute (no write): W^X for code.
    pub fn make_executable(&self) -> Result<(), String> {
        // SAFETY: the range is exactly this mapping.
        let rc = unsafe { mprotect(self.ptr as *mut c_void, self.len, PROT_READ | PROT_EXEC) };
        if rc != 0 {
            return Err("mprotect(PROT_READ|PROT_EXEC) failed".into());
        }
        Ok(())
    }

    /// Makes the first `len` bytes inaccessible (a guard region).
    pub fn guard_low(&self, len: usize) -> Result<(), String> {
        let len = len.next_multiple_of(PAGE).min(self.len);
        // SAFETY: the range lies inside this mapping.
        let rc = unsafe { mprotect(self.ptr as *mut c_void, len, PROT_NONE) };
        if rc != 0 {
            return Err("mprotect(PROT_NONE) failed".into());
        }
        Ok(())
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: unmapping exactly the region mapped in `new`; no references outlive self.
        unsafe {
            munmap(self.ptr as *mut c_void, self.len);
        }
    }
}
