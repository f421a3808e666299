//! Closed participants are freed: N participants join, exchange media, and leave in
//! sequence; the SFU's live peer connections and participants return to zero every time, and
//! the process RSS stops growing after warm-up.
//!
//! `live_peer_connections` is decremented by a guard owned by each connection's event handler,
//! which only the connection's core holds: it reaches zero only if webrtc really dropped the
//! connection (webrtc-rs issue 906 was an Arc cycle that kept it alive forever).
//!
//! Its own test binary, so no other test's connections share the process RSS.

mod common;

use std::time::{Duration, Instant};

use common::{PROFILES, TestClient, drive_until, rss_bytes};
use media::{Room, SfuConfig};

const PARTICIPANTS: usize = 50;
const WARM_UP: usize = 10;
/// Allowed RSS growth from the end of warm-up to the end (allocator slack, not a leak: a leak
/// of one connection per participant would be several hundred KiB each).
const RSS_BOUND: u64 = 12 * 1024 * 1024;

async fn wait_freed(room: &Room) -> (usize, usize) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let live = (room.live_peer_connections(), room.counters().participants());
        if live == (0, 0) || Instant::now() > deadline {
            return live;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closed_participants_are_freed() {
    let room = Room::new("soak", SfuConfig::default());
    let mut rss_after_warm_up = 0;
    let mut samples = Vec::new();
    let started = Instant::now();
    // Two at a time, so each has someone to exchange media with: N participants in N/2 pairs,
    // repeated until N have joined twice over (2N in all).
    for i in 0..PARTICIPANTS {
        let (na, nb) = (format!("p{i}a"), format!("p{i}b"));
        let mut a = TestClient::new(&na, PROFILES[i % 3]).await;
        let mut b = TestClient::new(&nb, PROFILES[(i + 1) % 3]).await;
        a.join(&room).await.unwrap();
        b.join(&room).await.unwrap();
        assert_eq!(room.live_peer_connections(), 2);
        let exchanged = drive_until(&room, &[&a, &b], Duration::from_secs(15), || {
            ["audio", "video"]
                .iter()
                .all(|k| a.count(&nb, k) >= 10 && b.count(&na, k) >= 10)
        })
        .await;
        assert!(exchanged, "pair {i} exchanged media");
        a.close().await;
        b.close().await;
        room.leave(&na).await.unwrap();
        room.leave(&nb).await.unwrap();
        drop((a, b));
        let live = wait_freed(&room).await;
        assert_eq!(
            live,
            (0, 0),
            "after pair {i}: (peer connections, participants) still live"
        );
        let rss = rss_bytes();
        samples.push(rss);
        if i + 1 == WARM_UP {
            rss_after_warm_up = rss;
        }
    }
    let end = *samples.last().unwrap();
    println!(
        "leak check: {} participants ({PARTICIPANTS} pairs) in {:.1}s; RSS after warm-up {:.1} MiB, at end {:.1} MiB, growth {:+.1} MiB",
        PARTICIPANTS * 2,
        started.elapsed().as_secs_f64(),
        rss_after_warm_up as f64 / 1048576.0,
        end as f64 / 1048576.0,
        (end as f64 - rss_after_warm_up as f64) / 1048576.0
    );
    println!(
        "RSS per pair (MiB): {:?}",
        samples
            .iter()
            .map(|b| (*b as f64 / 1048576.0 * 10.0).round() / 10.0)
            .collect::<Vec<_>>()
    );
    assert!(
        end <= rss_after_warm_up + RSS_BOUND,
        "RSS grew {} bytes after warm-up",
        end - rss_after_warm_up
    );
    // The second half does not grow more than the first (no steady per-participant growth).
    let mid = samples[WARM_UP + (PARTICIPANTS - WARM_UP) / 2];
    assert!(
        end.saturating_sub(mid) <= RSS_BOUND / 2,
        "RSS keeps growing: {mid} -> {end}"
    );
    room.close().await;
}
