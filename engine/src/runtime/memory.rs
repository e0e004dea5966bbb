//! Linear memory backed by an address-space reservation.
//!
//! A memory that may grow to `max` pages reserves `max × 64 KiB` of address space up front,
//! inaccessible (`PROT_NONE`); its current size is made readable and writable. Growing
//! makes the next pages accessible in place: nothing is copied, nothing is re-zeroed, and
//! the base address never moves. Committed pages come from the kernel as fresh zero pages
//! and cost physical memory only once touched, so instantiating a module with many initial
//! pages costs two system calls, not a 64 KiB memset per page.
//!
//! Generated code keeps its explicit bounds checks against the current length
//! (`VMMemory::len`); the inaccessible rest of the reservation is a second line of defence,
//! not the mechanism.

use std::ops::{Deref, DerefMut};

use super::store::PAGE_SIZE;
use super::sys::Mapping;

/// The largest memory a 32-bit wasm address can reach, in 64 KiB pages (4 GiB).
pub const MAX_WASM32_PAGES: u64 = 65_536;

/// The bytes of one linear memory: `len()` bytes readable and writable at a fixed base,
/// inside a reservation of its maximum size. `LinearMemory::new(1, 4)` is 64 KiB of zeros
/// that can grow to 256 KiB; `grow_to(3)` then makes it 192 KiB at the same base, the
/// first 64 KiB untouched (see the unit tests below).
#[derive(Debug)]
pub struct LinearMemory {
    /// `None` when the maximum is 0 pages (nothing to reserve).
    map: Option<Mapping>,
    /// Accessible bytes (a multiple of [`PAGE_SIZE`]).
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
        let max_pages = max_pages.max(initial_pages).min(MAX_WASM32_PAGES);
        if max_pages == 0 {
            return Ok(LinearMemory { map: None, len: 0 });
        }
        // At most 2^32 bytes: fits usize on the 64-bit hosts Keel runs on.
        let map = Mapping::reserve((max_pages * PAGE_SIZE) as usize)?;
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
        let new_len = pages.checked_mul(PAGE_SIZE).ok_or("memory size overflows")? as usize;
        if new_len <= self.len {
            return Ok(());
        }
        let map = self.map.as_ref().ok_or("memory has a maximum of 0 pages")?;
        map.commit(self.len, new_len - self.len)?;
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

#[cfg(test)]
mod tests {
    use super::*;

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
        assert!(m.grow_to(5).is_err(), "past the reservation");
        assert_eq!(m.len(), 3 * 65_536);
        m.grow_to(2).unwrap();
        assert_eq!(m.len(), 3 * 65_536, "never shrinks");
    }

    #[test]
    fn zero_maximum_has_no_bytes() {
        let mut m = LinearMemory::new(0, 0).unwrap();
        assert_eq!(m.len(), 0);
        assert!(m.grow_to(1).is_err());
        m.grow_to(0).unwrap();
        assert!(LinearMemory::new(MAX_WASM32_PAGES + 1, 0).is_err());
    }
}
