//! Runs instrumented modules on wasmi, the reference interpreter, and reads back the gas,
//! stack and trap globals that `keel_metering::instrument` adds.
#![allow(dead_code)]

use keel_metering::instrument::{
    GAS_EXPORT, STACK_EXPORT, TRAP_EXPORT, TRAP_OUT_OF_GAS, TRAP_STACK_EXHAUSTED,
};
use keel_metering::{instrument, InstrumentConfig};
use wasmi::{Engine, Instance, Linker, Module, Store, Val};

/// Why a reference execution stopped early.
#[derive(Debug, Clone, PartialEq)]
pub enum RefTrap {
    /// `__keel_trap` said out of gas.
    OutOfGas,
    /// `__keel_trap` said stack exhausted.
    StackExhausted,
    /// A wasm trap.
    Wasm(wasmi::TrapCode),
    /// Anything else (host errors, wasmi's own limits).
    Other(String),
}

/// An instrumented module instantiated on wasmi.
pub struct RefInstance {
    pub store: Store<()>,
    pub instance: Instance,
}

/// A wasmi engine whose own recursion limit is far above Keel's stack budget, so that the
/// instrumented stack accounting always trips first.
pub fn engine() -> Engine {
    let mut config = wasmi::Config::default();
    config.set_max_recursion_depth(1_000_000);
    config.set_max_stack_height(1 << 30);
    Engine::new(&config)
}

impl RefInstance {
    /// Instruments `wat_or_wasm` with `config` and instantiates it (start function included).
    pub fn new(wat_or_wasm: &[u8], config: &InstrumentConfig) -> RefInstance {
        let wasm = wat::parse_bytes(wat_or_wasm).expect("test module parses").into_owned();
        let out = instrument(&wasm, config).expect("instrumentation succeeds");
        let engine = engine();
        let module = Module::new(&engine, &out.wasm[..]).expect("instrumented module is valid");
        let mut store = Store::new(&engine, ());
        let linker = Linker::<()>::new(&engine);
        let instance = linker.instantiate_and_start(&mut store, &module).expect("instantiates");
        RefInstance { store, instance }
    }

    fn global(&self, name: &str) -> wasmi::Global {
        self.instance.get_global(&self.store, name).expect("instrumented global exported")
    }

    /// Remaining gas.
    pub fn gas_left(&self) -> u64 {
        self.global(GAS_EXPORT).get(&self.store).i64().expect("i64") as u64
    }

    /// Stack slots in use.
    pub fn stack_used(&self) -> u64 {
        self.global(STACK_EXPORT).get(&self.store).i64().expect("i64") as u64
    }

    /// Reads an exported i32 global of the module itself.
    pub fn i32_global(&self, name: &str) -> i32 {
        self.global(name).get(&self.store).i32().expect("i32")
    }

    /// Reads `len` bytes of the exported memory "memory" at `at`.
    pub fn memory(&self, at: usize, len: usize) -> Vec<u8> {
        let mem = self.instance.get_memory(&self.store, "memory").expect("memory exported");
        mem.data(&self.store)[at..at + len].to_vec()
    }

    /// Calls export `name` with `gas` available; returns the results or the trap, and the
    /// gas used.
    pub fn call(&mut self, name: &str, args: &[Val], gas: u64) -> (Result<Vec<Val>, RefTrap>, u64) {
        let gas_g = self.global(GAS_EXPORT);
        gas_g.set(&mut self.store, Val::I64(gas as i64)).expect("set gas");
        self.global(STACK_EXPORT).set(&mut self.store, Val::I64(0)).expect("set stack");
        self.global(TRAP_EXPORT).set(&mut self.store, Val::I32(0)).expect("set trap");
        let func = self.instance.get_func(&self.store, name).expect("export exists");
        let mut results = vec![Val::I32(0); func.ty(&self.store).results().len()];
        for (r, ty) in results.iter_mut().zip(func.ty(&self.store).results()) {
            *r = Val::default_for_ty(*ty);
        }
        let outcome = func.call(&mut self.store, args, &mut results);
        let used = gas - self.gas_left();
        let outcome = match outcome {
            Ok(()) => Ok(results),
            Err(e) => Err(match self.i32_global(TRAP_EXPORT) {
                TRAP_OUT_OF_GAS => RefTrap::OutOfGas,
                TRAP_STACK_EXHAUSTED => RefTrap::StackExhausted,
                _ => match e.as_trap_code() {
                    Some(code) => RefTrap::Wasm(code),
                    None => RefTrap::Other(e.to_string()),
                },
            }),
        };
        (outcome, used)
    }
}
