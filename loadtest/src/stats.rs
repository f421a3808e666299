//! Latency histograms: recording from many tasks, merging across workers,
//! and the percentiles the report shows.
//!
//! Values are recorded in microseconds (1 µs .. 60 s, 3 significant digits:
//! any reported value is within 0.1% of the true one). A histogram at that
//! precision is ~100 KiB, too much to give each of 50,000 connections one, so
//! connections share a few mutex-guarded shards: with two cores the chance
//! that two tasks want the same shard at once is tiny, and a lock is held only
//! for one counter increment.

use std::sync::Mutex;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

/// Highest value tracked, in µs; larger values are clamped to it.
const MAX_US: u64 = 60_000_000;
const SIGFIG: u8 = 3;
const SHARDS: usize = 32;

/// An empty histogram with the load test's range and precision.
pub fn new_histogram() -> Histogram<u64> {
    // The bounds are constants that hdrhistogram accepts.
    Histogram::new_with_bounds(1, MAX_US, SIGFIG).expect("valid histogram bounds")
}

/// A histogram many tasks record into.
pub struct Recorder {
    shards: Vec<Mutex<Histogram<u64>>>,
}

impl Default for Recorder {
    fn default() -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::new(new_histogram())).collect(),
        }
    }
}

impl Recorder {
    /// Records a duration in nanoseconds; `key` (a connection index) picks
    /// the shard.
    pub fn record_ns(&self, key: usize, ns: u64) {
        let us = (ns / 1_000).clamp(1, MAX_US);
        let mut h = match self.shards[key % SHARDS].lock() {
            Ok(h) => h,
            // A panic elsewhere cannot leave a histogram half-updated in a
            // way that matters for a load report.
            Err(poisoned) => poisoned.into_inner(),
        };
        h.saturating_record(us);
    }

    /// All shards merged.
    pub fn merged(&self) -> Histogram<u64> {
        let mut all = new_histogram();
        for shard in &self.shards {
            let h = match shard.lock() {
                Ok(h) => h,
                Err(poisoned) => poisoned.into_inner(),
            };
            // Same bounds on both sides: `add` cannot fail.
            let _ = all.add(&*h);
        }
        all
    }
}

/// A histogram as it travels from a worker process to the coordinator:
/// `(value_us, count)` for each non-empty bucket.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct HistData(pub Vec<(u64, u64)>);

impl HistData {
    pub fn from_histogram(h: &Histogram<u64>) -> Self {
        Self(
            h.iter_recorded()
                .map(|v| (v.value_iterated_to(), v.count_at_value()))
                .collect(),
        )
    }

    /// Adds these counts into `into`.
    pub fn add_to(&self, into: &mut Histogram<u64>) {
        for &(value, count) in &self.0 {
            let _ = into.record_n(value.clamp(1, MAX_US), count);
        }
    }
}

/// Percentiles in milliseconds, as printed in the report.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Latency {
    pub p50: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
    /// How many values the percentiles are computed from.
    pub samples: u64,
}

impl Latency {
    /// `None` for an empty histogram: "no samples" must not read as 0 ms.
    pub fn of(h: &Histogram<u64>) -> Option<Self> {
        if h.is_empty() {
            return None;
        }
        let ms = |us: u64| us as f64 / 1_000.0;
        Some(Self {
            p50: ms(h.value_at_quantile(0.50)),
            p99: ms(h.value_at_quantile(0.99)),
            p999: ms(h.value_at_quantile(0.999)),
            max: ms(h.max()),
            samples: h.len(),
        })
    }
}

/// Percentiles in milliseconds for the request/response scenarios
/// (`slot-search`, `book-contention`), which also want p90 and the mean.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Summary {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub max: f64,
    pub mean: f64,
    pub samples: u64,
}

impl Summary {
    /// `None` for an empty histogram.
    pub fn of(h: &Histogram<u64>) -> Option<Self> {
        if h.is_empty() {
            return None;
        }
        let ms = |us: f64| (us / 1_000.0 * 1000.0).round() / 1000.0;
        Some(Self {
            p50: ms(h.value_at_quantile(0.50) as f64),
            p90: ms(h.value_at_quantile(0.90) as f64),
            p99: ms(h.value_at_quantile(0.99) as f64),
            max: ms(h.max() as f64),
            mean: ms(h.mean()),
            samples: h.len(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= b * 0.002 + 0.001
    }

    #[test]
    fn percentiles_of_a_uniform_distribution() {
        let r = Recorder::default();
        // 1 ms .. 1000 ms, one value each, spread over shards.
        for (i, ms) in (1..=1000u64).enumerate() {
            r.record_ns(i, ms * 1_000_000);
        }
        let l = Latency::of(&r.merged()).unwrap();
        assert_eq!(l.samples, 1000);
        assert!(close(l.p50, 500.0), "{l:?}");
        assert!(close(l.p99, 990.0), "{l:?}");
        assert!(close(l.p999, 999.0), "{l:?}");
        assert!(close(l.max, 1000.0), "{l:?}");
    }

    #[test]
    fn empty_histogram_has_no_latency() {
        assert_eq!(Latency::of(&Recorder::default().merged()), None);
    }

    #[test]
    fn sub_microsecond_and_huge_values_are_clamped() {
        let r = Recorder::default();
        r.record_ns(0, 10);
        r.record_ns(1, u64::MAX);
        let h = r.merged();
        assert_eq!(h.len(), 2);
        assert_eq!(h.min(), 1);
        assert!(h.max() >= MAX_US);
    }

    #[test]
    fn hist_data_round_trip_keeps_percentiles() {
        let mut h = new_histogram();
        for v in [5, 50, 500, 5_000, 50_000, 50_000, 123_456] {
            h.record(v).unwrap();
        }
        let data = HistData::from_histogram(&h);
        let json = serde_json::to_string(&data).unwrap();
        let back: HistData = serde_json::from_str(&json).unwrap();
        let mut merged = new_histogram();
        back.add_to(&mut merged);
        back.add_to(&mut merged);
        assert_eq!(merged.len(), 2 * h.len());
        assert_eq!(
            Latency::of(&merged).unwrap().p50,
            Latency::of(&h).unwrap().p50
        );
        assert_eq!(
            Latency::of(&merged).unwrap().max,
            Latency::of(&h).unwrap().max
        );
    }

    #[test]
    fn summary_has_p90_and_mean() {
        let r = Recorder::default();
        for (i, ms) in (1..=1000u64).enumerate() {
            r.record_ns(i, ms * 1_000_000);
        }
        let s = Summary::of(&r.merged()).unwrap();
        assert_eq!(s.samples, 1000);
        assert!(close(s.p50, 500.0), "{s:?}");
        assert!(close(s.p90, 900.0), "{s:?}");
        assert!(close(s.p99, 990.0), "{s:?}");
        assert!(close(s.mean, 500.5), "{s:?}");
        assert_eq!(Summary::of(&new_histogram()), None);
    }
}
