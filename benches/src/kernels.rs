//! Compute kernels written as WebAssembly text (`benches/kernels/*.wat`), shared by the
//! execution benchmarks and the peer-engine comparison.
//!
//! Every kernel exports one function `run(n: i64) -> i64` (and may export its memory); it
//! needs no imports, so any engine can run it. `n` scales the work linearly (except for
//! `fib`, where the work grows as fib(n), and `matmul`, where it grows as n^3).
//! Each kernel's file header states exactly what `run` computes; the expected values below
//! were computed independently of any wasm engine (by a direct Python transcription of that
//! statement) and `benches/tests/kernels.rs` checks every engine against them.

/// One benchmark kernel.
#[derive(Debug, Clone, Copy)]
pub struct Kernel {
    /// Short name (also the file stem under `benches/kernels/`).
    pub name: &'static str,
    /// The module, WebAssembly text.
    pub wat: &'static str,
    /// The argument the benchmarks pass to `run` (a few milliseconds on a baseline
    /// compiler, about a hundred on an interpreter).
    pub bench_arg: i64,
    /// `(n, run(n))` pairs, computed outside any wasm engine.
    pub expected: &'static [(i64, i64)],
}

impl Kernel {
    /// The module's binary encoding.
    ///
    /// Errors: the text does not parse (never for the shipped kernels; tested).
    pub fn wasm(&self) -> Result<Vec<u8>, wat::Error> {
        wat::parse_str(self.wat)
    }
}

/// Recursive Fibonacci.
pub const FIB: Kernel = Kernel {
    name: "fib",
    wat: include_str!("../kernels/fib.wat"),
    bench_arg: 25,
    expected: &[(0, 0), (1, 1), (20, 6765), (25, 75025)],
};

/// A load/store/xor loop over one page.
pub const LOOP: Kernel = Kernel {
    name: "loop",
    wat: include_str!("../kernels/loop.wat"),
    bench_arg: 2_000_000,
    expected: &[(10, 1013), (1000, 4294966295), (100_000, 4294867295)],
};

/// A SHA-256 hash chain (two compressions per step).
pub const SHA256: Kernel = Kernel {
    name: "sha256",
    wat: include_str!("../kernels/sha256.wat"),
    bench_arg: 2_000,
    expected: &[
        (0, 7640891576010911365),
        (1, -277398931683069090),
        (2, -5836854205552961455),
        (1000, 452082904040478058),
    ],
};

/// Dense f64 matrix multiply (n x n).
pub const MATMUL: Kernel = Kernel {
    name: "matmul",
    wat: include_str!("../kernels/matmul.wat"),
    bench_arg: 100,
    expected: &[(1, 0), (3, -42), (10, -222), (64, -760)],
};

/// Recursive quicksort of n pseudo-random i32s.
pub const SORT: Kernel = Kernel {
    name: "sort",
    wat: include_str!("../kernels/sort.wat"),
    bench_arg: 50_000,
    expected: &[(0, 0), (1, 1777208127), (5, 23903146385), (1000, 713477125517100), (10_000, 5541217770532130)],
};

/// A CoreMark-like mix: linked list, i16 matrix, state machine, CRC-16.
pub const COREMARK: Kernel = Kernel {
    name: "coremark",
    wat: include_str!("../kernels/coremark.wat"),
    bench_arg: 300,
    expected: &[(0, 0), (1, 17037273822), (2, 35169262025), (10, 172843117309), (300, 5203604572146)],
};

/// Every kernel, in benchmark order.
pub const ALL: [Kernel; 6] = [FIB, LOOP, SHA256, MATMUL, SORT, COREMARK];
