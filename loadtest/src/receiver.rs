//! The receiving side of a connection: which probes of its room it got.

use crate::outcome::ConnOutcome;
use crate::seq::{Seen, SeqTracker};

/// What a receiving connection has seen, per publisher of its room.
pub struct Receiver {
    trackers: Vec<SeqTracker>,
    fins: Vec<bool>,
    fins_seen: usize,
}

impl Receiver {
    pub fn new(publishers: u32) -> Self {
        Self {
            trackers: vec![SeqTracker::default(); publishers as usize],
            fins: vec![false; publishers as usize],
            fins_seen: 0,
        }
    }

    /// Message `seq` of `publisher`, sent at `t_ns`, arrived at `now_ns`.
    /// Returns its latency in ns when it is a first delivery.
    pub fn data(
        &mut self,
        publisher: u32,
        seq: u64,
        t_ns: u64,
        now_ns: u64,
        out: &mut ConnOutcome,
    ) -> Option<u64> {
        // A publisher outside the room's range is not ours: ignore it.
        let tracker = self.trackers.get_mut(publisher as usize)?;
        if tracker.record(seq) == Seen::Duplicate {
            return None;
        }
        out.deliveries += 1;
        out.first_delivery_ns.get_or_insert(now_ns);
        out.last_delivery_ns = Some(now_ns);
        Some(now_ns.saturating_sub(t_ns))
    }

    /// `publisher` says it is done.
    pub fn fin(&mut self, publisher: u32) {
        if let Some(seen) = self.fins.get_mut(publisher as usize)
            && !*seen
        {
            *seen = true;
            self.fins_seen += 1;
        }
    }

    /// Every publisher of the room is done.
    pub fn done(&self) -> bool {
        self.fins_seen == self.fins.len()
    }

    /// Writes the sequence counts into `out`.
    pub fn finish(&self, room: usize, out: &mut ConnOutcome) {
        out.received = Some((room, self.trackers.iter().map(SeqTracker::distinct).sum()));
        out.duplicates = self.trackers.iter().map(|t| t.duplicates).sum();
        out.out_of_order = self.trackers.iter().map(|t| t.out_of_order).sum();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_first_deliveries_and_fins_per_publisher() {
        let mut out = ConnOutcome::default();
        let mut r = Receiver::new(2);
        let mut latencies = Vec::new();
        for (publisher, seq) in [(0, 0), (1, 0), (0, 1), (0, 1), (1, 2), (1, 1), (7, 0)] {
            latencies.extend(r.data(publisher, seq, 1_000, 3_000_000, &mut out));
        }
        r.fin(1);
        r.fin(1);
        assert!(!r.done());
        r.fin(0);
        assert!(r.done());
        r.finish(4, &mut out);
        assert_eq!(out.deliveries, 5);
        assert_eq!(out.received, Some((4, 5)));
        assert_eq!((out.duplicates, out.out_of_order), (1, 1));
        assert_eq!(latencies, [2_999_000; 5]);
    }
}
