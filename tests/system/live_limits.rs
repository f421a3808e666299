//! The gateway under bad input and abuse: every mistake gets its error or close
//! code, nothing is stored, and other sockets are unaffected. A client that
//! stops reading is cut off instead of growing the server's memory.

use futures_util::SinkExt;
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;

use crate::{
    live::care_team,
    support::{
        TestApp, backends,
        ws::{self, Ws},
    },
};

#[tokio::test]
async fn bad_frames_get_errors_and_change_nothing() {
    for backend in backends() {
        let app = TestApp::spawn_with(backend, |c| {
            c.gateway.max_frame_bytes = 2048;
            c.gateway.messages_per_second = 2;
            c.gateway.flood_frames_per_second = 40;
            c.gateway.auth_timeout_secs = 1;
            c.gateway.max_body_chars = 100;
            c.gateway.max_rooms_per_connection = 1;
        })
        .await;
        let (_, users, room) = care_team(&app).await;
        let room_id = room["id"].as_str().unwrap();

        // Authentication: silence, a wrong first frame, a bad token.
        let mut s = ws::open(&app.base).await;
        assert_eq!(ws::close_code(&mut s).await, Some(4001), "no auth frame");
        let mut s = ws::open(&app.base).await;
        s.send(Message::Text(r#"{"id":1,"type":"ping"}"#.into()))
            .await
            .unwrap();
        assert_eq!(
            ws::close_code(&mut s).await,
            Some(4001),
            "first frame not auth"
        );
        assert_eq!(
            Ws::try_connect(&app.base, "not-a-token").await.err(),
            Some(Some(4001))
        );

        // A bystander in the room must see nothing but the one valid message.
        let mut bystander = Ws::connect(&app.base, &users[1].1).await;
        bystander.ok("subscribe", json!({ "room": room_id })).await;

        let mut w = Ws::connect(&app.base, &users[0].1).await;
        w.send_text("{not json".into()).await;
        let e = w.next_frame().await.unwrap();
        assert_eq!(
            (
                e["type"].as_str(),
                e["error"]["code"].as_str(),
                e["id"].is_null()
            ),
            (Some("error"), Some("malformed_json"), true)
        );
        let cases = [
            (json!({ "id": 2, "type": "launch" }), "unknown_type"),
            (json!({ "id": 3, "type": "subscribe" }), "invalid_request"),
            (
                json!({ "id": 4, "type": "subscribe", "room": "../../etc" }),
                "room_not_found",
            ),
            (
                json!({ "id": 5, "type": "subscribe", "room": uuid::Uuid::new_v4().to_string() }),
                "room_not_found",
            ),
            (
                json!({ "id": 6, "type": "publish", "room": uuid::Uuid::new_v4().to_string(), "client_id": "c", "body": "x" }),
                "room_not_found",
            ),
            (
                json!({ "id": 7, "type": "publish", "room": room_id, "client_id": "c 1", "body": "x" }),
                "invalid_client_id",
            ),
            (
                json!({ "id": 8, "type": "publish", "room": room_id, "client_id": "c2", "body": "x".repeat(101) }),
                "invalid_body",
            ),
            (
                json!({ "id": 9, "type": "publish", "room": room_id, "client_id": "c3", "body": "   " }),
                "invalid_body",
            ),
            (
                json!({ "id": 10, "type": "typing", "room": room_id }),
                "not_subscribed",
            ),
            (
                json!({ "id": 11, "type": "auth", "token": "x" }),
                "already_authenticated",
            ),
            (
                json!({ "id": 12, "type": "refresh", "token": &users[1].1 }),
                "invalid_token",
            ),
            (
                json!({ "id": 13, "type": "edit", "room": room_id, "message_id": uuid::Uuid::new_v4().to_string(), "body": "y" }),
                "message_not_found",
            ),
            (
                json!({ "id": 14, "type": "read", "room": room_id, "offset": 0 }),
                "invalid_request",
            ),
            (json!({ "id": "x", "type": "ping" }), "invalid_request"),
        ];
        for (frame, code) in cases {
            w.send_text(frame.to_string()).await;
            let answer = w.next_frame().await.unwrap();
            assert_eq!(answer["error"]["code"], code, "{frame} → {answer}");
        }
        w.stream
            .send(Message::Binary(vec![1, 2, 3].into()))
            .await
            .unwrap();
        assert_eq!(
            w.next_frame().await.unwrap()["error"]["code"],
            "unsupported_frame"
        );
        // Subscription limit (1 room here).
        w.ok("subscribe", json!({ "room": room_id })).await;
        let e = w
            .request(
                "subscribe",
                json!({ "room": uuid::Uuid::new_v4().to_string() }),
            )
            .await
            .unwrap_err();
        assert_eq!(e["code"], "too_many_rooms");
        // Publish rate: a burst of two seconds' worth, then refusals.
        let mut limited = 0;
        for n in 0..8 {
            if let Err(e) = w
                .request(
                    "publish",
                    json!({ "room": room_id, "client_id": format!("r{n}"), "body": "ok" }),
                )
                .await
            {
                assert_eq!(e["code"], "rate_limited");
                limited += 1;
            }
        }
        // The burst is 4 (2/s); refills while the test runs make the split vary.
        let accepted = 8 - limited;
        assert!(limited >= 3 && accepted >= 1, "{limited} limited");
        // Still usable after all of that.
        w.ok("ping", json!({})).await;
        let stored: Vec<(i64, String)> = sqlx::query_as("SELECT seq, kind FROM room_events")
            .fetch_all(app.state.store.pool())
            .await
            .unwrap();
        assert_eq!(stored.len(), accepted, "{stored:?}");

        // An oversized frame closes with 1009.
        w.send_text(format!(
            r#"{{"id":99,"type":"ping","pad":"{}"}}"#,
            "x".repeat(4096)
        ))
        .await;
        assert_eq!(w.close_code().await, Some(1009));

        // A flood closes with 4006.
        let mut f = Ws::connect(&app.base, &users[0].1).await;
        for n in 0..200u32 {
            if f.stream
                .send(Message::Text(
                    format!(r#"{{"id":{n},"type":"ping"}}"#).into(),
                ))
                .await
                .is_err()
            {
                break;
            }
        }
        assert_eq!(f.close_code().await, Some(4006));

        // The bystander saw exactly the accepted messages, in order.
        let mut offsets = Vec::new();
        while offsets.len() < accepted {
            let event = bystander.next_of("event").await;
            offsets.push(event["offset"].as_i64().unwrap());
        }
        assert_eq!(offsets, (1..=accepted as i64).collect::<Vec<_>>());
        bystander.ok("ping", json!({})).await;
        app.stop().await;
    }
}

#[tokio::test]
async fn a_slow_consumer_is_cut_off() {
    for backend in backends() {
        let app = TestApp::spawn_with(backend, |c| {
            c.gateway.send_queue = 16;
            c.gateway.messages_per_second = 100_000;
            c.gateway.flood_frames_per_second = 100_000;
            c.gateway.max_body_chars = 60_000;
        })
        .await;
        let (_, users, room) = care_team(&app).await;
        let room_id = room["id"].as_str().unwrap();
        let mut slow = Ws::connect(&app.base, &users[1].1).await;
        slow.ok("subscribe", json!({ "room": room_id })).await;

        // Up to 180 MB of messages while the slow client reads nothing: far more
        // than the kernel's socket buffers, the write buffer and the 16-frame
        // queue hold.
        let body = "x".repeat(60_000);
        let mut publisher = Ws::connect(&app.base, &users[0].1).await;
        let before = app.state.metrics.ws_connections.get();
        let mut cut_at = None;
        for n in 0..3000 {
            publisher
                .ok(
                    "publish",
                    json!({ "room": room_id, "client_id": format!("s{n}"), "body": body }),
                )
                .await;
            if app.state.metrics.ws_connections.get() < before {
                cut_at = Some(n);
                break;
            }
        }
        let cut_at = cut_at.expect("the slow consumer was cut off");
        // It got what fit in the pipes, then the close code of a slow consumer.
        let mut received = 0;
        let code = loop {
            match slow.next_frame().await {
                Some(frame) if frame["type"] == "event" => received += 1,
                Some(_) => {}
                None => break slow.close_code().await,
            }
        };
        assert!(received < cut_at + 1, "received {received} of {cut_at}");
        assert!(matches!(code, Some(4004) | None), "close code {code:?}");
        // The publisher and the room are unaffected.
        publisher
            .ok(
                "publish",
                json!({ "room": room_id, "client_id": "after", "body": "still here" }),
            )
            .await;
        app.stop().await;
    }
}

#[tokio::test]
async fn sockets_close_when_the_token_expires_unless_refreshed_and_on_logout() {
    for backend in backends() {
        let app = TestApp::spawn_with(backend, |c| {
            c.auth.access_token_ttl_secs = 30;
            c.gateway.ping_interval_secs = 1;
            c.gateway.idle_timeout_secs = 30;
            c.gateway.session_check_secs = 1;
        })
        .await;
        let (_, users, _) = care_team(&app).await;
        let user = &users[0].0;

        // Refreshed on the open socket: it outlives the first token.
        let mut w = Ws::connect(&app.base, &app.token_for(user).await).await;
        app.clock.advance_ms(20_000);
        let fresh = app.token_for(user).await;
        let r = w.ok("refresh", json!({ "token": fresh })).await;
        assert!(r["token_expires_at"].is_string());
        app.clock.advance_ms(15_000);
        tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
        w.ok("ping", json!({})).await;
        // Past the refreshed token's expiry: 4002.
        app.clock.advance_ms(20_000);
        assert_eq!(w.close_code().await, Some(4002));

        // Logged out elsewhere: 4003 at the next session check.
        let login = app.login("a@clinic.test").await;
        let token = login["access_token"].as_str().unwrap().to_owned();
        let mut w = Ws::connect(&app.base, &token).await;
        app.post("/api/v1/auth/logout", Some(&token), json!({}))
            .await
            .expect(204);
        assert_eq!(w.close_code().await, Some(4003));
        // And the socket cannot be reopened with it.
        assert_eq!(
            Ws::try_connect(&app.base, &token).await.err(),
            Some(Some(4001))
        );
        app.stop().await;
    }
}
