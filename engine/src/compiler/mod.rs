//! The arch-neutral single-pass compiler: one forward pass over each function's wasm
//! operators drives a [`crate::masm::MacroAssembler`].
//!
//! * `stack`: the abstract value stack (constants, registers, slots) and register allocator.
//! * `control`: control frames and their branch labels.
//! * `frame`: the frame layout (which slot holds which local or stack height).
//! * `codegen`: the operator visitor, gas and stack metering, calls.

pub mod codegen;
pub mod control;
pub mod frame;
pub mod stack;

pub use codegen::{compile_module, CompileEnv, CompiledPart, ModuleCompiler, Scratch};
