//! The gas cost table: operator classes to gas, operand-dependent costs, host-call costs.
//!
//! The table is loaded from TOML (the shipped default is `specs/gas-schedule.toml`, compiled
//! into the crate), carries a `version`, and has a content hash ([`CostTable::hash`]) that
//! compiled artifacts and block headers record, so that two nodes can tell whether they
//! charge the same gas. The rules for where charges happen are in `specs/gas.md`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use wasmparser::Operator;

use crate::error::CostTableError;

/// The default cost table, `specs/gas-schedule.toml`, as shipped with this crate.
pub const DEFAULT_GAS_SCHEDULE_TOML: &str = include_str!("../../specs/gas-schedule.toml");

/// Largest per-unit cost a table may hold for an operand-dependent charge (gas per byte,
/// element or page). It keeps `operand (< 2^32) * unit` below 2^64, so a dynamic charge can
/// never overflow `u64` on any consumer (`specs/gas.md`, "Operand-dependent charges").
pub const MAX_UNIT_COST: u64 = u32::MAX as u64;

/// Largest cost one operator class may have (gas). It keeps a basic block's summed cost far
/// from `u64` overflow whatever the block's length (a block has fewer than 2^32 operators).
pub const MAX_OPERATOR_COST: u64 = u32::MAX as u64;

/// The class an operator is priced by. Every operator the deterministic profile allows
/// belongs to exactly one class (see [`OpClass::of`]); the table gives each class a gas cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum OpClass {
    /// `nop`, `block`, `loop`, `else`, `end`: structure only, no work at run time.
    Structure,
    /// `br`, `br_if`, `br_table`, `if`, `return`, `unreachable`.
    Branch,
    /// `call` to a function (defined or imported; host calls add their own cost).
    Call,
    /// `call_indirect`: a table read and a signature check on top of a call.
    CallIndirect,
    /// `i32.const`, `i64.const`, `f32.const`, `f64.const`, `ref.null`, `ref.func`.
    Const,
    /// `local.get`, `local.set`, `local.tee`.
    Local,
    /// `global.get`, `global.set`.
    Global,
    /// `drop`, `select` (typed or not), `ref.is_null`.
    Parametric,
    /// Integer arithmetic and logic except multiply and divide: add, sub, and, or, xor, shifts,
    /// rotates, comparisons, eqz, clz, ctz, popcnt, sign extension, wrap and extend.
    IntAlu,
    /// `i32.mul`, `i64.mul`.
    IntMul,
    /// Integer divide and remainder, signed and unsigned.
    IntDiv,
    /// Float bit operations and comparisons: abs, neg, copysign, eq, ne, lt, gt, le, ge.
    FloatSimple,
    /// Float add, sub, mul, min, max, ceil, floor, trunc, nearest.
    FloatArith,
    /// Float div and sqrt.
    FloatDiv,
    /// Conversions between number types: truncations (trapping and saturating), converts,
    /// demote, promote, reinterpret.
    Conversion,
    /// Memory loads of every width.
    Load,
    /// Memory stores of every width.
    Store,
    /// `memory.size`.
    MemorySize,
    /// `memory.grow` (base; plus the per-page operand cost).
    MemoryGrow,
    /// `memory.copy`, `memory.fill`, `memory.init` (base; plus the per-byte operand cost).
    BulkMemory,
    /// `data.drop`, `elem.drop`.
    SegmentDrop,
    /// `table.get`, `table.set`, `table.size`.
    TableAccess,
    /// `table.grow`, `table.fill`, `table.copy`, `table.init` (base; plus the per-element
    /// operand cost).
    TableBulk,
}

impl OpClass {
    /// Every class, in the fixed order used by the content hash.
    pub const ALL: [OpClass; 23] = [
        OpClass::Structure,
        OpClass::Branch,
        OpClass::Call,
        OpClass::CallIndirect,
        OpClass::Const,
        OpClass::Local,
        OpClass::Global,
        OpClass::Parametric,
        OpClass::IntAlu,
        OpClass::IntMul,
        OpClass::IntDiv,
        OpClass::FloatSimple,
        OpClass::FloatArith,
        OpClass::FloatDiv,
        OpClass::Conversion,
        OpClass::Load,
        OpClass::Store,
        OpClass::MemorySize,
        OpClass::MemoryGrow,
        OpClass::BulkMemory,
        OpClass::SegmentDrop,
        OpClass::TableAccess,
        OpClass::TableBulk,
    ];

    /// The class's key in `[operators]` of the gas schedule TOML.
    pub fn name(self) -> &'static str {
        match self {
            OpClass::Structure => "structure",
            OpClass::Branch => "branch",
            OpClass::Call => "call",
            OpClass::CallIndirect => "call_indirect",
            OpClass::Const => "const",
            OpClass::Local => "local",
            OpClass::Global => "global",
            OpClass::Parametric => "parametric",
            OpClass::IntAlu => "int_alu",
            OpClass::IntMul => "int_mul",
            OpClass::IntDiv => "int_div",
            OpClass::FloatSimple => "float_simple",
            OpClass::FloatArith => "float_arith",
            OpClass::FloatDiv => "float_div",
            OpClass::Conversion => "conversion",
            OpClass::Load => "load",
            OpClass::Store => "store",
            OpClass::MemorySize => "memory_size",
            OpClass::MemoryGrow => "memory_grow",
            OpClass::BulkMemory => "bulk_memory",
            OpClass::SegmentDrop => "segment_drop",
            OpClass::TableAccess => "table_access",
            OpClass::TableBulk => "table_bulk",
        }
    }

    /// The class of `op`, or `None` for an operator outside the deterministic profile
    /// (SIMD, atomics, exceptions, tail calls, GC, ...), which validation rejects first.
    /// Always inlined: the analysis calls it where the operator is known, and it folds to
    /// a constant there.
    #[inline(always)]
    pub fn of(op: &Operator<'_>) -> Option<OpClass> {
        use Operator as O;
        Some(match op {
            O::Nop | O::Block { .. } | O::Loop { .. } | O::Else | O::End => OpClass::Structure,
            O::Unreachable
            | O::If { .. }
            | O::Br { .. }
            | O::BrIf { .. }
            | O::BrTable { .. }
            | O::Return => OpClass::Branch,
            O::Call { .. } => OpClass::Call,
            O::CallIndirect { .. } => OpClass::CallIndirect,
            O::I32Const { .. }
            | O::I64Const { .. }
            | O::F32Const { .. }
            | O::F64Const { .. }
            | O::RefNull { .. }
            | O::RefFunc { .. } => OpClass::Const,
            O::LocalGet { .. } | O::LocalSet { .. } | O::LocalTee { .. } => OpClass::Local,
            O::GlobalGet { .. } | O::GlobalSet { .. } => OpClass::Global,
            O::Drop | O::Select | O::TypedSelect { .. } | O::RefIsNull => OpClass::Parametric,

            O::I32Eqz | O::I32Eq | O::I32Ne | O::I32LtS | O::I32LtU | O::I32GtS | O::I32GtU
            | O::I32LeS | O::I32LeU | O::I32GeS | O::I32GeU | O::I64Eqz | O::I64Eq
            | O::I64Ne | O::I64LtS | O::I64LtU | O::I64GtS | O::I64GtU | O::I64LeS
            | O::I64LeU | O::I64GeS | O::I64GeU | O::I32Clz | O::I32Ctz | O::I32Popcnt
            | O::I32Add | O::I32Sub | O::I32And | O::I32Or | O::I32Xor | O::I32Shl
            | O::I32ShrS | O::I32ShrU | O::I32Rotl | O::I32Rotr | O::I64Clz | O::I64Ctz
            | O::I64Popcnt | O::I64Add | O::I64Sub | O::I64And | O::I64Or | O::I64Xor
            | O::I64Shl | O::I64ShrS | O::I64ShrU | O::I64Rotl | O::I64Rotr
            | O::I32WrapI64 | O::I64ExtendI32S | O::I64ExtendI32U | O::I32Extend8S
            | O::I32Extend16S | O::I64Extend8S | O::I64Extend16S | O::I64Extend32S => {
                OpClass::IntAlu
            }
            O::I32Mul | O::I64Mul => OpClass::IntMul,
            O::I32DivS | O::I32DivU | O::I32RemS | O::I32RemU | O::I64DivS | O::I64DivU
            | O::I64RemS | O::I64RemU => OpClass::IntDiv,

            O::F32Abs | O::F32Neg | O::F32Copysign | O::F64Abs | O::F64Neg | O::F64Copysign
            | O::F32Eq | O::F32Ne | O::F32Lt | O::F32Gt | O::F32Le | O::F32Ge | O::F64Eq
            | O::F64Ne | O::F64Lt | O::F64Gt | O::F64Le | O::F64Ge => OpClass::FloatSimple,
            O::F32Add | O::F32Sub | O::F32Mul | O::F32Min | O::F32Max | O::F32Ceil
            | O::F32Floor | O::F32Trunc | O::F32Nearest | O::F64Add | O::F64Sub | O::F64Mul
            | O::F64Min | O::F64Max | O::F64Ceil | O::F64Floor | O::F64Trunc
            | O::F64Nearest => OpClass::FloatArith,
            O::F32Div | O::F32Sqrt | O::F64Div | O::F64Sqrt => OpClass::FloatDiv,

            O::I32TruncF32S | O::I32TruncF32U | O::I32TruncF64S | O::I32TruncF64U
            | O::I64TruncF32S | O::I64TruncF32U | O::I64TruncF64S | O::I64TruncF64U
            | O::I32TruncSatF32S | O::I32TruncSatF32U | O::I32TruncSatF64S
            | O::I32TruncSatF64U | O::I64TruncSatF32S | O::I64TruncSatF32U
            | O::I64TruncSatF64S | O::I64TruncSatF64U | O::F32ConvertI32S
            | O::F32ConvertI32U | O::F32ConvertI64S | O::F32ConvertI64U | O::F32DemoteF64
            | O::F64ConvertI32S | O::F64ConvertI32U | O::F64ConvertI64S | O::F64ConvertI64U
            | O::F64PromoteF32 | O::I32ReinterpretF32 | O::I64ReinterpretF64
            | O::F32ReinterpretI32 | O::F64ReinterpretI64 => OpClass::Conversion,

            O::I32Load { .. } | O::I64Load { .. } | O::F32Load { .. } | O::F64Load { .. }
            | O::I32Load8S { .. } | O::I32Load8U { .. } | O::I32Load16S { .. }
            | O::I32Load16U { .. } | O::I64Load8S { .. } | O::I64Load8U { .. }
            | O::I64Load16S { .. } | O::I64Load16U { .. } | O::I64Load32S { .. }
            | O::I64Load32U { .. } => OpClass::Load,
            O::I32Store { .. } | O::I64Store { .. } | O::F32Store { .. } | O::F64Store { .. }
            | O::I32Store8 { .. } | O::I32Store16 { .. } | O::I64Store8 { .. }
            | O::I64Store16 { .. } | O::I64Store32 { .. } => OpClass::Store,
            O::MemorySize { .. } => OpClass::MemorySize,
            O::MemoryGrow { .. } => OpClass::MemoryGrow,
            O::MemoryCopy { .. } | O::MemoryFill { .. } | O::MemoryInit { .. } => {
                OpClass::BulkMemory
            }
            O::DataDrop { .. } | O::ElemDrop { .. } => OpClass::SegmentDrop,
            O::TableGet { .. } | O::TableSet { .. } | O::TableSize { .. } => {
                OpClass::TableAccess
            }
            O::TableGrow { .. } | O::TableFill { .. } | O::TableCopy { .. } | O::TableInit { .. } => {
                OpClass::TableBulk
            }
            _ => return None,
        })
    }
}

/// Which operand-dependent charge an operator carries, if any. The operand is always the
/// `i32` on top of the value stack when the operator is reached (the page delta of
/// `memory.grow`, the byte count of `memory.copy/fill/init`, the element count of
/// `table.grow/fill/copy/init`), read as an unsigned 32-bit number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DynamicKind {
    /// `memory.grow`: per 64 KiB page requested.
    MemoryPages,
    /// `memory.copy`, `memory.fill`, `memory.init`: per byte.
    MemoryBytes,
    /// `table.grow`, `table.fill`, `table.copy`, `table.init`: per element.
    TableElements,
}

impl DynamicKind {
    /// The operand-dependent charge of `op`, if it has one.
    pub fn of(op: &Operator<'_>) -> Option<DynamicKind> {
        use Operator as O;
        match op {
            O::MemoryGrow { .. } => Some(DynamicKind::MemoryPages),
            O::MemoryCopy { .. } | O::MemoryFill { .. } | O::MemoryInit { .. } => {
                Some(DynamicKind::MemoryBytes)
            }
            O::TableGrow { .. } | O::TableFill { .. } | O::TableCopy { .. } | O::TableInit { .. } => {
                Some(DynamicKind::TableElements)
            }
            _ => None,
        }
    }
}

/// Gas per unit of an operand-dependent charge (`[dynamic]` in the TOML).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DynamicCosts {
    /// Gas per 64 KiB page requested by `memory.grow`.
    pub memory_grow_per_page: u64,
    /// Gas per byte of `memory.copy`, `memory.fill` and `memory.init`.
    pub memory_per_byte: u64,
    /// Gas per element of `table.grow`, `table.fill`, `table.copy` and `table.init`.
    pub table_per_element: u64,
}

/// The cost of one host function: `base + per_byte * bytes`, where `bytes` counts the bytes
/// the call reads from or writes to guest memory or storage (`specs/abi.md` says which).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostCost {
    /// Gas charged on every call, before any work.
    pub base: u64,
    /// Gas per byte read or written.
    pub per_byte: u64,
}

impl HostCost {
    /// `base + per_byte * bytes`, saturating at `u64::MAX` (which no gas limit can pay).
    pub fn cost(&self, bytes: u64) -> u64 {
        self.base.saturating_add(self.per_byte.saturating_mul(bytes))
    }
}

/// The whole gas schedule: a cost per operator class, the operand-dependent unit costs and
/// the host-function costs. See `specs/gas.md` for the charging rules and
/// `specs/gas-schedule.toml` for the shipped default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CostTable {
    version: u32,
    class_costs: [u64; OpClass::ALL.len()],
    dynamic: DynamicCosts,
    host: BTreeMap<String, HostCost>,
    hash: [u8; 32],
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct CostTableToml {
    version: u32,
    operators: BTreeMap<String, u64>,
    dynamic: DynamicCosts,
    #[serde(default)]
    host: BTreeMap<String, HostCost>,
}

impl Default for CostTable {
    /// The shipped schedule, `specs/gas-schedule.toml`, parsed once per process.
    fn default() -> Self {
        static DEFAULT: std::sync::OnceLock<CostTable> = std::sync::OnceLock::new();
        DEFAULT
            .get_or_init(|| {
                // The shipped file is checked by the crate's tests; it cannot fail to parse.
                CostTable::from_toml(DEFAULT_GAS_SCHEDULE_TOML)
                    .unwrap_or_else(|e| panic!("the shipped specs/gas-schedule.toml is invalid: {e}"))
            })
            .clone()
    }
}

impl CostTable {
    /// Parses a gas schedule in the TOML form of `specs/gas-schedule.toml`.
    ///
    /// Errors: malformed TOML or unknown keys ([`CostTableError::Toml`]), an operator class
    /// missing or unknown ([`CostTableError::MissingClass`], [`CostTableError::UnknownClass`]),
    /// or a cost above [`MAX_OPERATOR_COST`] / [`MAX_UNIT_COST`]
    /// ([`CostTableError::CostTooLarge`]).
    pub fn from_toml(text: &str) -> Result<CostTable, CostTableError> {
        let raw: CostTableToml =
            toml::from_str(text).map_err(|e| CostTableError::Toml(e.to_string()))?;
        let mut class_costs = [0u64; OpClass::ALL.len()];
        for (i, class) in OpClass::ALL.iter().enumerate() {
            let cost = *raw
                .operators
                .get(class.name())
                .ok_or(CostTableError::MissingClass(class.name()))?;
            if cost > MAX_OPERATOR_COST {
                return Err(CostTableError::CostTooLarge {
                    key: class.name().to_string(),
                    value: cost,
                    max: MAX_OPERATOR_COST,
                });
            }
            class_costs[i] = cost;
        }
        if let Some(unknown) =
            raw.operators.keys().find(|k| !OpClass::ALL.iter().any(|c| c.name() == k.as_str()))
        {
            return Err(CostTableError::UnknownClass(unknown.clone()));
        }
        for (key, value) in [
            ("dynamic.memory_grow_per_page", raw.dynamic.memory_grow_per_page),
            ("dynamic.memory_per_byte", raw.dynamic.memory_per_byte),
            ("dynamic.table_per_element", raw.dynamic.table_per_element),
        ] {
            if value > MAX_UNIT_COST {
                return Err(CostTableError::CostTooLarge {
                    key: key.to_string(),
                    value,
                    max: MAX_UNIT_COST,
                });
            }
        }
        let mut table = CostTable {
            version: raw.version,
            class_costs,
            dynamic: raw.dynamic,
            host: raw.host,
            hash: [0; 32],
        };
        table.hash = table.compute_hash();
        Ok(table)
    }

    /// Writes the table back as TOML (the form [`CostTable::from_toml`] reads).
    pub fn to_toml(&self) -> String {
        let raw = CostTableToml {
            version: self.version,
            operators: OpClass::ALL
                .iter()
                .map(|c| (c.name().to_string(), self.class_cost(*c)))
                .collect(),
            dynamic: self.dynamic,
            host: self.host.clone(),
        };
        // Serializing plain maps and integers cannot fail.
        toml::to_string(&raw).unwrap_or_default()
    }

    /// The schedule's version number, as written in the TOML.
    pub fn version(&self) -> u32 {
        self.version
    }

    /// blake3 of the table's canonical encoding (see `specs/gas.md`, "Content hash"):
    /// equal hashes mean equal charges. Artifacts and block headers record it.
    pub fn hash(&self) -> [u8; 32] {
        self.hash
    }

    /// Gas of one operator of `class`.
    #[inline]
    pub fn class_cost(&self, class: OpClass) -> u64 {
        // `ALL` lists the variants in declaration order, so the discriminant is the index.
        self.class_costs[class as usize]
    }

    /// Replaces the gas of `class` (for calibration and tests); the hash is recomputed.
    pub fn set_class_cost(&mut self, class: OpClass, gas: u64) -> Result<(), CostTableError> {
        if gas > MAX_OPERATOR_COST {
            return Err(CostTableError::CostTooLarge {
                key: class.name().to_string(),
                value: gas,
                max: MAX_OPERATOR_COST,
            });
        }
        self.class_costs[class as usize] = gas;
        self.hash = self.compute_hash();
        Ok(())
    }

    /// Gas of `op` itself (its class cost), or `None` if `op` is outside the profile.
    pub fn operator_cost(&self, op: &Operator<'_>) -> Option<u64> {
        OpClass::of(op).map(|c| self.class_cost(c))
    }

    /// The operand-dependent unit costs.
    pub fn dynamic(&self) -> &DynamicCosts {
        &self.dynamic
    }

    /// Gas per unit (page, byte or element) for an operand-dependent charge.
    pub fn unit_cost(&self, kind: DynamicKind) -> u64 {
        match kind {
            DynamicKind::MemoryPages => self.dynamic.memory_grow_per_page,
            DynamicKind::MemoryBytes => self.dynamic.memory_per_byte,
            DynamicKind::TableElements => self.dynamic.table_per_element,
        }
    }

    /// The cost of host function `name` (of module "env"), if the table prices it.
    pub fn host(&self, name: &str) -> Option<HostCost> {
        self.host.get(name).copied()
    }

    /// All host-function costs, by name.
    pub fn host_costs(&self) -> &BTreeMap<String, HostCost> {
        &self.host
    }

    /// Sets (or adds) the cost of host function `name`; the hash is recomputed.
    pub fn set_host_cost(&mut self, name: &str, cost: HostCost) {
        self.host.insert(name.to_string(), cost);
        self.hash = self.compute_hash();
    }

    fn compute_hash(&self) -> [u8; 32] {
        let mut h = blake3::Hasher::new();
        h.update(b"keel-cost-table/v1");
        h.update(&self.version.to_le_bytes());
        for c in OpClass::ALL {
            h.update(&(c.name().len() as u32).to_le_bytes());
            h.update(c.name().as_bytes());
            h.update(&self.class_cost(c).to_le_bytes());
        }
        h.update(&self.dynamic.memory_grow_per_page.to_le_bytes());
        h.update(&self.dynamic.memory_per_byte.to_le_bytes());
        h.update(&self.dynamic.table_per_element.to_le_bytes());
        h.update(&(self.host.len() as u32).to_le_bytes());
        for (name, cost) in &self.host {
            h.update(&(name.len() as u32).to_le_bytes());
            h.update(name.as_bytes());
            h.update(&cost.base.to_le_bytes());
            h.update(&cost.per_byte.to_le_bytes());
        }
        *h.finalize().as_bytes()
    }
}
