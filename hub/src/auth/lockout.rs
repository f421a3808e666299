//! Login throttling: after a few failures each attempt must wait an exponentially
//! growing delay; after more, the key is locked for a while. Applied to two keys at
//! once — the account (guessing one user's password) and the client address
//! (spraying many accounts) — and stored in the database so all nodes agree.

use crate::{config::LockoutConfig, store::throttle::ThrottleRow};

/// Thresholds for one kind of key.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub slow_after: u32,
    pub lock_after: u32,
}

impl Limits {
    pub fn account(cfg: &LockoutConfig) -> Self {
        Self {
            slow_after: cfg.account_slow_after,
            lock_after: cfg.account_lock_after,
        }
    }

    pub fn ip(cfg: &LockoutConfig) -> Self {
        Self {
            slow_after: cfg.ip_slow_after,
            lock_after: cfg.ip_lock_after,
        }
    }
}

/// May an attempt proceed now?
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gate {
    Open,
    /// Slowed: try again after this many seconds.
    Wait(u64),
    /// Locked: try again after this many seconds.
    Locked(u64),
}

fn secs_until(now_ms: i64, until_ms: i64) -> u64 {
    u64::try_from((until_ms - now_ms + 999) / 1000)
        .unwrap_or(1)
        .max(1)
}

fn in_window(row: &ThrottleRow, now_ms: i64, cfg: &LockoutConfig) -> bool {
    now_ms - row.first_failure_at < i64::try_from(cfg.window_secs * 1000).unwrap_or(i64::MAX)
}

/// The delay owed after `failures` failures, once slowing has started.
fn backoff_ms(failures: i64, limits: Limits, cfg: &LockoutConfig) -> i64 {
    let over = failures - i64::from(limits.slow_after);
    if over < 0 {
        return 0;
    }
    let factor = 1u64
        .checked_shl(u32::try_from(over).unwrap_or(63))
        .unwrap_or(u64::MAX);
    let delay = cfg
        .backoff_base_ms
        .saturating_mul(factor)
        .min(cfg.backoff_max_ms);
    i64::try_from(delay).unwrap_or(i64::MAX)
}

pub fn gate(row: Option<&ThrottleRow>, now_ms: i64, limits: Limits, cfg: &LockoutConfig) -> Gate {
    let Some(row) = row else { return Gate::Open };
    if let Some(until) = row.locked_until {
        if until > now_ms {
            return Gate::Locked(secs_until(now_ms, until));
        }
        return Gate::Open;
    }
    if !in_window(row, now_ms, cfg) {
        return Gate::Open;
    }
    let ready_at = row.last_failure_at + backoff_ms(row.failures, limits, cfg);
    if row.failures >= i64::from(limits.slow_after) && now_ms < ready_at {
        return Gate::Wait(secs_until(now_ms, ready_at));
    }
    Gate::Open
}

/// The counter after one more failure.
pub fn after_failure(
    row: Option<ThrottleRow>,
    now_ms: i64,
    limits: Limits,
    cfg: &LockoutConfig,
) -> ThrottleRow {
    let fresh = ThrottleRow {
        failures: 1,
        first_failure_at: now_ms,
        last_failure_at: now_ms,
        locked_until: None,
    };
    let mut row = match row {
        Some(r) if r.locked_until.is_some() || !in_window(&r, now_ms, cfg) => fresh,
        Some(mut r) => {
            r.failures += 1;
            r.last_failure_at = now_ms;
            r
        }
        None => fresh,
    };
    if row.failures >= i64::from(limits.lock_after) {
        row.locked_until =
            Some(now_ms + i64::try_from(cfg.lock_secs * 1000).unwrap_or(i64::MAX / 2));
    }
    row
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> LockoutConfig {
        LockoutConfig {
            account_slow_after: 2,
            account_lock_after: 4,
            backoff_base_ms: 1000,
            backoff_max_ms: 8000,
            lock_secs: 60,
            window_secs: 600,
            ..LockoutConfig::default()
        }
    }

    #[test]
    fn slows_then_locks_then_recovers() {
        let cfg = cfg();
        let limits = Limits::account(&cfg);
        let mut now = 1_000_000;
        let mut row = None;
        for _ in 0..2 {
            assert_eq!(gate(row.as_ref(), now, limits, &cfg), Gate::Open);
            row = Some(after_failure(row, now, limits, &cfg));
        }
        // Two failures: the next attempt must wait 1 s.
        assert_eq!(gate(row.as_ref(), now, limits, &cfg), Gate::Wait(1));
        now += 1000;
        assert_eq!(gate(row.as_ref(), now, limits, &cfg), Gate::Open);
        row = Some(after_failure(row, now, limits, &cfg));
        assert_eq!(gate(row.as_ref(), now, limits, &cfg), Gate::Wait(2));
        now += 2000;
        row = Some(after_failure(row, now, limits, &cfg));
        // Fourth failure locks for a minute.
        assert_eq!(gate(row.as_ref(), now, limits, &cfg), Gate::Locked(60));
        now += 59_000;
        assert_eq!(gate(row.as_ref(), now, limits, &cfg), Gate::Locked(1));
        now += 1000;
        assert_eq!(gate(row.as_ref(), now, limits, &cfg), Gate::Open);
        // After the lock, counting starts again.
        let next = after_failure(row, now, limits, &cfg);
        assert_eq!(next.failures, 1);
        assert_eq!(next.locked_until, None);
    }

    #[test]
    fn old_failures_are_forgotten() {
        let cfg = cfg();
        let limits = Limits::account(&cfg);
        let row = after_failure(None, 0, limits, &cfg);
        let row = after_failure(Some(row), 1, limits, &cfg);
        assert_eq!(after_failure(Some(row), 600_001, limits, &cfg).failures, 1);
    }

    #[test]
    fn backoff_is_capped() {
        let cfg = cfg();
        let limits = Limits {
            slow_after: 1,
            lock_after: 1000,
        };
        assert_eq!(backoff_ms(100, limits, &cfg), 8000);
        assert_eq!(backoff_ms(0, limits, &cfg), 0);
    }
}
