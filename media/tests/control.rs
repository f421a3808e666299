//! The ZeroMQ control socket over `inproc://`: a room driven entirely by JSON requests, two
//! webrtc clients exchanging media through it, and bad requests refused with stable codes.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{PROFILES, TestClient};
use media::control::{ControlClient, ControlServer, Request};
use media::{Sfu, SfuConfig};
use serde_json::{Value, json};

fn ok(reply: &Value) -> &Value {
    assert_eq!(reply["ok"], json!(true), "request failed: {reply}");
    reply
}

fn code(reply: &Value) -> &str {
    assert_eq!(reply["ok"], json!(false), "expected a refusal: {reply}");
    reply["error"]["code"].as_str().unwrap()
}

#[test]
fn room_lifecycle_over_inproc() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    // The test clients spawn their publishing tasks onto this runtime.
    let _entered = rt.enter();
    let sfu = Arc::new(Sfu::new(SfuConfig::default()));
    let ctx = zmq::Context::new();
    let server = ControlServer::start(
        &ctx,
        "inproc://media",
        Arc::clone(&sfu),
        rt.handle().clone(),
    )
    .unwrap();
    let client = ControlClient::connect(&ctx, "inproc://media", 10_000).unwrap();
    let call = |r: Request| client.call(&r).unwrap();

    ok(&call(Request::CreateRoom { room: "v-1".into() }));
    assert_eq!(
        code(&call(Request::CreateRoom { room: "v-1".into() })),
        "room_exists"
    );

    // Two participants join with offers made by real webrtc clients.
    let mut host = rt.block_on(TestClient::new("host", PROFILES[0]));
    let mut patient = rt.block_on(TestClient::new("patient", PROFILES[1]));
    for c in [&mut host, &mut patient] {
        let offer = rt.block_on(c.offer());
        let reply = call(Request::Join {
            room: "v-1".into(),
            participant: c.name.clone(),
            offer,
        });
        let answer = ok(&reply)["answer"].as_str().unwrap().to_owned();
        assert!(
            answer.contains("a=candidate:"),
            "the SFU's answer carries its candidates"
        );
        rt.block_on(c.apply_answer(answer));
        for candidate in rt.block_on(c.gathered_candidates()) {
            ok(&call(Request::Candidate {
                room: "v-1".into(),
                participant: c.name.clone(),
                candidate,
            }));
        }
        c.start_publishing();
    }

    // Renegotiation over the socket until each receives the other's audio and video.
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut offers = 0;
    loop {
        for c in [&host, &patient] {
            let reply = call(Request::Pending {
                room: "v-1".into(),
                participant: c.name.clone(),
            });
            if let Some(offer) = ok(&reply)["offer"].as_str() {
                offers += 1;
                let answer = rt.block_on(c.answer_offer(offer.to_owned()));
                ok(&call(Request::Answer {
                    room: "v-1".into(),
                    participant: c.name.clone(),
                    answer,
                }));
            }
        }
        let done = ["audio", "video"]
            .iter()
            .all(|k| host.count("patient", k) >= 50 && patient.count("host", k) >= 50);
        if done {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "media did not flow through the SFU"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    println!(
        "[control] offers answered: {offers}; host got patient audio={} video={}; patient got host audio={} video={}",
        host.count("patient", "audio"),
        host.count("patient", "video"),
        patient.count("host", "audio"),
        patient.count("host", "video")
    );

    let stats = call(Request::Stats { room: "v-1".into() });
    println!("[control] stats: {stats}");
    let participants = ok(&stats)["participants"].as_array().unwrap();
    assert_eq!(participants.len(), 2);
    for p in participants {
        assert!(p["packets_in"].as_u64().unwrap() > 0);
        assert!(p["packets_out"].as_u64().unwrap() > 0);
    }
    let load = call(Request::Load);
    assert_eq!(ok(&load)["peer_connections"], json!(2));

    // Bad input: refused, room unharmed.
    assert_eq!(code(&client.call_raw(b"{not json").unwrap()), "bad_request");
    assert_eq!(
        code(&client.call_raw(br#"{"op":"explode"}"#).unwrap()),
        "bad_request"
    );
    assert_eq!(
        code(&client.call_raw(br#"{"op":"leave","room":"v-1"}"#).unwrap()),
        "bad_request",
        "missing field"
    );
    assert_eq!(
        code(&call(Request::Join {
            room: "v-404".into(),
            participant: "x".into(),
            offer: "v=0".into()
        })),
        "unknown_room"
    );
    assert_eq!(
        code(&call(Request::Join {
            room: "v-1".into(),
            participant: "mallory".into(),
            offer: "not sdp".into()
        })),
        "invalid_sdp"
    );
    assert_eq!(
        code(&call(Request::Candidate {
            room: "v-1".into(),
            participant: "ghost".into(),
            candidate: Default::default()
        })),
        "unknown_participant"
    );
    assert_eq!(
        code(&call(Request::Answer {
            room: "v-1".into(),
            participant: "host".into(),
            answer: "v=0\r\n".into()
        })),
        "invalid_sdp"
    );
    let before = host.count("patient", "video");
    std::thread::sleep(Duration::from_millis(300));
    assert!(host.count("patient", "video") > before, "media still flows");

    // Leave, close.
    ok(&call(Request::Leave {
        room: "v-1".into(),
        participant: "patient".into(),
    }));
    assert_eq!(
        code(&call(Request::Leave {
            room: "v-1".into(),
            participant: "patient".into()
        })),
        "unknown_participant"
    );
    ok(&call(Request::CloseRoom { room: "v-1".into() }));
    assert_eq!(
        code(&call(Request::Stats { room: "v-1".into() })),
        "unknown_room"
    );
    rt.block_on(async {
        host.close().await;
        patient.close().await;
        let deadline = Instant::now() + Duration::from_secs(5);
        while sfu.counters().peer_connections() > 0 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    });
    let load = call(Request::Load);
    assert_eq!(ok(&load)["peer_connections"], json!(0));
    assert_eq!(load["participants"], json!(0));
    assert_eq!(load["rooms"], json!(0));
    server.stop();
}

#[test]
fn tcp_endpoint_reports_its_port() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let ctx = zmq::Context::new();
    let sfu = Arc::new(Sfu::new(SfuConfig::default()));
    let server = ControlServer::start(&ctx, "tcp://127.0.0.1:0", sfu, rt.handle().clone()).unwrap();
    assert!(server.endpoint().starts_with("tcp://127.0.0.1:"));
    assert!(!server.endpoint().ends_with(":0"));
    let client = ControlClient::connect(&zmq::Context::new(), server.endpoint(), 5_000).unwrap();
    let reply = client.call(&Request::Load).unwrap();
    assert_eq!(reply["ok"], json!(true));
    assert_eq!(reply["rooms"], json!(0));
}
