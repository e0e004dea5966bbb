//! Typed errors of validation, cost tables and instrumentation.

use std::fmt;

use thiserror::Error;

/// A WebAssembly proposal the deterministic profile rejects (`specs/profile.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Feature {
    /// Threads: shared memory and atomic operators.
    Threads,
    /// Fixed-width SIMD (`v128`).
    Simd,
    /// Relaxed SIMD.
    RelaxedSimd,
    /// Exception handling (either encoding).
    Exceptions,
    /// Tail calls (`return_call`, `return_call_indirect`).
    TailCall,
    /// 64-bit memories and tables.
    Memory64,
    /// More than one memory.
    MultiMemory,
    /// Garbage collection (structs, arrays, `i31`).
    Gc,
    /// Typed function references (`call_ref`, non-nullable references).
    FunctionReferences,
    /// The component model (a component instead of a core module).
    ComponentModel,
    /// Extended constant expressions.
    ExtendedConst,
    /// Any other proposal, by wasmparser's feature name.
    Other(&'static str),
}

impl Feature {
    /// Maps a wasmparser feature flag name (for example `"SIMD"`) to a feature.
    pub fn from_wasmparser_name(name: &'static str) -> Feature {
        match name {
            "THREADS" | "SHARED_EVERYTHING_THREADS" => Feature::Threads,
            "SIMD" => Feature::Simd,
            "RELAXED_SIMD" => Feature::RelaxedSimd,
            "EXCEPTIONS" | "LEGACY_EXCEPTIONS" => Feature::Exceptions,
            "TAIL_CALL" => Feature::TailCall,
            "MEMORY64" => Feature::Memory64,
            "MULTI_MEMORY" => Feature::MultiMemory,
            "GC" => Feature::Gc,
            "FUNCTION_REFERENCES" => Feature::FunctionReferences,
            "COMPONENT_MODEL" => Feature::ComponentModel,
            "EXTENDED_CONST" => Feature::ExtendedConst,
            other => Feature::Other(other),
        }
    }
}

impl fmt::Display for Feature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            Feature::Threads => "threads (shared memory and atomics)",
            Feature::Simd => "SIMD",
            Feature::RelaxedSimd => "relaxed SIMD",
            Feature::Exceptions => "exception handling",
            Feature::TailCall => "tail calls",
            Feature::Memory64 => "memory64",
            Feature::MultiMemory => "multi-memory",
            Feature::Gc => "garbage collection",
            Feature::FunctionReferences => "typed function references",
            Feature::ComponentModel => "the component model",
            Feature::ExtendedConst => "extended constant expressions",
            Feature::Other(name) => name,
        };
        f.write_str(s)
    }
}

/// A structural limit of the deterministic profile ([`crate::Limits`] holds the values).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Limit {
    /// Size of the whole module, bytes.
    ModuleBytes,
    /// Size of one function body, bytes.
    FunctionBodyBytes,
    /// Functions, imported and defined.
    Functions,
    /// Entries of the type section (signatures).
    Types,
    /// Declared locals of one function, parameters excluded.
    LocalsPerFunction,
    /// Parameters of one signature.
    Params,
    /// Results of one signature.
    Results,
    /// Globals, imported and defined.
    Globals,
    /// Tables.
    Tables,
    /// Elements of one table, initial or maximum.
    TableElements,
    /// Imports.
    Imports,
    /// Exports.
    Exports,
    /// Data segments.
    DataSegments,
    /// Element segments.
    ElementSegments,
    /// Initial pages (64 KiB) of the memory.
    InitialMemoryPages,
    /// Maximum pages (64 KiB) of the memory.
    MaximumMemoryPages,
    /// Nesting depth of `block`/`loop`/`if` in one function.
    NestingDepth,
}

impl Limit {
    /// The limit's field name in [`crate::Limits`] and `specs/profile.md`.
    pub fn name(self) -> &'static str {
        match self {
            Limit::ModuleBytes => "max_module_bytes",
            Limit::FunctionBodyBytes => "max_function_body_bytes",
            Limit::Functions => "max_functions",
            Limit::Types => "max_types",
            Limit::LocalsPerFunction => "max_locals_per_function",
            Limit::Params => "max_params",
            Limit::Results => "max_results",
            Limit::Globals => "max_globals",
            Limit::Tables => "max_tables",
            Limit::TableElements => "max_table_elements",
            Limit::Imports => "max_imports",
            Limit::Exports => "max_exports",
            Limit::DataSegments => "max_data_segments",
            Limit::ElementSegments => "max_element_segments",
            Limit::InitialMemoryPages => "max_initial_memory_pages",
            Limit::MaximumMemoryPages => "max_memory_pages",
            Limit::NestingDepth => "max_nesting_depth",
        }
    }
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

fn at(offset: &Option<u64>) -> String {
    match offset {
        Some(o) => format!(" (at byte offset {o:#x})"),
        None => String::new(),
    }
}

/// Why a module is not accepted by the deterministic profile.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ValidationError {
    /// The module uses a proposal the profile rejects.
    #[error("module uses {feature}, which the deterministic profile rejects{}", at(.offset))]
    UnsupportedFeature {
        /// The proposal.
        feature: Feature,
        /// Where validation first failed because of it.
        offset: Option<u64>,
    },
    /// A structural limit is exceeded.
    #[error("limit {limit} exceeded: found {found}, maximum {max}{}", at(.offset))]
    LimitExceeded {
        /// Which limit.
        limit: Limit,
        /// The value found in the module.
        found: u64,
        /// The profile's maximum.
        max: u64,
        /// Where the offending item is.
        offset: Option<u64>,
    },
    /// An import from a module other than the allowed host modules, or of a kind the
    /// profile does not allow.
    #[error("import {module}.{name} is not allowed: {reason}{}", at(.offset))]
    ForbiddenImport {
        /// The import's module name.
        module: String,
        /// The import's field name.
        name: String,
        /// Why.
        reason: String,
        /// Where the import is.
        offset: Option<u64>,
    },
    /// An export whose name is reserved for Keel's instrumentation (`__keel_` prefix).
    #[error("export name {name:?} uses the reserved prefix \"__keel_\"{}", at(.offset))]
    ReservedExport {
        /// The export's name.
        name: String,
        /// Where it is.
        offset: Option<u64>,
    },
    /// The module is malformed or invalid per the WebAssembly specification.
    #[error("invalid module: {message} (at byte offset {offset:#x})")]
    Invalid {
        /// wasmparser's message.
        message: String,
        /// Byte offset of the fault.
        offset: u64,
    },
}

impl ValidationError {
    pub(crate) fn from_wasmparser(e: wasmparser::BinaryReaderError) -> ValidationError {
        ValidationError::Invalid { message: e.message().to_string(), offset: e.offset() }
    }

    /// The byte offset of the fault, when there is one.
    pub fn offset(&self) -> Option<u64> {
        match self {
            ValidationError::UnsupportedFeature { offset, .. }
            | ValidationError::LimitExceeded { offset, .. }
            | ValidationError::ForbiddenImport { offset, .. }
            | ValidationError::ReservedExport { offset, .. } => *offset,
            ValidationError::Invalid { offset, .. } => Some(*offset),
        }
    }
}

/// Why a gas schedule was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CostTableError {
    /// Malformed TOML, a wrong type, or an unknown key.
    #[error("gas schedule is not valid TOML for a cost table: {0}")]
    Toml(String),
    /// `[operators]` lacks a class.
    #[error("gas schedule has no cost for operator class `{0}`")]
    MissingClass(&'static str),
    /// `[operators]` names a class that does not exist.
    #[error("gas schedule names unknown operator class `{0}`")]
    UnknownClass(String),
    /// A cost is too large to be charged without overflow.
    #[error("gas schedule entry `{key}` = {value} exceeds the maximum {max}")]
    CostTooLarge {
        /// The entry.
        key: String,
        /// Its value.
        value: u64,
        /// The largest allowed.
        max: u64,
    },
}

/// Why instrumentation failed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum InstrumentError {
    /// The input module is not accepted by the profile.
    #[error(transparent)]
    Validation(#[from] ValidationError),
    /// Re-encoding failed (the input used a construct the encoder cannot express).
    #[error("re-encoding the instrumented module failed: {0}")]
    Encode(String),
}
