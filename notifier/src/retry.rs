//! When to try again after a transient failure.
//!
//! Exponential backoff so a struggling provider is not hammered, with "equal
//! jitter" (half fixed, half random) so a thousand reminders that failed together
//! do not all come back in the same second.

use rand::Rng;

/// Delay before attempt `attempt + 1`, after `attempt` (≥ 1) failures:
/// `base · 2^(attempt-1)`, capped at `max`, then jittered into `[d/2, d]`.
pub fn backoff_ms(attempt: u32, base_ms: u64, max_ms: u64, rng: &mut impl Rng) -> u64 {
    let exponent = attempt.saturating_sub(1).min(32);
    let full = base_ms.saturating_mul(1u64 << exponent).min(max_ms);
    let half = full / 2;
    half + rng.gen_range(0..=full - half)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{SeedableRng, rngs::StdRng};

    #[test]
    fn doubles_within_jitter_and_caps() {
        let mut rng = StdRng::seed_from_u64(7);
        for attempt in 1..=6 {
            let full = (1000u64 << (attempt - 1)).min(10_000);
            for _ in 0..100 {
                let d = backoff_ms(attempt, 1000, 10_000, &mut rng);
                assert!((full / 2..=full).contains(&d), "attempt {attempt}: {d}");
            }
        }
        assert!(backoff_ms(60, 1000, 10_000, &mut rng) <= 10_000);
    }

    #[test]
    fn jitter_spreads_retries() {
        let mut rng = StdRng::seed_from_u64(1);
        let delays: std::collections::HashSet<u64> = (0..50)
            .map(|_| backoff_ms(3, 1000, 60_000, &mut rng))
            .collect();
        assert!(
            delays.len() > 40,
            "retries should not bunch: {}",
            delays.len()
        );
    }
}
