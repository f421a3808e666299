//! The live gateway over real sockets: chat between members, refusal of
//! non-members, history pages, edits, receipts, presence and recovery.

use hub::domain::Role;
use serde_json::{Value, json};

use crate::support::{TestApp, backends, ws::Ws};

/// An organization with two clinicians and a patient, and a case room holding
/// the clinicians. Returns (org id, [clinician a, clinician b, patient], room).
pub async fn care_team(app: &TestApp) -> (String, Vec<(String, String)>, Value) {
    let a = app
        .account("a@clinic.test", Role::Clinician, Some("Clinic"))
        .await;
    let org = app.org_id("Clinic").await;
    let b = app
        .account("b@clinic.test", Role::Clinician, Some("Clinic"))
        .await;
    let p = app
        .account("p@clinic.test", Role::Patient, Some("Clinic"))
        .await;
    let mut users = Vec::new();
    for id in [a, b, p] {
        let token = app.token_for(&id).await;
        users.push((id, token));
    }
    let room = app
        .post(
            &format!("/api/v1/orgs/{org}/rooms"),
            Some(&users[0].1),
            json!({ "kind": "case", "title": "Bed 4 follow-up", "member_ids": [users[1].0] }),
        )
        .await
        .expect(201);
    (org, users, room)
}

#[tokio::test]
async fn members_chat_live_and_outsiders_are_refused() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let (_, users, room) = care_team(&app).await;
        let room_id = room["id"].as_str().unwrap().to_owned();
        let (a, b, patient) = (&users[0], &users[1], &users[2]);

        let mut wa = Ws::connect(&app.base, &a.1).await;
        let mut wb = Ws::connect(&app.base, &b.1).await;
        assert_eq!(wa.welcome["protocol"], 1);
        assert_eq!(wa.welcome["user_id"], a.0.as_str());
        let sa = wa.ok("subscribe", json!({ "room": room_id })).await;
        assert_eq!(
            (sa["offset"].as_i64(), sa["epoch"].clone()),
            (Some(0), room["epoch"].clone())
        );
        wb.ok("subscribe", json!({ "room": room_id })).await;
        // A sees B arrive (after its own arrival).
        let mut presence = wa.next_of("presence").await;
        if presence["user_id"] == a.0.as_str() {
            presence = wa.next_of("presence").await;
        }
        assert_eq!(
            (presence["user_id"].as_str(), presence["status"].as_str()),
            (Some(b.0.as_str()), Some("online"))
        );

        let sent = wa
            .ok(
                "publish",
                json!({ "room": room_id, "client_id": "m-1", "body": "BP 120/80" }),
            )
            .await;
        assert_eq!(sent["duplicate"], false);
        assert_eq!(sent["event"]["offset"], 1);
        let got = wb.next_of("event").await;
        assert_eq!(
            (got["body"].as_str(), got["offset"].as_i64()),
            (Some("BP 120/80"), Some(1))
        );
        assert_eq!(got["sender_id"], a.0.as_str());
        let echo = wa.next_of("event").await;
        assert_eq!(echo["id"], got["id"]);

        // A retried publish lands once.
        let again = wa
            .ok(
                "publish",
                json!({ "room": room_id, "client_id": "m-1", "body": "BP 120/80" }),
            )
            .await;
        assert_eq!(
            (again["duplicate"].as_bool(), again["event"]["id"].clone()),
            (Some(true), got["id"].clone())
        );

        // Typing reaches the other member only; receipts reach everyone.
        wb.ok("typing", json!({ "room": room_id })).await;
        let typing = wa.next_of("typing").await;
        assert_eq!(typing["user_id"], b.0.as_str());
        wb.ok("read", json!({ "room": room_id, "offset": 1 })).await;
        let receipt = wa.next_of("receipt").await;
        assert_eq!(
            (receipt["user_id"].as_str(), receipt["offset"].as_i64()),
            (Some(b.0.as_str()), Some(1))
        );
        let presence = wa.ok("presence", json!({ "room": room_id })).await;
        assert_eq!(presence["users"].as_array().map(Vec::len), Some(2));

        // Edits and deletions are new events; the author only.
        let msg_id = got["id"].as_str().unwrap();
        let refused = wb
            .request(
                "edit",
                json!({ "room": room_id, "message_id": msg_id, "body": "x" }),
            )
            .await;
        assert_eq!(refused.unwrap_err()["code"], "not_author");
        let edit = wa
            .ok(
                "edit",
                json!({ "room": room_id, "message_id": msg_id, "body": "BP 118/79" }),
            )
            .await;
        assert_eq!(
            (
                edit["event"]["kind"].as_str(),
                edit["event"]["offset"].as_i64()
            ),
            (Some("edit"), Some(2))
        );
        let seen = wb.next_of("event").await;
        assert_eq!(
            (seen["kind"].as_str(), seen["message_id"].as_str()),
            (Some("edit"), Some(msg_id))
        );

        // Unread counts: B read offset 1 (A's message); A has nothing from others.
        let rooms_b = app.get("/api/v1/rooms", Some(&b.1)).await.expect(200);
        assert_eq!(rooms_b["rooms"][0]["unread"], 0);
        wb.ok(
            "publish",
            json!({ "room": room_id, "client_id": "m-2", "body": "Seen, thanks" }),
        )
        .await;
        let rooms_a = app.get("/api/v1/rooms", Some(&a.1)).await.expect(200);
        assert_eq!(rooms_a["rooms"][0]["unread"], 1);

        // The patient is not a member: refused on the socket and over REST.
        let mut wp = Ws::connect(&app.base, &patient.1).await;
        let refused = wp
            .request("subscribe", json!({ "room": room_id }))
            .await
            .unwrap_err();
        assert_eq!(refused["code"], "room_not_found");
        let refused = wp
            .request(
                "publish",
                json!({ "room": room_id, "client_id": "x", "body": "hi" }),
            )
            .await
            .unwrap_err();
        assert_eq!(refused["code"], "room_not_found");
        app.get(
            &format!("/api/v1/rooms/{room_id}/messages"),
            Some(&patient.1),
        )
        .await
        .expect_error(403, "forbidden");
        assert_eq!(app.count("SELECT COUNT(*) FROM room_events").await, 3);

        // History: current state of each message, and reads are audited.
        let history = app
            .get(&format!("/api/v1/rooms/{room_id}/messages"), Some(&b.1))
            .await
            .expect(200);
        let messages = history["messages"].as_array().unwrap();
        assert_eq!(messages.len(), 2);
        assert_eq!(messages[1]["body"], "BP 118/79");
        assert!(messages[1]["edited_at"].is_string());
        wa.ok("delete", json!({ "room": room_id, "message_id": msg_id }))
            .await;
        let history = app
            .get(&format!("/api/v1/rooms/{room_id}/messages"), Some(&b.1))
            .await
            .expect(200);
        assert_eq!(
            (
                history["messages"][1]["deleted"].as_bool(),
                history["messages"][1]["body"].clone()
            ),
            (Some(true), Value::Null)
        );
        assert_eq!(
            app.count("SELECT COUNT(*) FROM audit_log WHERE action = 'room.messages.read'")
                .await,
            2
        );
        assert_eq!(
            app.count("SELECT COUNT(*) FROM audit_log WHERE action = 'room.subscribe'")
                .await,
            2
        );
        // Bodies are encrypted at rest.
        let plain: i64 = app
            .count("SELECT COUNT(*) FROM room_events WHERE body IS NOT NULL AND key_id IS NULL")
            .await;
        assert_eq!(plain, 0);

        // B leaves: A sees B go offline.
        drop(wb);
        let mut offline = wa.next_of("presence").await;
        while offline["status"] == "online" {
            offline = wa.next_of("presence").await;
        }
        assert_eq!(
            (offline["user_id"].as_str(), offline["status"].as_str()),
            (Some(b.0.as_str()), Some("offline"))
        );
        app.stop().await;
    }
}

#[tokio::test]
async fn history_pages_back_without_gaps_or_repeats() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let (_, users, room) = care_team(&app).await;
        let room_id = room["id"].as_str().unwrap();
        for n in 1..=23 {
            app.post(
                &format!("/api/v1/rooms/{room_id}/messages"),
                Some(&users[0].1),
                json!({ "client_id": format!("c{n}"), "body": format!("note {n}") }),
            )
            .await
            .expect(201);
        }
        let mut seen = Vec::new();
        let mut before: Option<i64> = None;
        loop {
            let query = match before {
                Some(b) => format!("?limit=10&before={b}"),
                None => "?limit=10".into(),
            };
            let page = app
                .get(
                    &format!("/api/v1/rooms/{room_id}/messages{query}"),
                    Some(&users[1].1),
                )
                .await
                .expect(200);
            for m in page["messages"].as_array().unwrap() {
                seen.push(m["offset"].as_i64().unwrap());
            }
            match page["next_before"].as_i64() {
                Some(b) => before = Some(b),
                None => break,
            }
        }
        assert_eq!(seen, (1..=23).rev().collect::<Vec<_>>());
        app.get(
            &format!("/api/v1/rooms/{room_id}/messages?limit=0"),
            Some(&users[1].1),
        )
        .await
        .expect_error(422, "invalid_limit");
        app.stop().await;
    }
}

#[tokio::test]
async fn a_reconnecting_client_recovers_exactly_what_it_missed() {
    for backend in backends() {
        let app = TestApp::spawn_with(backend, |c| c.gateway.max_recovery_events = 5).await;
        let (_, users, room) = care_team(&app).await;
        let room_id = room["id"].as_str().unwrap();
        let mut wb = Ws::connect(&app.base, &users[1].1).await;
        let sub = wb.ok("subscribe", json!({ "room": room_id })).await;
        let epoch = sub["epoch"].clone();
        let mut wa = Ws::connect(&app.base, &users[0].1).await;
        wa.ok(
            "publish",
            json!({ "room": room_id, "client_id": "1", "body": "one" }),
        )
        .await;
        assert_eq!(wb.next_of("event").await["offset"], 1);
        drop(wb);
        for n in 2..=4 {
            wa.ok(
                "publish",
                json!({ "room": room_id, "client_id": n.to_string(), "body": "later" }),
            )
            .await;
        }
        let mut wb = Ws::connect(&app.base, &users[1].1).await;
        let sub = wb
            .ok(
                "subscribe",
                json!({ "room": room_id, "since": { "epoch": epoch, "offset": 1 } }),
            )
            .await;
        assert_eq!(sub["recovered"], true);
        let offsets: Vec<i64> = sub["missed"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["offset"].as_i64().unwrap())
            .collect();
        assert_eq!(offsets, [2, 3, 4]);
        // Live events continue after the recovered ones.
        wa.ok(
            "publish",
            json!({ "room": room_id, "client_id": "5", "body": "live" }),
        )
        .await;
        assert_eq!(wb.next_of("event").await["offset"], 5);
        drop(wb);

        // Too far behind, or another epoch: refused whole, never partial.
        let mut wb = Ws::connect(&app.base, &users[1].1).await;
        let sub = wb
            .ok(
                "subscribe",
                json!({ "room": room_id, "since": { "epoch": epoch, "offset": 0 } }),
            )
            .await;
        assert_eq!(
            (sub["recovered"].as_bool(), sub["reason"].as_str()),
            (Some(true), None),
            "5 missed is within the limit"
        );
        wb.ok("unsubscribe", json!({ "room": room_id })).await;
        for n in 6..=12 {
            wa.ok(
                "publish",
                json!({ "room": room_id, "client_id": n.to_string(), "body": "more" }),
            )
            .await;
        }
        let sub = wb
            .ok(
                "subscribe",
                json!({ "room": room_id, "since": { "epoch": epoch, "offset": 1 } }),
            )
            .await;
        assert_eq!(
            (sub["recovered"].as_bool(), sub["reason"].as_str()),
            (Some(false), Some("too_far_behind"))
        );
        assert!(sub.get("missed").is_none());
        wb.ok("unsubscribe", json!({ "room": room_id })).await;
        let sub = wb
            .ok(
                "subscribe",
                json!({ "room": room_id, "since": { "epoch": "other", "offset": 11 } }),
            )
            .await;
        assert_eq!(
            (sub["recovered"].as_bool(), sub["reason"].as_str()),
            (Some(false), Some("epoch_changed"))
        );
        assert_eq!(sub["offset"], 12);
        app.stop().await;
    }
}

#[tokio::test]
async fn referral_brings_in_another_organization_and_removal_ends_delivery() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let (_, users, room) = care_team(&app).await;
        let room_id = room["id"].as_str().unwrap();
        let (a, b, patient) = (&users[0], &users[1], &users[2]);
        let cardio = app
            .account("c@cardio.test", Role::Clinician, Some("Cardiology"))
            .await;
        let cardio_org = app.org_id("Cardiology").await;
        let cardio_token = app.token_for(&cardio).await;

        // Before the referral the cardiologist cannot join or read.
        app.post(
            &format!("/api/v1/rooms/{room_id}/members"),
            Some(&cardio_token),
            json!({ "user_id": cardio }),
        )
        .await
        .expect_error(403, "forbidden");
        // Patients cannot refer; care-team members can, once.
        let refer = format!("/api/v1/rooms/{room_id}/referrals");
        app.post(
            &refer,
            Some(&a.1),
            json!({ "org_id": uuid::Uuid::new_v4().to_string() }),
        )
        .await
        .expect_error(404, "not_found");
        let referred = app
            .post(&refer, Some(&a.1), json!({ "org_id": cardio_org }))
            .await
            .expect(201);
        assert_eq!(referred["status"], "pending");
        app.post(&refer, Some(&a.1), json!({ "org_id": cardio_org }))
            .await
            .expect_error(409, "already_referred");
        // The referred organization sees the referral in its own audit trail.
        assert_eq!(app.audited("room.referral_received").await, 1);
        // A pending referral gives the cardiologist nothing yet.
        app.post(
            &format!("/api/v1/rooms/{room_id}/members"),
            Some(&cardio_token),
            json!({ "user_id": cardio }),
        )
        .await
        .expect_error(403, "forbidden");
        // Cardiology accepts, bringing its cardiologist in (tests/system/referrals.rs
        // covers the choices); the case now has two organizations.
        let referral_id = referred["id"].as_str().unwrap();
        app.post(
            &format!("/api/v1/orgs/{cardio_org}/referrals/{referral_id}/accept"),
            Some(&cardio_token),
            json!({ "member_ids": [cardio] }),
        )
        .await
        .expect(200);
        let room_now = app
            .get(&format!("/api/v1/rooms/{room_id}"), Some(&a.1))
            .await
            .expect(200);
        assert_eq!(room_now["orgs"].as_array().map(Vec::len), Some(2));
        // The referring side cannot add the referred organization's people (nor
        // tell them from strangers): same 404 as for an unknown user.
        let colleague = app
            .account("d@cardio.test", Role::Clinician, Some("Cardiology"))
            .await;
        app.post(
            &format!("/api/v1/rooms/{room_id}/members"),
            Some(&a.1),
            json!({ "user_id": colleague }),
        )
        .await
        .expect_error(404, "not_found");
        app.get(
            &format!("/api/v1/rooms/{room_id}/messages"),
            Some(&cardio_token),
        )
        .await
        .expect(200);
        // The patient is not in either organization's care team for this case and
        // cannot be added by a non-care-team member; the clinician can add them.
        app.post(
            &format!("/api/v1/rooms/{room_id}/members"),
            Some(&a.1),
            json!({ "user_id": patient.0 }),
        )
        .await
        .expect(201);

        // B is removed while subscribed: the socket is told and stops receiving.
        let mut wb = Ws::connect(&app.base, &b.1).await;
        wb.ok("subscribe", json!({ "room": room_id })).await;
        app.call(
            reqwest::Method::DELETE,
            &format!("/api/v1/rooms/{room_id}/members/{}", b.0),
            Some(&a.1),
            None,
        )
        .await
        .expect(204);
        let gone = crate::membership::push_at_once(&mut wb, "unsubscribed").await;
        assert_eq!(
            (gone["room"].as_str(), gone["reason"].as_str()),
            (Some(room_id), Some("removed"))
        );
        let refused = wb
            .request(
                "publish",
                json!({ "room": room_id, "client_id": "late", "body": "hi" }),
            )
            .await;
        assert_eq!(refused.unwrap_err()["code"], "room_not_found");
        app.get(&format!("/api/v1/rooms/{room_id}/messages"), Some(&b.1))
            .await
            .expect_error(403, "forbidden");
        // The patient may leave on their own; the audit log has every change.
        app.call(
            reqwest::Method::DELETE,
            &format!("/api/v1/rooms/{room_id}/members/{}", patient.0),
            Some(&patient.1),
            None,
        )
        .await
        .expect(204);
        // Every change is audited, once.
        assert_eq!(app.audited("room.refer").await, 1, "room.refer");
        assert_eq!(app.audited("room.member.add").await, 1, "room.member.add");
        assert_eq!(
            app.audited("room.member.remove").await,
            1,
            "room.member.remove"
        );
        assert_eq!(
            app.audited("room.member.leave").await,
            1,
            "room.member.leave"
        );
        app.stop().await;
    }
}
