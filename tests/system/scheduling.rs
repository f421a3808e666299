//! Scheduling over the API: hours in the provider's zone across daylight-saving
//! changes, free-slot search, booking that cannot double book (also under 50
//! concurrent attempts), cancel and reschedule, and refusal of bad input.

use hub::domain::Role;
use serde_json::{Value, json};

use crate::support::{self, TestApp, backends};

struct Clinic {
    org: String,
    admin: String,
    provider: (String, String),
    patient: (String, String),
    other_patient: (String, String),
    type_id: String,
}

async fn clinic(app: &TestApp) -> Clinic {
    let c = support::clinic::clinic(app, "Clinic", "clinic.test", "video").await;
    let other = app
        .account("other@clinic.test", Role::Patient, Some("Clinic"))
        .await;
    Clinic {
        org: c.org,
        admin: c.admin,
        provider: c.provider,
        patient: c.patient,
        other_patient: (other.clone(), app.token_for(&other).await),
        type_id: c.type_id,
    }
}

async fn slots(app: &TestApp, c: &Clinic, from: &str, to: &str) -> Vec<String> {
    let url = format!(
        "/api/v1/orgs/{}/slots?provider_id={}&type_id={}&from={from}&to={to}",
        c.org, c.provider.0, c.type_id
    );
    let list = app.get(&url, Some(&c.patient.1)).await.expect(200);
    list["slots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["starts_at"].as_str().unwrap().to_owned())
        .collect()
}

fn book_body(c: &Clinic, starts_at: &str) -> Value {
    json!({ "provider_id": c.provider.0, "type_id": c.type_id, "starts_at": starts_at })
}

#[tokio::test]
async fn hours_follow_the_providers_zone_across_daylight_saving() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let c = clinic(&app).await;
        // Monday 8 March 2027: New York is on EST (UTC-5); 09:00 local is 14:00Z.
        let before = slots(&app, &c, "2027-03-08T00:00:00Z", "2027-03-09T00:00:00Z").await;
        assert_eq!(
            before.first().map(String::as_str),
            Some("2027-03-08T14:00:00.000Z")
        );
        assert_eq!(before.len(), 6);
        // Clocks go forward on 14 March: on Monday the 15th 09:00 local is 13:00Z.
        let after = slots(&app, &c, "2027-03-15T00:00:00Z", "2027-03-16T00:00:00Z").await;
        assert_eq!(
            after.first().map(String::as_str),
            Some("2027-03-15T13:00:00.000Z")
        );
        assert_eq!(
            after.last().map(String::as_str),
            Some("2027-03-15T15:30:00.000Z")
        );
        // Back on 7 November: Monday the 8th starts at 14:00Z again.
        let autumn = slots(&app, &c, "2027-11-08T00:00:00Z", "2027-11-09T00:00:00Z").await;
        assert_eq!(
            autumn.first().map(String::as_str),
            Some("2027-11-08T14:00:00.000Z")
        );
        // Weekends have no hours.
        assert!(
            slots(&app, &c, "2027-03-13T00:00:00Z", "2027-03-15T00:00:00Z")
                .await
                .is_empty()
        );
        app.stop().await;
    }
}

#[tokio::test]
async fn fifty_concurrent_bookings_of_one_slot_make_one_appointment() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let c = clinic(&app).await;
        let url = format!("/api/v1/orgs/{}/appointments", c.org);
        let attempts = (0..50).map(|n| {
            // Half by the patient, half by the care team for the other patient.
            let (token, body) = if n % 2 == 0 {
                (c.patient.1.clone(), book_body(&c, "2027-03-15T13:00:00Z"))
            } else {
                let mut b = book_body(&c, "2027-03-15T13:00:00Z");
                b["patient_id"] = json!(c.other_patient.0);
                (c.provider.1.clone(), b)
            };
            let (app, url) = (&app, url.clone());
            async move { app.post(&url, Some(&token), body).await }
        });
        let replies = futures_util::future::join_all(attempts).await;
        let created = replies.iter().filter(|r| r.status == 201).count();
        let taken = replies
            .iter()
            .filter(|r| r.status == 409 && r.code() == "slot_taken")
            .count();
        assert_eq!(
            (created, taken),
            (1, 49),
            "{:?}",
            replies.iter().map(|r| r.status).collect::<Vec<_>>()
        );
        assert_eq!(app.count("SELECT COUNT(*) FROM appointments").await, 1);
        assert_eq!(app.count("SELECT COUNT(*) FROM slot_claims").await, 6);
        // The slot is gone from the search; its neighbours remain.
        let free = slots(&app, &c, "2027-03-15T00:00:00Z", "2027-03-16T00:00:00Z").await;
        assert!(!free.contains(&"2027-03-15T13:00:00.000Z".to_owned()));
        assert_eq!(free.len(), 5);
        app.stop().await;
    }
}

#[tokio::test]
async fn the_database_itself_refuses_a_second_claim() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let c = clinic(&app).await;
        app.post(
            &format!("/api/v1/orgs/{}/appointments", c.org),
            Some(&c.patient.1),
            book_body(&c, "2027-03-15T13:00:00Z"),
        )
        .await
        .expect(201);
        // Bypassing every check in code: an overlapping claim still fails.
        let start: i64 = 1_805_115_600_000 + 15 * 60_000; // 13:15Z, inside the booking
        let result = sqlx::query("INSERT INTO slot_claims (provider_id, granule, appointment_id) SELECT $1, $2, id FROM appointments")
            .bind(&c.provider.0)
            .bind(start)
            .execute(app.state.store.pool())
            .await;
        let refused = result.expect_err("overlapping claim accepted");
        let unique = refused
            .as_database_error()
            .is_some_and(|e| e.is_unique_violation());
        assert!(unique, "refused for another reason: {refused}");
        app.stop().await;
    }
}

#[tokio::test]
async fn cancel_and_reschedule_keep_history_and_never_double_book() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let c = clinic(&app).await;
        let base = format!("/api/v1/orgs/{}/appointments", c.org);
        let first = app
            .post(
                &base,
                Some(&c.patient.1),
                book_body(&c, "2027-03-15T13:00:00Z"),
            )
            .await
            .expect(201);
        let mut other = book_body(&c, "2027-03-15T14:00:00Z");
        other["patient_id"] = json!(c.other_patient.0);
        app.post(&base, Some(&c.admin), other).await.expect(201);
        let id = first["id"].as_str().unwrap();

        // Moving onto the other patient's slot fails and leaves the booking as it was.
        app.post(
            &format!("{base}/{id}/reschedule"),
            Some(&c.patient.1),
            json!({ "starts_at": "2027-03-15T14:00:00Z", "reason": "clash" }),
        )
        .await
        .expect_error(409, "slot_taken");
        let mine = app
            .get("/api/v1/appointments", Some(&c.patient.1))
            .await
            .expect(200);
        assert_eq!(mine.as_array().unwrap().len(), 1);
        assert_eq!(mine[0]["status"], "booked");

        let moved = app
            .post(
                &format!("{base}/{id}/reschedule"),
                Some(&c.patient.1),
                json!({ "starts_at": "2027-03-16T13:30:00Z", "reason": "work" }),
            )
            .await
            .expect(201);
        assert_eq!(moved["rescheduled_from"], id);
        let free = slots(&app, &c, "2027-03-15T00:00:00Z", "2027-03-16T00:00:00Z").await;
        assert!(
            free.contains(&"2027-03-15T13:00:00.000Z".to_owned()),
            "old slot freed"
        );

        let moved_id = moved["id"].as_str().unwrap();
        let cancelled = app
            .post(
                &format!("{base}/{moved_id}/cancel"),
                Some(&c.provider.1),
                json!({ "reason": "provider ill" }),
            )
            .await
            .expect(200);
        assert_eq!(cancelled["status"], "cancelled");
        app.post(
            &format!("{base}/{moved_id}/cancel"),
            Some(&c.provider.1),
            json!({ "reason": "again" }),
        )
        .await
        .expect_error(409, "not_booked");
        // Another patient cannot cancel someone else's appointment.
        let third = app
            .post(
                &base,
                Some(&c.patient.1),
                book_body(&c, "2027-03-17T13:00:00Z"),
            )
            .await
            .expect(201);
        let third_id = third["id"].as_str().unwrap();
        app.post(
            &format!("{base}/{third_id}/cancel"),
            Some(&c.other_patient.1),
            json!({ "reason": "x" }),
        )
        .await
        .expect_error(403, "forbidden");
        // Video appointments: each booking (3, plus the reschedule's new one) got a
        // visit and the patient's link notice; the moved and the cancelled one's
        // visits are cancelled; the failed reschedule created nothing.
        assert_eq!(
            app.count("SELECT COUNT(*) FROM visits WHERE appointment_id IS NOT NULL")
                .await,
            4
        );
        assert_eq!(
            app.count("SELECT COUNT(*) FROM visits WHERE state = 'cancelled'")
                .await,
            2
        );
        assert_eq!(
            app.count("SELECT COUNT(*) FROM notifications WHERE template = 'visit.link'")
                .await,
            4
        );
        // Every change is audited, once.
        assert_eq!(app.audited("appointment.book").await, 3, "appointment.book");
        assert_eq!(
            app.audited("appointment.reschedule").await,
            1,
            "appointment.reschedule"
        );
        assert_eq!(
            app.audited("appointment.cancel").await,
            1,
            "appointment.cancel"
        );
        app.stop().await;
    }
}

#[tokio::test]
async fn bad_bookings_are_refused_and_change_nothing() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let c = clinic(&app).await;
        let base = format!("/api/v1/orgs/{}/appointments", c.org);
        let post = |token: String, body: Value| {
            let (app, base) = (&app, base.clone());
            async move { app.post(&base, Some(&token), body).await }
        };
        post(c.patient.1.clone(), book_body(&c, "2020-03-16T13:00:00Z"))
            .await
            .expect_error(422, "in_the_past");
        post(c.patient.1.clone(), book_body(&c, "2027-03-15T13:10:00Z"))
            .await
            .expect_error(422, "outside_availability");
        post(c.patient.1.clone(), book_body(&c, "2027-03-13T14:00:00Z"))
            .await
            .expect_error(422, "outside_availability");
        post(c.patient.1.clone(), book_body(&c, "next tuesday"))
            .await
            .expect_error(422, "invalid_time");
        let mut for_other = book_body(&c, "2027-03-15T13:00:00Z");
        for_other["patient_id"] = json!(c.other_patient.0);
        post(c.patient.1.clone(), for_other)
            .await
            .expect_error(403, "forbidden");
        let mut unknown_type = book_body(&c, "2027-03-15T13:00:00Z");
        unknown_type["type_id"] = json!(uuid::Uuid::new_v4().to_string());
        post(c.patient.1.clone(), unknown_type)
            .await
            .expect_error(404, "not_found");
        // Leave blocks new bookings.
        app.post(
            &format!("/api/v1/orgs/{}/providers/{}/exceptions", c.org, c.provider.0),
            Some(&c.provider.1),
            json!({ "starts_at": "2027-03-18T00:00:00Z", "ends_at": "2027-03-19T00:00:00Z", "reason": "Conference" }),
        )
        .await
        .expect(201);
        post(c.patient.1.clone(), book_body(&c, "2027-03-18T13:00:00Z"))
            .await
            .expect_error(409, "slot_taken");
        // Hours: bad zone, bad window, a clinician setting someone else's.
        let avail = format!(
            "/api/v1/orgs/{}/providers/{}/availability",
            c.org, c.provider.0
        );
        let put = |token: String, body: Value| {
            let (app, avail) = (&app, avail.clone());
            async move {
                app.call(reqwest::Method::PUT, &avail, Some(&token), Some(body))
                    .await
            }
        };
        put(
            c.provider.1.clone(),
            json!({ "time_zone": "Mars/Olympus", "windows": [] }),
        )
        .await
        .expect_error(422, "invalid_time_zone");
        put(c.provider.1.clone(), json!({ "time_zone": "UTC", "windows": [{ "weekday": "mon", "start": "12:00", "end": "09:00" }] }))
            .await
            .expect_error(422, "invalid_window");
        put(c.provider.1.clone(), json!({ "time_zone": "UTC", "windows": [
            { "weekday": "mon", "start": "09:00", "end": "11:00" }, { "weekday": "mon", "start": "10:00", "end": "12:00" }] }))
            .await
            .expect_error(422, "overlapping_windows");
        let colleague = app
            .account("dr2@clinic.test", Role::Clinician, Some("Clinic"))
            .await;
        let colleague_token = app.token_for(&colleague).await;
        put(
            colleague_token.clone(),
            json!({ "time_zone": "UTC", "windows": [] }),
        )
        .await
        .expect_error(403, "forbidden");
        assert_eq!(app.count("SELECT COUNT(*) FROM appointments").await, 0);
        let still = app.get(&avail, Some(&c.patient.1)).await.expect(200);
        assert_eq!(still["time_zone"], "America/New_York");
        assert_eq!(still["windows"].as_array().map(Vec::len), Some(5));
        app.stop().await;
    }
}

#[tokio::test]
async fn the_calendar_feed_shows_appointments_at_a_revocable_secret_url() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let c = clinic(&app).await;
        let mut body = book_body(&c, "2027-03-15T13:00:00Z");
        body["reason"] = json!("chest pain");
        app.post(
            &format!("/api/v1/orgs/{}/appointments", c.org),
            Some(&c.patient.1),
            body,
        )
        .await
        .expect(201);

        let link = app
            .post("/api/v1/me/calendar-feed", Some(&c.patient.1), json!({}))
            .await
            .expect(201);
        let url = link["url"].as_str().unwrap();
        let path = &url[url.find("/calendar/").unwrap()..];
        let fetch = |path: String| {
            let app = &app;
            async move {
                let r = app.client.get(app.url(&path)).send().await.unwrap();
                let status = r.status().as_u16();
                let kind = r
                    .headers()
                    .get("content-type")
                    .map(|v| v.to_str().unwrap().to_owned());
                (status, kind, r.text().await.unwrap())
            }
        };
        let (status, kind, ics) = fetch(path.to_owned()).await;
        assert_eq!(status, 200);
        assert_eq!(kind.as_deref(), Some("text/calendar; charset=utf-8"));
        assert!(ics.contains("DTSTART:20270315T130000Z\r\n"), "{ics}");
        assert!(ics.contains("SUMMARY:Appointment: Follow-up\r\n"));
        assert!(
            !ics.contains("chest pain"),
            "no clinical detail in a calendar feed"
        );
        // The provider's feed shows it too.
        let provider_link = app
            .post("/api/v1/me/calendar-feed", Some(&c.provider.1), json!({}))
            .await
            .expect(201);
        let provider_url = provider_link["url"].as_str().unwrap();
        let (_, _, provider_ics) =
            fetch(provider_url[provider_url.find("/calendar/").unwrap()..].to_owned()).await;
        assert!(provider_ics.contains("DTSTART:20270315T130000Z"));

        // Rotating kills the old URL; revoking kills the new one.
        let rotated = app
            .post("/api/v1/me/calendar-feed", Some(&c.patient.1), json!({}))
            .await
            .expect(201);
        assert_eq!(fetch(path.to_owned()).await.0, 404);
        let new_url = rotated["url"].as_str().unwrap();
        let new_path = new_url[new_url.find("/calendar/").unwrap()..].to_owned();
        assert_eq!(fetch(new_path.clone()).await.0, 200);
        app.call(
            reqwest::Method::DELETE,
            "/api/v1/me/calendar-feed",
            Some(&c.patient.1),
            None,
        )
        .await
        .expect(204);
        assert_eq!(fetch(new_path).await.0, 404);
        assert_eq!(fetch("/calendar/nope.ics".into()).await.0, 404);
        assert!(
            app.count("SELECT COUNT(*) FROM audit_log WHERE action = 'calendar_feed.read'")
                .await
                >= 3
        );
        app.stop().await;
    }
}
