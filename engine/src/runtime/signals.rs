//! Out-of-bounds memory accesses caught by the MMU instead of compared in code.
//!
//! Every linear memory sits at the start of a [`GUARD_RESERVATION`]-byte address-space
//! reservation whose bytes past the memory's length are inaccessible
//! ([`super::memory::LinearMemory`]). An access `[base + zext(addr32) + offset]` with
//! `offset < 2^31` stays inside the reservation, so on ISAs whose code generator relies on
//! this (x86-64), a load or store with no bounds check either touches the memory's bytes
//! or faults on an inaccessible page: exactly when `addr + offset + width > length`, the
//! condition an explicit check would test. The fault is turned into the
//! `MemoryOutOfBounds` trap here.
//!
//! A module registers the code offsets of those unchecked accesses ([`TrapRegion`]). The
//! `SIGSEGV`/`SIGBUS` handler looks the faulting instruction's address up: when it is one
//! of them, the handler resumes the thread at the module's out-of-bounds trap stub, which
//! unwinds to the entry trampoline like any trap; any other fault goes to the handler that
//! was installed before (Rust's stack-overflow reporter, or the default action).
//!
//! x86-64 faults are precise: a faulting store, even one that straddles the end of the
//! memory, writes nothing, so memory after the trap is what an explicit check leaves.
//! (Not every ISA guarantees that for stores straddling pages, which is one reason the
//! aarch64 backend keeps its explicit checks.)

use std::sync::RwLock;

/// Bytes reserved for every linear memory where [`MMU_BOUNDS_CHECKS`]: 4 GiB of 32-bit
/// index space, 2 GiB of static offset, and more than the widest access, rounded to 8 GiB.
pub const GUARD_RESERVATION: usize = 8 << 30;

/// Whether this host's generated code leaves bounds checks to the MMU (x86-64 Linux, the
/// one platform with the fault handler below), so that every memory needs a
/// [`GUARD_RESERVATION`].
pub const MMU_BOUNDS_CHECKS: bool = cfg!(all(target_arch = "x86_64", target_os = "linux"));

/// The code of one module as the fault handler sees it.
#[derive(Debug)]
#[cfg_attr(not(all(target_arch = "x86_64", target_os = "linux")), allow(dead_code))]
struct Region {
    start: usize,
    end: usize,
    /// Absolute address of the out-of-bounds trap stub.
    stub: usize,
    /// Offsets from `start` of the unchecked memory accesses, sorted.
    sites: Box<[u32]>,
}

static REGIONS: RwLock<Vec<Region>> = RwLock::new(Vec::new());

/// A module's registration with the fault handler; unregisters when dropped (drop it
/// before unmapping the code).
#[derive(Debug)]
pub struct TrapRegion {
    start: usize,
}

impl TrapRegion {
    /// Registers the code at `start..start + len`: a fault at `start + site` for a `site`
    /// in `sites` (sorted) resumes at `start + stub`. Installs the handler on first use.
    ///
    /// Errors: a description when the handler cannot be installed (then the module must
    /// not run: its accesses are unchecked).
    pub fn register(start: usize, len: usize, stub: u32, sites: &[u32]) -> Result<TrapRegion, String> {
        imp::install()?;
        Ok(Self::add(start, len, stub, sites))
    }

    /// Adds the region to what the handler looks up (without installing it).
    fn add(start: usize, len: usize, stub: u32, sites: &[u32]) -> TrapRegion {
        let region =
            Region { start, end: start + len, stub: start + stub as usize, sites: sites.to_vec().into_boxed_slice() };
        let mut regions = REGIONS.write().unwrap_or_else(|e| e.into_inner());
        let at = regions.partition_point(|r| r.start < start);
        regions.insert(at, region);
        TrapRegion { start }
    }
}

impl Drop for TrapRegion {
    fn drop(&mut self) {
        let mut regions = REGIONS.write().unwrap_or_else(|e| e.into_inner());
        if let Ok(i) = regions.binary_search_by_key(&self.start, |r| r.start) {
            regions.remove(i);
        }
    }
}

/// The stub to resume at when the instruction at `pc` faults, if `pc` is a registered
/// unchecked memory access. Called from the signal handler: no allocation, no panics.
#[cfg_attr(not(all(target_arch = "x86_64", target_os = "linux")), allow(dead_code))]
fn stub_for(pc: usize) -> Option<usize> {
    // A writer holds the lock only briefly, and never while running guest code on this
    // thread, so waiting for it here cannot deadlock.
    let regions = REGIONS.read().unwrap_or_else(|e| e.into_inner());
    let i = regions.partition_point(|r| r.start <= pc).checked_sub(1)?;
    let r = &regions[i];
    if pc >= r.end {
        return None;
    }
    let off = u32::try_from(pc - r.start).ok()?;
    r.sites.binary_search(&off).ok().map(|_| r.stub)
}

#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
mod imp {
    use std::sync::OnceLock;

    /// The handlers installed before ours, for `SIGSEGV` and `SIGBUS`.
    static PREVIOUS: OnceLock<Result<[libc::sigaction; 2], String>> = OnceLock::new();

    const SIGNALS: [libc::c_int; 2] = [libc::SIGSEGV, libc::SIGBUS];

    /// Installs the handler on first use; afterwards checks that it is still the one
    /// installed (a library that replaced it without chaining would turn every
    /// out-of-bounds access into a crash, so modules refuse to load instead).
    pub(super) fn install() -> Result<(), String> {
        let first = PREVIOUS.get().is_none();
        install_once()?;
        if !first {
            for sig in SIGNALS {
                // SAFETY: queries the current disposition into a zeroed structure.
                let current = unsafe {
                    let mut cur: libc::sigaction = std::mem::zeroed();
                    if libc::sigaction(sig, std::ptr::null(), &mut cur) != 0 {
                        return Err(format!("sigaction({sig}) query failed"));
                    }
                    cur.sa_sigaction
                };
                if current != handler as *const () as usize {
                    return Err(format!(
                        "another handler replaced Keel's for signal {sig}: out-of-bounds memory accesses cannot be trapped"
                    ));
                }
            }
        }
        Ok(())
    }

    fn install_once() -> Result<(), String> {
        PREVIOUS.get_or_init(|| {
            // SAFETY: plain sigaction(2) calls with zero-initialized (valid) structures;
            // `handler` has the SA_SIGINFO signature.
            unsafe {
                let mut prev: [libc::sigaction; 2] = std::mem::zeroed();
                for (i, sig) in SIGNALS.iter().enumerate() {
                    let mut sa: libc::sigaction = std::mem::zeroed();
                    sa.sa_sigaction = handler as *const () as usize;
                    sa.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK | libc::SA_NODEFER;
                    libc::sigemptyset(&mut sa.sa_mask);
                    if libc::sigaction(*sig, &sa, &mut prev[i]) != 0 {
                        return Err(format!("sigaction({sig}) failed"));
                    }
                }
                Ok(prev)
            }
        })
        .as_ref()
        .map(|_| ())
        .map_err(Clone::clone)
    }

    extern "C" fn handler(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
        let uc = ctx as *mut libc::ucontext_t;
        // SAFETY: the kernel passes a valid ucontext for SA_SIGINFO handlers; RIP is the
        // faulting instruction. Setting it makes the thread resume at the trap stub, with
        // every other register as it was (the stub needs the vmctx register).
        unsafe {
            let pc = (*uc).uc_mcontext.gregs[libc::REG_RIP as usize] as usize;
            if let Some(stub) = super::stub_for(pc) {
                (*uc).uc_mcontext.gregs[libc::REG_RIP as usize] = stub as i64;
                return;
            }
        }
        chain(sig, info, ctx);
    }

    /// Passes a fault that is not ours to the handler installed before.
    fn chain(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
        let Some(Ok(prev)) = PREVIOUS.get() else { return };
        let i = usize::from(sig == libc::SIGBUS);
        let p = &prev[i];
        // SAFETY: calls the previously installed handler as the kernel would have, with
        // the same arguments; for SIG_DFL/SIG_IGN, restores it and returns so that the
        // faulting instruction runs again and takes the default action.
        unsafe {
            if p.sa_sigaction == libc::SIG_DFL || p.sa_sigaction == libc::SIG_IGN {
                libc::sigaction(sig, p, std::ptr::null_mut());
            } else if p.sa_flags & libc::SA_SIGINFO != 0 {
                let f: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) =
                    std::mem::transmute(p.sa_sigaction);
                f(sig, info, ctx);
            } else {
                let f: extern "C" fn(libc::c_int) = std::mem::transmute(p.sa_sigaction);
                f(sig);
            }
        }
    }
}

#[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
mod imp {
    pub(super) fn install() -> Result<(), String> {
        Err("unchecked memory accesses need the x86-64 Linux fault handler".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_finds_only_registered_sites() {
        let a = TrapRegion::add(0x10_000, 0x100, 0x80, &[4, 12, 40]);
        let b = TrapRegion::add(0x20_000, 0x100, 0x90, &[8]);
        assert_eq!(stub_for(0x10_004), Some(0x10_080));
        assert_eq!(stub_for(0x10_028), Some(0x10_080));
        assert_eq!(stub_for(0x10_005), None, "not an access site");
        assert_eq!(stub_for(0x20_008), Some(0x20_090));
        assert_eq!(stub_for(0x20_108), None, "past the region");
        assert_eq!(stub_for(0x0_fff0), None, "before every region");
        drop(a);
        assert_eq!(stub_for(0x10_004), None, "unregistered");
        drop(b);
        assert_eq!(stub_for(0x20_008), None);
    }
}
