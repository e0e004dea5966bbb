//! [`Engine`] and its [`Config`]: the target ISA, gas cost table, deterministic profile and
//! stack budget shared by every module compiled with it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use keel_metering::{CostTable, Profile, DEFAULT_MAX_STACK_SLOTS};

use crate::error::Error;
use crate::isa::Isa;
use crate::values::FuncType;

/// Engine configuration.
///
/// ```
/// let config = keel_engine::Config::default();
/// assert_eq!(config.stack_limit, keel_metering::DEFAULT_MAX_STACK_SLOTS);
/// ```
#[derive(Debug, Clone)]
pub struct Config {
    /// Target instruction set. Any host compiles for any [`Isa`]; modules run only when
    /// it is the host's ([`Engine::can_execute`]).
    pub isa: Isa,
    /// Gas schedule.
    pub cost_table: CostTable,
    /// Deterministic profile modules are validated against.
    pub profile: Profile,
    /// Deterministic stack budget, in slots, for each store (see `specs/gas.md`).
    pub stack_limit: u64,
    /// Native stack bytes reserved beyond what guest frames can use under `stack_limit`,
    /// for host functions and runtime helpers running on the guest stack.
    pub host_stack_bytes: usize,
    /// How deep host functions may re-enter guest code (a host function calling a wasm
    /// function, e.g. a cross-contract call, nests one level). Deeper re-entry traps with
    /// `StackExhausted`, deterministically; each level reserves
    /// [`NATIVE_BYTES_PER_REENTRY`] of native stack for the host frames in between.
    pub max_host_reentry: u32,
    /// Whether compiled code charges gas (default `true`). With `false` the compiler emits
    /// no gas checks and operand-dependent operators (`memory.grow`, bulk memory and table
    /// operators) charge nothing, so gas used stays 0 whatever the gas limit; the
    /// deterministic stack accounting on function entry and exit stays, because it is what
    /// keeps guest frames inside the native stack (deep recursion still traps
    /// `StackExhausted`). For measuring the cost of metering and for trusted,
    /// non-consensus code only: results are the same as metered execution that does not
    /// run out of gas. Artifacts record this setting ([`crate::Module::deserialize`]
    /// refuses a mismatch).
    pub metering: bool,
    /// Whether compilation may use more than one thread (default `true`, as Wasmtime's
    /// `Config::parallel_compilation`). When on, and the module's code section holds at
    /// least [`PARALLEL_COMPILATION_MIN_CODE_BYTES`], [`crate::Module::new`] cuts the
    /// functions into parts of consecutive functions that the calling thread and a second
    /// thread (one the engine starts on first use and keeps, one per concurrent
    /// compilation) validate, analyze and compile independently, then appends the parts'
    /// code in order. Results, traps, gas and errors are exactly those of one thread; so is
    /// the code, byte for byte, on x86-64, while on aarch64 code over 1 MiB may place its
    /// branch veneers differently. If the second thread cannot be started, the calling
    /// thread compiles every part. Not part of artifacts or cache keys.
    pub parallel_compilation: bool,
    /// Whether compiled code may use optional CPU features the host has beyond the
    /// ISA's required ones (default `true`; x86-64: BMI2, for `rorx`, `shlx`, `shrx` and
    /// `sarx`). Only when compiling for the host: a cross-compiling engine uses the
    /// required features alone. The features used are part of the engine's feature list,
    /// which artifacts record: [`crate::Module::deserialize`] refuses an artifact made
    /// with another list (a compiled-code cache filled on one CPU must not be read on
    /// another: wasmd #1688). Off, artifacts load on every machine with the required
    /// features. Results, traps and gas are the same either way.
    pub optional_cpu_features: bool,
}

/// The code-section size, in bytes of wasm, from which [`Config::parallel_compilation`]
/// uses a second thread. Below it, handing work to another thread costs about what it
/// saves: waking a kept thread takes 50-150 µs on the 2-core virtual machine this was
/// measured on, more after the machine has been idle. Measured with `examples/compile_threads.rs`
/// (two threads against one, medians): back to back, the 15-22 KiB example contracts gain
/// 0.98-1.65x, ed25519_verifier (44 KiB) 1.56x, the CosmWasm contracts (220-390 KiB)
/// 1.6-1.75x; with 20 ms of idle time before each compile, the small contracts 0.8-1.07x,
/// ed25519_verifier 0.96x, cw20-base 1.08x. In the peers harness (session 11, two runs)
/// the token contract (18 KiB) compiled at 0.66-0.76x with a 16 KiB threshold, while
/// ed25519_verifier gained 1.15-1.47x and the CosmWasm contracts 1.5-2.2x: hence 32 KiB.
pub const PARALLEL_COMPILATION_MIN_CODE_BYTES: u64 = 32 << 10;

/// Native stack reserved per level of host re-entry, bytes.
pub const NATIVE_BYTES_PER_REENTRY: usize = 64 << 10;

impl Default for Config {
    /// Host ISA, default cost table and chain profile, default stack budget.
    fn default() -> Self {
        Config {
            isa: Isa::host().unwrap_or(Isa::X64),
            cost_table: CostTable::default(),
            profile: Profile::default(),
            stack_limit: DEFAULT_MAX_STACK_SLOTS,
            host_stack_bytes: 8 << 20,
            max_host_reentry: 256,
            metering: true,
            parallel_compilation: true,
            optional_cpu_features: true,
        }
    }
}

impl Config {
    /// The permissive profile (any import, no structural limits) used by the spec
    /// testsuite, with everything else default.
    pub fn permissive() -> Config {
        Config { profile: Profile::permissive(), ..Config::default() }
    }

    /// This configuration with metering switched off (see [`Config::metering`]).
    ///
    /// ```
    /// let config = keel_engine::Config::default().without_metering();
    /// assert!(!config.metering);
    /// ```
    pub fn without_metering(self) -> Config {
        Config { metering: false, ..self }
    }

    /// This configuration with [`Config::parallel_compilation`] set to `parallel`:
    /// whether compilation may use more than one thread. (Wasmtime's method of the same
    /// name takes `&mut self`; Keel's configuration methods take and return the value.)
    ///
    /// ```
    /// let config = keel_engine::Config::default().parallel_compilation(false);
    /// assert!(!config.parallel_compilation);
    /// ```
    pub fn parallel_compilation(self, parallel: bool) -> Config {
        Config { parallel_compilation: parallel, ..self }
    }
}

/// Native bytes one deterministic stack slot may cost at most: a guest frame of `c` slots
/// (`c >= FRAME_OVERHEAD_SLOTS`) uses at most `8c + 32` native bytes (return address,
/// frame link, vmctx, argument pointer, slots in use, slots, alignment, and two spare
/// slots, which on x86-64 hold the 16 bytes of a function's entry thunk when it is called
/// through a function reference), which is at most `16c`.
pub const NATIVE_BYTES_PER_SLOT: usize = 16;

pub(crate) struct EngineInner {
    pub(crate) config: Config,
    /// The CPU features compiled code uses, comma-separated (required, then optional).
    pub(crate) features: String,
    /// Whether the target ISA is the host's (compiled code can run here).
    pub(crate) executable: bool,
    types: Mutex<(HashMap<FuncType, u32>, Vec<FuncType>)>,
    /// Guest stacks reused across this engine's stores.
    pub(crate) stacks: crate::runtime::code::StackPool,
    /// Linear memories reused across this engine's stores.
    pub(crate) memories: crate::runtime::memory::MemoryPool,
    /// Threads kept for [`Config::parallel_compilation`].
    pub(crate) helpers: crate::helper::HelperThreads,
    /// Compilation buffers reused across this engine's [`crate::Module::new`] calls.
    pub(crate) compile_buffers: CompileBufferPool,
    /// Code mappings of dropped modules, reused for new ones.
    pub(crate) code_pool: crate::runtime::code::CodePool,
}

/// The buffers one compilation allocates, kept for the next: the validation walk's
/// ([`keel_metering::WalkBuffers`]), the code generator's per-function ones and the code
/// buffer. Reusing them spares each compilation the allocations and the repeated growth
/// (with its copies) of buffers that end up the same size module after module. They hold
/// only capacity between compilations.
#[derive(Default)]
pub(crate) struct CompileBuffers {
    pub(crate) walk: keel_metering::WalkBuffers,
    pub(crate) codegen: crate::compiler::Scratch,
    pub(crate) code: Vec<u8>,
    /// The walk's buffers of the second thread compiling parts (`crate::pipeline`).
    pub(crate) second_walk: keel_metering::WalkBuffers,
    /// The code generator's buffers of the second thread.
    pub(crate) second_codegen: crate::compiler::Scratch,
}

/// Most [`CompileBuffers`] an engine keeps: one per compilation running at once, up to
/// this many.
const MAX_POOLED_COMPILE_BUFFERS: usize = 4;

/// Largest code buffer an engine keeps, bytes (`Module::new` reserves 8 bytes per byte of
/// wasm code: room for modules of about 500 KiB); buffers grown for larger modules are
/// freed.
const MAX_POOLED_CODE_BYTES: usize = 4 << 20;

/// Largest decoded-operator buffer an engine keeps, bytes (the operators of a function of
/// about 100 KiB of wasm; a decoded operator takes 56 bytes). With
/// [`MAX_POOLED_CODE_BYTES`], an idle engine holds at most about
/// `MAX_POOLED_COMPILE_BUFFERS * 8` MiB for compilation, typically a few hundred KiB.
const MAX_POOLED_OPERATOR_BYTES: usize = 4 << 20;

/// [`CompileBuffers`] waiting for the next compilation.
#[derive(Default)]
pub(crate) struct CompileBufferPool(Mutex<Vec<CompileBuffers>>);

impl CompileBufferPool {
    /// Buffers for a compilation: kept ones, or new (empty) ones.
    pub(crate) fn take(&self) -> CompileBuffers {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).pop().unwrap_or_default()
    }

    /// Keeps `buffers` for a later compilation, unless the pool is full or they grew
    /// beyond [`MAX_POOLED_CODE_BYTES`] or [`MAX_POOLED_OPERATOR_BYTES`].
    pub(crate) fn give(&self, mut buffers: CompileBuffers) {
        let operator_bytes = buffers.walk.operator_bytes().max(buffers.second_walk.operator_bytes());
        if buffers.code.capacity() > MAX_POOLED_CODE_BYTES || operator_bytes > MAX_POOLED_OPERATOR_BYTES {
            return;
        }
        buffers.code.clear();
        let mut pool = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if pool.len() < MAX_POOLED_COMPILE_BUFFERS {
            pool.push(buffers);
        }
    }
}

/// A compilation and execution environment. Cheap to clone (shared).
///
/// ```
/// let engine = keel_engine::Engine::new(keel_engine::Config::default()).unwrap();
/// # let _ = engine;
/// ```
#[derive(Clone)]
pub struct Engine {
    pub(crate) inner: Arc<EngineInner>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine").field("isa", &self.inner.config.isa).finish()
    }
}

impl Default for Engine {
    /// An engine with [`Config::default`]. Panics only if the host cannot run Keel.
    fn default() -> Self {
        Engine::new(Config::default()).expect("host supports Keel")
    }
}

impl Engine {
    /// Creates an engine.
    ///
    /// An engine whose `config.isa` is not the host's is a cross-compiler: its modules
    /// can be compiled, inspected and serialized (the artifact records the target ISA and
    /// the CPU features the code needs), but instantiating one fails with
    /// [`Error::Engine`].
    ///
    /// Errors: [`Error::Engine`] when the stack settings are out of range, or when
    /// `config.isa` is the host's and the CPU lacks a required feature.
    pub fn new(config: Config) -> Result<Engine, Error> {
        let max_slots = (1u64 << 30) / NATIVE_BYTES_PER_SLOT as u64;
        if config.stack_limit > max_slots || config.max_host_reentry > 65_536 {
            return Err(Error::Engine(format!(
                "stack_limit must be at most {max_slots} slots and max_host_reentry at most 65536"
            )));
        }
        let executable = config.isa.is_host();
        let features = if executable {
            let mut features =
                config.isa.check_features().map_err(|f| Error::Engine(format!("CPU feature {f} required")))?;
            if config.optional_cpu_features {
                for (name, present) in config.isa.optional_features() {
                    if present {
                        features.push(',');
                        features.push_str(name);
                    }
                }
            }
            features
        } else {
            config.isa.required_features()
        };
        // Keep resident what guest frames may touch within the budget, plus 512 KiB for the
        // entry trampoline and host calls.
        let keep = (config.stack_limit as usize).saturating_mul(NATIVE_BYTES_PER_SLOT).saturating_add(512 << 10);
        let stacks = crate::runtime::code::StackPool::new(crate::runtime::store::guest_stack_size(&config), keep);
        Ok(Engine {
            inner: Arc::new(EngineInner {
                stacks,
                memories: crate::runtime::memory::MemoryPool::new(),
                helpers: crate::helper::HelperThreads::default(),
                compile_buffers: CompileBufferPool::default(),
                code_pool: crate::runtime::code::CodePool::default(),
                config,
                features,
                executable,
                types: Mutex::new((HashMap::new(), Vec::new())),
            }),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// The CPU features this engine's compiled code uses, comma-separated: the ISA's
    /// required ones, then the optional ones the host has
    /// ([`Config::optional_cpu_features`]). Artifacts record it.
    ///
    /// ```
    /// let engine = keel_engine::Engine::new(keel_engine::Config::default()).unwrap();
    /// assert!(!engine.cpu_features().is_empty());
    /// ```
    pub fn cpu_features(&self) -> &str {
        &self.inner.features
    }

    /// Whether [`Engine::cpu_features`] lists `name`.
    pub fn uses_cpu_feature(&self, name: &str) -> bool {
        self.inner.features.split(',').any(|f| f == name)
    }

    /// Whether this engine's code can run on this machine (its target ISA is the host's
    /// and the CPU has the features the code needs). A cross-compiling engine returns
    /// false.
    pub fn can_execute(&self) -> bool {
        self.inner.executable
    }

    /// Whether two handles are the same engine.
    pub fn same(a: &Engine, b: &Engine) -> bool {
        Arc::ptr_eq(&a.inner, &b.inner)
    }

    /// Engine-wide id of a signature (structurally equal signatures share an id).
    pub(crate) fn intern(&self, ty: &FuncType) -> u32 {
        let mut g = self.inner.types.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(id) = g.0.get(ty) {
            return *id;
        }
        let id = g.1.len() as u32 + 1;
        g.1.push(ty.clone());
        g.0.insert(ty.clone(), id);
        id
    }
}
