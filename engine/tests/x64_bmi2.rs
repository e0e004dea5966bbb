//! x86-64 BMI2 (`Config::optional_cpu_features`): the assembler's `rorx`, `shlx`, `shrx`
//! and `sarx` encodings, decoded by an independent decoder for every register pair; the
//! code generator's use of them giving the results of the plain forms; and artifacts
//! made with them refused by an engine without them.

use keel_engine::isa::x64::asm::{Asm, Shift};
use keel_engine::{Config, Engine, Error, Isa, Linker, Module, Store, Val};
use yaxpeax_arch::{Decoder, U8Reader};
use yaxpeax_x86::long_mode::InstDecoder;

const R64: [&str; 16] =
    ["rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi", "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15"];
const R32: [&str; 16] = [
    "eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi", "r8d", "r9d", "r10d", "r11d", "r12d", "r13d", "r14d",
    "r15d",
];

/// The one instruction in `bytes`, as the decoder prints it.
fn decode(bytes: &[u8]) -> String {
    use yaxpeax_arch::LengthedInstruction;
    let decoder = InstDecoder::default();
    let mut reader = U8Reader::new(bytes);
    let inst = decoder.decode(&mut reader).unwrap_or_else(|e| panic!("{bytes:02x?}: {e}"));
    let text = inst.to_string();
    assert_eq!(inst.len().to_const() as usize, bytes.len(), "{text}: trailing bytes");
    text
}

#[test]
fn bmi2_encodings_decode_as_intended() {
    for w in [false, true] {
        let names = if w { &R64 } else { &R32 };
        for d in 0..16u8 {
            for s in 0..16u8 {
                let mut a = Asm::default();
                a.rorx(w, d, s, 7);
                assert_eq!(
                    decode(&a.buf),
                    format!("rorx {}, {}, 0x7", names[d as usize], names[s as usize]),
                    "rorx w={w} {d} {s}"
                );
                for (op, name) in [(Shift::Shl, "shlx"), (Shift::Shr, "shrx"), (Shift::Sar, "sarx")] {
                    let c = (d + s + 3) % 16;
                    let mut a = Asm::default();
                    a.shiftx(op, w, d, s, c);
                    assert_eq!(
                        decode(&a.buf),
                        format!("{name} {}, {}, {}", names[d as usize], names[s as usize], names[c as usize]),
                        "{name} w={w} {d} {s} {c}"
                    );
                }
            }
        }
    }
}

/// `rorx` and `imul` with a memory operand, over the frame-slot addressing forms the
/// code generator uses (`rsp` base, 8- and 32-bit displacements) and others.
#[test]
fn memory_operand_encodings_decode_as_intended() {
    use keel_engine::isa::x64::asm::Mem;
    for w in [false, true] {
        let names = if w { &R64 } else { &R32 };
        for d in 0..16u8 {
            for (base, disp) in [(4u8, 0i32), (4, 0x48), (4, 0x1a0), (5, 8), (12, -16), (13, 0), (0, 0x12345)] {
                let m = Mem::new(base, disp);
                let addr = match disp {
                    0 => format!("[{}]", R64[base as usize]),
                    d if d < 0 => format!("[{} - {:#x}]", R64[base as usize], -d),
                    d => format!("[{} + {:#x}]", R64[base as usize], d),
                };
                let size = if w { "qword" } else { "dword" };
                let mut a = Asm::default();
                a.rorx_m(w, d, m, 5);
                assert_eq!(decode(&a.buf), format!("rorx {}, {size} {addr}, 0x5", names[d as usize]), "rorx_m");
                let mut a = Asm::default();
                a.imul_rmi(w, d, m, -77);
                assert_eq!(decode(&a.buf), format!("imul {}, {size} {addr}, -0x4d", names[d as usize]), "imul_rmi");
            }
        }
    }
}

const WAT: &str = r#"(module
  (func (export "f") (param $x i64) (param $n i64) (result i64) (local $a i32) (local $c i32)
    local.get $x i32.wrap_i64 local.set $a
    local.get $n i32.wrap_i64 local.set $c
    ;; rotations by constants, from a local's register (rorx) and in place
    local.get $a i32.const 7 i32.rotl
    local.get $a i32.const 13 i32.rotr i32.xor
    local.get $a i32.const 0 i32.rotl i32.add
    local.get $a i32.const 32 i32.rotr i32.xor
    ;; variable shifts (shlx, shrx, sarx), counts past the width
    local.get $a local.get $c i32.shl i32.add
    local.get $a local.get $c i32.shr_u i32.xor
    local.get $a local.get $c i32.shr_s i32.add
    ;; variable shifts of a computed value, in place
    local.get $a i32.const 3 i32.xor local.get $c i32.shl i32.xor
    local.get $a i32.const 5 i32.xor local.get $c i32.shr_u i32.add
    local.get $a i32.const 9 i32.xor local.get $c i32.shr_s i32.xor
    i64.extend_i32_u
    local.get $x i64.const 17 i64.rotl i64.xor
    local.get $x i64.const 60 i64.rotr i64.add
    local.get $x local.get $n i64.shl i64.xor
    local.get $x local.get $n i64.shr_u i64.add
    local.get $x local.get $n i64.shr_s i64.xor))"#;

fn expected(x: u64, n: u64) -> u64 {
    let (a, c) = (x as u32, n as u32);
    let mut v = a.rotate_left(7) ^ a.rotate_right(13);
    v = v.wrapping_add(a) ^ a;
    v = v.wrapping_add(a.wrapping_shl(c)) ^ a.wrapping_shr(c);
    v = v.wrapping_add((a as i32).wrapping_shr(c) as u32);
    v ^= (a ^ 3).wrapping_shl(c);
    v = v.wrapping_add((a ^ 5).wrapping_shr(c));
    v ^= ((a ^ 9) as i32).wrapping_shr(c) as u32;
    let mut r = u64::from(v) ^ x.rotate_left(17);
    r = r.wrapping_add(x.rotate_right(60)) ^ x.wrapping_shl(n as u32);
    r = r.wrapping_add(x.wrapping_shr(n as u32));
    r ^ (x as i64).wrapping_shr(n as u32) as u64
}

fn run_all(config: Config) {
    let engine = Engine::new(config).unwrap();
    let module = Module::new(&engine, &wat::parse_str(WAT).unwrap()).unwrap();
    let mut store = Store::new(&engine, ());
    store.set_gas_limit(1_000_000);
    let inst = Linker::new().instantiate(&mut store, &module).unwrap();
    let f = inst.get_func(&mut store, "f").unwrap();
    for x in [0u64, 1, 0x8000_0000_0000_0001, 0xdead_beef_0123_4567, u64::MAX] {
        for n in [0u64, 1, 5, 31, 32, 33, 63, 64, 100, u64::MAX] {
            let mut res = [Val::I64(0)];
            f.call(&mut store, &[Val::I64(x as i64), Val::I64(n as i64)], &mut res).unwrap();
            assert_eq!(res[0], Val::I64(expected(x, n) as i64), "x={x:#x} n={n} ({})", engine.cpu_features());
        }
    }
}

#[test]
fn rotations_and_shifts_agree_with_and_without_bmi2() {
    if Isa::host() != Some(Isa::X64) {
        return;
    }
    run_all(Config { optional_cpu_features: true, ..Config::default() });
    run_all(Config { optional_cpu_features: false, ..Config::default() });
}

#[test]
fn an_artifact_made_with_bmi2_is_refused_without_it() {
    let with = Engine::new(Config::default()).unwrap();
    let without = Engine::new(Config { optional_cpu_features: false, ..Config::default() }).unwrap();
    if !with.uses_cpu_feature("bmi2") {
        // This host has no BMI2: both engines use the required features only.
        assert_eq!(with.cpu_features(), without.cpu_features());
        return;
    }
    assert!(!without.uses_cpu_feature("bmi2"));
    let module = Module::new(&with, &wat::parse_str(WAT).unwrap()).unwrap();
    let artifact = module.serialize();
    // SAFETY: the artifact was made by this engine version, just now.
    match unsafe { Module::deserialize(&without, &artifact) } {
        Err(Error::Artifact(m)) => assert!(m.contains("CPU features mismatch"), "{m}"),
        other => panic!("expected a CPU features mismatch, got {:?}", other.map(|_| ())),
    }
    // SAFETY: as above.
    assert!(unsafe { Module::deserialize(&with, &artifact) }.is_ok());
}
