//! The contract runtime: runs contract entry points against a [`WorkingState`] through the
//! host ABI v1 (`specs/abi.md`), on `keel_engine`.
//!
//! - [`Runtime`] owns the engine (ISA, cost table, profile, stack budget), the host-function
//!   costs of the cost table, and the compiled-module cache ([`cache`]): an in-process map
//!   in front of the RocksDB `artifacts` column family.
//! - [`Runtime::deploy`] and [`Runtime::call`] run one top-level frame; the chain
//!   (`crate::chain::apply_transaction`) adds fees, nonces and intrinsic gas around them.
//!   The calibration code can call them directly to time host functions.
//! - Every frame (top-level or `call_contract`) runs in a fresh store and instance with its
//!   own gas limit, inside a state checkpoint: writes, transfers and events of a frame that
//!   reverts or traps are rolled back, with everything it called. A frame first pays for its
//!   initial memory pages ([`Runtime::initial_memory_gas`], `specs/abi.md` §1). The engine
//!   recycles stores' memories and guest stacks, so a frame's set-up costs no `mmap`.
//! - Two backends run contract code, with the same host functions ([`Backend`]): Keel's
//!   single-pass compiler (what validators run), and wasmi over `keel_metering`'s reference
//!   instrumentation (`keel replay --engine wasmi`: a chain audited without trusting
//!   Keel's compiler). Their receipts must be identical.
//! - [`on_executor`] runs work on a long-lived executor thread ([`executor`]) whose native
//!   stack is sized from the engine configuration ([`executor_stack_bytes`], arithmetic in
//!   `specs/abi.md` §6).
//!
//! ```
//! use keel_node::runtime::{BlockEnv, CallParams, DeployParams, Runtime};
//! use keel_node::chain::ReceiptStatus;
//! use keel_node::state::{Account, Address, StateDb};
//!
//! let wasm = wat::parse_str(r#"(module
//!   (import "env" "storage_write" (func $w (param i32 i32 i32 i32) (result i32)))
//!   (import "env" "return_value" (func $ret (param i32 i32)))
//!   (memory (export "memory") 1)
//!   (data (i32.const 0) "k" "hello")
//!   (func (export "deploy") (drop (call $w (i32.const 0) (i32.const 1) (i32.const 1) (i32.const 5))))
//!   (func (export "call") (call $ret (i32.const 1) (i32.const 5))))"#).unwrap();
//! let dir = tempfile::tempdir().unwrap();
//! let db = StateDb::open(dir.path()).unwrap();
//! let rt = Runtime::shared().unwrap();
//! let env = BlockEnv { height: 1, timestamp_ms: 0 };
//! let (alice, contract) = (Address([1; 32]), Address([2; 32]));
//! let mut state = db.working().unwrap();
//! state.set_account(&alice, &Account { balance: 100, nonce: 0, code_hash: None });
//! let deployed = rt
//!     .deploy(&mut state, &env, DeployParams { deployer: alice, address: contract, code: wasm, input: vec![], value: 0, gas_limit: 1_000_000 })
//!     .unwrap();
//! assert_eq!(deployed.status, ReceiptStatus::Success);
//! assert_eq!(state.storage_read(&contract, b"k").unwrap(), Some(b"hello".to_vec()));
//! let called = rt
//!     .call(&mut state, &env, CallParams { caller: alice, contract, input: vec![], value: 0, gas_limit: 1_000_000 })
//!     .unwrap();
//! assert_eq!(called.return_data, b"hello");
//! ```

pub mod abi;
pub mod cache;
mod exec;
pub mod executor;
mod host;
mod reference;

use std::sync::OnceLock;

use keel_engine::engine::{NATIVE_BYTES_PER_REENTRY, NATIVE_BYTES_PER_SLOT};
use keel_engine::{Config, Engine, Module};
use keel_metering::HostCost;

use crate::chain::{Event, ReceiptStatus};
use crate::state::{code_hash, Address, Hash32, StateError, WorkingState};
use abi::HostFn;
use cache::{CacheSource, ModuleCache};
use exec::{run_frame, Entry, FrameSpec, TxExec};

pub use abi::{check_contract_shape, ShapeError, MAX_CALL_DEPTH};

/// The block-level values a contract can read (`block_height`, `block_timestamp`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BlockEnv {
    /// Height of the block being executed (genesis = 0).
    pub height: u64,
    /// Block timestamp, milliseconds since the Unix epoch.
    pub timestamp_ms: u64,
}

/// A Deploy frame: store `code` at `address`, credit `value` from `deployer`, run `deploy`
/// with `input`.
#[derive(Clone, Debug)]
pub struct DeployParams {
    /// The account deploying (the constructor's `caller`); pays `value`.
    pub deployer: Address,
    /// The new contract's address (the chain uses `state::contract_address(deployer, nonce)`).
    pub address: Address,
    /// WebAssembly module bytes.
    pub code: Vec<u8>,
    /// Constructor call data (≤ 64 KiB).
    pub input: Vec<u8>,
    /// Moved from `deployer` to the contract.
    pub value: u128,
    /// Gas for the constructor frame (host calls and wasm execution).
    pub gas_limit: u64,
}

/// A Call frame: credit `value` from `caller` to `contract`, run its `call` with `input`.
#[derive(Clone, Debug)]
pub struct CallParams {
    /// The frame's caller; pays `value`.
    pub caller: Address,
    /// The contract to run.
    pub contract: Address,
    /// Call data (≤ 64 KiB).
    pub input: Vec<u8>,
    /// Moved from `caller` to `contract`.
    pub value: u128,
    /// Gas for the frame and everything it calls.
    pub gas_limit: u64,
}

/// The outcome of a top-level frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// `Success`, `Revert(message)`, `Trap(kind)`, `OutOfGas`, or `InvalidCode(reason)` (a
    /// Deploy whose module fails the profile or the module shape: nothing was run).
    pub status: ReceiptStatus,
    /// Gas used by the frame and its nested calls (≤ the frame's gas limit).
    pub gas_used: u64,
    /// Return data of the frame (empty unless `Success`).
    pub return_data: Vec<u8>,
    /// Events of every frame that succeeded, in emission order (empty unless `Success`).
    pub events: Vec<Event>,
}

/// Why the runtime could not run a frame at all (the state is unchanged).
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// The state database failed; the block must be abandoned.
    #[error(transparent)]
    State(#[from] StateError),
    /// `call` of an address without code.
    #[error("no contract at {0:?}")]
    NoContract(Address),
    /// The deploy target already holds a contract.
    #[error("address {0:?} already holds a contract")]
    AddressInUse(Address),
    /// The caller cannot pay the value.
    #[error("insufficient balance for value: need {required}, have {available}")]
    InsufficientBalance {
        /// The value.
        required: u128,
        /// The caller's balance.
        available: u128,
    },
    /// The engine configuration is unusable on this host, or the cost table lacks a
    /// `[host.NAME]` entry of `specs/abi.md` §5.
    #[error("runtime configuration: {0}")]
    Config(String),
    /// Stored code does not compile with this engine (it passed at deploy time, so the
    /// profile or engine changed).
    #[error("code does not compile: {0}")]
    Compile(String),
    /// The executor thread could not be started or died.
    #[error("executor thread: {0}")]
    Executor(String),
}

/// Which engine runs contract code.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Backend {
    /// Keel's single-pass compiler with native metering (what validators run).
    #[default]
    Native,
    /// wasmi over `keel_metering::instrument` (gas and stack charged by wasm-level
    /// counters, NaNs canonicalized in wasm): the reference semantics, for audits.
    Wasmi,
}

/// The contract runtime: engine, host-function costs, compiled-module cache. Shared by
/// every block execution (it is `Sync`); see the module documentation for an example.
pub struct Runtime {
    engine: Engine,
    host_costs: [HostCost; HostFn::ALL.len()],
    cache: ModuleCache,
    /// The wasmi backend, when this runtime runs contracts on it ([`Backend::Wasmi`]).
    reference: Option<reference::Reference>,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime").field("engine", &self.engine).finish()
    }
}

impl Runtime {
    /// A runtime over an engine with `config`. Errors: [`RuntimeError::Config`] if the
    /// engine cannot run here or the cost table lacks a host function's cost.
    pub fn new(config: Config) -> Result<Runtime, RuntimeError> {
        Runtime::with_backend(config, Backend::Native)
    }

    /// A runtime whose contract code runs on `backend`, with the profile, cost table and
    /// stack budget of `config` (for [`Backend::Wasmi`], the instrumentation is configured
    /// to charge exactly what the native engine with `config` charges). Errors: as
    /// [`Runtime::new`].
    pub fn with_backend(config: Config, backend: Backend) -> Result<Runtime, RuntimeError> {
        let mut host_costs = [HostCost { base: 0, per_byte: 0 }; HostFn::ALL.len()];
        for f in HostFn::ALL {
            host_costs[f as usize] = config
                .cost_table
                .host(f.name())
                .ok_or_else(|| RuntimeError::Config(format!("cost table has no [host.{}]", f.name())))?;
        }
        let engine = Engine::new(config).map_err(|e| RuntimeError::Config(e.to_string()))?;
        if !engine.can_execute() {
            return Err(RuntimeError::Config(format!(
                "the engine targets {}, whose code cannot run on this host",
                engine.config().isa.name()
            )));
        }
        let cache = ModuleCache::new(&engine);
        let reference = (backend == Backend::Wasmi).then(|| reference::Reference::new(engine.config()));
        Ok(Runtime { engine, host_costs, cache, reference })
    }

    /// The process-wide runtime of `backend` with [`Config::default`]: [`Runtime::shared`]
    /// for [`Backend::Native`], a wasmi one (created on first use) for [`Backend::Wasmi`].
    pub fn shared_backend(backend: Backend) -> Result<&'static Runtime, RuntimeError> {
        static WASMI: OnceLock<Result<Runtime, String>> = OnceLock::new();
        match backend {
            Backend::Native => Runtime::shared(),
            Backend::Wasmi => WASMI
                .get_or_init(|| Runtime::with_backend(Config::default(), Backend::Wasmi).map_err(|e| e.to_string()))
                .as_ref()
                .map_err(|e| RuntimeError::Config(e.clone())),
        }
    }

    /// The backend running contract code.
    pub fn backend(&self) -> Backend {
        if self.reference.is_some() {
            Backend::Wasmi
        } else {
            Backend::Native
        }
    }

    pub(crate) fn reference(&self) -> Option<&reference::Reference> {
        self.reference.as_ref()
    }

    /// The instrumented module of `hash` for the wasmi backend (code from `state`).
    pub(crate) fn reference_module(
        &self,
        reference: &reference::Reference,
        state: &WorkingState<'_>,
        hash: &Hash32,
    ) -> Result<reference::Loaded, RuntimeError> {
        if let Some(loaded) = reference.cached(hash) {
            return Ok(loaded);
        }
        let code = stored_code(state, hash)?;
        reference.load(hash, &code).map_err(RuntimeError::Compile)
    }

    /// The process-wide runtime with [`Config::default`] (shipped cost table, default
    /// profile and stack budget), created on first use. Block execution uses it.
    pub fn shared() -> Result<&'static Runtime, RuntimeError> {
        static SHARED: OnceLock<Result<Runtime, String>> = OnceLock::new();
        SHARED
            .get_or_init(|| Runtime::new(Config::default()).map_err(|e| e.to_string()))
            .as_ref()
            .map_err(|e| RuntimeError::Config(e.clone()))
    }

    /// The engine.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Gas a frame whose module declares `pages` initial memory pages pays before its
    /// instance is created: `pages × dynamic.memory_grow_per_page` (`specs/abi.md` §1),
    /// saturating; the same on both backends.
    pub fn initial_memory_gas(&self, pages: u64) -> u64 {
        pages.saturating_mul(self.engine.config().cost_table.dynamic().memory_grow_per_page)
    }

    /// The `[host.NAME]` cost of `f`.
    pub fn host_cost(&self, f: HostFn) -> HostCost {
        self.host_costs[f as usize]
    }

    /// Empties the in-process module map (the on-disk artifact cache stays): the next
    /// load of each module comes from the artifact column family or a compile.
    pub fn clear_memory_cache(&self) {
        self.cache.clear_memory();
    }

    /// Loads the compiled module of `hash` for `state`: in-process map, then the artifact
    /// column family, then the code store + compile. Returns where it came from.
    /// Errors: [`RuntimeError::State`] (no code under `hash` is a corrupt state),
    /// [`RuntimeError::Compile`].
    pub fn load_module(&self, state: &WorkingState<'_>, hash: &Hash32) -> Result<(Module, CacheSource), RuntimeError> {
        if let Some(m) = self.cache.get_memory(hash) {
            return Ok((m, CacheSource::Memory));
        }
        let code = stored_code(state, hash)?;
        let (module, source) = self
            .cache
            .load_or_compile(&self.engine, Some(state.view().db()), hash, &code)
            .map_err(|e| RuntimeError::Compile(e.to_string()))?;
        self.cache.put_memory(*hash, module.clone());
        Ok((module, source))
    }

    /// The key of `code`'s compiled artifact in the `artifacts` column family for this
    /// runtime's engine (`specs/state.md` §2).
    pub fn artifact_key(&self, code: &[u8]) -> crate::state::ArtifactKey {
        self.cache.artifact_key(&self.engine, &code_hash(code), code)
    }

    pub(crate) fn module(&self, state: &WorkingState<'_>, hash: &Hash32) -> Result<Module, RuntimeError> {
        self.load_module(state, hash).map(|(m, _)| m)
    }

    /// Runs a Deploy frame (`specs/abi.md` §1): checks the module (deterministic profile
    /// and contract shape; a failure is `Ok` with status `InvalidCode` and no state
    /// change), stores the code, sets the account's code hash, moves `value`, runs `deploy`.
    /// If `deploy` reverts or traps, nothing of it stays (no code, no storage, no value).
    /// Errors (state unchanged): [`RuntimeError::InsufficientBalance`],
    /// [`RuntimeError::AddressInUse`], [`RuntimeError::State`].
    pub fn deploy(&self, state: &mut WorkingState<'_>, env: &BlockEnv, p: DeployParams) -> Result<Outcome, RuntimeError> {
        let available = state.account(&p.deployer)?.balance;
        if available < p.value {
            return Err(RuntimeError::InsufficientBalance { required: p.value, available });
        }
        if state.account(&p.address)?.code_hash.is_some() {
            return Err(RuntimeError::AddressInUse(p.address));
        }
        let invalid = |reason: String| Outcome {
            status: ReceiptStatus::InvalidCode(reason),
            gas_used: 0,
            return_data: Vec::new(),
            events: Vec::new(),
        };
        if let Err(e) = check_contract_shape(&p.code) {
            return Ok(invalid(e.to_string()));
        }
        let hash = code_hash(&p.code);
        if let Some(reference) = &self.reference {
            if let Err(reason) = reference.load(&hash, &p.code) {
                return Ok(invalid(reason));
            }
        } else if self.cache.get_memory(&hash).is_none() {
            match self.cache.load_or_compile(&self.engine, Some(state.view().db()), &hash, &p.code) {
                Ok((module, _)) => self.cache.put_memory(hash, module),
                Err(e) => return Ok(invalid(e.to_string())),
            }
        }
        let cp = state.checkpoint();
        state.put_code(p.code);
        let mut account = state.account(&p.address)?;
        account.code_hash = Some(hash);
        state.set_account(&p.address, &account);
        let spec = FrameSpec {
            code_hash: hash,
            address: p.address,
            caller: p.deployer,
            value: p.value,
            input: p.input,
            entry: Entry::Deploy,
            gas_limit: p.gas_limit,
        };
        self.top_level(state, env, spec, cp)
    }

    /// Runs a Call frame (`specs/abi.md` §1): moves `value`, runs `call`. If it reverts or
    /// traps, all its effects (and those of every frame it called) are rolled back.
    /// Errors (state unchanged): [`RuntimeError::NoContract`],
    /// [`RuntimeError::InsufficientBalance`], [`RuntimeError::State`].
    pub fn call(&self, state: &mut WorkingState<'_>, env: &BlockEnv, p: CallParams) -> Result<Outcome, RuntimeError> {
        let Some(hash) = state.account(&p.contract)?.code_hash else {
            return Err(RuntimeError::NoContract(p.contract));
        };
        let available = state.account(&p.caller)?.balance;
        if available < p.value {
            return Err(RuntimeError::InsufficientBalance { required: p.value, available });
        }
        let cp = state.checkpoint();
        let spec = FrameSpec {
            code_hash: hash,
            address: p.contract,
            caller: p.caller,
            value: p.value,
            input: p.input,
            entry: Entry::Call,
            gas_limit: p.gas_limit,
        };
        self.top_level(state, env, spec, cp)
    }

    /// Runs `spec` as the top-level frame inside checkpoint `cp` (already open; also covers
    /// a Deploy's code and account writes).
    fn top_level(
        &self,
        state: &mut WorkingState<'_>,
        env: &BlockEnv,
        spec: FrameSpec,
        cp: crate::state::Checkpoint,
    ) -> Result<Outcome, RuntimeError> {
        let tx = TxExec { state, env: *env, events: Vec::new(), stack: Vec::new(), fatal: None };
        let (tx, result) = run_frame(self, tx, spec);
        let TxExec { state, events, fatal, .. } = tx;
        if let Some(e) = fatal {
            let _ = state.revert_to(cp);
            return Err(RuntimeError::State(e));
        }
        let success = result.status == ReceiptStatus::Success;
        if success {
            state.commit_checkpoint(cp)?;
        } else {
            state.revert_to(cp)?;
        }
        Ok(Outcome {
            status: result.status,
            gas_used: result.gas_used,
            return_data: if success { result.return_data } else { Vec::new() },
            events: if success { events } else { Vec::new() },
        })
    }
}

/// The code stored under `hash`; its absence is a corrupt state (an account names it).
fn stored_code(state: &WorkingState<'_>, hash: &Hash32) -> Result<Vec<u8>, StateError> {
    state
        .code(hash)?
        .ok_or_else(|| StateError::Corrupt(format!("contract code {} missing from the code store", hex(hash))))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Native stack reserved on the executor thread for the runtime itself (block loop, state
/// reads through RocksDB, signature checks, module loading and compilation), bytes.
pub const RUNTIME_HOST_STACK_BYTES: usize = 8 << 20;

/// Native stack bytes of one store's guest stack under `config`: `16 × stack_limit +
/// host_stack_bytes + (max_host_reentry + 1) × 64 KiB` (`keel_engine`'s layout: a guest
/// frame of `c` slots uses at most `16c` native bytes).
pub fn guest_stack_bytes(config: &Config) -> usize {
    (config.stack_limit as usize)
        .saturating_mul(NATIVE_BYTES_PER_SLOT)
        .saturating_add(config.host_stack_bytes)
        .saturating_add((config.max_host_reentry as usize + 1).saturating_mul(NATIVE_BYTES_PER_REENTRY))
}

/// Native stack of the executor thread: `MAX_CALL_DEPTH × guest_stack_bytes(config) +
/// RUNTIME_HOST_STACK_BYTES` — as if every frame of the deepest call chain ran its whole
/// deterministic budget on this thread's stack. (The engine in fact switches each store to
/// its own guest stack, so this thread only hosts the runtime; the bound holds either way.)
/// With the default configuration: 16 × 25.06 MiB + 8 MiB ≈ 409 MiB of address space,
/// committed only as touched. Arithmetic: `specs/abi.md` §6.
pub fn executor_stack_bytes(config: &Config) -> usize {
    MAX_CALL_DEPTH.saturating_mul(guest_stack_bytes(config)).saturating_add(RUNTIME_HOST_STACK_BYTES)
}

/// Runs `work` on an executor thread with at least [`executor_stack_bytes`] of native stack
/// (for `config`) and returns its result. Executor threads are long-lived and reused
/// ([`executor`]): a call costs a hand-over to a waiting thread, not a thread creation.
/// Errors: [`RuntimeError::Executor`] if no thread can be created or `work` panicked.
pub fn on_executor<R: Send>(config: &Config, work: impl FnOnce() -> R + Send) -> Result<R, RuntimeError> {
    executor::run(executor_stack_bytes(config), work)
}
