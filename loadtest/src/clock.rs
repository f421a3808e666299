//! The clock latencies are measured with.
//!
//! Publishers stamp each message with the wall clock and receivers subtract it
//! from theirs. Worker processes are separate processes, so `Instant` (opaque,
//! per process) cannot be carried in a message; the wall clock is the same
//! for every process on the machine, which is all a same-machine test needs.

use std::time::{SystemTime, UNIX_EPOCH};

/// Nanoseconds since the Unix epoch (0 if the clock is before 1970).
pub fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// Seconds between two `now_ns` readings (0 when `end` is not after `start`).
pub fn secs_between(start_ns: u64, end_ns: u64) -> f64 {
    end_ns.saturating_sub(start_ns) as f64 / 1e9
}
