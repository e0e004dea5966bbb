//! Helpers shared by the engine's differential tests: outcomes, trap names and value bits on
//! both sides (Keel, and wasmi running the reference instrumentation), so that every
//! comparison uses one vocabulary.
#![allow(dead_code)]

use keel_engine::{Trap, Val, ValType};

pub mod differential;

/// Runs `wasm` on Keel and on wasmi over the reference instrumentation (gas limit
/// 10,000,000 per call, stack budget 4,096 slots); panics on any divergence or when no
/// export was called.
pub fn same_as_wasmi(wasm: &[u8]) {
    let limits = differential::DiffLimits { gas: 10_000_000, stack_limit: 4_096 };
    match differential::run_one(wasm, false, limits) {
        Some(Ok(report)) => assert!(report.calls > 0, "no export was called"),
        Some(Err(e)) => panic!("Keel and wasmi differ: {e}"),
        None => panic!("the profile rejected the module"),
    }
}

/// `wasm` checked against wasmi ([`same_as_wasmi`]), then instantiated on Keel under the
/// default configuration with 10,000,000 gas, for calls with expected results.
pub fn checked_instance(wasm: &[u8]) -> (keel_engine::Store<()>, keel_engine::Instance) {
    same_as_wasmi(wasm);
    let engine = keel_engine::Engine::new(keel_engine::Config::default()).unwrap();
    let module = keel_engine::Module::new(&engine, wasm).unwrap();
    let mut store = keel_engine::Store::new(&engine, ());
    store.set_gas_limit(10_000_000);
    let inst = keel_engine::Linker::new().instantiate(&mut store, &module).unwrap();
    (store, inst)
}

/// One call's observable outcome: values as bits, or a trap name.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Results as bits.
    Values(Vec<u64>),
    /// The trap's name.
    Trap(&'static str),
}

pub fn keel_trap_name(t: &Trap) -> &'static str {
    match t {
        Trap::Unreachable => "unreachable",
        Trap::IntegerDivideByZero => "div-zero",
        Trap::IntegerOverflow => "int-overflow",
        Trap::InvalidConversionToInteger => "bad-conversion",
        Trap::MemoryOutOfBounds => "memory-oob",
        Trap::TableOutOfBounds => "table-oob",
        Trap::IndirectCallToNull => "null-call",
        Trap::BadSignature => "bad-signature",
        Trap::OutOfGas => "out-of-gas",
        Trap::StackExhausted => "stack-exhausted",
        Trap::Host(_) => "host",
    }
}

pub fn wasmi_trap_name(e: &wasmi::Error, keel_trap_global: i32) -> &'static str {
    use wasmi::TrapCode as C;
    match e.as_trap_code() {
        Some(C::UnreachableCodeReached) => match keel_trap_global {
            keel_metering::instrument::TRAP_OUT_OF_GAS => "out-of-gas",
            keel_metering::instrument::TRAP_STACK_EXHAUSTED => "stack-exhausted",
            _ => "unreachable",
        },
        Some(C::MemoryOutOfBounds) => "memory-oob",
        Some(C::TableOutOfBounds) => "table-oob",
        Some(C::IndirectCallToNull) => "null-call",
        Some(C::IntegerDivisionByZero) => "div-zero",
        Some(C::IntegerOverflow) => "int-overflow",
        Some(C::BadConversionToInteger) => "bad-conversion",
        Some(C::StackOverflow) => "wasmi-stack-overflow",
        Some(C::BadSignature) => "bad-signature",
        _ => {
            let msg = e.to_string();
            if msg.contains("out of bounds table access") {
                "table-oob"
            } else if msg.contains("out of bounds memory access") {
                "memory-oob"
            } else {
                "wasmi-other"
            }
        }
    }
}

pub fn keel_bits(v: &Val) -> u64 {
    match *v {
        Val::I32(x) => u64::from(x as u32),
        Val::I64(x) => x as u64,
        Val::F32(x) => u64::from(x),
        Val::F64(x) => x,
        Val::FuncRef(f) => u64::from(f.is_some()),
        Val::ExternRef(e) => u64::from(e.is_some()),
    }
}

pub fn wasmi_bits(v: &wasmi::Val) -> u64 {
    match v {
        wasmi::Val::I32(x) => u64::from(*x as u32),
        wasmi::Val::I64(x) => *x as u64,
        wasmi::Val::F32(x) => u64::from(x.to_bits()),
        wasmi::Val::F64(x) => x.to_bits(),
        wasmi::Val::FuncRef(f) => u64::from(!f.is_null()),
        wasmi::Val::ExternRef(e) => u64::from(!e.is_null()),
        _ => u64::MAX,
    }
}

/// The Keel type of a wasmi value type.
pub fn keel_type(t: &wasmi::ValType) -> ValType {
    match t {
        wasmi::ValType::I32 => ValType::I32,
        wasmi::ValType::I64 => ValType::I64,
        wasmi::ValType::F32 => ValType::F32,
        wasmi::ValType::F64 => ValType::F64,
        wasmi::ValType::FuncRef => ValType::FuncRef,
        _ => ValType::ExternRef,
    }
}
