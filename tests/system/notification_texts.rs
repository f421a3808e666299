//! What each person reads about an appointment: the patient's text addresses the
//! patient and names the provider; the provider's addresses the provider and names
//! the patient and the appointment type. Each is in the reader's own language and
//! time zone, by SMS and in-app alike (the in-app notice is the same template's
//! first line). Checked word for word in two rounds with different locales and zones.

use notifier::test_support::smtp_sink::SinkOptions;
use serde_json::{Value, json};

use crate::{
    notifications::{Providers, WAIT, clinic_named, eventually, set_clock, set_contact},
    support::{TestApp, backends, ws::Ws},
};

const PATIENT: &str = "Ana Silva";
const PROVIDER: &str = "Dr. Min Lee";

/// The next in-app notice on `ws`, as (title, body); other personal events
/// (the appointment changes themselves) are skipped.
async fn next_notice(ws: &mut Ws) -> (String, String) {
    loop {
        let frame = ws.next_of("user_event").await;
        if frame["kind"] == "notification" {
            let text = |k: &str| frame["payload"][k].as_str().expect(k).to_owned();
            return (text("title"), text("body"));
        }
    }
}

/// The body of the `n`-th SMS (1-based) once it has arrived.
async fn sms(providers: &Providers, n: usize) -> String {
    assert!(providers.sms.wait_for_count(n, WAIT).await, "SMS {n}");
    providers.sms.messages()[n - 1].body.clone()
}

/// Waits until the worker has recorded every hand-off it made. Moving the
/// clock by days while a row is still `sending` would end its lease, and the
/// worker would take it over as if its first holder had died.
async fn quiet(app: &TestApp) {
    eventually(
        app,
        "SELECT COUNT(*) FROM notifications WHERE status = 'sending'",
        0,
    )
    .await;
}

fn pair(title: &str, body: &str) -> (String, String) {
    (title.to_owned(), body.to_owned())
}

/// Settings for the patient: SMS for appointment notices, `locale` and `zone`.
fn patient_settings(locale: &str, zone: &str) -> Value {
    json!({
        "phone": crate::notifications::PATIENT_PHONE, "locale": locale, "time_zone": zone,
        "preferences": { "appointments": { "channels": ["sms"], "in_app": true } },
    })
}

#[tokio::test]
async fn patient_and_provider_each_read_their_own_text_in_their_language_and_zone() {
    for backend in backends() {
        let providers = Providers::start(SinkOptions::default()).await;
        let app = TestApp::spawn_with(backend, |c| providers.configure(c)).await;
        let c = clinic_named(&app, PROVIDER, PATIENT).await;
        let patient_token = app.token_for(&c.patient).await;
        let provider_token = app.token_for(&c.provider).await;
        let mut patient = Ws::connect(&app.base, &patient_token).await;
        patient.ok("notifications", json!({})).await;
        let mut provider = Ws::connect(&app.base, &provider_token).await;
        provider.ok("notifications", json!({})).await;
        let appointments = format!("/api/v1/orgs/{}/appointments", c.org);

        // Round 1: the patient reads Spanish in Madrid, the provider Portuguese in Lisbon.
        set_contact(&app, &c.patient, patient_settings("es", "Europe/Madrid")).await;
        set_contact(
            &app,
            &c.provider,
            json!({ "locale": "pt", "time_zone": "Europe/Lisbon" }),
        )
        .await;
        // 2027-03-15 14:00Z: 15:00 CET in Madrid, 14:00 WET in Lisbon.
        let booked = app
            .post(
                &appointments,
                Some(&patient_token),
                json!({ "provider_id": c.provider, "type_id": c.type_id, "starts_at": "2027-03-15T14:00:00Z" }),
            )
            .await
            .expect(201);
        let confirmed = "Hola Ana Silva: su cita con Dr. Min Lee en Clinic está confirmada para el 2027-03-15 15:00 CET.";
        assert_eq!(
            sms(&providers, 1).await,
            format!("{confirmed} Responda STOP para no recibir SMS.")
        );
        assert_eq!(
            next_notice(&mut patient).await,
            pair("Cita confirmada", confirmed)
        );
        assert_eq!(
            next_notice(&mut provider).await,
            pair(
                "Nova consulta",
                "Nova consulta com Ana Silva (Follow-up) em Clinic, marcada para 2027-03-15 14:00 WET."
            )
        );
        // Moved to 2027-03-17 15:00Z.
        let moved = app
            .post(
                &format!(
                    "{appointments}/{}/reschedule",
                    booked["id"].as_str().expect("id")
                ),
                Some(&patient_token),
                json!({ "starts_at": "2027-03-17T15:00:00Z", "reason": "clash" }),
            )
            .await
            .expect(201);
        let moved_text = "Hola Ana Silva: su cita con Dr. Min Lee en Clinic se ha movido al 2027-03-17 16:00 CET.";
        assert_eq!(
            sms(&providers, 2).await,
            format!("{moved_text} Responda STOP para no recibir SMS.")
        );
        assert_eq!(
            next_notice(&mut patient).await,
            pair("Cita cambiada", moved_text)
        );
        assert_eq!(
            next_notice(&mut provider).await,
            pair(
                "Consulta remarcada",
                "A sua consulta com Ana Silva (Follow-up) em Clinic passou para 2027-03-17 15:00 WET."
            )
        );
        // The 24-hour reminder of the moved appointment (by SMS: the reminders default).
        quiet(&app).await;
        set_clock(&app, "2027-03-16T15:00:00Z");
        // Months later: a fresh access token.
        let provider_token = app.token_for(&c.provider).await;
        assert_eq!(
            sms(&providers, 3).await,
            "Recordatorio: tiene una cita con Dr. Min Lee en Clinic el 2027-03-17 16:00 CET. \
             Responda STOP para no recibir SMS."
        );
        app.post(
            &format!(
                "{appointments}/{}/cancel",
                moved["id"].as_str().expect("id")
            ),
            Some(&provider_token),
            json!({ "reason": "provider ill" }),
        )
        .await
        .expect(200);
        let cancelled = "Hola Ana Silva: su cita con Dr. Min Lee en Clinic del 2027-03-17 16:00 CET ha sido cancelada.";
        assert_eq!(
            sms(&providers, 4).await,
            format!("{cancelled} Responda STOP para no recibir SMS.")
        );
        assert_eq!(
            next_notice(&mut patient).await,
            pair("Cita cancelada", cancelled)
        );
        assert_eq!(
            next_notice(&mut provider).await,
            pair(
                "Consulta cancelada",
                "A sua consulta com Ana Silva (Follow-up) em Clinic de 2027-03-17 15:00 WET foi cancelada."
            )
        );

        // Round 2: the patient reads English in Los Angeles, the provider Spanish in
        // Mexico City. 2027-03-19 14:00Z: 07:00 PDT, 08:00 CST. The provider books.
        set_contact(
            &app,
            &c.patient,
            patient_settings("en", "America/Los_Angeles"),
        )
        .await;
        set_contact(
            &app,
            &c.provider,
            json!({ "locale": "es", "time_zone": "America/Mexico_City" }),
        )
        .await;
        let booked = app
            .post(
                &appointments,
                Some(&provider_token),
                json!({ "provider_id": c.provider, "type_id": c.type_id, "patient_id": c.patient,
                        "starts_at": "2027-03-19T14:00:00Z" }),
            )
            .await
            .expect(201);
        let confirmed = "Hello Ana Silva, your appointment with Dr. Min Lee at Clinic is confirmed for 2027-03-19 07:00 PDT.";
        assert_eq!(
            sms(&providers, 5).await,
            format!("{confirmed} Reply STOP to opt out.")
        );
        assert_eq!(
            next_notice(&mut patient).await,
            pair("Appointment confirmed", confirmed)
        );
        assert_eq!(
            next_notice(&mut provider).await,
            pair(
                "Nueva cita",
                "Nueva cita con Ana Silva (Follow-up) en Clinic el 2027-03-19 08:00 CST."
            )
        );
        quiet(&app).await;
        set_clock(&app, "2027-03-18T14:00:00Z");
        let patient_token = app.token_for(&c.patient).await;
        assert_eq!(
            sms(&providers, 6).await,
            "Reminder: you have an appointment with Dr. Min Lee at Clinic on 2027-03-19 07:00 PDT. \
             Reply STOP to opt out."
        );
        app.post(
            &format!(
                "{appointments}/{}/cancel",
                booked["id"].as_str().expect("id")
            ),
            Some(&patient_token),
            json!({ "reason": "feeling better" }),
        )
        .await
        .expect(200);
        assert_eq!(
            next_notice(&mut patient).await,
            pair(
                "Appointment cancelled",
                "Hello Ana Silva, your appointment with Dr. Min Lee at Clinic on 2027-03-19 07:00 PDT has been cancelled."
            )
        );
        assert_eq!(
            next_notice(&mut provider).await,
            pair(
                "Cita cancelada",
                "Su cita con Ana Silva (Follow-up) en Clinic del 2027-03-19 08:00 CST ha sido cancelada."
            )
        );
        assert_eq!(providers.smtp.count(), 0, "nobody chose email");
        drop((patient, provider));
        app.stop().await;
    }
}
