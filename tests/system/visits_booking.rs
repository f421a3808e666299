//! A video appointment booked over the API, followed as docs/visits.md tells an API client
//! to: the booking's answer carries no link (a link is a credential; it goes to the patient
//! as a `visit.link` notice); the patient's account finds the visit with `GET /visits` and
//! joins it on its own socket without a link; the provider (the visit's host) finds it the
//! same way and issues a link, `<public_url>/visit#t=<token>`, that redeems for a pass.

use hub::clock::Clock;
use serde_json::{Value, json};

use crate::support::{
    TestApp, backends,
    clinic::{Clinic, clinic},
    ws::Ws,
};

const STARTS_AT: &str = "2027-03-15T13:00:00Z";
const DAY: &str = "from=2027-03-15T00:00:00Z&to=2027-03-16T00:00:00Z";

fn the_visit<'a>(list: &'a Value, appointment: &str) -> &'a Value {
    let visits = list.as_array().expect("a list of visits");
    assert_eq!(visits.len(), 1, "{list}");
    assert_eq!(visits[0]["appointment_id"], appointment);
    &visits[0]
}

#[tokio::test]
async fn an_api_client_finds_a_booked_video_visit_and_its_link_as_documented() {
    for backend in backends() {
        let app = TestApp::spawn_with(backend, |c| {
            c.public_url = Some("https://care.example.org/".into());
        })
        .await;
        let Clinic {
            org,
            provider,
            patient,
            type_id,
            ..
        } = clinic(&app, "Video Clinic", "video.example", "video").await;
        let booked = app
            .post(
                &format!("/api/v1/orgs/{org}/appointments"),
                Some(&patient.1),
                json!({ "provider_id": provider.0, "type_id": type_id, "starts_at": STARTS_AT }),
            )
            .await
            .expect(201);
        let appointment = booked["id"].as_str().unwrap();
        assert!(
            !booked.to_string().contains("#t="),
            "no link in the answer: {booked}"
        );
        assert_eq!(
            app.count("SELECT COUNT(*) FROM notifications WHERE template = 'visit.link'")
                .await,
            1
        );

        // The patient's account: the visit is listed (beyond the default 24 h, so with a
        // window), and the account's own socket joins it when it opens, without a link.
        let mine = app
            .get(&format!("/api/v1/visits?{DAY}"), Some(&patient.1))
            .await
            .expect(200);
        let visit = the_visit(&mine, appointment)["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let starts_ms = chrono::DateTime::parse_from_rfc3339(STARTS_AT)
            .unwrap()
            .timestamp_millis();
        app.clock
            .advance_ms(starts_ms - 5 * 60 * 1000 - app.clock.now_ms());
        // Months later: signed in again.
        let patient = (patient.0.clone(), app.token_for(&patient.0).await);
        let provider = (provider.0.clone(), app.token_for(&provider.0).await);
        let mut socket = Ws::connect(&app.base, &patient.1).await;
        let joined = socket.ok("visit_join", json!({ "visit": visit })).await;
        assert_eq!(joined["participant"]["role"], "patient");
        assert_eq!(joined["participant"]["state"], "waiting");

        // The provider hosts it, finds it the same way and issues a link for the patient.
        let hosted = app
            .get(&format!("/api/v1/visits?{DAY}"), Some(&provider.1))
            .await
            .expect(200);
        let listed = the_visit(&hosted, appointment);
        let patient_pid = listed["participants"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["role"] == "patient")
            .expect("the patient participant")["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let link = app
            .post(
                &format!("/api/v1/visits/{visit}/links"),
                Some(&provider.1),
                json!({ "participant_id": patient_pid }),
            )
            .await
            .expect(201);
        let url = link["url"].as_str().unwrap();
        let token = url
            .strip_prefix("https://care.example.org/visit#t=")
            .unwrap_or_else(|| panic!("<public_url>/visit#t=<token>: {url}"));
        let redeemed = app
            .post(
                "/api/v1/visit-links/redeem",
                None,
                json!({ "token": token }),
            )
            .await
            .expect(200);
        assert_eq!(redeemed["visit_id"], visit.as_str());
        assert_eq!(redeemed["participant_id"], patient_pid.as_str());
        // Only the provider hosts it: the patient cannot hand out links.
        app.post(
            &format!("/api/v1/visits/{visit}/links"),
            Some(&patient.1),
            json!({ "participant_id": patient_pid }),
        )
        .await
        .expect_error(403, "not_host");
        app.stop().await;
    }
}
