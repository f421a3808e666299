//! The iCalendar (RFC 5545) feed: a user's appointments for calendar apps, at a
//! secret URL the user can rotate or revoke.
//!
//! Calendar apps copy feeds into third-party clouds, so events carry no patient
//! name or reason: only "Appointment", the type and the organization's name are
//! shown, and the details stay behind login in the hub.

use chrono::{DateTime, Utc};

use crate::store::scheduling::AppointmentRow;

/// One event of the feed.
pub struct FeedEvent<'a> {
    pub appointment: &'a AppointmentRow,
    pub type_name: &'a str,
    pub org_name: &'a str,
}

/// Escapes TEXT values (RFC 5545 §3.3.11).
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            ';' => out.push_str("\\;"),
            ',' => out.push_str("\\,"),
            '\n' => out.push_str("\\n"),
            '\r' => {}
            c => out.push(c),
        }
    }
    out
}

/// Appends a content line folded at 75 octets (§3.1), never inside a UTF-8
/// sequence, ending with CRLF.
fn push_line(out: &mut String, line: &str) {
    let mut width = 0;
    for c in line.chars() {
        let len = c.len_utf8();
        if width + len > 75 {
            out.push_str("\r\n ");
            width = 1;
        }
        out.push(c);
        width += len;
    }
    out.push_str("\r\n");
}

fn utc(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .unwrap_or_default()
        .format("%Y%m%dT%H%M%SZ")
        .to_string()
}

/// Renders the feed. `now_ms` stamps every event (DTSTAMP).
pub fn render(events: &[FeedEvent<'_>], now_ms: i64, host: &str) -> String {
    let mut out = String::new();
    for line in [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//HealthBridge//Appointments//EN",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
        "X-WR-CALNAME:HealthBridge appointments",
    ] {
        push_line(&mut out, line);
    }
    for e in events {
        let a = e.appointment;
        let cancelled = a.status == "cancelled";
        push_line(&mut out, "BEGIN:VEVENT");
        push_line(&mut out, &format!("UID:{}@{}", a.id, escape(host)));
        push_line(&mut out, &format!("DTSTAMP:{}", utc(now_ms)));
        push_line(&mut out, &format!("DTSTART:{}", utc(a.starts_at)));
        push_line(&mut out, &format!("DTEND:{}", utc(a.ends_at)));
        push_line(
            &mut out,
            &format!(
                "SUMMARY:{}",
                escape(&format!("Appointment: {}", e.type_name))
            ),
        );
        push_line(&mut out, &format!("LOCATION:{}", escape(e.org_name)));
        push_line(
            &mut out,
            if cancelled {
                "STATUS:CANCELLED"
            } else {
                "STATUS:CONFIRMED"
            },
        );
        // A cancellation must supersede the earlier copy a client holds.
        push_line(&mut out, &format!("SEQUENCE:{}", u8::from(cancelled)));
        push_line(&mut out, "END:VEVENT");
    }
    push_line(&mut out, "END:VCALENDAR");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn appointment(status: &str) -> AppointmentRow {
        AppointmentRow {
            id: "a1".into(),
            org_id: "o".into(),
            provider_id: "p".into(),
            patient_id: "x".into(),
            type_id: "t".into(),
            starts_at: 1_805_115_600_000,
            ends_at: 1_805_117_400_000,
            status: status.into(),
            reason: Some("chest pain".into()),
            booked_by: "x".into(),
            booked_at: 0,
            cancelled_by: None,
            cancelled_at: None,
            cancel_reason: None,
            rescheduled_from: None,
        }
    }

    #[test]
    fn renders_events_with_crlf_and_no_clinical_detail() {
        let a = appointment("booked");
        let feed = render(
            &[FeedEvent {
                appointment: &a,
                type_name: "Follow-up, video",
                org_name: "Riverside; Cardiology",
            }],
            0,
            "hub.example.org",
        );
        assert!(feed.starts_with("BEGIN:VCALENDAR\r\nVERSION:2.0\r\n"));
        assert!(feed.ends_with("END:VCALENDAR\r\n"));
        assert!(feed.contains("DTSTART:20270315T130000Z\r\n"));
        assert!(feed.contains("DTEND:20270315T133000Z\r\n"));
        assert!(feed.contains("SUMMARY:Appointment: Follow-up\\, video\r\n"));
        assert!(feed.contains("LOCATION:Riverside\\; Cardiology\r\n"));
        assert!(feed.contains("UID:a1@hub.example.org\r\n"));
        assert!(
            !feed.contains("chest pain"),
            "the reason stays out of the feed"
        );
        assert!(feed.split("\r\n").all(|l| !l.contains('\n')));
    }

    #[test]
    fn cancelled_events_say_so_and_supersede() {
        let a = appointment("cancelled");
        let feed = render(
            &[FeedEvent {
                appointment: &a,
                type_name: "x",
                org_name: "y",
            }],
            0,
            "h",
        );
        assert!(feed.contains("STATUS:CANCELLED\r\nSEQUENCE:1\r\n"));
    }

    #[test]
    fn long_lines_fold_at_75_octets_without_splitting_characters() {
        let mut out = String::new();
        let line = format!("SUMMARY:{}", "é".repeat(100));
        push_line(&mut out, &line);
        for physical in out.trim_end_matches("\r\n").split("\r\n") {
            assert!(physical.len() <= 75, "{} octets", physical.len());
        }
        let unfolded = out.trim_end_matches("\r\n").replace("\r\n ", "");
        assert_eq!(unfolded, line);
    }
}
