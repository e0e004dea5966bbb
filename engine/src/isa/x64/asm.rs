//! x86-64 instruction encoding: the few dozen instruction forms the MacroAssembler needs.
//!
//! Registers are hardware numbers 0..=15 (`rax`=0 … `r15`=15). Memory operands are always
//! `[base + disp32]` or `[base + index*1 + disp32]`; the encoder picks the short
//! displacement form when it fits.

/// Hardware register numbers.
#[allow(missing_docs)]
pub mod r {
    pub const RAX: u8 = 0;
    pub const RCX: u8 = 1;
    pub const RDX: u8 = 2;
    pub const RBX: u8 = 3;
    pub const RSP: u8 = 4;
    pub const RBP: u8 = 5;
    pub const RSI: u8 = 6;
    pub const RDI: u8 = 7;
    pub const R8: u8 = 8;
    pub const R9: u8 = 9;
    pub const R10: u8 = 10;
    pub const R11: u8 = 11;
    pub const R12: u8 = 12;
    pub const R13: u8 = 13;
    pub const R14: u8 = 14;
    pub const R15: u8 = 15;
}

/// Condition codes (the low nibble of `jcc`/`setcc`/`cmovcc`).
#[allow(missing_docs)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Cond {
    O = 0,
    No = 1,
    B = 2,
    Ae = 3,
    E = 4,
    Ne = 5,
    Be = 6,
    A = 7,
    S = 8,
    Ns = 9,
    P = 10,
    Np = 11,
    L = 12,
    Ge = 13,
    Le = 14,
    G = 15,
}

/// ALU operations of the classic `op r/m, reg` / `op r/m, imm` group.
#[allow(missing_docs)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alu {
    Add,
    Or,
    And,
    Sub,
    Xor,
    Cmp,
}

impl Alu {
    fn rm_reg_opcode(self) -> u8 {
        match self {
            Alu::Add => 0x01,
            Alu::Or => 0x09,
            Alu::And => 0x21,
            Alu::Sub => 0x29,
            Alu::Xor => 0x31,
            Alu::Cmp => 0x39,
        }
    }
    fn ext(self) -> u8 {
        match self {
            Alu::Add => 0,
            Alu::Or => 1,
            Alu::And => 4,
            Alu::Sub => 5,
            Alu::Xor => 6,
            Alu::Cmp => 7,
        }
    }
}

/// Shift and rotate operations (`/ext` of opcodes `D3` and `C1`).
#[allow(missing_docs)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shift {
    Rol = 0,
    Ror = 1,
    Shl = 4,
    Shr = 5,
    Sar = 7,
}

/// A memory operand `[base + index + disp]`.
#[derive(Debug, Clone, Copy)]
pub struct Mem {
    /// Base register.
    pub base: u8,
    /// Optional index register (scale 1).
    pub index: Option<u8>,
    /// Displacement.
    pub disp: i32,
}

impl Mem {
    /// `[base + disp]`.
    #[inline]
    pub fn new(base: u8, disp: i32) -> Mem {
        Mem { base, index: None, disp }
    }
    /// `[base + index + disp]`.
    #[inline]
    pub fn indexed(base: u8, index: u8, disp: i32) -> Mem {
        Mem { base, index: Some(index), disp }
    }
}

/// One instruction being encoded: at most 15 bytes (the x86-64 limit), built in registers
/// and appended to the code buffer with a single fixed-size copy ([`Asm::put`]).
#[derive(Debug, Clone, Copy)]
struct Inst {
    bytes: [u8; 16],
    len: usize,
}

impl Inst {
    #[inline(always)]
    fn new() -> Inst {
        Inst { bytes: [0; 16], len: 0 }
    }
    #[inline(always)]
    fn byte(&mut self, b: u8) {
        // Every form below is at most 15 bytes; the index check is a compare the optimizer
        // usually folds away, and never fails.
        self.bytes[self.len & 15] = b;
        self.len += 1;
    }
    #[inline(always)]
    fn u32(&mut self, v: u32) {
        for b in v.to_le_bytes() {
            self.byte(b);
        }
    }

    /// An optional REX prefix. `byte_regs` forces one so that registers 4..=7 name
    /// `spl..dil` in byte instructions.
    #[inline(always)]
    fn rex(&mut self, w: bool, reg: u8, index: u8, base: u8, byte_regs: bool) {
        let v = 0x40
            | (u8::from(w) << 3)
            | (((reg >> 3) & 1) << 2)
            | (((index >> 3) & 1) << 1)
            | ((base >> 3) & 1);
        let force = byte_regs && ((4..8).contains(&reg) || (4..8).contains(&base));
        if v != 0x40 || force {
            self.byte(v);
        }
    }

    #[inline(always)]
    fn modrm_mem(&mut self, reg: u8, m: Mem) {
        let reg = reg & 7;
        let base = m.base & 7;
        let (md, short) = if m.disp == 0 && base != 5 {
            (0u8, None)
        } else if (-128..128).contains(&m.disp) {
            (1u8, Some(true))
        } else {
            (2u8, Some(false))
        };
        match m.index {
            None if base != 4 => self.byte((md << 6) | (reg << 3) | base),
            None => {
                self.byte((md << 6) | (reg << 3) | 4);
                self.byte(0x24); // SIB: no index, base rsp/r12
            }
            Some(idx) => {
                self.byte((md << 6) | (reg << 3) | 4);
                self.byte(((idx & 7) << 3) | base);
            }
        }
        match short {
            None => {}
            Some(true) => self.byte(m.disp as i8 as u8),
            Some(false) => self.u32(m.disp as u32),
        }
    }

    /// `[prefix] [REX] opcode /r` with a register `rm`.
    #[inline(always)]
    fn rr(prefix: Option<u8>, w: bool, opcode: &[u8], reg: u8, rm: u8, byte_regs: bool) -> Inst {
        let mut i = Inst::new();
        if let Some(p) = prefix {
            i.byte(p);
        }
        i.rex(w, reg, 0, rm, byte_regs);
        for &b in opcode {
            i.byte(b);
        }
        i.byte(0xC0 | ((reg & 7) << 3) | (rm & 7));
        i
    }

    /// A VEX-encoded (three-byte `C4` form) register-to-register instruction of BMI2:
    /// `reg` and `rm` the ModRM operands, `vvvv` the extra register operand (0, encoded
    /// as `1111b`, when there is none), `map` 2 for `0F38` or 3 for `0F3A`, `pp` the implied
    /// prefix (1: `66`, 2: `F3`, 3: `F2`). Intel SDM vol. 2, 2.3.5.
    #[inline(always)]
    fn vex_rr(w: bool, map: u8, pp: u8, opcode: u8, reg: u8, vvvv: u8, rm: u8) -> Inst {
        let mut i = Inst::vex(w, map, pp, opcode, reg, 0, rm, vvvv);
        i.byte(0xC0 | ((reg & 7) << 3) | (rm & 7));
        i
    }
    /// As [`Inst::vex_rr`], with a memory `rm`.
    #[inline(always)]
    fn vex_rm(w: bool, map: u8, pp: u8, opcode: u8, reg: u8, vvvv: u8, m: Mem) -> Inst {
        let mut i = Inst::vex(w, map, pp, opcode, reg, m.index.unwrap_or(0), m.base, vvvv);
        i.modrm_mem(reg, m);
        i
    }
    /// The `C4` prefix's three bytes and the opcode: inverted R, X, B (the high bits of
    /// `reg`, `index`, `base`), the map, W, inverted vvvv, L = 0, pp.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    fn vex(w: bool, map: u8, pp: u8, opcode: u8, reg: u8, index: u8, base: u8, vvvv: u8) -> Inst {
        let mut i = Inst::new();
        i.byte(0xC4);
        i.byte((((!reg >> 3) & 1) << 7) | (((!index >> 3) & 1) << 6) | (((!base >> 3) & 1) << 5) | map);
        i.byte((u8::from(w) << 7) | ((!vvvv & 15) << 3) | pp);
        i.byte(opcode);
        i
    }
    /// `[prefix] [REX] opcode /r` with a memory `rm`.
    #[inline(always)]
    fn rm(prefix: Option<u8>, w: bool, opcode: &[u8], reg: u8, m: Mem, byte_regs: bool) -> Inst {
        let mut i = Inst::new();
        if let Some(p) = prefix {
            i.byte(p);
        }
        i.rex(w, reg, m.index.unwrap_or(0), m.base, byte_regs);
        for &b in opcode {
            i.byte(b);
        }
        i.modrm_mem(reg, m);
        i
    }
}

/// The code buffer with encoding helpers.
#[derive(Debug, Default)]
pub struct Asm {
    /// Encoded bytes.
    pub buf: Vec<u8>,
}

impl Asm {
    /// Current offset in the buffer.
    #[inline]
    pub fn pos(&self) -> usize {
        self.buf.len()
    }
    /// Appends one byte.
    #[inline]
    pub fn byte(&mut self, b: u8) {
        self.buf.push(b);
    }
    /// Appends a little-endian u32.
    #[inline]
    pub fn u32(&mut self, v: u32) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    /// Appends a little-endian u64.
    #[inline]
    pub fn u64(&mut self, v: u64) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    /// Overwrites 4 bytes at `at`.
    #[inline]
    pub fn patch_u32(&mut self, at: usize, v: u32) {
        self.buf[at..at + 4].copy_from_slice(&v.to_le_bytes());
    }

    /// Appends one encoded instruction: a fixed 16-byte copy (no call to `memcpy`, one
    /// capacity check) and a truncation to its real length.
    #[inline(always)]
    fn put(&mut self, i: Inst) {
        let end = self.buf.len() + i.len.min(16);
        self.buf.extend_from_slice(&i.bytes);
        self.buf.truncate(end);
    }

    /// `[prefix] [REX] opcode /r` with a register `rm`.
    #[inline(always)]
    pub fn op_rr(&mut self, prefix: Option<u8>, w: bool, opcode: &[u8], reg: u8, rm: u8, byte_regs: bool) {
        self.put(Inst::rr(prefix, w, opcode, reg, rm, byte_regs));
    }

    /// `[prefix] [REX] opcode /r` with a memory `rm`.
    #[inline(always)]
    pub fn op_rm(&mut self, prefix: Option<u8>, w: bool, opcode: &[u8], reg: u8, m: Mem, byte_regs: bool) {
        self.put(Inst::rm(prefix, w, opcode, reg, m, byte_regs));
    }

    // ---- moves ----

    /// `mov dst, src` (64-bit when `w`, else 32-bit, zero-extending).
    #[inline(always)]
    pub fn mov_rr(&mut self, w: bool, dst: u8, src: u8) {
        self.op_rr(None, w, &[0x89], src, dst, false);
    }
    /// `mov dst, imm` choosing the shortest form; the full 64 bits of `dst` are written.
    #[inline(always)]
    pub fn mov_ri(&mut self, dst: u8, imm: u64) {
        let mut i = Inst::new();
        if imm <= u64::from(u32::MAX) {
            i.rex(false, 0, 0, dst, false);
            i.byte(0xB8 + (dst & 7));
            i.u32(imm as u32);
        } else if (imm as i64) >= i64::from(i32::MIN) && (imm as i64) <= i64::from(i32::MAX) {
            i.rex(true, 0, 0, dst, false);
            i.byte(0xC7);
            i.byte(0xC0 | (dst & 7));
            i.u32(imm as u32);
        } else {
            i.rex(true, 0, 0, dst, false);
            i.byte(0xB8 + (dst & 7));
            i.u32(imm as u32);
            i.u32((imm >> 32) as u32);
        }
        self.put(i);
    }
    /// `mov dst, [m]` (64-bit when `w`).
    #[inline(always)]
    pub fn load(&mut self, w: bool, dst: u8, m: Mem) {
        self.op_rm(None, w, &[0x8B], dst, m, false);
    }
    /// `mov [m], src` (64-bit when `w`).
    #[inline(always)]
    pub fn store(&mut self, w: bool, m: Mem, src: u8) {
        self.op_rm(None, w, &[0x89], src, m, false);
    }
    /// `mov byte [m], src8`.
    #[inline]
    pub fn store8(&mut self, m: Mem, src: u8) {
        self.op_rm(None, false, &[0x88], src, m, true);
    }
    /// `mov word [m], src16`.
    #[inline]
    pub fn store16(&mut self, m: Mem, src: u8) {
        self.op_rm(Some(0x66), false, &[0x89], src, m, false);
    }
    /// `mov qword [m], simm32` (sign-extended).
    #[inline(always)]
    pub fn store_imm32_q(&mut self, m: Mem, imm: i32) {
        let mut i = Inst::rm(None, true, &[0xC7], 0, m, false);
        i.u32(imm as u32);
        self.put(i);
    }
    /// `movzx dst32, byte [m]`.
    #[inline]
    pub fn load_u8(&mut self, dst: u8, m: Mem) {
        self.op_rm(None, false, &[0x0F, 0xB6], dst, m, false);
    }
    /// `movzx dst32, word [m]`.
    #[inline]
    pub fn load_u16(&mut self, dst: u8, m: Mem) {
        self.op_rm(None, false, &[0x0F, 0xB7], dst, m, false);
    }
    /// `movsx dst, byte [m]` (64-bit when `w`).
    #[inline]
    pub fn load_s8(&mut self, w: bool, dst: u8, m: Mem) {
        self.op_rm(None, w, &[0x0F, 0xBE], dst, m, false);
    }
    /// `movsx dst, word [m]` (64-bit when `w`).
    #[inline]
    pub fn load_s16(&mut self, w: bool, dst: u8, m: Mem) {
        self.op_rm(None, w, &[0x0F, 0xBF], dst, m, false);
    }
    /// `movsxd dst64, dword [m]`.
    #[inline]
    pub fn load_s32(&mut self, dst: u8, m: Mem) {
        self.op_rm(None, true, &[0x63], dst, m, false);
    }
    /// `lea dst, [m]`.
    #[inline(always)]
    pub fn lea(&mut self, dst: u8, m: Mem) {
        self.lea_w(true, dst, m);
    }
    /// `lea dst, [m]`, 64-bit when `w`; else `lea dst32, [m]`: the address's low 32 bits,
    /// zero-extended (a 32-bit addition that wraps, whatever the upper halves hold).
    #[inline(always)]
    pub fn lea_w(&mut self, w: bool, dst: u8, m: Mem) {
        self.op_rm(None, w, &[0x8D], dst, m, false);
    }
    /// `lea dst, [index << shift]` (`shift` 1..=3; 64-bit when `w`, else the low 32 bits,
    /// zero-extended). `index` is not `rsp`.
    #[inline]
    pub fn lea_scaled(&mut self, w: bool, dst: u8, index: u8, shift: u8) {
        let mut i = Inst::new();
        i.rex(w, dst, index, 0, false);
        i.byte(0x8D);
        i.byte(((dst & 7) << 3) | 4); // mod 00, rm 100: a SIB byte follows
        i.byte(((shift & 3) << 6) | ((index & 7) << 3) | 5); // base 101 with mod 00: no base, disp32
        i.u32(0);
        self.put(i);
    }
    /// `movzx dst32, src8`.
    #[inline]
    pub fn movzx8_rr(&mut self, dst: u8, src: u8) {
        self.op_rr(None, false, &[0x0F, 0xB6], dst, src, true);
    }
    /// `movzx dst32, src16`.
    #[inline]
    pub fn movzx16_rr(&mut self, dst: u8, src: u8) {
        self.op_rr(None, false, &[0x0F, 0xB7], dst, src, false);
    }
    /// `movsx dst, src8` (64-bit when `w`).
    #[inline]
    pub fn movsx8_rr(&mut self, w: bool, dst: u8, src: u8) {
        self.op_rr(None, w, &[0x0F, 0xBE], dst, src, true);
    }
    /// `movsx dst, src16` (64-bit when `w`).
    #[inline]
    pub fn movsx16_rr(&mut self, w: bool, dst: u8, src: u8) {
        self.op_rr(None, w, &[0x0F, 0xBF], dst, src, false);
    }
    /// `movsxd dst64, src32`.
    #[inline]
    pub fn movsxd_rr(&mut self, dst: u8, src: u8) {
        self.op_rr(None, true, &[0x63], dst, src, false);
    }

    // ---- integer ALU ----

    /// `op dst, src`.
    #[inline(always)]
    pub fn alu_rr(&mut self, op: Alu, w: bool, dst: u8, src: u8) {
        self.op_rr(None, w, &[op.rm_reg_opcode()], src, dst, false);
    }
    /// `op dst, simm32`.
    #[inline(always)]
    pub fn alu_ri(&mut self, op: Alu, w: bool, dst: u8, imm: i32) {
        let i = if (-128..128).contains(&imm) {
            let mut i = Inst::rr(None, w, &[0x83], op.ext(), dst, false);
            i.byte(imm as i8 as u8);
            i
        } else {
            let mut i = Inst::rr(None, w, &[0x81], op.ext(), dst, false);
            i.u32(imm as u32);
            i
        };
        self.put(i);
    }
    /// `op [m], simm32`.
    #[inline(always)]
    pub fn alu_mi(&mut self, op: Alu, w: bool, m: Mem, imm: i32) {
        let i = if (-128..128).contains(&imm) {
            let mut i = Inst::rm(None, w, &[0x83], op.ext(), m, false);
            i.byte(imm as i8 as u8);
            i
        } else {
            let mut i = Inst::rm(None, w, &[0x81], op.ext(), m, false);
            i.u32(imm as u32);
            i
        };
        self.put(i);
    }
    /// `op [m], src`.
    #[inline(always)]
    pub fn alu_mr(&mut self, op: Alu, w: bool, m: Mem, src: u8) {
        self.op_rm(None, w, &[op.rm_reg_opcode()], src, m, false);
    }
    /// `op dst, [m]`.
    #[inline(always)]
    pub fn alu_rm(&mut self, op: Alu, w: bool, dst: u8, m: Mem) {
        self.op_rm(None, w, &[op.rm_reg_opcode() + 2], dst, m, false);
    }
    /// `imul dst, src`.
    #[inline]
    pub fn imul_rr(&mut self, w: bool, dst: u8, src: u8) {
        self.op_rr(None, w, &[0x0F, 0xAF], dst, src, false);
    }
    /// `imul dst, [m]`.
    #[inline]
    pub fn imul_rm(&mut self, w: bool, dst: u8, m: Mem) {
        self.op_rm(None, w, &[0x0F, 0xAF], dst, m, false);
    }
    /// `imul dst, src, simm32`.
    #[inline]
    pub fn imul_rri(&mut self, w: bool, dst: u8, src: u8, imm: i32) {
        let mut i = Inst::rr(None, w, &[0x69], dst, src, false);
        i.u32(imm as u32);
        self.put(i);
    }
    /// `rorx dst, src, imm` (BMI2): `dst = src` rotated right by `imm`, flags untouched.
    #[inline]
    pub fn rorx(&mut self, w: bool, dst: u8, src: u8, imm: u8) {
        let mut i = Inst::vex_rr(w, 3, 3, 0xF0, dst, 0, src);
        i.byte(imm);
        self.put(i);
    }
    /// `rorx dst, [m], imm` (BMI2).
    #[inline]
    pub fn rorx_m(&mut self, w: bool, dst: u8, m: Mem, imm: u8) {
        let mut i = Inst::vex_rm(w, 3, 3, 0xF0, dst, 0, m);
        i.byte(imm);
        self.put(i);
    }
    /// `imul dst, [m], simm32`.
    #[inline]
    pub fn imul_rmi(&mut self, w: bool, dst: u8, m: Mem, imm: i32) {
        let mut i = Inst::rm(None, w, &[0x69], dst, m, false);
        i.u32(imm as u32);
        self.put(i);
    }
    /// `shlx` / `shrx` / `sarx dst, src, count` (BMI2): `dst = src` shifted by `count`
    /// (masked to the width, as `shl`), flags untouched. `op` is `Shl`, `Shr` or `Sar`.
    #[inline]
    pub fn shiftx(&mut self, op: Shift, w: bool, dst: u8, src: u8, count: u8) {
        let pp = match op {
            Shift::Shl => 1,
            Shift::Sar => 2,
            _ => 3,
        };
        let i = Inst::vex_rr(w, 2, pp, 0xF7, dst, count, src);
        self.put(i);
    }
    /// `shift dst, cl`.
    #[inline]
    pub fn shift_cl(&mut self, op: Shift, w: bool, dst: u8) {
        self.op_rr(None, w, &[0xD3], op as u8, dst, false);
    }
    /// `shift dst, imm8`.
    #[inline]
    pub fn shift_ri(&mut self, op: Shift, w: bool, dst: u8, imm: u8) {
        let mut i = Inst::rr(None, w, &[0xC1], op as u8, dst, false);
        i.byte(imm);
        self.put(i);
    }
    /// `div src` (unsigned) or `idiv src` (signed) of `rdx:rax`.
    #[inline]
    pub fn div(&mut self, signed: bool, w: bool, src: u8) {
        self.op_rr(None, w, &[0xF7], if signed { 7 } else { 6 }, src, false);
    }
    /// `cdq` / `cqo`.
    #[inline]
    pub fn sign_extend_rax(&mut self, w: bool) {
        if w {
            self.buf.extend_from_slice(&[0x48, 0x99]);
        } else {
            self.byte(0x99);
        }
    }
    /// `lzcnt`/`tzcnt`/`popcnt dst, src` (`op` is 0xBD, 0xBC or 0xB8).
    #[inline]
    pub fn bitcount(&mut self, op: u8, w: bool, dst: u8, src: u8) {
        self.op_rr(Some(0xF3), w, &[0x0F, op], dst, src, false);
    }
    /// `test a, b`.
    #[inline]
    pub fn test_rr(&mut self, w: bool, a: u8, b: u8) {
        self.op_rr(None, w, &[0x85], b, a, false);
    }
    /// `setcc dst8`.
    #[inline]
    pub fn setcc(&mut self, cc: Cond, dst: u8) {
        self.op_rr(None, false, &[0x0F, 0x90 + cc as u8], 0, dst, true);
    }
    /// `cmovcc dst, src`.
    #[inline]
    pub fn cmov(&mut self, cc: Cond, w: bool, dst: u8, src: u8) {
        self.op_rr(None, w, &[0x0F, 0x40 + cc as u8], dst, src, false);
    }

    // ---- control ----

    /// `jmp rel32`, returning the offset of the rel32 field.
    #[inline]
    pub fn jmp_rel32(&mut self) -> usize {
        self.buf.extend_from_slice(&[0xE9, 0, 0, 0, 0]);
        self.pos() - 4
    }
    /// `jcc rel32`, returning the offset of the rel32 field.
    #[inline]
    pub fn jcc_rel32(&mut self, cc: Cond) -> usize {
        self.buf.extend_from_slice(&[0x0F, 0x80 + cc as u8, 0, 0, 0, 0]);
        self.pos() - 4
    }
    /// `call rel32`, returning the offset of the rel32 field.
    #[inline]
    pub fn call_rel32(&mut self) -> usize {
        self.buf.extend_from_slice(&[0xE8, 0, 0, 0, 0]);
        self.pos() - 4
    }
    /// `call reg`.
    #[inline]
    pub fn call_r(&mut self, reg: u8) {
        self.op_rr(None, false, &[0xFF], 2, reg, false);
    }
    /// `call [m]`.
    #[inline]
    pub fn call_m(&mut self, m: Mem) {
        self.op_rm(None, false, &[0xFF], 2, m, false);
    }
    /// `jmp reg`.
    #[inline]
    pub fn jmp_r(&mut self, reg: u8) {
        self.op_rr(None, false, &[0xFF], 4, reg, false);
    }
    /// `push reg`.
    #[inline]
    pub fn push(&mut self, reg: u8) {
        let mut i = Inst::new();
        i.rex(false, 0, 0, reg, false);
        i.byte(0x50 + (reg & 7));
        self.put(i);
    }
    /// `pop reg`.
    #[inline]
    pub fn pop(&mut self, reg: u8) {
        let mut i = Inst::new();
        i.rex(false, 0, 0, reg, false);
        i.byte(0x58 + (reg & 7));
        self.put(i);
    }
    /// `push qword [m]`.
    #[inline]
    pub fn push_m(&mut self, m: Mem) {
        self.op_rm(None, false, &[0xFF], 6, m, false);
    }
    /// `pop qword [m]`.
    #[inline]
    pub fn pop_m(&mut self, m: Mem) {
        self.op_rm(None, false, &[0x8F], 0, m, false);
    }
    /// `ret`.
    #[inline]
    pub fn ret(&mut self) {
        self.byte(0xC3);
    }
    /// `rep stosq`.
    #[inline]
    pub fn rep_stosq(&mut self) {
        self.buf.extend_from_slice(&[0xF3, 0x48, 0xAB]);
    }
    /// `ud2`.
    #[inline]
    pub fn ud2(&mut self) {
        self.buf.extend_from_slice(&[0x0F, 0x0B]);
    }

    // ---- SSE ----

    /// `movd/movq xmm, gpr`.
    #[inline]
    pub fn movq_xr(&mut self, w: bool, xmm: u8, gpr: u8) {
        self.op_rr(Some(0x66), w, &[0x0F, 0x6E], xmm, gpr, false);
    }
    /// `movd/movq gpr, xmm`.
    #[inline]
    pub fn movq_rx(&mut self, w: bool, gpr: u8, xmm: u8) {
        self.op_rr(Some(0x66), w, &[0x0F, 0x7E], xmm, gpr, false);
    }
    /// Scalar SSE op `op xmm_dst, xmm_src` with `prefix` F3 (single) or F2 (double).
    #[inline]
    pub fn sse_rr(&mut self, prefix: u8, op: u8, dst: u8, src: u8) {
        self.op_rr(Some(prefix), false, &[0x0F, op], dst, src, false);
    }
    /// `movsd xmm, [m]` (8 bytes; zeroes bits 64..128).
    #[inline]
    pub fn movsd_load(&mut self, xmm: u8, m: Mem) {
        self.op_rm(Some(0xF2), false, &[0x0F, 0x10], xmm, m, false);
    }
    /// `movsd [m], xmm` (8 bytes).
    #[inline]
    pub fn movsd_store(&mut self, m: Mem, xmm: u8) {
        self.op_rm(Some(0xF2), false, &[0x0F, 0x11], xmm, m, false);
    }
    /// `movaps dst, src` (all 128 bits: no dependency on `dst`'s old value).
    #[inline]
    pub fn movaps_rr(&mut self, dst: u8, src: u8) {
        self.op_rr(None, false, &[0x0F, 0x28], dst, src, false);
    }
    /// `xorps xmm, xmm` (zeroes all 128 bits).
    #[inline]
    pub fn xorps_self(&mut self, xmm: u8) {
        self.op_rr(None, false, &[0x0F, 0x57], xmm, xmm, false);
    }
    /// `movups [m], xmm` (16 bytes, any alignment).
    #[inline]
    pub fn movups_store(&mut self, m: Mem, xmm: u8) {
        self.op_rm(None, false, &[0x0F, 0x11], xmm, m, false);
    }
    /// `ucomiss`/`ucomisd a, b`.
    #[inline]
    pub fn ucomis(&mut self, double: bool, a: u8, b: u8) {
        if double {
            self.op_rr(Some(0x66), false, &[0x0F, 0x2E], a, b, false);
        } else {
            self.op_rr(None, false, &[0x0F, 0x2E], a, b, false);
        }
    }
    /// `roundss`/`roundsd dst, src, mode`.
    #[inline]
    pub fn round(&mut self, double: bool, dst: u8, src: u8, mode: u8) {
        let mut i = Inst::rr(Some(0x66), false, &[0x0F, 0x3A, if double { 0x0B } else { 0x0A }], dst, src, false);
        i.byte(mode);
        self.put(i);
    }
    /// `cvtsi2ss/sd xmm, gpr` (64-bit source when `w`).
    #[inline]
    pub fn cvtsi2f(&mut self, double: bool, w: bool, xmm: u8, gpr: u8) {
        self.op_rr(Some(if double { 0xF2 } else { 0xF3 }), w, &[0x0F, 0x2A], xmm, gpr, false);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(f: impl FnOnce(&mut Asm)) -> Vec<u8> {
        let mut a = Asm::default();
        f(&mut a);
        a.buf
    }

    #[test]
    fn encodings_match_the_manual() {
        assert_eq!(enc(|a| a.mov_rr(true, r::RAX, r::RBX)), [0x48, 0x89, 0xd8]);
        assert_eq!(enc(|a| a.load(true, r::R12, Mem::new(r::R13, 8))), [0x4d, 0x8b, 0x65, 0x08]);
        assert_eq!(enc(|a| a.store(true, Mem::new(r::RSP, 16), r::RAX)), [0x48, 0x89, 0x44, 0x24, 0x10]);
        assert_eq!(enc(|a| a.load(true, r::RAX, Mem::new(r::R12, 0))), [0x49, 0x8b, 0x04, 0x24]);
        assert_eq!(enc(|a| a.load(true, r::RAX, Mem::new(r::R13, 0))), [0x49, 0x8b, 0x45, 0x00]);
        assert_eq!(enc(|a| a.load(true, r::RAX, Mem::new(r::RBP, -4096))), [0x48, 0x8b, 0x85, 0x00, 0xf0, 0xff, 0xff]);
        assert_eq!(enc(|a| a.movzx8_rr(r::RAX, r::RSI)), [0x40, 0x0f, 0xb6, 0xc6]);
        assert_eq!(enc(|a| a.store8(Mem::new(r::RAX, 0), r::RDI)), [0x40, 0x88, 0x38]);
        assert_eq!(enc(|a| a.setcc(Cond::E, r::RAX)), [0x0f, 0x94, 0xc0]);
        // movsd xmm9, [rbp + rax*1 + 8]; movsd [rsp + 16], xmm2; movaps xmm3, xmm12.
        let m = Mem::indexed(r::RBP, r::RAX, 8);
        assert_eq!(enc(|a| a.movsd_load(9, m)), [0xf2, 0x44, 0x0f, 0x10, 0x4c, 0x05, 0x08]);
        assert_eq!(enc(|a| a.movsd_store(Mem::new(r::RSP, 16), 2)), [0xf2, 0x0f, 0x11, 0x54, 0x24, 0x10]);
        assert_eq!(enc(|a| a.movaps_rr(3, 12)), [0x41, 0x0f, 0x28, 0xdc]);
        assert_eq!(enc(|a| a.lea(r::R11, Mem::indexed(r::R8, r::R9, 8))), [0x4f, 0x8d, 0x5c, 0x08, 0x08]);
        assert_eq!(enc(|a| a.movq_xr(true, 0, r::RAX)), [0x66, 0x48, 0x0f, 0x6e, 0xc0]);
        assert_eq!(enc(|a| a.sse_rr(0xF2, 0x58, 0, 1)), [0xf2, 0x0f, 0x58, 0xc1]);
        assert_eq!(enc(|a| a.bitcount(0xBD, false, r::RAX, r::RBX)), [0xf3, 0x0f, 0xbd, 0xc3]);
        assert_eq!(enc(|a| a.mov_ri(r::RAX, u64::MAX)), [0x48, 0xc7, 0xc0, 0xff, 0xff, 0xff, 0xff]);
        assert_eq!(enc(|a| a.mov_ri(r::R9, 5)), [0x41, 0xb9, 5, 0, 0, 0]);
        assert_eq!(enc(|a| a.alu_mi(Alu::Sub, true, Mem::new(r::R14, 0), 100)), [0x49, 0x83, 0x2e, 100]);
        assert_eq!(enc(|a| a.push(r::R15)), [0x41, 0x57]);
        assert_eq!(enc(|a| a.shift_cl(Shift::Shl, false, r::RBX)), [0xd3, 0xe3]);
    }

    #[test]
    fn forms_with_immediates_and_prefixes_match_the_manual() {
        assert_eq!(enc(|a| a.store16(Mem::new(r::RAX, 0), r::RCX)), [0x66, 0x89, 0x08]);
        assert_eq!(enc(|a| a.alu_ri(Alu::Add, true, r::RAX, 1000)), [0x48, 0x81, 0xc0, 0xe8, 0x03, 0, 0]);
        assert_eq!(enc(|a| a.alu_ri(Alu::Sub, false, r::RBX, 5)), [0x83, 0xeb, 0x05]);
        assert_eq!(
            enc(|a| a.alu_mi(Alu::Cmp, true, Mem::new(r::R15, 0x100), 0x1000)),
            [0x49, 0x81, 0xbf, 0x00, 0x01, 0, 0, 0x00, 0x10, 0, 0]
        );
        assert_eq!(enc(|a| a.imul_rri(true, r::RAX, r::RCX, 10)), [0x48, 0x69, 0xc1, 10, 0, 0, 0]);
        assert_eq!(enc(|a| a.shift_ri(Shift::Shl, true, r::RAX, 3)), [0x48, 0xc1, 0xe0, 3]);
        assert_eq!(enc(|a| a.round(true, 0, 1, 1)), [0x66, 0x0f, 0x3a, 0x0b, 0xc1, 1]);
        assert_eq!(
            enc(|a| a.mov_ri(r::RAX, 0x1122_3344_5566_7788)),
            [0x48, 0xb8, 0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11]
        );
        assert_eq!(
            enc(|a| a.store_imm32_q(Mem::new(r::RSP, 8), -1)),
            [0x48, 0xc7, 0x44, 0x24, 0x08, 0xff, 0xff, 0xff, 0xff]
        );
        assert_eq!(enc(|a| a.pop(r::R12)), [0x41, 0x5c]);
        assert_eq!(enc(|a| a.push(r::RAX)), [0x50]);
        assert_eq!(enc(|a| a.sign_extend_rax(true)), [0x48, 0x99]);
        assert_eq!(enc(|a| a.sign_extend_rax(false)), [0x99]);
        let mut a = Asm::default();
        a.ret();
        assert_eq!(a.jmp_rel32(), 2);
        assert_eq!(a.jcc_rel32(Cond::E), 8);
        assert_eq!(a.call_rel32(), 13);
        assert_eq!(a.buf, [0xc3, 0xe9, 0, 0, 0, 0, 0x0f, 0x84, 0, 0, 0, 0, 0xe8, 0, 0, 0, 0]);
    }
}
