//! Module generators shared by Keel's benchmarks: the JIT-bomb shapes (inputs that make
//! compilers superlinear) at any scale, and a large module of ordinary code.
//!
//! Every generator is deterministic: the same arguments give the same bytes. The compute
//! kernels of the execution benchmarks are in [`kernels`].

pub mod kernels;

#[cfg(feature = "peers")]
pub mod peers;

use wasm_encoder::{
    BlockType, CodeSection, ExportKind, ExportSection, Function, FunctionSection, MemorySection,
    MemoryType, Module, TypeSection, ValType,
};

/// A shape that stresses compilers with a non-linear step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BombShape {
    /// `block` nested `10,000 × scale` deep in one function.
    DeepNesting,
    /// One `br_table` with `100,000 × scale` targets.
    HugeBrTable,
    /// One function with `3,125 × scale` locals, the i32 parameter included, each read and
    /// written once (50,000 at 16x, wasmparser's per-function maximum).
    ManyLocals,
    /// One function of `62,500 × scale` operators (1,000,000 at 16x; wasmparser caps a
    /// body at 7.6 MB).
    HugeFunction,
}

impl BombShape {
    /// Every shape.
    pub const ALL: [BombShape; 4] =
        [BombShape::DeepNesting, BombShape::HugeBrTable, BombShape::ManyLocals, BombShape::HugeFunction];

    /// A short name for benchmark ids.
    pub fn name(self) -> &'static str {
        match self {
            BombShape::DeepNesting => "deep_nesting",
            BombShape::HugeBrTable => "huge_br_table",
            BombShape::ManyLocals => "many_locals",
            BombShape::HugeFunction => "huge_function",
        }
    }
}

fn single_function_module(params: &[ValType], results: &[ValType], f: &Function) -> Vec<u8> {
    let mut m = Module::new();
    let mut types = TypeSection::new();
    types.ty().function(params.iter().copied(), results.iter().copied());
    m.section(&types);
    let mut funcs = FunctionSection::new();
    funcs.function(0);
    m.section(&funcs);
    let mut mem = MemorySection::new();
    mem.memory(MemoryType { minimum: 1, maximum: Some(1), memory64: false, shared: false, page_size_log2: None });
    m.section(&mem);
    let mut exports = ExportSection::new();
    exports.export("run", ExportKind::Func, 0);
    exports.export("memory", ExportKind::Memory, 0);
    m.section(&exports);
    let mut code = CodeSection::new();
    code.function(f);
    m.section(&code);
    m.finish()
}

/// The bomb `shape` at `scale` (1, 4, 16, ...): a valid module exporting `run`.
pub fn jit_bomb(shape: BombShape, scale: u32) -> Vec<u8> {
    match shape {
        BombShape::DeepNesting => {
            let depth = 10_000 * scale;
            let mut f = Function::new([]);
            let mut s = f.instructions();
            for _ in 0..depth {
                s.block(BlockType::Empty);
            }
            s.i32_const(1).drop();
            for _ in 0..depth {
                s.end();
            }
            s.i32_const(0).end();
            single_function_module(&[ValType::I32], &[ValType::I32], &f)
        }
        BombShape::HugeBrTable => {
            let targets = 100_000 * scale;
            let mut f = Function::new([]);
            let mut s = f.instructions();
            s.block(BlockType::Empty).block(BlockType::Empty);
            let labels: Vec<u32> = (0..targets).map(|i| i % 2).collect();
            s.local_get(0).br_table(labels, 1).end();
            s.i32_const(1).return_().end().i32_const(2).end();
            single_function_module(&[ValType::I32], &[ValType::I32], &f)
        }
        BombShape::ManyLocals => {
            let n = 3_125 * scale - 1;
            let mut f = Function::new([(n, ValType::I64)]);
            let mut s = f.instructions();
            for i in 0..n {
                s.local_get(1 + (i + 1) % n).i64_const(1).i64_add().local_set(1 + i);
            }
            s.local_get(1).i32_wrap_i64().end();
            single_function_module(&[ValType::I32], &[ValType::I32], &f)
        }
        BombShape::HugeFunction => {
            let ops = 62_500 * scale;
            let mut f = Function::new([(1, ValType::I32)]);
            let mut s = f.instructions();
            // Groups of 4 operators: local.get, i32.const, i32.add, local.set.
            for i in 0..ops / 4 {
                s.local_get(1).i32_const((i % 64) as i32).i32_add().local_set(1);
            }
            s.local_get(1).end();
            single_function_module(&[ValType::I32], &[ValType::I32], &f)
        }
    }
}

/// A large module of ordinary code: `functions` functions, each a loop over memory with
/// integer and float arithmetic, branches and calls to its neighbours (about 180 bytes each).
pub fn large_module(functions: u32) -> Vec<u8> {
    let mut m = Module::new();
    let mut types = TypeSection::new();
    types.ty().function([ValType::I32, ValType::I32], [ValType::I32]);
    m.section(&types);
    let mut funcs = FunctionSection::new();
    for _ in 0..functions {
        funcs.function(0);
    }
    m.section(&funcs);
    let mut mem = MemorySection::new();
    mem.memory(MemoryType { minimum: 2, maximum: Some(16), memory64: false, shared: false, page_size_log2: None });
    m.section(&mem);
    let mut exports = ExportSection::new();
    exports.export("f0", ExportKind::Func, 0);
    exports.export("memory", ExportKind::Memory, 0);
    m.section(&exports);
    let mut code = CodeSection::new();
    for i in 0..functions {
        let mut f = Function::new([(2, ValType::I32), (1, ValType::F64)]);
        let mut s = f.instructions();
        let mem = wasm_encoder::MemArg {
            offset: 0,
            align: 2,
            target: wasm_encoder::MemArgTarget::Memory(0),
            ordering: None,
        };
        s.block(BlockType::Empty).loop_(BlockType::Empty);
        // acc += load(i * 4) * (i ^ a); f += convert(acc) / 3.0
        s.local_get(2).local_get(2).i32_const(4).i32_mul().i32_const(0xfff).i32_and().i32_load(mem);
        s.local_get(2).local_get(0).i32_xor().i32_mul().i32_add().local_set(2);
        s.local_get(4).local_get(2).f64_convert_i32_s().f64_const(3.0.into()).f64_div().f64_add().local_set(4);
        s.local_get(2).i32_const(4).i32_mul().i32_const(0xfff).i32_and().local_get(2).i32_store(mem);
        s.local_get(3).i32_const(1).i32_add().local_tee(3).local_get(1).i32_lt_u().br_if(0);
        s.end().end();
        if i + 1 < functions {
            s.local_get(2).i32_const(1).i32_and().if_(BlockType::Empty);
            s.local_get(2).local_get(1).i32_const(1).i32_shr_u().call(i + 1).local_set(2).end();
        }
        s.local_get(2).local_get(4).i32_trunc_sat_f64_s().i32_add().end();
        code.function(&f);
    }
    m.section(&code);
    m.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use keel_metering::{validate, Profile};

    #[test]
    fn generated_modules_are_valid_under_the_permissive_profile() {
        for shape in BombShape::ALL {
            for scale in [1, 16] {
                let wasm = jit_bomb(shape, scale);
                validate(&wasm, &Profile::permissive())
                    .unwrap_or_else(|e| panic!("{} at {scale}x: {e}", shape.name()));
            }
        }
        validate(&large_module(50), &Profile::default()).expect("large module fits the chain profile");
    }

    #[test]
    fn generators_are_deterministic_and_scale() {
        for shape in BombShape::ALL {
            let a = jit_bomb(shape, 4);
            assert_eq!(a, jit_bomb(shape, 4));
            let one = jit_bomb(shape, 1).len() as f64;
            let four = a.len() as f64;
            assert!(four > 3.0 * one && four < 5.0 * one, "{}: {one} -> {four}", shape.name());
        }
    }
}
