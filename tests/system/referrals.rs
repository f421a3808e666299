//! Referral of a case to another organization: it waits for that organization's
//! answer, gives it nothing until accepted, lets it (not the referring side)
//! choose who joins, is audited and announced on both sides, and ends everyone's
//! access at once when withdrawn or declined.

use hub::domain::Role;
use reqwest::Method;
use serde_json::{Value, json};

use crate::{
    live::care_team,
    membership::push_at_once,
    support::{TestApp, backends, ws::Ws},
};

/// The receiving organization: an admin, a clinician, a guest and a patient.
pub struct Receiving {
    pub org: String,
    pub admin: (String, String),
    pub clinician: (String, String),
    pub guest: (String, String),
    pub patient: (String, String),
}

pub async fn cardiology(app: &TestApp) -> Receiving {
    let mut people = Vec::new();
    for (email, role) in [
        ("admin@cardio.test", Role::Admin),
        ("doc@cardio.test", Role::Clinician),
        ("guest@cardio.test", Role::Guest),
        ("pat@cardio.test", Role::Patient),
    ] {
        let id = app.account(email, role, Some("Cardiology")).await;
        let token = app.token_for(&id).await;
        people.push((id, token));
    }
    let mut people = people.into_iter();
    let mut next = || people.next().unwrap();
    Receiving {
        org: app.org_id("Cardiology").await,
        admin: next(),
        clinician: next(),
        guest: next(),
        patient: next(),
    }
}

/// The next `user_event` of `kind` on `ws` (which sent `notifications`).
pub async fn user_event(ws: &mut Ws, kind: &str) -> Value {
    loop {
        let frame = ws.next_of("user_event").await;
        if frame["kind"] == kind {
            return frame["payload"].clone();
        }
    }
}

fn accept_path(org: &str, referral: &str) -> String {
    format!("/api/v1/orgs/{org}/referrals/{referral}/accept")
}

#[tokio::test]
async fn a_referral_waits_for_the_receiving_organization_which_chooses_who_joins() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let (clinic, users, room) = care_team(&app).await;
        let room_id = room["id"].as_str().unwrap();
        let (a, patient) = (&users[0], &users[2]);
        let b = cardiology(&app).await;
        let mut admin_ws = Ws::connect(&app.base, &b.admin.1).await;
        admin_ws.ok("notifications", json!({})).await;
        let mut a_ws = Ws::connect(&app.base, &a.1).await;
        a_ws.ok("notifications", json!({})).await;
        let mut doc_ws = Ws::connect(&app.base, &b.clinician.1).await;
        doc_ws.ok("notifications", json!({})).await;

        // The referrer names an organization, never people.
        let refer = format!("/api/v1/rooms/{room_id}/referrals");
        app.post(
            &refer,
            Some(&a.1),
            json!({ "org_id": b.org, "member_ids": [b.clinician.0] }),
        )
        .await
        .expect_error(422, "invalid_body");
        // The patient of the room is a member but not care team: refused.
        app.post(&refer, Some(&patient.1), json!({ "org_id": b.org }))
            .await
            .expect_error(403, "forbidden");
        let referral = app
            .post(&refer, Some(&a.1), json!({ "org_id": b.org }))
            .await
            .expect(201);
        assert_eq!(referral["status"], "pending");
        assert_eq!(referral["to_org_name"], "Cardiology");
        let referral_id = referral["id"].as_str().unwrap();

        // Cardiology's admin hears of it live; the event carries no room title.
        let event = user_event(&mut admin_ws, "referral.changed").await;
        assert_eq!(
            (event["referral_id"].as_str(), event["status"].as_str()),
            (Some(referral_id), Some("pending"))
        );
        assert!(event.get("room_title").is_none(), "{event}");
        // ... and gets a durable in-app notice; both organizations audit it.
        assert_eq!(
            app.count("SELECT COUNT(*) FROM notifications WHERE template = 'room.referral'")
                .await,
            1
        );
        assert_eq!(app.audited("room.refer").await, 1);
        assert_eq!(app.audited("room.referral_received").await, 1);

        // Pending gives Cardiology nothing: not the room, not joining.
        let doc = &b.clinician;
        app.get(&format!("/api/v1/rooms/{room_id}"), Some(&doc.1))
            .await
            .expect_error(403, "forbidden");
        app.post(
            &format!("/api/v1/rooms/{room_id}/members"),
            Some(&doc.1),
            json!({ "user_id": doc.0 }),
        )
        .await
        .expect_error(403, "forbidden");

        // The referring side lists its referrals; the room's patient may not.
        let mine = app.get(&refer, Some(&a.1)).await.expect(200);
        assert_eq!(mine["referrals"][0]["id"], referral_id);
        app.get(&refer, Some(&patient.1))
            .await
            .expect_error(403, "forbidden");

        // Cardiology's care team sees it incoming (an audited read); its guest and
        // the referring clinician do not.
        let incoming = format!("/api/v1/orgs/{}/referrals", b.org);
        let list = app
            .get(&format!("{incoming}?status=pending"), Some(&doc.1))
            .await
            .expect(200);
        assert_eq!(list["referrals"].as_array().map(Vec::len), Some(1));
        assert_eq!(list["referrals"][0]["room_title"], "Bed 4 follow-up");
        assert_eq!(list["referrals"][0]["from_org_id"], clinic.as_str());
        assert_eq!(app.audited("room.referrals.read").await, 1);
        app.get(&format!("{incoming}?status=lost"), Some(&doc.1))
            .await
            .expect_error(400, "invalid_query");
        app.get(&incoming, Some(&b.guest.1))
            .await
            .expect_error(403, "forbidden");
        app.get(&incoming, Some(&a.1))
            .await
            .expect_error(403, "forbidden");

        // Only Cardiology's clinicians and admins may be chosen, and only by them.
        let accept = accept_path(&b.org, referral_id);
        for chosen in [&b.guest.0, &b.patient.0, &a.0] {
            app.post(&accept, Some(&b.admin.1), json!({ "member_ids": [chosen] }))
                .await
                .expect_error(422, "not_a_clinician");
        }
        app.post(&accept, Some(&b.admin.1), json!({ "member_ids": [] }))
            .await
            .expect_error(422, "invalid_member_ids");
        app.post(&accept, Some(&b.guest.1), json!({ "member_ids": [doc.0] }))
            .await
            .expect_error(403, "forbidden");
        app.post(&accept, Some(&a.1), json!({ "member_ids": [doc.0] }))
            .await
            .expect_error(403, "forbidden");
        // Another organization's referral id is "not found" here.
        app.post(
            &accept_path(&clinic, referral_id),
            Some(&a.1),
            json!({ "member_ids": [a.0] }),
        )
        .await
        .expect_error(404, "not_found");

        let accepted = app
            .post(&accept, Some(&b.admin.1), json!({ "member_ids": [doc.0] }))
            .await
            .expect(200);
        assert_eq!(accepted["status"], "accepted");
        app.post(&accept, Some(&b.admin.1), json!({ "member_ids": [doc.0] }))
            .await
            .expect_error(409, "referral_closed");
        // The referrer hears of the answer; the chosen clinician gets the room.
        while user_event(&mut a_ws, "referral.changed").await["status"] != "accepted" {}
        let added = user_event(&mut doc_ws, "room.added").await;
        assert_eq!(added["room"], room_id);
        let seen = app
            .get(&format!("/api/v1/rooms/{room_id}"), Some(&doc.1))
            .await
            .expect(200);
        let orgs: Vec<&str> = seen["orgs"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|o| o["relation"].as_str())
            .collect();
        assert_eq!(orgs, ["owner", "referred"]);
        app.get(&format!("/api/v1/rooms/{room_id}/messages"), Some(&doc.1))
            .await
            .expect(200);
        // The acceptance is in both organizations' audit trails.
        assert_eq!(app.audited("room.referral.accept").await, 2);
        app.stop().await;
    }
}

/// Refers the room to `b`, whose clinician accepts, joins and follows the room
/// live: the referral id, a socket subscribed to the room and one to the
/// clinician's user events.
async fn admitted(app: &TestApp, referrer: &str, b: &Receiving, room_id: &str) -> (String, Ws, Ws) {
    let doc = &b.clinician;
    let referral = app
        .post(
            &format!("/api/v1/rooms/{room_id}/referrals"),
            Some(referrer),
            json!({ "org_id": b.org }),
        )
        .await
        .expect(201);
    let id = referral["id"].as_str().unwrap().to_owned();
    app.post(
        &accept_path(&b.org, &id),
        Some(&doc.1),
        json!({ "member_ids": [doc.0] }),
    )
    .await
    .expect(200);
    let mut user_ws = Ws::connect(&app.base, &doc.1).await;
    user_ws.ok("notifications", json!({})).await;
    let mut ws = Ws::connect(&app.base, &doc.1).await;
    ws.ok("subscribe", json!({ "room": room_id })).await;
    (id, ws, user_ws)
}

#[tokio::test]
async fn withdrawal_and_decline_end_access_at_once() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let (clinic, users, room) = care_team(&app).await;
        let room_id = room["id"].as_str().unwrap();
        let a = &users[0];
        let b = cardiology(&app).await;
        let doc = &b.clinician;
        let refer = format!("/api/v1/rooms/{room_id}/referrals");

        // 1. The referring side withdraws an accepted referral.
        let (id, mut ws, mut user_ws) = admitted(&app, &a.1, &b, room_id).await;
        let withdrawn = app
            .call(Method::DELETE, &format!("{refer}/{id}"), Some(&a.1), None)
            .await
            .expect(200);
        assert_eq!(withdrawn["status"], "withdrawn");
        let gone = push_at_once(&mut ws, "unsubscribed").await;
        assert_eq!(
            (gone["room"].as_str(), gone["reason"].as_str()),
            (Some(room_id), Some("removed"))
        );
        assert_eq!(
            user_event(&mut user_ws, "room.removed").await["room"],
            room_id
        );
        let refused = ws
            .request(
                "publish",
                json!({ "room": room_id, "client_id": "late", "body": "hi" }),
            )
            .await;
        assert_eq!(refused.unwrap_err()["code"], "room_not_found");
        app.get(&format!("/api/v1/rooms/{room_id}/messages"), Some(&doc.1))
            .await
            .expect_error(403, "forbidden");
        app.call(Method::DELETE, &format!("{refer}/{id}"), Some(&a.1), None)
            .await
            .expect_error(409, "referral_closed");
        assert_eq!(app.audited("room.referral.withdraw").await, 2);

        // 2. A pending referral declined: nothing was granted, nothing to end.
        let pending = app
            .post(&refer, Some(&a.1), json!({ "org_id": b.org }))
            .await
            .expect(201);
        let pending_id = pending["id"].as_str().unwrap();
        let decline = format!("/api/v1/orgs/{}/referrals/{pending_id}/decline", b.org);
        app.post(&decline, Some(&b.guest.1), json!({}))
            .await
            .expect_error(403, "forbidden");
        let declined = app
            .post(&decline, Some(&b.admin.1), json!({}))
            .await
            .expect(200);
        assert_eq!(declined["status"], "declined");
        app.post(
            &accept_path(&b.org, pending_id),
            Some(&b.admin.1),
            json!({ "member_ids": [doc.0] }),
        )
        .await
        .expect_error(409, "referral_closed");

        // 3. The receiving side leaves a case it accepted: access ends at once.
        let (id, mut ws, _user_ws) = admitted(&app, &a.1, &b, room_id).await;
        app.post(
            &format!("/api/v1/orgs/{}/referrals/{id}/decline", b.org),
            Some(&b.admin.1),
            json!({}),
        )
        .await
        .expect(200);
        let gone = push_at_once(&mut ws, "unsubscribed").await;
        assert_eq!(gone["room"], room_id);
        app.get(&format!("/api/v1/rooms/{room_id}"), Some(&doc.1))
            .await
            .expect_error(403, "forbidden");
        assert_eq!(app.audited("room.referral.decline").await, 4);
        // The room's own members are untouched.
        let room_now = app
            .get(&format!("/api/v1/rooms/{room_id}"), Some(&a.1))
            .await
            .expect(200);
        assert_eq!(room_now["members"].as_array().map(Vec::len), Some(2));
        assert_eq!(room_now["orgs"].as_array().map(Vec::len), Some(1));

        // What cannot be referred, and where a case may go.
        app.post(&refer, Some(&a.1), json!({ "org_id": clinic }))
            .await
            .expect_error(409, "own_organization");
        app.post(
            &refer,
            Some(&a.1),
            json!({ "org_id": uuid::Uuid::new_v4().to_string() }),
        )
        .await
        .expect_error(404, "not_found");
        let direct = app
            .post(
                &format!("/api/v1/orgs/{clinic}/rooms"),
                Some(&a.1),
                json!({ "kind": "direct", "patient_id": users[2].0 }),
            )
            .await
            .expect(201);
        app.post(
            &format!("/api/v1/rooms/{}/referrals", direct["id"].as_str().unwrap()),
            Some(&a.1),
            json!({ "org_id": b.org }),
        )
        .await
        .expect_error(409, "not_a_case");
        let targets = app
            .get(
                &format!("/api/v1/orgs/{clinic}/referral-targets"),
                Some(&a.1),
            )
            .await
            .expect(200);
        let names: Vec<&str> = targets["orgs"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|o| o["name"].as_str())
            .collect();
        assert_eq!(names, ["Cardiology"]);
        app.get(
            &format!("/api/v1/orgs/{clinic}/referral-targets"),
            Some(&users[2].1),
        )
        .await
        .expect_error(403, "forbidden");
        app.stop().await;
    }
}
