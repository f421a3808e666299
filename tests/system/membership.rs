//! Rights follow the organization membership they came from (docs/architecture.md):
//! for every kind of access a membership gives, grant it, end the membership (or
//! change the role), and check the access is refused at once, including what was
//! already open: a room subscription stops within a second, a host leaves the live
//! visit. Visits are `membership_visits.rs`; the same across two nodes is `cluster.rs`.

use std::time::{Duration, Instant};

use hub::domain::Role;
use reqwest::Method;
use serde_json::{Value, json};

use crate::{
    live::care_team,
    support::{TestApp, backends, ws::Ws},
};

/// How soon an open socket must hear that its access ended.
pub const AT_ONCE: Duration = Duration::from_secs(1);

pub fn code(e: Result<Value, Value>) -> String {
    e.expect_err("refused")["code"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// Waits (at most [`AT_ONCE`]) for the push of `kind` on `ws`, skipping others.
pub async fn push_at_once(ws: &mut Ws, kind: &str) -> Value {
    push_within(ws, kind, AT_ONCE).await
}

/// Waits (at most `wait`) for the push of `kind` on `ws`, skipping others.
async fn push_within(ws: &mut Ws, kind: &str, wait: Duration) -> Value {
    let deadline = Instant::now() + wait;
    for p in ws.take_pushes() {
        if p["type"] == kind {
            return p;
        }
    }
    loop {
        match next_frame_by(ws, deadline).await {
            Ok(Some(frame)) if frame["type"] == kind => return frame,
            Ok(Some(_)) => continue,
            Ok(None) => panic!("socket closed while waiting for {kind}"),
            Err(()) => panic!("no {kind} push within {wait:?}"),
        }
    }
}

/// The next frame before `deadline` (`Err` after it). Control frames such as the
/// server's pings do not extend the wait.
pub async fn next_frame_by(ws: &mut Ws, deadline: Instant) -> Result<Option<Value>, ()> {
    let left = deadline.saturating_duration_since(Instant::now());
    tokio::time::timeout(left, ws.next_frame_within(left))
        .await
        .unwrap_or(Err(()))
}

/// Asserts that no room event reaches `ws` for a second.
pub async fn no_event_for_a_second(ws: &mut Ws) {
    let deadline = Instant::now() + AT_ONCE;
    loop {
        match next_frame_by(ws, deadline).await {
            Err(()) | Ok(None) => return,
            Ok(Some(frame)) => assert_ne!(frame["type"], "event", "delivered after removal"),
        }
    }
}

pub async fn delete(app: &TestApp, path: &str, token: &str) -> u16 {
    app.call(Method::DELETE, path, Some(token), None)
        .await
        .status
        .as_u16()
}

#[tokio::test]
async fn removal_ends_every_room_right_at_once() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let (org, users, room) = care_team(&app).await;
        let admin = app
            .account("admin@clinic.test", Role::Admin, Some("Clinic"))
            .await;
        let admin_token = app.token_for(&admin).await;
        let room_id = room["id"].as_str().unwrap().to_owned();
        let (a, b) = (&users[0], &users[1]);
        let messages = format!("/api/v1/rooms/{room_id}/messages");

        // Granted: B reads, posts over REST and the socket, and is subscribed.
        app.get(&messages, Some(&b.1)).await.expect(200);
        app.post(
            &messages,
            Some(&b.1),
            json!({ "client_id": "b-1", "body": "Creatinine 1.9" }),
        )
        .await
        .expect(201);
        let mut wa = Ws::connect(&app.base, &a.1).await;
        wa.ok("subscribe", json!({ "room": room_id })).await;
        let mut wb = Ws::connect(&app.base, &b.1).await;
        wb.ok("subscribe", json!({ "room": room_id })).await;
        wb.ok(
            "publish",
            json!({ "room": room_id, "client_id": "b-2", "body": "Repeat tomorrow" }),
        )
        .await;
        wb.next_of("event").await;

        // The admin removes B from the organization.
        let path = format!("/api/v1/orgs/{org}/members/{}", b.0);
        assert_eq!(delete(&app, &path, &admin_token).await, 204);
        let me = app.get("/api/v1/me", Some(&b.1)).await.expect(200);
        assert!(!me.to_string().contains(&org), "no membership left: {me}");

        // The open subscription ends at once, and nothing more reaches it.
        let gone = push_at_once(&mut wb, "unsubscribed").await;
        assert_eq!(
            (gone["room"].as_str(), gone["reason"].as_str()),
            (Some(room_id.as_str()), Some("removed"))
        );
        app.post(
            &messages,
            Some(&a.1),
            json!({ "client_id": "a-1", "body": "Dialysis discussed" }),
        )
        .await
        .expect(201);
        no_event_for_a_second(&mut wb).await;

        // Every other way in is refused: REST history, REST publish, the socket's
        // publish, subscribe and read, joining by adding oneself, the room list.
        app.get(&messages, Some(&b.1))
            .await
            .expect_error(403, "forbidden");
        app.get(&format!("/api/v1/rooms/{room_id}"), Some(&b.1))
            .await
            .expect_error(403, "forbidden");
        app.post(
            &messages,
            Some(&b.1),
            json!({ "client_id": "b-3", "body": "still here?" }),
        )
        .await
        .expect_error(403, "forbidden");
        let publish = json!({ "room": room_id, "client_id": "b-4", "body": "still here?" });
        assert_eq!(code(wb.request("publish", publish).await), "room_not_found");
        assert_eq!(
            code(wb.request("subscribe", json!({ "room": room_id })).await),
            "room_not_found"
        );
        assert_eq!(
            code(
                wb.request("read", json!({ "room": room_id, "offset": 1 }))
                    .await
            ),
            "room_not_found"
        );
        let mut fresh = Ws::connect(&app.base, &b.1).await;
        assert_eq!(
            code(fresh.request("subscribe", json!({ "room": room_id })).await),
            "room_not_found"
        );
        app.post(
            &format!("/api/v1/rooms/{room_id}/members"),
            Some(&b.1),
            json!({ "user_id": b.0 }),
        )
        .await
        .expect_error(403, "forbidden");
        let mine = app.get("/api/v1/rooms", Some(&b.1)).await.expect(200);
        assert_eq!(mine["rooms"], json!([]));

        // The room no longer lists B; B's past messages stay in its history.
        let seen = app
            .get(&format!("/api/v1/rooms/{room_id}"), Some(&a.1))
            .await
            .expect(200);
        let members: Vec<&str> = seen["members"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["user_id"].as_str().unwrap())
            .collect();
        assert!(!members.contains(&b.0.as_str()), "{members:?}");
        let history = app.get(&messages, Some(&a.1)).await.expect(200);
        let senders: Vec<&str> = history["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["sender_id"].as_str().unwrap())
            .collect();
        assert_eq!(senders.iter().filter(|s| **s == b.0).count(), 2);

        // Admitted again, B is a member of the organization but not of its old
        // case room: the room rows went with the membership.
        let mut conn = app.state.store.conn().await.unwrap();
        hub::store::orgs::upsert_membership(&mut conn, &org, &b.0, "clinician", 0)
            .await
            .unwrap();
        drop(conn);
        app.get(&messages, Some(&b.1))
            .await
            .expect_error(403, "forbidden");
        app.stop().await;
    }
}

/// A row left behind (a removal racing with an add, a row written by an older
/// version) grants nothing: every check joins the membership it derives from.
#[tokio::test]
async fn a_room_row_without_a_membership_grants_nothing() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let (org, users, room) = care_team(&app).await;
        let room_id = room["id"].as_str().unwrap().to_owned();
        let b = &users[1];
        let mut wb = Ws::connect(&app.base, &b.1).await;
        wb.ok("subscribe", json!({ "room": room_id })).await;
        wb.ok("unsubscribe", json!({ "room": room_id })).await;
        // The membership goes behind the hub's back; the room row stays.
        let mut conn = app.state.store.conn().await.unwrap();
        hub::store::orgs::remove_membership(&mut conn, &org, &b.0)
            .await
            .unwrap();
        drop(conn);
        let messages = format!("/api/v1/rooms/{room_id}/messages");
        app.get(&messages, Some(&b.1))
            .await
            .expect_error(403, "forbidden");
        app.post(
            &messages,
            Some(&b.1),
            json!({ "client_id": "b-1", "body": "x" }),
        )
        .await
        .expect_error(403, "forbidden");
        assert_eq!(
            code(wb.request("subscribe", json!({ "room": room_id })).await),
            "room_not_found"
        );
        let publish = json!({ "room": room_id, "client_id": "b-2", "body": "x" });
        assert_eq!(code(wb.request("publish", publish).await), "room_not_found");
        let mine = app.get("/api/v1/rooms", Some(&b.1)).await.expect(200);
        assert_eq!(mine["rooms"], json!([]));
        app.stop().await;
    }
}

/// Sockets re-read the session, the account and their rooms' standing every second.
fn quick_checks(c: &mut hub::config::Config) {
    c.gateway.ping_interval_secs = 1;
    c.gateway.session_check_secs = 1;
}

/// A removal whose bus notice is lost (here: the membership ends behind the hub's
/// back, so none is sent) still ends an open subscription and a joined visit, at the
/// socket's next session check.
#[tokio::test]
async fn a_lost_removal_notice_ends_the_subscription_at_the_session_check() {
    for backend in backends() {
        let app = TestApp::spawn_with(backend, quick_checks).await;
        let (org, users, room) = care_team(&app).await;
        let room_id = room["id"].as_str().unwrap().to_owned();
        let (a, b) = (&users[0], &users[1]);
        let at = hub::clock::rfc3339((app.clock_secs() + 600) * 1000);
        let created = app
            .post(
                &format!("/api/v1/orgs/{org}/visits"),
                Some(&b.1),
                json!({ "patient_id": users[2].0, "scheduled_at": at }),
            )
            .await
            .expect(201);
        let visit = created["visit"]["id"].as_str().unwrap().to_owned();
        // A stays a member: its subscription must outlive the same checks.
        let mut wa = Ws::connect(&app.base, &a.1).await;
        wa.ok("subscribe", json!({ "room": room_id })).await;
        let mut wb = Ws::connect(&app.base, &b.1).await;
        wb.ok("subscribe", json!({ "room": room_id })).await;
        wb.ok("visit_join", json!({ "visit": visit })).await;
        let mut conn = app.state.store.conn().await.unwrap();
        hub::store::orgs::remove_membership(&mut conn, &org, &b.0)
            .await
            .unwrap();
        drop(conn);
        let gone = push_within(&mut wb, "unsubscribed", Duration::from_secs(3)).await;
        assert_eq!(gone["room"], room_id.as_str());
        let left = push_within(&mut wb, "visit_removed", Duration::from_secs(3)).await;
        assert_eq!(left["visit"], visit.as_str());
        app.post(
            &format!("/api/v1/rooms/{room_id}/messages"),
            Some(&a.1),
            json!({ "client_id": "a-1", "body": "after" }),
        )
        .await
        .expect(201);
        no_event_for_a_second(&mut wb).await;
        // A's socket has been re-checked since the removal and still has the room.
        let event = wa.next_of("event").await;
        assert_eq!(event["client_id"], "a-1");
        app.stop().await;
    }
}

/// An account disabled behind the hub's back (`users.status` set in the database, so
/// no session is revoked and no notice sent; `POST /admin/users/{id}/disable` is
/// `accounts_disable.rs`) is refused over REST at once and its sockets are closed with
/// 4003 at their next session check.
#[tokio::test]
async fn a_disabled_account_loses_rest_and_its_sockets() {
    for backend in backends() {
        let app = TestApp::spawn_with(backend, quick_checks).await;
        let (_, users, room) = care_team(&app).await;
        let room_id = room["id"].as_str().unwrap().to_owned();
        let b = &users[1];
        let mut wb = Ws::connect(&app.base, &b.1).await;
        wb.ok("subscribe", json!({ "room": room_id })).await;
        sqlx::query("UPDATE users SET status = 'disabled' WHERE id = $1")
            .bind(&b.0)
            .execute(app.state.store.pool())
            .await
            .unwrap();
        app.get(&format!("/api/v1/rooms/{room_id}/messages"), Some(&b.1))
            .await
            .expect_error(401, "unauthenticated");
        let code = tokio::time::timeout(Duration::from_secs(5), wb.close_code())
            .await
            .expect("closed within the session check");
        assert_eq!(code, Some(4003));
        app.stop().await;
    }
}
