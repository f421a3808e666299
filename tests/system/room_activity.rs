//! Per-user room events keep a member's room list live without subscribing to
//! every room: `room.activity` for each new message (offset and sender, never the
//! body), `room.added` when they join, `room.removed` when they lose the room.

use reqwest::Method;
use serde_json::json;

use crate::{
    live::care_team,
    referrals::user_event,
    support::{TestApp, backends, ws::Ws},
};

#[tokio::test]
async fn members_hear_of_messages_additions_and_removals_on_their_own_topic() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let (org, users, room) = care_team(&app).await;
        let room_id = room["id"].as_str().unwrap();
        let (a, b, patient) = (&users[0], &users[1], &users[2]);
        // B follows only their personal topic, not the room.
        let mut wb = Ws::connect(&app.base, &b.1).await;
        wb.ok("notifications", json!({})).await;
        let mut wp = Ws::connect(&app.base, &patient.1).await;
        wp.ok("notifications", json!({})).await;

        let sent = app
            .post(
                &format!("/api/v1/rooms/{room_id}/messages"),
                Some(&a.1),
                json!({ "client_id": "c1", "body": "BP 120/80" }),
            )
            .await
            .expect(201);
        let activity = user_event(&mut wb, "room.activity").await;
        assert_eq!(activity["room"], room_id);
        assert_eq!(activity["offset"], sent["event"]["offset"]);
        assert_eq!(activity["sender_id"], a.0.as_str());
        assert!(activity.get("body").is_none(), "{activity}");

        // The patient, not a member, hears nothing of it; once added, they do.
        app.post(
            &format!("/api/v1/rooms/{room_id}/members"),
            Some(&a.1),
            json!({ "user_id": patient.0 }),
        )
        .await
        .expect(201);
        let added = user_event(&mut wp, "room.added").await;
        assert_eq!(added["room"], room_id);
        app.post(
            &format!("/api/v1/rooms/{room_id}/messages"),
            Some(&a.1),
            json!({ "client_id": "c2", "body": "second" }),
        )
        .await
        .expect(201);
        assert_eq!(user_event(&mut wp, "room.activity").await["offset"], 2);

        // Removal: the list drops the room.
        app.call(
            Method::DELETE,
            &format!("/api/v1/rooms/{room_id}/members/{}", patient.0),
            Some(&a.1),
            None,
        )
        .await
        .expect(204);
        assert_eq!(user_event(&mut wp, "room.removed").await["room"], room_id);

        // A room created with B in it shows up in B's list at once.
        let created = app
            .post(
                &format!("/api/v1/orgs/{org}/rooms"),
                Some(&a.1),
                json!({ "kind": "case", "title": "Second case", "member_ids": [b.0] }),
            )
            .await
            .expect(201);
        assert_eq!(
            user_event(&mut wb, "room.added").await["room"],
            created["id"]
        );
        app.stop().await;
    }
}
