//! The few operating-system calls the runtime needs (POSIX `mmap` family), declared
//! directly against the C library the standard library already links, and the per-host
//! details of making freshly written code executable:
//!
//! * everywhere: code is written into a read-write mapping that is then switched to
//!   read-execute (W^X);
//! * aarch64: the instruction cache is not coherent with data writes, so every written
//!   line is cleaned to the point of unification (`dc cvau`) and invalidated in the
//!   instruction cache (`ic ivau`), with the barriers the Arm ARM prescribes (B2.4.4);
//! * macOS on Apple silicon: code pages must be mapped with `MAP_JIT`; writes are enabled
//!   per thread with `pthread_jit_write_protect_np(0)` and the region is made executable
//!   again with `pthread_jit_write_protect_np(1)`, then `sys_icache_invalidate`.

use std::ffi::c_void;

extern "C" {
    fn mmap(addr: *mut c_void, len: usize, prot: i32, flags: i32, fd: i32, off: i64) -> *mut c_void;
    fn munmap(addr: *mut c_void, len: usize) -> i32;
    fn mprotect(addr: *mut c_void, len: usize, prot: i32) -> i32;
    fn madvise(addr: *mut c_void, len: usize, advice: i32) -> i32;
}

#[cfg(all(target_os = "macos", target_arch = "aarch64"))]
extern "C" {
    fn pthread_jit_write_protect_np(enabled: i32);
    fn sys_icache_invalidate(start: *mut c_void, len: usize);
}

/// Cleans the data cache and invalidates the instruction cache over `[start, start+len)`
/// so that code just written there is what the CPU fetches (Arm ARM B2.4.4; the same
/// sequence as compiler-rt's `__clear_cache`). Line sizes come from `CTR_EL0`, which
/// Linux lets user space read; its IDC/DIC bits say when a step is unnecessary.
#[cfg(all(target_arch = "aarch64", not(target_os = "macos")))]
fn flush_icache(start: usize, len: usize) {
    let ctr: u64;
    // SAFETY: reading CTR_EL0 has no side effects and is permitted at EL0 on Linux.
    unsafe { std::arch::asm!("mrs {}, ctr_el0", out(reg) ctr, options(nomem, nostack)) };
    let end = start + len;
    let dline = 4usize << ((ctr >> 16) & 0xf);
    let iline = 4usize << (ctr & 0xf);
    if ctr & (1 << 28) == 0 {
        let mut p = start & !(dline - 1);
        while p < end {
            // SAFETY: `p` lies in (or at the line start of) a mapping we own; cleaning a
            // cache line does not change memory contents.
            unsafe { std::arch::asm!("dc cvau, {}", in(reg) p, options(nostack)) };
            p += dline;
        }
    }
    // SAFETY: barriers only order memory effects.
    unsafe { std::arch::asm!("dsb ish", options(nostack)) };
    if ctr & (1 << 29) == 0 {
        let mut p = start & !(iline - 1);
        while p < end {
            // SAFETY: invalidating instruction-cache lines never changes memory contents.
            unsafe { std::arch::asm!("ic ivau, {}", in(reg) p, options(nostack)) };
            p += iline;
        }
        // SAFETY: barriers only order memory effects.
        unsafe { std::arch::asm!("dsb ish", options(nostack)) };
    }
    // SAFETY: an instruction barrier only flushes this core's pipeline.
    unsafe { std::arch::asm!("isb", options(nostack)) };
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
#[cfg(target_os = "linux")]
const MAP_NORESERVE: i32 = 0x4000;
#[cfg(not(target_os = "linux"))]
const MAP_NORESERVE: i32 = 0x40;
/// `MADV_DONTNEED` (4 on Linux and macOS). On Linux, private anonymous pages read as zero
/// afterwards; elsewhere their contents are unspecified.
const MADV_DONTNEED: i32 = 4;
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
        Self::anonymous(len, PROT_READ | PROT_WRITE, 0, "mmap")
    }

    /// A private anonymous mapping of `len` bytes (rounded up to pages) with protection
    /// `prot` and extra `flags`; errors name `what` and the size.
    fn anonymous(len: usize, prot: i32, flags: i32, what: &str) -> Result<Mapping, String> {
        let len = len.max(1).next_multiple_of(PAGE);
        // SAFETY: an anonymous mapping at a kernel-chosen address touches no existing memory.
        let p = unsafe { mmap(std::ptr::null_mut(), len, prot, MAP_PRIVATE | MAP_ANONYMOUS | flags, -1, 0) };
        if p == MAP_FAILED || p.is_null() {
            return Err(format!("{what} of {len} bytes failed"));
        }
        Ok(Mapping { ptr: p as *mut u8, len })
    }

    /// Reserves `len` bytes (rounded up to pages) of address space, inaccessible
    /// (`PROT_NONE`, `MAP_NORESERVE`): no memory is committed until a range is made
    /// accessible with [`Mapping::commit`], and committed pages read as zero until written
    /// (fresh anonymous pages from the kernel).
    ///
    /// Errors: a description when the OS refuses the reservation.
    pub fn reserve(len: usize) -> Result<Mapping, String> {
        Self::anonymous(len, PROT_NONE, MAP_NORESERVE, "reserving address space")
    }

    /// Makes `[offset, offset + len)` readable and writable. Both must be multiples of
    /// [`PAGE`] and the range must lie inside the mapping.
    ///
    /// Errors: a description when the range is invalid or the OS cannot commit the memory.
    pub fn commit(&self, offset: usize, len: usize) -> Result<(), String> {
        let in_range = offset.checked_add(len).is_some_and(|end| end <= self.len);
        if !in_range || offset % PAGE != 0 || len % PAGE != 0 {
            return Err(format!("commit of [{offset}, +{len}) outside a {}-byte mapping", self.len));
        }
        if len == 0 {
            return Ok(());
        }
        // SAFETY: the page-aligned range lies inside this mapping (checked above).
        let rc = unsafe { mprotect(self.ptr.add(offset) as *mut c_void, len, PROT_READ | PROT_WRITE) };
        if rc != 0 {
            return Err(format!("mprotect(PROT_READ|PROT_WRITE) of {len} bytes failed"));
        }
        Ok(())
    }

    /// Makes `[offset, offset + len)` inaccessible again (`PROT_NONE`; its contents are
    /// kept). Both must be multiples of [`PAGE`] and the range must lie inside the mapping.
    ///
    /// Errors: a description when the range is invalid or the OS refuses.
    pub fn decommit(&self, offset: usize, len: usize) -> Result<(), String> {
        let in_range = offset.checked_add(len).is_some_and(|end| end <= self.len);
        if !in_range || offset % PAGE != 0 || len % PAGE != 0 {
            return Err(format!("decommit of [{offset}, +{len}) outside a {}-byte mapping", self.len));
        }
        if len == 0 {
            return Ok(());
        }
        // SAFETY: the page-aligned range lies inside this mapping (checked above); callers
        // hold no reference into it (they own the mapping mutably).
        let rc = unsafe { mprotect(self.ptr.add(offset) as *mut c_void, len, PROT_NONE) };
        if rc != 0 {
            return Err(format!("mprotect(PROT_NONE) of {len} bytes failed"));
        }
        Ok(())
    }

    /// Gives the physical pages of `[offset, offset + len)` back to the OS (the range stays
    /// mapped with its protection; on Linux it reads as zero afterwards). Both must be
    /// multiples of [`PAGE`] inside the mapping; anything else is ignored (returns `false`).
    pub fn discard(&self, offset: usize, len: usize) -> bool {
        let in_range = offset.checked_add(len).is_some_and(|end| end <= self.len);
        if !in_range || offset % PAGE != 0 || len % PAGE != 0 || len == 0 {
            return false;
        }
        // SAFETY: the page-aligned range lies inside this mapping; dropping its pages
        // invalidates no Rust reference (callers own the whole mapping mutably or only
        // hand out raw pointers into it while code runs, never across this call).
        unsafe { madvise(self.ptr.add(offset) as *mut c_void, len, MADV_DONTNEED) == 0 }
    }

    /// Maps `len` bytes (rounded up to pages) for machine code: like [`Mapping::new`], or
    /// with `MAP_JIT` on macOS/aarch64 (where it is required for executable pages).
    pub fn new_code(len: usize) -> Result<Mapping, String> {
        #[cfg(all(target_os = "macos", target_arch = "aarch64"))]
        {
            const MAP_JIT: i32 = 0x800;
            Self::anonymous(len, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_JIT, "mmap(MAP_JIT)")
        }
        #[cfg(target_os = "linux")]
        {
            // The code is written right away, every page of it: populating the mapping up
            // front replaces one page fault per 4 KiB with one system call.
            const MAP_POPULATE: i32 = 0x8000;
            Self::anonymous(len, PROT_READ | PROT_WRITE, MAP_POPULATE, "mmap of code")
        }
        #[cfg(not(any(target_os = "linux", all(target_os = "macos", target_arch = "aarch64"))))]
        {
            Mapping::new(len)
        }
    }

    /// Copies `code` to the start of this (code) mapping and makes the instruction cache
    /// coherent with it. Errors when `code` is longer than the mapping.
    pub fn write_code(&self, code: &[u8]) -> Result<(), String> {
        if code.len() > self.len {
            return Err("code larger than its mapping".into());
        }
        #[cfg(all(target_os = "macos", target_arch = "aarch64"))]
        // SAFETY: the mapping is a MAP_JIT region of at least `code.len()` bytes owned by
        // this value; write protection is lifted for this thread only while copying.
        unsafe {
            pthread_jit_write_protect_np(0);
            std::ptr::copy_nonoverlapping(code.as_ptr(), self.ptr, code.len());
            pthread_jit_write_protect_np(1);
            sys_icache_invalidate(self.ptr as *mut c_void, code.len());
        }
        #[cfg(not(all(target_os = "macos", target_arch = "aarch64")))]
        {
            // SAFETY: the mapping is at least `code.len()` bytes, writable, and not shared.
            unsafe {
                std::ptr::copy_nonoverlapping(code.as_ptr(), self.ptr, code.len());
            }
            #[cfg(target_arch = "aarch64")]
            flush_icache(self.ptr as usize, code.len());
        }
        Ok(())
    }

    /// Start address.
    pub fn as_ptr(&self) -> *mut u8 {
        self.ptr
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Makes the mapping read+execute (no write): W^X for code. (On macOS/aarch64 the
    /// `MAP_JIT` region is already execute-only for this thread after
    /// [`Mapping::write_code`]; nothing to do.)
    pub fn make_executable(&self) -> Result<(), String> {
        if cfg!(all(target_os = "macos", target_arch = "aarch64")) {
            return Ok(());
        }
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
