//! Mail that decides who joins: organization invites sent through the notifier
//! (and accepted from the mailed link), adding by email going through an invite,
//! and registration that does not reveal who has an account. Against a real SMTP
//! server (Python's aiosmtpd, as in notifications.rs).

use std::time::Duration;

use hub::{config::Config, domain::Role};
use notifier::{
    config::{SmtpSecurity, SmtpSettings},
    test_support::smtp_sink::{ReceivedEmail, SinkOptions, SmtpSink},
};
use serde_json::{Value, json};

use crate::support::{PASSWORD, TestApp, backends};

const WAIT: Duration = Duration::from_secs(15);

fn configure(smtp: &SmtpSink, config: &mut Config) {
    config.public_url = Some("https://hub.example".into());
    config.notifier.poll_interval_ms = 100;
    config.notifier.email = Some(SmtpSettings {
        host: "127.0.0.1".into(),
        port: smtp.port(),
        security: SmtpSecurity::Plain,
        username: None,
        password: None,
        from: "HealthBridge <no-reply@clinic.test>".into(),
        timeout_secs: 10,
    });
}

/// Waits (without blocking the hub's runtime) until `n` emails arrived.
async fn emails(smtp: &SmtpSink, n: usize) -> Vec<ReceivedEmail> {
    let deadline = tokio::time::Instant::now() + WAIT;
    while smtp.count() < n && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let got = smtp.messages();
    assert!(got.len() >= n, "expected {n} emails, got {}", got.len());
    got
}

/// The mail sent to `to` (exactly one).
fn mail_to<'a>(mails: &'a [ReceivedEmail], to: &str) -> &'a ReceivedEmail {
    let found: Vec<_> = mails
        .iter()
        .filter(|m| m.rcpt_tos.iter().any(|r| r == to))
        .collect();
    assert_eq!(found.len(), 1, "mails to {to}: {found:?}");
    found[0]
}

/// The invite token from a mailed `/invite#token=` link.
fn invite_token(mail: &ReceivedEmail) -> String {
    let data = mail
        .data
        .replace("=\r\n", "")
        .replace("=\n", "")
        .replace("=3D", "=");
    let marker = "https://hub.example/invite#token=";
    let start = data.find(marker).expect("invite link in mail") + marker.len();
    data[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect()
}

fn keys(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = v.as_object().expect("object").keys().cloned().collect();
    k.sort();
    k
}

#[tokio::test]
async fn registering_a_taken_email_answers_the_same_and_mails_the_owner() {
    for backend in backends() {
        let smtp = SmtpSink::start(SinkOptions::default());
        let app = TestApp::spawn_with(backend, |c| configure(&smtp, c)).await;
        let register = |email: &'static str, password: &'static str| {
            app.post(
                "/api/v1/auth/register",
                None,
                json!({ "email": email, "password": password, "display_name": "Cara" }),
            )
        };
        let first = register("cara@example.org", PASSWORD).await.expect(201);
        // Another password, another case: the same answer, and nothing changes.
        let taken = register("CARA@example.org", "another long passphrase")
            .await
            .expect(201);
        assert_eq!(keys(&first), keys(&taken));
        assert_ne!(first["user_id"], taken["user_id"]);
        assert_eq!(
            app.count("SELECT COUNT(*) FROM users WHERE email = 'cara@example.org'")
                .await,
            1
        );
        app.login("cara@example.org").await;
        assert_eq!(app.audited("account.register_attempt").await, 1);

        // The new account is asked to verify; the owner is told about the attempt.
        let mails = emails(&smtp, 2).await;
        assert_eq!(mails.len(), 2);
        let subjects: Vec<&str> = mails
            .iter()
            .filter_map(|m| m.data.lines().find(|l| l.starts_with("Subject: ")))
            .collect();
        assert!(subjects.contains(&"Subject: Confirm your email address"));
        assert!(
            subjects.contains(&"Subject: Someone tried to register with your email address"),
            "{subjects:?}"
        );
        assert!(mails.iter().all(|m| m.rcpt_tos == ["cara@example.org"]));
        // A second attempt soon after does not mail again (no mailbox flooding).
        register("cara@example.org", PASSWORD).await.expect(201);
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(smtp.count(), 2);
        app.stop().await;
    }
}

#[tokio::test]
async fn an_invite_is_mailed_in_the_inviters_language_and_accepted_from_the_link() {
    for backend in backends() {
        let smtp = SmtpSink::start(SinkOptions::default());
        let app = TestApp::spawn_with(backend, |c| configure(&smtp, c)).await;
        let admin = app
            .account("nora@lakeside.test", Role::Admin, Some("Lakeside Health"))
            .await;
        sqlx::query("UPDATE users SET locale = 'pt' WHERE id = $1")
            .bind(&admin)
            .execute(app.state.store.pool())
            .await
            .expect("locale");
        let org = app.org_id("Lakeside Health").await;
        let created = app
            .post(
                &format!("/api/v1/orgs/{org}/invites"),
                Some(&app.token_for(&admin).await),
                json!({ "email": "rui@new.test", "role": "clinician" }),
            )
            .await
            .expect(201);

        let mails = emails(&smtp, 1).await;
        let mail = mail_to(&mails, "rui@new.test");
        assert!(
            mail.data.contains("Subject: Convite para o HealthBridge"),
            "{}",
            mail.data
        );
        assert!(mail.data.contains("Lakeside Health"));
        let token = invite_token(mail);
        assert_eq!(token, created["token"].as_str().unwrap());
        // Once recorded as sent, the link is erased from the outbox (it is a
        // credential). The worker records just after the hand-off: wait for it.
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let payloads: Vec<String> = sqlx::query_scalar(
                "SELECT payload FROM notifications WHERE template = 'org.invite' AND status = 'sent'",
            )
            .fetch_all(app.state.store.pool())
            .await
            .expect("payloads");
            if !payloads.is_empty() {
                assert_eq!(payloads, ["{}"]);
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "never recorded as sent"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }

        let accepted = app
            .post(
                "/api/v1/invites/accept",
                None,
                json!({ "token": token, "password": PASSWORD, "display_name": "Rui Costa" }),
            )
            .await
            .expect(200);
        assert_eq!(accepted["account_created"], true);
        assert_eq!(accepted["role"], "clinician");
        app.stop().await;
    }
}

#[tokio::test]
async fn a_revoked_invite_is_not_mailed() {
    for backend in backends() {
        let smtp = SmtpSink::start(SinkOptions::default());
        // No worker runs: the mail waits in the outbox while the invite is revoked.
        let app = TestApp::spawn_with(backend, |c| {
            configure(&smtp, c);
            c.notifier.in_process = false;
        })
        .await;
        let admin = app
            .account("nora@lakeside.test", Role::Admin, Some("Lakeside Health"))
            .await;
        let org = app.org_id("Lakeside Health").await;
        let token = app.token_for(&admin).await;
        let created = app
            .post(
                &format!("/api/v1/orgs/{org}/invites"),
                Some(&token),
                json!({ "email": "rui@new.test", "role": "clinician" }),
            )
            .await
            .expect(201);
        let id = created["id"].as_str().unwrap();
        app.call(
            reqwest::Method::DELETE,
            &format!("/api/v1/orgs/{org}/invites/{id}"),
            Some(&token),
            None,
        )
        .await
        .expect(204);
        assert_eq!(
            app.count(
                "SELECT COUNT(*) FROM notifications WHERE template = 'org.invite' AND status = 'cancelled'"
            )
            .await,
            1
        );
        app.stop().await;
    }
}

#[tokio::test]
async fn adding_by_email_invites_without_revealing_or_enrolling_anyone() {
    for backend in backends() {
        let smtp = SmtpSink::start(SinkOptions::default());
        let app = TestApp::spawn_with(backend, |c| configure(&smtp, c)).await;
        let a_admin = app
            .account("admin@a.test", Role::Admin, Some("Clinic A"))
            .await;
        let a = app.org_id("Clinic A").await;
        app.account("admin@b.test", Role::Admin, Some("Clinic B"))
            .await;
        let b_patient = app
            .account("pat@b.test", Role::Patient, Some("Clinic B"))
            .await;
        app.account("ops@platform.test", Role::Admin, None).await;
        let a_token = app.token_for(&a_admin).await;
        let members_path = format!("/api/v1/orgs/{a}/members");
        let add = |email: &'static str, role: &'static str| {
            app.post(
                &members_path,
                Some(&a_token),
                json!({ "email": email, "role": role }),
            )
        };

        let known = add("pat@b.test", "patient").await.expect(202);
        let unknown = add("nobody@nowhere.test", "patient").await.expect(202);
        // The same answer for an account and for an address without one: an
        // invite, with no user id, name or token.
        assert_eq!(keys(&known), keys(&unknown));
        assert_eq!(
            keys(&known),
            [
                "created_at",
                "created_by",
                "email",
                "expires_at",
                "id",
                "role",
                "status"
            ]
        );
        assert_eq!(
            (&known["status"], &unknown["status"]),
            (&json!("pending"), &json!("pending"))
        );
        assert!(!known.to_string().contains(&b_patient));
        // Nor can A's admin make B's admin or a platform admin a member of A.
        add("admin@b.test", "admin").await.expect(202);
        add("ops@platform.test", "admin").await.expect(202);
        assert_eq!(
            app.count(
                "SELECT COUNT(*) FROM memberships m JOIN organizations o ON o.id = m.org_id \
                 WHERE o.name = 'Clinic A'"
            )
            .await,
            1,
            "nobody joined A without accepting"
        );

        // Each address got its invite; B's patient joins A by accepting it.
        let mails = emails(&smtp, 4).await;
        for to in [
            "pat@b.test",
            "nobody@nowhere.test",
            "admin@b.test",
            "ops@platform.test",
        ] {
            assert!(mail_to(&mails, to).data.contains("Clinic A"));
        }
        let token = invite_token(mail_to(&mails, "pat@b.test"));
        app.post(
            "/api/v1/invites/accept",
            Some(&app.token_for(&b_patient).await),
            json!({ "token": token }),
        )
        .await
        .expect(200);
        let members = app
            .get(&format!("/api/v1/orgs/{a}/members"), Some(&a_token))
            .await
            .expect(200);
        assert_eq!(members.as_array().unwrap().len(), 2);
        app.stop().await;
    }
}

/// The mailed link opens a page: `/invite` serves the invite page (HTML), which
/// loads its script from the same origin under the console's CSP.
#[tokio::test]
async fn the_invite_link_opens_the_invite_page() {
    let app = TestApp::spawn(crate::support::Backend::Sqlite).await;
    let resp = app
        .client
        .get(app.url("/invite"))
        .send()
        .await
        .expect("GET /invite");
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "text/html; charset=utf-8");
    assert!(
        resp.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("script-src 'self'")
    );
    let page = resp.text().await.expect("body");
    assert!(page.contains("<script type=\"module\" src=\"/web/js/invite.js\">"));
    assert!(page.contains("id=\"create-form\"") && page.contains("id=\"sign-in-form\""));
    let script = app
        .client
        .get(app.url("/web/js/invite.js"))
        .send()
        .await
        .expect("GET invite.js");
    assert_eq!(script.status(), 200);
    assert!(
        script
            .text()
            .await
            .unwrap()
            .contains("/api/v1/invites/accept")
    );
    app.stop().await;
}
