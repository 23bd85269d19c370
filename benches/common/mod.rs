//! Shared by the benchmarks: timing one run, and the median of several.

use std::time::{Duration, Instant};

/// How long one call of `f` takes.
pub fn time(f: impl FnOnce()) -> Duration {
    let start = Instant::now();
    f();
    start.elapsed()
}

/// The median of `values` (the upper one of the two middle values for an even count).
pub fn median<T: PartialOrd>(mut values: Vec<T>) -> T {
    values.sort_by(|a, b| a.partial_cmp(b).expect("times are comparable"));
    values.swap_remove(values.len() / 2)
}

/// Runs `f` once to warm up, then `runs` times, and returns the median time.
pub fn median_time(runs: usize, mut f: impl FnMut()) -> Duration {
    f(); // warm-up
    median((0..runs).map(|_| time(&mut f)).collect())
}

/// Milliseconds.
pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}
