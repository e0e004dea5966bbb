//! Threads an [`crate::Engine`] keeps for parallel compilation
//! ([`crate::Config::parallel_compilation`]).
//!
//! [`HelperThreads::join`] runs a closure that borrows the caller's data on a kept thread
//! while the calling thread runs another, and returns when both are done, or when the
//! caller's is done and the kept thread has not started its own (which is then dropped
//! unrun): what `std::thread::scope` does, without starting a thread each time, and
//! without waiting for a thread that wakes up late. Starting and joining a
//! thread costs 50-90 µs on the 2-core machine this was measured on (an empty scoped
//! thread, spawned and joined 2,000 times), as long as compiling 2-4 KB of wasm; waking a
//! kept thread through a channel costs a few microseconds, and its stack and allocator
//! arena stay warm between modules.

use std::panic::{self, AssertUnwindSafe};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread;

/// A unit of work for a kept thread. Its real lifetime is erased (see [`HelperThreads::join`]).
type Job = Box<dyn FnOnce() + Send + 'static>;

/// The work of one [`HelperThreads::join`], its real lifetime erased, shared by the caller
/// and the kept thread: whichever takes it first out of the slot runs it (the kept
/// thread) or drops it unrun (the caller, done with its own part before the kept thread
/// started).
type Slot<R> = Mutex<Option<Box<dyn FnOnce() -> R + Send + 'static>>>;

/// `mutex`'s guard, also after a thread panicked holding it: every user either resumes
/// that panic (a join) or keeps only data the panic cannot have left half-written.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// Makes sure, when dropped, that the work of a join has been dropped unrun or has run to
/// its end (its captures dropped): the caller's frame, which the work borrows from,
/// outlives it on every path, unwinding included.
struct Reclaim<R> {
    slot: Arc<Slot<R>>,
    done: Option<Receiver<thread::Result<R>>>,
}

impl<R> Reclaim<R> {
    /// The work's outcome: `None` if it had not started (it is dropped here, unrun), else
    /// what it returned or its panic, once it has ended.
    fn finish(mut self) -> Option<thread::Result<R>> {
        let unrun = lock(&self.slot).take();
        let done = self.done.take()?;
        if unrun.is_some() {
            return None;
        }
        Some(match done.recv() {
            Ok(outcome) => outcome,
            // Cannot happen: whoever takes the work reports after running it.
            Err(_) => Err(Box::new("a compilation helper thread lost its work")),
        })
    }
}

impl<R> Drop for Reclaim<R> {
    fn drop(&mut self) {
        if let Some(done) = self.done.take() {
            if lock(&self.slot).take().is_none() {
                let _ = done.recv();
            }
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
    /// outcomes once both are done: `work`'s as `None` when the kept thread had not
    /// started it by the time `own` returned (it is then dropped unrun: this thread never
    /// waits for a late wake-up), else what it returned or its panic, for the caller to
    /// resume. `None` when no thread could be started or reached: then neither closure
    /// ran (`work` was dropped), and the caller does the work itself.
    ///
    /// So `own` must not depend on `work` having run, and must end by itself whatever
    /// `work` does (here: both take parts from a shared counter until none is left). If
    /// `own` panics, its captures are dropped and this drops `work` unrun or waits for it
    /// to end before unwinding on.
    pub(crate) fn join<'a, R, C>(
        &self,
        work: impl FnOnce() -> R + Send + 'a,
        own: impl FnOnce() -> C,
    ) -> Option<(Option<thread::Result<R>>, C)>
    where
        R: Send + 'static,
    {
        let helper = self.take()?;
        let (done, outcome) = mpsc::sync_channel(1);
        let work: Box<dyn FnOnce() -> R + Send + 'a> = Box::new(work);
        // SAFETY: only the lifetime changes (same trait object, same layout). The work may
        // borrow data of lifetime 'a; it is used only until it has run or been dropped,
        // and this function does not return or unwind before that: a `Reclaim` is created
        // right after the slot (nothing in between can panic), and on every path out of
        // this function, unwinding from `own` included, it either takes the work out of
        // the slot and drops it (the kept thread never saw it) or, when the kept thread
        // took it first, waits for its report, which it sends after running the work
        // (which drops the work's captures). If the job never runs (its thread is gone),
        // the work stays in the slot and the `Reclaim` drops it. What outlives this
        // function is the slot (in an `Arc`, then empty) and the sender of the report.
        let work = unsafe {
            std::mem::transmute::<Box<dyn FnOnce() -> R + Send + 'a>, Box<dyn FnOnce() -> R + Send + 'static>>(work)
        };
        let slot: Arc<Slot<R>> = Arc::new(Mutex::new(Some(work)));
        let reclaim = Reclaim { slot: Arc::clone(&slot), done: Some(outcome) };
        let job: Job = Box::new(move || {
            let work = lock(&slot).take();
            if let Some(work) = work {
                let outcome = panic::catch_unwind(AssertUnwindSafe(work));
                // The receiver waits for this report (see `Reclaim`).
                let _ = done.send(outcome);
            }
        });
        if helper.jobs.send(job).is_err() {
            // The job came back and is dropped; `reclaim` drops the work unrun.
            return None;
        }
        let mine = own();
        let theirs = reclaim.finish();
        self.put(helper);
        Some((theirs, mine))
    }

    fn take(&self) -> Option<Helper> {
        let idle = lock(&self.idle).pop();
        idle.or_else(Helper::spawn)
    }

    fn put(&self, helper: Helper) {
        let mut idle = lock(&self.idle);
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
                    // Ends only once the work has sent everything: the work ran.
                    move || rx.iter().sum::<u64>(),
                )
                .expect("a helper thread");
            assert_eq!(theirs.expect("the work ran").expect("no panic"), 3);
            assert_eq!(mine, 6 + 3 * round);
        }
        assert_eq!(threads.idle.lock().expect("lock").len(), 1, "one thread, reused");
    }

    #[test]
    fn a_panic_in_work_comes_back_and_the_thread_stays_usable() {
        let threads = HelperThreads::default();
        let (started, wait_start) = mpsc::sync_channel::<()>(1);
        let work = move || -> u32 {
            started.send(()).expect("receiver alive");
            panic!("boom")
        };
        let (theirs, mine) = threads
            .join(work, || {
                wait_start.recv().expect("the work starts");
                7
            })
            .expect("a helper thread");
        assert!(theirs.expect("the work ran").is_err());
        assert_eq!(mine, 7);
        let (started, wait_start) = mpsc::sync_channel::<()>(1);
        let (theirs, _) = threads
            .join(
                move || {
                    started.send(()).expect("receiver alive");
                    5u32
                },
                || wait_start.recv().expect("the work starts"),
            )
            .expect("a helper thread");
        assert_eq!(theirs.expect("the work ran").expect("no panic"), 5);
    }

    #[test]
    fn work_a_late_thread_has_not_started_is_dropped_unrun() {
        let threads = HelperThreads::default();
        // The kept thread is busy with an earlier job until `release` is sent: the join's
        // work waits behind it in its queue.
        let helper = Helper::spawn().expect("a thread");
        let (release, blocked) = mpsc::channel::<()>();
        helper.jobs.send(Box::new(move || { let _ = blocked.recv(); })).expect("queued");
        threads.put(helper);
        let ran = std::sync::atomic::AtomicBool::new(false);
        let borrowed = [1u8; 16];
        let (theirs, mine) = threads
            .join(
                || {
                    ran.store(true, std::sync::atomic::Ordering::SeqCst);
                    borrowed.len()
                },
                || 11,
            )
            .expect("a helper thread");
        // Had `join` waited for the work, it would never have returned.
        assert!(theirs.is_none(), "the work was dropped unrun");
        assert_eq!(mine, 11);
        release.send(()).expect("the thread is alive");
        // The thread then finds the slot empty and stays usable.
        let (theirs, _) = threads
            .join(|| 3u32, || std::thread::sleep(std::time::Duration::from_millis(1)))
            .expect("a helper thread");
        assert!(matches!(theirs, None | Some(Ok(3))));
        assert!(!ran.load(std::sync::atomic::Ordering::SeqCst), "the dropped work never ran");
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
                    // The work has started: it sent this.
                    let _ = rx.recv();
                    panic!("own work fails");
                },
            )
        }));
        assert!(caught.is_err());
        assert!(finished.load(std::sync::atomic::Ordering::SeqCst), "join returned before work ended");
    }
}
