//! How connections are spread: over server URLs, over local source addresses,
//! and over worker processes. Pure functions of the connection index, so a
//! worker process computes the same assignment as the coordinator without
//! being sent a table.

use std::net::Ipv4Addr;
use std::ops::Range;

/// Connections per source address we plan for. Linux hands out ~28,000
/// ephemeral ports (32768–60999) per source address and destination; we stay
/// well under so a few sockets in TIME_WAIT from the previous run do not make
/// `connect` fail.
pub const CONNECTIONS_PER_SOURCE: usize = 20_000;

/// File descriptors a process keeps for itself (stdio, epoll, the runtime,
/// the HTTP client during setup) besides one per connection.
pub const FD_RESERVE: u64 = 128;

/// Which server URL connection `index` uses: round-robin.
pub fn url_index(index: usize, urls: usize) -> usize {
    index % urls.max(1)
}

/// How many source addresses `connections` need (at least 1, at most 254).
pub fn auto_source_count(connections: usize) -> usize {
    connections.div_ceil(CONNECTIONS_PER_SOURCE).clamp(1, 254)
}

/// The `n` loopback source addresses 127.0.0.1 … 127.0.0.n. All of 127/8 is
/// local on Linux, so no interface setup is needed.
pub fn source_addresses(n: usize) -> Vec<Ipv4Addr> {
    (1..=n.clamp(1, 254))
        .map(|i| Ipv4Addr::new(127, 0, 0, i as u8))
        .collect()
}

/// Which source address connection `index` binds to: round-robin, so every
/// address carries the same number of connections.
pub fn source_index(index: usize, sources: usize) -> usize {
    index % sources.max(1)
}

/// Splits `0..total` into `workers` contiguous slices of near-equal size.
pub fn worker_ranges(total: usize, workers: usize) -> Vec<Range<usize>> {
    let workers = workers.max(1);
    (0..workers)
        .map(|w| (w * total / workers)..((w + 1) * total / workers))
        .collect()
}

/// Worker processes needed so that none needs more descriptors than the hard
/// limit allows (a process cannot raise its hard limit without
/// CAP_SYS_RESOURCE).
pub fn auto_workers(connections: usize, nofile_hard: u64) -> usize {
    let per_process = nofile_hard.saturating_sub(FD_RESERVE).max(1);
    (connections as u64).div_ceil(per_process).max(1) as usize
}

/// The WebSocket URL of a hub node given its base URL:
/// `http://h:p` → `ws://h:p/ws` (`https` → `wss`); a `ws://` URL is kept.
pub fn hub_ws_url(base: &str) -> String {
    let base = base.trim_end_matches('/');
    if base.starts_with("ws://") || base.starts_with("wss://") {
        return base.to_string();
    }
    let rest = base
        .strip_prefix("http://")
        .map(|r| format!("ws://{r}"))
        .or_else(|| base.strip_prefix("https://").map(|r| format!("wss://{r}")))
        .unwrap_or_else(|| format!("ws://{base}"));
    format!("{rest}/ws")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_round_robin() {
        let picks: Vec<_> = (0..6).map(|i| url_index(i, 3)).collect();
        assert_eq!(picks, [0, 1, 2, 0, 1, 2]);
        assert_eq!(url_index(5, 0), 0);
    }

    #[test]
    fn fifty_thousand_connections_need_three_sources() {
        assert_eq!(auto_source_count(0), 1);
        assert_eq!(auto_source_count(20_000), 1);
        assert_eq!(auto_source_count(20_001), 2);
        assert_eq!(auto_source_count(50_000), 3);
        assert_eq!(auto_source_count(100_000_000), 254);
    }

    #[test]
    fn sources_are_loopback_and_evenly_loaded() {
        let s = source_addresses(3);
        assert_eq!(
            s,
            [
                Ipv4Addr::new(127, 0, 0, 1),
                Ipv4Addr::new(127, 0, 0, 2),
                Ipv4Addr::new(127, 0, 0, 3)
            ]
        );
        let mut load = [0usize; 3];
        for i in 0..50_000 {
            load[source_index(i, 3)] += 1;
        }
        assert!(load.iter().all(|&n| n <= CONNECTIONS_PER_SOURCE));
        assert!(load.iter().max().unwrap() - load.iter().min().unwrap() <= 1);
    }

    #[test]
    fn worker_ranges_cover_everything_once() {
        for (total, workers) in [(50_000, 3), (10, 4), (3, 5), (0, 2), (7, 1)] {
            let ranges = worker_ranges(total, workers);
            assert_eq!(ranges.len(), workers);
            assert_eq!(ranges[0].start, 0);
            assert_eq!(ranges.last().unwrap().end, total);
            for pair in ranges.windows(2) {
                assert_eq!(pair[0].end, pair[1].start);
            }
            let sizes: Vec<_> = ranges.iter().map(|r| r.len()).collect();
            assert!(sizes.iter().max().unwrap() - sizes.iter().min().unwrap() <= 1);
        }
    }

    #[test]
    fn workers_follow_the_hard_limit() {
        assert_eq!(auto_workers(10_000, 20_000), 1);
        assert_eq!(auto_workers(50_000, 20_000), 3);
        assert_eq!(auto_workers(50_000, 1_048_576), 1);
        assert_eq!(auto_workers(5, 0), 5);
    }

    #[test]
    fn hub_urls_become_ws_urls() {
        assert_eq!(
            hub_ws_url("http://127.0.0.1:8080"),
            "ws://127.0.0.1:8080/ws"
        );
        assert_eq!(
            hub_ws_url("http://127.0.0.1:8080/"),
            "ws://127.0.0.1:8080/ws"
        );
        assert_eq!(
            hub_ws_url("https://hub.example:443"),
            "wss://hub.example:443/ws"
        );
        assert_eq!(hub_ws_url("ws://127.0.0.1:9/ws"), "ws://127.0.0.1:9/ws");
        assert_eq!(hub_ws_url("127.0.0.1:8080"), "ws://127.0.0.1:8080/ws");
    }
}
