//! What the patient portal reads, against the real hub: the organization's bookable
//! providers, the caller's own appointments (another patient's stay invisible) with
//! names, the video visit and when its waiting room opens (`opens_at`, also on the visit
//! and on a redeemed link), the in-app notices in words rather than event names, and the
//! clinician and admin APIs behind the console refused to a patient.

use hub::{clock::Clock, domain::Role};
use reqwest::Method;
use serde_json::{Value, json};

use crate::support::{
    TestApp, backends,
    clinic::{Clinic, clinic},
};

const STARTS_AT: &str = "2027-03-15T13:00:00Z";
/// `STARTS_AT` less the default `visits.join_opens_before_secs` (30 minutes).
const OPENS_AT: &str = "2027-03-15T12:30:00.000Z";
const WINDOW: &str = "from=2027-03-01T00:00:00Z&to=2027-04-01T00:00:00Z";

fn ids(list: &Value) -> Vec<&str> {
    list.as_array()
        .expect("a list")
        .iter()
        .map(|a| a["id"].as_str().expect("id"))
        .collect()
}

#[tokio::test]
async fn patients_see_the_bookable_providers_of_their_organizations_only() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let Clinic {
            org,
            provider,
            patient,
            ..
        } = clinic(&app, "Portal Clinic", "portal.example", "video").await;
        // A clinician without weekly hours cannot be booked: not listed.
        app.account(
            "nohours@portal.example",
            Role::Clinician,
            Some("Portal Clinic"),
        )
        .await;
        let listed = app
            .get(&format!("/api/v1/orgs/{org}/providers"), Some(&patient.1))
            .await
            .expect(200);
        let providers = listed.as_array().expect("list");
        assert_eq!(providers.len(), 1, "{listed}");
        assert_eq!(providers[0]["user_id"], provider.0.as_str());
        assert_eq!(providers[0]["time_zone"], "America/New_York");
        assert!(
            providers[0]["display_name"]
                .as_str()
                .is_some_and(|n| !n.is_empty()),
            "{listed}"
        );
        let types = providers[0]["appointment_types"].as_array().expect("types");
        assert_eq!(types.len(), 1);
        assert_eq!(types[0]["name"], "Follow-up");
        assert_eq!(types[0]["mode"], "video");

        // A patient of another organization, and nobody signed in, are refused.
        let other = app
            .account("other@elsewhere.example", Role::Patient, Some("Elsewhere"))
            .await;
        let other = app.token_for(&other).await;
        app.get(&format!("/api/v1/orgs/{org}/providers"), Some(&other))
            .await
            .expect_error(403, "forbidden");
        app.get(&format!("/api/v1/orgs/{org}/providers"), None)
            .await
            .expect_error(401, "unauthenticated");
    }
}

#[tokio::test]
async fn the_appointment_list_shows_only_ones_own_with_names_visit_and_opening() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let Clinic {
            org,
            provider,
            patient,
            type_id,
            ..
        } = clinic(&app, "List Clinic", "list.example", "video").await;
        let second = app
            .account("second@list.example", Role::Patient, Some("List Clinic"))
            .await;
        let second = (second.clone(), app.token_for(&second).await);
        let booked = app
            .post(
                &format!("/api/v1/orgs/{org}/appointments"),
                Some(&patient.1),
                json!({ "provider_id": provider.0, "type_id": type_id, "starts_at": STARTS_AT,
                        "reason": "knee pain" }),
            )
            .await
            .expect(201);
        let id = booked["id"].as_str().unwrap().to_owned();

        let mine = app
            .get(&format!("/api/v1/appointments?{WINDOW}"), Some(&patient.1))
            .await
            .expect(200);
        assert_eq!(ids(&mine), [id.as_str()], "{mine}");
        let a = &mine[0];
        assert_eq!(a["type_name"], "Follow-up");
        assert_eq!(a["mode"], "video");
        assert_eq!(a["org_name"], "List Clinic");
        assert_eq!(a["reason"], "knee pain");
        assert!(a["provider_name"].as_str().is_some_and(|n| !n.is_empty()));
        assert_eq!(a["opens_at"], OPENS_AT, "{a}");
        assert_eq!(a["visit_state"], "scheduled");
        let visit_id = a["visit_id"]
            .as_str()
            .expect("a video appointment has its visit");

        // Another patient of the same organization sees nothing of it, not even by id.
        let theirs = app
            .get(&format!("/api/v1/appointments?{WINDOW}"), Some(&second.1))
            .await
            .expect(200);
        assert!(ids(&theirs).is_empty(), "{theirs}");
        app.get(&format!("/api/v1/visits/{visit_id}"), Some(&second.1))
            .await
            .expect_error(404, "visit_not_found");
        app.post(
            &format!("/api/v1/orgs/{org}/appointments/{id}/cancel"),
            Some(&second.1),
            json!({ "reason": "not mine" }),
        )
        .await
        .expect_error(403, "forbidden");

        // The provider sees it too (as provider), the visit and the patient's page see
        // the same opening time.
        let theirs = app
            .get(&format!("/api/v1/appointments?{WINDOW}"), Some(&provider.1))
            .await
            .expect(200);
        assert_eq!(ids(&theirs), [id.as_str()]);
        let visit = app
            .get(&format!("/api/v1/visits/{visit_id}"), Some(&patient.1))
            .await
            .expect(200);
        assert_eq!(visit["opens_at"], OPENS_AT);
        let patient_pid = visit["participants"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["role"] == "patient")
            .and_then(|p| p["id"].as_str())
            .unwrap()
            .to_owned();
        let link = app
            .post(
                &format!("/api/v1/visits/{visit_id}/links"),
                Some(&provider.1),
                json!({ "participant_id": patient_pid }),
            )
            .await
            .expect(201);
        let token = link["url"].as_str().unwrap().split("#t=").nth(1).unwrap();
        let redeemed = app
            .post(
                "/api/v1/visit-links/redeem",
                None,
                json!({ "token": token }),
            )
            .await
            .expect(200);
        assert_eq!(redeemed["opens_at"], OPENS_AT);

        // Past appointments: after it, the default list (from 24 h ago) drops it, a
        // window reaching back still has it. Every list is audited.
        let starts = chrono::DateTime::parse_from_rfc3339(STARTS_AT)
            .unwrap()
            .timestamp_millis();
        app.clock
            .advance_ms(starts + 2 * 86_400_000 - app.clock.now_ms());
        let patient = (patient.0.clone(), app.token_for(&patient.0).await);
        let upcoming = app
            .get("/api/v1/appointments", Some(&patient.1))
            .await
            .expect(200);
        assert!(ids(&upcoming).is_empty(), "{upcoming}");
        let past = app
            .get(&format!("/api/v1/appointments?{WINDOW}"), Some(&patient.1))
            .await
            .expect(200);
        assert_eq!(ids(&past), [id.as_str()]);
        assert!(app.audited("appointment.list").await >= 5);

        // A window must make sense.
        app.get(
            "/api/v1/appointments?from=2027-03-02T00:00:00Z&to=2027-03-01T00:00:00Z",
            Some(&patient.1),
        )
        .await
        .expect_error(422, "invalid_range");
        app.get("/api/v1/appointments?from=yesterday", Some(&patient.1))
            .await
            .expect_error(422, "invalid_time");
    }
}

#[tokio::test]
async fn notifications_are_listed_in_words_for_their_reader() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let Clinic {
            org,
            provider,
            patient,
            type_id,
            ..
        } = clinic(&app, "Notice Clinic", "notice.example", "in_person").await;
        app.post(
            &format!("/api/v1/orgs/{org}/appointments"),
            Some(&patient.1),
            json!({ "provider_id": provider.0, "type_id": type_id, "starts_at": STARTS_AT }),
        )
        .await
        .expect(201);
        let list = app
            .get("/api/v1/me/notifications", Some(&patient.1))
            .await
            .expect(200);
        let items = list.as_array().expect("list");
        let booked: Vec<&Value> = items
            .iter()
            .filter(|n| n["template"] == "appointment.booked")
            .collect();
        assert_eq!(booked.len(), 2, "in-app and out of band: {list}");
        for n in &booked {
            assert_eq!(n["title"], "Appointment confirmed", "{n}");
        }
        let in_app = booked.iter().find(|n| n["delivery"] == "in_app").unwrap();
        let body = in_app["body"]
            .as_str()
            .expect("an in-app notice has its text");
        assert!(body.contains("Notice Clinic"), "{body}");
        assert!(!body.contains("appointment."), "no event names: {body}");
        let mail = booked.iter().find(|n| n["delivery"] != "in_app").unwrap();
        assert!(
            mail["body"].is_null(),
            "mail text stays in the mailbox: {mail}"
        );

        // The provider's notice is written for the provider.
        let theirs = app
            .get("/api/v1/me/notifications", Some(&provider.1))
            .await
            .expect(200);
        let notice = theirs
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["template"] == "appointment.booked.provider")
            .expect("the provider's notice");
        assert!(
            notice["title"].as_str().is_some_and(|t| !t.contains('.')),
            "{notice}"
        );
        assert!(notice["body"].as_str().is_some_and(|b| !b.is_empty()));
    }
}

#[tokio::test]
async fn a_patient_is_refused_the_clinician_and_admin_apis_behind_the_console() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let Clinic {
            org,
            provider,
            patient,
            ..
        } = clinic(&app, "Refusing Clinic", "refusing.example", "video").await;
        let p = Some(patient.1.as_str());
        let refused = [
            (Method::GET, format!("/api/v1/orgs/{org}/members"), None),
            (Method::GET, format!("/api/v1/orgs/{org}/invites"), None),
            (Method::GET, format!("/api/v1/orgs/{org}/audit"), None),
            (
                Method::GET,
                format!("/api/v1/orgs/{org}/notifications"),
                None,
            ),
            (
                Method::POST,
                format!("/api/v1/orgs/{org}/visits"),
                Some(json!({ "patient_name": "X", "scheduled_at": STARTS_AT })),
            ),
            (
                Method::POST,
                format!("/api/v1/orgs/{org}/appointment-types"),
                Some(json!({ "name": "Mine", "duration_min": 30, "mode": "video" })),
            ),
            (
                Method::PUT,
                format!("/api/v1/orgs/{org}/providers/{}/availability", provider.0),
                Some(json!({ "time_zone": "UTC", "windows": [] })),
            ),
            (
                Method::POST,
                format!("/api/v1/orgs/{org}/alerts"),
                Some(json!({ "recipient_id": provider.0, "text": "x" })),
            ),
            (
                Method::POST,
                format!("/api/v1/orgs/{org}/rooms"),
                Some(json!({ "kind": "case", "title": "Mine" })),
            ),
        ];
        for (method, path, body) in refused {
            let reply = app.call(method.clone(), &path, p, body).await;
            reply.expect_error(403, "forbidden");
        }
        // What the portal itself uses answers.
        for path in [
            format!("/api/v1/orgs/{org}/providers"),
            format!("/api/v1/orgs/{org}/appointment-types"),
            "/api/v1/appointments".to_owned(),
            "/api/v1/me/notifications".to_owned(),
            "/api/v1/rooms".to_owned(),
        ] {
            app.get(&path, p).await.expect(200);
        }
    }
}
