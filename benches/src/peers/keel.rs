//! Keel behind the [`Peer`] traits: the whole pipeline (profile validation, metering
//! analysis, single-pass compilation), artifacts from `Module::serialize`.

use keel_engine::{
    Config, Engine, Error, ExternType, FuncType, Linker, Module, Store, Trap, Val, ValType,
};

use super::measure::Clock;
use super::{HostStub, Peer, PeerError, PeerInstance, PeerModule, FUEL};

/// Label of Keel with parallel compilation ([`KeelPeer::two_threads`]).
pub const KEEL_2THREADS: &str = "keel-2threads";

/// Keel with the chain profile (`Config::default()`), or the permissive profile for
/// generated stress inputs and real-world modules (the same wasm features, no structural
/// limits, any import). Compiles on one thread, like every compared engine, except the
/// [`KeelPeer::two_threads`] configuration.
pub struct KeelPeer {
    engine: Engine,
    metered: bool,
    two_threads: bool,
}

impl KeelPeer {
    /// Keel with native gas metering on (`metered`) or off (`Config::without_metering`:
    /// no gas checks, the deterministic stack accounting stays), validating against the
    /// permissive profile if `permissive`, else the chain profile.
    ///
    /// Errors: engine creation errors.
    pub fn new(metered: bool, permissive: bool) -> Result<KeelPeer, PeerError> {
        let config = if permissive { Config::permissive() } else { Config::default() };
        let config = if metered { config } else { config.without_metering() };
        let engine = Engine::new(config.parallel_compilation(false)).map_err(|e| PeerError::Compile(e.to_string()))?;
        Ok(KeelPeer { engine, metered, two_threads: false })
    }

    /// Keel metered with `Config::parallel_compilation(true)` (validation on a second
    /// thread for code sections of at least `keel_engine::PARALLEL_COMPILATION_MIN_CODE_BYTES`),
    /// labelled [`KEEL_2THREADS`]: compile only, timed on the wall clock.
    ///
    /// Errors: engine creation errors.
    pub fn two_threads(permissive: bool) -> Result<KeelPeer, PeerError> {
        let config = if permissive { Config::permissive() } else { Config::default() };
        let engine = Engine::new(config.parallel_compilation(true)).map_err(|e| PeerError::Compile(e.to_string()))?;
        Ok(KeelPeer { engine, metered: true, two_threads: true })
    }
}

impl Peer for KeelPeer {
    fn label(&self) -> String {
        match (self.two_threads, self.metered) {
            (true, _) => KEEL_2THREADS.into(),
            (false, true) => "keel".into(),
            (false, false) => "keel-unmetered".into(),
        }
    }

    fn compile_clock(&self) -> Clock {
        if self.two_threads { Clock::Wall } else { Clock::ProcessCpu }
    }

    fn compile_only(&self) -> bool {
        self.two_threads
    }

    fn metered(&self) -> bool {
        self.metered
    }

    fn compile(&mut self, wasm: &[u8]) -> Result<Box<dyn PeerModule>, PeerError> {
        let engine = self.engine.clone();
        match Module::new(&engine, wasm) {
            Ok(module) => Ok(Box::new(KeelModule { engine, module })),
            Err(Error::Validation(e)) => Err(PeerError::Rejected(e.to_string())),
            Err(e) => Err(PeerError::Compile(e.to_string())),
        }
    }

    fn has_artifacts(&self) -> bool {
        true
    }

    fn load(&mut self, artifact: &[u8]) -> Result<Box<dyn PeerModule>, PeerError> {
        let engine = self.engine.clone();
        // SAFETY: the artifact was produced by `Module::serialize` of this very engine
        // configuration in this process (the benchmark's own cache), never by a third party.
        let module = unsafe { Module::deserialize(&engine, artifact) }
            .map_err(|e| PeerError::Artifact(e.to_string()))?;
        Ok(Box::new(KeelModule { engine, module }))
    }
}

struct KeelModule {
    engine: Engine,
    module: Module,
}

/// Host state of one Keel instance.
struct KeelHost {
    input: Vec<u8>,
    output: Vec<u8>,
}

fn zero(t: ValType) -> Val {
    Val::default_for(t)
}

impl PeerModule for KeelModule {
    fn serialize(&self) -> Result<Vec<u8>, PeerError> {
        Ok(self.module.serialize())
    }

    fn instantiate(&self, input: &[u8]) -> Result<Box<dyn PeerInstance>, PeerError> {
        let mut linker = Linker::<KeelHost>::new();
        for imp in self.module.imports() {
            let ExternType::Func(ty) = &imp.ty else {
                return Err(PeerError::Instantiate(format!("non-function import {}::{}", imp.module, imp.name)));
            };
            let ty: FuncType = ty.clone();
            match HostStub::for_import(&imp.module, &imp.name) {
                HostStub::Input => {
                    linker.func_new(&imp.module, &imp.name, ty, |mut caller, args, out| {
                        let (ptr, cap) = (arg_u32(args, 0), arg_u32(args, 1));
                        let data = caller.data().input.clone();
                        let n = data.len().min(cap as usize);
                        caller.write_memory(ptr as u64, &data[..n])?;
                        if let Some(o) = out.first_mut() {
                            *o = Val::I32(data.len() as i32);
                        }
                        Ok(())
                    });
                }
                HostStub::ReturnValue => {
                    linker.func_new(&imp.module, &imp.name, ty, |mut caller, args, _| {
                        let mut buf = vec![0; arg_u32(args, 1) as usize];
                        caller.read_memory(arg_u32(args, 0) as u64, &mut buf)?;
                        caller.data_mut().output = buf;
                        Ok(())
                    });
                }
                HostStub::Revert => {
                    linker.func_new(&imp.module, &imp.name, ty, |caller, args, _| {
                        let mut buf = vec![0; (arg_u32(args, 1) as usize).min(1024)];
                        caller.read_memory(arg_u32(args, 0) as u64, &mut buf)?;
                        Err(Trap::Host(format!("revert: {}", String::from_utf8_lossy(&buf))))
                    });
                }
                HostStub::Zero => {
                    linker.func_new(&imp.module, &imp.name, ty, |_, _, out| {
                        for o in out.iter_mut() {
                            *o = zero(o.ty());
                        }
                        Ok(())
                    });
                }
            }
        }
        let mut store = Store::new(&self.engine, KeelHost { input: input.to_vec(), output: Vec::new() });
        store.set_gas_limit(FUEL);
        let instance = linker
            .instantiate(&mut store, &self.module)
            .map_err(|e| PeerError::Instantiate(e.to_string()))?;
        Ok(Box::new(KeelInstance { store, instance }))
    }
}

fn arg_u32(args: &[Val], i: usize) -> u32 {
    match args.get(i) {
        Some(Val::I32(v)) => *v as u32,
        _ => 0,
    }
}

struct KeelInstance {
    store: Store<KeelHost>,
    instance: keel_engine::Instance,
}

impl PeerInstance for KeelInstance {
    fn call(&mut self, name: &str, args: &[i64]) -> Result<Vec<i64>, PeerError> {
        let f = self
            .instance
            .get_func(&mut self.store, name)
            .ok_or_else(|| PeerError::Instantiate(format!("no exported function {name}")))?;
        let ty = f.ty(&mut self.store);
        let params: Vec<Val> = ty
            .params
            .iter()
            .zip(args.iter().copied().chain(std::iter::repeat(0)))
            .map(|(t, a)| match t {
                ValType::I32 => Val::I32(a as i32),
                ValType::I64 => Val::I64(a),
                ValType::F32 => Val::F32(a as u32),
                ValType::F64 => Val::F64(a as u64),
                other => zero(*other),
            })
            .collect();
        let mut results: Vec<Val> = ty.results.iter().map(|t| zero(*t)).collect();
        self.store.set_gas_limit(FUEL);
        f.call(&mut self.store, &params, &mut results).map_err(|e| PeerError::Trap(e.to_string()))?;
        Ok(results
            .iter()
            .map(|v| match *v {
                Val::I32(x) => x as i64,
                Val::I64(x) => x,
                Val::F32(x) => x as i64,
                Val::F64(x) => x as i64,
                _ => 0,
            })
            .collect())
    }

    fn return_data(&self) -> Vec<u8> {
        self.store.data().output.clone()
    }
}
