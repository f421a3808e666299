//! Soak: a host stays in one room for the whole run and publishes audio and video while 200
//! participants join and leave one after another. Every joiner must really exchange media
//! with the host (each receives the other's audio and video through the SFU) before it leaves.
//!
//! At the end the SFU's live peer connections are back to the start value (the host's one),
//! checked after every leave too: the count is kept by a guard inside each connection's event
//! handler, so it only drops when webrtc really freed the connection (webrtc-rs issue 906 was
//! an Arc cycle that kept closed connections alive; `leak.rs` and `handler_cycle.rs` explain
//! the check). The process RSS after the run is within [`RSS_BOUND`] of its value after the
//! warm-up, plus what the in-process host *client* is known to keep per remote track
//! ([`host_client_allowance`]). The host's connection does not grow by two m-lines per
//! joiner: freed transceivers are reused (`media::sfu` slots), so its SDP stays the same size.
//! (Before slots, the same run ended with 402 m-lines on the host's connection, joins slowing
//! from 0.6 to 1.0 s each, and 31 MiB of growth.)
//!
//! `SOAK_JOINERS=n` runs a shorter soak (for development); the default is the full 200.
//! Its own test binary, so no other test's connections share the process RSS.

mod common;

use std::time::{Duration, Instant};

use common::{PROFILES, TestClient, rss_bytes};
use media::{Room, SfuConfig};

const JOINERS: usize = 200;
const WARM_UP: usize = 20;
/// Packets of each kind each side must receive from the other before the joiner leaves.
const MIN_PACKETS: u64 = 5;
/// Allowed RSS growth (the whole test process: SFU and in-process clients) from the end of
/// warm-up to the end, beyond [`host_client_allowance`]. A leaked connection costs several
/// hundred KiB, so 180 leaked joiners would be far above it; what remains is allocator slack.
const RSS_BOUND: u64 = 8 * 1024 * 1024;
/// Transceivers the host may have: its own two plus one audio and one video slot for the one
/// joiner present at a time (a little slack for a slot freed and not yet reused).
const HOST_TRANSCEIVERS_MAX: usize = 6;

/// What the in-process *host client* keeps per joiner, by design of webrtc 0.21's receiving
/// side, not the SFU's: its driver keeps every remote track it has seen (a 256-slot event
/// channel each, never closed before the connection is) and the test client keeps a handle to
/// each. Each joiner's two legs reach the host under new track ids (see `media::sfu` slots), so
/// that is two channels per joiner. A browser keeps one receiver per m-line instead.
fn host_client_allowance(joiners: usize) -> u64 {
    let slot = std::mem::size_of::<webrtc::media_stream::track_remote::TrackRemoteEvent>() + 8;
    (joiners * 2 * 256 * slot) as u64
}

/// Services the SFU's pending offers for `clients` until `done` holds or `timeout` passes,
/// polling faster than `common::drive_until` so that a join takes as little wall time as the
/// media path allows.
async fn drive(
    room: &Room,
    clients: &[&TestClient],
    timeout: Duration,
    mut done: impl FnMut() -> bool,
) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        for c in clients {
            c.service(room).await;
        }
        if done() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Waits until the room's live peer connections are `want` (or 5 s passed); the count then.
async fn wait_live(room: &Room, want: usize) -> usize {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let live = room.live_peer_connections();
        if live == want || Instant::now() > deadline {
            return live;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_joiners_around_a_staying_host() {
    let joiners = std::env::var("SOAK_JOINERS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(JOINERS);
    let _ = env_logger::builder().is_test(true).try_init();
    let room = Room::new("soak", SfuConfig::default());
    let mut host = TestClient::new("host", PROFILES[0]).await;
    host.join(&room).await.unwrap();
    assert!(
        host.wait_connected(Duration::from_secs(10)).await,
        "host connects"
    );
    let start_live = room.live_peer_connections();
    assert_eq!(start_live, 1);

    let started = Instant::now();
    let mut rss_after_warm_up = None;
    let mut join_ms = Vec::with_capacity(joiners);
    let mut host_transceivers_max = 0;
    let mut sfu_host_transceivers_max = 0;
    for i in 0..joiners {
        let name = format!("j{i}");
        let t0 = Instant::now();
        let mut guest = TestClient::new(&name, PROFILES[1 + i % 2]).await;
        guest.join(&room).await.unwrap();
        let ok = drive(&room, &[&host, &guest], Duration::from_secs(20), || {
            ["audio", "video"].iter().all(|k| {
                host.count(&name, k) >= MIN_PACKETS && guest.count("host", k) >= MIN_PACKETS
            })
        })
        .await;
        assert!(
            ok,
            "joiner {i} and the host exchange audio and video (host got audio {} video {}, \
             joiner got audio {} video {})",
            host.count(&name, "audio"),
            host.count(&name, "video"),
            guest.count("host", "audio"),
            guest.count("host", "video")
        );
        join_ms.push(t0.elapsed().as_secs_f64() * 1000.0);
        for s in room.get_stats().await {
            if s.participant == "host" {
                sfu_host_transceivers_max = sfu_host_transceivers_max.max(s.transceivers);
            }
        }
        host_transceivers_max = host_transceivers_max.max(host.pc.get_transceivers().await.len());

        guest.close().await;
        room.leave(&name).await.unwrap();
        drop(guest);
        assert_eq!(
            wait_live(&room, start_live).await,
            start_live,
            "joiner {i}'s connection freed"
        );
        // The host answers the offer that takes the joiner's tracks away.
        drive(&room, &[&host], Duration::from_millis(0), || true).await;
        if i + 1 == WARM_UP {
            rss_after_warm_up = Some(rss_bytes());
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    let end = rss_bytes();
    let base = rss_after_warm_up.unwrap_or(end);
    let allowance = host_client_allowance(joiners.saturating_sub(WARM_UP));
    let mut sorted = join_ms.clone();
    sorted.sort_by(f64::total_cmp);
    let pct = |q: f64| sorted[((sorted.len() - 1) as f64 * q).round() as usize];
    let tail = &join_ms[join_ms.len().saturating_sub(20)..];
    let mib = |b: f64| b / 1048576.0;
    println!(
        "soak: {joiners} joiners in {elapsed:.1}s; join→media both ways p50 {:.0} ms, p99 {:.0} ms, \
         last 20 avg {:.0} ms; host transceivers max {host_transceivers_max} (client side), \
         {sfu_host_transceivers_max} (SFU side); RSS after warm-up {:.1} MiB, at end {:.1} MiB, \
         growth {:+.1} MiB, of which the host client's track bookkeeping {:.1} MiB",
        pct(0.5),
        pct(0.99),
        tail.iter().sum::<f64>() / tail.len() as f64,
        mib(base as f64),
        mib(end as f64),
        mib(end as f64 - base as f64),
        mib(allowance as f64),
    );

    assert_eq!(room.live_peer_connections(), start_live);
    assert_eq!(room.counters().participants(), 1, "only the host is left");
    assert!(
        host_transceivers_max <= HOST_TRANSCEIVERS_MAX
            && sfu_host_transceivers_max <= HOST_TRANSCEIVERS_MAX,
        "the host's m-lines stay bounded: {host_transceivers_max} (client), \
         {sfu_host_transceivers_max} (SFU)"
    );
    assert!(
        end <= base + allowance + RSS_BOUND,
        "RSS grew {:.1} MiB after warm-up ({:.1} MiB expected of the host client)",
        mib(end as f64 - base as f64),
        mib(allowance as f64)
    );
    assert_eq!(
        host.wrong_pt.load(std::sync::atomic::Ordering::Relaxed),
        0,
        "every packet reached the host with its own payload type"
    );
    // The host still receives nothing stale and still works: it is alone and connected.
    let stats = room.get_stats().await;
    assert_eq!(stats.len(), 1);
    assert_eq!(stats[0].connection_state, "connected");
    assert_eq!(stats[0].subscribed_tracks, 0);

    host.close().await;
    room.close().await;
    assert_eq!(wait_live(&room, 0).await, 0, "the host's connection freed");
}
