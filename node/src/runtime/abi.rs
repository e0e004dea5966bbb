//! The host ABI v1 as data: function names and signatures, limits, `call_contract` status
//! codes, and the deploy-time check of a contract module's shape (`specs/abi.md` §1, §2,
//! §4.5, §5).

use keel_engine::{FuncType, ValType};
use wasmparser::{ExternalKind, Parser, Payload, TypeRef, ValType as PValType};

/// Largest storage key, bytes (`specs/abi.md` §2).
pub const MAX_KEY_LEN: u64 = 1024;
/// Largest storage value, bytes.
pub const MAX_VALUE_LEN: u64 = 65_536;
/// Largest call data of a frame (transaction input or `call_contract` input), bytes.
pub const MAX_INPUT_LEN: u64 = 65_536;
/// Largest return data (`return_value`), bytes.
pub const MAX_RETURN_LEN: u64 = 65_536;
/// Largest revert message, bytes.
pub const MAX_REVERT_LEN: u64 = 1024;
/// Most topics per event (each 32 bytes).
pub const MAX_TOPICS: u64 = 4;
/// Largest event data, bytes.
pub const MAX_EVENT_DATA_LEN: u64 = 16_384;
/// Most events per transaction, over all frames.
pub const MAX_EVENTS_PER_TX: usize = 1024;
/// Most frames on one call stack (the top-level frame is depth 1).
pub const MAX_CALL_DEPTH: usize = 16;

/// `call_contract` status codes (`specs/abi.md` §4.5).
pub mod status {
    /// The callee returned; the output is its return data.
    pub const OK: i32 = 0;
    /// The callee reverted; the output is its message.
    pub const REVERTED: i32 = 1;
    /// The callee trapped (any kind but out of gas).
    pub const TRAPPED: i32 = 2;
    /// The callee ran out of its gas.
    pub const OUT_OF_GAS: i32 = 3;
    /// No contract at the callee address.
    pub const NO_CONTRACT: i32 = 4;
    /// The running contract cannot pay the value.
    pub const INSUFFICIENT_BALANCE: i32 = 5;
    /// The call would make more than [`super::MAX_CALL_DEPTH`] frames.
    pub const DEPTH_EXCEEDED: i32 = 6;
    /// The callee already has a frame on this call stack.
    pub const REENTRANT: i32 = 7;
}

/// One host function of module `"env"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum HostFn {
    /// `input(out_ptr, out_cap) -> len`
    Input,
    /// `return_value(ptr, len)`
    ReturnValue,
    /// `revert(ptr, len)`
    Revert,
    /// `caller(out_ptr)`
    Caller,
    /// `self_address(out_ptr)`
    SelfAddress,
    /// `block_height() -> i64`
    BlockHeight,
    /// `block_timestamp() -> i64`
    BlockTimestamp,
    /// `balance(addr_ptr, out_ptr)`
    Balance,
    /// `transfer(to_ptr, amount_ptr) -> status`
    Transfer,
    /// `storage_read(key_ptr, key_len, out_ptr, out_cap) -> len or -1`
    StorageRead,
    /// `storage_write(key_ptr, key_len, val_ptr, val_len) -> existed`
    StorageWrite,
    /// `storage_remove(key_ptr, key_len) -> existed`
    StorageRemove,
    /// `storage_has(key_ptr, key_len) -> present`
    StorageHas,
    /// `emit_event(topics_ptr, topic_count, data_ptr, data_len)`
    EmitEvent,
    /// `call_contract(callee_ptr, value_ptr, gas_limit, input_ptr, input_len, out_ptr, out_cap, out_len_ptr) -> status`
    CallContract,
    /// `blake3(data_ptr, data_len, out_ptr)`
    Blake3,
    /// `ed25519_verify(sig_ptr, pubkey_ptr, msg_ptr, msg_len) -> valid`
    Ed25519Verify,
}

impl HostFn {
    /// Every host function, in `specs/abi.md` §5 order.
    pub const ALL: [HostFn; 17] = [
        HostFn::Input,
        HostFn::ReturnValue,
        HostFn::Revert,
        HostFn::Caller,
        HostFn::SelfAddress,
        HostFn::BlockHeight,
        HostFn::BlockTimestamp,
        HostFn::Balance,
        HostFn::Transfer,
        HostFn::StorageRead,
        HostFn::StorageWrite,
        HostFn::StorageRemove,
        HostFn::StorageHas,
        HostFn::EmitEvent,
        HostFn::CallContract,
        HostFn::Blake3,
        HostFn::Ed25519Verify,
    ];

    /// The import name (also the `[host.NAME]` key of the cost table).
    pub fn name(self) -> &'static str {
        match self {
            HostFn::Input => "input",
            HostFn::ReturnValue => "return_value",
            HostFn::Revert => "revert",
            HostFn::Caller => "caller",
            HostFn::SelfAddress => "self_address",
            HostFn::BlockHeight => "block_height",
            HostFn::BlockTimestamp => "block_timestamp",
            HostFn::Balance => "balance",
            HostFn::Transfer => "transfer",
            HostFn::StorageRead => "storage_read",
            HostFn::StorageWrite => "storage_write",
            HostFn::StorageRemove => "storage_remove",
            HostFn::StorageHas => "storage_has",
            HostFn::EmitEvent => "emit_event",
            HostFn::CallContract => "call_contract",
            HostFn::Blake3 => "blake3",
            HostFn::Ed25519Verify => "ed25519_verify",
        }
    }

    /// The host function imported as `env::name`, if any.
    pub fn from_name(name: &str) -> Option<HostFn> {
        HostFn::ALL.into_iter().find(|f| f.name() == name)
    }

    /// The exact wasm signature (`specs/abi.md` §5).
    pub fn signature(self) -> FuncType {
        use ValType::{I32, I64};
        let (params, results): (&[ValType], &[ValType]) = match self {
            HostFn::Input => (&[I32, I32], &[I32]),
            HostFn::ReturnValue | HostFn::Revert => (&[I32, I32], &[]),
            HostFn::Caller | HostFn::SelfAddress => (&[I32], &[]),
            HostFn::BlockHeight | HostFn::BlockTimestamp => (&[], &[I64]),
            HostFn::Balance => (&[I32, I32], &[]),
            HostFn::Transfer => (&[I32, I32], &[I32]),
            HostFn::StorageRead | HostFn::StorageWrite => (&[I32, I32, I32, I32], &[I32]),
            HostFn::StorageRemove | HostFn::StorageHas => (&[I32, I32], &[I32]),
            HostFn::EmitEvent => (&[I32, I32, I32, I32], &[]),
            HostFn::CallContract => (&[I32, I32, I64, I32, I32, I32, I32, I32], &[I32]),
            HostFn::Blake3 => (&[I32, I32, I32], &[]),
            HostFn::Ed25519Verify => (&[I32, I32, I32, I32], &[I32]),
        };
        FuncType { params: params.to_vec(), results: results.to_vec() }
    }
}

/// Why a module does not have the shape of a contract (`specs/abi.md` §1). The Deploy
/// transaction then fails with `ReceiptStatus::InvalidCode` carrying this message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShapeError {
    /// The bytes do not parse as a WebAssembly module.
    #[error("malformed module: {0}")]
    Malformed(String),
    /// An import other than a function of module `"env"`.
    #[error("import {module}::{name} is not a function of module \"env\"")]
    ForeignImport {
        /// Import module.
        module: String,
        /// Import name.
        name: String,
    },
    /// An `env` import whose name is not a host function of ABI v1.
    #[error("unknown host function env::{0}")]
    UnknownHostFunction(String),
    /// An `env` import with the wrong signature.
    #[error("host function env::{name} imported with the wrong signature (expected {expected})")]
    WrongSignature {
        /// The host function.
        name: String,
        /// The ABI signature, e.g. `[i32, i32] -> [i32]`.
        expected: String,
    },
    /// A required export is missing or of the wrong kind.
    #[error("missing export {0:?}")]
    MissingExport(&'static str),
    /// `deploy` or `call` is not of type `[] -> []`.
    #[error("export {0:?} must be a function of type [] -> []")]
    BadEntryType(&'static str),
    /// The module has a start function.
    #[error("a contract may not have a start function")]
    StartFunction,
}

fn fmt_sig(t: &FuncType) -> String {
    let list = |v: &[ValType]| v.iter().map(|t| format!("{t:?}").to_lowercase()).collect::<Vec<_>>().join(", ");
    format!("[{}] -> [{}]", list(&t.params), list(&t.results))
}

fn conv(v: &PValType) -> Option<ValType> {
    Some(match v {
        PValType::I32 => ValType::I32,
        PValType::I64 => ValType::I64,
        PValType::F32 => ValType::F32,
        PValType::F64 => ValType::F64,
        _ => return None,
    })
}

/// Checks the module shape of `specs/abi.md` §1: imports are only functions of module
/// `"env"` named and typed as in §4; exports `"memory"` (a defined memory), `"deploy"` and
/// `"call"` (functions `[] -> []`); no start function. Does not check the deterministic
/// profile (the engine does when compiling).
pub fn check_contract_shape(wasm: &[u8]) -> Result<(), ShapeError> {
    let mut types: Vec<Option<FuncType>> = Vec::new();
    let mut func_types: Vec<u32> = Vec::new(); // type index of every function, imports first
    let mut exports: Vec<(String, ExternalKind, u32)> = Vec::new();
    let malformed = |e: wasmparser::BinaryReaderError| ShapeError::Malformed(e.to_string());
    for payload in Parser::new(0).parse_all(wasm) {
        match payload.map_err(malformed)? {
            Payload::TypeSection(reader) => {
                for ty in reader.into_iter_err_on_gc_types() {
                    let f = ty.map_err(malformed)?;
                    let params: Option<Vec<_>> = f.params().iter().map(conv).collect();
                    let results: Option<Vec<_>> = f.results().iter().map(conv).collect();
                    types.push(params.zip(results).map(|(params, results)| FuncType { params, results }));
                }
            }
            Payload::ImportSection(reader) => {
                for imp in reader.into_imports() {
                    let imp = imp.map_err(malformed)?;
                    let TypeRef::Func(ti) = imp.ty else {
                        return Err(ShapeError::ForeignImport { module: imp.module.into(), name: imp.name.into() });
                    };
                    if imp.module != "env" {
                        return Err(ShapeError::ForeignImport { module: imp.module.into(), name: imp.name.into() });
                    }
                    let host = HostFn::from_name(imp.name)
                        .ok_or_else(|| ShapeError::UnknownHostFunction(imp.name.into()))?;
                    let want = host.signature();
                    if types.get(ti as usize).and_then(|t| t.as_ref()) != Some(&want) {
                        return Err(ShapeError::WrongSignature { name: imp.name.into(), expected: fmt_sig(&want) });
                    }
                    func_types.push(ti);
                }
            }
            Payload::FunctionSection(reader) => {
                for ti in reader {
                    func_types.push(ti.map_err(malformed)?);
                }
            }
            Payload::ExportSection(reader) => {
                for e in reader {
                    let e = e.map_err(malformed)?;
                    exports.push((e.name.to_string(), e.kind, e.index));
                }
            }
            Payload::StartSection { .. } => return Err(ShapeError::StartFunction),
            _ => {}
        }
    }
    let find = |name: &str| exports.iter().find(|(n, _, _)| n == name).map(|(_, k, i)| (*k, *i));
    match find("memory") {
        // Imports are functions only (checked above), so memory 0 is defined here.
        Some((ExternalKind::Memory, 0)) => {}
        _ => return Err(ShapeError::MissingExport("memory")),
    }
    let unit = FuncType { params: vec![], results: vec![] };
    for entry in ["deploy", "call"] {
        let Some((ExternalKind::Func, index)) = find(entry) else {
            return Err(ShapeError::MissingExport(entry));
        };
        let ty = func_types.get(index as usize).and_then(|&ti| types.get(ti as usize)).and_then(|t| t.as_ref());
        if ty != Some(&unit) {
            return Err(ShapeError::BadEntryType(entry));
        }
    }
    Ok(())
}
