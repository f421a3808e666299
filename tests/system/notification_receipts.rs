//! Twilio's delivery receipts arrive out of order and, on a cluster, at several
//! nodes at once. A delivered notice is final: no later receipt may send it again,
//! and a message's status only moves forward. The receipts here are signed
//! callbacks posted by the Twilio stand-in in the order each test chooses.

use std::time::Duration;

use notifier::test_support::smtp_sink::SinkOptions;
use serde_json::json;

use crate::{
    notifications::{PATIENT_PHONE, Providers, WAIT, clinic, eventually, set_contact},
    support::{TestApp, backends},
};

/// Long enough for the worker (polling every 100 ms) to act on anything it was given.
const SETTLE: Duration = Duration::from_millis(600);

/// Sends `n` critical alerts to a patient with a phone; each goes out as one SMS.
/// Returns the message ids, once the hub has recorded every send.
async fn alerts_sent_by_sms(app: &TestApp, providers: &Providers, n: usize) -> Vec<String> {
    let c = clinic(app).await;
    set_contact(app, &c.patient, json!({ "phone": PATIENT_PHONE })).await;
    let provider = app.token_for(&c.provider).await;
    for _ in 0..n {
        app.post(
            &format!("/api/v1/orgs/{}/alerts", c.org),
            Some(&provider),
            json!({ "patient_id": c.patient }),
        )
        .await
        .expect(202);
    }
    assert!(providers.sms.wait_for_count(n, WAIT).await);
    let sent = "SELECT COUNT(*) FROM notifications WHERE template = 'critical.alert' \
                AND delivery = 'out_of_band' AND status = 'sent' AND channel = 'sms'";
    eventually(app, sent, i64::try_from(n).expect("small")).await;
    providers
        .sms
        .messages()
        .into_iter()
        .map(|m| m.sid)
        .collect()
}

/// The notice status and the SMS attempt's outcome recorded for message `sid`.
async fn state_of(app: &TestApp, sid: &str) -> (String, String) {
    sqlx::query_as(
        "SELECT n.status, a.outcome FROM notification_attempts a \
         JOIN notifications n ON n.id = a.notification_id WHERE a.provider_ref = $1",
    )
    .bind(sid)
    .fetch_one(app.state.store.pool())
    .await
    .expect("the send of this message is recorded")
}

fn status_url(app: &TestApp) -> String {
    format!(
        "{}/api/v1/webhooks/twilio/status",
        app.state.config.effective_public_url()
    )
}

#[tokio::test]
async fn a_late_undelivered_receipt_never_resends_a_delivered_notice() {
    for backend in backends() {
        let providers = Providers::start(SinkOptions::default()).await;
        providers.sms.manual_receipts();
        let app = TestApp::spawn_with(backend, |c| providers.configure(c)).await;
        let sid = alerts_sent_by_sms(&app, &providers, 1).await.remove(0);
        let url = status_url(&app);
        for status in ["sent", "delivered"] {
            assert_eq!(
                providers.sms.send_status(&url, &sid, status, None).await,
                204
            );
        }
        assert_eq!(
            state_of(&app, &sid).await,
            ("delivered".into(), "delivered".into())
        );
        // Late and contradictory: the carrier's `undelivered`, then an old `sent`.
        let late = providers
            .sms
            .send_status(&url, &sid, "undelivered", Some("30005"))
            .await;
        assert_eq!(
            late, 204,
            "a stale receipt is acknowledged, not retried by Twilio"
        );
        assert_eq!(
            providers.sms.send_status(&url, &sid, "sent", None).await,
            204
        );
        tokio::time::sleep(SETTLE).await;
        assert_eq!(
            state_of(&app, &sid).await,
            ("delivered".into(), "delivered".into())
        );
        assert_eq!(
            providers.smtp.count(),
            0,
            "the delivered alert was sent again by email"
        );
        assert_eq!(providers.sms.count(), 1);
        assert_eq!(
            app.count("SELECT COUNT(*) FROM sms_early_receipts").await,
            0,
            "a stale receipt is not kept to be applied later"
        );
        app.stop().await;
    }
}

/// `delivered` and `undelivered` for the same message posted at the same time,
/// for several messages: each message settles on exactly one of them, and only
/// the ones that settled on `undelivered` fall back to email, once.
#[tokio::test]
async fn racing_final_receipts_settle_each_message_once() {
    const MESSAGES: usize = 8;
    for backend in backends() {
        let providers = Providers::start(SinkOptions::default()).await;
        providers.sms.manual_receipts();
        let app = TestApp::spawn_with(backend, |c| providers.configure(c)).await;
        let sids = alerts_sent_by_sms(&app, &providers, MESSAGES).await;
        let url = status_url(&app);
        let races = sids.iter().map(|sid| async {
            let (a, b) = tokio::join!(
                providers.sms.send_status(&url, sid, "delivered", None),
                providers
                    .sms
                    .send_status(&url, sid, "undelivered", Some("30005")),
            );
            assert_eq!((a, b), (204, 204));
        });
        futures_util::future::join_all(races).await;
        let mut undelivered = 0;
        for sid in &sids {
            let (status, outcome) = state_of(&app, sid).await;
            match outcome.as_str() {
                "delivered" => assert_eq!(status, "delivered", "{sid}"),
                "undelivered" => undelivered += 1,
                other => panic!("{sid}: outcome {other}"),
            }
        }
        let fell_back = "SELECT COUNT(*) FROM notifications WHERE template = 'critical.alert' \
                         AND status = 'sent' AND channel = 'email' AND tried_channels = 'sms'";
        eventually(&app, fell_back, undelivered).await;
        tokio::time::sleep(SETTLE).await;
        assert_eq!(
            i64::try_from(providers.smtp.count()).expect("small"),
            undelivered,
            "exactly the undelivered messages fell back to email, once each"
        );
        app.stop().await;
    }
}
