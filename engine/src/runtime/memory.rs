//! Linear memory backed by an address-space reservation, recycled through a per-engine pool.
//!
//! A memory that may grow to `max` pages reserves `max × 64 KiB` of address space up front
//! ([`reservation_bytes`]), inaccessible (`PROT_NONE`); its current size is made readable
//! and writable. Where generated code leaves memory accesses to the MMU (x86-64 Linux,
//! `runtime::signals`), every reservation is [`GUARD_RESERVATION`] instead: any 32-bit
//! address plus a static offset below 2 GiB stays inside it, and faults past the length. Growing
//! makes the next pages accessible in place: nothing is copied and the base address never
//! moves. A fresh reservation's pages come from the kernel as zero pages, faulted in on
//! first touch, so instantiating a module with many initial pages costs a system call, not
//! a 64 KiB memset per page.
//!
//! First touches are what fresh memory really costs: about 2 µs per 4 KiB page on the
//! shared VM Keel is calibrated on (`specs/gas.md`, "Calibration"), 20 times a `memset` of
//! memory already resident. So a store's memories are not unmapped when it is dropped:
//! [`MemoryPool`] zeroes the bytes the memory had accessible (every byte a guest could have
//! written) and keeps it, resident, for the next store. A recycled memory is exactly a
//! fresh one: all zero, its initial pages accessible, the rest of the reservation not.
//!
//! On those hosts the inaccessible rest of the reservation is the bounds check of accesses
//! with offsets below 2 GiB. Elsewhere (the aarch64 code generator; larger offsets) code
//! compares with the current length (the instance's copy, `VMContext::memory_len`, which
//! `StoreCore::memory_grow` keeps equal to `VMMemory::len`), and the rest of the
//! reservation is a second line of defence.

use std::sync::Mutex;
use std::ops::{Deref, DerefMut};

use super::signals::{GUARD_RESERVATION, MMU_BOUNDS_CHECKS};
use super::store::PAGE_SIZE;
use super::sys::Mapping;

/// The largest memory a 32-bit wasm address can reach, in 64 KiB pages (4 GiB).
pub const MAX_WASM32_PAGES: u64 = 65_536;

/// Bytes reserved for a memory that may grow to `max_pages`: [`GUARD_RESERVATION`] where
/// the MMU does the bounds checks (even for 0 pages: unchecked accesses must fault), else
/// `max_pages × 64 KiB` (at most 4 GiB).
pub fn reservation_bytes(max_pages: u64) -> usize {
    if MMU_BOUNDS_CHECKS {
        GUARD_RESERVATION
    } else {
        (max_pages.min(MAX_WASM32_PAGES) * PAGE_SIZE) as usize
    }
}

/// The bytes of one linear memory: `len()` bytes readable and writable at a fixed base,
/// inside a reservation of its maximum size. `LinearMemory::new(1, 4)` is 64 KiB of zeros
/// that can grow to 256 KiB; `grow_to(3)` then makes it 192 KiB at the same base, the
/// first 64 KiB untouched (see the unit tests below).
#[derive(Debug)]
pub struct LinearMemory {
    /// `None` when the maximum is 0 pages (nothing to reserve).
    map: Option<Mapping>,
    /// Accessible bytes (a multiple of [`PAGE_SIZE`]); everything past them in the
    /// reservation is `PROT_NONE` and zero.
    len: usize,
}

impl LinearMemory {
    /// A memory of `initial_pages` zero pages that can grow to `max_pages` (both in 64 KiB
    /// pages; `max_pages` is raised to `initial_pages` if lower, and capped at
    /// [`MAX_WASM32_PAGES`]).
    ///
    /// Errors: a description when the initial size exceeds [`MAX_WASM32_PAGES`] or the OS
    /// refuses the reservation or the commit.
    pub fn new(initial_pages: u64, max_pages: u64) -> Result<LinearMemory, String> {
        if initial_pages > MAX_WASM32_PAGES {
            return Err(format!("initial memory of {initial_pages} pages exceeds 4 GiB"));
        }
        let reserved = reservation_bytes(max_pages.max(initial_pages));
        if reserved == 0 {
            return Ok(LinearMemory { map: None, len: 0 });
        }
        let map = Mapping::reserve(reserved)?;
        let len = (initial_pages * PAGE_SIZE) as usize;
        map.commit(0, len)?;
        Ok(LinearMemory { map: Some(map), len })
    }

    /// Makes the memory `pages` long (never shorter): the new pages read as zero; the base
    /// address and existing bytes stay.
    ///
    /// Errors: a description when `pages` exceeds the reservation, or the OS cannot commit
    /// the memory.
    pub fn grow_to(&mut self, pages: u64) -> Result<(), String> {
        if pages > MAX_WASM32_PAGES {
            return Err(format!("{pages} pages exceed 4 GiB"));
        }
        let new_len = pages.checked_mul(PAGE_SIZE).ok_or("memory size overflows")? as usize;
        if new_len <= self.len {
            return Ok(());
        }
        if new_len > self.reserved() {
            return Err(format!("{pages} pages exceed the reservation"));
        }
        let map = self.map.as_ref().ok_or("memory has a maximum of 0 pages")?;
        map.commit(self.len, new_len - self.len)?;
        self.len = new_len;
        Ok(())
    }

    /// Bytes reserved (the most this memory can ever have accessible).
    pub fn reserved(&self) -> usize {
        self.map.as_ref().map_or(0, |m| m.len())
    }

    /// Makes exactly the first `pages` accessible (growing or shrinking; contents are
    /// kept). On an all-zero memory the result is indistinguishable from
    /// `LinearMemory::new(pages, max)`.
    ///
    /// Errors: a description when `pages` exceeds the reservation or the OS refuses a
    /// protection change (the memory must then be dropped, not reused).
    fn set_accessible(&mut self, pages: u64) -> Result<(), String> {
        let new_len = pages.checked_mul(PAGE_SIZE).ok_or("memory size overflows")? as usize;
        if new_len > self.reserved() {
            return Err(format!("{pages} pages exceed the reservation"));
        }
        if let Some(map) = &self.map {
            if new_len < self.len {
                map.decommit(new_len, self.len - new_len)?;
            } else {
                map.commit(self.len, new_len - self.len)?;
            }
        }
        self.len = new_len;
        Ok(())
    }

    /// The base address (dangling but non-null and never dereferenced when the memory has
    /// no reservation; its length is then 0).
    pub fn as_mut_ptr(&mut self) -> *mut u8 {
        self.map.as_ref().map_or(std::ptr::NonNull::dangling().as_ptr(), |m| m.as_ptr())
    }
}

impl Deref for LinearMemory {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match &self.map {
            // SAFETY: the first `len` bytes of the mapping are committed read-write (`new`,
            // `grow_to`) and owned by this value; `&self` excludes writers through it.
            Some(m) => unsafe { std::slice::from_raw_parts(m.as_ptr(), self.len) },
            None => &[],
        }
    }
}

impl DerefMut for LinearMemory {
    fn deref_mut(&mut self) -> &mut [u8] {
        match &self.map {
            // SAFETY: as in `deref`; `&mut self` makes this the only reference into it.
            Some(m) => unsafe { std::slice::from_raw_parts_mut(m.as_ptr(), self.len) },
            None => &mut [],
        }
    }
}

/// Linear memories kept for reuse by the stores of one engine (see the module docs).
///
/// A store takes its memories here ([`MemoryPool::take`]) and gives them back when dropped
/// ([`MemoryPool::give`]). A memory is kept only if at most [`MemoryPool::MAX_RESIDENT`]
/// bytes were accessible (so zeroing it is bounded) and fewer than
/// [`MemoryPool::MAX_POOLED`] wait; otherwise it is unmapped. Reuse never changes results: a
/// recycled memory is all zero, like a fresh one.
#[derive(Debug, Default)]
pub struct MemoryPool {
    free: Mutex<Vec<LinearMemory>>,
}

impl MemoryPool {
    /// Memories kept at most (more are unmapped when given back). With the default profile
    /// (32 MiB memories) this bounds what the pool keeps resident to 1 GiB, reached only if
    /// that many frames each touched their whole maximum.
    pub const MAX_POOLED: usize = 32;
    /// Accessible bytes above which a memory given back is unmapped instead of zeroed and
    /// kept (64 MiB).
    pub const MAX_RESIDENT: usize = 64 << 20;

    /// An empty pool.
    pub fn new() -> MemoryPool {
        MemoryPool::default()
    }

    /// A zeroed memory of `initial_pages` accessible pages in a reservation of `max_pages`
    /// (see [`LinearMemory::new`]): a pooled one with the same reservation if there is one,
    /// else a fresh one.
    ///
    /// Errors: as [`LinearMemory::new`].
    pub fn take(&self, initial_pages: u64, max_pages: u64) -> Result<LinearMemory, String> {
        if initial_pages > MAX_WASM32_PAGES {
            return Err(format!("initial memory of {initial_pages} pages exceeds 4 GiB"));
        }
        let reserved = reservation_bytes(max_pages.max(initial_pages));
        if reserved > 0 {
            let pooled = {
                let mut free = self.free.lock().unwrap_or_else(|e| e.into_inner());
                free.iter().rposition(|m| m.reserved() == reserved).map(|i| free.swap_remove(i))
            };
            if let Some(mut m) = pooled {
                // Pooled memories are all zero (`give`): only the protection changes.
                if m.set_accessible(initial_pages).is_ok() {
                    return Ok(m);
                }
            }
        }
        LinearMemory::new(initial_pages, max_pages)
    }

    /// Takes `memory` back: zeroed and kept, or unmapped (see the type docs).
    pub fn give(&self, mut memory: LinearMemory) {
        if memory.reserved() == 0 || memory.len() > Self::MAX_RESIDENT {
            return;
        }
        if self.free.lock().unwrap_or_else(|e| e.into_inner()).len() >= Self::MAX_POOLED {
            return;
        }
        // Zero outside the lock every byte a guest could have written (everything past
        // `len` is inaccessible and still zero); the next `take` sets the protection.
        memory.fill(0);
        let mut free = self.free.lock().unwrap_or_else(|e| e.into_inner());
        if free.len() < Self::MAX_POOLED {
            free.push(memory);
        }
    }

    /// Memories waiting in the pool.
    #[cfg(test)]
    pub fn pooled(&self) -> usize {
        self.free.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recycled_memory_is_zero_with_the_requested_size() {
        let pool = MemoryPool::new();
        let mut a = pool.take(2, 8).unwrap();
        let base = a.as_mut_ptr();
        a.fill(0xAB);
        a.grow_to(5).unwrap();
        a[4 * 65_536 + 17] = 1;
        pool.give(a);
        assert_eq!(pool.pooled(), 1);
        // Same reservation: the pooled memory comes back, zeroed, at its new initial size.
        let mut b = pool.take(1, 8).unwrap();
        assert_eq!(b.as_mut_ptr(), base, "reused");
        assert_eq!(b.len(), 65_536);
        assert!(b.iter().all(|x| *x == 0));
        b.grow_to(8).unwrap();
        assert!(b.iter().all(|x| *x == 0), "pages past the old size are zero too");
        pool.give(b);
        // Another reservation size (where reservations differ): a fresh memory.
        let mut c = pool.take(1, 4).unwrap();
        if MMU_BOUNDS_CHECKS {
            assert_eq!(c.as_mut_ptr(), base, "every reservation is the guard size");
            pool.give(pool.take(1, 8).unwrap());
        } else {
            assert_ne!(c.as_mut_ptr(), base);
        }
        assert_eq!(pool.pooled(), 1);
        let d = pool.take(3, 8).unwrap();
        assert_eq!(d.len(), 3 * 65_536);
        assert!(d.iter().all(|x| *x == 0));
        assert_eq!(pool.pooled(), 0);
        c[0] = 1;
        pool.give(c);
        pool.give(d);
        assert_eq!(pool.pooled(), 2);
        assert!(pool.take(MAX_WASM32_PAGES + 1, 0).is_err());
    }

    #[test]
    fn grows_in_place_with_zero_pages() {
        let mut m = LinearMemory::new(1, 4).unwrap();
        assert_eq!(m.len(), 65_536);
        assert!(m.iter().all(|b| *b == 0));
        m[65_535] = 7;
        let base = m.as_mut_ptr();
        m.grow_to(3).unwrap();
        assert_eq!(m.len(), 3 * 65_536);
        assert_eq!(m.as_mut_ptr(), base);
        assert_eq!(m[65_535], 7);
        assert!(m[65_536..].iter().all(|b| *b == 0));
        if MMU_BOUNDS_CHECKS {
            assert_eq!(m.reserved(), GUARD_RESERVATION);
            assert!(m.grow_to(MAX_WASM32_PAGES + 1).is_err(), "past 4 GiB");
        } else {
            assert!(m.grow_to(5).is_err(), "past the reservation");
        }
        assert_eq!(m.len(), 3 * 65_536);
        m.grow_to(2).unwrap();
        assert_eq!(m.len(), 3 * 65_536, "never shrinks");
    }

    #[test]
    fn zero_maximum_has_no_bytes() {
        let mut m = LinearMemory::new(0, 0).unwrap();
        assert_eq!(m.len(), 0);
        assert_eq!(m.reserved(), reservation_bytes(0));
        if !MMU_BOUNDS_CHECKS {
            assert!(m.grow_to(1).is_err());
        }
        m.grow_to(0).unwrap();
        assert!(LinearMemory::new(MAX_WASM32_PAGES + 1, 0).is_err());
    }
}
