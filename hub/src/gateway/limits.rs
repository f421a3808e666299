//! Rate limits: a token bucket for publishes per user, a window counter for
//! frames per connection.

use std::time::{Duration, Instant};

/// `rate` tokens per second, holding at most two seconds' worth (a burst).
#[derive(Debug, Clone)]
pub struct TokenBucket {
    rate: f64,
    capacity: f64,
    tokens: f64,
    at: Instant,
}

impl TokenBucket {
    pub fn new(rate: u32, now: Instant) -> Self {
        let capacity = f64::from(rate.max(1)) * 2.0;
        Self {
            rate: f64::from(rate.max(1)),
            capacity,
            tokens: capacity,
            at: now,
        }
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate).min(self.capacity);
        self.at = now;
    }

    pub fn take(&mut self, now: Instant) -> bool {
        self.refill(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    pub fn is_full(&self, now: Instant) -> bool {
        let mut b = self.clone();
        b.refill(now);
        b.tokens >= b.capacity
    }
}

/// Counts frames in one-second windows.
#[derive(Debug)]
pub struct FrameCounter {
    window_start: Instant,
    count: u32,
}

impl FrameCounter {
    pub fn new(now: Instant) -> Self {
        Self {
            window_start: now,
            count: 0,
        }
    }

    /// Counts a frame; true while the count in the current second stays within `max`.
    pub fn record(&mut self, now: Instant, max: u32) -> bool {
        if now.saturating_duration_since(self.window_start) >= Duration::from_secs(1) {
            self.window_start = now;
            self.count = 0;
        }
        self.count += 1;
        self.count <= max
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_allows_a_burst_then_the_rate() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(10, t0);
        assert_eq!((0..25).filter(|_| b.take(t0)).count(), 20);
        assert!(!b.take(t0));
        assert!(b.take(t0 + Duration::from_millis(100)));
        assert!(!b.take(t0 + Duration::from_millis(100)));
        assert!(b.is_full(t0 + Duration::from_secs(3)));
    }

    #[test]
    fn frame_counter_resets_each_second() {
        let t0 = Instant::now();
        let mut c = FrameCounter::new(t0);
        assert!((0..5).all(|_| c.record(t0, 5)));
        assert!(!c.record(t0, 5));
        assert!(c.record(t0 + Duration::from_secs(1), 5));
    }
}
