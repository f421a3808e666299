//! Packet loss of one received RTP stream, from its sequence numbers.
//!
//! A subscriber cannot know what the publisher sent, but RTP numbers every packet: the number
//! of sequence numbers spanned in a window, minus the packets that arrived in it, is what was
//! lost on the way (RFC 3550 A.3, "expected" minus "received"). Sequence numbers are 16-bit;
//! they are extended with a wrap count so a window may span any number of wraps. Late
//! (reordered) packets count as received in the window they arrive in; duplicates are rare
//! on loopback and not told apart, which can only hide loss, never invent it.

use std::time::Instant;

/// What one subscriber has received of one publisher's stream.
#[derive(Debug, Clone, Default)]
pub struct StreamLoss {
    /// Packets received.
    pub received: u64,
    /// Highest extended sequence number seen (`None` before the first packet).
    highest: Option<u64>,
    /// The first packet's extended sequence number.
    base: u64,
    /// When the first packet arrived.
    pub first_at: Option<Instant>,
}

/// A stream's counters at one moment, to subtract from a later one.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LossMark {
    pub received: u64,
    pub highest: Option<u64>,
    pub base: u64,
}

/// Loss over a window: packets expected (sequence numbers spanned) and received.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct LossCount {
    pub expected: u64,
    pub received: u64,
}

impl LossCount {
    pub fn lost(&self) -> u64 {
        self.expected.saturating_sub(self.received)
    }

    /// Lost / expected (0 when nothing was expected).
    pub fn fraction(&self) -> f64 {
        if self.expected == 0 {
            0.0
        } else {
            self.lost() as f64 / self.expected as f64
        }
    }

    pub fn add(&mut self, other: LossCount) {
        self.expected += other.expected;
        self.received += other.received;
    }
}

impl StreamLoss {
    /// Records one packet with RTP sequence number `seq`, arriving at `at`.
    pub fn record(&mut self, seq: u16, at: Instant) {
        self.received += 1;
        self.first_at.get_or_insert(at);
        self.highest = Some(match self.highest {
            None => {
                // Start one wrap up, so a reordered packet from before the first one still
                // extends to a number, not below zero.
                self.base = 0x1_0000 + u64::from(seq);
                self.base
            }
            Some(h) => {
                let ext = extend(h, seq);
                ext.max(h)
            }
        });
    }

    pub fn mark(&self) -> LossMark {
        LossMark {
            received: self.received,
            highest: self.highest,
            base: self.base,
        }
    }
}

/// Loss between two marks of the same stream. A stream that received nothing before `from`
/// counts from its first packet.
pub fn between(from: LossMark, to: LossMark) -> LossCount {
    let received = to.received.saturating_sub(from.received);
    let expected = match (from.highest, to.highest) {
        (Some(a), Some(b)) => b.saturating_sub(a),
        // The stream started inside the window: from its first packet.
        (None, Some(b)) => b + 1 - to.base,
        _ => 0,
    };
    LossCount { expected, received }
}

/// The extended sequence number of `seq` nearest to `highest` (the wrap it most likely
/// belongs to: within half the 16-bit space).
fn extend(highest: u64, seq: u16) -> u64 {
    let cycle = highest & !0xFFFF;
    let candidate = cycle | u64::from(seq);
    let delta = candidate as i64 - highest as i64;
    if delta > 0x8000 && cycle > 0 {
        candidate - 0x1_0000
    } else if delta < -0x8000 {
        candidate + 0x1_0000
    } else {
        candidate
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(s: &mut StreamLoss, seqs: impl IntoIterator<Item = u16>) {
        let now = Instant::now();
        for q in seqs {
            s.record(q, now);
        }
    }

    #[test]
    fn no_loss_in_order() {
        let mut s = StreamLoss::default();
        feed(&mut s, 100..200);
        let a = s.mark();
        feed(&mut s, 200..1200);
        let c = between(a, s.mark());
        assert_eq!(
            c,
            LossCount {
                expected: 1000,
                received: 1000
            }
        );
        assert_eq!(c.fraction(), 0.0);
    }

    #[test]
    fn gaps_are_losses_across_the_wrap() {
        let mut s = StreamLoss::default();
        feed(&mut s, 65000..65100);
        let a = s.mark();
        // 65100..=65535 and 0..600, every 10th missing.
        let seqs: Vec<u16> = (65100u32..65536 + 600)
            .filter(|q| q % 10 != 0)
            .map(|q| (q & 0xFFFF) as u16)
            .collect();
        feed(&mut s, seqs.iter().copied());
        let c = between(a, s.mark());
        assert_eq!(c.received, seqs.len() as u64);
        // The last one sent was 599 (after the wrap): 1036 spanned.
        assert_eq!(c.expected, 65536 + 599 - 65099);
        assert!((c.fraction() - 0.1).abs() < 0.01, "{c:?}");
    }

    #[test]
    fn reordering_is_not_loss() {
        let mut s = StreamLoss::default();
        feed(&mut s, [10, 11]);
        let a = s.mark();
        feed(&mut s, [13, 12, 15, 14, 16]);
        let c = between(a, s.mark());
        assert_eq!(
            c,
            LossCount {
                expected: 5,
                received: 5
            }
        );
    }

    #[test]
    fn a_stream_starting_in_the_window_counts_from_its_first_packet() {
        let mut s = StreamLoss::default();
        let a = s.mark();
        feed(&mut s, [500, 501, 503]);
        let c = between(a, s.mark());
        assert_eq!(c.received, 3);
        assert_eq!(c.expected, 4);
        assert!(s.first_at.is_some());
    }
}
