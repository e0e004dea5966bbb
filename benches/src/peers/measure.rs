//! Sampling for the peer comparison: each sample times one call of the routine (setup and
//! teardown untimed) in **process CPU time** (`CLOCK_PROCESS_CPUTIME_ID`, all threads of
//! the process); the figure reported is the median sample. CPU time, not wall-clock time:
//! the benchmark machine is shared, and with more runnable processes than cores the wall
//! clock mostly measures the scheduler. Each cell runs in its own process, so the process
//! clock counts only the engine's work (and any helper thread it uses).
//!
//! One figure is the exception: Keel's compile time with parallel compilation (peer
//! `keel-2threads`), whose point is to finish sooner by using a second core: it is timed on
//! the wall clock ([`Clock::Wall`]), which is only meaningful when a core is free.
//!
//! Criterion is built for one benchmark at a time and leaves its estimates in files; the
//! comparison needs hundreds of (engine, workload) cells in one process, side by side, so
//! it samples directly, the same way for every engine.

use std::time::Duration;

/// CPU time consumed so far by this process (all threads).
pub fn process_cpu_time() -> Duration {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid, writable timespec; CLOCK_PROCESS_CPUTIME_ID is supported by
    // every Linux kernel this runs on (on failure `ts` stays zero and the sample reads 0).
    unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Wall-clock time since an arbitrary fixed point (monotonic).
pub fn wall_time() -> Duration {
    use std::sync::OnceLock;
    use std::time::Instant;
    static START: OnceLock<Instant> = OnceLock::new();
    START.get_or_init(Instant::now).elapsed()
}

/// Which clock times a sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Clock {
    /// [`process_cpu_time`]: CPU time of every thread of the process.
    ProcessCpu,
    /// [`wall_time`]: elapsed time, for work spread over several threads.
    Wall,
}

impl Clock {
    fn now(self) -> Duration {
        match self {
            Clock::ProcessCpu => process_cpu_time(),
            Clock::Wall => wall_time(),
        }
    }
}

/// Samples of one (engine, workload) cell.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stats {
    /// Median of the samples.
    pub median: Duration,
    /// Fastest sample.
    pub min: Duration,
    /// Number of timed samples.
    pub samples: usize,
}

/// How long to sample one cell.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    /// Stop taking samples once this much time was spent timing (setup excluded)...
    pub time: Duration,
    /// ...but take at least this many samples...
    pub min_samples: usize,
    /// ...and at most this many.
    pub max_samples: usize,
}

impl Budget {
    /// The default budget: about 1 s per cell, 5 to 200 samples.
    pub const DEFAULT: Budget = Budget { time: Duration::from_millis(1000), min_samples: 5, max_samples: 200 };
    /// A quick run (`--quick`): about 0.2 s per cell, 3 to 50 samples.
    pub const QUICK: Budget = Budget { time: Duration::from_millis(200), min_samples: 3, max_samples: 50 };
}

/// Runs `setup` then times `routine` on its output in process CPU time, once untimed as a
/// warm-up and then as many samples as `budget` allows. The first error (from setup or
/// routine) ends the measurement and is returned.
pub fn sample<S, T, E>(
    budget: Budget,
    setup: impl FnMut() -> Result<S, E>,
    routine: impl FnMut(S) -> Result<T, E>,
) -> Result<Stats, E> {
    sample_on(Clock::ProcessCpu, budget, setup, routine)
}

/// [`sample`] on the given clock.
pub fn sample_on<S, T, E>(
    clock: Clock,
    budget: Budget,
    mut setup: impl FnMut() -> Result<S, E>,
    mut routine: impl FnMut(S) -> Result<T, E>,
) -> Result<Stats, E> {
    let s = setup()?;
    drop(routine(s)?);
    let mut times = Vec::new();
    let mut spent = Duration::ZERO;
    while times.len() < budget.max_samples && (times.len() < budget.min_samples || spent < budget.time) {
        let s = setup()?;
        let start = clock.now();
        let out = routine(s);
        let t = clock.now().saturating_sub(start);
        drop(out?);
        spent += t;
        times.push(t);
    }
    times.sort();
    Ok(Stats { median: times[times.len() / 2], min: times[0], samples: times.len() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sample_respects_bounds_and_orders_figures() {
        let budget = Budget { time: Duration::from_millis(5), min_samples: 3, max_samples: 7 };
        let mut calls = 0;
        let stats = sample::<_, u64, ()>(
            budget,
            || Ok(()),
            |_| {
                calls += 1;
                // Burn CPU (sleeping costs no CPU time).
                let mut x = 0u64;
                for i in 0..200_000u64 {
                    x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(i));
                }
                Ok(x)
            },
        )
        .unwrap();
        assert!(stats.samples >= 3 && stats.samples <= 7, "{stats:?}");
        assert_eq!(calls, stats.samples + 1, "one warm-up call plus the samples");
        assert!(stats.min <= stats.median, "{stats:?}");
    }

    #[test]
    fn process_cpu_time_is_monotonic_and_advances_with_work() {
        // Other tests run in this process too, so only lower bounds are checkable.
        let wall = std::time::Instant::now();
        let start = process_cpu_time();
        assert!(start > Duration::ZERO, "the clock reads zero: clock_gettime failed");
        let mut last = start;
        let mut x = 0u64;
        while last - start < Duration::from_millis(5) {
            assert!(wall.elapsed() < Duration::from_secs(10), "CPU clock did not advance in 10 s of work");
            for i in 0..10_000u64 {
                x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(i));
            }
            let now = process_cpu_time();
            assert!(now >= last, "CPU clock went backwards");
            last = now;
        }
        assert!(x != 1);
    }

    #[test]
    fn sample_stops_at_first_error() {
        let mut n = 0;
        let r = sample(Budget::QUICK, || Ok::<_, &str>(()), |_| {
            n += 1;
            if n == 2 { Err("boom") } else { Ok(()) }
        });
        assert_eq!(r, Err("boom"));
    }
}
