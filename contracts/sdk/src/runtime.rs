//! The wasm32 runtime: global allocator and panic handler.

use core::alloc::{GlobalAlloc, Layout};
use core::arch::wasm32;
use core::cell::Cell;

const PAGE: usize = 65_536;

extern "C" {
    /// First byte after the stack and static data, defined by wasm-ld.
    static __heap_base: u8;
}

/// A bump allocator: allocation moves a pointer forward, growing memory page by page.
/// Freeing (or resizing) the most recent block gives its bytes back; other frees are no-ops,
/// which suits contracts (a fresh instance per call, short runs).
struct Bump {
    next: Cell<usize>,
    end: Cell<usize>,
}

// SAFETY: wasm32v1-none has no threads; the allocator is only ever used from one thread.
unsafe impl Sync for Bump {}

#[global_allocator]
static ALLOC: Bump = Bump { next: Cell::new(0), end: Cell::new(0) };

impl Bump {
    /// Makes memory reach `end` bytes; false if memory cannot grow that far.
    fn reserve(&self, end: usize) -> bool {
        if self.next.get() == 0 {
            // Only the address of the linker symbol is taken, never its value.
            let base = core::ptr::addr_of!(__heap_base) as usize;
            self.next.set(base);
            self.end.set(wasm32::memory_size(0) * PAGE);
        }
        if end <= self.end.get() {
            return true;
        }
        let pages = (end - self.end.get()).div_ceil(PAGE);
        if wasm32::memory_grow(0, pages) == usize::MAX {
            return false;
        }
        self.end.set(self.end.get() + pages * PAGE);
        true
    }

    fn start(&self) {
        if self.next.get() == 0 {
            self.reserve(0);
        }
    }
}

// SAFETY: returned blocks are aligned, disjoint, inside memory, and never handed out twice
// while live: `next` only moves back over the most recent block when it is freed.
unsafe impl GlobalAlloc for Bump {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        self.start();
        let align = layout.align();
        let Some(start) = self.next.get().checked_add(align - 1).map(|n| n & !(align - 1)) else {
            return core::ptr::null_mut();
        };
        let Some(end) = start.checked_add(layout.size()) else { return core::ptr::null_mut() };
        if !self.reserve(end) {
            return core::ptr::null_mut();
        }
        self.next.set(end);
        start as *mut u8
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if ptr as usize + layout.size() == self.next.get() {
            self.next.set(ptr as usize);
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let addr = ptr as usize;
        if addr + layout.size() == self.next.get() {
            // The most recent block: resize in place.
            let Some(end) = addr.checked_add(new_size) else { return core::ptr::null_mut() };
            if !self.reserve(end) {
                return core::ptr::null_mut();
            }
            self.next.set(end);
            return ptr;
        }
        if new_size <= layout.size() {
            return ptr;
        }
        // SAFETY: `new_size` with the old alignment is a valid layout (it was one before,
        // and GlobalAlloc's contract guarantees the rounded size does not overflow).
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        // SAFETY: forwarding to our own alloc.
        let new = unsafe { self.alloc(new_layout) };
        if !new.is_null() {
            // SAFETY: both blocks are live, disjoint, and at least `layout.size()` long.
            unsafe { core::ptr::copy_nonoverlapping(ptr, new, layout.size()) };
        }
        new
    }
}

/// Panics revert the frame with the panic message: the message verbatim when it has no
/// formatting arguments; with feature `panic-fmt`, formatted into a 256-byte buffer;
/// otherwise the fixed message `panic`.
#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    let msg = info.message();
    if let Some(s) = msg.as_str() {
        crate::env::revert(s)
    }
    #[cfg(feature = "panic-fmt")]
    {
        struct Buf {
            bytes: [u8; 256],
            len: usize,
        }
        impl core::fmt::Write for Buf {
            fn write_str(&mut self, s: &str) -> core::fmt::Result {
                let n = s.len().min(self.bytes.len() - self.len);
                self.bytes[self.len..self.len + n].copy_from_slice(&s.as_bytes()[..n]);
                self.len += n;
                Ok(())
            }
        }
        let mut buf = Buf { bytes: [0; 256], len: 0 };
        let _ = core::fmt::write(&mut buf, format_args!("{msg}"));
        crate::env::revert_bytes(&buf.bytes[..buf.len])
    }
    #[cfg(not(feature = "panic-fmt"))]
    crate::env::revert("panic")
}
