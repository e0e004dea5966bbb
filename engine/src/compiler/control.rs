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
    Loop,
    /// `if`, with the label of its `else` arm while that arm is not yet emitted.
    If {
        /// Where the condition-false path goes; `None` once `else` was seen.
        else_label: Option<Label>,
    },
}

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
}

impl ControlFrame {
    /// Values a branch to this frame carries.
    pub fn branch_arity(&self) -> u32 {
        match self.kind {
            FrameKind::Loop => self.params,
            _ => self.results,
        }
    }
}
