//! One differential run: a wasm module on Keel (native metering) and on wasmi over the
//! reference instrumentation (`keel_metering::instrument`). Shared by the bounded test
//! (`tests/differential.rs`, fixed seeds) and the cargo-fuzz target (`fuzz/`, which
//! includes this file by path), so both compare exactly the same things: every export's
//! outcome (values as bits, or the trap kind), gas used, and a blake3 hash of the final
//! exported memories and globals.

use keel_engine::{Config, Engine, Error, Extern, Linker, Module, Store, Val};
use keel_metering::{instrument, InstrumentConfig};

use super::{keel_bits, keel_trap_name, wasmi_bits, wasmi_trap_name, Outcome};

/// The wasm-smith configuration of the profile: MVP plus bulk memory, reference types,
/// multi-value, saturating conversions and sign extension; one memory of at most 16
/// pages, two tables of at most 100 elements, no imports, every item exported.
/// `max_instructions` bounds each function's size.
#[allow(clippy::field_reassign_with_default)] // one setting per line reads best
pub fn smith_config(max_instructions: usize) -> wasm_smith::Config {
    let mut c = wasm_smith::Config::default();
    c.simd_enabled = false;
    c.relaxed_simd_enabled = false;
    c.threads_enabled = false;
    c.shared_everything_threads_enabled = false;
    c.exceptions_enabled = false;
    c.gc_enabled = false;
    c.tail_call_enabled = false;
    c.memory64_enabled = false;
    c.custom_page_sizes_enabled = false;
    c.wide_arithmetic_enabled = false;
    c.extended_const_enabled = false;
    c.custom_descriptors_enabled = false;
    c.multibyte_array_access_enabled = false;
    c.acquire_release_atomics_enabled = false;
    c.bulk_memory_enabled = true;
    c.reference_types_enabled = true;
    c.multi_value_enabled = true;
    c.saturating_float_to_int_enabled = true;
    c.sign_extension_ops_enabled = true;
    c.max_memories = 1;
    c.max_memory32_bytes = 16 * 65_536;
    c.memory_max_size_required = true;
    c.max_tables = 2;
    c.max_table_elements = 100;
    c.table_max_size_required = true;
    c.max_imports = 0;
    c.export_everything = true;
    c.allow_start_export = false;
    c.min_funcs = 1;
    c.max_funcs = 12;
    c.max_instructions = max_instructions;
    c.max_data_segments = 4;
    c.max_element_segments = 4;
    c.max_globals = 8;
    c.generate_custom_sections = false;
    c
}

/// Limits of one differential run.
#[derive(Debug, Clone, Copy)]
pub struct DiffLimits {
    /// Gas limit of every call (small limits probe out-of-gas points).
    pub gas: u64,
    /// Deterministic stack budget, slots (both sides).
    pub stack_limit: u64,
}

impl Default for DiffLimits {
    fn default() -> Self {
        DiffLimits { gas: 200_000, stack_limit: 4_096 }
    }
}

/// What a run that found no divergence did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DiffReport {
    /// Export calls compared.
    pub calls: usize,
    /// Both engines trapped identically while instantiating (nothing else to compare).
    pub instantiation_trap: bool,
    /// Stopped at wasmi's division miscompile (see `wasmi_select_rem_repro`): wasmi
    /// trapped "divide by zero" in a module wasm-smith generated without traps.
    pub wasmi_div_bug: bool,
    /// blake3 of Keel's observable outcomes in order (an instantiation trap, or each call's
    /// outcome with its value bits and gas, then the final memory/globals hash): what must
    /// be identical on every ISA (`common/digest.rs`).
    pub outcome: [u8; 32],
}

/// Keel's outcome of one call: the outcome and gas used.
type Call = (Outcome, u64);

/// Argument `variant` 0 is all zeros; 1 uses small non-zero numbers.
pub fn keel_arg(t: keel_engine::ValType, variant: u8) -> Val {
    use keel_engine::ValType as T;
    match (variant, t) {
        (1, T::I32) => Val::I32(3),
        (1, T::I64) => Val::I64(-5),
        (1, T::F32) => Val::F32(1.5f32.to_bits()),
        (1, T::F64) => Val::F64((-2.25f64).to_bits()),
        _ => Val::default_for(t),
    }
}

/// The wasmi value equal to [`keel_arg`]`(t, variant)`.
pub fn wasmi_arg(t: &wasmi::ValType, variant: u8) -> wasmi::Val {
    match (variant, t) {
        (1, wasmi::ValType::I32) => wasmi::Val::I32(3),
        (1, wasmi::ValType::I64) => wasmi::Val::I64(-5),
        (1, wasmi::ValType::F32) => wasmi::Val::F32(wasmi::F32::from_bits(1.5f32.to_bits())),
        (1, wasmi::ValType::F64) => wasmi::Val::F64(wasmi::F64::from_bits((-2.25f64).to_bits())),
        _ => wasmi::Val::default_for_ty(*t),
    }
}

/// Runs every export of `wasm` (twice: all-zero and small non-zero arguments) on Keel and
/// on wasmi over the instrumentation. Returns `None` when Keel's profile rejects the
/// module, `Some(Err(description))` on the first divergence. `traps_disallowed` says the
/// module was generated with wasm-smith's `disallow_traps` (which is what makes a wasmi
/// "divide by zero" recognizably wasmi's bug).
pub fn run_one(wasm: &[u8], traps_disallowed: bool, limits: DiffLimits) -> Option<Result<DiffReport, String>> {
    let gas = limits.gas;
    // --- Keel ---
    let engine = Engine::new(Config { stack_limit: limits.stack_limit, ..Config::default() }).ok()?;
    let module = match Module::new(&engine, wasm) {
        Ok(m) => m,
        Err(Error::Validation(_)) => return None,
        Err(e) => return Some(Err(format!("keel compile error: {e}"))),
    };
    let icfg = InstrumentConfig { initial_gas: gas, stack_limit: limits.stack_limit, ..InstrumentConfig::default() };
    let inst_wasm = match instrument(wasm, &icfg) {
        Ok(i) => i.wasm,
        Err(e) => return Some(Err(format!("instrument failed where Keel compiled: {e}"))),
    };
    let mut store = Store::new(&engine, ());
    store.set_gas_limit(gas);
    let keel_inst = Linker::new().instantiate(&mut store, &module);

    // --- wasmi ---
    let mut wcfg = wasmi::Config::default();
    wcfg.set_max_recursion_depth(100_000);
    let wengine = wasmi::Engine::new(&wcfg);
    let wmodule = match wasmi::Module::new(&wengine, &inst_wasm[..]) {
        Ok(m) => m,
        Err(e) => return Some(Err(format!("wasmi rejected the instrumented module: {e}"))),
    };
    let mut wstore = wasmi::Store::new(&wengine, ());
    let wlinker = wasmi::Linker::<()>::new(&wengine);
    let winst = wlinker.instantiate_and_start(&mut wstore, &wmodule);

    let mut report = DiffReport::default();
    let mut outcome = blake3::Hasher::new();
    let (keel_inst, winst) = match (keel_inst, winst) {
        (Ok(k), Ok(w)) => (k, w),
        (Err(Error::Trap(t)), Err(e)) => {
            let wt = wasmi_trap_name(&e, 0);
            let kt = keel_trap_name(&t);
            // Without an instance the trap-reason global cannot be read: accept
            // unreachable for gas and stack traps.
            if kt == wt || (wt == "unreachable" && matches!(kt, "out-of-gas" | "stack-exhausted")) {
                report.instantiation_trap = true;
                outcome.update(format!("instantiation trap {kt}").as_bytes());
                report.outcome = *outcome.finalize().as_bytes();
                return Some(Ok(report));
            }
            return Some(Err(format!("instantiation traps differ: keel {kt}, wasmi {wt} ({e})")));
        }
        (k, w) => return Some(Err(format!("instantiation differs: keel {k:?}, wasmi {:?}", w.err()))),
    };
    let wg = |name: &str, store: &wasmi::Store<()>| winst.get_global(store, name);
    let (Some(gas_g), Some(stack_g), Some(trap_g)) =
        (wg("__keel_gas", &wstore), wg("__keel_stack", &wstore), wg("__keel_trap", &wstore))
    else {
        return Some(Err("the instrumented module lacks its gas, stack or trap global".into()));
    };

    let exports: Vec<(String, Extern)> = keel_inst.exports(&mut store);
    for ((name, ext), variant) in exports.iter().flat_map(|e| [(e, 0u8), (e, 1u8)]) {
        let Extern::Func(f) = ext else { continue };
        let ty = f.ty(&mut store);
        let args: Vec<Val> = ty.params.iter().map(|t| keel_arg(*t, variant)).collect();
        let mut res = vec![Val::I32(0); ty.results.len()];
        store.set_gas_limit(gas);
        let keel: Call = match f.call(&mut store, &args, &mut res) {
            Ok(()) => (Outcome::Values(res.iter().map(keel_bits).collect()), store.gas_used()),
            Err(Error::Trap(t)) => (Outcome::Trap(keel_trap_name(&t)), store.gas_used()),
            Err(e) => return Some(Err(format!("{name}: keel call error {e}"))),
        };

        let Some(wf) = winst.get_func(&wstore, name) else {
            return Some(Err(format!("{name}: missing from the instrumented module")));
        };
        let wty = wf.ty(&wstore);
        let wargs: Vec<wasmi::Val> = wty.params().iter().map(|t| wasmi_arg(t, variant)).collect();
        let mut wres: Vec<wasmi::Val> = wty.results().iter().map(|t| wasmi::Val::default_for_ty(*t)).collect();
        gas_g.set(&mut wstore, wasmi::Val::I64(gas as i64)).ok();
        stack_g.set(&mut wstore, wasmi::Val::I64(0)).ok();
        trap_g.set(&mut wstore, wasmi::Val::I32(0)).ok();
        let w_out = match wf.call(&mut wstore, &wargs, &mut wres) {
            Ok(()) => Outcome::Values(wres.iter().map(wasmi_bits).collect()),
            Err(e) => {
                let tg = match trap_g.get(&wstore) {
                    wasmi::Val::I32(x) => x,
                    _ => 0,
                };
                Outcome::Trap(wasmi_trap_name(&e, tg))
            }
        };
        let remaining = match gas_g.get(&wstore) {
            wasmi::Val::I64(x) => x as u64,
            _ => 0,
        };
        let w_gas = gas.wrapping_sub(remaining);
        let (keel_out, keel_gas) = keel;
        outcome.update(format!("{name}: {keel_out:?} gas {keel_gas};").as_bytes());
        if std::env::var("KEEL_DIFF_TRACE").is_ok() {
            println!("  call {name:?}: {keel_out:?} gas {keel_gas}");
        }
        if keel_out != w_out && traps_disallowed && w_out == Outcome::Trap("div-zero") {
            // wasm-smith guarantees these modules never divide by zero: wasmi's
            // miscompile. The rest of the module's state is no longer comparable.
            report.wasmi_div_bug = true;
            report.outcome = *outcome.finalize().as_bytes();
            return Some(Ok(report));
        }
        if keel_out != w_out {
            return Some(Err(format!("{name}: keel {keel_out:?}, wasmi {w_out:?}")));
        }
        if keel_gas != w_gas {
            return Some(Err(format!("{name}: gas keel {keel_gas}, wasmi {w_gas} (outcome {keel_out:?})")));
        }
        report.calls += 1;
    }

    // Final state: exported memory bytes and exported globals, in export order.
    let mut kh = blake3::Hasher::new();
    let mut whh = blake3::Hasher::new();
    for (name, ext) in &exports {
        match ext {
            Extern::Memory(m) => {
                let n = m.data_size(&mut store) as usize;
                let mut buf = vec![0u8; n];
                m.read(&mut store, 0, &mut buf).ok();
                kh.update(&buf);
                if let Some(wm) = winst.get_memory(&wstore, name) {
                    whh.update(wm.data(&wstore));
                }
            }
            Extern::Global(g) => {
                kh.update(&keel_bits(&g.get(&mut store)).to_le_bytes());
                if let Some(wg) = winst.get_global(&wstore, name) {
                    whh.update(&wasmi_bits(&wg.get(&wstore)).to_le_bytes());
                }
            }
            _ => {}
        }
    }
    let state = kh.finalize();
    if state != whh.finalize() {
        return Some(Err("final memory/global state differs".into()));
    }
    outcome.update(state.as_bytes());
    report.outcome = *outcome.finalize().as_bytes();
    Some(Ok(report))
}
