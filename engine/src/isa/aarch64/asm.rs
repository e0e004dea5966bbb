//! A64 instruction encoding: the few dozen instructions the aarch64 MacroAssembler emits,
//! each one function returning nothing and appending one 32-bit little-endian word.
//!
//! Encodings follow the Arm Architecture Reference Manual for A-profile (DDI 0487), section
//! C4 ("A64 instruction set encoding"); the unit tests in `tests/aarch64_encoding.rs`
//! disassemble every form with `yaxpeax-arm` and compare against the intended text.
//!
//! Register number 31 means `sp` or `xzr`/`wzr` depending on the instruction, exactly as in
//! the encoding; the functions name which one their operands accept.

/// Register numbers.
#[allow(missing_docs)]
pub mod r {
    pub const X0: u8 = 0;
    pub const X1: u8 = 1;
    pub const X2: u8 = 2;
    pub const X3: u8 = 3;
    pub const X4: u8 = 4;
    pub const X5: u8 = 5;
    pub const X8: u8 = 8;
    pub const X9: u8 = 9;
    pub const X10: u8 = 10;
    pub const X11: u8 = 11;
    pub const X12: u8 = 12;
    pub const X13: u8 = 13;
    pub const X14: u8 = 14;
    pub const X15: u8 = 15;
    pub const X16: u8 = 16;
    pub const X17: u8 = 17;
    pub const X19: u8 = 19;
    pub const X20: u8 = 20;
    pub const X21: u8 = 21;
    pub const X22: u8 = 22;
    pub const X23: u8 = 23;
    pub const X24: u8 = 24;
    pub const X25: u8 = 25;
    pub const X26: u8 = 26;
    pub const X27: u8 = 27;
    pub const X28: u8 = 28;
    /// Frame pointer.
    pub const FP: u8 = 29;
    /// Link register.
    pub const LR: u8 = 30;
    /// Stack pointer (in instructions that accept it).
    pub const SP: u8 = 31;
    /// Zero register (in instructions that accept it).
    pub const ZR: u8 = 31;
}

/// Condition codes (C1.2.4).
#[allow(missing_docs)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Cond {
    Eq = 0,
    Ne = 1,
    Hs = 2,
    Lo = 3,
    Mi = 4,
    Pl = 5,
    Vs = 6,
    Vc = 7,
    Hi = 8,
    Ls = 9,
    Ge = 10,
    Lt = 11,
    Gt = 12,
    Le = 13,
}

impl Cond {
    /// The opposite condition.
    #[inline]
    pub fn invert(self) -> Cond {
        match self {
            Cond::Eq => Cond::Ne,
            Cond::Ne => Cond::Eq,
            Cond::Hs => Cond::Lo,
            Cond::Lo => Cond::Hs,
            Cond::Mi => Cond::Pl,
            Cond::Pl => Cond::Mi,
            Cond::Vs => Cond::Vc,
            Cond::Vc => Cond::Vs,
            Cond::Hi => Cond::Ls,
            Cond::Ls => Cond::Hi,
            Cond::Ge => Cond::Lt,
            Cond::Lt => Cond::Ge,
            Cond::Gt => Cond::Le,
            Cond::Le => Cond::Gt,
        }
    }
}

/// Add/subtract and logical operations with register or immediate operands.
#[allow(missing_docs)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alu {
    Add,
    Sub,
    /// Add, setting flags.
    Adds,
    /// Subtract, setting flags (`cmp` with `rd = zr`).
    Subs,
    And,
    Orr,
    Eor,
}

/// Variable shifts (`lslv` family).
#[allow(missing_docs)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shift {
    Lsl,
    Lsr,
    Asr,
    Ror,
}

/// Load and store kinds with their size and extension (C4.1.92, "Load/store register").
#[allow(missing_docs)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ldst {
    /// `ldr x`.
    Ldr64,
    /// `ldr w` (zero-extends).
    Ldr32,
    Ldrh,
    Ldrb,
    /// `ldrsw x`.
    Ldrsw,
    /// `ldrsh x`.
    Ldrsh64,
    /// `ldrsh w`.
    Ldrsh32,
    /// `ldrsb x`.
    Ldrsb64,
    /// `ldrsb w`.
    Ldrsb32,
    Str64,
    Str32,
    Strh,
    Strb,
}

impl Ldst {
    /// Access size in bytes.
    #[inline]
    pub fn bytes(self) -> u32 {
        match self {
            Ldst::Ldr64 | Ldst::Str64 => 8,
            Ldst::Ldr32 | Ldst::Ldrsw | Ldst::Str32 => 4,
            Ldst::Ldrh | Ldst::Ldrsh64 | Ldst::Ldrsh32 | Ldst::Strh => 2,
            Ldst::Ldrb | Ldst::Ldrsb64 | Ldst::Ldrsb32 | Ldst::Strb => 1,
        }
    }

    /// The "unsigned offset" form's fixed bits (size, V=0, 01, opc).
    #[inline]
    fn base(self) -> u32 {
        match self {
            Ldst::Ldr64 => 0xF940_0000,
            Ldst::Str64 => 0xF900_0000,
            Ldst::Ldr32 => 0xB940_0000,
            Ldst::Str32 => 0xB900_0000,
            Ldst::Ldrsw => 0xB980_0000,
            Ldst::Ldrh => 0x7940_0000,
            Ldst::Strh => 0x7900_0000,
            Ldst::Ldrsh64 => 0x7980_0000,
            Ldst::Ldrsh32 => 0x79C0_0000,
            Ldst::Ldrb => 0x3940_0000,
            Ldst::Strb => 0x3900_0000,
            Ldst::Ldrsb64 => 0x3980_0000,
            Ldst::Ldrsb32 => 0x39C0_0000,
        }
    }
}

/// Scalar floating-point operations with two sources (C4.1.96).
#[allow(missing_docs)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FpBin {
    Add,
    Sub,
    Mul,
    Div,
}

/// Scalar floating-point operations with one source (C4.1.96).
#[allow(missing_docs)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FpUn {
    Sqrt,
    /// Round to nearest, ties to even.
    Frintn,
    /// Round toward +infinity.
    Frintp,
    /// Round toward -infinity.
    Frintm,
    /// Round toward zero.
    Frintz,
}

/// Encodes `imm` as an A64 "bitmask immediate" for a `width`-bit logical operation
/// (`width` 32 or 64): returns `(N, immr, imms)`, or `None` when `imm` is not a rotated
/// run of ones repeated across equal elements (all-zeros and all-ones never are).
/// The algorithm is the inverse of the manual's `DecodeBitMasks` (J1.1).
pub fn logical_imm(imm: u64, width: u32) -> Option<(u32, u32, u32)> {
    let mut v = if width == 32 {
        let lo = imm & 0xffff_ffff;
        lo | (lo << 32)
    } else {
        imm
    };
    if v == 0 || v == !0 {
        return None;
    }
    // Smallest element size whose repetition gives v.
    let mut size = 64u32;
    loop {
        let half = size / 2;
        let mask = (1u64 << half) - 1;
        if (v & mask) != ((v >> half) & mask) {
            break;
        }
        size = half;
        if size == 2 {
            break;
        }
    }
    let mask = if size == 64 { !0u64 } else { (1u64 << size) - 1 };
    v &= mask;
    let is_mask = |x: u64| x != 0 && (x.wrapping_add(1) & x) == 0;
    let is_shifted_mask = |x: u64| x != 0 && is_mask((x - 1) | x);
    let (rot, ones);
    if is_shifted_mask(v) {
        rot = v.trailing_zeros();
        ones = (v >> rot).trailing_ones();
    } else {
        let w = v | !mask;
        if !is_shifted_mask(!w) {
            return None;
        }
        let clo = w.leading_ones();
        rot = 64 - clo;
        ones = clo + w.trailing_ones() - (64 - size);
    }
    let immr = (size - rot) & (size - 1);
    let nimms = ((!(size - 1)) << 1) | (ones - 1);
    let n = ((nimms >> 6) & 1) ^ 1;
    Some((n, immr, nimms & 0x3f))
}

/// An A64 code buffer.
#[derive(Debug, Default)]
pub struct Asm {
    /// The bytes emitted so far.
    pub buf: Vec<u8>,
}

fn sf(w: bool) -> u32 {
    if w {
        1 << 31
    } else {
        0
    }
}

fn reg(x: u8) -> u32 {
    u32::from(x & 31)
}

impl Asm {
    /// Current offset, bytes.
    #[inline]
    pub fn pos(&self) -> usize {
        self.buf.len()
    }

    /// Appends one instruction word.
    #[inline]
    pub fn emit(&mut self, word: u32) {
        self.buf.extend_from_slice(&word.to_le_bytes());
    }

    /// Reads the instruction word at `at`.
    #[inline]
    pub fn word_at(&self, at: usize) -> u32 {
        u32::from_le_bytes([self.buf[at], self.buf[at + 1], self.buf[at + 2], self.buf[at + 3]])
    }

    /// Overwrites the instruction word at `at`.
    #[inline]
    pub fn patch(&mut self, at: usize, word: u32) {
        self.buf[at..at + 4].copy_from_slice(&word.to_le_bytes());
    }

    /// Appends a raw 32-bit data word (jump tables).
    #[inline]
    pub fn data32(&mut self, v: u32) {
        self.emit(v);
    }

    // ----- moves -----

    /// `movz rd, #imm16, lsl #(16*hw)`.
    #[inline]
    pub fn movz(&mut self, w: bool, rd: u8, imm16: u16, hw: u32) {
        self.emit(sf(w) | 0x5280_0000 | (hw << 21) | (u32::from(imm16) << 5) | reg(rd));
    }

    /// `movn rd, #imm16, lsl #(16*hw)`.
    #[inline]
    pub fn movn(&mut self, w: bool, rd: u8, imm16: u16, hw: u32) {
        self.emit(sf(w) | 0x1280_0000 | (hw << 21) | (u32::from(imm16) << 5) | reg(rd));
    }

    /// `movk rd, #imm16, lsl #(16*hw)`.
    #[inline]
    pub fn movk(&mut self, w: bool, rd: u8, imm16: u16, hw: u32) {
        self.emit(sf(w) | 0x7280_0000 | (hw << 21) | (u32::from(imm16) << 5) | reg(rd));
    }

    /// Loads a 64-bit constant with the shortest `movz`/`movn` + `movk` sequence, or one
    /// `orr rd, xzr, #bitmask` (1 to 4 instructions).
    #[inline]
    pub fn mov_imm(&mut self, rd: u8, imm: u64) {
        let halves = [imm as u16, (imm >> 16) as u16, (imm >> 32) as u16, (imm >> 48) as u16];
        let zeros = halves.iter().filter(|h| **h == 0).count();
        let ones = halves.iter().filter(|h| **h == 0xffff).count();
        if zeros < 3 && ones < 3 {
            if let Some((n, immr, imms)) = logical_imm(imm, 64) {
                self.logical_imm_raw(Alu::Orr, true, rd, r::ZR, n, immr, imms);
                return;
            }
        }
        if ones > zeros {
            // movn writes !(imm16 << shift); start from the first half that is not 0xffff.
            let first = halves.iter().position(|h| *h != 0xffff).unwrap_or(0);
            self.movn(true, rd, !halves[first], first as u32);
            for (i, h) in halves.iter().enumerate().skip(first + 1) {
                if *h != 0xffff {
                    self.movk(true, rd, *h, i as u32);
                }
            }
        } else {
            let first = halves.iter().position(|h| *h != 0).unwrap_or(0);
            self.movz(true, rd, halves[first], first as u32);
            for (i, h) in halves.iter().enumerate().skip(first + 1) {
                if *h != 0 {
                    self.movk(true, rd, *h, i as u32);
                }
            }
        }
    }

    /// `mov rd, rm` (`orr rd, zr, rm`); with `w` false it zero-extends the low 32 bits.
    #[inline]
    pub fn mov_rr(&mut self, w: bool, rd: u8, rm: u8) {
        self.alu_rr(Alu::Orr, w, rd, r::ZR, rm);
    }

    /// `mov rd, sp` / `mov sp, rn` (`add rd, rn, #0`; 31 means `sp` on both sides).
    #[inline]
    pub fn mov_sp(&mut self, rd: u8, rn: u8) {
        self.emit(0x9100_0000 | (reg(rn) << 5) | reg(rd));
    }

    // ----- integer arithmetic -----

    /// `op rd, rn, rm` (shifted-register form, no shift). For add/sub, 31 means `zr`.
    #[inline]
    pub fn alu_rr(&mut self, op: Alu, w: bool, rd: u8, rn: u8, rm: u8) {
        let base = match op {
            Alu::Add => 0x0B00_0000,
            Alu::Sub => 0x4B00_0000,
            Alu::Adds => 0x2B00_0000,
            Alu::Subs => 0x6B00_0000,
            Alu::And => 0x0A00_0000,
            Alu::Orr => 0x2A00_0000,
            Alu::Eor => 0x4A00_0000,
        };
        self.emit(sf(w) | base | (reg(rm) << 16) | (reg(rn) << 5) | reg(rd));
    }

    /// `op rd, rn, #imm12 {, lsl #12}` for add/sub/adds/subs (31 means `sp` for `rn`, and
    /// for `rd` of add/sub). `imm12 < 4096`.
    #[inline]
    pub fn addsub_imm(&mut self, op: Alu, w: bool, rd: u8, rn: u8, imm12: u32, lsl12: bool) {
        let base = match op {
            Alu::Add => 0x1100_0000,
            Alu::Adds => 0x3100_0000,
            Alu::Sub => 0x5100_0000,
            Alu::Subs => 0x7100_0000,
            _ => unreachable!("logical operations use logical_imm"),
        };
        debug_assert!(imm12 < 4096);
        let sh = if lsl12 { 1 << 22 } else { 0 };
        self.emit(sf(w) | base | sh | ((imm12 & 0xfff) << 10) | (reg(rn) << 5) | reg(rd));
    }

    /// `add`/`sub` with an immediate encodable as `imm12` or `imm12 << 12`; returns false
    /// (emitting nothing) when it is not.
    #[inline]
    pub fn try_addsub_imm(&mut self, op: Alu, w: bool, rd: u8, rn: u8, imm: u64) -> bool {
        if imm < 4096 {
            self.addsub_imm(op, w, rd, rn, imm as u32, false);
            true
        } else if imm & 0xfff == 0 && imm >> 12 < 4096 {
            self.addsub_imm(op, w, rd, rn, (imm >> 12) as u32, true);
            true
        } else {
            false
        }
    }

    /// `op rd, rn, rm, uxtx` (extended-register form: 31 means `sp` for `rd` and `rn`).
    #[inline]
    pub fn addsub_ext(&mut self, sub: bool, rd: u8, rn: u8, rm: u8) {
        let base = if sub { 0xCB20_6000 } else { 0x8B20_6000 };
        self.emit(base | (reg(rm) << 16) | (reg(rn) << 5) | reg(rd));
    }

    /// Logical operation with an encoded bitmask immediate.
    #[allow(clippy::too_many_arguments)]
    #[inline]
    pub fn logical_imm_raw(&mut self, op: Alu, w: bool, rd: u8, rn: u8, n: u32, immr: u32, imms: u32) {
        let base = match op {
            Alu::And => 0x1200_0000,
            Alu::Orr => 0x3200_0000,
            Alu::Eor => 0x5200_0000,
            _ => unreachable!("add/sub use addsub_imm"),
        };
        self.emit(sf(w) | base | (n << 22) | (immr << 16) | (imms << 10) | (reg(rn) << 5) | reg(rd));
    }

    /// `and/orr/eor rd, rn, #imm` when `imm` is a bitmask immediate; returns false (emitting
    /// nothing) when it is not.
    #[inline]
    pub fn try_logical_imm(&mut self, op: Alu, w: bool, rd: u8, rn: u8, imm: u64) -> bool {
        match logical_imm(imm, if w { 64 } else { 32 }) {
            Some((n, immr, imms)) => {
                self.logical_imm_raw(op, w, rd, rn, n, immr, imms);
                true
            }
            None => false,
        }
    }

    /// `mul rd, rn, rm` (`madd rd, rn, rm, zr`).
    #[inline]
    pub fn mul(&mut self, w: bool, rd: u8, rn: u8, rm: u8) {
        self.emit(sf(w) | 0x1B00_7C00 | (reg(rm) << 16) | (reg(rn) << 5) | reg(rd));
    }

    /// `msub rd, rn, rm, ra`: `rd = ra - rn * rm`.
    #[inline]
    pub fn msub(&mut self, w: bool, rd: u8, rn: u8, rm: u8, ra: u8) {
        self.emit(sf(w) | 0x1B00_8000 | (reg(rm) << 16) | (reg(ra) << 10) | (reg(rn) << 5) | reg(rd));
    }

    /// `sdiv`/`udiv rd, rn, rm` (a zero divisor yields 0; no trap).
    #[inline]
    pub fn div(&mut self, signed: bool, w: bool, rd: u8, rn: u8, rm: u8) {
        let op = if signed { 0x1AC0_0C00 } else { 0x1AC0_0800 };
        self.emit(sf(w) | op | (reg(rm) << 16) | (reg(rn) << 5) | reg(rd));
    }

    /// `lslv/lsrv/asrv/rorv rd, rn, rm` (count taken modulo the width).
    #[inline]
    pub fn shift_rr(&mut self, op: Shift, w: bool, rd: u8, rn: u8, rm: u8) {
        let opc = match op {
            Shift::Lsl => 0x2000,
            Shift::Lsr => 0x2400,
            Shift::Asr => 0x2800,
            Shift::Ror => 0x2C00,
        };
        self.emit(sf(w) | 0x1AC0_0000 | opc | (reg(rm) << 16) | (reg(rn) << 5) | reg(rd));
    }

    /// `ubfm rd, rn, #immr, #imms`.
    #[inline]
    pub fn ubfm(&mut self, w: bool, rd: u8, rn: u8, immr: u32, imms: u32) {
        let base = if w { 0xD340_0000 } else { 0x5300_0000 };
        self.emit(base | (immr << 16) | (imms << 10) | (reg(rn) << 5) | reg(rd));
    }

    /// `sbfm rd, rn, #immr, #imms`.
    #[inline]
    pub fn sbfm(&mut self, w: bool, rd: u8, rn: u8, immr: u32, imms: u32) {
        let base = if w { 0x9340_0000 } else { 0x1300_0000 };
        self.emit(base | (immr << 16) | (imms << 10) | (reg(rn) << 5) | reg(rd));
    }

    /// `extr rd, rn, rm, #lsb` (`ror rd, rn, #lsb` when `rn == rm`).
    #[inline]
    pub fn extr(&mut self, w: bool, rd: u8, rn: u8, rm: u8, lsb: u32) {
        let base = if w { 0x93C0_0000 } else { 0x1380_0000 };
        self.emit(base | (reg(rm) << 16) | (lsb << 10) | (reg(rn) << 5) | reg(rd));
    }

    /// Shift or rotate by an immediate `n` (taken modulo the width), via `ubfm`/`sbfm`/`extr`.
    #[inline]
    pub fn shift_ri(&mut self, op: Shift, w: bool, rd: u8, rn: u8, n: u32) {
        let bits = if w { 64 } else { 32 };
        let n = n % bits;
        match op {
            Shift::Lsl => self.ubfm(w, rd, rn, (bits - n) % bits, bits - 1 - n),
            Shift::Lsr => self.ubfm(w, rd, rn, n, bits - 1),
            Shift::Asr => self.sbfm(w, rd, rn, n, bits - 1),
            Shift::Ror => self.extr(w, rd, rn, rn, n),
        }
    }

    /// `clz rd, rn`.
    #[inline]
    pub fn clz(&mut self, w: bool, rd: u8, rn: u8) {
        self.emit(sf(w) | 0x5AC0_1000 | (reg(rn) << 5) | reg(rd));
    }

    /// `rbit rd, rn`.
    #[inline]
    pub fn rbit(&mut self, w: bool, rd: u8, rn: u8) {
        self.emit(sf(w) | 0x5AC0_0000 | (reg(rn) << 5) | reg(rd));
    }

    /// `csel rd, rn, rm, cond`: `rd = cond ? rn : rm`.
    #[inline]
    pub fn csel(&mut self, w: bool, rd: u8, rn: u8, rm: u8, cond: Cond) {
        self.emit(sf(w) | 0x1A80_0000 | (reg(rm) << 16) | ((cond as u32) << 12) | (reg(rn) << 5) | reg(rd));
    }

    /// `cset rd, cond` (`csinc rd, zr, zr, !cond`): 1 when `cond` holds, else 0.
    #[inline]
    pub fn cset(&mut self, w: bool, rd: u8, cond: Cond) {
        let inv = cond.invert() as u32;
        self.emit(sf(w) | 0x1A80_0400 | (31 << 16) | (inv << 12) | (31 << 5) | reg(rd));
    }

    // ----- loads and stores -----

    /// `op rt, [rn, #off]` with the scaled unsigned 12-bit offset form (`rn` 31 = `sp`);
    /// `off` must be a multiple of the access size below `4096 * size`.
    #[inline]
    pub fn ldst_uimm(&mut self, op: Ldst, rt: u8, rn: u8, off: u32) {
        let scaled = off / op.bytes();
        debug_assert!(off % op.bytes() == 0 && scaled < 4096);
        self.emit(op.base() | (scaled << 10) | (reg(rn) << 5) | reg(rt));
    }

    /// `op rt, [rn, #off]` with the unscaled signed 9-bit offset form (`ldur`/`stur`
    /// family); `-256 <= off < 256`.
    #[inline]
    pub fn ldst_simm9(&mut self, op: Ldst, rt: u8, rn: u8, off: i32) {
        debug_assert!((-256..256).contains(&off));
        let word = (op.base() & !(1 << 24)) | (((off as u32) & 0x1ff) << 12) | (reg(rn) << 5) | reg(rt);
        self.emit(word);
    }

    /// `op rt, [rn, rm]` (register offset, `lsl #0`; `rn` 31 = `sp`).
    #[inline]
    pub fn ldst_reg(&mut self, op: Ldst, rt: u8, rn: u8, rm: u8) {
        let word = (op.base() & !(1 << 24)) | (1 << 21) | (0b011 << 13) | (0b10 << 10);
        self.emit(word | (reg(rm) << 16) | (reg(rn) << 5) | reg(rt));
    }

    /// `ldrsw rt, [rn, wm, uxtw #2]` (jump-table entries).
    #[inline]
    pub fn ldrsw_uxtw2(&mut self, rt: u8, rn: u8, rm: u8) {
        let word = (Ldst::Ldrsw.base() & !(1 << 24)) | (1 << 21) | (0b010 << 13) | (1 << 12) | (0b10 << 10);
        self.emit(word | (reg(rm) << 16) | (reg(rn) << 5) | reg(rt));
    }

    /// Whether `[base, #off]` is directly encodable for `op`.
    #[inline]
    pub fn ldst_fits(op: Ldst, off: i64) -> bool {
        let size = i64::from(op.bytes());
        (off >= 0 && off % size == 0 && off / size < 4096) || (-256..256).contains(&off)
    }

    /// `op rt, [rn, #off]` in whichever immediate form fits; `false` (nothing emitted)
    /// when none does.
    #[inline]
    pub fn try_ldst(&mut self, op: Ldst, rt: u8, rn: u8, off: i64) -> bool {
        let size = i64::from(op.bytes());
        if off >= 0 && off % size == 0 && off / size < 4096 {
            self.ldst_uimm(op, rt, rn, off as u32);
            true
        } else if (-256..256).contains(&off) {
            self.ldst_simm9(op, rt, rn, off as i32);
            true
        } else {
            false
        }
    }

    /// `stp rt, rt2, [rn, #-16]!` (push a pair; `rn` 31 = `sp`).
    #[inline]
    pub fn stp_pre16(&mut self, rt: u8, rt2: u8, rn: u8) {
        let imm7 = ((-16i32 / 8) as u32) & 0x7f;
        self.emit(0xA980_0000 | (imm7 << 15) | (reg(rt2) << 10) | (reg(rn) << 5) | reg(rt));
    }

    /// `ldp rt, rt2, [rn], #16` (pop a pair).
    #[inline]
    pub fn ldp_post16(&mut self, rt: u8, rt2: u8, rn: u8) {
        let imm7 = 2u32;
        self.emit(0xA8C0_0000 | (imm7 << 15) | (reg(rt2) << 10) | (reg(rn) << 5) | reg(rt));
    }

    /// `str xt, [xn], #8` (store and advance).
    #[inline]
    pub fn str_post8(&mut self, rt: u8, rn: u8) {
        self.emit(0xF800_0400 | (8 << 12) | (reg(rn) << 5) | reg(rt));
    }

    // ----- branches -----

    /// `b` with a zero offset; returns its position for patching.
    #[inline]
    pub fn b(&mut self) -> usize {
        let at = self.pos();
        self.emit(0x1400_0000);
        at
    }

    /// `bl` with a zero offset; returns its position for patching.
    #[inline]
    pub fn bl(&mut self) -> usize {
        let at = self.pos();
        self.emit(0x9400_0000);
        at
    }

    /// `b.cond` with a zero offset; returns its position for patching.
    #[inline]
    pub fn b_cond(&mut self, cond: Cond) -> usize {
        let at = self.pos();
        self.emit(0x5400_0000 | cond as u32);
        at
    }

    /// `cbz`/`cbnz rt` with a zero offset; returns its position for patching.
    #[inline]
    pub fn cbz(&mut self, nonzero: bool, w: bool, rt: u8) -> usize {
        let at = self.pos();
        let op = if nonzero { 0x3500_0000 } else { 0x3400_0000 };
        self.emit(sf(w) | op | reg(rt));
        at
    }

    /// `br rn`.
    #[inline]
    pub fn br(&mut self, rn: u8) {
        self.emit(0xD61F_0000 | (reg(rn) << 5));
    }

    /// `blr rn`.
    #[inline]
    pub fn blr(&mut self, rn: u8) {
        self.emit(0xD63F_0000 | (reg(rn) << 5));
    }

    /// `ret` (to `x30`).
    #[inline]
    pub fn ret(&mut self) {
        self.emit(0xD65F_03C0);
    }

    /// `adr rd, #rel` (`-1 MiB <= rel < 1 MiB`, relative to this instruction).
    #[inline]
    pub fn adr(&mut self, rd: u8, rel: i32) {
        let v = rel as u32;
        self.emit(0x1000_0000 | ((v & 3) << 29) | (((v >> 2) & 0x7ffff) << 5) | reg(rd));
    }

    /// Sets the offset of the `adr` at `at` to reach `target` (within 1 MiB).
    #[inline]
    pub fn patch_adr(&mut self, at: usize, target: usize) {
        let rd = (self.word_at(at) & 31) as u8;
        let v = (target as i64 - at as i64) as u32;
        self.patch(at, 0x1000_0000 | ((v & 3) << 29) | (((v >> 2) & 0x7ffff) << 5) | u32::from(rd));
    }

    /// `brk #0`.
    #[inline]
    pub fn brk(&mut self) {
        self.emit(0xD420_0000);
    }

    /// Sets the 26-bit word offset of the `b`/`bl` at `at` to reach `target`; false when
    /// out of range (128 MiB either way).
    #[inline]
    pub fn patch_imm26(&mut self, at: usize, target: usize) -> bool {
        let rel = (target as i64 - at as i64) / 4;
        if !(-(1 << 25)..(1 << 25)).contains(&rel) {
            return false;
        }
        let w = (self.word_at(at) & 0xFC00_0000) | (rel as u32 & 0x03ff_ffff);
        self.patch(at, w);
        true
    }

    /// Sets the 19-bit word offset of the `b.cond`/`cbz`/`cbnz` at `at` to reach `target`;
    /// false when out of range (1 MiB either way).
    #[inline]
    pub fn patch_imm19(&mut self, at: usize, target: usize) -> bool {
        let rel = (target as i64 - at as i64) / 4;
        if !imm19_fits(rel * 4) {
            return false;
        }
        let w = (self.word_at(at) & 0xFF00_001F) | ((rel as u32 & 0x7ffff) << 5);
        self.patch(at, w);
        true
    }

    // ----- floating point -----

    /// `fmov dN/sN, xM/wM` (general to FP register, bits unchanged).
    #[inline]
    pub fn fmov_to_fp(&mut self, w: bool, vd: u8, rn: u8) {
        let op = if w { 0x9E67_0000 } else { 0x1E27_0000 };
        self.emit(op | (reg(rn) << 5) | reg(vd));
    }

    /// `fmov dD, dN` (FP register to FP register, double).
    #[inline]
    pub fn fmov_dd(&mut self, vd: u8, vn: u8) {
        self.emit(0x1E60_4000 | (reg(vn) << 5) | reg(vd));
    }

    /// `fmov xN/wN, dM/sM` (FP to general register; `wN` zero-extends).
    #[inline]
    pub fn fmov_from_fp(&mut self, w: bool, rd: u8, vn: u8) {
        let op = if w { 0x9E66_0000 } else { 0x1E26_0000 };
        self.emit(op | (reg(vn) << 5) | reg(rd));
    }

    /// `fadd/fsub/fmul/fdiv vd, vn, vm` (double when `w`, else single).
    #[inline]
    pub fn fp_bin(&mut self, op: FpBin, w: bool, vd: u8, vn: u8, vm: u8) {
        let opc = match op {
            FpBin::Mul => 0x0800,
            FpBin::Div => 0x1800,
            FpBin::Add => 0x2800,
            FpBin::Sub => 0x3800,
        };
        let ty = if w { 1 << 22 } else { 0 };
        self.emit(0x1E20_0000 | ty | opc | (reg(vm) << 16) | (reg(vn) << 5) | reg(vd));
    }

    /// `fsqrt`/`frint* vd, vn`.
    #[inline]
    pub fn fp_un(&mut self, op: FpUn, w: bool, vd: u8, vn: u8) {
        let opc = match op {
            FpUn::Sqrt => 0x0001_C000,
            FpUn::Frintn => 0x0004_4000,
            FpUn::Frintp => 0x0004_C000,
            FpUn::Frintm => 0x0005_4000,
            FpUn::Frintz => 0x0005_C000,
        };
        let ty = if w { 1 << 22 } else { 0 };
        self.emit(0x1E20_0000 | ty | opc | (reg(vn) << 5) | reg(vd));
    }

    /// `fcvt dD, sN` (`to_double`) or `fcvt sD, dN`.
    #[inline]
    pub fn fcvt(&mut self, to_double: bool, vd: u8, vn: u8) {
        let op = if to_double { 0x1E22_C000 } else { 0x1E62_4000 };
        self.emit(op | (reg(vn) << 5) | reg(vd));
    }

    /// `scvtf vd, rn`: signed integer (`from64`: x, else w) to double (`to_double`) or single.
    #[inline]
    pub fn scvtf(&mut self, to_double: bool, from64: bool, vd: u8, rn: u8) {
        let ty = if to_double { 1 << 22 } else { 0 };
        self.emit(sf(from64) | 0x1E22_0000 | ty | (reg(rn) << 5) | reg(vd));
    }

    /// `ucvtf vd, rn`: unsigned integer (`from64`: x, else w) to double (`to_double`) or
    /// single.
    #[inline]
    pub fn ucvtf(&mut self, to_double: bool, from64: bool, vd: u8, rn: u8) {
        let ty = if to_double { 1 << 22 } else { 0 };
        self.emit(sf(from64) | 0x1E23_0000 | ty | (reg(rn) << 5) | reg(vd));
    }

    /// `fcmp vn, vm`. Unordered operands set `C` and `V`.
    #[inline]
    pub fn fcmp(&mut self, w: bool, vn: u8, vm: u8) {
        let ty = if w { 1 << 22 } else { 0 };
        self.emit(0x1E20_2000 | ty | (reg(vm) << 16) | (reg(vn) << 5));
    }

    /// `cnt vd.8b, vn.8b` (population count of each byte).
    #[inline]
    pub fn cnt8b(&mut self, vd: u8, vn: u8) {
        self.emit(0x0E20_5800 | (reg(vn) << 5) | reg(vd));
    }

    /// `addv bd, vn.8b` (sum of the 8 bytes; the rest of `vd` is zeroed).
    #[inline]
    pub fn addv8b(&mut self, vd: u8, vn: u8) {
        self.emit(0x0E31_B800 | (reg(vn) << 5) | reg(vd));
    }

    /// `nop`.
    #[inline]
    pub fn nop(&mut self) {
        self.emit(0xD503_201F);
    }
}

/// Whether a byte offset fits a 19-bit word offset (`b.cond`, `cbz`, `adr`-range).
pub fn imm19_fits(rel_bytes: i64) -> bool {
    (-(1 << 20)..(1 << 20)).contains(&rel_bytes)
}
