//! The real `TwilioClient` against the local `TwilioStandIn`, over HTTP:
//! proves the client speaks Twilio's protocol, classifies every failure the
//! way the retry logic expects, and that the stand-in's signed webhooks
//! validate with the same signature code the hub uses.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Form, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use tokio::net::TcpListener;

use notifier::channels::twilio::{TwilioClient, TwilioConfig};
use notifier::delivery_error::DeliveryError;
use notifier::phone::PhoneNumber;
use notifier::test_support::twilio_standin::TwilioStandIn;
use notifier::twilio_signature;

const SID: &str = "AC0123456789abcdef0123456789abcdef";
const TOKEN: &str = "test-auth-token-do-not-leak";
const FROM: &str = "+15005550006";
const WAIT: Duration = Duration::from_secs(5);

fn config(base_url: String) -> TwilioConfig {
    let mut config = TwilioConfig::new(SID, TOKEN, FROM);
    config.base_url = base_url;
    config.timeout = Duration::from_secs(5);
    config
}

fn client(standin: &TwilioStandIn) -> TwilioClient {
    TwilioClient::new(config(standin.base_url())).expect("valid config")
}

fn phone(s: &str) -> PhoneNumber {
    PhoneNumber::parse(s).expect("valid phone")
}

/// What the test's webhook receiver saw: whether the signature validated, and the fields.
type Received = Arc<Mutex<Vec<(bool, Vec<(String, String)>)>>>;

#[derive(Clone)]
struct Receiver {
    url: String,
    received: Received,
}

/// A tiny hub-side webhook endpoint that validates `X-Twilio-Signature`
/// exactly as the hub will, answering 204 when valid and 403 when not.
async fn start_receiver() -> Receiver {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!(
        "http://{}/twilio/webhook?tenant=7",
        listener.local_addr().expect("addr")
    );
    let receiver = Receiver {
        url,
        received: Arc::default(),
    };
    let app = Router::new()
        .route("/twilio/webhook", post(receive))
        .with_state(receiver.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.expect("receiver serves") });
    receiver
}

async fn receive(
    State(receiver): State<Receiver>,
    headers: HeaderMap,
    Form(params): Form<Vec<(String, String)>>,
) -> StatusCode {
    let header = headers
        .get("x-twilio-signature")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let valid = twilio_signature::is_valid(TOKEN, &receiver.url, &params, header);
    receiver
        .received
        .lock()
        .expect("lock")
        .push((valid, params));
    if valid {
        StatusCode::NO_CONTENT
    } else {
        StatusCode::FORBIDDEN
    }
}

fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

#[tokio::test]
async fn send_succeeds_and_is_recorded() {
    let standin = TwilioStandIn::start(SID, TOKEN).await;
    let sent = client(&standin)
        .send(&phone("+1 (415) 555-0100"), "Your appointment is at 10:00")
        .await
        .expect("accepted");
    assert_eq!(sent.status, "queued");
    let recorded = standin.messages();
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0].sid, sent.sid);
    assert_eq!(recorded[0].to, "+14155550100");
    assert_eq!(recorded[0].from, FROM);
    assert_eq!(recorded[0].body, "Your appointment is at 10:00");
    assert!(
        standin.callbacks_sent().is_empty(),
        "no StatusCallback was configured"
    );
}

#[tokio::test]
async fn wrong_auth_token_is_permanent_and_never_leaks_the_token() {
    let standin = TwilioStandIn::start(SID, "the-real-token").await;
    let err = client(&standin)
        .send(&phone("+14155550100"), "hi")
        .await
        .expect_err("unauthenticated");
    assert!(
        matches!(&err, DeliveryError::Permanent(m) if m.contains("20003")),
        "{err}"
    );
    assert!(!err.to_string().contains(TOKEN), "{err}");
    assert!(!format!("{err:?}").contains(TOKEN));
    assert_eq!(standin.count(), 0);
}

#[tokio::test]
async fn server_error_is_transient_and_the_retry_succeeds() {
    let standin = TwilioStandIn::start(SID, TOKEN).await;
    standin.fail_next(1, 500);
    let client = client(&standin);
    let to = phone("+14155550100");
    let err = client.send(&to, "hi").await.expect_err("injected 500");
    assert!(
        matches!(&err, DeliveryError::Transient(m) if m.contains("HTTP 500")),
        "{err}"
    );
    assert_eq!(standin.count(), 0);
    client.send(&to, "hi").await.expect("second try accepted");
    assert_eq!((standin.count(), standin.attempts()), (1, 2));
}

#[tokio::test]
async fn rate_limit_is_transient() {
    let standin = TwilioStandIn::start(SID, TOKEN).await;
    standin.fail_next(2, 429);
    let client = client(&standin);
    for _ in 0..2 {
        let err = client
            .send(&phone("+14155550100"), "hi")
            .await
            .expect_err("429");
        assert!(
            matches!(&err, DeliveryError::Transient(m) if m.contains("20429")),
            "{err}"
        );
    }
    assert_eq!((standin.count(), standin.attempts()), (0, 2));
}

#[tokio::test]
async fn invalid_and_unsubscribed_numbers_are_permanent() {
    let standin = TwilioStandIn::start(SID, TOKEN).await;
    standin.reject_number("+14155550100", 21211);
    standin.reject_number("+14155550199", 21610);
    let client = client(&standin);
    for (to, code) in [("+14155550100", "21211"), ("+14155550199", "21610")] {
        let err = client.send(&phone(to), "hi").await.expect_err("rejected");
        assert!(
            matches!(&err, DeliveryError::Permanent(m) if m.contains(code)),
            "{err}"
        );
    }
    assert_eq!(standin.count(), 0);
}

#[tokio::test]
async fn connection_refused_is_transient() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    drop(listener);
    let client = TwilioClient::new(config(format!("http://{addr}"))).expect("valid config");
    let err = client
        .send(&phone("+14155550100"), "hi")
        .await
        .expect_err("refused");
    assert!(matches!(&err, DeliveryError::Transient(_)), "{err}");
}

#[tokio::test]
async fn a_silent_server_times_out_as_transient() {
    // Accepts connections but never answers.
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let hold = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            open.push(socket);
        }
    });
    let mut cfg = config(format!("http://{addr}"));
    cfg.timeout = Duration::from_millis(200);
    let client = TwilioClient::new(cfg).expect("valid config");
    let err = client
        .send(&phone("+14155550100"), "hi")
        .await
        .expect_err("timeout");
    assert!(
        matches!(&err, DeliveryError::Transient(m) if m.contains("timed out")),
        "{err}"
    );
    hold.abort();
}

#[tokio::test]
async fn status_callbacks_arrive_signed_sent_then_delivered() {
    let standin = TwilioStandIn::start(SID, TOKEN).await;
    let receiver = start_receiver().await;
    let mut cfg = config(standin.base_url());
    cfg.status_callback_url = Some(receiver.url.clone());
    let client = TwilioClient::new(cfg).expect("valid config");

    let sent = client
        .send(&phone("+14155550100"), "hi")
        .await
        .expect("accepted");
    assert!(
        standin.wait_for_callbacks(2, WAIT).await,
        "two callbacks expected"
    );

    let received = receiver.received.lock().expect("lock").clone();
    let statuses: Vec<_> = received
        .iter()
        .map(|(_, p)| param(p, "MessageStatus"))
        .collect();
    assert_eq!(statuses, [Some("sent"), Some("delivered")]);
    for (valid, params) in &received {
        assert!(valid, "signature must validate: {params:?}");
        assert_eq!(param(params, "MessageSid"), Some(sent.sid.as_str()));
        assert_eq!(param(params, "AccountSid"), Some(SID));
        assert_eq!(param(params, "To"), Some("+14155550100"));
        assert_eq!(param(params, "From"), Some(FROM));
        assert_eq!(param(params, "ErrorCode"), None);
        // A forger without the token cannot produce the same signature.
        let forged = twilio_signature::signature("guess", &receiver.url, params);
        assert!(!twilio_signature::is_valid(
            TOKEN,
            &receiver.url,
            params,
            &forged
        ));
    }
    let logged: Vec<_> = standin
        .callbacks_sent()
        .iter()
        .map(|c| c.response_status)
        .collect();
    assert_eq!(logged, [Some(204), Some(204)]);
}

#[tokio::test]
async fn undeliverable_numbers_report_30005() {
    let standin = TwilioStandIn::start(SID, TOKEN).await;
    standin.undeliverable("+14155550100");
    let receiver = start_receiver().await;
    let mut cfg = config(standin.base_url());
    cfg.status_callback_url = Some(receiver.url.clone());
    let client = TwilioClient::new(cfg).expect("valid config");

    client
        .send(&phone("+14155550100"), "hi")
        .await
        .expect("accepted");
    assert!(standin.wait_for_callbacks(2, WAIT).await);
    let last = standin.callbacks_sent().pop().expect("final callback");
    assert_eq!(last.param("MessageStatus"), Some("undelivered"));
    assert_eq!(last.param("ErrorCode"), Some("30005"));
    assert_eq!(
        last.response_status,
        Some(204),
        "signature validated by the receiver"
    );
}

#[tokio::test]
async fn inbound_sms_webhook_is_signed() {
    let standin = TwilioStandIn::start(SID, TOKEN).await;
    let receiver = start_receiver().await;
    let status = standin
        .send_inbound(&receiver.url, "+14155550100", FROM, "STOP")
        .await;
    assert_eq!(status, 204);
    let received = receiver.received.lock().expect("lock").clone();
    let (valid, params) = &received[0];
    assert!(valid);
    assert_eq!(param(params, "Body"), Some("STOP"));
    assert_eq!(param(params, "From"), Some("+14155550100"));
    assert!(param(params, "MessageSid").is_some_and(|s| s.starts_with("SM")));
}
