//! Timing of short operations for `run`'s parser stage: batches long enough
//! to dwarf the clock's cost, the median batch reported (criterion does the
//! same job with full statistics under `cargo bench`).

use std::time::{Duration, Instant};

/// Shortest batch: long enough that reading the clock twice is noise.
const MIN_BATCH: Duration = Duration::from_micros(500);

/// Nanoseconds per call of `op`, the median over batches run for about `budget`.
pub fn ns_per_op(budget: Duration, mut op: impl FnMut()) -> f64 {
    // Calibrate: double the batch until it lasts MIN_BATCH.
    let mut n: u64 = 1;
    loop {
        let t = Instant::now();
        for _ in 0..n {
            op();
        }
        if t.elapsed() >= MIN_BATCH || n >= 1 << 40 {
            break;
        }
        n *= 2;
    }
    let mut samples = Vec::new();
    let started = Instant::now();
    while samples.len() < 5 || started.elapsed() < budget {
        let t = Instant::now();
        for _ in 0..n {
            op();
        }
        samples.push(t.elapsed().as_nanos() as f64 / n as f64);
    }
    median(&mut samples)
}

/// The median of `values` (sorted in place); 0 for none.
pub fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    match values.len() {
        0 => 0.0,
        n if n % 2 == 1 => values[n / 2],
        n => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&mut [4.0, 1.0, 3.0, 2.0]), 2.5);
        assert_eq!(median(&mut []), 0.0);
    }
}
