//! keel-metering: the first half of Keel's pipeline.
//!
//! * [`validate`] decides which modules a chain accepts: the deterministic profile (the
//!   allowed proposals and structural limits of `specs/profile.md`).
//! * [`analyze`] does the same validation and, in the same linear pass, computes each
//!   function's metered basic blocks and frame cost ([`ModuleAnalysis`]), which Keel's
//!   compiler consumes to charge gas and stack natively. [`analyze_each`] is the same pass
//!   handing over each function with its decoded operators as soon as it is validated, so
//!   that the compiler decodes every operator once; [`parse`] splits the same walk so that
//!   parts of the function bodies can be analyzed (and compiled) on several threads.
//! * [`instrument`] writes the same charges into the module itself (gas and stack globals,
//!   optional NaN canonicalization): the reference semantics that any engine (wasmi,
//!   Wasmtime) can run, and that Keel's compiler is tested against.
//! * [`CostTable`] is the gas schedule (`specs/gas-schedule.toml`), with a content hash.
//!
//! ```
//! use keel_metering::{analyze, CostTable, Profile};
//! let wasm = wat::parse_str(r#"(module (func (export "f") (result i32) i32.const 1))"#).unwrap();
//! let (_info, analysis) = analyze(&wasm, &Profile::default(), &CostTable::default()).unwrap();
//! // One basic block: `i32.const` (1 gas) and `end` (0 gas), charged before operator 0.
//! assert_eq!(analysis.functions[0].charges[0].op_index, 0);
//! assert_eq!(analysis.functions[0].charges[0].gas, 1);
//! ```

pub mod analyze;
pub mod cost;
mod decode;
pub mod error;
pub mod instrument;
pub mod nan;
pub mod parallel;
pub mod profile;

pub use analyze::{
    BlockCharge, FunctionAnalysis, LiveRange, ModuleAnalysis, ASSIGNMENT_TRACKED, DEFAULT_MAX_STACK_SLOTS,
    FRAME_OVERHEAD_SLOTS, MAX_BUFFERED_BODY_BYTES,
};
pub use cost::{CostTable, DynamicCosts, DynamicKind, HostCost, OpClass};
pub use error::{CostTableError, Feature, InstrumentError, Limit, ValidationError};
pub use instrument::{instrument, InstrumentConfig, Instrumented};
pub use parallel::{parse, ParsedModule};
pub use profile::{
    allowed_features, analyze, analyze_each, analyze_each_with, validate,
    ImportPolicy, Limits, ModuleInfo, Profile, WalkBuffers, RESERVED_EXPORT_PREFIX,
};
