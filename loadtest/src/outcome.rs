//! What connections and workers found, and how it adds up.
//!
//! `ConnOutcome` is one connection's tally; a worker folds its connections
//! into a `Partial`, which is what travels (as JSON) from a worker process to
//! the coordinator, where partials are merged again.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::stats::HistData;

/// Error counts by stable code (`connect:AddrNotAvailable`,
/// `publish:rate_limited`, `closed_4004`, ...).
pub type Errors = BTreeMap<String, u64>;

pub fn count(errors: &mut Errors, code: &str) {
    match errors.get_mut(code) {
        Some(n) => *n += 1,
        None => {
            errors.insert(code.to_string(), 1);
        }
    }
}

fn min_opt(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

fn max_opt(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

/// One connection's tally.
#[derive(Debug, Default)]
pub struct ConnOutcome {
    pub established: bool,
    pub errors: Errors,
    /// First deliveries of probe messages (duplicates excluded).
    pub deliveries: u64,
    pub duplicates: u64,
    pub out_of_order: u64,
    pub first_delivery_ns: Option<u64>,
    pub last_delivery_ns: Option<u64>,
    /// For a receiving connection: its room and how many different messages
    /// it got; compared with what the room's publishers got accepted.
    pub received: Option<(usize, u64)>,
    /// Publish requests sent (probes only, not the fin marker).
    pub published: u64,
    /// Publishes acknowledged (hub: `reply`; raw: own echo).
    pub acked: u64,
    /// Publishes refused with an `error` frame.
    pub publish_errors: u64,
    pub first_send_ns: Option<u64>,
    pub last_send_ns: Option<u64>,
    /// For a publishing connection: its room and how many of its messages
    /// every member of the room should receive (sent minus refused).
    pub accepted: Option<(usize, u64)>,
}

impl ConnOutcome {
    pub fn error(&mut self, code: &str) {
        count(&mut self.errors, code);
    }
}

/// A worker's tally (or, after merging, the whole run's).
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct Partial {
    pub requested: u64,
    pub established: u64,
    pub errors: Errors,
    pub deliveries: u64,
    pub duplicates: u64,
    pub out_of_order: u64,
    pub first_delivery_ns: Option<u64>,
    pub last_delivery_ns: Option<u64>,
    /// Delivery latency, µs.
    pub latency: HistData,
    /// Publish round trip, µs.
    pub rtt: HistData,
    pub published: u64,
    pub acked: u64,
    pub publish_errors: u64,
    pub first_send_ns: Option<u64>,
    pub last_send_ns: Option<u64>,
    /// Messages each room's members should each have received.
    pub accepted_by_room: BTreeMap<usize, u64>,
    /// `(room, distinct messages received)` per receiving connection.
    pub receivers: Vec<(usize, u64)>,
}

impl Partial {
    /// Adds one connection's tally (histograms are recorded separately).
    pub fn absorb(&mut self, c: ConnOutcome) {
        self.requested += 1;
        self.established += u64::from(c.established);
        for (code, n) in c.errors {
            *self.errors.entry(code).or_default() += n;
        }
        self.deliveries += c.deliveries;
        self.duplicates += c.duplicates;
        self.out_of_order += c.out_of_order;
        self.first_delivery_ns = min_opt(self.first_delivery_ns, c.first_delivery_ns);
        self.last_delivery_ns = max_opt(self.last_delivery_ns, c.last_delivery_ns);
        if let Some(r) = c.received {
            self.receivers.push(r);
        }
        self.published += c.published;
        self.acked += c.acked;
        self.publish_errors += c.publish_errors;
        self.first_send_ns = min_opt(self.first_send_ns, c.first_send_ns);
        self.last_send_ns = max_opt(self.last_send_ns, c.last_send_ns);
        if let Some((room, n)) = c.accepted {
            *self.accepted_by_room.entry(room).or_default() += n;
        }
    }

    /// Adds another worker's partial. Histogram buckets are concatenated:
    /// recording them all into one histogram sums equal buckets.
    pub fn merge(&mut self, o: Partial) {
        self.latency.0.extend(o.latency.0);
        self.rtt.0.extend(o.rtt.0);
        self.requested += o.requested;
        self.established += o.established;
        for (code, n) in o.errors {
            *self.errors.entry(code).or_default() += n;
        }
        self.deliveries += o.deliveries;
        self.duplicates += o.duplicates;
        self.out_of_order += o.out_of_order;
        self.first_delivery_ns = min_opt(self.first_delivery_ns, o.first_delivery_ns);
        self.last_delivery_ns = max_opt(self.last_delivery_ns, o.last_delivery_ns);
        self.receivers.extend(o.receivers);
        self.published += o.published;
        self.acked += o.acked;
        self.publish_errors += o.publish_errors;
        self.first_send_ns = min_opt(self.first_send_ns, o.first_send_ns);
        self.last_send_ns = max_opt(self.last_send_ns, o.last_send_ns);
        for (room, n) in o.accepted_by_room {
            *self.accepted_by_room.entry(room).or_default() += n;
        }
    }

    /// `(expected deliveries, missing, receivers with something missing)`:
    /// each receiver should have every accepted message of its room.
    pub fn missing(&self) -> (u64, u64, u64) {
        let mut expected = 0;
        let mut missing = 0;
        let mut short = 0;
        for &(room, got) in &self.receivers {
            let want = self.accepted_by_room.get(&room).copied().unwrap_or(0);
            expected += want;
            let m = want.saturating_sub(got);
            missing += m;
            short += u64::from(m > 0);
        }
        (expected, missing, short)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_is_counted_per_receiver_against_its_room() {
        let mut p = Partial::default();
        p.absorb(ConnOutcome {
            established: true,
            accepted: Some((0, 100)),
            ..Default::default()
        });
        p.absorb(ConnOutcome {
            established: true,
            accepted: Some((1, 10)),
            ..Default::default()
        });
        for (room, got) in [(0, 100), (0, 97), (1, 10), (1, 12)] {
            p.absorb(ConnOutcome {
                established: true,
                received: Some((room, got)),
                ..Default::default()
            });
        }
        // 3 missing in room 0; a receiver with more than expected (a publish
        // whose reply was lost but which was stored) is not negative.
        assert_eq!(p.missing(), (220, 3, 1));
    }

    #[test]
    fn merging_partials_adds_counts_and_keeps_extremes() {
        let mut a = Partial::default();
        let mut c = ConnOutcome {
            established: true,
            deliveries: 5,
            first_delivery_ns: Some(10),
            last_delivery_ns: Some(20),
            ..Default::default()
        };
        c.error("connect:TimedOut");
        a.absorb(c);
        let mut b = Partial::default();
        let mut c = ConnOutcome {
            deliveries: 7,
            first_delivery_ns: Some(5),
            last_delivery_ns: Some(15),
            accepted: Some((0, 3)),
            ..Default::default()
        };
        c.error("connect:TimedOut");
        c.error("auth:invalid_token");
        b.absorb(c);
        let json = serde_json::to_string(&b).unwrap();
        a.merge(serde_json::from_str(&json).unwrap());
        assert_eq!((a.requested, a.established, a.deliveries), (2, 1, 12));
        assert_eq!(
            (a.first_delivery_ns, a.last_delivery_ns),
            (Some(5), Some(20))
        );
        assert_eq!(a.errors["connect:TimedOut"], 2);
        assert_eq!(a.errors["auth:invalid_token"], 1);
        assert_eq!(a.accepted_by_room[&0], 3);
    }
}
