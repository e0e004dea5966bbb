//! Frames: one execution of a contract entry point in a fresh instance and store, with a
//! state checkpoint that is committed when the frame succeeds and reverted when it reverts
//! or traps (`specs/abi.md` §1). Nested `call_contract` frames run through the same
//! [`run_frame`], from inside the caller's host call.

use keel_engine::{Error, Linker, Store, Trap};

use super::{BlockEnv, Runtime};
use crate::chain::{Event, ReceiptStatus, TrapKind};
use crate::state::{Address, Hash32, StateError, WorkingState};

/// Which export a frame runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Entry {
    /// `deploy`: the constructor (Deploy transactions only).
    Deploy,
    /// `call`: Call transactions and `call_contract`.
    Call,
}

impl Entry {
    pub(crate) fn export(self) -> &'static str {
        match self {
            Entry::Deploy => "deploy",
            Entry::Call => "call",
        }
    }
}

/// Why a frame's execution ended early, recorded by the host function that ended it
/// (the engine only sees a `Trap::Host`).
#[derive(Debug)]
pub(crate) enum FrameEnd {
    /// `revert(msg)`.
    Revert(Vec<u8>),
    /// A length or count over a limit of `specs/abi.md` §2.
    HostLimit,
    /// The state database failed (see [`TxExec::fatal`]).
    Fatal,
}

/// The running frame, as its host functions see it.
#[derive(Debug)]
pub(crate) struct Frame {
    pub(crate) address: Address,
    pub(crate) caller: Address,
    pub(crate) input: Vec<u8>,
    pub(crate) return_data: Vec<u8>,
    pub(crate) end: Option<FrameEnd>,
}

/// Everything shared by the frames of one transaction.
pub(crate) struct TxExec<'a, 'db> {
    /// The block's working state (every frame takes a checkpoint in it).
    pub(crate) state: &'a mut WorkingState<'db>,
    /// Block height and timestamp.
    pub(crate) env: BlockEnv,
    /// Events of the frames that have not failed, in emission order.
    pub(crate) events: Vec<Event>,
    /// Addresses of the frames on the call stack, outermost first (its length is the depth).
    pub(crate) stack: Vec<Address>,
    /// A state-database failure: the transaction (and its block) must be abandoned.
    pub(crate) fatal: Option<StateError>,
}

/// The data of each frame's store.
pub(crate) struct Host<'a, 'db> {
    pub(crate) rt: &'a Runtime,
    /// `None` only while a nested frame (which holds it) runs.
    pub(crate) tx: Option<TxExec<'a, 'db>>,
    pub(crate) frame: Frame,
}

/// What to run.
pub(crate) struct FrameSpec {
    pub(crate) code_hash: Hash32,
    pub(crate) address: Address,
    pub(crate) caller: Address,
    /// Moved from `caller` to `address` at the start of the frame, rolled back with it.
    pub(crate) value: u128,
    pub(crate) input: Vec<u8>,
    pub(crate) entry: Entry,
    pub(crate) gas_limit: u64,
}

/// How a frame ended.
#[derive(Debug)]
pub(crate) struct FrameResult {
    /// `Success`, `Revert`, `Trap`, `OutOfGas`, or `InvalidCode` if the code does not
    /// compile with this engine.
    pub(crate) status: ReceiptStatus,
    pub(crate) gas_used: u64,
    /// The last `return_value` (empty unless `Success`).
    pub(crate) return_data: Vec<u8>,
}

impl FrameResult {
    pub(crate) fn failed(status: ReceiptStatus, gas_used: u64) -> FrameResult {
        FrameResult { status, gas_used, return_data: Vec::new() }
    }
}

/// The status of a frame that a host function ended (`revert`, a host limit, a state
/// failure), whatever error the backend reports; `None` if no host function ended it.
pub(crate) fn end_status(end: Option<FrameEnd>) -> Option<ReceiptStatus> {
    match end? {
        FrameEnd::Revert(msg) => Some(ReceiptStatus::Revert(msg)),
        FrameEnd::HostLimit => Some(ReceiptStatus::Trap(TrapKind::HostLimitExceeded)),
        // Fatal: the caller checks `TxExec::fatal` and abandons the transaction.
        FrameEnd::Fatal => Some(ReceiptStatus::Trap(TrapKind::Host)),
    }
}

/// Maps an engine error of a native frame that no host function ended to a receipt status.
fn status_of(error: &Error) -> ReceiptStatus {
    match error.trap() {
        Some(Trap::OutOfGas) => ReceiptStatus::OutOfGas,
        Some(t) => ReceiptStatus::Trap(TrapKind::from_code(t.stable_code()).unwrap_or(TrapKind::Host)),
        // Link or type errors cannot happen for a module that passed the deploy-time
        // shape check; report them as a host trap rather than failing the node.
        None => ReceiptStatus::Trap(TrapKind::Host),
    }
}

/// Ends a frame, whichever backend ran it: takes the transaction context and the return
/// data back from the store's `host`, and maps `outcome` to the frame's result (a status
/// recorded by a host function first, else `status` of the backend's error).
pub(crate) fn close_frame<'a, 'db, E>(
    host: &mut Host<'a, 'db>,
    outcome: Result<(), E>,
    gas_used: u64,
    status: impl FnOnce(&E) -> ReceiptStatus,
) -> (TxExec<'a, 'db>, FrameResult) {
    let frame_end = host.frame.end.take();
    let return_data = std::mem::take(&mut host.frame.return_data);
    let Some(tx) = host.tx.take() else {
        // `call_contract` always puts the context back before returning; unreachable.
        unreachable!("transaction context not returned by a nested frame")
    };
    let result = match outcome {
        Ok(()) => FrameResult { status: ReceiptStatus::Success, gas_used, return_data },
        Err(e) => FrameResult::failed(end_status(frame_end).unwrap_or_else(|| status(&e)), gas_used),
    };
    (tx, result)
}

/// Runs one frame: checkpoint, value transfer, the initial-memory charge, fresh store and
/// instance, the entry export, then commit (success) or revert (anything else). The frame's events are kept in
/// `tx.events` only on success. Returns the transaction context back with the result. A
/// state-database failure sets `tx.fatal` (the state is then reverted to the checkpoint).
pub(crate) fn run_frame<'a, 'db>(rt: &'a Runtime, mut tx: TxExec<'a, 'db>, spec: FrameSpec) -> (TxExec<'a, 'db>, FrameResult) {
    let cp = tx.state.checkpoint();
    let events_mark = tx.events.len();
    tx.stack.push(spec.address);
    let (mut tx, result) = frame_body(rt, tx, spec);
    tx.stack.pop();
    let ok = matches!(result.status, ReceiptStatus::Success) && tx.fatal.is_none();
    let closed = if ok { tx.state.commit_checkpoint(cp) } else { tx.state.revert_to(cp) };
    if let Err(e) = closed {
        tx.fatal.get_or_insert(e);
    }
    if !ok {
        tx.events.truncate(events_mark);
    }
    (tx, result)
}

/// A frame's code, loaded for the runtime's backend.
enum FrameCode<'r> {
    /// Compiled by Keel.
    Native(keel_engine::Module),
    /// Instrumented for wasmi.
    Wasmi(&'r super::reference::Reference, super::reference::Loaded),
}

impl FrameCode<'_> {
    fn initial_pages(&self) -> u64 {
        match self {
            FrameCode::Native(m) => m.memory().map_or(0, |m| m.min),
            FrameCode::Wasmi(_, l) => l.initial_pages(),
        }
    }
}

fn frame_body<'a, 'db>(rt: &'a Runtime, mut tx: TxExec<'a, 'db>, spec: FrameSpec) -> (TxExec<'a, 'db>, FrameResult) {
    let fail = |tx, status| (tx, FrameResult::failed(status, 0));
    match super::host::move_value(tx.state, &spec.caller, &spec.address, spec.value) {
        Ok(true) => {}
        // Callers check the balance first; this is a guard, not a normal path.
        Ok(false) => return fail(tx, ReceiptStatus::Revert(b"insufficient balance for value".to_vec())),
        Err(e) => {
            tx.fatal = Some(e);
            return fail(tx, ReceiptStatus::Trap(TrapKind::Host));
        }
    }
    let frame = Frame { address: spec.address, caller: spec.caller, input: spec.input, return_data: Vec::new(), end: None };
    let code = match rt.reference() {
        Some(reference) => rt.reference_module(reference, tx.state, &spec.code_hash).map(|m| FrameCode::Wasmi(reference, m)),
        None => rt.module(tx.state, &spec.code_hash).map(FrameCode::Native),
    };
    let code = match code {
        Ok(c) => c,
        Err(super::RuntimeError::State(e)) => {
            tx.fatal = Some(e);
            return fail(tx, ReceiptStatus::Trap(TrapKind::Host));
        }
        Err(e) => return fail(tx, ReceiptStatus::InvalidCode(e.to_string())),
    };
    // The frame's initial memory, charged before the instance is created (`specs/abi.md`
    // §1): like pages added by `memory.grow`, at `dynamic.memory_grow_per_page` each.
    let memory_gas = rt.initial_memory_gas(code.initial_pages());
    if memory_gas > spec.gas_limit {
        return (tx, FrameResult::failed(ReceiptStatus::OutOfGas, spec.gas_limit));
    }
    let module = match code {
        FrameCode::Wasmi(reference, loaded) => {
            return reference.run(rt, tx, frame, &loaded, spec.entry.export(), spec.gas_limit, memory_gas)
        }
        FrameCode::Native(module) => module,
    };
    let mut linker = Linker::new();
    super::host::add_to_linker(&mut linker);
    let mut store = Store::new(rt.engine(), Host { rt, tx: Some(tx), frame });
    store.set_gas_limit(spec.gas_limit - memory_gas);
    let outcome = linker
        .instantiate(&mut store, &module)
        .and_then(|instance| instance.get_typed_func::<Host<'a, 'db>, (), ()>(&mut store, spec.entry.export()))
        .and_then(|entry| entry.call(&mut store, ()));
    let gas_used = memory_gas + store.gas_used();
    close_frame(store.data_mut(), outcome, gas_used, status_of)
}
