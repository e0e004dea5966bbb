//! Threads an [`crate::Engine`] keeps for parallel compilation
//! ([`crate::Config::parallel_compilation`]).
//!
//! [`HelperThreads::join`] runs a closure that borrows the caller's data on a kept thread
//! while the calling thread runs another, and returns when both are done: what
//! `std::thread::scope` does, without starting a thread each time. Starting and joining a
//! thread costs 50-90 µs on the 2-core machine this was measured on (an empty scoped
//! thread, spawned and joined 2,000 times), as long as compiling 2-4 KB of wasm; waking a
//! kept thread through a channel costs a few microseconds, and its stack and allocator
//! arena stay warm between modules.

use std::panic::{self, AssertUnwindSafe};
use std::sync::mpsc::{self, Receiver, Sender, SyncSender};
use std::sync::Mutex;
use std::thread;

/// A unit of work for a kept thread. Its real lifetime is erased (see [`HelperThreads::join`]).
type Job = Box<dyn FnOnce() + Send + 'static>;

/// A closure to run and where to report its outcome. Fields drop in declaration order, so
/// a task dropped without running drops `work` (and everything it borrows) before `done`,
/// and the waiter cannot wake before `work` is gone.
struct Task<'a, R> {
    work: Option<Box<dyn FnOnce() -> R + Send + 'a>>,
    done: SyncSender<thread::Result<R>>,
}

impl<R> Task<'_, R> {
    /// Runs the work (a panic is caught and reported), drops it, then reports.
    fn run(mut self) {
        if let Some(work) = self.work.take() {
            let outcome = panic::catch_unwind(AssertUnwindSafe(work));
            // The receiver lives until this send or the task's drop (`Wait`); if it is
            // gone, nobody wants the outcome.
            let _ = self.done.send(outcome);
        }
    }
}

/// Blocks, when dropped, until the task it waits for has run or been dropped: the caller's
/// frame (and everything the task borrows from it) outlives the task, even when the caller
/// unwinds.
struct Wait<R>(Option<Receiver<thread::Result<R>>>);

impl<R> Wait<R> {
    fn finish(mut self) -> thread::Result<R> {
        match self.0.take().map(|done| done.recv()) {
            Some(Ok(outcome)) => outcome,
            // The task was dropped without running (its thread is gone).
            _ => Err(Box::new("a compilation helper thread dropped its task")),
        }
    }
}

impl<R> Drop for Wait<R> {
    fn drop(&mut self) {
        if let Some(done) = self.0.take() {
            let _ = done.recv();
        }
    }
}

/// An idle kept thread: the sending end of its job queue. Dropping it ends the thread.
struct Helper {
    jobs: Sender<Job>,
}

impl Helper {
    fn spawn() -> Option<Helper> {
        let (jobs, queue) = mpsc::channel::<Job>();
        thread::Builder::new()
            .name("keel-compile".into())
            .spawn(move || {
                for job in queue {
                    job();
                }
            })
            .ok()?;
        Some(Helper { jobs })
    }
}

/// The kept threads of one engine: idle ones wait for a job; a thread is started when none
/// is idle (so concurrent compilations on one engine each get their own), and at most
/// [`HelperThreads::MAX_IDLE`] are kept afterwards. They end with the engine.
#[derive(Default)]
pub(crate) struct HelperThreads {
    idle: Mutex<Vec<Helper>>,
}

impl HelperThreads {
    /// Idle threads kept at most.
    const MAX_IDLE: usize = 4;

    /// Runs `work` on a kept thread while this thread runs `own`, and returns both
    /// outcomes once both are done (`work`'s panic, if any, as `Err`, for the caller to
    /// resume). `None` when no thread could be started or reached: then neither closure
    /// ran (`work` was dropped), and the caller does the work itself.
    ///
    /// `own` must end by itself whatever `work` does, and vice versa (here: the two ends of
    /// bounded channels, each of which stops on the other's disconnection). If `own`
    /// panics, its captures are dropped and this waits for `work` before unwinding on.
    pub(crate) fn join<'a, R, C>(
        &self,
        work: impl FnOnce() -> R + Send + 'a,
        own: impl FnOnce() -> C,
    ) -> Option<(thread::Result<R>, C)>
    where
        R: Send + 'static,
    {
        let helper = self.take()?;
        let (done, outcome) = mpsc::sync_channel(1);
        let task = Task { work: Some(Box::new(work)), done };
        let job: Box<dyn FnOnce() + Send + 'a> = Box::new(move || task.run());
        // SAFETY: only the lifetime changes (same trait object, same layout). The job may
        // borrow data of lifetime 'a; it is used only until it has run or been dropped,
        // and this function does not return or unwind before that: either the send fails
        // and the job comes back and is dropped right here, or a `Wait` is created at
        // once (nothing between the send and it can panic) and blocks, on every path out of
        // this function including unwinding from `own`, until the task reports its outcome
        // after `work` and its captures are dropped, or until the task itself is dropped
        // (`work` before `done`, see `Task`). A job is never leaked: the thread runs every
        // job it receives, and its queue lives while this `Helper` is held.
        let job: Job = unsafe { std::mem::transmute::<Box<dyn FnOnce() + Send + 'a>, Job>(job) };
        if let Err(mpsc::SendError(job)) = helper.jobs.send(job) {
            drop(job);
            return None;
        }
        let wait = Wait(Some(outcome));
        let mine = own();
        let theirs = wait.finish();
        self.put(helper);
        Some((theirs, mine))
    }

    fn take(&self) -> Option<Helper> {
        let idle = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
        idle.or_else(Helper::spawn)
    }

    fn put(&self, helper: Helper) {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        if idle.len() < Self::MAX_IDLE {
            idle.push(helper);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn work_borrows_the_callers_data_and_both_outcomes_come_back() {
        let threads = HelperThreads::default();
        let data = vec![1u64, 2, 3];
        for round in 0..3u64 {
            let (tx, rx) = mpsc::sync_channel::<u64>(1);
            let data = &data;
            let (theirs, mine) = threads
                .join(
                    move || {
                        for x in data {
                            tx.send(x + round).expect("receiver alive");
                        }
                        data.len()
                    },
                    move || rx.iter().sum::<u64>(),
                )
                .expect("a helper thread");
            assert_eq!(theirs.expect("no panic"), 3);
            assert_eq!(mine, 6 + 3 * round);
        }
        assert_eq!(threads.idle.lock().expect("lock").len(), 1, "one thread, reused");
    }

    #[test]
    fn a_panic_in_work_comes_back_and_the_thread_stays_usable() {
        let threads = HelperThreads::default();
        let (theirs, mine) = threads.join(|| -> u32 { panic!("boom") }, || 7).expect("a helper thread");
        assert!(theirs.is_err());
        assert_eq!(mine, 7);
        let (theirs, _) = threads.join(|| 5u32, || ()).expect("a helper thread");
        assert_eq!(theirs.expect("no panic"), 5);
    }

    #[test]
    fn a_panic_in_own_waits_for_work_first() {
        let threads = HelperThreads::default();
        let finished = std::sync::atomic::AtomicBool::new(false);
        let (tx, rx) = mpsc::sync_channel::<()>(0);
        let caught = panic::catch_unwind(AssertUnwindSafe(|| {
            threads.join(
                || {
                    // Ends once the other side is gone (its receiver dropped while unwinding).
                    while tx.send(()).is_ok() {}
                    std::thread::sleep(std::time::Duration::from_millis(20));
                    finished.store(true, std::sync::atomic::Ordering::SeqCst);
                },
                move || {
                    let _ = rx.recv();
                    panic!("own work fails");
                },
            )
        }));
        assert!(caught.is_err());
        assert!(finished.load(std::sync::atomic::Ordering::SeqCst), "join returned before work ended");
    }
}
