//! wasmi 2 (the interpreter Substrate's contracts pallet uses) behind the [`Peer`] traits:
//! eager or lazy translation to its register bytecode, fuel metering on or off. wasmi has
//! no serialized artifact: instantiation starts from the in-memory module.

use ::wasmi as w;

use super::{HostStub, Peer, PeerError, PeerInstance, PeerModule, FUEL};

/// When wasmi translates function bodies to its bytecode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WasmiMode {
    /// Validate and translate everything at `Module::new` (`CompilationMode::Eager`).
    Eager,
    /// Validate at `Module::new`, translate each function on its first call
    /// (`CompilationMode::LazyTranslation`, wasmi's default and deterministic).
    Lazy,
}

/// wasmi in one configuration.
pub struct WasmiPeer {
    engine: w::Engine,
    mode: WasmiMode,
    fuel: bool,
}

impl WasmiPeer {
    /// wasmi with translation `mode` and fuel metering on (`fuel`) or off.
    pub fn new(mode: WasmiMode, fuel: bool) -> WasmiPeer {
        let mut config = w::Config::default();
        config.compilation_mode(match mode {
            WasmiMode::Eager => w::CompilationMode::Eager,
            WasmiMode::Lazy => w::CompilationMode::LazyTranslation,
        });
        config.consume_fuel(fuel);
        WasmiPeer { engine: w::Engine::new(&config), mode, fuel }
    }
}

impl Peer for WasmiPeer {
    fn label(&self) -> String {
        let mode = match self.mode {
            WasmiMode::Eager => "wasmi-eager",
            WasmiMode::Lazy => "wasmi-lazy",
        };
        if self.fuel { format!("{mode}+fuel") } else { mode.into() }
    }

    fn metered(&self) -> bool {
        self.fuel
    }

    fn compile(&mut self, wasm: &[u8]) -> Result<Box<dyn PeerModule>, PeerError> {
        let module = w::Module::new(&self.engine, wasm).map_err(|e| PeerError::Rejected(e.to_string()))?;
        Ok(Box::new(WasmiModule { engine: self.engine.clone(), module, fuel: self.fuel }))
    }

    fn has_artifacts(&self) -> bool {
        false
    }

    fn load(&mut self, _artifact: &[u8]) -> Result<Box<dyn PeerModule>, PeerError> {
        Err(PeerError::Unsupported("wasmi has no serialized artifact"))
    }
}

struct WasmiModule {
    engine: w::Engine,
    module: w::Module,
    fuel: bool,
}

/// Host state of one wasmi instance.
struct Host {
    input: Vec<u8>,
    output: Vec<u8>,
}

fn memory(caller: &w::Caller<'_, Host>) -> Result<w::Memory, w::Error> {
    caller
        .get_export("memory")
        .and_then(w::Extern::into_memory)
        .ok_or_else(|| w::Error::new("no exported memory"))
}

fn arg_u32(args: &[w::Val], i: usize) -> u32 {
    match args.get(i) {
        Some(w::Val::I32(v)) => *v as u32,
        _ => 0,
    }
}

impl PeerModule for WasmiModule {
    fn serialize(&self) -> Result<Vec<u8>, PeerError> {
        Err(PeerError::Unsupported("wasmi has no serialized artifact"))
    }

    fn instantiate(&self, input: &[u8]) -> Result<Box<dyn PeerInstance>, PeerError> {
        let mut linker = w::Linker::<Host>::new(&self.engine);
        for imp in self.module.imports() {
            let w::ExternType::Func(ty) = imp.ty() else {
                return Err(PeerError::Instantiate(format!("non-function import {}::{}", imp.module(), imp.name())));
            };
            let ty = ty.clone();
            let r = match HostStub::for_import(imp.module(), imp.name()) {
                HostStub::Input => linker.func_new(imp.module(), imp.name(), ty, |mut caller, args, out| {
                    let (ptr, cap) = (arg_u32(args, 0), arg_u32(args, 1));
                    let data = caller.data().input.clone();
                    let n = data.len().min(cap as usize);
                    memory(&caller)?.write(&mut caller, ptr as usize, &data[..n]).map_err(w::Error::from)?;
                    if let Some(o) = out.first_mut() {
                        *o = w::Val::I32(data.len() as i32);
                    }
                    Ok(())
                }),
                HostStub::ReturnValue => linker.func_new(imp.module(), imp.name(), ty, |mut caller, args, _| {
                    let mut buf = vec![0; arg_u32(args, 1) as usize];
                    memory(&caller)?.read(&caller, arg_u32(args, 0) as usize, &mut buf).map_err(w::Error::from)?;
                    caller.data_mut().output = buf;
                    Ok(())
                }),
                HostStub::Revert => linker.func_new(imp.module(), imp.name(), ty, |caller, args, _| {
                    let mut buf = vec![0; (arg_u32(args, 1) as usize).min(1024)];
                    memory(&caller)?.read(&caller, arg_u32(args, 0) as usize, &mut buf).map_err(w::Error::from)?;
                    Err(w::Error::new(format!("revert: {}", String::from_utf8_lossy(&buf))))
                }),
                HostStub::Zero => linker.func_new(imp.module(), imp.name(), ty, |_, _, out| {
                    for o in out.iter_mut() {
                        *o = w::Val::default_for_ty(o.ty());
                    }
                    Ok(())
                }),
            };
            r.map_err(|e| PeerError::Instantiate(e.to_string()))?;
        }
        let mut store = w::Store::new(&self.engine, Host { input: input.to_vec(), output: Vec::new() });
        if self.fuel {
            store.set_fuel(FUEL).map_err(|e| PeerError::Instantiate(e.to_string()))?;
        }
        let instance = linker
            .instantiate_and_start(&mut store, &self.module)
            .map_err(|e| PeerError::Instantiate(e.to_string()))?;
        Ok(Box::new(WasmiInstance { store, instance, fuel: self.fuel }))
    }
}

struct WasmiInstance {
    store: w::Store<Host>,
    instance: w::Instance,
    fuel: bool,
}

impl PeerInstance for WasmiInstance {
    fn call(&mut self, name: &str, args: &[i64]) -> Result<Vec<i64>, PeerError> {
        let f = self
            .instance
            .get_func(&self.store, name)
            .ok_or_else(|| PeerError::Instantiate(format!("no exported function {name}")))?;
        let ty = f.ty(&self.store);
        let params: Vec<w::Val> = ty
            .params()
            .iter()
            .zip(args.iter().copied().chain(std::iter::repeat(0)))
            .map(|(t, a)| match t {
                w::ValType::I32 => w::Val::I32(a as i32),
                w::ValType::I64 => w::Val::I64(a),
                w::ValType::F32 => w::Val::F32(w::F32::from_bits(a as u32)),
                w::ValType::F64 => w::Val::F64(w::F64::from_bits(a as u64)),
                other => w::Val::default_for_ty(*other),
            })
            .collect();
        let mut results: Vec<w::Val> = ty.results().iter().map(|t| w::Val::default_for_ty(*t)).collect();
        if self.fuel {
            self.store.set_fuel(FUEL).map_err(|e| PeerError::Trap(e.to_string()))?;
        }
        f.call(&mut self.store, &params, &mut results).map_err(|e| PeerError::Trap(e.to_string()))?;
        Ok(results
            .iter()
            .map(|v| match v {
                w::Val::I32(x) => *x as i64,
                w::Val::I64(x) => *x,
                w::Val::F32(x) => x.to_bits() as i64,
                w::Val::F64(x) => x.to_bits() as i64,
                _ => 0,
            })
            .collect())
    }

    fn return_data(&self) -> Vec<u8> {
        self.store.data().output.clone()
    }
}
