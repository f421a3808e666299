//! Appointment slots computed from a provider's weekly availability.
//!
//! Providers state their hours in their own time zone ("Mondays 09:00–12:30
//! in New York"), but the hub stores and compares every instant as UTC
//! milliseconds. This module is the single place that turns one into the
//! other. It is pure (no I/O, no clock, no async) so the tricky part, daylight
//! saving time, can be tested exhaustively with plain unit tests, and so the
//! listing endpoint and the booking check cannot drift apart: both generate
//! a day's slots with the same private function.
//!
//! # Daylight saving time
//!
//! Slots are laid out on the provider's *wall clock*: a window's slots start at
//! its local start and every `duration` local minutes after, while the local
//! start plus the duration still fits before the window's local end. Each local
//! start is then mapped to a real instant:
//!
//! * a local time that does not exist (the spring-forward gap) yields no slot;
//! * an ambiguous local time (the repeated hour after fall-back) uses the
//!   earlier instant, and the slot lasts `duration` of real time from there;
//! * a slot must end, in real time, no later than the window's end. An
//!   ambiguous window end uses the later instant (the window is open until the
//!   wall clock last reads its end); a window end inside a gap uses the instant
//!   the clocks jump, i.e. the window closes when the clock skips past it;
//! * a slot that would overlap an earlier slot of the same day in real time is
//!   skipped. With the earlier-instant rule this only happens across a
//!   spring-forward gap (e.g. 45-minute slots across Lord Howe's 30-minute
//!   jump); the repeated hour after fall-back simply yields no extra slots.
//!
//! Every slot therefore lasts exactly `duration` of real time, and the slots a
//! provider offers never overlap one another.

use chrono::{
    DateTime, Datelike, MappedLocalTime, NaiveDate, NaiveDateTime, NaiveTime, TimeDelta, TimeZone,
    Timelike, Weekday,
};
use chrono_tz::Tz;

/// Window times and durations must be multiples of this many minutes, so that
/// slot starts land on times patients expect (09:05, never 09:07).
pub const GRID_MINUTES: u32 = 5;
/// The shortest bookable appointment, in minutes.
pub const MIN_DURATION_MINUTES: u32 = 5;
/// The longest bookable appointment (a working day), in minutes.
pub const MAX_DURATION_MINUTES: u32 = 480;

const MS_PER_MINUTE: i64 = 60_000;

/// One weekly availability window in the provider's local time, e.g. Monday
/// 09:00–12:30. The window lies within a single local day: `start < end`, so a
/// window cannot end at 00:00 (use 23:55 for "until midnight").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WeeklyWindow {
    pub weekday: Weekday,
    pub start: NaiveTime,
    pub end: NaiveTime,
}

/// A busy interval `[start_ms, end_ms)` in UTC: an exception (leave, holiday)
/// or an existing appointment. Intervals with `end_ms <= start_ms` block
/// nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Busy {
    pub start_ms: i64,
    pub end_ms: i64,
}

/// A bookable slot `[start_ms, end_ms)` in UTC milliseconds. `end_ms - start_ms`
/// is always exactly the requested duration, even across a DST change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slot {
    pub start_ms: i64,
    pub end_ms: i64,
}

/// Why a provider's availability or a requested duration was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SlotError {
    /// A window that is empty, reversed or off the 5-minute grid.
    #[error(
        "availability window {index} ({weekday} {start}–{end}) must start before it ends, \
         on the same day, with both times on a {GRID_MINUTES}-minute grid"
    )]
    InvalidWindow {
        index: usize,
        weekday: Weekday,
        start: NaiveTime,
        end: NaiveTime,
    },
    /// Two windows on the same weekday share some time. Touching windows
    /// (09:00–12:00 and 12:00–13:00) are fine.
    #[error("availability windows {first} and {second} overlap on {weekday}")]
    OverlappingWindows {
        first: usize,
        second: usize,
        weekday: Weekday,
    },
    /// A duration outside 5..=480 minutes or not a multiple of 5.
    #[error(
        "appointment duration must be {MIN_DURATION_MINUTES} to {MAX_DURATION_MINUTES} minutes \
         in steps of {GRID_MINUTES}, got {0}"
    )]
    InvalidDuration(u32),
}

impl SlotError {
    /// The stable snake_case code clients branch on. Never change an existing one.
    pub fn code(&self) -> &'static str {
        match self {
            SlotError::InvalidWindow { .. } => "invalid_window",
            SlotError::OverlappingWindows { .. } => "overlapping_windows",
            SlotError::InvalidDuration(_) => "invalid_duration",
        }
    }
}

/// Checks a provider's weekly windows: each must have `start < end` with both
/// times on the 5-minute grid, and windows on the same weekday must not overlap
/// (touching is allowed). Indices in the error refer to `windows`.
///
/// The slot functions tolerate windows that fail this check (they never panic
/// or loop on them), but availability should be validated once, when it is
/// saved, so that what a provider sees is what patients can book.
pub fn validate_windows(windows: &[WeeklyWindow]) -> Result<(), SlotError> {
    for (index, w) in windows.iter().enumerate() {
        if w.start >= w.end || !on_grid(w.start) || !on_grid(w.end) {
            return Err(SlotError::InvalidWindow {
                index,
                weekday: w.weekday,
                start: w.start,
                end: w.end,
            });
        }
    }
    // Sorted by (weekday, start), any overlap shows up between neighbours: if
    // windows i < j overlap then start(i+1) <= start(j) < end(i).
    let mut order: Vec<usize> = (0..windows.len()).collect();
    order.sort_by_key(|&i| {
        let w = &windows[i];
        (w.weekday.num_days_from_monday(), w.start, w.end, i)
    });
    for pair in order.windows(2) {
        let (a, b) = (&windows[pair[0]], &windows[pair[1]]);
        if a.weekday == b.weekday && b.start < a.end {
            return Err(SlotError::OverlappingWindows {
                first: pair[0].min(pair[1]),
                second: pair[0].max(pair[1]),
                weekday: a.weekday,
            });
        }
    }
    Ok(())
}

/// Checks an appointment duration: 5 to 480 minutes in steps of 5.
pub fn validate_duration(duration_min: u32) -> Result<(), SlotError> {
    if (MIN_DURATION_MINUTES..=MAX_DURATION_MINUTES).contains(&duration_min)
        && duration_min.is_multiple_of(GRID_MINUTES)
    {
        Ok(())
    } else {
        Err(SlotError::InvalidDuration(duration_min))
    }
}

/// All free slots of `duration_min` minutes whose start lies in
/// `[from_ms, to_ms)`, not before `now_ms`, sorted by start, without
/// duplicates.
///
/// A slot is free when it overlaps no [`Busy`] interval (half-open: a slot
/// ending exactly when a busy interval starts is free). `busy` is merged once
/// and each slot is checked by binary search, so a year of slots against
/// thousands of busy intervals costs O((slots + busy) · log busy).
///
/// Inputs are not validated here (see [`validate_windows`],
/// [`validate_duration`]); a zero duration yields no slots. The work is
/// proportional to the number of days in the range, so callers should bound
/// `[from_ms, to_ms)` (a year is cheap).
pub fn free_slots(
    tz: Tz,
    windows: &[WeeklyWindow],
    busy: &[Busy],
    duration_min: u32,
    from_ms: i64,
    to_ms: i64,
    now_ms: i64,
) -> Vec<Slot> {
    let lower_ms = from_ms.max(now_ms);
    if duration_min == 0 || windows.is_empty() || lower_ms >= to_ms {
        return Vec::new();
    }
    let (Some(first_date), Some(last_date)) = (local_date(tz, lower_ms), local_date(tz, to_ms))
    else {
        return Vec::new();
    };
    // One local day of margin on each side: a day's slots are generated whole
    // and filtered by instant afterwards, so no boundary reasoning about
    // offsets is needed here.
    let mut date = first_date.pred_opt().unwrap_or(first_date);
    let end_date = last_date.succ_opt().unwrap_or(last_date);
    let busy = merge_busy(busy);

    let mut out = Vec::new();
    let mut day = Vec::new();
    loop {
        day_slots(tz, windows, date, duration_min, &mut day);
        out.extend(
            day.drain(..).filter(|s| {
                s.start_ms >= lower_ms && s.start_ms < to_ms && !overlaps_busy(&busy, s)
            }),
        );
        match date.succ_opt() {
            Some(next) if date < end_date => date = next,
            _ => break,
        }
    }
    // Local wall-clock order maps to strictly increasing instants (the earlier
    // instant is taken for ambiguous times), so `out` is already sorted; this
    // is a cheap guarantee rather than a proof obligation on every zone.
    out.sort_unstable_by_key(|s| s.start_ms);
    out.dedup();
    out
}

/// Whether `[start_ms, start_ms + duration)` is one of the slots the windows
/// define, ignoring busy intervals and the current time: the check a booking
/// makes before it looks for conflicts.
///
/// It regenerates the slots of the local day containing `start_ms` with the
/// same code as [`free_slots`], so a start that is listed is always bookable
/// and vice versa. A start off the grid, at the later instant of an ambiguous
/// local time, or skipped because of a DST gap is not a slot.
pub fn is_slot(tz: Tz, windows: &[WeeklyWindow], duration_min: u32, start_ms: i64) -> bool {
    if duration_min == 0 {
        return false;
    }
    // A slot's start always has the local date of the day that generated it,
    // since it is that day's wall-clock time mapped to an instant.
    let Some(date) = local_date(tz, start_ms) else {
        return false;
    };
    let mut day = Vec::new();
    day_slots(tz, windows, date, duration_min, &mut day);
    day.binary_search_by_key(&start_ms, |s| s.start_ms).is_ok()
}

/// The slots the windows define on one local `date`, sorted by start and
/// pairwise non-overlapping, written into `out` (cleared first; a buffer is
/// passed in so a year of days reuses one allocation).
fn day_slots(
    tz: Tz,
    windows: &[WeeklyWindow],
    date: NaiveDate,
    duration_min: u32,
    out: &mut Vec<Slot>,
) {
    out.clear();
    let step = TimeDelta::minutes(i64::from(duration_min));
    let duration_ms = i64::from(duration_min) * MS_PER_MINUTE;
    let weekday = date.weekday();
    for w in windows.iter().filter(|w| w.weekday == weekday) {
        if w.start >= w.end {
            continue;
        }
        let local_end = date.and_time(w.end);
        let Some(window_end_ms) = window_end_instant(tz, local_end) else {
            continue;
        };
        let mut local_start = date.and_time(w.start);
        // Terminates: `step` is positive and `local_end` is fixed.
        while let Some(local_slot_end) = local_start.checked_add_signed(step) {
            if local_slot_end > local_end {
                break;
            }
            if let Some(start_ms) = slot_start_instant(tz, local_start) {
                let end_ms = start_ms + duration_ms;
                if end_ms <= window_end_ms {
                    out.push(Slot { start_ms, end_ms });
                }
            }
            local_start = local_slot_end;
        }
    }
    // All candidates last the same real time, so taking them earliest first
    // and skipping any that start before the last kept one ends is the
    // "skip a slot that overlaps an earlier one" rule. A skipped slot blocks
    // nothing. Overlaps cannot cross days: every slot ends by its window's
    // end, which is within its own local day.
    out.sort_unstable_by_key(|s| s.start_ms);
    let mut last_end_ms = i64::MIN;
    out.retain(|s| {
        let keep = s.start_ms >= last_end_ms;
        if keep {
            last_end_ms = s.end_ms;
        }
        keep
    });
}

/// A slot's start instant: none in a gap, the earlier one when ambiguous, so
/// a fall-back day offers its repeated hour once, not twice.
fn slot_start_instant(tz: Tz, local: NaiveDateTime) -> Option<i64> {
    match tz.from_local_datetime(&local) {
        MappedLocalTime::Single(t) => Some(t.timestamp_millis()),
        MappedLocalTime::Ambiguous(a, b) => Some(a.timestamp_millis().min(b.timestamp_millis())),
        MappedLocalTime::None => None,
    }
}

/// A window end's instant: the later one when ambiguous (the window stays open
/// until the wall clock last shows its end) and, inside a gap, the instant the
/// clocks jump (the first instant whose local time is at or after the end).
fn window_end_instant(tz: Tz, local: NaiveDateTime) -> Option<i64> {
    match tz.from_local_datetime(&local) {
        MappedLocalTime::Single(t) => Some(t.timestamp_millis()),
        MappedLocalTime::Ambiguous(a, b) => Some(a.timestamp_millis().max(b.timestamp_millis())),
        MappedLocalTime::None => first_instant_at_or_after(tz, local),
    }
}

/// The first instant whose local time is at or after `local`, by bisection.
/// Only used for a window end in a DST gap, which is rare, so ~28 zone lookups
/// are fine. UTC offsets are less than a day, so the instant lies within
/// ±26 hours of `local` read as UTC, and the invariant
/// `local_at(lo) < local <= local_at(hi)` holds from the start.
fn first_instant_at_or_after(tz: Tz, local: NaiveDateTime) -> Option<i64> {
    const SPAN_MS: i64 = 26 * 60 * MS_PER_MINUTE;
    let naive_ms = local.and_utc().timestamp_millis();
    let (mut lo, mut hi) = (naive_ms - SPAN_MS, naive_ms + SPAN_MS);
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if local_at(tz, mid)? >= local {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    Some(hi)
}

/// The wall-clock time in `tz` at instant `ms`; `None` outside chrono's range.
fn local_at(tz: Tz, ms: i64) -> Option<NaiveDateTime> {
    DateTime::from_timestamp_millis(ms).map(|t| t.with_timezone(&tz).naive_local())
}

/// The local calendar date in `tz` at instant `ms`.
fn local_date(tz: Tz, ms: i64) -> Option<NaiveDate> {
    local_at(tz, ms).map(|t| t.date())
}

/// Busy intervals sorted and merged into disjoint `(start, end)` pairs, so a
/// slot can be checked with one binary search. Empty and reversed intervals
/// are dropped; touching ones merge (their union is the same half-open set).
fn merge_busy(busy: &[Busy]) -> Vec<(i64, i64)> {
    let mut sorted: Vec<(i64, i64)> = busy
        .iter()
        .filter(|b| b.start_ms < b.end_ms)
        .map(|b| (b.start_ms, b.end_ms))
        .collect();
    sorted.sort_unstable();
    let mut merged: Vec<(i64, i64)> = Vec::with_capacity(sorted.len());
    for (start, end) in sorted {
        match merged.last_mut() {
            Some(last) if start <= last.1 => last.1 = last.1.max(end),
            _ => merged.push((start, end)),
        }
    }
    merged
}

/// Whether `slot` overlaps any merged busy interval. The intervals are
/// disjoint and sorted, so their ends are sorted too: find the first one
/// ending after the slot starts; the slot overlaps it iff it starts before the
/// slot ends.
fn overlaps_busy(merged: &[(i64, i64)], slot: &Slot) -> bool {
    let i = merged.partition_point(|&(_, end)| end <= slot.start_ms);
    merged.get(i).is_some_and(|&(start, _)| start < slot.end_ms)
}

fn on_grid(t: NaiveTime) -> bool {
    t.second() == 0 && t.nanosecond() == 0 && t.minute().is_multiple_of(GRID_MINUTES)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;
    use chrono_tz::{America::New_York, Asia::Kolkata, Australia::Lord_Howe, Europe::London};

    const MIN: i64 = MS_PER_MINUTE;
    const HOUR: i64 = 60 * MIN;
    const DAY: i64 = 24 * HOUR;

    fn t(hhmm: &str) -> NaiveTime {
        NaiveTime::parse_from_str(hhmm, "%H:%M").unwrap()
    }

    fn win(weekday: Weekday, start: &str, end: &str) -> WeeklyWindow {
        WeeklyWindow {
            weekday,
            start: t(start),
            end: t(end),
        }
    }

    fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> i64 {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, 0)
            .single()
            .unwrap()
            .timestamp_millis()
    }

    /// An unambiguous local time as an instant; panics on gaps and folds so a
    /// test cannot silently pick the wrong side of a transition.
    fn local(tz: Tz, y: i32, mo: u32, d: u32, h: u32, mi: u32) -> i64 {
        tz.with_ymd_and_hms(y, mo, d, h, mi, 0)
            .single()
            .unwrap()
            .timestamp_millis()
    }

    fn starts(slots: &[Slot]) -> Vec<i64> {
        slots.iter().map(|s| s.start_ms).collect()
    }

    fn wall(tz: Tz, ms: i64) -> String {
        DateTime::from_timestamp_millis(ms)
            .unwrap()
            .with_timezone(&tz)
            .format("%Y-%m-%d %H:%M %Z")
            .to_string()
    }

    /// All slots on the local date `y-mo-d`, with no busy time and no "now".
    fn slots_on(tz: Tz, windows: &[WeeklyWindow], dur: u32, y: i32, mo: u32, d: u32) -> Vec<Slot> {
        let from = local(tz, y, mo, d, 0, 0);
        let next = NaiveDate::from_ymd_opt(y, mo, d)
            .unwrap()
            .succ_opt()
            .unwrap();
        let to = local(tz, next.year(), next.month(), next.day(), 0, 0);
        free_slots(tz, windows, &[], dur, from, to, i64::MIN)
    }

    /// Properties every result must have, whatever the zone.
    fn assert_well_formed(slots: &[Slot], dur: u32) {
        for s in slots {
            assert_eq!(s.end_ms - s.start_ms, i64::from(dur) * MIN, "{s:?}");
        }
        for pair in slots.windows(2) {
            assert!(pair[0].end_ms <= pair[1].start_ms, "overlap: {pair:?}");
        }
    }

    // --- plain days -------------------------------------------------------

    #[test]
    fn plain_monday_morning_gives_six_half_hour_slots() {
        // 2026-03-02 is a Monday; New York is on EST (UTC-5).
        let windows = [win(Weekday::Mon, "09:00", "12:00")];
        let slots = slots_on(New_York, &windows, 30, 2026, 3, 2);
        let expected: Vec<Slot> = (0..6)
            .map(|i| Slot {
                start_ms: utc(2026, 3, 2, 14, 0) + i * 30 * MIN,
                end_ms: utc(2026, 3, 2, 14, 30) + i * 30 * MIN,
            })
            .collect();
        assert_eq!(slots, expected);
        assert_eq!(wall(New_York, slots[5].start_ms), "2026-03-02 11:30 EST");
    }

    #[test]
    fn slots_only_fill_whole_durations_and_only_on_the_window_weekday() {
        // 09:00–10:40 with 30-minute slots: 10:30 would end at 11:00, too late.
        let windows = [win(Weekday::Tue, "09:00", "10:40")];
        let week_from = local(London, 2026, 1, 12, 0, 0); // Monday
        let slots = free_slots(London, &windows, &[], 30, week_from, week_from + 7 * DAY, 0);
        assert_eq!(
            starts(&slots),
            vec![
                utc(2026, 1, 13, 9, 0),
                utc(2026, 1, 13, 9, 30),
                utc(2026, 1, 13, 10, 0)
            ]
        );
    }

    #[test]
    fn range_is_half_open_on_slot_start() {
        let windows = [win(Weekday::Mon, "09:00", "12:00")];
        let from = utc(2026, 3, 2, 14, 30);
        let to = utc(2026, 3, 2, 16, 0);
        let slots = free_slots(New_York, &windows, &[], 30, from, to, 0);
        assert_eq!(
            starts(&slots),
            vec![
                utc(2026, 3, 2, 14, 30),
                utc(2026, 3, 2, 15, 0),
                utc(2026, 3, 2, 15, 30)
            ]
        );
        // A slot may start inside the range and end after it.
        assert_eq!(slots.last().unwrap().end_ms, to);
        // Empty or reversed ranges give nothing.
        assert!(free_slots(New_York, &windows, &[], 30, to, to, 0).is_empty());
        assert!(free_slots(New_York, &windows, &[], 30, to, from, 0).is_empty());
    }

    #[test]
    fn weeks_repeat_and_output_is_sorted_across_windows_and_days() {
        // Given out of order on purpose.
        let windows = [
            win(Weekday::Wed, "14:00", "15:00"),
            win(Weekday::Mon, "13:00", "14:00"),
            win(Weekday::Mon, "09:00", "10:00"),
        ];
        let from = local(London, 2026, 1, 12, 0, 0);
        let slots = free_slots(London, &windows, &[], 60, from, from + 14 * DAY, 0);
        assert_eq!(
            starts(&slots),
            vec![
                utc(2026, 1, 12, 9, 0),
                utc(2026, 1, 12, 13, 0),
                utc(2026, 1, 14, 14, 0),
                utc(2026, 1, 19, 9, 0),
                utc(2026, 1, 19, 13, 0),
                utc(2026, 1, 21, 14, 0),
            ]
        );
    }

    #[test]
    fn london_summer_time_shifts_utc_by_an_hour() {
        // Same wall-clock window in winter (GMT) and summer (BST).
        let windows = [win(Weekday::Mon, "09:00", "10:00")];
        let winter = slots_on(London, &windows, 60, 2026, 3, 23);
        let summer = slots_on(London, &windows, 60, 2026, 3, 30);
        assert_eq!(starts(&winter), vec![utc(2026, 3, 23, 9, 0)]);
        assert_eq!(starts(&summer), vec![utc(2026, 3, 30, 8, 0)]);
    }

    // --- spring forward -----------------------------------------------------

    #[test]
    fn us_spring_forward_skips_the_missing_hour() {
        // 2026-03-08: 02:00 EST jumps to 03:00 EDT (07:00 UTC).
        let windows = [win(Weekday::Sun, "01:00", "04:00")];
        let slots = slots_on(New_York, &windows, 60, 2026, 3, 8);
        assert_eq!(
            slots,
            vec![
                // 01:00 EST; one real hour later the clock reads 03:00 EDT.
                Slot {
                    start_ms: utc(2026, 3, 8, 6, 0),
                    end_ms: utc(2026, 3, 8, 7, 0)
                },
                // 03:00 EDT until 04:00 EDT, the window's end.
                Slot {
                    start_ms: utc(2026, 3, 8, 7, 0),
                    end_ms: utc(2026, 3, 8, 8, 0)
                },
            ]
        );
        assert_eq!(wall(New_York, slots[0].start_ms), "2026-03-08 01:00 EST");
        assert_eq!(wall(New_York, slots[0].end_ms), "2026-03-08 03:00 EDT");
        assert_eq!(wall(New_York, slots[1].start_ms), "2026-03-08 03:00 EDT");
        assert_well_formed(&slots, 60);
    }

    #[test]
    fn spring_forward_slot_must_end_by_the_window_end_in_real_time() {
        // 00:00–03:00 with 90-minute slots: 01:30 EST + 90 real minutes is
        // 04:00 EDT, past the window's 03:00 EDT end, although 01:30 + 1:30
        // "fits" on the wall clock. Only 00:00 remains.
        let windows = [win(Weekday::Sun, "00:00", "03:00")];
        let slots = slots_on(New_York, &windows, 90, 2026, 3, 8);
        assert_eq!(starts(&slots), vec![utc(2026, 3, 8, 5, 0)]);
    }

    #[test]
    fn window_ending_inside_the_gap_closes_when_the_clock_jumps() {
        // 02:30 does not exist on 2026-03-08; the window closes at 07:00 UTC.
        let windows = [win(Weekday::Sun, "00:00", "02:30")];
        let half_hours = slots_on(New_York, &windows, 30, 2026, 3, 8);
        assert_eq!(half_hours.len(), 4); // 00:00, 00:30, 01:00, 01:30 EST
        assert_eq!(half_hours.last().unwrap().end_ms, utc(2026, 3, 8, 7, 0));

        // 00:30–02:30 with hours: 01:30 EST + 1h is 07:30 UTC, past the jump.
        let windows = [win(Weekday::Sun, "00:30", "02:30")];
        let hours = slots_on(New_York, &windows, 60, 2026, 3, 8);
        assert_eq!(starts(&hours), vec![utc(2026, 3, 8, 5, 30)]);
    }

    #[test]
    fn window_entirely_in_the_gap_has_no_slots_that_day_only() {
        let windows = [win(Weekday::Sun, "02:00", "03:00")];
        assert!(slots_on(New_York, &windows, 30, 2026, 3, 8).is_empty());
        let next_week = slots_on(New_York, &windows, 30, 2026, 3, 15);
        assert_eq!(
            starts(&next_week),
            vec![utc(2026, 3, 15, 6, 0), utc(2026, 3, 15, 6, 30)]
        );
    }

    #[test]
    fn spring_forward_overlap_is_skipped() {
        // 00:00–06:00 with 90-minute slots: 01:30 EST runs to 04:00 EDT, so the
        // 03:00 EDT slot would overlap it and is skipped; 04:30 EDT follows.
        let windows = [win(Weekday::Sun, "00:00", "06:00")];
        let slots = slots_on(New_York, &windows, 90, 2026, 3, 8);
        assert_eq!(
            starts(&slots),
            vec![
                utc(2026, 3, 8, 5, 0),
                utc(2026, 3, 8, 6, 30),
                utc(2026, 3, 8, 8, 30)
            ]
        );
        assert_well_formed(&slots, 90);
        assert!(!is_slot(New_York, &windows, 90, utc(2026, 3, 8, 7, 0)));
    }

    #[test]
    fn lord_howe_half_hour_spring_forward() {
        // 2026-10-04: 02:00 LHST (+10:30) jumps to 02:30 LHDT (+11), at 15:30 UTC
        // on the 3rd. With 45-minute slots from 01:00: 01:00, 01:45 (runs to
        // 03:00 LHDT), 02:30 overlaps it and is skipped, then 03:15 to 04:00.
        let windows = [win(Weekday::Sun, "01:00", "04:00")];
        let slots = slots_on(Lord_Howe, &windows, 45, 2026, 10, 4);
        assert_eq!(
            starts(&slots),
            vec![
                utc(2026, 10, 3, 14, 30),
                utc(2026, 10, 3, 15, 15),
                utc(2026, 10, 3, 16, 15)
            ]
        );
        assert_eq!(slots[2].end_ms, utc(2026, 10, 3, 17, 0));
        assert_well_formed(&slots, 45);
        assert!(!is_slot(Lord_Howe, &windows, 45, utc(2026, 10, 3, 15, 30)));
    }

    // --- fall back ----------------------------------------------------------

    #[test]
    fn us_fall_back_uses_the_earlier_instant_and_never_overlaps() {
        // 2026-11-01: 02:00 EDT falls back to 01:00 EST (06:00 UTC), so 01:xx
        // happens twice. Window 00:00–03:00 with hourly slots:
        //   00:00 EDT = 04:00Z, 01:00 -> earlier = 01:00 EDT = 05:00Z,
        //   02:00 EST = 07:00Z (ends 08:00Z = 03:00 EST, the window end).
        // The repeated hour 06:00–07:00Z offers nothing.
        let windows = [win(Weekday::Sun, "00:00", "03:00")];
        let slots = slots_on(New_York, &windows, 60, 2026, 11, 1);
        assert_eq!(
            starts(&slots),
            vec![
                utc(2026, 11, 1, 4, 0),
                utc(2026, 11, 1, 5, 0),
                utc(2026, 11, 1, 7, 0)
            ]
        );
        assert_well_formed(&slots, 60);
        assert_eq!(wall(New_York, slots[1].start_ms), "2026-11-01 01:00 EDT");
        assert_eq!(wall(New_York, slots[2].start_ms), "2026-11-01 02:00 EST");
        // The later 01:00 (EST) is not bookable.
        assert!(!is_slot(New_York, &windows, 60, utc(2026, 11, 1, 6, 0)));
    }

    #[test]
    fn us_fall_back_half_hours() {
        let windows = [win(Weekday::Sun, "00:00", "03:00")];
        let slots = slots_on(New_York, &windows, 30, 2026, 11, 1);
        assert_eq!(
            starts(&slots),
            vec![
                utc(2026, 11, 1, 4, 0),
                utc(2026, 11, 1, 4, 30),
                utc(2026, 11, 1, 5, 0),
                utc(2026, 11, 1, 5, 30),
                utc(2026, 11, 1, 7, 0),
                utc(2026, 11, 1, 7, 30),
            ]
        );
        assert_well_formed(&slots, 30);
    }

    #[test]
    fn ambiguous_window_end_uses_the_later_instant() {
        // 01:00–01:30 on fall-back day: starts at 01:00 EDT (05:00Z); the end
        // 01:30 is read as 01:30 EST (06:30Z), so the slot fits either way.
        let windows = [win(Weekday::Sun, "01:00", "01:30")];
        let slots = slots_on(New_York, &windows, 30, 2026, 11, 1);
        assert_eq!(
            slots,
            vec![Slot {
                start_ms: utc(2026, 11, 1, 5, 0),
                end_ms: utc(2026, 11, 1, 5, 30)
            }]
        );
        assert_eq!(
            window_end_instant(
                New_York,
                NaiveDate::from_ymd_opt(2026, 11, 1)
                    .unwrap()
                    .and_time(t("01:30"))
            ),
            Some(utc(2026, 11, 1, 6, 30))
        );
    }

    #[test]
    fn lord_howe_half_hour_fall_back() {
        // 2026-04-05: 02:00 LHDT (+11) falls back to 01:30 LHST (+10:30), at
        // 15:00 UTC on the 4th; 01:30–02:00 happens twice. Half-hour slots in
        // 01:00–03:00: 01:00 (+11), 01:30 earlier (+11), 02:00 and 02:30
        // (+10:30). The repeated half hour 15:00–15:30Z offers nothing.
        let windows = [win(Weekday::Sun, "01:00", "03:00")];
        let slots = slots_on(Lord_Howe, &windows, 30, 2026, 4, 5);
        assert_eq!(
            starts(&slots),
            vec![
                utc(2026, 4, 4, 14, 0),
                utc(2026, 4, 4, 14, 30),
                utc(2026, 4, 4, 15, 30),
                utc(2026, 4, 4, 16, 0)
            ]
        );
        assert_well_formed(&slots, 30);
    }

    // --- other zones, busy, now ---------------------------------------------

    #[test]
    fn kolkata_half_hour_offset() {
        // IST is UTC+05:30: Monday 09:00 is 03:30 UTC.
        let windows = [win(Weekday::Mon, "09:00", "10:00")];
        let slots = slots_on(Kolkata, &windows, 30, 2026, 3, 2);
        assert_eq!(
            starts(&slots),
            vec![utc(2026, 3, 2, 3, 30), utc(2026, 3, 2, 4, 0)]
        );
    }

    #[test]
    fn local_day_differs_from_utc_day() {
        // Monday 00:00–01:00 in Kolkata is Sunday 18:30–19:30 UTC: a range
        // that covers only part of the UTC Sunday still finds it.
        let windows = [win(Weekday::Mon, "00:00", "01:00")];
        let from = utc(2026, 3, 1, 18, 0);
        let to = utc(2026, 3, 1, 20, 0);
        let slots = free_slots(Kolkata, &windows, &[], 30, from, to, 0);
        assert_eq!(
            starts(&slots),
            vec![utc(2026, 3, 1, 18, 30), utc(2026, 3, 1, 19, 0)]
        );
        // And the other way round: Sunday 20:00–21:00 in New York (EST) is
        // Monday 01:00–02:00 UTC.
        let windows = [win(Weekday::Sun, "20:00", "21:00")];
        let from = utc(2026, 3, 2, 0, 0);
        let slots = free_slots(New_York, &windows, &[], 60, from, from + HOUR * 3, 0);
        assert_eq!(starts(&slots), vec![utc(2026, 3, 2, 1, 0)]);
    }

    #[test]
    fn busy_excludes_exactly_the_overlapping_slots() {
        // Slots 14:00, 14:30, ..., 16:30 UTC on Monday 2026-03-02.
        let windows = [win(Weekday::Mon, "09:00", "12:00")];
        let at = |h, m| utc(2026, 3, 2, h, m);
        let busy = [
            // Out of order, overlapping each other, touching slots at both ends:
            Busy {
                start_ms: at(15, 0),
                end_ms: at(15, 30),
            },
            Busy {
                start_ms: at(14, 30),
                end_ms: at(15, 10),
            },
            // Inside the 16:00 slot.
            Busy {
                start_ms: at(16, 10),
                end_ms: at(16, 20),
            },
            // Ends exactly when the 14:00 slot starts: no overlap.
            Busy {
                start_ms: at(13, 0),
                end_ms: at(14, 0),
            },
            // Empty and reversed intervals block nothing.
            Busy {
                start_ms: at(16, 30),
                end_ms: at(16, 30),
            },
            Busy {
                start_ms: at(17, 0),
                end_ms: at(16, 30),
            },
        ];
        let from = at(0, 0);
        let slots = free_slots(New_York, &windows, &busy, 30, from, from + DAY, 0);
        assert_eq!(starts(&slots), vec![at(14, 0), at(15, 30), at(16, 30)]);

        // One millisecond of overlap is enough.
        let busy = [Busy {
            start_ms: at(14, 30) - 1,
            end_ms: at(14, 30) + 1,
        }];
        let slots = free_slots(New_York, &windows, &busy, 30, from, from + DAY, 0);
        assert_eq!(
            starts(&slots),
            vec![at(15, 0), at(15, 30), at(16, 0), at(16, 30)]
        );

        // A long leave spanning the whole day blocks everything.
        let busy = [Busy {
            start_ms: from - DAY,
            end_ms: from + 2 * DAY,
        }];
        assert!(free_slots(New_York, &windows, &busy, 30, from, from + DAY, 0).is_empty());
    }

    #[test]
    fn now_excludes_past_slots() {
        let windows = [win(Weekday::Mon, "09:00", "12:00")];
        let from = utc(2026, 3, 2, 0, 0);
        let now = utc(2026, 3, 2, 15, 0);
        let slots = free_slots(New_York, &windows, &[], 30, from, from + DAY, now);
        // A slot starting exactly now is still offered.
        assert_eq!(slots.first().unwrap().start_ms, now);
        assert_eq!(slots.len(), 4);
        let slots = free_slots(New_York, &windows, &[], 30, from, from + DAY, now + 1);
        assert_eq!(slots.first().unwrap().start_ms, now + 30 * MIN);
        // "now" after the range leaves nothing.
        assert!(free_slots(New_York, &windows, &[], 30, from, from + DAY, from + DAY).is_empty());
    }

    // --- is_slot ------------------------------------------------------------

    #[test]
    fn is_slot_matches_generated_starts() {
        let windows = [win(Weekday::Mon, "09:00", "12:00")];
        let at = |h, m| utc(2026, 3, 2, h, m);
        assert!(is_slot(New_York, &windows, 30, at(14, 0)));
        assert!(is_slot(New_York, &windows, 30, at(16, 30)));
        // Five minutes off the grid, one millisecond off, before and after.
        assert!(!is_slot(New_York, &windows, 30, at(14, 5)));
        assert!(!is_slot(New_York, &windows, 30, at(14, 0) + 1));
        assert!(!is_slot(New_York, &windows, 30, at(13, 30)));
        assert!(!is_slot(New_York, &windows, 30, at(17, 0)));
        // Another duration has another grid; a zero duration has none.
        assert!(!is_slot(New_York, &windows, 60, at(14, 30)));
        assert!(is_slot(New_York, &windows, 60, at(15, 0)));
        assert!(!is_slot(New_York, &windows, 0, at(14, 0)));
        // Wrong weekday (the Tuesday after).
        assert!(!is_slot(New_York, &windows, 30, at(14, 0) + DAY));
    }

    #[test]
    fn is_slot_rejects_the_spring_forward_gap() {
        // 02:00 local on 2026-03-08 does not exist. Read as EST it is 07:00Z,
        // read as EDT 06:00Z; neither is a slot of a window inside the gap.
        let gap_window = [win(Weekday::Sun, "02:00", "03:00")];
        for start in [
            utc(2026, 3, 8, 6, 0),
            utc(2026, 3, 8, 6, 30),
            utc(2026, 3, 8, 7, 0),
            utc(2026, 3, 8, 7, 30),
        ] {
            assert!(!is_slot(New_York, &gap_window, 30, start), "{start}");
        }
        // The same wall-clock time a week later is fine.
        assert!(is_slot(
            New_York,
            &gap_window,
            30,
            local(New_York, 2026, 3, 15, 2, 0)
        ));

        let windows = [win(Weekday::Sun, "01:00", "04:00")];
        assert!(is_slot(New_York, &windows, 60, utc(2026, 3, 8, 6, 0)));
        assert!(is_slot(New_York, &windows, 60, utc(2026, 3, 8, 7, 0)));
        assert!(!is_slot(New_York, &windows, 60, utc(2026, 3, 8, 6, 5)));
    }

    // --- validation -----------------------------------------------------------

    #[test]
    fn validate_windows_accepts_good_availability() {
        let windows = [
            win(Weekday::Mon, "09:00", "12:00"),
            win(Weekday::Mon, "12:00", "13:00"), // touching is fine
            win(Weekday::Tue, "09:00", "12:00"), // same times, other day
            win(Weekday::Sun, "00:00", "23:55"),
        ];
        assert_eq!(validate_windows(&windows), Ok(()));
        assert_eq!(validate_windows(&[]), Ok(()));
    }

    #[test]
    fn validate_windows_rejects_bad_windows() {
        let bad = [
            win(Weekday::Mon, "12:00", "09:00"), // reversed
            win(Weekday::Mon, "09:00", "09:00"), // empty
            win(Weekday::Mon, "09:00", "00:00"), // "until midnight"
            win(Weekday::Mon, "09:03", "10:00"), // off grid
            win(Weekday::Mon, "09:00", "10:01"),
            WeeklyWindow {
                weekday: Weekday::Mon,
                start: NaiveTime::from_hms_opt(9, 0, 30).unwrap(),
                end: t("10:00"),
            },
            WeeklyWindow {
                weekday: Weekday::Mon,
                start: NaiveTime::from_hms_milli_opt(9, 0, 0, 1).unwrap(),
                end: t("10:00"),
            },
        ];
        for w in bad {
            let windows = [win(Weekday::Fri, "08:00", "09:00"), w];
            let err = validate_windows(&windows).unwrap_err();
            assert_eq!(err.code(), "invalid_window", "{w:?}");
            assert!(
                matches!(err, SlotError::InvalidWindow { index: 1, .. }),
                "{err:?}"
            );
            assert!(err.to_string().contains("window 1"), "{err}");
        }
    }

    #[test]
    fn validate_windows_rejects_overlaps_on_the_same_weekday() {
        let windows = [
            win(Weekday::Tue, "09:00", "10:00"),
            win(Weekday::Wed, "11:30", "13:00"),
            win(Weekday::Wed, "09:00", "12:00"),
        ];
        let err = validate_windows(&windows).unwrap_err();
        assert_eq!(err.code(), "overlapping_windows");
        assert_eq!(
            err,
            SlotError::OverlappingWindows {
                first: 1,
                second: 2,
                weekday: Weekday::Wed
            }
        );
        // A window nested inside another, and an exact duplicate.
        for inner in [("10:00", "11:00"), ("08:00", "17:00")] {
            let windows = [
                win(Weekday::Thu, "08:00", "17:00"),
                win(Weekday::Thu, inner.0, inner.1),
            ];
            assert_eq!(
                validate_windows(&windows).unwrap_err().code(),
                "overlapping_windows"
            );
        }
        // Overlap that only a non-neighbouring pair in input order reveals.
        let windows = [
            win(Weekday::Fri, "09:00", "17:00"),
            win(Weekday::Fri, "18:00", "19:00"),
            win(Weekday::Fri, "16:55", "17:30"),
        ];
        assert_eq!(
            validate_windows(&windows).unwrap_err().code(),
            "overlapping_windows"
        );
    }

    #[test]
    fn validate_duration_bounds_and_grid() {
        for ok in [5, 10, 15, 30, 45, 60, 90, 475, 480] {
            assert_eq!(validate_duration(ok), Ok(()), "{ok}");
        }
        for bad in [0, 1, 4, 7, 33, 481, 485, 500, u32::MAX] {
            let err = validate_duration(bad).unwrap_err();
            assert_eq!(err, SlotError::InvalidDuration(bad));
            assert_eq!(err.code(), "invalid_duration");
            assert!(err.to_string().contains(&bad.to_string()));
        }
    }

    // --- robustness and scale -------------------------------------------------

    #[test]
    fn unvalidated_input_never_panics_or_overlaps() {
        // Overlapping and duplicate windows still give non-overlapping slots.
        let windows = [
            win(Weekday::Mon, "09:00", "12:00"),
            win(Weekday::Mon, "10:15", "11:00"),
            win(Weekday::Mon, "09:00", "12:00"),
            win(Weekday::Mon, "12:00", "09:00"),
        ];
        let slots = slots_on(New_York, &windows, 30, 2026, 3, 2);
        assert_eq!(slots.len(), 6);
        assert_well_formed(&slots, 30);
        // Zero and huge durations, extreme instants.
        assert!(slots_on(New_York, &windows, 0, 2026, 3, 2).is_empty());
        assert!(slots_on(New_York, &windows, u32::MAX, 2026, 3, 2).is_empty());
        assert!(free_slots(New_York, &windows, &[], 30, i64::MIN, i64::MAX, i64::MIN).is_empty());
        assert!(!is_slot(New_York, &windows, 30, i64::MAX));
        assert!(!is_slot(New_York, &windows, 30, i64::MIN));
    }

    #[test]
    fn sub_ranges_agree_with_the_full_range_across_dst() {
        // Whatever range is asked for, the answer is the full year's slots
        // restricted to that range: day boundaries and DST do not leak in.
        let windows = [
            win(Weekday::Sun, "00:00", "06:00"),
            win(Weekday::Sun, "22:00", "23:55"),
            win(Weekday::Mon, "00:00", "01:00"),
            win(Weekday::Sat, "23:00", "23:55"),
        ];
        for (tz, dur) in [(New_York, 45), (Lord_Howe, 45), (London, 90), (Kolkata, 25)] {
            let year_from = utc(2026, 1, 1, 0, 0);
            let year_to = utc(2027, 1, 1, 0, 0);
            let all = free_slots(tz, &windows, &[], dur, year_from, year_to, 0);
            assert_well_formed(&all, dur);
            assert!(all.iter().all(|s| is_slot(tz, &windows, dur, s.start_ms)));
            let mut from = year_from;
            while from < year_to {
                let to = from + 37 * HOUR + 13 * MIN; // awkward, off-day-boundary steps
                let part = free_slots(tz, &windows, &[], dur, from, to, 0);
                let expected: Vec<Slot> = all
                    .iter()
                    .copied()
                    .filter(|s| s.start_ms >= from && s.start_ms < to)
                    .collect();
                assert_eq!(part, expected, "{tz} [{from}, {to})");
                from = to;
            }
        }
    }

    /// A deterministic generator, so the property test is reproducible
    /// without a `rand` dependency.
    struct Lcg(u64);
    impl Lcg {
        fn next(&mut self, bound: i64) -> i64 {
            self.0 = self
                .0
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            ((self.0 >> 33) % bound as u64) as i64
        }
    }

    #[test]
    fn busy_filter_matches_brute_force_over_a_year() {
        let windows = [
            win(Weekday::Mon, "08:00", "12:00"),
            win(Weekday::Mon, "13:00", "17:00"),
            win(Weekday::Wed, "09:00", "18:00"),
            win(Weekday::Sun, "00:00", "04:00"),
        ];
        let from = utc(2026, 1, 1, 0, 0);
        let to = utc(2027, 1, 1, 0, 0);
        let mut rng = Lcg(42);
        let busy: Vec<Busy> = (0..3_000)
            .map(|_| {
                let start_ms = from + rng.next(to - from) / (5 * MIN) * (5 * MIN);
                let end_ms = start_ms + rng.next(4 * HOUR);
                Busy { start_ms, end_ms }
            })
            .collect();
        let all = free_slots(New_York, &windows, &[], 15, from, to, 0);
        let free = free_slots(New_York, &windows, &busy, 15, from, to, 0);
        let expected: Vec<Slot> = all
            .iter()
            .copied()
            .filter(|s| {
                !busy
                    .iter()
                    .any(|b| b.start_ms < s.end_ms && s.start_ms < b.end_ms)
            })
            .collect();
        assert!(free.len() < all.len() && !free.is_empty());
        assert_eq!(free, expected);
    }

    #[test]
    fn a_year_of_quarter_hours_with_three_thousand_busy_intervals() {
        // Monday–Friday 09:00–17:00 in Kolkata (no DST): 32 quarter-hour slots
        // a day. 2026-01-05 is a Monday; 52 weeks give 260 working days.
        let windows: Vec<WeeklyWindow> = [
            Weekday::Mon,
            Weekday::Tue,
            Weekday::Wed,
            Weekday::Thu,
            Weekday::Fri,
        ]
        .into_iter()
        .map(|d| win(d, "09:00", "17:00"))
        .collect();
        assert_eq!(validate_windows(&windows), Ok(()));
        let from = local(Kolkata, 2026, 1, 5, 0, 0);
        let to = from + 52 * 7 * DAY;
        let all = free_slots(Kolkata, &windows, &[], 15, from, to, 0);
        assert_eq!(all.len(), 260 * 32);

        // Every other slot of the first 6,000 gets a one-minute appointment in
        // its middle (3,000 intervals, supplied newest first).
        let busy: Vec<Busy> = all
            .iter()
            .take(6_000)
            .step_by(2)
            .rev()
            .map(|s| Busy {
                start_ms: s.start_ms + 7 * MIN,
                end_ms: s.start_ms + 8 * MIN,
            })
            .collect();
        assert_eq!(busy.len(), 3_000);
        let free = free_slots(Kolkata, &windows, &busy, 15, from, to, 0);
        assert_eq!(free.len(), 260 * 32 - 3_000);
        assert_eq!(free[0], all[1]);
        assert_eq!(free[2_999], all[5_999]);
        assert_eq!(free[3_000], all[6_000]);
    }
}
