//! The arch-neutral frame layout: which slot holds which value.
//!
//! A function's frame is a row of 8-byte slots: its parameters first, then its declared
//! locals, then one slot per operand-stack height up to the analysis's maximum height (plus
//! spare slots). Where the row lives in native memory is the ISA's business
//! ([`crate::masm::MacroAssembler::func_prologue`]).

/// Slot assignment of one function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameLayout {
    /// Parameters.
    pub params: u32,
    /// Declared locals (parameters excluded).
    pub locals: u32,
    /// Highest operand-stack height.
    pub max_stack: u32,
}

/// Extra slots beyond the maximum operand-stack height (never needed by a validated
/// function; a margin that costs 16 bytes of native stack).
pub const SPARE_SLOTS: u64 = 2;

impl FrameLayout {
    /// Slot of local `i` (parameters are locals `0..params`).
    pub fn local_slot(&self, i: u32) -> u32 {
        i
    }
    /// Slot of operand-stack height 0.
    pub fn stack_base(&self) -> u32 {
        self.params + self.locals
    }
    /// Total slots of the frame.
    pub fn slots(&self) -> u64 {
        u64::from(self.params) + u64::from(self.locals) + u64::from(self.max_stack) + SPARE_SLOTS
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_orders_params_locals_stack() {
        let f = FrameLayout { params: 2, locals: 3, max_stack: 4 };
        assert_eq!(f.local_slot(4), 4);
        assert_eq!(f.stack_base(), 5);
        assert_eq!(f.slots(), 11);
    }
}
