//! Every link the hub puts in a notice opens a page it serves. The test makes the
//! hub send every kind of notice whose template shows a link, collects the links
//! from the mail and SMS that really went out, and opens each one on the running
//! hub: 200 and an HTML page (the fragment, which holds any token, stays in the
//! browser and is not part of the request).

use std::collections::BTreeSet;

use hub::domain::Role;
use notifier::{templates, test_support::smtp_sink::SinkOptions};
use serde_json::json;

use crate::{
    notifications::{PATIENT_PHONE, Providers, WAIT, clinic, eventually, set_contact},
    support::{TestApp, backends},
};

/// Every absolute link to this hub in `text`, without its fragment. Mail bodies
/// are quoted-printable: soft line breaks and `=3D` are undone first.
fn links_in(text: &str, public_url: &str) -> Vec<String> {
    let text = text
        .replace("=\r\n", "")
        .replace("=\n", "")
        .replace("=3D", "=");
    text.match_indices(public_url)
        .map(|(at, _)| {
            let link: String = text[at..]
                .chars()
                .take_while(|c| !c.is_whitespace() && !matches!(c, '"' | '<' | '>'))
                .collect();
            link.split('#').next().unwrap_or_default().to_owned()
        })
        .collect()
}

#[tokio::test]
async fn every_link_in_every_notice_opens_a_page_of_the_hub() {
    for backend in backends() {
        let providers = Providers::start(SinkOptions::default()).await;
        let app = TestApp::spawn_with(backend, |c| providers.configure(c)).await;
        let public = app.state.config.effective_public_url();
        let c = clinic(&app).await;
        set_contact(&app, &c.patient, json!({ "phone": PATIENT_PHONE })).await;
        let provider = app.token_for(&c.provider).await;

        // message.unread: a colleague away from a case room hears of a new message.
        let away = app
            .account("away@clinic.test", Role::Clinician, Some("Clinic"))
            .await;
        let room = app
            .post(
                &format!("/api/v1/orgs/{}/rooms", c.org),
                Some(&provider),
                json!({ "kind": "case", "title": "Bed 4", "member_ids": [away] }),
            )
            .await
            .expect(201);
        app.post(
            &format!(
                "/api/v1/rooms/{}/messages",
                room["id"].as_str().expect("room")
            ),
            Some(&provider),
            json!({ "client_id": "m1", "body": "please review" }),
        )
        .await
        .expect(201);
        app.clock.advance_ms(600_000);
        providers.emails(1).await;
        let provider = app.token_for(&c.provider).await;

        // critical.alert: by SMS to the patient's phone.
        app.post(
            &format!("/api/v1/orgs/{}/alerts", c.org),
            Some(&provider),
            json!({ "patient_id": c.patient }),
        )
        .await
        .expect(202);
        // account.verify_email and account.password_reset.
        app.register("new@patients.test").await;
        app.post(
            "/api/v1/auth/password-reset",
            None,
            json!({ "email": "new@patients.test" }),
        )
        .await
        .expect(202);
        // account.register_attempt: registering an address that has an account.
        app.post(
            "/api/v1/auth/register",
            None,
            json!({ "email": "new@patients.test", "password": crate::support::PASSWORD,
                    "display_name": "Again" }),
        )
        .await
        .expect(201);
        // org.invite: an organization invites an address.
        app.post(
            &format!("/api/v1/orgs/{}/invites", c.org),
            Some(&app.access_token("admin@clinic.test").await),
            json!({ "email": "newdoc@clinic.test", "role": "clinician" }),
        )
        .await
        .expect(201);
        // visit.link: booking a video appointment sends the patient the visit's link.
        let admin = app.access_token("admin@clinic.test").await;
        let video = app
            .post(
                &format!("/api/v1/orgs/{}/appointment-types", c.org),
                Some(&admin),
                json!({ "name": "Video consult", "duration_min": 30, "mode": "video" }),
            )
            .await
            .expect(201);
        app.post(
            &format!("/api/v1/orgs/{}/appointments", c.org),
            Some(&app.token_for(&c.patient).await),
            json!({ "provider_id": c.provider, "type_id": video["id"], "starts_at": "2027-03-15T14:00:00Z" }),
        )
        .await
        .expect(201);

        // Every template that shows a link went out at least once.
        let linked: BTreeSet<&str> = templates::TEMPLATES
            .into_iter()
            .filter(|t| templates::shows_link(t))
            .collect();
        for template in &linked {
            let sent: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM notifications WHERE template = $1 AND delivery <> 'in_app'",
            )
            .bind(template)
            .fetch_one(app.state.store.pool())
            .await
            .expect("count");
            assert!(
                sent > 0,
                "{template} shows a link but this test does not send it: add it here"
            );
        }
        let out_of_band = "SELECT COUNT(*) FROM notifications WHERE delivery <> 'in_app' \
                           AND status IN ('sent', 'delivered')";
        // Appointment confirmation, visit link, unread, alert, verification, reset,
        // registration attempt, invite.
        eventually(&app, out_of_band, 8).await;
        assert!(providers.sms.wait_for_count(1, WAIT).await);
        let mut texts: Vec<String> = providers
            .smtp
            .messages()
            .into_iter()
            .map(|m| m.data)
            .collect();
        texts.extend(providers.sms.messages().into_iter().map(|m| m.body));
        let links: BTreeSet<String> = texts.iter().flat_map(|t| links_in(t, &public)).collect();
        let paths: BTreeSet<&str> = links
            .iter()
            .map(|l| l.strip_prefix(public.as_str()).unwrap_or(l))
            .collect();
        for link in &links {
            let page = app.client.get(link).send().await.expect("GET");
            assert_eq!(page.status(), 200, "{link}");
            let kind = page.headers()["content-type"]
                .to_str()
                .expect("type")
                .to_owned();
            assert!(kind.starts_with("text/html"), "{link}: {kind}");
            let body = page.text().await.expect("body");
            assert!(
                body.to_ascii_lowercase().starts_with("<!doctype html>"),
                "{link}"
            );
        }
        // The console (unread, alert), the sign-up page (verify), the
        // forgot-password page (reset), the visit page, the sign-in page
        // (registration attempt), the invite page.
        assert_eq!(
            paths,
            BTreeSet::from([
                "/",
                "/forgot",
                "/invite",
                "/signup",
                "/visit",
                "/web/app.html"
            ]),
            "{links:?}"
        );
        app.stop().await;
    }
}
