//! Notifications through the whole hub, against real providers: Python's aiosmtpd
//! as the SMTP server and a local HTTP server speaking Twilio's Messages API
//! (which also posts signed delivery receipts back to the hub). The clock is the
//! test's: reminders become due when the test moves it, never by sleeping.

use std::time::Duration;

use hub::{config::Config, domain::Role};
use notifier::{
    config::{Redacted, SmtpSecurity, SmtpSettings, TwilioSettings},
    test_support::{
        smtp_sink::{SinkOptions, SmtpSink},
        twilio_standin::TwilioStandIn,
    },
};
use serde_json::{Value, json};

use crate::support::{TestApp, backends};

const SID: &str = "AC00000000000000000000000000000001";
const TOKEN: &str = "twilio-test-token";
pub(crate) const FROM: &str = "+15005550006";
pub(crate) const PATIENT_PHONE: &str = "+14155550123";
pub(crate) const WAIT: Duration = Duration::from_secs(15);

/// The real servers one test talks to.
pub(crate) struct Providers {
    pub(crate) smtp: SmtpSink,
    pub(crate) sms: TwilioStandIn,
}

impl Providers {
    pub(crate) async fn start(options: SinkOptions) -> Self {
        Self {
            smtp: SmtpSink::start(options),
            sms: TwilioStandIn::start(SID, TOKEN).await,
        }
    }

    /// Points the hub at both, on a port known in advance so Twilio's receipts
    /// can come back to `public_url`.
    pub(crate) fn configure(&self, config: &mut Config) {
        let port = free_port();
        config.listen = format!("127.0.0.1:{port}").parse().expect("addr");
        config.public_url = Some(format!("http://127.0.0.1:{port}"));
        config.notifier.poll_interval_ms = 100;
        config.notifier.email = Some(SmtpSettings {
            host: "127.0.0.1".into(),
            port: self.smtp.port(),
            security: SmtpSecurity::Plain,
            username: None,
            password: None,
            from: "HealthBridge <no-reply@clinic.test>".into(),
            timeout_secs: 10,
        });
        config.notifier.sms = Some(TwilioSettings {
            base_url: self.sms.base_url(),
            account_sid: SID.into(),
            auth_token: Redacted::new(TOKEN),
            from: FROM.into(),
            status_callback_url: None,
            timeout_secs: 10,
        });
    }

    /// Waits (without blocking the runtime the hub runs on) for `n` emails.
    pub(crate) async fn emails(
        &self,
        n: usize,
    ) -> Vec<notifier::test_support::smtp_sink::ReceivedEmail> {
        let deadline = tokio::time::Instant::now() + WAIT;
        while self.smtp.count() < n && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let got = self.smtp.messages();
        assert!(got.len() >= n, "expected {n} emails, got {}", got.len());
        got
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// Waits until `sql` (a count) reaches `n`, polling the database.
pub(crate) async fn eventually(app: &TestApp, sql: &'static str, n: i64) {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let got = app.count(sql).await;
        if got == n {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{sql}: {got}, expected {n}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub(crate) struct Clinic {
    pub(crate) org: String,
    pub(crate) provider: String,
    pub(crate) patient: String,
    pub(crate) type_id: String,
}

pub(crate) async fn clinic(app: &TestApp) -> Clinic {
    clinic_named(app, "Test Person", "Test Person").await
}

/// An organization "Clinic" with an admin, a provider and a patient of these
/// names, a 30-minute "Follow-up" type and the provider's weekday mornings in New York.
pub(crate) async fn clinic_named(app: &TestApp, provider_name: &str, patient_name: &str) -> Clinic {
    let admin = app
        .account("admin@clinic.test", Role::Admin, Some("Clinic"))
        .await;
    let org = app.org_id("Clinic").await;
    let provider = named_account(app, "dr@clinic.test", provider_name, Role::Clinician).await;
    let patient = named_account(app, "pat@clinic.test", patient_name, Role::Patient).await;
    let t = app
        .post(
            &format!("/api/v1/orgs/{org}/appointment-types"),
            Some(&app.token_for(&admin).await),
            json!({ "name": "Follow-up", "duration_min": 30, "mode": "in_person" }),
        )
        .await
        .expect(201);
    let windows: Vec<Value> = ["mon", "tue", "wed", "thu", "fri"]
        .iter()
        .map(|d| json!({ "weekday": d, "start": "09:00", "end": "12:00" }))
        .collect();
    app.call(
        reqwest::Method::PUT,
        &format!("/api/v1/orgs/{org}/providers/{provider}/availability"),
        Some(&app.token_for(&provider).await),
        Some(json!({ "time_zone": "America/New_York", "windows": windows })),
    )
    .await
    .expect(200);
    Clinic {
        org,
        provider,
        patient,
        type_id: t["id"].as_str().expect("type id").to_owned(),
    }
}

/// An account of the organization "Clinic" with its own display name.
async fn named_account(app: &TestApp, email: &str, name: &str, role: Role) -> String {
    let (id, _) = hub::accounts::grant_role(
        &app.state.store,
        &hub::domain::EmailAddress::parse(email).expect("email"),
        &hub::domain::DisplayName::parse(name).expect("name"),
        &hub::domain::Password::parse_new(crate::support::PASSWORD, None).expect("password"),
        role,
        Some(&hub::domain::OrgName::parse("Clinic").expect("org")),
    )
    .await
    .expect("account");
    id
}

pub(crate) async fn set_contact(app: &TestApp, user: &str, body: Value) -> Value {
    app.call(
        reqwest::Method::PUT,
        "/api/v1/me/notification-settings",
        Some(&app.token_for(user).await),
        Some(body),
    )
    .await
    .expect(200)
}

/// Moves the hub's clock to `rfc3339`.
pub(crate) fn set_clock(app: &TestApp, rfc3339: &str) {
    let target = chrono::DateTime::parse_from_rfc3339(rfc3339)
        .expect("time")
        .timestamp_millis();
    let now = hub::clock::Clock::now_ms(&app.clock);
    assert!(target >= now, "the clock only moves forward");
    app.clock.advance_ms(target - now);
}

async fn status_of(app: &TestApp, template: &str) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT status FROM notifications WHERE template = $1 AND delivery <> 'in_app' ORDER BY due_at",
    )
    .bind(template)
    .fetch_all(app.state.store.pool())
    .await
    .expect("statuses")
}

#[tokio::test]
async fn booking_confirms_reminds_by_sms_with_receipts_and_cancel_withdraws() {
    for backend in backends() {
        let providers = Providers::start(SinkOptions::default()).await;
        let app = TestApp::spawn_with(backend, |c| providers.configure(c)).await;
        let c = clinic(&app).await;
        set_contact(
            &app,
            &c.patient,
            json!({ "phone": "+1 (415) 555-0123", "time_zone": "America/New_York", "locale": "en" }),
        )
        .await;
        // Monday 15 March 2027, 10:00 in New York (EDT, the week after clocks go forward).
        let booked = app
            .post(
                &format!("/api/v1/orgs/{}/appointments", c.org),
                Some(&app.token_for(&c.patient).await),
                json!({ "provider_id": c.provider, "type_id": c.type_id, "starts_at": "2027-03-15T14:00:00Z" }),
            )
            .await
            .expect(201);
        // The confirmation goes out at once, by email (the default for appointments).
        let mail = providers.emails(1).await;
        assert_eq!(mail[0].rcpt_tos, vec!["pat@clinic.test".to_owned()]);
        assert!(
            mail[0].data.contains("Subject: Appointment confirmed"),
            "{}",
            mail[0].data
        );
        assert!(mail[0].data.contains("2027-03-15 10:00 EDT"));
        assert_eq!(
            status_of(&app, "appointment.reminder").await,
            ["pending", "pending"]
        );
        // One millisecond before the 24 h reminder is due: nothing.
        set_clock(&app, "2027-03-14T13:59:59.999Z");
        tokio::time::sleep(Duration::from_millis(400)).await;
        assert_eq!(providers.sms.count(), 0);
        // Due: by SMS (reminders prefer SMS), with its receipt recorded.
        set_clock(&app, "2027-03-14T14:00:00Z");
        assert!(providers.sms.wait_for_count(1, WAIT).await);
        let sms = &providers.sms.messages()[0];
        assert_eq!(sms.to, PATIENT_PHONE);
        assert!(sms.body.starts_with(
            "Reminder: you have an appointment with Test Person at Clinic on 2027-03-15 10:00 EDT."
        ));
        assert!(sms.body.ends_with("Reply STOP to opt out."));
        eventually(&app, "SELECT COUNT(*) FROM notifications WHERE template = 'appointment.reminder' AND status = 'delivered'", 1).await;
        // Cancelling withdraws the 1 h reminder in the same transaction.
        let id = booked["id"].as_str().expect("id");
        app.post(
            &format!("/api/v1/orgs/{}/appointments/{id}/cancel", c.org),
            Some(&app.token_for(&c.patient).await),
            json!({ "reason": "feeling better" }),
        )
        .await
        .expect(200);
        assert_eq!(
            status_of(&app, "appointment.reminder").await,
            ["delivered", "cancelled"]
        );
        let mail = providers.emails(2).await;
        assert!(mail[1].data.contains("Subject: Appointment cancelled"));
        // Past the appointment: no reminder ever went out for it after the cancel.
        set_clock(&app, "2027-03-15T15:00:00Z");
        tokio::time::sleep(Duration::from_millis(400)).await;
        assert_eq!(providers.sms.count(), 1);
        // The provider's console got in-app notices for both changes (the
        // worker hands them to the bus a moment after the change commits).
        eventually(
            &app,
            "SELECT COUNT(*) FROM notifications WHERE delivery = 'in_app' AND status = 'sent'",
            4,
        )
        .await;
        app.stop().await;
    }
}

#[tokio::test]
async fn reschedule_moves_the_reminders() {
    for backend in backends() {
        let providers = Providers::start(SinkOptions::default()).await;
        let app = TestApp::spawn_with(backend, |c| providers.configure(c)).await;
        let c = clinic(&app).await;
        let booked = app
            .post(
                &format!("/api/v1/orgs/{}/appointments", c.org),
                Some(&app.token_for(&c.patient).await),
                json!({ "provider_id": c.provider, "type_id": c.type_id, "starts_at": "2027-03-15T14:00:00Z" }),
            )
            .await
            .expect(201);
        let moved = app
            .post(
                &format!(
                    "/api/v1/orgs/{}/appointments/{}/reschedule",
                    c.org,
                    booked["id"].as_str().expect("id")
                ),
                Some(&app.token_for(&c.patient).await),
                json!({ "starts_at": "2027-03-17T15:00:00Z", "reason": "clash" }),
            )
            .await
            .expect(201);
        let due: Vec<(String, i64, String)> = sqlx::query_as(
            "SELECT subject_ref, due_at, status FROM notifications WHERE template = 'appointment.reminder' ORDER BY status, due_at",
        )
        .fetch_all(app.state.store.pool())
        .await
        .expect("rows");
        let new_id = moved["id"].as_str().expect("id");
        let at = |s: &str| {
            chrono::DateTime::parse_from_rfc3339(s)
                .expect("t")
                .timestamp_millis()
        };
        assert_eq!(
            due.iter()
                .map(|(s, d, st)| (s == new_id, *d, st.as_str()))
                .collect::<Vec<_>>(),
            [
                (false, at("2027-03-14T14:00:00Z"), "cancelled"),
                (false, at("2027-03-15T13:00:00Z"), "cancelled"),
                (true, at("2027-03-16T15:00:00Z"), "pending"),
                (true, at("2027-03-17T14:00:00Z"), "pending"),
            ]
        );
        // The confirmation and the change notice go out first.
        providers.emails(2).await;
        // No phone: the reminder goes by email, at the new time, shown in the
        // patient's zone (UTC until they choose one).
        set_clock(&app, "2027-03-16T15:00:00Z");
        let mail = providers.emails(3).await;
        let mut subjects: Vec<&str> = mail
            .iter()
            .filter_map(|m| m.data.lines().find(|l| l.starts_with("Subject: ")))
            .collect();
        // The first two were in flight together: either may land first.
        subjects[..2].sort_unstable();
        assert_eq!(
            subjects,
            [
                "Subject: Appointment confirmed",
                "Subject: Appointment moved",
                "Subject: Appointment reminder"
            ]
        );
        let last = &mail[2];
        assert!(
            last.data.contains("Subject: Appointment reminder"),
            "{}",
            last.data
        );
        assert!(last.data.contains("2027-03-17 15:00 UTC"), "{}", last.data);
        app.stop().await;
    }
}

#[tokio::test]
async fn password_reset_and_email_verification_go_through_the_outbox() {
    for backend in backends() {
        let providers = Providers::start(SinkOptions::default()).await;
        let app = TestApp::spawn_with(backend, |c| providers.configure(c)).await;
        let user = app.register("ana@patients.test").await;
        let verify = providers.emails(1).await;
        assert!(
            verify[0]
                .data
                .contains("Subject: Confirm your email address")
        );
        let token = link_token(&verify[0].data, "verify");
        app.post("/api/v1/auth/verify-email", None, json!({ "token": token }))
            .await
            .expect(204);
        let settings = app
            .get(
                "/api/v1/me/notification-settings",
                Some(&app.token_for(&user).await),
            )
            .await
            .expect(200);
        assert_eq!(settings["email_verified"], true);
        app.post("/api/v1/auth/verify-email", None, json!({ "token": token }))
            .await
            .expect_error(422, "invalid_token");
        let old_session = app.login("ana@patients.test").await;
        let mut old_socket = crate::support::ws::Ws::connect(
            &app.base,
            old_session["access_token"].as_str().unwrap(),
        )
        .await;
        // Unknown and known addresses get the same answer; only one mail goes out.
        app.post(
            "/api/v1/auth/password-reset",
            None,
            json!({ "email": "nobody@patients.test" }),
        )
        .await
        .expect(202);
        app.post(
            "/api/v1/auth/password-reset",
            None,
            json!({ "email": "ana@patients.test" }),
        )
        .await
        .expect(202);
        // Asking again at once does not send a second mail.
        app.post(
            "/api/v1/auth/password-reset",
            None,
            json!({ "email": "ana@patients.test" }),
        )
        .await
        .expect(202);
        let mail = providers.emails(2).await;
        assert!(mail[1].data.contains("Subject: Reset your password"));
        let reset = link_token(&mail[1].data, "reset");
        app.post(
            "/api/v1/auth/password-reset/confirm",
            None,
            json!({ "token": reset, "password": "short" }),
        )
        .await
        .expect_error(422, "password_too_short");
        app.post(
            "/api/v1/auth/password-reset/confirm",
            None,
            json!({ "token": reset, "password": "a brand new passphrase 77" }),
        )
        .await
        .expect(204);
        // Its open socket closes at once, not at the session check.
        let since = std::time::Instant::now();
        assert_eq!(
            crate::accounts_disable::closed_at_once(&mut old_socket, since).await,
            Some(4003)
        );
        app.post(
            "/api/v1/auth/password-reset/confirm",
            None,
            json!({ "token": reset, "password": "another new passphrase 78" }),
        )
        .await
        .expect_error(422, "invalid_token");
        app.post(
            "/api/v1/auth/login",
            None,
            json!({ "email": "ana@patients.test", "password": "a brand new passphrase 77" }),
        )
        .await
        .expect(200);
        // The session from before the reset is over.
        app.post(
            "/api/v1/auth/refresh",
            None,
            json!({ "refresh_token": old_session["refresh_token"] }),
        )
        .await
        .expect(401);
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(
            providers.smtp.count(),
            2,
            "one verification and one reset mail"
        );
        // Sent account mail keeps no link in the database.
        assert_eq!(
            app.count(
                "SELECT COUNT(*) FROM notifications WHERE category = 'account' AND payload <> '{}'"
            )
            .await,
            0
        );
        assert_eq!(app.audited("account.password_reset").await, 1);
        app.stop().await;
    }
}

/// The token in a mailed link `…/signup#verify=<token>` or `…/forgot#reset=<token>`, after undoing the
/// quoted-printable transfer encoding of the text part.
fn link_token(mail: &str, kind: &str) -> String {
    let mail = mail
        .replace("=\r\n", "")
        .replace("=\n", "")
        .replace("=3D", "=");
    let marker = format!("#{kind}=");
    let start = mail.find(&marker).expect("link in mail") + marker.len();
    mail[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect()
}

#[tokio::test]
async fn twilio_webhooks_need_a_valid_signature_and_stop_opts_out() {
    for backend in backends() {
        let providers = Providers::start(SinkOptions::default()).await;
        let app = TestApp::spawn_with(backend, |c| providers.configure(c)).await;
        let c = clinic(&app).await;
        set_contact(&app, &c.patient, json!({ "phone": PATIENT_PHONE })).await;
        let public = app.state.config.effective_public_url();
        // Unsigned or wrongly signed: refused, nothing changes.
        let forged = app
            .client
            .post(format!("{public}/api/v1/webhooks/twilio/inbound"))
            .header("x-twilio-signature", "bm90LWEtc2lnbmF0dXJl")
            .form(&[("From", PATIENT_PHONE), ("To", FROM), ("Body", "STOP")])
            .send()
            .await
            .expect("post");
        assert_eq!(forged.status(), 409);
        assert_eq!(app.count("SELECT COUNT(*) FROM sms_opt_outs").await, 0);
        // Signed by "Twilio": the number is opted out.
        let status = providers
            .sms
            .send_inbound(
                &format!("{public}/api/v1/webhooks/twilio/inbound"),
                PATIENT_PHONE,
                FROM,
                "Stop",
            )
            .await;
        assert_eq!(status, 200);
        assert_eq!(app.count("SELECT COUNT(*) FROM sms_opt_outs").await, 1);
        assert_eq!(app.audited("sms.opt_out").await, 1);
        // A critical alert still reaches the patient, by email, not SMS.
        app.post(
            &format!("/api/v1/orgs/{}/alerts", c.org),
            Some(&app.token_for(&c.provider).await),
            json!({ "patient_id": c.patient }),
        )
        .await
        .expect(202);
        let mail = providers.emails(1).await;
        assert!(
            mail[0]
                .data
                .contains("Subject: Urgent: your care team needs to reach you")
        );
        assert_eq!(providers.sms.count(), 0);
        app.stop().await;
    }
}

#[tokio::test]
async fn sms_failure_falls_back_to_email_and_admins_see_final_failures() {
    for backend in backends() {
        let providers = Providers::start(SinkOptions {
            reject: vec!["nobody@clinic.test".into()],
            ..SinkOptions::default()
        })
        .await;
        let app = TestApp::spawn_with(backend, |c| providers.configure(c)).await;
        let c = clinic(&app).await;
        set_contact(&app, &c.patient, json!({ "phone": PATIENT_PHONE })).await;
        // The carrier refuses the number for good: the critical alert falls back to email.
        providers.sms.reject_number(PATIENT_PHONE, 21211);
        app.post(
            &format!("/api/v1/orgs/{}/alerts", c.org),
            Some(&app.token_for(&c.provider).await),
            json!({ "patient_id": c.patient }),
        )
        .await
        .expect(202);
        let mail = providers.emails(1).await;
        assert_eq!(mail[0].rcpt_tos, vec!["pat@clinic.test".to_owned()]);
        eventually(
            &app,
            "SELECT COUNT(*) FROM notifications WHERE template = 'critical.alert' AND delivery = 'out_of_band' \
             AND status = 'sent' AND channel = 'email' AND tried_channels = 'sms'",
            1,
        )
        .await;
        // A patient every channel refuses: the failure is visible to the org's admins only.
        let lost = app
            .account("nobody@clinic.test", Role::Patient, Some("Clinic"))
            .await;
        app.post(
            &format!("/api/v1/orgs/{}/alerts", c.org),
            Some(&app.token_for(&c.provider).await),
            json!({ "patient_id": lost }),
        )
        .await
        .expect(202);
        eventually(
            &app,
            "SELECT COUNT(*) FROM notifications WHERE status = 'failed'",
            1,
        )
        .await;
        let admin = app
            .account("admin2@clinic.test", Role::Admin, Some("Clinic"))
            .await;
        let failed = app
            .get(
                &format!("/api/v1/orgs/{}/notifications?status=failed", c.org),
                Some(&app.token_for(&admin).await),
            )
            .await
            .expect(200);
        assert_eq!(failed.as_array().expect("list").len(), 1);
        assert_eq!(failed[0]["recipient_id"], json!(lost));
        assert!(
            failed[0]["last_error"]
                .as_str()
                .expect("error")
                .contains("550")
        );
        app.get(
            &format!("/api/v1/orgs/{}/notifications", c.org),
            Some(&app.token_for(&c.patient).await),
        )
        .await
        .expect_error(403, "forbidden");
        app.stop().await;
    }
}

#[tokio::test]
async fn bad_settings_are_refused_and_change_nothing() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let user = app.register("ana@patients.test").await;
        let token = app.token_for(&user).await;
        let before = app
            .get("/api/v1/me/notification-settings", Some(&token))
            .await
            .expect(200);
        let cases = [
            (json!({ "phone": "0044 20 7946 0958" }), "invalid_phone"),
            (json!({ "phone": "+1 415 CALL NOW" }), "invalid_phone"),
            (json!({ "phone": "+1" }), "invalid_phone"),
            (json!({ "locale": "xx" }), "invalid_locale"),
            (json!({ "time_zone": "Mars/Olympus" }), "invalid_time_zone"),
            (
                json!({ "quiet_hours": { "start": "25:00", "end": "07:00" } }),
                "invalid_quiet_hours",
            ),
            (
                json!({ "quiet_hours": { "start": "07:00", "end": "07:00" } }),
                "invalid_quiet_hours",
            ),
            (
                json!({ "preferences": { "billing": { "channels": ["email"], "in_app": true } } }),
                "invalid_category",
            ),
            (
                json!({ "preferences": { "reminders": { "channels": ["sms", "sms"], "in_app": true } } }),
                "invalid_channels",
            ),
            // Each category given needs both `channels` and `in_app`.
            (
                json!({ "preferences": { "reminders": { "channels": ["email"] } } }),
                "invalid_body",
            ),
            // A good phone with a bad field beside it: nothing is written.
            (
                json!({ "phone": "+14155550100", "time_zone": "Nowhere" }),
                "invalid_time_zone",
            ),
        ];
        for (body, code) in cases {
            app.call(
                reqwest::Method::PUT,
                "/api/v1/me/notification-settings",
                Some(&token),
                Some(body.clone()),
            )
            .await
            .expect_error(422, code);
        }
        let bad_channel = app
            .call(
                reqwest::Method::PUT,
                "/api/v1/me/notification-settings",
                Some(&token),
                Some(json!({ "preferences": { "reminders": { "channels": ["pigeon"], "in_app": true } } })),
            )
            .await;
        bad_channel.expect_error(422, "invalid_body");
        app.post(
            "/api/v1/auth/password-reset",
            None,
            json!({ "email": "not an email" }),
        )
        .await
        .expect_error(422, "invalid_email");
        app.post("/api/v1/auth/verify-email", None, json!({ "token": "" }))
            .await
            .expect_error(422, "invalid_token");
        let after = app
            .get("/api/v1/me/notification-settings", Some(&token))
            .await
            .expect(200);
        assert_eq!(before, after);
        assert_eq!(app.audited("account.notification_settings").await, 0);
        app.stop().await;
    }
}

#[tokio::test]
async fn away_members_hear_of_new_messages_once_unless_they_read_them() {
    for backend in backends() {
        let providers = Providers::start(SinkOptions::default()).await;
        let app = TestApp::spawn_with(backend, |c| providers.configure(c)).await;
        let a = app
            .account("a@clinic.test", Role::Clinician, Some("Clinic"))
            .await;
        let org = app.org_id("Clinic").await;
        let b = app
            .account("b@clinic.test", Role::Clinician, Some("Clinic"))
            .await;
        let c = app
            .account("c@clinic.test", Role::Clinician, Some("Clinic"))
            .await;
        let a_token = app.token_for(&a).await;
        let room = app
            .post(
                &format!("/api/v1/orgs/{org}/rooms"),
                Some(&a_token),
                json!({ "kind": "case", "title": "Bed 4", "member_ids": [b, c] }),
            )
            .await
            .expect(201);
        let room_id = room["id"].as_str().expect("room").to_owned();
        // C is online in the room and asked for personal events; B is away.
        let mut wc = crate::support::ws::Ws::connect(&app.base, &app.token_for(&c).await).await;
        wc.ok("subscribe", json!({ "room": room_id })).await;
        wc.ok("notifications", json!({})).await;
        for n in 0..3 {
            app.post(
                &format!("/api/v1/rooms/{room_id}/messages"),
                Some(&a_token),
                json!({ "client_id": format!("m{n}"), "body": "potassium 6.1, please review" }),
            )
            .await
            .expect(201);
        }
        // One notice for B (three messages within the hour), none for C.
        assert_eq!(
            app.count("SELECT COUNT(*) FROM notifications WHERE template = 'message.unread'")
                .await,
            1
        );
        app.clock.advance_ms(600_000);
        let mail = providers.emails(1).await;
        assert_eq!(mail[0].rcpt_tos, vec!["b@clinic.test".to_owned()]);
        assert!(mail[0].data.contains("Subject: New messages"));
        assert!(
            !mail[0].data.contains("potassium"),
            "message content must not leave by email"
        );
        // The SMTP server has the mail before the worker records the hand-off.
        eventually(
            &app,
            "SELECT COUNT(*) FROM notifications WHERE template = 'message.unread' \
             AND delivery <> 'in_app' AND status = 'sent'",
            1,
        )
        .await;
        // Another hour: B reads the room over the socket before the notice is due.
        app.clock.advance_ms(3_600_000);
        app.post(
            &format!("/api/v1/rooms/{room_id}/messages"),
            Some(&app.token_for(&a).await),
            json!({ "client_id": "m9", "body": "still high" }),
        )
        .await
        .expect(201);
        let mut wb = crate::support::ws::Ws::connect(&app.base, &app.token_for(&b).await).await;
        let sub = wb.ok("subscribe", json!({ "room": room_id })).await;
        wb.ok("read", json!({ "room": room_id, "offset": sub["offset"] }))
            .await;
        assert_eq!(
            status_of(&app, "message.unread").await,
            ["sent", "cancelled"],
            "the second notice is withdrawn by the read"
        );
        // A critical alert for someone who is not a patient of the organization is refused.
        let alert = app
            .post(
                &format!("/api/v1/orgs/{org}/alerts"),
                Some(&app.token_for(&a).await),
                json!({ "patient_id": b }),
            )
            .await;
        alert.expect_error(404, "not_found");
        drop(wc);
        app.stop().await;
    }
}

#[tokio::test]
async fn in_app_notices_reach_the_users_open_socket() {
    for backend in backends() {
        let providers = Providers::start(SinkOptions::default()).await;
        let app = TestApp::spawn_with(backend, |c| providers.configure(c)).await;
        let c = clinic(&app).await;
        let mut patient =
            crate::support::ws::Ws::connect(&app.base, &app.token_for(&c.patient).await).await;
        patient.ok("notifications", json!({})).await;
        app.post(
            &format!("/api/v1/orgs/{}/appointments", c.org),
            Some(&app.token_for(&c.provider).await),
            json!({ "provider_id": c.provider, "type_id": c.type_id, "starts_at": "2027-03-15T14:00:00Z",
                    "patient_id": c.patient }),
        )
        .await
        .expect(201);
        // The booking itself (bus event) and the notifier's in-app notice.
        let mut kinds = Vec::new();
        while kinds.len() < 2 {
            let frame = patient.next_of("user_event").await;
            kinds.push(frame["kind"].as_str().expect("kind").to_owned());
            if frame["kind"] == "notification" {
                assert_eq!(frame["payload"]["title"], "Appointment confirmed");
                assert_eq!(frame["payload"]["category"], "appointments");
            }
        }
        kinds.sort();
        assert_eq!(kinds, ["appointment.book", "notification"]);
        app.stop().await;
    }
}
