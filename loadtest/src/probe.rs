//! The body of every message the load test publishes.
//!
//! `lt1 <publisher> <seq> <t_ns>` for a measured message, `lt1 <publisher> fin`
//! for the "I am done" marker that lets receivers stop early.
//!
//! Why not JSON: on the hub the body travels as a JSON *string* inside the
//! event, so a JSON body would arrive escaped (`{\"seq\":1}`) and the receiver
//! would have to allocate to unescape it. Digits and spaces need no escaping:
//! the receiver borrows the body straight out of the frame and parses three
//! integers.

use std::fmt::Write;

const MAGIC: &str = "lt1";

/// A parsed probe body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Probe {
    /// Message `seq` (from 0) of `publisher`, sent at `t_ns` (see `clock`).
    Data { publisher: u32, seq: u64, t_ns: u64 },
    /// `publisher` has sent everything it will send.
    Fin { publisher: u32 },
}

/// Appends the body of a data message to `buf`.
pub fn write_data(buf: &mut String, publisher: u32, seq: u64, t_ns: u64) {
    // Writing into a String cannot fail.
    let _ = write!(buf, "{MAGIC} {publisher} {seq} {t_ns}");
}

/// Appends the body of a fin message to `buf`.
pub fn write_fin(buf: &mut String, publisher: u32) {
    let _ = write!(buf, "{MAGIC} {publisher} fin");
}

/// Parses a body; `None` for anything that is not a probe (other traffic in
/// the room is ignored, not counted as an error).
pub fn parse(body: &str) -> Option<Probe> {
    let mut parts = body.split(' ');
    if parts.next()? != MAGIC {
        return None;
    }
    let publisher = parts.next()?.parse().ok()?;
    let third = parts.next()?;
    if third == "fin" {
        return parts.next().is_none().then_some(Probe::Fin { publisher });
    }
    let seq = third.parse().ok()?;
    let t_ns = parts.next()?.parse().ok()?;
    parts.next().is_none().then_some(Probe::Data {
        publisher,
        seq,
        t_ns,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_round_trips() {
        let mut s = String::new();
        write_data(&mut s, 7, 42, 1_700_000_000_123_456_789);
        assert_eq!(s, "lt1 7 42 1700000000123456789");
        assert_eq!(
            parse(&s),
            Some(Probe::Data {
                publisher: 7,
                seq: 42,
                t_ns: 1_700_000_000_123_456_789
            })
        );
    }

    #[test]
    fn fin_round_trips() {
        let mut s = String::new();
        write_fin(&mut s, 3);
        assert_eq!(parse(&s), Some(Probe::Fin { publisher: 3 }));
    }

    #[test]
    fn foreign_bodies_are_not_probes() {
        for body in [
            "",
            "BP stable",
            "lt1",
            "lt1 1",
            "lt1 x 1 2",
            "lt1 1 2",
            "lt1 1 2 3 4",
            "lt2 1 2 3",
            "lt1 1 fin extra",
            "lt1 -1 2 3",
        ] {
            assert_eq!(parse(body), None, "{body:?}");
        }
    }
}
