//! Runtime helpers called from generated code for operators too large to inline: memory
//! and table bulk operations (with their operand-dependent gas charges), reference
//! operations, `call_indirect` resolution, float min/max and conversions.
//!
//! Every helper has the same native signature (see [`crate::masm::LibCall`]) and returns
//! a [`LibcallResult`]; a nonzero `trap` makes the generated code trap with that code.

use keel_metering::nan::{CANONICAL_NAN_F32, CANONICAL_NAN_F64};

use super::store::StoreCore;
use super::vmctx::VMContext;
use crate::error::Trap;
use crate::masm::LibCall;

/// Two-register return value of a libcall (`rax`, `rdx` on x86-64).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct LibcallResult {
    /// The result value.
    pub value: u64,
    /// 0, or a trap code.
    pub trap: u64,
}

type LibFn = extern "C" fn(*mut VMContext, u64, u64, u64, u64, u64) -> LibcallResult;

/// Upper bound on table sizes reached by `table.grow` (elements), whatever the declared
/// maximum: keeps host memory bounded; growth beyond it fails (returns -1) deterministically.
pub const MAX_TABLE_GROW_ELEMENTS: u64 = 10_000_000;

fn ok(value: u64) -> LibcallResult {
    LibcallResult { value, trap: 0 }
}

fn err(t: Trap) -> LibcallResult {
    LibcallResult { value: 0, trap: t.code() as u64 }
}

/// Runs `f` on the store core and instance of `vmctx`.
fn with_core(vmctx: *mut VMContext, f: impl FnOnce(&mut StoreCore, usize) -> Result<u64, Trap>) -> LibcallResult {
    // SAFETY: generated code passes its own vmctx, which points into a live instance of a
    // store whose core outlives every call into its code; no other reference to the core
    // is active while guest code runs (the host side only holds raw pointers then).
    let (core, inst) = unsafe {
        let v = &*vmctx;
        (&mut *(v.store_core as *mut StoreCore), v.instance)
    };
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(core, inst))) {
        Ok(Ok(v)) => ok(v),
        Ok(Err(t)) => err(t),
        Err(_) => err(Trap::Host("runtime helper panicked".into())),
    }
}

/// The table of libcall addresses, indexed by [`LibCall`].
pub fn table() -> [usize; LibCall::COUNT] {
    let fns: [LibFn; LibCall::COUNT] = [
        memory_grow,
        memory_fill,
        memory_copy,
        memory_init,
        data_drop,
        table_get,
        table_set,
        table_size,
        table_grow,
        table_fill,
        table_copy,
        table_init,
        elem_drop,
        ref_func,
        float_min_max,
        float_to_int,
        int_to_float,
    ];
    fns.map(|f| f as usize)
}

fn range_ok(start: u64, len: u64, size: u64) -> bool {
    start.checked_add(len).is_some_and(|end| end <= size)
}

extern "C" fn memory_grow(vm: *mut VMContext, delta: u64, unit: u64, _: u64, _: u64, _: u64) -> LibcallResult {
    with_core(vm, |core, inst| {
        let delta = delta as u32 as u64;
        core.charge(delta * unit)?;
        let m = core.instance_memory(inst).ok_or(Trap::MemoryOutOfBounds)?;
        Ok(core.memory_grow(m, delta).map_or(u64::from(u32::MAX), |old| old))
    })
}

extern "C" fn memory_fill(vm: *mut VMContext, d: u64, val: u64, n: u64, unit: u64, _: u64) -> LibcallResult {
    with_core(vm, |core, inst| {
        let (d, n) = (d as u32 as u64, n as u32 as u64);
        core.charge(n * unit)?;
        let m = core.instance_memory(inst).ok_or(Trap::MemoryOutOfBounds)?;
        let bytes = core.memory_bytes_mut(m);
        if !range_ok(d, n, bytes.len() as u64) {
            return Err(Trap::MemoryOutOfBounds);
        }
        bytes[d as usize..(d + n) as usize].fill(val as u8);
        Ok(0)
    })
}

extern "C" fn memory_copy(vm: *mut VMContext, d: u64, s: u64, n: u64, unit: u64, _: u64) -> LibcallResult {
    with_core(vm, |core, inst| {
        let (d, s, n) = (d as u32 as u64, s as u32 as u64, n as u32 as u64);
        core.charge(n * unit)?;
        let m = core.instance_memory(inst).ok_or(Trap::MemoryOutOfBounds)?;
        let bytes = core.memory_bytes_mut(m);
        let len = bytes.len() as u64;
        if !range_ok(d, n, len) || !range_ok(s, n, len) {
            return Err(Trap::MemoryOutOfBounds);
        }
        bytes.copy_within(s as usize..(s + n) as usize, d as usize);
        Ok(0)
    })
}

extern "C" fn memory_init(vm: *mut VMContext, seg: u64, d: u64, s: u64, n: u64, unit: u64) -> LibcallResult {
    with_core(vm, |core, inst| {
        let (d, s, n) = (d as u32 as u64, s as u32 as u64, n as u32 as u64);
        core.charge(n * unit)?;
        core.memory_init(inst, seg as usize, d, s, n)?;
        Ok(0)
    })
}

extern "C" fn data_drop(vm: *mut VMContext, seg: u64, _: u64, _: u64, _: u64, _: u64) -> LibcallResult {
    with_core(vm, |core, inst| {
        if let Some(d) = core.instances[inst].data_dropped.get_mut(seg as usize) {
            *d = true;
        }
        Ok(0)
    })
}

extern "C" fn table_get(vm: *mut VMContext, t: u64, i: u64, _: u64, _: u64, _: u64) -> LibcallResult {
    with_core(vm, |core, inst| {
        let t = core.instance_table(inst, t as usize)?;
        core.tables[t].elems.get(i as u32 as usize).copied().ok_or(Trap::TableOutOfBounds)
    })
}

extern "C" fn table_set(vm: *mut VMContext, t: u64, i: u64, v: u64, _: u64, _: u64) -> LibcallResult {
    with_core(vm, |core, inst| {
        let t = core.instance_table(inst, t as usize)?;
        let e = core.tables[t].elems.get_mut(i as u32 as usize).ok_or(Trap::TableOutOfBounds)?;
        *e = v;
        Ok(0)
    })
}

extern "C" fn table_size(vm: *mut VMContext, t: u64, _: u64, _: u64, _: u64, _: u64) -> LibcallResult {
    with_core(vm, |core, inst| {
        let t = core.instance_table(inst, t as usize)?;
        Ok(core.tables[t].elems.len() as u64)
    })
}

extern "C" fn table_grow(vm: *mut VMContext, t: u64, init: u64, delta: u64, unit: u64, _: u64) -> LibcallResult {
    with_core(vm, |core, inst| {
        let delta = delta as u32 as u64;
        core.charge(delta * unit)?;
        let t = core.instance_table(inst, t as usize)?;
        Ok(core.table_grow(t, delta, init).map_or(u64::from(u32::MAX), |old| old))
    })
}

extern "C" fn table_fill(vm: *mut VMContext, t: u64, i: u64, v: u64, n: u64, unit: u64) -> LibcallResult {
    with_core(vm, |core, inst| {
        let (i, n) = (i as u32 as u64, n as u32 as u64);
        core.charge(n * unit)?;
        let t = core.instance_table(inst, t as usize)?;
        let elems = &mut core.tables[t].elems;
        if !range_ok(i, n, elems.len() as u64) {
            return Err(Trap::TableOutOfBounds);
        }
        elems[i as usize..(i + n) as usize].fill(v);
        Ok(0)
    })
}

extern "C" fn table_copy(vm: *mut VMContext, tables: u64, d: u64, s: u64, n: u64, unit: u64) -> LibcallResult {
    with_core(vm, |core, inst| {
        let (d, s, n) = (d as u32 as u64, s as u32 as u64, n as u32 as u64);
        core.charge(n * unit)?;
        let dt = core.instance_table(inst, (tables & 0xffff_ffff) as usize)?;
        let st = core.instance_table(inst, (tables >> 32) as usize)?;
        let dlen = core.tables[dt].elems.len() as u64;
        let slen = core.tables[st].elems.len() as u64;
        if !range_ok(d, n, dlen) || !range_ok(s, n, slen) {
            return Err(Trap::TableOutOfBounds);
        }
        if dt == st {
            core.tables[dt].elems.copy_within(s as usize..(s + n) as usize, d as usize);
        } else {
            let src: Vec<u64> = core.tables[st].elems[s as usize..(s + n) as usize].to_vec();
            core.tables[dt].elems[d as usize..(d + n) as usize].copy_from_slice(&src);
        }
        Ok(0)
    })
}

extern "C" fn table_init(vm: *mut VMContext, ts: u64, d: u64, s: u64, n: u64, unit: u64) -> LibcallResult {
    with_core(vm, |core, inst| {
        let (d, s, n) = (d as u32 as u64, s as u32 as u64, n as u32 as u64);
        core.charge(n * unit)?;
        core.table_init(inst, (ts & 0xffff_ffff) as usize, (ts >> 32) as usize, d, s, n)?;
        Ok(0)
    })
}

extern "C" fn elem_drop(vm: *mut VMContext, seg: u64, _: u64, _: u64, _: u64, _: u64) -> LibcallResult {
    with_core(vm, |core, inst| {
        if let Some(e) = core.instances[inst].elements.get_mut(seg as usize) {
            *e = Vec::new();
        }
        Ok(0)
    })
}

extern "C" fn ref_func(vm: *mut VMContext, f: u64, _: u64, _: u64, _: u64, _: u64) -> LibcallResult {
    with_core(vm, |core, inst| {
        let sf = *core.instances[inst].funcs.get(f as usize).ok_or(Trap::TableOutOfBounds)?;
        Ok(core.funcref_ptr(sf))
    })
}

extern "C" fn float_min_max(_: *mut VMContext, a: u64, b: u64, op: u64, _: u64, _: u64) -> LibcallResult {
    ok(match op {
        0 | 1 => {
            let (x, y) = (f32::from_bits(a as u32), f32::from_bits(b as u32));
            let r = if x.is_nan() || y.is_nan() {
                CANONICAL_NAN_F32
            } else if x == y {
                // Equal values differ only in the sign of zero.
                if op == 0 { x.to_bits() | y.to_bits() } else { x.to_bits() & y.to_bits() }
            } else if (x < y) == (op == 0) {
                x.to_bits()
            } else {
                y.to_bits()
            };
            u64::from(r)
        }
        _ => {
            let (x, y) = (f64::from_bits(a), f64::from_bits(b));
            if x.is_nan() || y.is_nan() {
                CANONICAL_NAN_F64
            } else if x == y {
                if op == 2 { x.to_bits() | y.to_bits() } else { x.to_bits() & y.to_bits() }
            } else if (x < y) == (op == 2) {
                x.to_bits()
            } else {
                y.to_bits()
            }
        }
    })
}

/// Float-to-int conversion kinds: bit 3 = saturating; bits 0..2 index
/// `[i32<-f32 s, u], [i32<-f64 s, u], [i64<-f32 s, u], [i64<-f64 s, u]`.
extern "C" fn float_to_int(_: *mut VMContext, bits: u64, kind: u64, _: u64, _: u64, _: u64) -> LibcallResult {
    let sat = kind & 8 != 0;
    let k = kind & 7;
    let from_f32 = matches!(k, 0 | 1 | 4 | 5);
    let x: f64 = if from_f32 { f64::from(f32::from_bits(bits as u32)) } else { f64::from_bits(bits) };
    let signed = k % 2 == 0;
    let to64 = k >= 4;
    if sat {
        let v = match (to64, signed) {
            (false, true) => u64::from(x as i32 as u32),
            (false, false) => u64::from(x as u32),
            (true, true) => x as i64 as u64,
            (true, false) => x as u64,
        };
        return ok(v);
    }
    if x.is_nan() {
        return err(Trap::InvalidConversionToInteger);
    }
    let t = x.trunc();
    let in_range = match (to64, signed) {
        (false, true) => (-2147483648.0..=2147483647.0).contains(&t),
        (false, false) => t > -1.0 && t < 4294967296.0,
        (true, true) => (-9223372036854775808.0..9223372036854775808.0).contains(&t),
        (true, false) => t > -1.0 && t < 18446744073709551616.0,
    };
    if !in_range {
        return err(Trap::IntegerOverflow);
    }
    ok(match (to64, signed) {
        (false, true) => u64::from(t as i32 as u32),
        (false, false) => u64::from(t as u32),
        (true, true) => t as i64 as u64,
        (true, false) => t as u64,
    })
}

/// Unsigned int-to-float conversions: 0 = f32<-u32, 1 = f32<-u64, 2 = f64<-u32,
/// 3 = f64<-u64.
extern "C" fn int_to_float(_: *mut VMContext, bits: u64, kind: u64, _: u64, _: u64, _: u64) -> LibcallResult {
    ok(match kind {
        0 => u64::from(((bits as u32) as f32).to_bits()),
        1 => u64::from((bits as f32).to_bits()),
        2 => f64::from(bits as u32).to_bits(),
        _ => (bits as f64).to_bits(),
    })
}
