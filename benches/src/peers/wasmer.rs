//! Wasmer 7.4 singlepass (the compiler NEAR and CosmWasm use) behind the [`Peer`] traits,
//! with or without `wasmer-middlewares`' metering (one point per operator, the cost
//! function of its examples), artifacts from `Module::serialize`. One compile thread, or
//! two ([`WASMER_2THREADS`]: singlepass's default on this machine, which compiles
//! functions in parallel on `available_parallelism` threads).

use std::num::NonZero;
use std::sync::Arc;

use ::wasmer as w;
use w::sys::{CompilerConfig, EngineBuilder, Singlepass};
use wasmer_middlewares::metering::{set_remaining_points, Metering};

use super::measure::Clock;
use super::{HostStub, Peer, PeerError, PeerInstance, PeerModule, FUEL};

/// Label of Wasmer singlepass compiling on two threads ([`WasmerPeer::two_threads`]).
pub const WASMER_2THREADS: &str = "wasmer-singlepass-2threads";

/// Wasmer singlepass in one configuration.
pub struct WasmerPeer {
    engine: w::Engine,
    metering: bool,
    /// Compiles on two threads, timed on the wall clock, compile only.
    two_threads: bool,
    /// Whether `engine`'s metering middleware has already compiled a module.
    used: bool,
}

/// A singlepass engine compiling on `threads` threads; with a fresh metering middleware if
/// `metering` (the middleware keeps per-module state, so each compiled module needs its
/// own).
fn engine(metering: bool, threads: NonZero<usize>) -> w::Engine {
    let mut config = Singlepass::new();
    config.num_threads(threads);
    if metering {
        config.push_middleware(Arc::new(Metering::new(FUEL, |_: &w::wasmparser::Operator| 1u64)));
    }
    EngineBuilder::new(config).engine().into()
}

impl WasmerPeer {
    /// Wasmer singlepass with (`metering`) or without the metering middleware.
    pub fn new(metering: bool) -> WasmerPeer {
        WasmerPeer { engine: engine(metering, NonZero::<usize>::MIN), metering, two_threads: false, used: false }
    }

    /// Wasmer singlepass without metering, compiling functions in parallel on two threads
    /// (its default `num_threads` on a two-core machine), labelled [`WASMER_2THREADS`]:
    /// compile only, timed on the wall clock, the counterpart of `keel-2threads`.
    pub fn two_threads() -> WasmerPeer {
        let two = NonZero::<usize>::MIN.saturating_add(1);
        WasmerPeer { engine: engine(false, two), metering: false, two_threads: true, used: false }
    }
}

impl Peer for WasmerPeer {
    fn label(&self) -> String {
        match (self.two_threads, self.metering) {
            (true, _) => WASMER_2THREADS.into(),
            (false, true) => "wasmer-singlepass+metering".into(),
            (false, false) => "wasmer-singlepass".into(),
        }
    }

    fn compile_clock(&self) -> Clock {
        if self.two_threads { Clock::Wall } else { Clock::ProcessCpu }
    }

    fn compile_only(&self) -> bool {
        self.two_threads
    }

    fn metered(&self) -> bool {
        self.metering
    }

    fn before_compile(&mut self) {
        if self.metering && self.used {
            self.engine = engine(true, NonZero::<usize>::MIN);
            self.used = false;
        }
    }

    fn compile(&mut self, wasm: &[u8]) -> Result<Box<dyn PeerModule>, PeerError> {
        // The metering middleware may compile only one module per instance (it panics
        // otherwise); the harness renews it untimed in `before_compile`, this is the net.
        self.before_compile();
        let module = w::Module::from_binary(&self.engine, wasm).map_err(|e| PeerError::Rejected(e.to_string()))?;
        self.used = true;
        Ok(Box::new(WasmerModule { engine: self.engine.clone(), module, metering: self.metering }))
    }

    fn has_artifacts(&self) -> bool {
        true
    }

    fn load(&mut self, artifact: &[u8]) -> Result<Box<dyn PeerModule>, PeerError> {
        // SAFETY: the bytes come from `Module::serialize` of this same engine configuration
        // in this process (the benchmark's own cache), never from a third party.
        let module = unsafe { w::Module::deserialize(&self.engine, artifact.to_vec()) }
            .map_err(|e| PeerError::Artifact(e.to_string()))?;
        Ok(Box::new(WasmerModule { engine: self.engine.clone(), module, metering: self.metering }))
    }
}

struct WasmerModule {
    engine: w::Engine,
    module: w::Module,
    metering: bool,
}

/// Host state of one Wasmer instance.
struct Host {
    input: Vec<u8>,
    output: Vec<u8>,
    memory: Option<w::Memory>,
}

fn arg_u32(args: &[w::Value], i: usize) -> u32 {
    match args.get(i) {
        Some(w::Value::I32(v)) => *v as u32,
        _ => 0,
    }
}

fn zero(t: w::Type) -> w::Value {
    match t {
        w::Type::I64 => w::Value::I64(0),
        w::Type::F32 => w::Value::F32(0.0),
        w::Type::F64 => w::Value::F64(0.0),
        _ => w::Value::I32(0),
    }
}

fn rt(e: impl std::fmt::Display) -> w::RuntimeError {
    w::RuntimeError::new(e.to_string())
}

fn read(env: &mut w::FunctionEnvMut<Host>, ptr: u32, len: usize) -> Result<Vec<u8>, w::RuntimeError> {
    let (host, store) = env.data_and_store_mut();
    let mem = host.memory.as_ref().ok_or_else(|| rt("no exported memory"))?;
    let mut buf = vec![0; len];
    mem.view(&store).read(ptr as u64, &mut buf).map_err(rt)?;
    Ok(buf)
}

impl PeerModule for WasmerModule {
    fn serialize(&self) -> Result<Vec<u8>, PeerError> {
        self.module.serialize().map(|b| b.to_vec()).map_err(|e| PeerError::Artifact(e.to_string()))
    }

    fn instantiate(&self, input: &[u8]) -> Result<Box<dyn PeerInstance>, PeerError> {
        let mut store = w::Store::new(self.engine.clone());
        let env = w::FunctionEnv::new(&mut store, Host { input: input.to_vec(), output: Vec::new(), memory: None });
        let mut imports = w::Imports::new();
        for imp in self.module.imports() {
            let w::ExternType::Function(ty) = imp.ty() else {
                return Err(PeerError::Instantiate(format!("non-function import {}::{}", imp.module(), imp.name())));
            };
            let results: Vec<w::Type> = ty.results().to_vec();
            let f = match HostStub::for_import(imp.module(), imp.name()) {
                HostStub::Input => w::Function::new_with_env(&mut store, &env, ty.clone(), |mut env, args| {
                    let (ptr, cap) = (arg_u32(args, 0), arg_u32(args, 1));
                    let (host, store) = env.data_and_store_mut();
                    let mem = host.memory.as_ref().ok_or_else(|| rt("no exported memory"))?;
                    let n = host.input.len().min(cap as usize);
                    mem.view(&store).write(ptr as u64, &host.input[..n]).map_err(rt)?;
                    Ok(vec![w::Value::I32(host.input.len() as i32)])
                }),
                HostStub::ReturnValue => w::Function::new_with_env(&mut store, &env, ty.clone(), |mut env, args| {
                    let data = read(&mut env, arg_u32(args, 0), arg_u32(args, 1) as usize)?;
                    env.data_mut().output = data;
                    Ok(vec![])
                }),
                HostStub::Revert => w::Function::new_with_env(&mut store, &env, ty.clone(), |mut env, args| {
                    let data = read(&mut env, arg_u32(args, 0), (arg_u32(args, 1) as usize).min(1024))?;
                    Err(rt(format!("revert: {}", String::from_utf8_lossy(&data))))
                }),
                HostStub::Zero => w::Function::new_with_env(&mut store, &env, ty.clone(), move |_, _| {
                    Ok(results.iter().map(|t| zero(*t)).collect())
                }),
            };
            imports.define(imp.module(), imp.name(), f);
        }
        let instance = w::Instance::new(&mut store, &self.module, &imports)
            .map_err(|e| PeerError::Instantiate(e.to_string()))?;
        if let Ok(mem) = instance.exports.get_memory("memory") {
            env.as_mut(&mut store).memory = Some(mem.clone());
        }
        Ok(Box::new(WasmerInstance { store, instance, env, metering: self.metering }))
    }
}

struct WasmerInstance {
    store: w::Store,
    instance: w::Instance,
    env: w::FunctionEnv<Host>,
    metering: bool,
}

impl PeerInstance for WasmerInstance {
    fn call(&mut self, name: &str, args: &[i64]) -> Result<Vec<i64>, PeerError> {
        let f = self
            .instance
            .exports
            .get_function(name)
            .map_err(|e| PeerError::Instantiate(e.to_string()))?
            .clone();
        let ty = f.ty(&self.store);
        let params: Vec<w::Value> = ty
            .params()
            .iter()
            .zip(args.iter().copied().chain(std::iter::repeat(0)))
            .map(|(t, a)| match t {
                w::Type::I32 => w::Value::I32(a as i32),
                w::Type::I64 => w::Value::I64(a),
                w::Type::F32 => w::Value::F32(f32::from_bits(a as u32)),
                w::Type::F64 => w::Value::F64(f64::from_bits(a as u64)),
                other => zero(*other),
            })
            .collect();
        if self.metering {
            set_remaining_points(&mut self.store, &self.instance, FUEL);
        }
        let out = f.call(&mut self.store, &params).map_err(|e| PeerError::Trap(e.to_string()))?;
        Ok(out
            .iter()
            .map(|v| match v {
                w::Value::I32(x) => *x as i64,
                w::Value::I64(x) => *x,
                w::Value::F32(x) => x.to_bits() as i64,
                w::Value::F64(x) => x.to_bits() as i64,
                _ => 0,
            })
            .collect())
    }

    fn return_data(&self) -> Vec<u8> {
        self.env.as_ref(&self.store).output.clone()
    }
}
