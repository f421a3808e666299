//! SFU forwarding with in-process webrtc clients: two and three participants, leave and
//! rejoin, keyframe requests and stats.

mod common;

use std::time::Duration;

use common::{PROFILES, TestClient, drive_until};
use media::{Room, SfuConfig};

const KINDS: [&str; 2] = ["audio", "video"];

/// Every client has received at least `min` more packets than in `base` from every other
/// client, per kind.
fn all_receive(clients: &[&TestClient], base: &[Vec<u64>], min: u64) -> bool {
    clients.iter().enumerate().all(|(i, rx)| {
        clients.iter().filter(|tx| tx.name != rx.name).all(|tx| {
            KINDS.iter().all(|k| {
                let before = base
                    .get(i)
                    .map(|row| row[key_index(clients, &tx.name, k)])
                    .unwrap_or(0);
                rx.count(&tx.name, k) >= before + min
            })
        })
    })
}

fn key_index(clients: &[&TestClient], name: &str, kind: &str) -> usize {
    let j = clients.iter().position(|c| c.name == name).unwrap();
    j * 2 + usize::from(kind == "video")
}

/// counts[i][j*2+k]: what client i got from client j's kind k.
fn snapshot(clients: &[&TestClient]) -> Vec<Vec<u64>> {
    clients
        .iter()
        .map(|rx| {
            clients
                .iter()
                .flat_map(|tx| KINDS.map(|k| rx.count(&tx.name, k)))
                .collect()
        })
        .collect()
}

fn report(label: &str, clients: &[&TestClient]) {
    for rx in clients {
        let mut line = format!("[{label}] {} received:", rx.name);
        for tx in clients.iter().filter(|tx| tx.name != rx.name) {
            for k in KINDS {
                line += &format!(" {}/{k}={}", tx.name, rx.count(&tx.name, k));
            }
        }
        println!("{line}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_participants_exchange_audio_and_video() {
    let _ = env_logger::builder().is_test(true).try_init();
    let room = Room::new("visit-2", SfuConfig::default());
    let mut a = TestClient::new("alice", PROFILES[0]).await;
    let mut b = TestClient::new("bob", PROFILES[1]).await;
    a.join(&room).await.unwrap();
    b.join(&room).await.unwrap();
    assert!(
        a.wait_connected(Duration::from_secs(10)).await,
        "alice connects"
    );
    assert!(
        b.wait_connected(Duration::from_secs(10)).await,
        "bob connects"
    );

    let ok = drive_until(&room, &[&a, &b], Duration::from_secs(20), || {
        all_receive(&[&a, &b], &[], 100)
    })
    .await;
    report("2p", &[&a, &b]);
    assert!(
        ok,
        "every participant receives every other's audio and video"
    );
    // Different payload types on each client: every packet arrived with the receiving
    // client's own payload type, so the SFU rewrote it per leg.
    assert_eq!(a.wrong_pt.load(std::sync::atomic::Ordering::Relaxed), 0);
    assert_eq!(b.wrong_pt.load(std::sync::atomic::Ordering::Relaxed), 0);

    let stats = room.get_stats().await;
    for s in &stats {
        println!("[2p stats] {}", serde_json::to_string(s).unwrap());
    }
    // Keyframe requests reached the publishers (their outbound-rtp pliCount).
    println!(
        "[2p] PLIs received: alice={} bob={}",
        a.plis_received(),
        b.plis_received()
    );
    assert!(a.plis_received() >= 1, "alice got a PLI");
    assert!(b.plis_received() >= 1, "bob got a PLI");

    // A subscriber's own keyframe request is relayed to the publisher.
    tokio::time::sleep(Duration::from_millis(300)).await; // past the PLI merge interval
    let before = a.plis_received();
    assert!(b.request_keyframe_from("alice").await);
    let relayed = drive_until(&room, &[&a, &b], Duration::from_secs(5), || {
        a.plis_received() > before
    })
    .await;
    assert!(relayed, "bob's PLI reached alice through the SFU");
    println!(
        "[2p] PLIs received after bob's request: alice={}",
        a.plis_received()
    );
    for s in &stats {
        assert_eq!(s.connection_state, "connected");
        assert!(s.packets_in > 0 && s.packets_out > 0, "{s:?}");
        assert!(s.bitrate_in_bps > 0.0 && s.bitrate_out_bps > 0.0, "{s:?}");
        assert_eq!(s.published_tracks, 2);
        assert_eq!(s.subscribed_tracks, 2);
        assert!(s.plis_sent_to_publisher >= 1);
        assert!(s.loss_in < 0.05, "loopback loses nothing: {s:?}");
    }

    a.close().await;
    b.close().await;
    room.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_participants_leave_and_rejoin() {
    let room = Room::new("visit-3", SfuConfig::default());
    let mut a = TestClient::new("host", PROFILES[0]).await;
    let mut b = TestClient::new("patient", PROFILES[1]).await;
    let mut c = TestClient::new("interpreter", PROFILES[2]).await;
    a.join(&room).await.unwrap();
    b.join(&room).await.unwrap();
    // The third joins once the first two are already publishing.
    assert!(
        drive_until(&room, &[&a, &b], Duration::from_secs(20), || all_receive(
            &[&a, &b],
            &[],
            10
        ))
        .await
    );
    c.join(&room).await.unwrap();
    let ok = drive_until(&room, &[&a, &b, &c], Duration::from_secs(20), || {
        all_receive(&[&a, &b, &c], &[], 100)
    })
    .await;
    report("3p", &[&a, &b, &c]);
    assert!(ok, "each of three receives both others' audio and video");
    for cl in [&a, &b, &c] {
        assert_eq!(cl.wrong_pt.load(std::sync::atomic::Ordering::Relaxed), 0);
    }
    assert_eq!(room.live_peer_connections(), 3);

    // The patient leaves.
    b.close().await;
    room.leave("patient").await.unwrap();
    assert!(
        room.leave("patient").await.is_err(),
        "leaving twice is refused"
    );
    // The others get offers without the patient's tracks; afterwards nothing more of the
    // patient's arrives and host/interpreter still hear each other.
    drive_until(&room, &[&a, &c], Duration::from_secs(2), || false).await;
    let from_b = (a.count("patient", "video"), c.count("patient", "audio"));
    let base = snapshot(&[&a, &c]);
    assert!(
        drive_until(&room, &[&a, &c], Duration::from_secs(10), || all_receive(
            &[&a, &c],
            &base,
            30
        ))
        .await,
        "host and interpreter keep receiving each other"
    );
    assert_eq!(
        (a.count("patient", "video"), c.count("patient", "audio")),
        from_b,
        "nothing is forwarded from a participant who left"
    );
    let stats = room.get_stats().await;
    assert_eq!(stats.len(), 2);
    assert!(stats.iter().all(|s| s.subscribed_tracks == 2), "{stats:?}");

    // The patient rejoins (new connection, same participant id).
    let mut b2 = TestClient::new("patient", PROFILES[1]).await;
    b2.join(&room).await.unwrap();
    let base = snapshot(&[&a, &b2, &c]);
    let ok = drive_until(&room, &[&a, &b2, &c], Duration::from_secs(20), || {
        all_receive(&[&a, &b2, &c], &base, 100)
    })
    .await;
    report("rejoin", &[&a, &b2, &c]);
    assert!(
        ok,
        "after rejoining, the patient receives and is received again"
    );
    assert_eq!(b2.wrong_pt.load(std::sync::atomic::Ordering::Relaxed), 0);

    for cl in [&a, &b2, &c] {
        cl.close().await;
    }
    room.close().await;
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while room.live_peer_connections() > 0 && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(room.live_peer_connections(), 0);
    assert_eq!(room.counters().participants(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_refused_and_the_room_survives() {
    let room = Room::new("visit-bad", SfuConfig::default());
    let err = room.join("x", "this is not sdp").await.unwrap_err();
    assert_eq!(err.code(), "invalid_sdp");
    let err = room
        .add_candidate("nobody", media::RTCIceCandidateInit::default())
        .await
        .unwrap_err();
    assert_eq!(err.code(), "unknown_participant");
    assert_eq!(
        room.leave("nobody").await.unwrap_err().code(),
        "unknown_participant"
    );

    let mut a = TestClient::new("alice", PROFILES[0]).await;
    a.join(&room).await.unwrap();
    let dup = TestClient::new("alice", PROFILES[0]).await;
    let offer = dup.pc.create_offer(None).await.unwrap();
    assert_eq!(
        room.join("alice", &offer.sdp).await.unwrap_err().code(),
        "already_joined"
    );
    assert_eq!(
        room.answer("alice", &offer.sdp).await.unwrap_err().code(),
        "no_offer_pending",
        "an answer nobody asked for"
    );
    let garbage = media::RTCIceCandidateInit {
        candidate: "candidate:garbage".into(),
        ..Default::default()
    };
    assert_eq!(
        room.add_candidate("alice", garbage)
            .await
            .unwrap_err()
            .code(),
        "invalid_candidate"
    );
    assert!(
        a.wait_connected(Duration::from_secs(10)).await,
        "alice unharmed"
    );

    // After a refused answer the participant still gets an offer for the change.
    let mut b = TestClient::new("bob", PROFILES[1]).await;
    b.join(&room).await.unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let _first_offer = loop {
        if let Some(offer) = room.take_pending_offer("alice").await.unwrap() {
            break offer;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "an offer for alice (bob's tracks)"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let empty = "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n";
    assert_eq!(
        room.answer("alice", empty).await.unwrap_err().code(),
        "invalid_sdp"
    );
    let again = room.take_pending_offer("alice").await.unwrap();
    let again = again.expect("an offer to answer, again");
    assert!(again.contains("a=msid:bob "), "still offering bob's tracks");
    let answer = a.answer_offer(again).await;
    room.answer("alice", &answer).await.unwrap();
    assert!(
        drive_until(&room, &[&a, &b], Duration::from_secs(15), || a
            .count("bob", "video")
            > 10)
        .await,
        "the renegotiation completed after the refused answer"
    );
    b.close().await;
    dup.close().await;
    a.close().await;
    room.close().await;
    assert_eq!(
        room.join("late", &offer.sdp).await.unwrap_err().code(),
        "room_closed"
    );
}

/// A clinician stays while guests come and go one after another: every guest and the
/// clinician see each other, and each guest's connection is freed when it leaves.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guests_come_and_go_around_a_staying_participant() {
    let room = Room::new("visit-churn", SfuConfig::default());
    let mut host = TestClient::new("clinician", PROFILES[0]).await;
    host.join(&room).await.unwrap();
    for i in 0..6 {
        let name = format!("guest{i}");
        let mut guest = TestClient::new(&name, PROFILES[1 + i % 2]).await;
        guest.join(&room).await.unwrap();
        let base = snapshot(&[&host, &guest]);
        let ok = drive_until(&room, &[&host, &guest], Duration::from_secs(20), || {
            all_receive(&[&host, &guest], &base, 30)
        })
        .await;
        report(&format!("churn {i}"), &[&host, &guest]);
        assert!(ok, "guest {i} and the clinician see each other");
        guest.close().await;
        room.leave(&name).await.unwrap();
        drive_until(&room, &[&host], Duration::from_millis(300), || false).await;
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while room.live_peer_connections() > 1 && std::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(
            room.live_peer_connections(),
            1,
            "guest {i}'s connection freed"
        );
    }
    // Each guest's legs went on the slots the previous guest freed (webrtc 0.21 never removes
    // a transceiver, so without reuse this would be 2 + 2 per guest = 14).
    assert_eq!(host.pc.get_transceivers().await.len(), 4, "client side");
    let stats = room.get_stats().await;
    assert_eq!(stats[0].transceivers, 4, "SFU side: {stats:?}");
    host.close().await;
    room.close().await;
}

/// Freed leg slots are reused: the clinician's m-lines grow to what the busiest moment needed
/// (two guests at once: 2 own + 4 slots) and no further while guests keep coming and going,
/// and keyframe requests on a reused slot still reach the right publisher.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn freed_slots_are_reused_up_to_the_busiest_moment() {
    let room = Room::new("visit-slots", SfuConfig::default());
    let mut host = TestClient::new("clinician", PROFILES[0]).await;
    host.join(&room).await.unwrap();
    let mut a = TestClient::new("guest-a", PROFILES[1]).await;
    let mut b = TestClient::new("guest-b", PROFILES[2]).await;
    a.join(&room).await.unwrap();
    b.join(&room).await.unwrap();
    assert!(
        drive_until(&room, &[&host, &a, &b], Duration::from_secs(20), || {
            all_receive(&[&host, &a, &b], &[], 10)
        })
        .await,
        "three see each other"
    );
    assert_eq!(host.pc.get_transceivers().await.len(), 6);
    for (c, name) in [(&a, "guest-a"), (&b, "guest-b")] {
        c.close().await;
        room.leave(name).await.unwrap();
    }
    drive_until(&room, &[&host], Duration::from_millis(300), || false).await;

    for i in 0..3 {
        let name = format!("later{i}");
        let mut guest = TestClient::new(&name, PROFILES[1 + i % 2]).await;
        guest.join(&room).await.unwrap();
        assert!(
            drive_until(&room, &[&host, &guest], Duration::from_secs(20), || {
                all_receive(&[&host, &guest], &[], 10)
            })
            .await,
            "{name} and the clinician see each other"
        );
        assert_eq!(
            host.wrong_pt.load(std::sync::atomic::Ordering::Relaxed),
            0,
            "the reused slot's payload type is the clinician's"
        );
        // The clinician's keyframe request for the guest on a reused slot reaches that guest
        // (feedback is matched by SSRC: the slot's track id has changed since it was created).
        tokio::time::sleep(Duration::from_millis(300)).await; // past the PLI merge interval
        let before = guest.plis_received();
        assert!(host.request_keyframe_from(&name).await);
        assert!(
            drive_until(&room, &[&host, &guest], Duration::from_secs(5), || {
                guest.plis_received() > before
            })
            .await,
            "the clinician's PLI reached {name}"
        );
        let stats = room.get_stats().await;
        let clinician = stats.iter().find(|s| s.participant == "clinician").unwrap();
        assert_eq!(clinician.transceivers, 6, "no new m-lines: {clinician:?}");
        assert_eq!(clinician.subscribed_tracks, 2);
        guest.close().await;
        room.leave(&name).await.unwrap();
        drive_until(&room, &[&host], Duration::from_millis(200), || false).await;
    }
    assert_eq!(host.pc.get_transceivers().await.len(), 6, "client side");
    host.close().await;
    room.close().await;
}
