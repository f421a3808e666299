//! Media quality of live visits: the `visit_stats` figures each placing node
//! publishes (hub/src/visits/stats.rs), also shared on the bus topic `monitor` so the
//! node serving a watcher has them whichever node placed the visit. The latest
//! figures per visit are kept for half a minute.

use std::collections::HashMap;

use serde_json::Value;

/// Figures older than this are dropped (the visit ended or moved).
const KEEP_MS: i64 = 30_000;

/// `good`, `fair` or `poor`, with the console's thresholds (web/js/visit-media.js):
/// poor from 8 % loss or 400 ms round trip, fair from 2 % or 150 ms.
pub fn grade(stats: &Value) -> &'static str {
    let mut loss = stats["packet_loss"].as_f64().unwrap_or(0.0).max(0.0);
    if loss > 1.0 {
        loss /= 100.0;
    }
    let rtt = stats["rtt_ms"].as_f64();
    if loss >= 0.08 || rtt.is_some_and(|r| r >= 400.0) {
        "poor"
    } else if loss >= 0.02 || rtt.is_some_and(|r| r >= 150.0) {
        "fair"
    } else {
        "good"
    }
}

/// Latest participants' figures per visit.
#[derive(Default)]
pub struct QualityBook {
    visits: HashMap<String, (i64, Vec<Value>)>,
}

impl QualityBook {
    pub fn record(&mut self, visit: &str, participants: Vec<Value>, now: i64) {
        self.visits.retain(|_, (at, _)| now - *at <= KEEP_MS);
        self.visits.insert(visit.to_owned(), (now, participants));
    }

    /// The figures of one participant, if fresh.
    pub fn of(&self, visit: &str, participant: &str, now: i64) -> Option<&Value> {
        let (at, list) = self.visits.get(visit)?;
        if now - at > KEEP_MS {
            return None;
        }
        list.iter()
            .find(|p| p["participant"].as_str() == Some(participant))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn grades_follow_the_console() {
        assert_eq!(grade(&json!({"packet_loss": 0.0, "rtt_ms": 20})), "good");
        assert_eq!(grade(&json!({"packet_loss": 0.03})), "fair");
        assert_eq!(grade(&json!({"packet_loss": 0.01, "rtt_ms": 450})), "poor");
        assert_eq!(grade(&json!({"packet_loss": 9.0})), "poor", "a percentage");
    }

    #[test]
    fn stale_figures_are_not_shown() {
        let mut book = QualityBook::default();
        book.record(
            "v",
            vec![json!({"participant": "p", "packet_loss": 0.0})],
            0,
        );
        assert!(book.of("v", "p", 1_000).is_some());
        assert!(book.of("v", "p", KEEP_MS + 1).is_none());
    }
}
