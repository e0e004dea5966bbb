//! keel-engine: Keel's single-pass WebAssembly compiler and its runtime.
//!
//! The pipeline: [`Module::new`] validates a module against the engine's deterministic
//! profile and analyzes its metering (`keel_metering::analyze_each`, which hands over each
//! function with its operators decoded once, as soon as it is validated), and compiles each
//! function in one forward pass over those operators (`compiler`) through an ISA's
//! [`masm::MacroAssembler`] (`isa::x64`); with [`Config::parallel_compilation`] two
//! threads validate, analyze and compile parts of the functions (`keel_metering::parse`),
//! whose code is then appended in order. Gas is charged natively per metered basic
//! block, the deterministic stack budget on every function entry, exactly as the
//! reference instrumentation (`keel_metering::instrument`) does in wasm.
//!
//! The API follows Wasmtime and wasmi: [`Engine`], [`Module`], [`Store`], [`Linker`],
//! [`Instance`], [`Func`], [`TypedFunc`], [`Caller`].
//!
//! ```
//! use keel_engine::{Config, Engine, Linker, Module, Store, Trap, Error};
//! let engine = Engine::new(Config::default()).unwrap();
//! let wasm = wat::parse_str(r#"(module
//!     (func (export "spin") (loop br 0)))"#).unwrap();
//! let module = Module::new(&engine, &wasm).unwrap();
//! let mut store = Store::new(&engine, ());
//! store.set_gas_limit(10_000);
//! let instance = Linker::new().instantiate(&mut store, &module).unwrap();
//! let spin = instance.get_typed_func::<(), (), ()>(&mut store, "spin").unwrap();
//! assert_eq!(spin.call(&mut store, ()), Err(Error::Trap(Trap::OutOfGas)));
//! assert_eq!(store.gas_used(), 10_000);
//! ```

#![warn(missing_docs)]

pub mod compiler;
pub mod engine;
pub mod error;
mod helper;
pub mod isa;
pub mod masm;
pub mod module;
mod pipeline;
pub mod runtime;
pub mod values;

pub use engine::{Config, Engine, PARALLEL_COMPILATION_MIN_CODE_BYTES};
pub use error::{CompileError, Error, Trap};
pub use isa::Isa;
pub use module::{ExportIndex, ExternType, GlobalType, ImportDesc, MemoryType, Module, TableType};
pub use runtime::instance::{TypedFunc, WasmParams, WasmResults, WasmTy};
pub use runtime::linker::{IntoHostFunc, Linker};
pub use runtime::store::{AsContextMut, Caller, Extern, Func, Global, Instance, Memory, Store, Table, MAX_GAS_LIMIT};
pub use values::{FuncType, Val, ValType};
