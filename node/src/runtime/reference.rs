//! The reference backend: contract frames on wasmi over `keel_metering::instrument`, the
//! wasm-level gas and stack instrumentation that is the reference semantics of Keel's
//! native metering (`specs/gas.md`). It is what `keel replay --engine wasmi` runs, so that
//! an auditor can check a chain without trusting Keel's compiler: every receipt (status,
//! gas used, return data, events) must come out identical to the native backend's.
//!
//! The host functions are the same code as the native backend's ([`super::host`]), over
//! [`WasmiCtx`]: gas lives in the instrumented module's `__keel_gas` global and is charged
//! with the rule of `keel_engine`'s counter (not enough gas: the counter drops to 0 and the
//! frame ends with `OutOfGas`). Out of gas and stack exhaustion inside wasm execute
//! `unreachable` after setting `__keel_trap`, which tells them from a genuine
//! `unreachable` ([`keel_metering::instrument`]).

use std::collections::HashMap;
use std::sync::Mutex;

use keel_engine::Trap;
use keel_metering::instrument::{
    instrument, InstrumentConfig, GAS_EXPORT, STACK_EXPORT, TRAP_EXPORT, TRAP_OUT_OF_GAS, TRAP_STACK_EXHAUSTED,
};
use keel_metering::InstrumentError;
use wasmi::{Caller, Extern, Global, Memory, TrapCode, Val};

use super::exec::{close_frame, Frame, FrameResult, Host, TxExec};
use super::host::{for_each_host_fn, HostCtx};
use super::Runtime;
use crate::chain::{ReceiptStatus, TrapKind};
use crate::state::Hash32;

/// wasmi's call-depth limit. Far above what the deterministic stack budget allows (the
/// cheapest frame costs at least one slot of the default 65,536), so the budget, not wasmi,
/// ends deep recursion, as it does natively.
const MAX_RECURSION_DEPTH: usize = 1 << 20;
/// wasmi's value-stack limit, in values (allocated as used).
const MAX_STACK_HEIGHT: usize = 1 << 26;

/// A contract module ready for wasmi.
#[derive(Clone)]
pub(crate) struct Loaded {
    /// The instrumented module.
    module: wasmi::Module,
    /// Initial pages of the module's memory (charged per frame, `specs/abi.md` §1).
    initial_pages: u64,
}

impl Loaded {
    /// Initial pages of the module's memory (0 without one).
    pub(crate) fn initial_pages(&self) -> u64 {
        self.initial_pages
    }
}

/// The wasmi engine, the instrumentation settings matching the native engine's
/// configuration, and the instrumented modules by code hash.
pub(crate) struct Reference {
    engine: wasmi::Engine,
    instrument: InstrumentConfig,
    modules: Mutex<HashMap<Hash32, Loaded>>,
}

impl Reference {
    /// A reference backend equivalent to a native engine with `config`: same profile, cost
    /// table and stack budget, gas and stack accounting and NaN canonicalization on.
    pub(crate) fn new(config: &keel_engine::Config) -> Reference {
        let mut wasmi_config = wasmi::Config::default();
        wasmi_config.set_max_recursion_depth(MAX_RECURSION_DEPTH).set_max_stack_height(MAX_STACK_HEIGHT);
        let instrument = InstrumentConfig {
            profile: config.profile.clone(),
            costs: config.cost_table.clone(),
            gas: config.metering,
            stack: true,
            nan_canonicalization: true,
            initial_gas: 0,
            stack_limit: config.stack_limit,
        };
        Reference { engine: wasmi::Engine::new(&wasmi_config), instrument, modules: Mutex::new(HashMap::new()) }
    }

    /// Instruments and loads `code` (whose hash is `hash`), or returns the cached module.
    /// Errors: why the code is invalid, worded as the native engine words it for a
    /// profile violation (`validation: ...`), so that `InvalidCode` receipts agree.
    pub(crate) fn load(&self, hash: &Hash32, code: &[u8]) -> Result<Loaded, String> {
        if let Some(loaded) = self.cached(hash) {
            return Ok(loaded);
        }
        let instrumented = instrument(code, &self.instrument).map_err(|e| match e {
            InstrumentError::Validation(v) => keel_engine::Error::Validation(v).to_string(),
            other => format!("instrumentation: {other}"),
        })?;
        let module = wasmi::Module::new(&self.engine, &instrumented.wasm[..])
            .map_err(|e| format!("wasmi rejected the instrumented module: {e}"))?;
        let loaded = Loaded { module, initial_pages: initial_pages(code) };
        self.lock().insert(*hash, loaded.clone());
        Ok(loaded)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Hash32, Loaded>> {
        // The map holds only complete entries: a panic elsewhere cannot leave it torn.
        self.modules.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The module of `hash` if it was loaded before.
    pub(crate) fn cached(&self, hash: &Hash32) -> Option<Loaded> {
        self.lock().get(hash).cloned()
    }

    /// Runs `export` of `loaded` as a frame with `gas_limit` (initial-memory gas already
    /// paid and included in `memory_gas`), the reference twin of the native frame body.
    pub(crate) fn run<'a, 'db>(
        &self,
        rt: &'a Runtime,
        tx: TxExec<'a, 'db>,
        frame: Frame,
        loaded: &Loaded,
        export: &str,
        gas_limit: u64,
        memory_gas: u64,
    ) -> (TxExec<'a, 'db>, FrameResult) {
        let mut store = wasmi::Store::new(&self.engine, Host { rt, tx: Some(tx), frame });
        let mut linker = wasmi::Linker::<Host<'a, 'db>>::new(&self.engine);
        add_to_linker(&mut linker);
        let budget = gas_limit - memory_gas;
        let mut globals = None;
        let outcome = linker.instantiate_and_start(&mut store, &loaded.module).and_then(|instance| {
            let g = InstrumentGlobals::of(&instance, &store)?;
            g.gas.set(&mut store, Val::I64(budget as i64))?;
            g.stack.set(&mut store, Val::I64(0))?;
            g.trap.set(&mut store, Val::I32(0))?;
            globals = Some(g);
            instance.get_typed_func::<(), ()>(&store, export)?.call(&mut store, ())
        });
        let (remaining, trap_reason) = match &globals {
            Some(g) => (
                g.gas.get(&store).i64().map_or(0, |v| v as u64),
                g.trap.get(&store).i32().unwrap_or(0),
            ),
            // Instantiation failed before the call: nothing ran, no gas used.
            None => (budget, 0),
        };
        let gas_used = memory_gas + budget.saturating_sub(remaining);
        close_frame(store.data_mut(), outcome, gas_used, |e| status_of(e, trap_reason))
    }
}

/// The instrumentation's exported globals of one instance.
struct InstrumentGlobals {
    gas: Global,
    stack: Global,
    trap: Global,
}

impl InstrumentGlobals {
    fn of<T>(instance: &wasmi::Instance, store: &wasmi::Store<T>) -> Result<InstrumentGlobals, wasmi::Error> {
        let global = |name: &str| {
            instance
                .get_global(store, name)
                .ok_or_else(|| wasmi::Error::new(format!("instrumented module lacks export {name}")))
        };
        Ok(InstrumentGlobals { gas: global(GAS_EXPORT)?, stack: global(STACK_EXPORT)?, trap: global(TRAP_EXPORT)? })
    }
}

/// Initial pages of the first memory `code` defines (0 without one). `code` has passed
/// validation, so a parse failure cannot happen; it would count as no memory.
fn initial_pages(code: &[u8]) -> u64 {
    for payload in wasmparser::Parser::new(0).parse_all(code) {
        if let Ok(wasmparser::Payload::MemorySection(reader)) = payload {
            return reader.into_iter().next().and_then(Result::ok).map_or(0, |m| m.initial);
        }
    }
    0
}

/// Maps a wasmi error of a frame to a receipt status (the frame's host-recorded end,
/// checked first by the caller, takes precedence). `trap_reason` is `__keel_trap`.
fn status_of(error: &wasmi::Error, trap_reason: i32) -> ReceiptStatus {
    if let Some(HostTrap(t)) = error.downcast_ref::<HostTrap>() {
        return match t {
            Trap::OutOfGas => ReceiptStatus::OutOfGas,
            t => ReceiptStatus::Trap(TrapKind::from_code(t.stable_code()).unwrap_or(TrapKind::Host)),
        };
    }
    let kind = match error.as_trap_code() {
        Some(TrapCode::UnreachableCodeReached) => match trap_reason {
            TRAP_OUT_OF_GAS => return ReceiptStatus::OutOfGas,
            TRAP_STACK_EXHAUSTED => TrapKind::StackExhausted,
            _ => TrapKind::Unreachable,
        },
        Some(TrapCode::MemoryOutOfBounds) => TrapKind::MemoryOutOfBounds,
        Some(TrapCode::TableOutOfBounds) => TrapKind::TableOutOfBounds,
        Some(TrapCode::IndirectCallToNull) => TrapKind::IndirectCallToNull,
        Some(TrapCode::IntegerDivisionByZero) => TrapKind::IntegerDivideByZero,
        Some(TrapCode::IntegerOverflow) => TrapKind::IntegerOverflow,
        Some(TrapCode::BadConversionToInteger) => TrapKind::InvalidConversionToInteger,
        Some(TrapCode::BadSignature) => TrapKind::BadSignature,
        // wasmi's own limits lie beyond the deterministic budget (see the constants).
        Some(TrapCode::StackOverflow) => TrapKind::StackExhausted,
        // Segment initialisation reports some bounds failures as plain errors.
        _ => match error.to_string() {
            m if m.contains("out of bounds table access") => TrapKind::TableOutOfBounds,
            m if m.contains("out of bounds memory access") => TrapKind::MemoryOutOfBounds,
            _ => TrapKind::Host,
        },
    };
    ReceiptStatus::Trap(kind)
}

/// A [`Trap`] raised by a host function, carried through wasmi.
#[derive(Debug)]
struct HostTrap(Trap);

impl std::fmt::Display for HostTrap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl wasmi::errors::HostError for HostTrap {}

/// A host function's view of a wasmi frame: the caller, its memory and its gas global
/// (looked up once per host call).
pub(crate) struct WasmiCtx<'w, 'c, 'a, 'db> {
    caller: &'w mut Caller<'c, Host<'a, 'db>>,
    memory: Option<Memory>,
    gas: Global,
}

impl<'w, 'c, 'a, 'db> WasmiCtx<'w, 'c, 'a, 'db> {
    fn new(caller: &'w mut Caller<'c, Host<'a, 'db>>) -> Result<Self, wasmi::Error> {
        let memory = caller.get_export("memory").and_then(Extern::into_memory);
        let gas = caller
            .get_export(GAS_EXPORT)
            .and_then(Extern::into_global)
            .ok_or_else(|| wasmi::Error::host(HostTrap(Trap::Host("internal: no gas global".into()))))?;
        Ok(WasmiCtx { caller, memory, gas })
    }

    fn set_gas(&mut self, gas: u64) -> Result<(), Trap> {
        self.gas
            .set(&mut *self.caller, Val::I64(gas as i64))
            .map_err(|e| Trap::Host(format!("internal: gas global: {e}")))
    }
}

impl<'a, 'db> HostCtx<'a, 'db> for WasmiCtx<'_, '_, 'a, 'db> {
    fn data(&self) -> &Host<'a, 'db> {
        self.caller.data()
    }
    fn data_mut(&mut self) -> &mut Host<'a, 'db> {
        self.caller.data_mut()
    }
    fn consume_gas(&mut self, gas: u64) -> Result<(), Trap> {
        let left = self.gas_remaining();
        if left < gas {
            self.set_gas(0)?;
            return Err(Trap::OutOfGas);
        }
        self.set_gas(left - gas)
    }
    fn gas_remaining(&self) -> u64 {
        self.gas.get(&*self.caller).i64().map_or(0, |v| v as u64)
    }
    fn memory_size(&self) -> u64 {
        self.memory.map_or(0, |m| m.data_size(&*self.caller) as u64)
    }
    fn read_memory(&self, offset: u64, buf: &mut [u8]) -> Result<(), Trap> {
        let memory = self.memory.ok_or_else(|| Trap::Host("caller has no memory".into()))?;
        let offset = usize::try_from(offset).map_err(|_| Trap::MemoryOutOfBounds)?;
        memory.read(&*self.caller, offset, buf).map_err(|_| Trap::MemoryOutOfBounds)
    }
    fn write_memory(&mut self, offset: u64, data: &[u8]) -> Result<(), Trap> {
        let memory = self.memory.ok_or_else(|| Trap::Host("caller has no memory".into()))?;
        let offset = usize::try_from(offset).map_err(|_| Trap::MemoryOutOfBounds)?;
        memory.write(&mut *self.caller, offset, data).map_err(|_| Trap::MemoryOutOfBounds)
    }
}

/// Adds every host function of ABI v1 to a wasmi linker (the same functions as
/// [`super::host::add_to_linker`]).
fn add_to_linker<'a, 'db>(linker: &mut wasmi::Linker<Host<'a, 'db>>) {
    macro_rules! wrap {
        ($($name:ident($($p:ident: $t:ty),*) -> $r:ty;)*) => {$(
            // A name defined twice would be a bug of the list, caught by every test.
            let _ = linker.func_wrap("env", stringify!($name), |mut c: Caller<'_, Host<'a, 'db>>, $($p: $t),*| -> Result<$r, wasmi::Error> {
                let mut ctx = WasmiCtx::new(&mut c)?;
                super::host::$name(&mut ctx, $($p),*).map_err(|t| wasmi::Error::host(HostTrap(t)))
            });
        )*};
    }
    for_each_host_fn!(wrap);
}
