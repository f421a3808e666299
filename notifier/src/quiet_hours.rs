//! Quiet hours in the recipient's own time zone: non-urgent notices wait until the
//! quiet period ends there, whatever zone the server or the clinic is in, and
//! across daylight-saving changes.

use chrono::{Duration, LocalResult, NaiveDate, NaiveTime, TimeZone, Timelike};
use chrono_tz::Tz;

/// A daily quiet period, minutes after local midnight; `start > end` wraps past
/// midnight (22:00–07:00).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuietHours {
    pub start_min: u32,
    pub end_min: u32,
}

impl QuietHours {
    /// If `now_ms` falls in the quiet period in `tz`, the instant it ends.
    pub fn ends_after(&self, now_ms: i64, tz: Tz) -> Option<i64> {
        if self.start_min == self.end_min {
            return None;
        }
        let now = tz.timestamp_millis_opt(now_ms).single()?;
        let minute = now.hour() * 60 + now.minute();
        let date = now.date_naive();
        let end_date = if self.start_min < self.end_min {
            (self.start_min..self.end_min)
                .contains(&minute)
                .then_some(date)?
        } else if minute >= self.start_min {
            date.succ_opt()?
        } else if minute < self.end_min {
            date
        } else {
            return None;
        };
        Some(local_instant(tz, end_date, self.end_min))
    }
}

/// The instant local time `minute` occurs on `date` in `tz`. A time skipped by a
/// spring-forward change resolves to the first valid minute after it; a repeated
/// autumn time to its first occurrence.
fn local_instant(tz: Tz, date: NaiveDate, minute: u32) -> i64 {
    let time = NaiveTime::from_hms_opt(minute / 60, minute % 60, 0).unwrap_or(NaiveTime::MIN);
    let mut local = date.and_time(time);
    for _ in 0..=180 {
        match tz.from_local_datetime(&local) {
            LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => return t.timestamp_millis(),
            LocalResult::None => local += Duration::minutes(1),
        }
    }
    tz.from_utc_datetime(&local).timestamp_millis()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    fn ms(s: &str) -> i64 {
        s.parse::<chrono::DateTime<Utc>>()
            .unwrap()
            .timestamp_millis()
    }

    const NIGHT: QuietHours = QuietHours {
        start_min: 22 * 60,
        end_min: 7 * 60,
    };

    #[test]
    fn outside_quiet_hours_sends_now() {
        // 12:00 in New York (EST, UTC-5).
        assert_eq!(
            NIGHT.ends_after(ms("2026-01-15T17:00:00Z"), chrono_tz::America::New_York),
            None
        );
    }

    #[test]
    fn late_evening_waits_for_next_morning_local() {
        // 23:30 in New York → 07:00 the next day, New York time.
        let end = NIGHT
            .ends_after(ms("2026-01-16T04:30:00Z"), chrono_tz::America::New_York)
            .unwrap();
        assert_eq!(end, ms("2026-01-16T12:00:00Z"));
    }

    #[test]
    fn early_morning_waits_until_seven_same_day() {
        // 05:00 in Lisbon (UTC+0 in winter).
        let end = NIGHT
            .ends_after(ms("2026-01-16T05:00:00Z"), chrono_tz::Europe::Lisbon)
            .unwrap();
        assert_eq!(end, ms("2026-01-16T07:00:00Z"));
    }

    #[test]
    fn the_night_clocks_go_forward_is_an_hour_shorter() {
        // New York springs forward on 2026-03-08 at 02:00. 23:00 EST on the 7th
        // waits until 07:00 EDT (UTC-4) on the 8th: 11:00Z, not 12:00Z.
        let end = NIGHT
            .ends_after(ms("2026-03-08T04:00:00Z"), chrono_tz::America::New_York)
            .unwrap();
        assert_eq!(end, ms("2026-03-08T11:00:00Z"));
    }

    #[test]
    fn the_night_clocks_go_back_is_an_hour_longer() {
        // Back on 2026-11-01 at 02:00: 23:00 EDT on Oct 31 waits until 07:00 EST.
        let end = NIGHT
            .ends_after(ms("2026-11-01T03:00:00Z"), chrono_tz::America::New_York)
            .unwrap();
        assert_eq!(end, ms("2026-11-01T12:00:00Z"));
    }

    #[test]
    fn an_end_inside_the_skipped_hour_moves_to_the_first_valid_minute() {
        let q = QuietHours {
            start_min: 60,
            end_min: 2 * 60 + 30,
        };
        // 01:30 EST on the spring-forward day: 02:30 does not exist → 03:00 EDT.
        let end = q
            .ends_after(ms("2026-03-08T06:30:00Z"), chrono_tz::America::New_York)
            .unwrap();
        assert_eq!(end, ms("2026-03-08T07:00:00Z"));
    }

    #[test]
    fn a_daytime_period_does_not_wrap() {
        let q = QuietHours {
            start_min: 12 * 60,
            end_min: 13 * 60,
        };
        let tz = chrono_tz::Asia::Tokyo;
        assert_eq!(
            q.ends_after(ms("2026-05-01T03:30:00Z"), tz),
            Some(ms("2026-05-01T04:00:00Z"))
        );
        assert_eq!(q.ends_after(ms("2026-05-01T04:30:00Z"), tz), None);
    }
}
