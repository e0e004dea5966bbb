//! Executor threads: long-lived threads with a large native stack on which contract
//! execution runs (`specs/abi.md` §6), reused across calls instead of spawning a thread (and
//! mapping its stack) for every transaction or block.
//!
//! A caller hands its work to an idle executor whose stack is at least the size it needs
//! (or to a new one when none is idle) and blocks until the work is done, so the work may
//! borrow from the caller's stack. Work that itself asks for an executor (a block executed
//! from inside the calibration's executor, for instance) gets another thread: the one it
//! runs on is busy, so it is not idle. At most [`MAX_IDLE`] threads wait between calls;
//! more end when their work is done.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc::{channel, sync_channel, Sender};
use std::sync::Mutex;

use super::RuntimeError;

/// Executor threads kept waiting between calls, at most.
pub const MAX_IDLE: usize = 4;

/// A unit of work, its lifetime erased (see [`run`]).
type Job = Box<dyn FnOnce() + Send + 'static>;

/// An idle executor thread: its native stack size and the channel it takes work from.
struct Worker {
    stack_bytes: usize,
    jobs: Sender<Job>,
}

static IDLE: Mutex<Vec<Worker>> = Mutex::new(Vec::new());

/// An idle executor with at least `stack_bytes` of native stack (the smallest such), or a
/// new one. Errors: [`RuntimeError::Executor`] if a thread cannot be created.
fn acquire(stack_bytes: usize) -> Result<Worker, RuntimeError> {
    {
        let mut idle = IDLE.lock().unwrap_or_else(|e| e.into_inner());
        let best = idle
            .iter()
            .enumerate()
            .filter(|(_, w)| w.stack_bytes >= stack_bytes)
            .min_by_key(|(_, w)| w.stack_bytes)
            .map(|(i, _)| i);
        if let Some(i) = best {
            return Ok(idle.swap_remove(i));
        }
    }
    let (jobs, inbox) = channel::<Job>();
    std::thread::Builder::new()
        .name("keel-executor".into())
        .stack_size(stack_bytes)
        .spawn(move || {
            // Ends when its `Worker` (the only sender) is dropped.
            while let Ok(job) = inbox.recv() {
                job();
            }
        })
        .map_err(|e| RuntimeError::Executor(format!("cannot start a thread with a {stack_bytes}-byte stack: {e}")))?;
    Ok(Worker { stack_bytes, jobs })
}

/// Puts `worker` back among the idle ones, or lets it end when [`MAX_IDLE`] already wait.
fn release(worker: Worker) {
    let mut idle = IDLE.lock().unwrap_or_else(|e| e.into_inner());
    if idle.len() < MAX_IDLE {
        idle.push(worker);
    }
}

/// Runs `work` on an executor thread with at least `stack_bytes` of native stack and
/// returns its result. Errors: [`RuntimeError::Executor`] if no thread can be created or
/// `work` panicked (the executor thread survives a panic of its work).
pub fn run<R: Send>(stack_bytes: usize, work: impl FnOnce() -> R + Send) -> Result<R, RuntimeError> {
    let worker = acquire(stack_bytes)?;
    let (done, result) = sync_channel::<std::thread::Result<R>>(1);
    let job: Box<dyn FnOnce() + Send + '_> = Box::new(move || {
        let outcome = catch_unwind(AssertUnwindSafe(work));
        let _ = done.send(outcome);
    });
    // SAFETY: only the lifetime is changed. The job borrows from this call's caller; this
    // function does not return before the job has finished with those borrows: it waits
    // for the job's result, sent as the job's last use of `work` (a panic of `work` is
    // caught and sent too). If the job never runs (the worker is gone), the executor
    // thread has dropped it unrun, or it is dropped here with the failed send; either
    // way `recv` below then fails only after the job (and its borrows) is destroyed.
    let job: Job = unsafe { std::mem::transmute::<Box<dyn FnOnce() + Send + '_>, Job>(job) };
    if let Err(unsent) = worker.jobs.send(job) {
        drop(unsent);
        return Err(RuntimeError::Executor("the executor thread is gone".into()));
    }
    let outcome = result.recv();
    match outcome {
        Ok(Ok(value)) => {
            release(worker);
            Ok(value)
        }
        Ok(Err(_)) => {
            release(worker);
            Err(RuntimeError::Executor("the executor thread panicked".into()))
        }
        Err(_) => Err(RuntimeError::Executor("the executor thread is gone".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn thread_id() -> std::thread::ThreadId {
        std::thread::current().id()
    }

    // Stack sizes: this module's tests use the smallest (1 MiB), so no other test in the
    // process takes its idle executor (`acquire` only hands out stacks at least as large as
    // asked for; the runtime asks for hundreds of MiB).
    const SMALL: usize = 1 << 20;

    #[test]
    fn reuses_a_thread_and_borrows_from_the_caller() {
        let data = vec![1u64, 2, 3];
        let (first, sum) = run(SMALL, || (thread_id(), data.iter().sum::<u64>())).unwrap();
        assert_eq!(sum, 6);
        assert_ne!(first, thread_id(), "runs on another thread");
        let second = run(SMALL, thread_id).unwrap();
        assert_eq!(second, first, "the idle executor is reused");
        // Nested: the outer executor is busy, so the inner work gets another thread.
        let (outer, inner) = run(SMALL, || (thread_id(), run(SMALL, thread_id).unwrap())).unwrap();
        assert_ne!(outer, inner);
    }

    #[test]
    fn a_panic_is_an_error_and_the_executor_survives() {
        let err = run(2 * SMALL, || -> u32 { panic!("boom") }).unwrap_err();
        assert!(matches!(err, RuntimeError::Executor(ref m) if m.contains("panicked")), "{err}");
        assert_eq!(run(2 * SMALL, || 7).unwrap(), 7);
    }
}
