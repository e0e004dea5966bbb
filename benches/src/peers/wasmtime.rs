//! Wasmtime 48 behind the [`Peer`] traits: Cranelift (the optimizing upper bound) or Winch
//! (its baseline single-pass compiler), fuel metering on or off, artifacts from
//! `Module::serialize`. One compile thread (`Config::parallel_compilation(false)`), like
//! Keel, or Winch with Wasmtime's default parallel compilation ([`WINCH_2THREADS`]).

use ::wasmtime as w;

use super::measure::Clock;
use super::{HostStub, Peer, PeerError, PeerInstance, PeerModule, FUEL};

/// Label of Winch with Wasmtime's parallel compilation ([`WasmtimePeer::winch_two_threads`]).
pub const WINCH_2THREADS: &str = "wasmtime-winch-2threads";

/// Wasmtime's compiler.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    /// Cranelift, optimizing (`OptLevel::Speed`, Wasmtime's default).
    Cranelift,
    /// Winch, the baseline single-pass compiler.
    Winch,
}

/// Wasmtime in one configuration.
pub struct WasmtimePeer {
    engine: w::Engine,
    strategy: Strategy,
    fuel: bool,
    /// Compiles in parallel, timed on the wall clock, compile only.
    parallel: bool,
}

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

impl WasmtimePeer {
    /// Wasmtime with `strategy` and fuel metering on (`fuel`) or off.
    ///
    /// Errors: [`PeerError::Compile`] when Wasmtime refuses the configuration.
    pub fn new(strategy: Strategy, fuel: bool) -> Result<WasmtimePeer, PeerError> {
        WasmtimePeer::with_threads(strategy, fuel, false)
    }

    /// Winch without fuel, with Wasmtime's default parallel compilation (functions on a
    /// rayon pool, two threads on a two-core machine), labelled [`WINCH_2THREADS`]: compile
    /// only, timed on the wall clock, the counterpart of `keel-2threads`.
    ///
    /// Errors: [`PeerError::Compile`] when Wasmtime refuses the configuration.
    pub fn winch_two_threads() -> Result<WasmtimePeer, PeerError> {
        WasmtimePeer::with_threads(Strategy::Winch, false, true)
    }

    fn with_threads(strategy: Strategy, fuel: bool, parallel: bool) -> Result<WasmtimePeer, PeerError> {
        let mut config = w::Config::new();
        config.parallel_compilation(parallel);
        config.strategy(match strategy {
            Strategy::Cranelift => w::Strategy::Cranelift,
            Strategy::Winch => w::Strategy::Winch,
        });
        config.consume_fuel(fuel);
        let engine = w::Engine::new(&config).map_err(|e| PeerError::Compile(err(e)))?;
        Ok(WasmtimePeer { engine, strategy, fuel, parallel })
    }
}

impl Peer for WasmtimePeer {
    fn label(&self) -> String {
        if self.parallel {
            return WINCH_2THREADS.into();
        }
        let s = match self.strategy {
            Strategy::Cranelift => "wasmtime-cranelift",
            Strategy::Winch => "wasmtime-winch",
        };
        if self.fuel { format!("{s}+fuel") } else { s.into() }
    }

    fn metered(&self) -> bool {
        self.fuel
    }

    fn compile_clock(&self) -> Clock {
        if self.parallel { Clock::Wall } else { Clock::ProcessCpu }
    }

    fn compile_only(&self) -> bool {
        self.parallel
    }

    fn compile(&mut self, wasm: &[u8]) -> Result<Box<dyn PeerModule>, PeerError> {
        // Validation failures and unsupported features both surface here; the message
        // says which.
        let module = w::Module::from_binary(&self.engine, wasm).map_err(|e| PeerError::Rejected(format!("{e:#}")))?;
        Ok(Box::new(WasmtimeModule { engine: self.engine.clone(), module, fuel: self.fuel }))
    }

    fn has_artifacts(&self) -> bool {
        true
    }

    fn load(&mut self, artifact: &[u8]) -> Result<Box<dyn PeerModule>, PeerError> {
        // SAFETY: the bytes come from `Module::serialize` of this same engine configuration
        // in this process (the benchmark's own cache); Wasmtime checks the header.
        let module = unsafe { w::Module::deserialize(&self.engine, artifact) }.map_err(|e| PeerError::Artifact(err(e)))?;
        Ok(Box::new(WasmtimeModule { engine: self.engine.clone(), module, fuel: self.fuel }))
    }
}

struct WasmtimeModule {
    engine: w::Engine,
    module: w::Module,
    fuel: bool,
}

/// Host state of one Wasmtime instance.
struct Host {
    input: Vec<u8>,
    output: Vec<u8>,
}

fn memory(caller: &mut w::Caller<'_, Host>) -> w::Result<w::Memory> {
    caller
        .get_export("memory")
        .and_then(w::Extern::into_memory)
        .ok_or_else(|| w::format_err!("no exported memory"))
}

fn arg_u32(args: &[w::Val], i: usize) -> u32 {
    match args.get(i) {
        Some(w::Val::I32(v)) => *v as u32,
        _ => 0,
    }
}

fn zero(t: &w::ValType) -> w::Val {
    w::Val::default_for_ty(t).unwrap_or(w::Val::I32(0))
}

impl PeerModule for WasmtimeModule {
    fn serialize(&self) -> Result<Vec<u8>, PeerError> {
        self.module.serialize().map_err(|e| PeerError::Artifact(err(e)))
    }

    fn instantiate(&self, input: &[u8]) -> Result<Box<dyn PeerInstance>, PeerError> {
        let mut linker = w::Linker::<Host>::new(&self.engine);
        for imp in self.module.imports() {
            let w::ExternType::Func(ty) = imp.ty() else {
                return Err(PeerError::Instantiate(format!("non-function import {}::{}", imp.module(), imp.name())));
            };
            let r = match HostStub::for_import(imp.module(), imp.name()) {
                HostStub::Input => linker.func_new(imp.module(), imp.name(), ty, |mut caller, args, out| {
                    let (ptr, cap) = (arg_u32(args, 0), arg_u32(args, 1));
                    let data = caller.data().input.clone();
                    let n = data.len().min(cap as usize);
                    memory(&mut caller)?.write(&mut caller, ptr as usize, &data[..n])?;
                    if let Some(o) = out.first_mut() {
                        *o = w::Val::I32(data.len() as i32);
                    }
                    Ok(())
                }),
                HostStub::ReturnValue => linker.func_new(imp.module(), imp.name(), ty, |mut caller, args, _| {
                    let mut buf = vec![0; arg_u32(args, 1) as usize];
                    memory(&mut caller)?.read(&caller, arg_u32(args, 0) as usize, &mut buf)?;
                    caller.data_mut().output = buf;
                    Ok(())
                }),
                HostStub::Revert => linker.func_new(imp.module(), imp.name(), ty, |mut caller, args, _| {
                    let mut buf = vec![0; (arg_u32(args, 1) as usize).min(1024)];
                    memory(&mut caller)?.read(&caller, arg_u32(args, 0) as usize, &mut buf)?;
                    Err(w::format_err!("revert: {}", String::from_utf8_lossy(&buf)))
                }),
                HostStub::Zero => {
                    let results: Vec<w::ValType> = ty.results().collect();
                    linker.func_new(imp.module(), imp.name(), ty, move |_, _, out| {
                        for (o, t) in out.iter_mut().zip(&results) {
                            *o = zero(t);
                        }
                        Ok(())
                    })
                }
            };
            r.map_err(|e| PeerError::Instantiate(err(e)))?;
        }
        let mut store = w::Store::new(&self.engine, Host { input: input.to_vec(), output: Vec::new() });
        if self.fuel {
            store.set_fuel(FUEL).map_err(|e| PeerError::Instantiate(err(e)))?;
        }
        let instance = linker.instantiate(&mut store, &self.module).map_err(|e| PeerError::Instantiate(format!("{e:#}")))?;
        Ok(Box::new(WasmtimeInstance { store, instance, fuel: self.fuel }))
    }
}

struct WasmtimeInstance {
    store: w::Store<Host>,
    instance: w::Instance,
    fuel: bool,
}

impl PeerInstance for WasmtimeInstance {
    fn call(&mut self, name: &str, args: &[i64]) -> Result<Vec<i64>, PeerError> {
        let f = self
            .instance
            .get_func(&mut self.store, name)
            .ok_or_else(|| PeerError::Instantiate(format!("no exported function {name}")))?;
        let ty = f.ty(&self.store);
        let params: Vec<w::Val> = ty
            .params()
            .zip(args.iter().copied().chain(std::iter::repeat(0)))
            .map(|(t, a)| match t {
                w::ValType::I32 => w::Val::I32(a as i32),
                w::ValType::I64 => w::Val::I64(a),
                w::ValType::F32 => w::Val::F32(a as u32),
                w::ValType::F64 => w::Val::F64(a as u64),
                other => zero(&other),
            })
            .collect();
        let mut results: Vec<w::Val> = ty.results().map(|t| zero(&t)).collect();
        if self.fuel {
            self.store.set_fuel(FUEL).map_err(|e| PeerError::Trap(err(e)))?;
        }
        f.call(&mut self.store, &params, &mut results).map_err(|e| PeerError::Trap(format!("{e:#}")))?;
        Ok(results
            .iter()
            .map(|v| match v {
                w::Val::I32(x) => *x as i64,
                w::Val::I64(x) => *x,
                w::Val::F32(x) => *x as i64,
                w::Val::F64(x) => *x as i64,
                _ => 0,
            })
            .collect())
    }

    fn return_data(&self) -> Vec<u8> {
        self.store.data().output.clone()
    }
}
