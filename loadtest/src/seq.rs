//! Sequence checking: what a subscriber received from one publisher.
//!
//! A publisher numbers its messages 0, 1, 2, ... The tracker remembers every
//! number seen in O(out-of-order messages) memory: a watermark below which
//! everything arrived, plus the few numbers seen above it. In-order delivery,
//! the normal case, keeps the set empty.

use std::collections::BTreeSet;

#[derive(Debug, Default, Clone)]
pub struct SeqTracker {
    /// Every seq below this was seen.
    contiguous: u64,
    /// Seqs above `contiguous` that were seen.
    ahead: BTreeSet<u64>,
    /// Highest seq seen so far, to tell a late arrival from an in-order one.
    max_seen: Option<u64>,
    /// Deliveries of a seq already seen.
    pub duplicates: u64,
    /// First deliveries that arrived after a higher seq.
    pub out_of_order: u64,
}

/// Whether a delivery was new.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    First,
    Duplicate,
}

impl SeqTracker {
    pub fn record(&mut self, seq: u64) -> Seen {
        if seq < self.contiguous || self.ahead.contains(&seq) {
            self.duplicates += 1;
            return Seen::Duplicate;
        }
        if self.max_seen.is_some_and(|m| seq < m) {
            self.out_of_order += 1;
        }
        self.max_seen = Some(self.max_seen.map_or(seq, |m| m.max(seq)));
        if seq == self.contiguous {
            self.contiguous += 1;
            while self.ahead.remove(&self.contiguous) {
                self.contiguous += 1;
            }
        } else {
            self.ahead.insert(seq);
        }
        Seen::First
    }

    /// How many different seqs were seen.
    pub fn distinct(&self) -> u64 {
        self.contiguous + self.ahead.len() as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_order_stream_has_no_anomalies() {
        let mut t = SeqTracker::default();
        for s in 0..1000 {
            assert_eq!(t.record(s), Seen::First);
        }
        assert_eq!(t.distinct(), 1000);
        assert_eq!((t.duplicates, t.out_of_order), (0, 0));
        assert!(t.ahead.is_empty());
    }

    #[test]
    fn gaps_duplicates_and_reordering_are_counted() {
        let mut t = SeqTracker::default();
        for s in [0, 1, 3, 2, 2, 5, 0, 4, 9] {
            t.record(s);
        }
        // Seen: 0..=5 and 9 → 7 distinct; 6, 7, 8 missing out of 10.
        assert_eq!(t.distinct(), 7);
        assert_eq!(t.duplicates, 2);
        // 2 arrived after 3, 4 after 5.
        assert_eq!(t.out_of_order, 2);
        assert_eq!(t.contiguous, 6);
        assert_eq!(t.ahead.iter().copied().collect::<Vec<_>>(), vec![9]);
    }

    #[test]
    fn a_stream_starting_late_is_all_gap() {
        let mut t = SeqTracker::default();
        t.record(10);
        t.record(11);
        assert_eq!(t.distinct(), 2);
        assert_eq!(t.out_of_order, 0);
    }
}
