//! The SFU's trickled ICE candidates name an m-line of the SDP they belong to (webrtc 0.21
//! reports them with `sdpMid: ""`, which a browser resolving candidates by mid may drop).

mod common;

use std::time::{Duration, Instant};

use common::{PROFILES, TestClient};
use media::{Room, SfuConfig};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trickled_sfu_candidates_name_an_m_line_of_the_answer() {
    let room = Room::new("visit-mid", SfuConfig::default());
    let client = TestClient::new("alice", PROFILES[0]).await;
    let answer = room.join("alice", &client.offer().await).await.unwrap();
    let mids: Vec<String> = answer
        .lines()
        .filter_map(|l| l.trim_end().strip_prefix("a=mid:"))
        .map(str::to_owned)
        .collect();
    assert_eq!(mids.len(), 2, "an audio and a video m-line: {answer}");

    let deadline = Instant::now() + Duration::from_secs(5);
    let candidates = loop {
        let pending = room.take_pending("alice").await.unwrap();
        if !pending.candidates.is_empty() {
            break pending.candidates;
        }
        assert!(Instant::now() < deadline, "the SFU trickles its candidates");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    for c in &candidates {
        let mid = c.sdp_mid.as_deref().expect("sdpMid");
        let index = mids
            .iter()
            .position(|m| m == mid)
            .unwrap_or_else(|| panic!("sdpMid {mid:?} names no m-line of {mids:?}"));
        assert_eq!(c.sdp_mline_index, Some(index as u16), "{c:?}");
        // The wire form a browser receives in `visit_signal`.
        let json = serde_json::to_value(c).unwrap();
        assert_eq!(json["sdpMid"], mid);
    }

    // The client takes them once it has the answer.
    client.apply_answer(answer).await;
    for c in candidates {
        client
            .pc
            .add_ice_candidate(c)
            .await
            .expect("candidate applies");
    }
    client.close().await;
    room.close().await;
}
