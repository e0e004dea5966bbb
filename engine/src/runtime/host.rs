//! Calls from guest code into host functions.

use std::panic::{catch_unwind, AssertUnwindSafe};

use super::store::{Caller, FuncKind, StoreInner};
use super::vmctx::VMContext;
use crate::error::Trap;
use crate::values::Val;

/// What [`host_shim`] returns to guest code (in two return registers).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub(crate) struct HostReturn {
    /// 0, or a trap code with the trap kept in the store.
    pub trap: u64,
    /// Gas remaining after the call (the store's counter, which guest code keeps in a
    /// register while it runs: it writes it to the store before the call and takes this
    /// value back, as from any callee).
    pub gas: u64,
}

/// Native entry of every host function, reached with the guest calling convention:
/// `ctx` = `[store pointer, store function index]`, `args` = argument/result slots,
/// `caller` = the calling instance's vmctx. Returns the trap code (0 or a trap kept in the
/// store) and the gas remaining.
pub(crate) extern "C" fn host_shim<T>(ctx: *const [usize; 2], args: *mut u64, caller: *mut VMContext) -> HostReturn {
    // SAFETY: `ctx` is the boxed host context created with this function's funcref; its
    // store pointer is the boxed StoreInner<T> that is executing guest code right now, and
    // the host side holds no reference into it during that execution (it only passed raw
    // pointers to the trampoline). `caller` is the live vmctx of the calling instance.
    let (inner, func, caller_instance) = unsafe {
        let c = &*ctx;
        (&mut *(c[0] as *mut StoreInner<T>), c[1], (*caller).instance)
    };
    let result = catch_unwind(AssertUnwindSafe(|| -> Result<(), Trap> {
        let entry = &inner.core.funcs[func];
        let ty = entry.ty.clone();
        let host = match entry.kind {
            FuncKind::Host { host } => host,
            FuncKind::Wasm { .. } => return Err(Trap::Host("not a host function".into())),
        };
        let f = inner.hosts[host].clone();
        let np = ty.params.len();
        let nr = ty.results.len();
        // SAFETY: the caller passed a pointer to at least max(params, results) slots.
        let slots = unsafe { std::slice::from_raw_parts_mut(args, np.max(nr)) };
        let vals: Vec<Val> = ty.params.iter().zip(slots.iter()).map(|(t, r)| inner.core.raw_to_val(*t, *r)).collect();
        let mut res: Vec<Val> = ty.results.iter().map(|t| Val::default_for(*t)).collect();
        f(Caller { inner: &mut *inner, instance: Some(caller_instance) }, &vals, &mut res)?;
        for (i, (v, t)) in res.iter().zip(&ty.results).enumerate() {
            if v.ty() != *t {
                return Err(Trap::Host("host function returned a wrong type".into()));
            }
            slots[i] = inner.core.to_raw(v).map_err(|e| Trap::Host(e.to_string()))?;
        }
        Ok(())
    }));
    let trap = match result {
        Ok(Ok(())) => return HostReturn { trap: 0, gas: inner.core.ctx.gas },
        Ok(Err(t)) => t,
        Err(_) => Trap::Host("host function panicked".into()),
    };
    let code = trap.code() as u64;
    inner.core.pending_trap = Some(trap);
    HostReturn { trap: code, gas: inner.core.ctx.gas }
}
