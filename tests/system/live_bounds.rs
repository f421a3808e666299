//! Out-of-bounds requests on the live gateway: a `subscribe` position the room
//! never had, and edits and deletions beyond the per-user message rate.

use serde_json::json;

use crate::{
    live::care_team,
    support::{TestApp, backends, ws::Ws},
};

/// A negative `since.offset` is a malformed request (nothing subscribed); an
/// offset past the room's head in the same epoch has its own reason, distinct
/// from a changed epoch, and still leaves the socket subscribed from the head.
#[tokio::test]
async fn subscribe_past_the_head_or_negative_is_named() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let (_, users, room) = care_team(&app).await;
        let room_id = room["id"].as_str().unwrap();
        let epoch = room["epoch"].clone();
        let mut w = Ws::connect(&app.base, &users[0].1).await;
        w.ok(
            "publish",
            json!({ "room": room_id, "client_id": "1", "body": "one" }),
        )
        .await;

        let refused = w
            .request(
                "subscribe",
                json!({ "room": room_id, "since": { "epoch": epoch, "offset": -1 } }),
            )
            .await
            .unwrap_err();
        assert_eq!(refused["code"], "invalid_request", "{refused}");
        assert!(
            refused["message"]
                .as_str()
                .unwrap()
                .contains("since.offset"),
            "{refused}"
        );
        // Nothing was subscribed: a plain subscribe is not `already_subscribed`.
        w.ok("subscribe", json!({ "room": room_id })).await;
        w.ok("unsubscribe", json!({ "room": room_id })).await;

        let ahead = w
            .ok(
                "subscribe",
                json!({ "room": room_id, "since": { "epoch": epoch, "offset": 7 } }),
            )
            .await;
        assert_eq!(
            (ahead["recovered"].as_bool(), ahead["reason"].as_str()),
            (Some(false), Some("ahead_of_stream")),
            "{ahead}"
        );
        assert_eq!(
            (ahead["epoch"].clone(), ahead["offset"].as_i64()),
            (epoch.clone(), Some(1))
        );
        assert!(ahead.get("missed").is_none());
        // Subscribed from the head: the next event is delivered live.
        w.ok(
            "publish",
            json!({ "room": room_id, "client_id": "2", "body": "two" }),
        )
        .await;
        assert_eq!(w.next_of("event").await["offset"], 2);

        // The head itself is a valid position with nothing missed.
        w.ok("unsubscribe", json!({ "room": room_id })).await;
        let at_head = w
            .ok(
                "subscribe",
                json!({ "room": room_id, "since": { "epoch": epoch, "offset": 2 } }),
            )
            .await;
        assert_eq!(at_head["recovered"], true, "{at_head}");
        assert_eq!(at_head["missed"], json!([]));
        app.stop().await;
    }
}

/// Edits and deletions are stored events: they spend the same per-user rate as
/// publishes, and a refused one stores nothing.
#[tokio::test]
async fn edits_and_deletions_are_rate_limited() {
    for backend in backends() {
        let app = TestApp::spawn_with(backend, |c| c.gateway.messages_per_second = 1).await;
        let (_, users, room) = care_team(&app).await;
        let room_id = room["id"].as_str().unwrap();
        // Ten messages to change, sent over REST so they cost nothing on /ws.
        let mut ids = Vec::new();
        for n in 0..10 {
            let sent = app
                .post(
                    &format!("/api/v1/rooms/{room_id}/messages"),
                    Some(&users[0].1),
                    json!({ "client_id": format!("m{n}"), "body": "BP 120/80" }),
                )
                .await
                .expect(201);
            ids.push(sent["event"]["id"].as_str().unwrap().to_owned());
        }
        let mut w = Ws::connect(&app.base, &users[0].1).await;

        // A malformed edit is refused before it costs any rate.
        for _ in 0..3 {
            let bad = w
                .request(
                    "edit",
                    json!({ "room": room_id, "message_id": ids[0], "body": " " }),
                )
                .await
                .unwrap_err();
            assert_eq!(bad["code"], "invalid_body");
        }

        let mut outcomes = Vec::new();
        for (n, id) in ids.iter().enumerate() {
            let (kind, fields) = if n % 2 == 0 {
                (
                    "edit",
                    json!({ "room": room_id, "message_id": id, "body": "BP 118/79" }),
                )
            } else {
                ("delete", json!({ "room": room_id, "message_id": id }))
            };
            match w.request(kind, fields).await {
                Ok(_) => outcomes.push(kind),
                Err(e) => {
                    assert_eq!(e["code"], "rate_limited", "{e}");
                    outcomes.push("rate_limited");
                }
            }
        }
        let accepted = outcomes.iter().filter(|o| **o != "rate_limited").count();
        // A burst of 2 at 1/s: the first two get through (the malformed edits
        // spent nothing), then at most a refill while the loop runs.
        assert_eq!(outcomes[..2], ["edit", "delete"], "{outcomes:?}");
        assert!(accepted <= 4, "{outcomes:?}");
        let stored = app
            .count("SELECT COUNT(*) FROM room_events WHERE kind <> 'message'")
            .await;
        assert_eq!(stored, accepted as i64, "a refused change stores nothing");
        app.stop().await;
    }
}
