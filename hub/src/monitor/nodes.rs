//! Node health across the cluster, as this node sees it: every node heartbeats into
//! `gateway_nodes` (gateway presence) and shares its census on the bus topic
//! `monitor`. A node that was seen and whose heartbeat stopped (or whose row the
//! survivors swept) is `dead`; one that said it was shutting down is `leaving`, then
//! `left`. A node started less than a minute ago is `joining`. Gone nodes are kept
//! in view for ten minutes, so a watcher sees the loss rather than a row vanishing.

use std::collections::BTreeMap;

use super::census::NodeCensus;

/// How long a node counts as joining after it started.
const JOINING_MS: i64 = 60_000;
/// How long a gone node stays in view.
const KEEP_GONE_MS: i64 = 10 * 60_000;
/// A node known only from its census (never seen heartbeating) is forgotten once its
/// census is this old: it went away before its first heartbeat was read.
const CENSUS_ONLY_MS: i64 = 30_000;

/// Why a node is gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gone {
    /// It shut down cleanly.
    Left,
    /// Its heartbeat stopped without a word.
    Dead,
}

/// What this node knows of one node.
#[derive(Debug, Clone, Default)]
pub struct NodeSeen {
    pub started_at: i64,
    /// Last heartbeat written to the database (0: not seen there yet).
    pub heartbeat_at: i64,
    /// Its latest census and when it arrived.
    pub census: Option<(NodeCensus, i64)>,
    /// It announced a shutdown.
    pub leaving: bool,
    /// Gone, since when and how.
    pub gone: Option<(i64, Gone)>,
}

impl NodeSeen {
    /// `joining`, `up`, `leaving`, `left` or `dead`.
    pub fn status(&self, now: i64) -> &'static str {
        match self.gone {
            Some((_, Gone::Left)) => "left",
            Some((_, Gone::Dead)) => "dead",
            None if self.leaving => "leaving",
            None if now - self.started_at < JOINING_MS => "joining",
            None => "up",
        }
    }
}

/// Every node seen, by id.
#[derive(Debug, Default)]
pub struct NodeBook {
    pub nodes: BTreeMap<String, NodeSeen>,
}

impl NodeBook {
    /// Takes the database's heartbeat rows: nodes whose heartbeat is not after
    /// `alive_after`, or whose row is gone, are gone.
    pub fn heartbeats(&mut self, rows: &[(String, i64, i64)], alive_after: i64, now: i64) {
        for (id, started_at, heartbeat_at) in rows {
            let seen = self.nodes.entry(id.clone()).or_default();
            seen.started_at = *started_at;
            seen.heartbeat_at = *heartbeat_at;
            if *heartbeat_at > alive_after {
                if seen.gone.is_some() {
                    // Back (a stall, not a death): it is whatever it says now.
                    seen.gone = None;
                    seen.leaving = false;
                }
            } else {
                mark_gone(seen, now);
            }
        }
        for (id, seen) in &mut self.nodes {
            let in_rows = rows.iter().any(|(row, ..)| row == id);
            if !in_rows && seen.heartbeat_at > 0 {
                mark_gone(seen, now);
            }
        }
        self.nodes.retain(|_, seen| {
            let long_gone = matches!(seen.gone, Some((at, _)) if now - at > KEEP_GONE_MS);
            let never_beat = seen.heartbeat_at == 0
                && seen
                    .census
                    .as_ref()
                    .is_none_or(|(_, at)| now - at > CENSUS_ONLY_MS);
            !long_gone && !never_beat
        });
    }

    /// Another node's (or this node's) census arrived on the bus.
    pub fn census(&mut self, node: &str, started_at: i64, census: NodeCensus, now: i64) {
        let seen = self.nodes.entry(node.to_owned()).or_default();
        if seen.started_at == 0 {
            seen.started_at = started_at;
        }
        seen.census = Some((census, now));
    }

    /// The node said it is shutting down.
    pub fn leaving(&mut self, node: &str) {
        if let Some(seen) = self.nodes.get_mut(node) {
            seen.leaving = true;
        }
    }

    /// The node finished shutting down (its heartbeat row is deleted).
    pub fn left(&mut self, node: &str, now: i64) {
        if let Some(seen) = self.nodes.get_mut(node) {
            seen.leaving = true;
            mark_gone(seen, now);
        }
    }
}

fn mark_gone(seen: &mut NodeSeen, now: i64) {
    if seen.gone.is_none() {
        let how = if seen.leaving { Gone::Left } else { Gone::Dead };
        seen.gone = Some((now, how));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_silent_node_is_dead_and_one_that_said_goodbye_left() {
        let mut book = NodeBook::default();
        let now = 1_000_000;
        book.heartbeats(
            &[
                ("a".into(), 0, now),
                ("b".into(), 0, now),
                ("c".into(), now - 5_000, now),
            ],
            now - 3_000,
            now,
        );
        assert_eq!(book.nodes["a"].status(now), "up");
        assert_eq!(book.nodes["c"].status(now), "joining");
        book.leaving("b");
        assert_eq!(book.nodes["b"].status(now), "leaving");
        // `a` stops heartbeating; `b`'s row is deleted at its clean shutdown.
        let later = now + 4_000;
        book.heartbeats(
            &[("a".into(), 0, now), ("c".into(), 0, later)],
            later - 3_000,
            later,
        );
        assert_eq!(book.nodes["a"].status(later), "dead");
        assert_eq!(book.nodes["b"].status(later), "left");
        // Swept rows stay gone; after ten minutes they are forgotten.
        book.heartbeats(&[("c".into(), 0, later)], later - 3_000, later + 1);
        assert_eq!(book.nodes["a"].status(later), "dead");
        let much_later = later + KEEP_GONE_MS + 1;
        book.heartbeats(
            &[("c".into(), 0, much_later)],
            much_later - 3_000,
            much_later,
        );
        assert!(!book.nodes.contains_key("a"));
    }

    #[test]
    fn a_node_known_only_from_its_census_is_forgotten_when_the_census_stops() {
        let mut book = NodeBook::default();
        book.census("d", 0, NodeCensus::default(), 0);
        book.heartbeats(&[], -3_000, 1_000);
        assert_eq!(book.nodes["d"].status(1_000), "joining");
        book.heartbeats(&[], 0, CENSUS_ONLY_MS + 1);
        assert!(!book.nodes.contains_key("d"));
    }
}
