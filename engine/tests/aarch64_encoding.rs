//! Encoding tests for the aarch64 backend: every instruction form the encoder emits is
//! disassembled with `yaxpeax-arm` (an independent A64 decoder) and compared with the
//! assembly text of what was asked for; MacroAssembler operations are checked the same
//! way. Runs on any host (it only encodes).

use keel_engine::isa::aarch64::asm::{logical_imm, r, Alu, Asm, Cond, FpBin, FpUn, Ldst, Shift};
use keel_engine::isa::aarch64::masm::Aarch64Masm;
use keel_engine::masm::{
    FReg, FloatBin, FloatCmp, FloatUn, IntBin, IntCmp, IntDiv, IntUn, LoadKind, MacroAssembler, Prologue, Reg, RegImm, Size,
    TrapCode,
};
use yaxpeax_arch::{Decoder, U8Reader};
use yaxpeax_arm::armv8::a64::InstDecoder;

/// Disassembles `code` into one text line per instruction.
fn dis(code: &[u8]) -> Vec<String> {
    let decoder = InstDecoder::default();
    code.chunks(4)
        .map(|w| {
            let mut reader = U8Reader::new(w);
            match decoder.decode(&mut reader) {
                Ok(i) => i.to_string(),
                Err(e) => format!("<{e}>"),
            }
        })
        .collect()
}

type Emit = Box<dyn Fn(&mut Asm)>;

#[test]
fn every_instruction_form_disassembles_to_what_was_asked() {
    let cases: Vec<(Emit, &[&str])> = vec![
        (Box::new(|a| a.movz(true, r::X3, 0x1234, 1)), &["mov x3, #0x12340000"]),
        (Box::new(|a| a.movz(false, r::X0, 7, 0)), &["mov w0, #0x7"]),
        (Box::new(|a| a.movn(true, r::X5, 0, 0)), &["mov x5, #0xffffffffffffffff"]),
        (Box::new(|a| a.movk(true, r::X9, 0xbeef, 3)), &["movk x9, #0xbeef, lsl #48"]),
        (Box::new(|a| a.mov_rr(true, r::X1, r::X2)), &["mov x1, x2"]),
        (Box::new(|a| a.mov_rr(false, r::X16, r::X19)), &["mov w16, w19"]),
        (Box::new(|a| a.mov_sp(r::FP, r::SP)), &["mov x29, sp"]),
        (Box::new(|a| a.alu_rr(Alu::Add, true, r::X1, r::X2, r::X3)), &["add x1, x2, x3"]),
        (Box::new(|a| a.alu_rr(Alu::Sub, false, r::X1, r::X2, r::X3)), &["sub w1, w2, w3"]),
        (Box::new(|a| a.alu_rr(Alu::Subs, true, r::ZR, r::X16, r::X17)), &["cmp x16, x17"]),
        (Box::new(|a| a.alu_rr(Alu::Adds, true, r::X4, r::X5, r::X3)), &["adds x4, x5, x3"]),
        (Box::new(|a| a.alu_rr(Alu::And, false, r::X1, r::X2, r::X3)), &["and w1, w2, w3"]),
        (Box::new(|a| a.alu_rr(Alu::Orr, true, r::X1, r::X2, r::X3)), &["orr x1, x2, x3"]),
        (Box::new(|a| a.alu_rr(Alu::Eor, true, r::X1, r::X2, r::X3)), &["eor x1, x2, x3"]),
        (Box::new(|a| a.addsub_imm(Alu::Add, true, r::X1, r::X2, 42, false)), &["add x1, x2, #0x2a"]),
        (Box::new(|a| a.addsub_imm(Alu::Sub, true, r::SP, r::SP, 3, true)), &["sub sp, sp, #0x3, lsl #12"]),
        (Box::new(|a| a.addsub_imm(Alu::Subs, false, r::ZR, r::X9, 5, false)), &["cmp w9, #0x5"]),
        (Box::new(|a| a.addsub_imm(Alu::Adds, true, r::ZR, r::X9, 1, false)), &["cmn x9, #0x1"]),
        (Box::new(|a| a.addsub_ext(false, r::X26, r::SP, r::X26)), &["add x26, sp, x26"]),
        (Box::new(|a| a.addsub_ext(true, r::SP, r::SP, r::X16)), &["sub sp, sp, x16"]),
        (Box::new(|a| assert!(a.try_logical_imm(Alu::And, true, r::X10, r::X10, !15))), &["and x10, x10, #0xfffffffffffffff0"]),
        (Box::new(|a| assert!(a.try_logical_imm(Alu::And, false, r::X1, r::X1, 0x7fff_ffff))), &["and w1, w1, #0x7fffffff"]),
        (Box::new(|a| assert!(a.try_logical_imm(Alu::Eor, true, r::X1, r::X1, 0x8000_0000_0000_0000))), &["eor x1, x1, #0x8000000000000000"]),
        (Box::new(|a| assert!(a.try_logical_imm(Alu::Orr, true, r::X2, r::X2, 0x00ff_00ff_00ff_00ff))), &["orr x2, x2, #0xff00ff00ff00ff"]),
        (Box::new(|a| a.mul(true, r::X1, r::X2, r::X3)), &["mul x1, x2, x3"]),
        (Box::new(|a| a.msub(false, r::X1, r::X16, r::X3, r::X1)), &["msub w1, w16, w3, w1"]),
        (Box::new(|a| a.div(true, true, r::X1, r::X2, r::X3)), &["sdiv x1, x2, x3"]),
        (Box::new(|a| a.div(false, false, r::X1, r::X2, r::X3)), &["udiv w1, w2, w3"]),
        (Box::new(|a| a.shift_rr(Shift::Lsl, true, r::X1, r::X2, r::X3)), &["lsl x1, x2, x3"]),
        (Box::new(|a| a.shift_rr(Shift::Lsr, false, r::X1, r::X2, r::X3)), &["lsr w1, w2, w3"]),
        (Box::new(|a| a.shift_rr(Shift::Asr, true, r::X1, r::X2, r::X3)), &["asr x1, x2, x3"]),
        (Box::new(|a| a.shift_rr(Shift::Ror, true, r::X1, r::X2, r::X3)), &["ror x1, x2, x3"]),
        (Box::new(|a| a.shift_ri(Shift::Lsl, true, r::X1, r::X1, 3)), &["lsl x1, x1, #0x3"]),
        (Box::new(|a| a.shift_ri(Shift::Lsl, false, r::X1, r::X1, 31)), &["lsl w1, w1, #0x1f"]),
        (Box::new(|a| a.shift_ri(Shift::Lsr, true, r::X1, r::X1, 16)), &["lsr x1, x1, #0x10"]),
        (Box::new(|a| a.shift_ri(Shift::Asr, false, r::X1, r::X1, 7)), &["asr w1, w1, #0x7"]),
        (Box::new(|a| a.shift_ri(Shift::Ror, true, r::X1, r::X1, 9)), &["ror x1, x1, #0x9"]),
        (Box::new(|a| a.sbfm(true, r::X1, r::X1, 0, 7)), &["sxtb x1, w1"]),
        (Box::new(|a| a.sbfm(false, r::X1, r::X1, 0, 15)), &["sxth w1, w1"]),
        (Box::new(|a| a.sbfm(true, r::X1, r::X1, 0, 31)), &["sxtw x1, w1"]),
        (Box::new(|a| a.clz(true, r::X1, r::X2)), &["clz x1, x2"]),
        (Box::new(|a| a.clz(false, r::X1, r::X2)), &["clz w1, w2"]),
        (Box::new(|a| a.rbit(true, r::X1, r::X2)), &["rbit x1, x2"]),
        (Box::new(|a| a.csel(true, r::X1, r::X2, r::X3, Cond::Ne)), &["csel x1, x2, x3, ne"]),
        (Box::new(|a| a.cset(false, r::X1, Cond::Hi)), &["cset w1, hi"]),
        (Box::new(|a| a.ldst_uimm(Ldst::Ldr64, r::X1, r::SP, 32760)), &["ldr x1, [sp, #0x7ff8]"]),
        (Box::new(|a| a.ldst_uimm(Ldst::Str64, r::X1, r::X27, 24)), &["str x1, [x27, #0x18]"]),
        (Box::new(|a| a.ldst_uimm(Ldst::Str64, r::ZR, r::SP, 8)), &["str xzr, [sp, #0x8]"]),
        (Box::new(|a| a.ldst_uimm(Ldst::Ldr32, r::X1, r::X2, 4)), &["ldr w1, [x2, #0x4]"]),
        (Box::new(|a| a.ldst_uimm(Ldst::Ldrsw, r::X1, r::X2, 8)), &["ldrsw x1, [x2, #0x8]"]),
        (Box::new(|a| a.ldst_uimm(Ldst::Ldrh, r::X1, r::X2, 2)), &["ldrh w1, [x2, #0x2]"]),
        (Box::new(|a| a.ldst_uimm(Ldst::Ldrsh64, r::X1, r::X2, 0)), &["ldrsh x1, [x2]"]),
        (Box::new(|a| a.ldst_uimm(Ldst::Ldrsh32, r::X1, r::X2, 0)), &["ldrsh w1, [x2]"]),
        (Box::new(|a| a.ldst_uimm(Ldst::Ldrb, r::X1, r::X2, 1)), &["ldrb w1, [x2, #0x1]"]),
        (Box::new(|a| a.ldst_uimm(Ldst::Ldrsb64, r::X1, r::X2, 0)), &["ldrsb x1, [x2]"]),
        (Box::new(|a| a.ldst_uimm(Ldst::Ldrsb32, r::X1, r::X2, 0)), &["ldrsb w1, [x2]"]),
        (Box::new(|a| a.ldst_uimm(Ldst::Strh, r::X1, r::X2, 2)), &["strh w1, [x2, #0x2]"]),
        (Box::new(|a| a.ldst_uimm(Ldst::Strb, r::X1, r::X2, 3)), &["strb w1, [x2, #0x3]"]),
        (Box::new(|a| a.ldst_uimm(Ldst::Str32, r::X1, r::X2, 4)), &["str w1, [x2, #0x4]"]),
        (Box::new(|a| a.ldst_simm9(Ldst::Ldr64, r::X28, r::FP, -8)), &["ldur x28, [x29, #-0x8]"]),
        (Box::new(|a| a.ldst_simm9(Ldst::Str64, r::X1, r::FP, -16)), &["stur x1, [x29, #-0x10]"]),
        (Box::new(|a| a.ldst_reg(Ldst::Ldr64, r::X1, r::X17, r::X16)), &["ldr x1, [x17, x16]"]),
        (Box::new(|a| a.ldst_reg(Ldst::Ldrb, r::X1, r::X17, r::X16)), &["ldrb w1, [x17, x16]"]),
        (Box::new(|a| a.ldst_reg(Ldst::Strh, r::X1, r::X17, r::X16)), &["strh w1, [x17, x16]"]),
        (Box::new(|a| a.ldst_reg(Ldst::Ldr64, r::X1, r::SP, r::X8)), &["ldr x1, [sp, x8]"]),
        (Box::new(|a| a.ldrsw_uxtw2(r::X16, r::X17, r::X9)), &["ldrsw x16, [x17, w9, uxtw #2]"]),
        (Box::new(|a| a.stp_pre16(r::FP, r::LR, r::SP)), &["stp x29, x30, [sp, #-0x10]!"]),
        (Box::new(|a| a.ldp_post16(r::X19, r::X20, r::SP)), &["ldp x19, x20, [sp], #0x10"]),
        (Box::new(|a| a.str_post8(r::ZR, r::X16)), &["str xzr, [x16], #0x8"]),
        (Box::new(|a| { let at = a.b(); assert!(a.patch_imm26(at, 64)); }), &["b $+0x40"]),
        (Box::new(|a| { a.nop(); a.nop(); let at = a.bl(); assert!(a.patch_imm26(at, 0)); }), &["nop", "nop", "bl $-0x8"]),
        (Box::new(|a| { let at = a.b_cond(Cond::Lo); assert!(a.patch_imm19(at, 400)); }), &["b.lo $+0x190"]),
        (Box::new(|a| { let at = a.cbz(false, false, r::X3); assert!(a.patch_imm19(at, 8)); }), &["cbz w3, $+0x8"]),
        (Box::new(|a| { let at = a.cbz(true, true, r::X1); assert!(a.patch_imm19(at, 12)); }), &["cbnz x1, $+0xc"]),
        (Box::new(|a| a.br(r::X17)), &["br x17"]),
        (Box::new(|a| a.blr(r::X16)), &["blr x16"]),
        (Box::new(|a| a.ret()), &["ret"]),
        (Box::new(|a| a.adr(r::X17, 16)), &["adr x17, $+0x10"]),
        (Box::new(|a| a.fmov_to_fp(true, 0, r::X9)), &["fmov d0, x9"]),
        (Box::new(|a| a.fmov_to_fp(false, 1, r::X9)), &["fmov s1, w9"]),
        (Box::new(|a| a.fmov_from_fp(true, r::X9, 0)), &["fmov x9, d0"]),
        (Box::new(|a| a.fmov_from_fp(false, r::X9, 0)), &["fmov w9, s0"]),
        (Box::new(|a| a.fp_bin(FpBin::Add, true, 0, 0, 1)), &["fadd d0, d0, d1"]),
        (Box::new(|a| a.fp_bin(FpBin::Sub, false, 0, 0, 1)), &["fsub s0, s0, s1"]),
        (Box::new(|a| a.fp_bin(FpBin::Mul, true, 0, 0, 1)), &["fmul d0, d0, d1"]),
        (Box::new(|a| a.fp_bin(FpBin::Div, false, 0, 0, 1)), &["fdiv s0, s0, s1"]),
        (Box::new(|a| a.fp_un(FpUn::Sqrt, true, 0, 1)), &["fsqrt d0, d1"]),
        (Box::new(|a| a.fp_un(FpUn::Frintn, false, 0, 1)), &["frintn s0, s1"]),
        (Box::new(|a| a.fp_un(FpUn::Frintp, true, 0, 1)), &["frintp d0, d1"]),
        (Box::new(|a| a.fp_un(FpUn::Frintm, false, 0, 1)), &["frintm s0, s1"]),
        (Box::new(|a| a.fp_un(FpUn::Frintz, true, 0, 1)), &["frintz d0, d1"]),
        (Box::new(|a| a.fcvt(true, 0, 1)), &["fcvt d0, s1"]),
        (Box::new(|a| a.fcvt(false, 0, 1)), &["fcvt s0, d1"]),
        (Box::new(|a| a.scvtf(false, false, 0, r::X9)), &["scvtf s0, w9"]),
        (Box::new(|a| a.scvtf(true, true, 0, r::X9)), &["scvtf d0, x9"]),
        (Box::new(|a| a.ucvtf(false, false, 0, r::X9)), &["ucvtf s0, w9"]),
        (Box::new(|a| a.ucvtf(true, false, 17, r::X9)), &["ucvtf d17, w9"]),
        (Box::new(|a| a.fmov_dd(16, 31)), &["fmov d16, d31"]),
        (Box::new(|a| a.fmov_to_fp(true, 20, 31)), &["fmov d20, xzr"]),
        (Box::new(|a| a.fcmp(true, 0, 1)), &["fcmp d0, d1"]),
        (Box::new(|a| a.fcmp(false, 0, 0)), &["fcmp s0, s0"]),
        (Box::new(|a| a.cnt8b(0, 0)), &["cnt v0.8b, v0.8b"]),
        (Box::new(|a| a.addv8b(0, 0)), &["addv b0, v0.8b"]),
        (Box::new(|a| a.brk()), &["brk #0x0"]),
    ];
    let mut failures = Vec::new();
    for (i, (emit, want)) in cases.iter().enumerate() {
        let mut a = Asm::default();
        emit(&mut a);
        let got = dis(&a.buf);
        if got != *want {
            failures.push(format!("case {i}: want {want:?}, got {got:?}"));
        }
    }
    assert!(failures.is_empty(), "{} of {} forms differ:\n{}", failures.len(), cases.len(), failures.join("\n"));
    println!("{} instruction forms checked", cases.len());
}

/// The value a `movz`/`movn`/`movk`/`orr`-immediate sequence leaves in its register,
/// read back from the disassembly.
fn interpret_mov_sequence(lines: &[String]) -> u64 {
    let mut v = 0u64;
    for l in lines {
        let parts: Vec<&str> = l.split([' ', ',']).filter(|s| !s.is_empty()).collect();
        let hex = |s: &str| u64::from_str_radix(s.trim_start_matches('#').trim_start_matches("0x"), 16).unwrap();
        match parts[0] {
            // yaxpeax prints movz/movn/orr-immediate with their `mov` alias and the value.
            "mov" => v = hex(parts[2]),
            "movk" => {
                // The shift amount is printed in decimal (`lsl #16`).
                let sh: u64 = if parts.len() > 4 { parts[4].trim_start_matches('#').parse().unwrap() } else { 0 };
                v = (v & !(0xffff << sh)) | (hex(parts[2]) << sh);
            }
            "orr" => v = hex(parts[3]),
            other => panic!("unexpected instruction {other} in {lines:?}"),
        }
    }
    v
}

#[test]
fn mov_imm_materializes_every_value_in_at_most_four_instructions() {
    let mut values = vec![0u64, 1, 0xffff, 0x1_0000, !0, !0 - 1, 0x8000_0000_0000_0000, 0x7fc0_0000, 0x7ff8_0000_0000_0000];
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    for _ in 0..2_000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        values.push(x);
        values.push(x & 0xffff_0000_ffff);
        values.push(x | 0xffff_ffff_0000_0000);
    }
    for v in values {
        let mut a = Asm::default();
        a.mov_imm(r::X5, v);
        let lines = dis(&a.buf);
        assert!(lines.len() <= 4, "{v:#x}: {lines:?}");
        assert!(lines.iter().all(|l| l.contains("x5")), "{v:#x}: {lines:?}");
        assert_eq!(interpret_mov_sequence(&lines), v, "{v:#x}: {lines:?}");
    }
}

#[test]
fn logical_immediates_round_trip_through_the_decoder() {
    // Every rotated run of ones in every element size is encodable and decodes back.
    let mut checked = 0;
    for size in [2u32, 4, 8, 16, 32, 64] {
        for ones in 1..size {
            for rot in 0..size {
                let elem = if ones == 64 { !0u64 } else { (1u64 << ones) - 1 };
                let mask = if size == 64 { !0u64 } else { (1u64 << size) - 1 };
                let e = ((elem >> rot) | (elem << ((size - rot) % size))) & mask;
                let e = if rot == 0 { elem } else { e };
                let mut v = 0u64;
                for k in 0..(64 / size) {
                    v |= e << (k * size);
                }
                assert!(logical_imm(v, 64).is_some(), "{v:#x} should encode");
                let mut a = Asm::default();
                assert!(a.try_logical_imm(Alu::Orr, true, r::X1, r::X2, v));
                let line = &dis(&a.buf)[0];
                assert_eq!(line, &format!("orr x1, x2, #{v:#x}"));
                checked += 1;
            }
        }
    }
    assert!(checked > 5_000);
    for v in [0u64, !0, 0x1234, 0x8000_0000_0000_0001 | 0x10] {
        assert_eq!(logical_imm(v, 64), None, "{v:#x} must not encode");
    }
    // 32-bit operations see the low word replicated.
    assert!(logical_imm(0x7fff_ffff, 32).is_some());
    assert_eq!(logical_imm(0xffff_ffff, 32), None);
}

/// Emits one MacroAssembler operation into a fresh function frame and returns its
/// disassembly (the trampoline and prologue excluded).
fn masm_op(slots: u32, f: impl FnOnce(&mut Aarch64Masm)) -> Vec<String> {
    let mut m = Aarch64Masm::new();
    m.func_prologue(&Prologue { params: 0, results: 0, locals: 0, slots, in_regs: &[], zero_extend: 0, calls: false, zero_observed: &|_| true });
    let start = m.offset() as usize;
    f(&mut m);
    let end = m.offset() as usize;
    dis(&m.code()[start..end])
}

#[test]
fn macro_assembler_operations_disassemble_to_their_meaning() {
    let x19 = Reg(r::X19);
    let x20 = Reg(r::X20);
    let cases: Vec<(Vec<String>, &[&str])> = vec![
        (masm_op(4, |m| m.int_bin(IntBin::Add, Size::S32, x19, RegImm::Imm(5))), &["add w19, w19, #0x5"]),
        (masm_op(4, |m| m.int_bin(IntBin::Add, Size::S32, x19, RegImm::Imm(0xffff_ffff))), &["sub w19, w19, #0x1"]),
        (masm_op(4, |m| m.int_bin(IntBin::Sub, Size::S64, x19, RegImm::Reg(x20))), &["sub x19, x19, x20"]),
        (masm_op(4, |m| m.int_bin(IntBin::And, Size::S64, x19, RegImm::Imm(0x7fff_ffff_ffff_ffff))), &["and x19, x19, #0x7fffffffffffffff"]),
        (masm_op(4, |m| m.int_bin(IntBin::Rotl, Size::S32, x19, RegImm::Imm(3))), &["ror w19, w19, #0x1d"]),
        (masm_op(4, |m| m.int_bin(IntBin::Rotl, Size::S64, x19, RegImm::Reg(x20))), &["neg x16, x20", "ror x19, x19, x16"]),
        (masm_op(4, |m| m.int_bin(IntBin::Shl, Size::S64, x19, RegImm::Imm(65))), &["lsl x19, x19, #0x1"]),
        (masm_op(4, |m| m.int_bin(IntBin::Mul, Size::S32, x19, RegImm::Reg(x20))), &["mul w19, w19, w20"]),
        (masm_op(4, |m| m.int_cmp(IntCmp::LtU, Size::S64, x19, RegImm::Reg(x20))), &["cmp x19, x20", "cset w19, lo"]),
        (masm_op(4, |m| m.int_cmp(IntCmp::GeS, Size::S32, x19, RegImm::Imm(0xffff_fffe))), &["cmn w19, #0x2", "cset w19, ge"]),
        (masm_op(4, |m| m.int_un(IntUn::Ctz, Size::S64, x19)), &["rbit x19, x19", "clz x19, x19"]),
        (masm_op(4, |m| m.int_un(IntUn::Popcnt, Size::S32, x19)), &["fmov s0, w19", "cnt v0.8b, v0.8b", "addv b0, v0.8b", "fmov w19, s0"]),
        (masm_op(4, |m| m.int_un(IntUn::Eqz, Size::S32, x19)), &["cmp w19, #0x0", "cset w19, eq"]),
        (masm_op(4, |m| m.int_un(IntUn::ZeroExtend32, Size::S64, x19)), &["mov w19, w19"]),
        (masm_op(4, |m| m.int_div(IntDiv::RemU, Size::S64, x19, x20)), &["cbz x20, $+0x0", "udiv x16, x19, x20", "msub x19, x16, x20, x19"]),
        (masm_op(4, |m| m.float_bin(FloatBin::Add, Size::S64, x19, x20, true)),
            &["fmov d0, x19", "fmov d1, x20", "fadd d0, d0, d1", "fmov x19, d0", "fcmp d0, d0", "mov x16, #0x7ff8000000000000", "csel x19, x16, x19, vs"]),
        (masm_op(4, |m| m.float_bin(FloatBin::Div, Size::S32, x19, x20, true)),
            &["fmov s0, w19", "fmov s1, w20", "fdiv s0, s0, s1", "fmov w19, s0", "fcmp s0, s0", "mov x16, #0x7fc00000", "csel x19, x16, x19, vs"]),
        (masm_op(4, |m| m.float_un(FloatUn::Nearest, Size::S32, x19, false)), &["fmov s1, w19", "frintn s0, s1", "fmov w19, s0"]),
        (masm_op(4, |m| m.float_un(FloatUn::Promote, Size::S64, x19, false)), &["fmov s1, w19", "fcvt d0, s1", "fmov x19, d0"]),
        (masm_op(4, |m| m.float_un(FloatUn::ConvertI32S, Size::S64, x19, false)), &["scvtf d0, w19", "fmov x19, d0"]),
        (masm_op(4, |m| m.float_un(FloatUn::ConvertI32U, Size::S64, x19, false)), &["ucvtf d0, w19", "fmov x19, d0"]),
        (masm_op(4, |m| m.f64_bin(FloatBin::Mul, FReg(16), FReg(30), false)), &["fmul d16, d16, d30"]),
        (masm_op(4, |m| m.f64_to_gpr(x19, FReg(21))), &["fmov x19, d21"]),
        (masm_op(4, |m| m.float_cmp(FloatCmp::Lt, Size::S64, x19, x20)), &["fmov d0, x19", "fmov d1, x20", "fcmp d0, d1", "cset w19, mi"]),
        (masm_op(4, |m| m.select(x19, x20, Reg(r::X9))), &["cmp w9, #0x0", "csel x19, x19, x20, ne"]),
        (masm_op(4, |m| m.load_slot(x19, 2)), &["ldr x19, [sp, #0x10]"]),
        (masm_op(4, |m| m.store_slot_imm(3, 0)), &["str xzr, [sp, #0x18]"]),
        // 5 slots: frame 16 + 40 rounded to 64, so slot 0 is 8 bytes above sp.
        (masm_op(5, |m| m.load_slot(x19, 0)), &["ldr x19, [sp, #0x8]"]),
        // Slot 9,000 is 72,000 = 0x11940 bytes above sp: the window register is centred on
        // it (0xd000) and the next slot reuses it.
        (masm_op(10_000, |m| m.load_slot(x19, 9_000)), &["add x26, sp, #0xd, lsl #12", "ldr x19, [x26, #0x4940]"]),
        (masm_op(10_000, |m| { m.load_slot(x19, 9_000); m.store_slot(9_001, x20); }),
            &["add x26, sp, #0xd, lsl #12", "ldr x19, [x26, #0x4940]", "str x20, [x26, #0x4948]"]),
        (masm_op(4, |m| m.load(LoadKind::S8To64, x19, x20, 16)),
            &["mov w16, w20", "add x16, x16, #0x10", "add x15, x16, #0x1", "ldr x14, [x28, #0x48]", "ldr x17, [x28, #0x40]", "cmp x15, x14", "b.hi $+0x0", "ldrsb x19, [x17, x16]"]),
        (masm_op(4, |m| { let l = m.new_label(); m.bind(l); m.branch_cmp(IntCmp::LtS, Size::S32, x19, RegImm::Reg(x20), l); }),
            &["cmp w19, w20", "b.lt $-0x4"]),
        (masm_op(4, |m| { let l = m.new_label(); m.bind(l); m.branch_cmp(IntCmp::Eq, Size::S64, x19, RegImm::Imm(0), l); }),
            &["cbz x19, $+0x0"]),
        (masm_op(4, |m| m.charge_gas(7)), &["ldr x16, [x27]", "subs x16, x16, #0x7", "b.lo $+0x0", "str x16, [x27]"]),
        (masm_op(4, |m| m.stack_enter(9)), &["ldr x16, [x27, #0x8]", "add x16, x16, #0x9", "ldr x17, [x27, #0x10]", "cmp x16, x17", "b.hi $+0x0", "str x16, [x27, #0x8]"]),
        (masm_op(4, |m| m.func_epilogue(1, 1)), &["ldur x17, [x29, #-0x10]", "ldr x16, [sp, #0x8]", "str x16, [x17]", "mov w0, #0x0", "mov sp, x29", "ldp x29, x30, [sp], #0x10", "ret"]),
    ];
    let mut failures = Vec::new();
    for (i, (got, want)) in cases.iter().enumerate() {
        if got.as_slice() != *want {
            failures.push(format!("case {i}: want {want:?}, got {got:?}"));
        }
    }
    assert!(failures.is_empty(), "{} of {} operations differ:\n{}", failures.len(), cases.len(), failures.join("\n"));
}

#[test]
fn trap_branches_reach_their_stub_through_veneer_islands_in_huge_code() {
    // 300,000 gas charges (4 instructions each, ~4.8 MB): far beyond a conditional
    // branch's 1 MiB reach from the trap stubs emitted at the end.
    let mut m = Aarch64Masm::new();
    m.func_prologue(&Prologue { params: 0, results: 0, locals: 0, slots: 2, in_regs: &[], zero_extend: 0, calls: false, zero_observed: &|_| true });
    let first = m.offset() as usize;
    for _ in 0..300_000 {
        m.charge_gas(1);
    }
    m.func_epilogue(0, 0);
    let code = m.finish(vec![0], &[(0, 0)]).expect("encodable").code;
    assert!(code.len() > 4 << 20);
    // Follow the first charge's `b.lo`: it must land on a `b` (a veneer) or the stub, and
    // following `b`s must reach the OutOfGas stub (`str xzr, [x27]; mov w0, #1`).
    let word = |at: usize| u32::from_le_bytes(code[at..at + 4].try_into().unwrap());
    let blo = first + 8;
    assert_eq!(word(blo) & 0xff00_001f, 0x5400_0003, "b.lo expected");
    let imm19 = ((((word(blo) >> 5) & 0x7ffff) << 13) as i32 >> 11) as i64;
    let mut at = (blo as i64 + imm19) as usize;
    let mut hops = 0;
    while word(at) & 0xfc00_0000 == 0x1400_0000 {
        let imm = ((word(at) & 0x03ff_ffff) << 6) as i32 >> 4;
        at = (at as i64 + imm as i64) as usize;
        hops += 1;
    }
    assert!(hops >= 1, "a veneer must be used");
    assert_eq!(dis(&code[at..at + 8]), ["str xzr, [x27]", "mov w0, #0x1"]);
    assert_eq!(TrapCode::OutOfGas as u32, 1);
}
