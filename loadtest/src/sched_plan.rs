//! Pure planning for the scheduling benchmarks: which slots to book, which
//! windows to search, who contends for which slot. Deterministic for a seed,
//! so the loaded and the empty provider get exactly the same searches.

use rand::rngs::StdRng;
use rand::seq::index;
use rand::{Rng, SeedableRng};

pub const DAY_MS: i64 = 86_400_000;

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// `2027-03-15T13:00:00Z` for a UTC instant in milliseconds (seconds precision).
pub fn rfc3339(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let (y, mo, d) = civil_from_days(secs.div_euclid(86_400));
    let s = secs.rem_euclid(86_400);
    format!(
        "{y:04}-{mo:02}-{d:02}T{:02}:{:02}:{:02}Z",
        s / 3600,
        s % 3600 / 60,
        s % 60
    )
}

/// Milliseconds of a UTC instant as the hub writes it (`2027-03-15T13:00:00.000Z`
/// or without the fraction). Offsets other than `Z` are not accepted.
pub fn parse_utc(s: &str) -> Option<i64> {
    let s = s.strip_suffix('Z')?;
    let (date, time) = s.split_once('T')?;
    let mut d = date.split('-').map(|p| p.parse::<i64>().ok());
    let (y, mo, dd) = (d.next()??, d.next()??, d.next()??);
    let (hms, frac) = time.split_once('.').unwrap_or((time, "0"));
    let mut t = hms.split(':').map(|p| p.parse::<i64>().ok());
    let (h, mi, se) = (t.next()??, t.next()??, t.next()??);
    let frac_ms: i64 = format!("{frac:0<3}").get(0..3)?.parse().ok()?;
    Some(((days_from_civil(y, mo, dd) * 24 + h) * 60 + mi) * 60_000 + se * 1000 + frac_ms)
}

/// The next UTC midnight strictly after `now_ms`.
pub fn next_midnight(now_ms: i64) -> i64 {
    (now_ms.div_euclid(DAY_MS) + 1) * DAY_MS
}

/// Chooses `round(n × fill)` distinct indices of `0..n`, sorted.
pub fn choose_fill(n: usize, fill: f64, seed: u64) -> Vec<usize> {
    let k = ((n as f64) * fill.clamp(0.0, 1.0)).round() as usize;
    let mut rng = StdRng::seed_from_u64(seed);
    let mut v = index::sample(&mut rng, n, k.min(n)).into_vec();
    v.sort_unstable();
    v
}

/// One slot search: `[from, to)` in UTC ms, and its length in days.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub from_ms: i64,
    pub to_ms: i64,
    pub days: i64,
}

/// `m` windows inside `[start, start + span_days)`, each `lengths[k]` days
/// long (chosen uniformly), starting at a random minute.
pub fn search_windows(
    m: usize,
    start_ms: i64,
    span_days: i64,
    lengths: &[i64],
    seed: u64,
) -> Vec<Window> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..m)
        .map(|_| {
            let days = lengths[rng.gen_range(0..lengths.len())].min(span_days);
            let room_min = (span_days - days) * 24 * 60;
            let from_ms = start_ms + rng.gen_range(0..=room_min) * 60_000;
            Window {
                from_ms,
                to_ms: from_ms + days * DAY_MS,
                days,
            }
        })
        .collect()
}

/// Clients that contend for the same slots: `members` (patient indices) all
/// try each of `slots` (slot indices) at the same moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub members: Vec<usize>,
    pub slots: Vec<usize>,
}

/// Splits `patients` into groups of `contention`; slot k goes to group
/// k mod groups, so every slot is attempted by exactly `contention` clients.
pub fn contention_groups(
    patients: usize,
    contention: usize,
    slots: usize,
) -> anyhow::Result<Vec<Group>> {
    anyhow::ensure!(
        contention >= 1 && patients >= contention && patients.is_multiple_of(contention),
        "--patients must be a positive multiple of --contention"
    );
    let groups = patients / contention;
    Ok((0..groups)
        .map(|g| Group {
            members: (g * contention..(g + 1) * contention).collect(),
            slots: (g..slots).step_by(groups).collect(),
        })
        .collect())
}

/// No contention: slot k goes to patient k mod patients alone.
pub fn spread_slots(patients: usize, slots: usize) -> Vec<Vec<usize>> {
    let mut out = vec![Vec::new(); patients.max(1)];
    for k in 0..slots {
        out[k % patients.max(1)].push(k);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_and_parses_utc() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        // 2027-03-15T13:00:00Z
        let ms = 1_805_115_600_000;
        assert_eq!(rfc3339(ms), "2027-03-15T13:00:00Z");
        assert_eq!(parse_utc("2027-03-15T13:00:00.000Z"), Some(ms));
        assert_eq!(parse_utc("2027-03-15T13:00:00Z"), Some(ms));
        assert_eq!(parse_utc("2028-02-29T23:59:59.5Z"), Some(1_835_481_599_500));
        assert_eq!(rfc3339(1_835_481_599_500), "2028-02-29T23:59:59Z");
        assert_eq!(parse_utc("2027-03-15T13:00:00+01:00"), None);
        for day in [-1000i64, 0, 10_000, 20_000, 25_000] {
            let ms = day * DAY_MS + 3_723_000;
            assert_eq!(parse_utc(&rfc3339(ms)), Some(ms));
        }
        assert_eq!(next_midnight(ms + 5), ms - 13 * 3_600_000 + DAY_MS);
    }

    #[test]
    fn fill_is_deterministic_distinct_and_sized() {
        let a = choose_fill(5220, 0.7, 7);
        assert_eq!(a.len(), 3654);
        assert_eq!(a, choose_fill(5220, 0.7, 7));
        assert_ne!(a, choose_fill(5220, 0.7, 8));
        assert!(a.windows(2).all(|w| w[0] < w[1]));
        assert!(*a.last().unwrap() < 5220);
        assert_eq!(choose_fill(10, 1.0, 1), (0..10).collect::<Vec<_>>());
        assert!(choose_fill(10, 0.0, 1).is_empty());
    }

    #[test]
    fn windows_stay_inside_the_year() {
        let start = 1_800_000_000_000 / DAY_MS * DAY_MS;
        let w = search_windows(1000, start, 364, &[7, 31], 3);
        assert_eq!(w, search_windows(1000, start, 364, &[7, 31], 3));
        let end = start + 364 * DAY_MS;
        assert!(w.iter().all(|w| w.from_ms >= start && w.to_ms <= end));
        assert!(w.iter().all(|w| w.to_ms - w.from_ms == w.days * DAY_MS));
        let sevens = w.iter().filter(|w| w.days == 7).count();
        assert!(sevens > 400 && sevens < 600, "{sevens}");
        assert!(w.iter().all(|w| w.days == 7 || w.days == 31));
        assert!(w.iter().all(|w| (w.from_ms - start) % 60_000 == 0));
    }

    #[test]
    fn every_slot_is_contested_by_exactly_the_contention() {
        let groups = contention_groups(64, 8, 100).unwrap();
        assert_eq!(groups.len(), 8);
        let mut seen = vec![0; 100];
        let mut members = Vec::new();
        for g in &groups {
            assert_eq!(g.members.len(), 8);
            members.extend(g.members.iter().copied());
            for &s in &g.slots {
                seen[s] += 1;
            }
        }
        assert!(seen.iter().all(|&n| n == 1));
        members.sort_unstable();
        assert_eq!(members, (0..64).collect::<Vec<_>>());
        assert!(contention_groups(60, 8, 10).is_err());
        assert!(contention_groups(4, 8, 10).is_err());
        assert_eq!(contention_groups(8, 8, 3).unwrap()[0].slots, vec![0, 1, 2]);
    }

    #[test]
    fn spread_gives_each_slot_to_one_patient() {
        let s = spread_slots(64, 130);
        assert_eq!(s.len(), 64);
        assert_eq!(s.iter().map(Vec::len).sum::<usize>(), 130);
        assert_eq!(s[0], vec![0, 64, 128]);
        assert_eq!(s[63], vec![63, 127]);
        assert_eq!(s[1], vec![1, 65, 129]);
    }
}
