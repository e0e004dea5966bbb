//! Generated microbenchmarks, one per operator class of the cost table.
//!
//! Every benchmark is a module exporting `run(n: i32) -> i64`: a loop of `n` iterations
//! whose body is one long straight-line sequence of `units` copies of the class's *unit*
//! (a few operators that feed each other, so the work cannot be skipped), wrapped in a
//! prologue/epilogue that moves the accumulator between a local and the value stack. The
//! matching *baseline* is the same module with zero units: timing both and subtracting
//! leaves the time of the units alone. The operators each benchmark executes are counted
//! exactly by the engine's own metering (see [`super::measure`]), helpers included, so the
//! helpers' cost is taken out by the linear solve in [`super::fit`], not guessed.
//!
//! Units use the slowest common form of the class (64-bit integer divide, `f64` divide,
//! pointer-chasing loads) so that the table errs towards over-pricing.

use keel_metering::OpClass;

/// What a unit consumes and leaves on the value stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Acc {
    /// Units are stack-neutral.
    None,
    /// Units take an `i64` and leave an `i64` (local `$a`).
    I64,
    /// Units take an `f64` and leave an `f64` (local `$f`).
    F64,
    /// Units take an `i32` and leave an `i32` (local `$p`, a memory address).
    I32,
}

/// One operator-class microbenchmark: the class it prices and its units (cycled).
#[derive(Debug, Clone)]
pub struct ClassBench {
    /// The class this benchmark is designed to measure.
    pub class: OpClass,
    /// What the units carry on the value stack.
    pub acc: Acc,
    /// WAT snippets; unit `i` of the body is `units[i % units.len()]`.
    pub units: Vec<&'static str>,
}

/// The 23 class benchmarks, one per [`OpClass`], in [`OpClass::ALL`] order.
pub fn class_benches() -> Vec<ClassBench> {
    use Acc::*;
    use OpClass as C;
    let b = |class, acc, units: &[&'static str]| ClassBench { class, acc, units: units.to_vec() };
    vec![
        // Each `block ... end` and `loop ... end` closes a metered basic block, so the
        // class also carries the per-block gas check.
        b(C::Structure, None, &[
            "block local.get $a local.set $b end",
            "loop local.get $b local.set $a end",
            "nop block nop end",
        ]),
        // Branches split metered blocks too: each pays a gas check after it.
        b(C::Branch, None, &[
            "block local.get $z br_if 0 end",
            "block br 0 end",
            "block local.get $one br_if 0 end",
            "block local.get $z br_table 0 0 end",
            "local.get $one if nop else nop end",
        ]),
        b(C::Call, I64, &["call $id"]),
        b(C::CallIndirect, I64, &["i32.const 0 call_indirect (type $t_i64)"]),
        b(C::Const, None, &[
            "i64.const 0x123456789abcdef local.set $b",
            "i32.const 77 local.set $q",
            "f64.const 2.5 local.set $g",
        ]),
        b(C::Local, None, &[
            "local.get $a local.set $b",
            "local.get $b local.tee $a local.set $c",
        ]),
        b(C::Global, None, &["global.get $g1 global.set $g2", "global.get $g2 global.set $g1"]),
        b(C::Parametric, I64, &["local.get $b local.get $one select", "local.get $b drop"]),
        b(C::IntAlu, I64, &[
            "i64.const 0x9E3779B9 i64.add",
            "i64.const 13 i64.rotl",
            "i64.const 0x5bd1e995 i64.xor",
            "i64.const 7 i64.shr_u",
            "i64.const 0x7f4a7c15 i64.or",
            "i64.popcnt",
            "i64.const 3 i64.shl",
            "i64.const 100 i64.lt_u i64.extend_i32_u",
            "i64.const 1 i64.sub",
            "i64.clz",
            "i64.extend32_s",
        ]),
        // Multiplying by an odd constant is a bijection: the value never collapses to 0.
        b(C::IntMul, I64, &["i64.const -7046029254386353131 i64.mul"]),
        // 64-bit divides of a large dividend (the `or` keeps it large): the slowest case.
        b(C::IntDiv, I64, &[
            "i64.const 3 i64.div_u i64.const 0x7000000000000001 i64.or",
            "i64.const 7 i64.rem_u i64.const 0x7000000000000001 i64.or",
            "i64.const 5 i64.div_s i64.const 0x7000000000000001 i64.or",
            "i64.const 9 i64.rem_s i64.const 0x7000000000000001 i64.or",
        ]),
        b(C::FloatSimple, F64, &[
            "f64.neg",
            "f64.abs",
            "f64.const -1 f64.copysign",
            "f64.const 0.5 f64.gt f64.convert_i32_u",
        ]),
        // Pairs that undo each other keep the value near 1 (no overflow, no subnormals).
        b(C::FloatArith, F64, &[
            "f64.const 1.5 f64.add",
            "f64.const 1.5 f64.sub",
            "f64.const 1.0000001 f64.mul",
            "f64.const 0.9999999 f64.mul",
            "f64.const 0.5 f64.max",
            "f64.const 1e6 f64.min",
            "f64.floor",
            "f64.nearest",
        ]),
        b(C::FloatDiv, F64, &[
            "f64.const 1.0000001 f64.div",
            "f64.sqrt",
            "f64.const 0.9999999 f64.div",
        ]),
        b(C::Conversion, F64, &[
            "i64.trunc_f64_s f64.convert_i64_s",
            "i64.reinterpret_f64 f64.reinterpret_i64",
            "f32.demote_f64 f64.promote_f32",
            "i32.trunc_sat_f64_u f64.convert_i32_u",
        ]),
        // Pointer chasing through zeroed memory: each address depends on the last load.
        b(C::Load, I32, &[
            "i32.load",
            "i32.load8_u offset=8",
            "i32.load16_s offset=16",
            "i64.load offset=24 i32.wrap_i64",
        ]),
        b(C::Store, None, &[
            "local.get $p local.get $a i64.store offset=64",
            "local.get $p local.get $q i32.store offset=96",
            "local.get $p local.get $q i32.store8 offset=128",
        ]),
        b(C::MemorySize, I64, &["memory.size i64.extend_i32_u i64.add"]),
        b(C::MemoryGrow, I64, &["i32.const 0 memory.grow i64.extend_i32_u i64.add"]),
        // Zero-length bulk operations: the base cost (bytes are priced by the dynamic fit).
        b(C::BulkMemory, None, &[
            "i32.const 1024 i32.const 0 i32.const 0 memory.copy",
            "i32.const 1024 i32.const 0 i32.const 0 memory.fill",
            "i32.const 1024 i32.const 0 i32.const 0 memory.init $d",
        ]),
        b(C::SegmentDrop, None, &["data.drop $d", "elem.drop $pe"]),
        b(C::TableAccess, I64, &[
            "table.size $t i64.extend_i32_u i64.add",
            "i32.const 1 i32.const 0 table.get $t table.set $t",
            "i32.const 0 table.get $t ref.is_null i64.extend_i32_u i64.add",
        ]),
        // Zero-element table operations: the base cost.
        b(C::TableBulk, None, &[
            "i32.const 0 ref.null func i32.const 0 table.fill $t",
            "i32.const 0 i32.const 1 i32.const 0 table.copy $t $t",
            "ref.null func i32.const 0 table.grow $t drop",
            "i32.const 0 i32.const 0 i32.const 0 table.init $t $pe",
        ]),
    ]
}

/// Table size (elements) of every generated module: room for the per-element fit.
pub const TABLE_ELEMENTS: u32 = 2_100;
/// Initial memory (64 KiB pages) of every generated module: room for 64 KiB bulk copies.
pub const MEMORY_PAGES: u32 = 4;

/// The WAT of a benchmark module whose loop body is `prologue`, `units` copies of the
/// snippets (cycled), then `epilogue`. With `units == 0` it is the baseline.
pub fn module_wat(acc: Acc, snippets: &[&str], units: usize) -> String {
    let (prologue, epilogue) = match acc {
        Acc::None => ("", ""),
        Acc::I64 => ("local.get $a", "local.set $a"),
        Acc::F64 => ("local.get $f", "local.set $f"),
        Acc::I32 => ("local.get $p", "local.set $p"),
    };
    let mut body = String::with_capacity(units * 40 + 64);
    if units > 0 && !snippets.is_empty() {
        body.push_str(prologue);
        body.push('\n');
        for i in 0..units {
            body.push_str(snippets[i % snippets.len()]);
            body.push('\n');
        }
        body.push_str(epilogue);
        body.push('\n');
    }
    format!(
        r#"(module
  (type $t_i64 (func (param i64) (result i64)))
  (memory {MEMORY_PAGES})
  (table $t {TABLE_ELEMENTS} funcref)
  (elem (i32.const 0) func $id)
  (elem $pe func $id $id)
  (data $d "keel calibration data segment")
  (global $g1 (mut i64) (i64.const 1))
  (global $g2 (mut i64) (i64.const 2))
  (func $id (type $t_i64) local.get 0)
  (func (export "run") (param $n i32) (result i64)
    (local $a i64) (local $b i64) (local $c i64) (local $f f64) (local $g f64)
    (local $p i32) (local $q i32) (local $z i32) (local $one i32)
    i64.const 12345 local.set $a
    i64.const 678 local.set $b
    f64.const 1.5 local.set $f
    i32.const 1 local.set $one
    (block $exit
      local.get $n i32.eqz br_if $exit
      (loop $l
{body}        local.get $n i32.const 1 i32.sub local.tee $n br_if $l))
    local.get $a local.get $b i64.xor
    local.get $f i64.reinterpret_f64 i64.xor
    local.get $p i64.extend_i32_u i64.xor))
"#
    )
}

/// An operand-dependent benchmark: one operator with a variable operand (bytes, elements).
#[derive(Debug, Clone)]
pub struct DynamicBench {
    /// Name of the `[dynamic]` key it calibrates.
    pub key: &'static str,
    /// The operand sizes measured (bytes or elements).
    pub sizes: Vec<u32>,
    /// Builds the unit for one size.
    pub unit: fn(u32) -> String,
}

/// The per-byte (`memory.fill`/`memory.copy`) and per-element (`table.fill`) benchmarks.
/// `memory.grow`'s per-page cost needs fresh memories and is measured separately.
pub fn dynamic_benches() -> Vec<DynamicBench> {
    vec![
        DynamicBench {
            key: "memory_per_byte",
            sizes: vec![0, 1_024, 16_384, 65_536],
            unit: |n| format!("i32.const 131072 i32.const 0 i32.const {n} memory.copy i32.const 65536 i32.const 7 i32.const {n} memory.fill"),
        },
        DynamicBench {
            key: "table_per_element",
            sizes: vec![0, 256, 1_024, 2_048],
            unit: |n| format!("i32.const 0 ref.null func i32.const {n} table.fill $t"),
        },
    ]
}

/// A module exporting `run(n)`: `n` times `memory.grow(pages)`, each followed by a store of
/// one byte into every 4 KiB of the new pages (the first touch is where the memory is
/// faulted in and zeroed: a contract that grows and then writes pays no more gas than the
/// grow and its stores, so the per-page price has to cover both). `n * pages` must stay
/// within the profile's memory maximum.
pub fn grow_wat(pages: u32) -> String {
    format!(
        r#"(module
  (memory 1)
  (func (export "run") (param $n i32) (result i64)
    (local $s i64) (local $p i32) (local $end i32) (local $old i32)
    (block $exit
      local.get $n i32.eqz br_if $exit
      (loop $l
        i32.const {pages} memory.grow local.tee $old
        i64.extend_i32_u local.get $s i64.add local.set $s
        (block $done
          local.get $old i32.const -1 i32.eq br_if $done
          local.get $old i32.const 16 i32.shl local.set $p
          local.get $old i32.const {pages} i32.add i32.const 16 i32.shl local.set $end
          (loop $touch
            local.get $p local.get $end i32.ge_u br_if $done
            local.get $p i32.const 1 i32.store8
            local.get $p i32.const 4096 i32.add local.set $p
            br $touch))
        local.get $n i32.const 1 i32.sub local.tee $n br_if $l))
    local.get $s))
"#
    )
}
