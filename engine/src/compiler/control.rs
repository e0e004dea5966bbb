//! Control frames: one per open `block`, `loop`, `if` and the function body itself.

use crate::masm::Label;

/// Kind of a control frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameKind {
    /// The function body; its label is the shared return path.
    Function,
    /// `block`.
    Block,
    /// `loop`; its label is the loop header.
    Loop {
        /// The exit test the loop starts with, repeated at its back edges (loop
        /// inversion), if it has one: its index in the code generator's list of them
        /// (kept apart so that frames stay small: they are copied often).
        test: Option<u32>,
    },
    /// `if`, with the label of its `else` arm while that arm is not yet emitted.
    If {
        /// Where the condition-false path goes; `None` once `else` was seen.
        else_label: Option<Label>,
    },
}

/// A loop that starts with an exit test: up to [`MAX_EXIT_TEST_OPS`] operators without
/// side effects that compute one i32 (locals, constants, integer arithmetic and
/// comparisons), then a `br_if` out of the loop that carries no values. As an optimizing
/// compiler inverts such a loop, a `br` back to it compiles the test again in place of
/// the jump: a branch on the negated condition to the loop's body, falling through to
/// the exit. An iteration then takes one branch instead of two (the jump back and the
/// test's). Gas is charged exactly as on the way through the loop's header (the test's
/// block charge, then the body's).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExitTest {
    /// Operator index of the test's first operator (the one right after `loop`).
    pub at: u32,
    /// Where the test's operators are kept (a range of the code generator's buffer).
    pub first: u32,
    /// How many operators the test has before its `br_if`.
    pub len: u32,
    /// The `br_if`'s relative depth, from inside the loop (at least 1).
    pub depth: u32,
    /// Bound right after the `br_if`: where a repeated test continues into the body.
    pub body: Label,
}

/// Operators an [`ExitTest`] may have before its `br_if`.
pub const MAX_EXIT_TEST_OPS: usize = 6;

/// An open control frame.
#[derive(Debug, Clone, Copy)]
pub struct ControlFrame {
    /// Kind.
    pub kind: FrameKind,
    /// Branch target: the end (block, if, function) or the header (loop).
    pub label: Label,
    /// Operand-stack height below the frame's parameters.
    pub height: usize,
    /// Parameter count.
    pub params: u32,
    /// Result count.
    pub results: u32,
    /// Index in the control stack of the innermost `loop` frame that is this frame or
    /// encloses it; [`NO_LOOP`] outside every loop.
    pub innermost_loop: u32,
}

/// [`ControlFrame::innermost_loop`] of a frame in no loop.
pub const NO_LOOP: u32 = u32::MAX;

impl ControlFrame {
    /// Values a branch to this frame carries.
    pub fn branch_arity(&self) -> u32 {
        match self.kind {
            FrameKind::Loop { .. } => self.params,
            _ => self.results,
        }
    }
}
