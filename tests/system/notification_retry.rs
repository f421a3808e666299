//! Failed notifications and "try again" (docs/api.md, "Admin console"): an
//! organization's admin sends a failed notice again, for real, through the SMTP
//! server; one whose one-time link is gone, or that did not fail, is refused
//! with its own code; nobody but the organization's admins may.

use hub::domain::Role;
use notifier::test_support::smtp_sink::SinkOptions;
use serde_json::json;

use crate::{
    notifications::{Providers, eventually},
    support::{TestApp, backends},
};

#[tokio::test]
async fn an_admin_sends_a_failed_notification_again() {
    for backend in backends() {
        let providers = Providers::start(SinkOptions {
            reject: vec!["nobody@clinic.test".into(), "ghost@clinic.test".into()],
            ..SinkOptions::default()
        })
        .await;
        let app = TestApp::spawn_with(backend, |c| providers.configure(c)).await;
        let admin = app
            .account("adm@clinic.test", Role::Admin, Some("Clinic"))
            .await;
        let doc = app
            .account("doc@clinic.test", Role::Clinician, Some("Clinic"))
            .await;
        let lost = app
            .account("nobody@clinic.test", Role::Patient, Some("Clinic"))
            .await;
        let org = app.org_id("Clinic").await;
        let token = app.token_for(&admin).await;
        app.post(
            &format!("/api/v1/orgs/{org}/alerts"),
            Some(&app.token_for(&doc).await),
            json!({ "patient_id": lost }),
        )
        .await
        .expect(202);
        // An invite mailed to an address the server refuses fails too.
        app.post(
            &format!("/api/v1/orgs/{org}/members"),
            Some(&token),
            json!({ "email": "ghost@clinic.test", "role": "clinician" }),
        )
        .await
        .expect(202);
        eventually(
            &app,
            "SELECT COUNT(*) FROM notifications WHERE status = 'failed'",
            2,
        )
        .await;
        let failed = app
            .get(
                &format!("/api/v1/orgs/{org}/notifications?status=failed"),
                Some(&token),
            )
            .await
            .expect(200);
        let id_of = |template: &str| {
            failed
                .as_array()
                .unwrap()
                .iter()
                .find(|n| n["template"] == template)
                .unwrap_or_else(|| panic!("{template} in {failed}"))["id"]
                .as_str()
                .unwrap()
                .to_owned()
        };
        let alert = id_of("critical.alert");
        let invite = id_of("org.invite");
        let retry = |id: &str| format!("/api/v1/orgs/{org}/notifications/{id}/retry");

        // Others may not.
        app.post(&retry(&alert), None, json!({}))
            .await
            .expect_error(401, "unauthenticated");
        let guest = app.register("guest@example.test").await;
        for who in [&doc, &lost, &guest] {
            app.post(&retry(&alert), Some(&app.token_for(who).await), json!({}))
                .await
                .expect_error(403, "forbidden");
        }

        let attempts_before = app
            .count("SELECT COUNT(*) FROM notification_attempts")
            .await;
        app.post(&retry(&alert), Some(&token), json!({}))
            .await
            .expect(202);
        assert_eq!(app.audited("notification.retry").await, 1);
        // The worker tried it again for real (the server still refuses the
        // address), and it is listed as failed again.
        let deadline = tokio::time::Instant::now() + crate::notifications::WAIT;
        loop {
            let attempts = app
                .count("SELECT COUNT(*) FROM notification_attempts")
                .await;
            let failed = app
                .count("SELECT COUNT(*) FROM notifications WHERE status = 'failed'")
                .await;
            if attempts > attempts_before && failed == 2 {
                break;
            }
            assert!(tokio::time::Instant::now() < deadline, "not retried");
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }

        // The invite's one-time link was not kept: a new invite is the way.
        app.post(&retry(&invite), Some(&token), json!({}))
            .await
            .expect_error(410, "notification_content_gone");
        // A notification that did not fail, and ones that do not exist here.
        let sent: String = sqlx::query_scalar(
            "SELECT id FROM notifications WHERE status <> 'failed' AND org_id = $1 LIMIT 1",
        )
        .bind(&org)
        .fetch_one(app.state.store.pool())
        .await
        .expect("a notification that did not fail");
        app.post(&retry(&sent), Some(&token), json!({}))
            .await
            .expect_error(409, "notification_not_failed");
        let unknown = uuid::Uuid::now_v7().to_string();
        for id in [unknown.as_str(), "not-an-id"] {
            app.post(&retry(id), Some(&token), json!({}))
                .await
                .expect_error(404, "not_found");
        }
        assert_eq!(app.audited("notification.retry").await, 1);
        app.stop().await;
    }
}
