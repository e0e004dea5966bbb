//! Wall-clock sampling for the peer comparison: each sample times one call of the routine
//! (setup and teardown untimed); the figure reported is the median sample.
//!
//! Criterion is built for one benchmark at a time and leaves its estimates in files; the
//! comparison needs hundreds of (engine, workload) cells in one process, side by side, so
//! it samples directly, the same way for every engine.

use std::time::{Duration, Instant};

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

/// Runs `setup` then times `routine` on its output, once untimed as a warm-up and then
/// as many samples as `budget` allows. The first error (from setup or routine) ends the
/// measurement and is returned.
pub fn sample<S, T, E>(
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
        let start = Instant::now();
        let out = routine(s);
        let t = start.elapsed();
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
        let stats = sample::<_, _, ()>(
            budget,
            || Ok(()),
            |_| {
                calls += 1;
                std::thread::sleep(Duration::from_millis(2));
                Ok(())
            },
        )
        .unwrap();
        assert!(stats.samples >= 3 && stats.samples <= 7, "{stats:?}");
        assert_eq!(calls, stats.samples + 1, "one warm-up call plus the samples");
        assert!(stats.min <= stats.median && stats.min >= Duration::from_millis(2));
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
