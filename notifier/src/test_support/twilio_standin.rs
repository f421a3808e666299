//! A local stand-in for Twilio's Messages API, for tests.
//!
//! Tests must not reach the internet or spend money, yet the SMS path is
//! only trustworthy if it is exercised over real HTTP: basic auth, form
//! encoding, Twilio's JSON error bodies, and signed status callbacks coming
//! back to the hub. This server speaks that protocol on 127.0.0.1, records
//! what it accepted, and can be told to fail (outages, rate limits, rejected
//! or undeliverable numbers) so retry and fallback logic can be tested.
//!
//! Callbacks and inbound webhooks are signed with the real
//! [`twilio_signature`] code, so the hub's verification is exercised too.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::rejection::FormRejection;
use axum::extract::{Form, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::json;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::phone::PhoneNumber;
use crate::twilio_signature;

/// Pause before each status callback, so the hub has stored the SID first.
const CALLBACK_DELAY: Duration = Duration::from_millis(50);
/// How often `wait_for_*` looks again.
const POLL_INTERVAL: Duration = Duration::from_millis(5);
/// Twilio's error code for "unknown destination handset".
const UNDELIVERED_ERROR_CODE: &str = "30005";
/// Ensures two stand-ins in one process never hand out the same SID.
static INSTANCES: AtomicU64 = AtomicU64::new(0);

/// An outbound SMS the stand-in accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedSms {
    pub sid: String,
    pub to: String,
    pub from: String,
    pub body: String,
    pub received_at: SystemTime,
}

/// A signed webhook the stand-in POSTed (status callback).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentCallback {
    pub url: String,
    pub params: Vec<(String, String)>,
    /// The receiver's HTTP status, or `None` if the request failed.
    pub response_status: Option<u16>,
}

impl SentCallback {
    /// First value of a form field, e.g. `param("MessageStatus")`.
    pub fn param(&self, name: &str) -> Option<&str> {
        field(&self.params, name)
    }
}

/// A running stand-in. The server stops when this is dropped.
pub struct TwilioStandIn {
    base_url: String,
    shared: Arc<Shared>,
    server: JoinHandle<()>,
}

/// State shared between the handle and the request handlers.
struct Shared {
    account_sid: String,
    auth_token: String,
    sid_prefix: u64,
    http: reqwest::Client,
    ledger: Mutex<Ledger>,
}

#[derive(Default)]
struct Ledger {
    messages: Vec<RecordedSms>,
    attempts: usize,
    fail_remaining: usize,
    fail_status: u16,
    rejected: HashMap<String, u32>,
    undeliverable: HashSet<String>,
    /// No automatic status callbacks: the test sends them with `send_status`.
    manual_receipts: bool,
    callbacks: Vec<SentCallback>,
    next_sid: u64,
}

/// A valid outbound request, before recording.
struct NewMessage {
    to: String,
    from: String,
    body: String,
    status_callback: Option<String>,
}

impl TwilioStandIn {
    /// Starts serving on `127.0.0.1:<free port>` and returns at once.
    ///
    /// # Panics
    /// If no loopback port can be bound: a broken test machine.
    pub async fn start(account_sid: impl Into<String>, auth_token: impl Into<String>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0 for the Twilio stand-in");
        let addr = listener
            .local_addr()
            .expect("a bound listener has an address");
        let shared = Arc::new(Shared::new(account_sid.into(), auth_token.into()));
        let app = Router::new()
            .route(
                "/2010-04-01/Accounts/{sid}/Messages.json",
                post(create_message).get(list_messages),
            )
            .fallback(unknown_route)
            .with_state(Arc::clone(&shared));
        let server = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::warn!(error = %e, "twilio stand-in stopped");
            }
        });
        TwilioStandIn {
            base_url: format!("http://{addr}"),
            shared,
            server,
        }
    }

    /// Use as `TwilioConfig::base_url`.
    pub fn base_url(&self) -> String {
        self.base_url.clone()
    }

    /// The next `n` sends answer `status` (e.g. 500, 429) with a Twilio-style
    /// error body and are not recorded. Replaces any earlier injection.
    pub fn fail_next(&self, n: usize, status: u16) {
        let mut ledger = self.shared.ledger();
        ledger.fail_remaining = n;
        ledger.fail_status = status;
    }

    /// Sends to `to` fail for good: HTTP 400 with Twilio error `code`
    /// (e.g. 21610 unsubscribed recipient, 21614 not a mobile number).
    pub fn reject_number(&self, to: &str, code: u32) {
        self.shared.ledger().rejected.insert(to.to_owned(), code);
    }

    /// Sends to `to` are accepted, but the final status callback reports
    /// `undelivered` with ErrorCode 30005 instead of `delivered`.
    pub fn undeliverable(&self, to: &str) {
        self.shared.ledger().undeliverable.insert(to.to_owned());
    }

    /// From now on, accepted messages get no automatic status callbacks: the
    /// test posts each receipt itself with [`Self::send_status`], in any order.
    pub fn manual_receipts(&self) {
        self.shared.ledger().manual_receipts = true;
    }

    /// POSTs a signed status callback for message `sid` to `webhook_url`, as
    /// Twilio does (`MessageStatus`, plus `ErrorCode` when given). Returns the
    /// receiver's HTTP status.
    ///
    /// # Panics
    /// If the webhook cannot be reached at all (connection refused, timeout).
    pub async fn send_status(
        &self,
        webhook_url: &str,
        sid: &str,
        status: &str,
        error_code: Option<&str>,
    ) -> u16 {
        let mut params = pairs(&[
            ("MessageSid", sid),
            ("MessageStatus", status),
            ("AccountSid", &self.shared.account_sid),
        ]);
        if let Some(code) = error_code {
            params.push(("ErrorCode".to_owned(), code.to_owned()));
        }
        self.shared
            .post_signed(webhook_url, &params)
            .await
            .unwrap_or_else(|e| panic!("status webhook to {webhook_url} failed: {e}"))
    }

    /// Every accepted outbound message, oldest first.
    pub fn messages(&self) -> Vec<RecordedSms> {
        self.shared.ledger().messages.clone()
    }

    /// How many outbound messages were accepted.
    pub fn count(&self) -> usize {
        self.shared.ledger().messages.len()
    }

    /// Every HTTP request received, failed and rejected ones included.
    pub fn attempts(&self) -> usize {
        self.shared.ledger().attempts
    }

    /// Every status callback POSTed so far, in the order they completed.
    pub fn callbacks_sent(&self) -> Vec<SentCallback> {
        self.shared.ledger().callbacks.clone()
    }

    /// Waits until at least `n` messages were accepted; false on timeout.
    pub async fn wait_for_count(&self, n: usize, timeout: Duration) -> bool {
        poll_until(timeout, || self.count() >= n).await
    }

    /// Waits until at least `n` status callbacks were POSTed; false on timeout.
    pub async fn wait_for_callbacks(&self, n: usize, timeout: Duration) -> bool {
        poll_until(timeout, || self.shared.ledger().callbacks.len() >= n).await
    }

    /// POSTs a signed inbound-SMS webhook (MessageSid, AccountSid, From, To,
    /// Body) to `webhook_url`, as Twilio does when someone texts our number.
    /// Returns the receiver's HTTP status.
    ///
    /// # Panics
    /// If the webhook cannot be reached at all (connection refused, timeout).
    pub async fn send_inbound(&self, webhook_url: &str, from: &str, to: &str, body: &str) -> u16 {
        let params = pairs(&[
            ("MessageSid", &self.shared.new_sid()),
            ("AccountSid", &self.shared.account_sid),
            ("From", from),
            ("To", to),
            ("Body", body),
        ]);
        self.shared
            .post_signed(webhook_url, &params)
            .await
            .unwrap_or_else(|e| panic!("inbound webhook to {webhook_url} failed: {e}"))
    }
}

impl Drop for TwilioStandIn {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl Shared {
    fn new(account_sid: String, auth_token: String) -> Self {
        let instance = INSTANCES.fetch_add(1, Ordering::Relaxed);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or_default();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .expect("build the stand-in's webhook HTTP client");
        Shared {
            account_sid,
            auth_token,
            sid_prefix: nanos.wrapping_add(instance << 40),
            http,
            ledger: Mutex::new(Ledger::default()),
        }
    }

    /// The ledger is plain data, so a panic elsewhere cannot leave it
    /// inconsistent: recover from poisoning instead of cascading panics.
    fn ledger(&self) -> MutexGuard<'_, Ledger> {
        self.ledger
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// `SM` + 32 hex digits, like Twilio's message SIDs.
    fn new_sid(&self) -> String {
        let mut ledger = self.ledger();
        ledger.next_sid += 1;
        format!("SM{:016x}{:016x}", self.sid_prefix, ledger.next_sid)
    }

    /// Counts the attempt and consumes one injected failure, if any is armed.
    fn begin_attempt(&self) -> Option<u16> {
        let mut ledger = self.ledger();
        ledger.attempts += 1;
        if ledger.fail_remaining == 0 {
            return None;
        }
        ledger.fail_remaining -= 1;
        Some(ledger.fail_status)
    }

    /// The path SID must be ours and basic auth must be `sid:token`.
    fn authorized(&self, path_sid: &str, headers: &HeaderMap) -> bool {
        path_sid == self.account_sid
            && basic_credentials(headers)
                .is_some_and(|creds| creds == format!("{}:{}", self.account_sid, self.auth_token))
    }

    fn record(&self, message: &NewMessage) -> RecordedSms {
        let recorded = RecordedSms {
            sid: self.new_sid(),
            to: message.to.clone(),
            from: message.from.clone(),
            body: message.body.clone(),
            received_at: SystemTime::now(),
        };
        self.ledger().messages.push(recorded.clone());
        recorded
    }

    /// POSTs `params` form-encoded with a valid `X-Twilio-Signature` for `url`.
    async fn post_signed(&self, url: &str, params: &[(String, String)]) -> Result<u16, String> {
        let signature = twilio_signature::signature(&self.auth_token, url, params);
        self.http
            .post(url)
            .header(twilio_signature::SIGNATURE_HEADER, signature)
            .form(params)
            .send()
            .await
            .map(|response| response.status().as_u16())
            .map_err(|e| e.to_string())
    }
}

/// `POST /2010-04-01/Accounts/{sid}/Messages.json`.
async fn create_message(
    State(shared): State<Arc<Shared>>,
    Path(path_sid): Path<String>,
    headers: HeaderMap,
    form: Result<Form<Vec<(String, String)>>, FormRejection>,
) -> Response {
    if let Some(status) = shared.begin_attempt() {
        return injected_failure(status);
    }
    if !shared.authorized(&path_sid, &headers) {
        return unauthenticated();
    }
    // An unreadable body is treated like an empty one: Twilio then complains about `To`.
    let fields = form.map(|Form(fields)| fields).unwrap_or_default();
    let message = match parse_message(&fields) {
        Ok(message) => message,
        Err((code, text)) => return twilio_error(StatusCode::BAD_REQUEST, code, text),
    };
    let rejection = shared.ledger().rejected.get(&message.to).copied();
    if let Some(code) = rejection {
        return twilio_error(
            StatusCode::BAD_REQUEST,
            code,
            "The stand-in was told to reject this number.",
        );
    }
    let recorded = shared.record(&message);
    let manual = shared.ledger().manual_receipts;
    if let Some(url) = message.status_callback.filter(|_| !manual) {
        let undeliverable = shared.ledger().undeliverable.contains(&recorded.to);
        tokio::spawn(send_status_callbacks(
            Arc::clone(&shared),
            recorded.clone(),
            url,
            undeliverable,
        ));
    }
    created(&shared.account_sid, &recorded)
}

/// Anything else: counted, and answered the way Twilio answers unknown resources.
#[derive(serde::Deserialize)]
struct ListQuery {
    #[serde(rename = "To")]
    to: Option<String>,
    #[serde(rename = "From")]
    from: Option<String>,
}

/// `GET …/Messages.json?To=&From=`: the account's messages, newest first, in
/// Twilio's list shape (used to reconcile after a crash).
async fn list_messages(
    State(shared): State<Arc<Shared>>,
    Path(path_sid): Path<String>,
    headers: HeaderMap,
    axum::extract::Query(query): axum::extract::Query<ListQuery>,
) -> Response {
    if !shared.authorized(&path_sid, &headers) {
        return unauthenticated();
    }
    let ledger = shared.ledger();
    let messages: Vec<serde_json::Value> = ledger
        .messages
        .iter()
        .rev()
        .filter(|m| query.to.as_deref().is_none_or(|t| t == m.to))
        .filter(|m| query.from.as_deref().is_none_or(|f| f == m.from))
        .take(50)
        .map(|m| json!({ "sid": m.sid, "to": m.to, "from": m.from, "body": m.body, "status": "sent" }))
        .collect();
    Json(json!({ "messages": messages, "page": 0, "page_size": 50 })).into_response()
}

async fn unknown_route(State(shared): State<Arc<Shared>>) -> Response {
    shared.ledger().attempts += 1;
    twilio_error(
        StatusCode::NOT_FOUND,
        20404,
        "The requested resource was not found",
    )
}

/// Applies Twilio's checks in Twilio's order: To, From, Body, then To's
/// format. Errors are Twilio's (code, message) for a 400 reply.
fn parse_message(fields: &[(String, String)]) -> Result<NewMessage, (u32, &'static str)> {
    let bad_request = |code, message| Err((code, message));
    let Some(to) = non_empty(fields, "To") else {
        return bad_request(21604, "A 'To' phone number is required.");
    };
    let Some(from) = non_empty(fields, "From") else {
        return bad_request(21603, "A 'From' phone number is required.");
    };
    let Some(body) = non_empty(fields, "Body") else {
        return bad_request(21602, "Message body is required.");
    };
    if !is_canonical_e164(to) {
        return bad_request(21211, "The 'To' number is not a valid phone number.");
    }
    Ok(NewMessage {
        to: to.to_owned(),
        from: from.to_owned(),
        body: body.to_owned(),
        status_callback: non_empty(fields, "StatusCallback").map(str::to_owned),
    })
}

/// Twilio wants the bare `+digits` form, so punctuation is rejected here too.
fn is_canonical_e164(to: &str) -> bool {
    PhoneNumber::parse(to).is_ok_and(|phone| phone.as_str() == to)
}

/// `sent`, then `delivered` (or `undelivered` + ErrorCode 30005), each signed.
async fn send_status_callbacks(
    shared: Arc<Shared>,
    sms: RecordedSms,
    url: String,
    undeliverable: bool,
) {
    let final_status = if undeliverable {
        "undelivered"
    } else {
        "delivered"
    };
    for status in ["sent", final_status] {
        tokio::time::sleep(CALLBACK_DELAY).await;
        let mut params = pairs(&[
            ("MessageSid", &sms.sid),
            ("MessageStatus", status),
            ("AccountSid", &shared.account_sid),
            ("From", &sms.from),
            ("To", &sms.to),
        ]);
        if status == "undelivered" {
            params.push(("ErrorCode".to_owned(), UNDELIVERED_ERROR_CODE.to_owned()));
        }
        let response_status = shared.post_signed(&url, &params).await.ok();
        shared.ledger().callbacks.push(SentCallback {
            url: url.clone(),
            params,
            response_status,
        });
    }
}

fn created(account_sid: &str, sms: &RecordedSms) -> Response {
    let body = json!({
        "sid": sms.sid,
        "account_sid": account_sid,
        "status": "queued",
        "to": sms.to,
        "from": sms.from,
        "body": sms.body,
        "num_segments": "1",
        "error_code": null,
        "error_message": null,
        "api_version": "2010-04-01",
    });
    (StatusCode::CREATED, Json(body)).into_response()
}

fn unauthenticated() -> Response {
    let mut response = twilio_error(StatusCode::UNAUTHORIZED, 20003, "Authenticate");
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        header::HeaderValue::from_static("Basic realm=\"Twilio API\""),
    );
    response
}

/// Twilio's own codes for these are 20000 + HTTP status (20429, 20500, 20503).
fn injected_failure(status: u16) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let reason = status.canonical_reason().unwrap_or("Injected failure");
    twilio_error(status, 20000 + u32::from(status.as_u16()), reason)
}

/// Twilio's JSON error shape.
fn twilio_error(status: StatusCode, code: u32, message: &str) -> Response {
    let body = json!({
        "code": code,
        "message": message,
        "more_info": format!("https://www.twilio.com/docs/errors/{code}"),
        "status": status.as_u16(),
    });
    (status, Json(body)).into_response()
}

/// The decoded `user:password` of a Basic `Authorization` header.
fn basic_credentials(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let encoded = value.strip_prefix("Basic ")?;
    let decoded = STANDARD.decode(encoded.trim()).ok()?;
    String::from_utf8(decoded).ok()
}

fn field<'a>(fields: &'a [(String, String)], name: &str) -> Option<&'a str> {
    fields
        .iter()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.as_str())
}

fn non_empty<'a>(fields: &'a [(String, String)], name: &str) -> Option<&'a str> {
    field(fields, name).filter(|value| !value.trim().is_empty())
}

fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    items
        .iter()
        .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
        .collect()
}

async fn poll_until(timeout: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if done() {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SID: &str = "ACstandin";
    const TOKEN: &str = "standin-token";

    /// Raw POST, so the protocol is tested independently of our client.
    async fn post(
        standin: &TwilioStandIn,
        sid: &str,
        token: &str,
        form: &[(&str, &str)],
    ) -> (u16, serde_json::Value) {
        let url = format!(
            "{}/2010-04-01/Accounts/{sid}/Messages.json",
            standin.base_url()
        );
        let response = reqwest::Client::new()
            .post(url)
            .basic_auth(sid, Some(token))
            .form(form)
            .send()
            .await
            .expect("stand-in reachable");
        let status = response.status().as_u16();
        (status, response.json().await.expect("json reply"))
    }

    const GOOD: [(&str, &str); 3] = [
        ("To", "+14155550100"),
        ("From", "+15005550006"),
        ("Body", "hello"),
    ];

    #[tokio::test]
    async fn accepts_and_records_a_valid_message() {
        let standin = TwilioStandIn::start(SID, TOKEN).await;
        let (status, reply) = post(&standin, SID, TOKEN, &GOOD).await;
        assert_eq!(status, 201);
        let sid = reply["sid"].as_str().expect("sid");
        assert!(sid.starts_with("SM") && sid.len() == 34, "{sid}");
        assert!(sid[2..].chars().all(|c| c.is_ascii_hexdigit()), "{sid}");
        assert_eq!(reply["status"], "queued");
        let recorded = standin.messages();
        assert_eq!(recorded.len(), 1);
        assert_eq!(
            (recorded[0].sid.as_str(), recorded[0].body.as_str()),
            (sid, "hello")
        );
    }

    #[tokio::test]
    async fn wrong_credentials_or_account_get_20003() {
        let standin = TwilioStandIn::start(SID, TOKEN).await;
        for (sid, token) in [(SID, "wrong"), ("ACother", TOKEN)] {
            let (status, reply) = post(&standin, sid, token, &GOOD).await;
            assert_eq!((status, reply["code"].as_u64()), (401, Some(20003)));
            assert_eq!(reply["message"], "Authenticate");
        }
        assert_eq!((standin.count(), standin.attempts()), (0, 2));
    }

    #[tokio::test]
    async fn missing_fields_get_twilio_codes() {
        let standin = TwilioStandIn::start(SID, TOKEN).await;
        let cases: [(&[(&str, &str)], u64); 4] = [
            (&[("From", "+15005550006"), ("Body", "x")], 21604),
            (&[("To", "+14155550100"), ("Body", "x")], 21603),
            (
                &[
                    ("To", "+14155550100"),
                    ("From", "+15005550006"),
                    ("Body", " "),
                ],
                21602,
            ),
            (
                &[
                    ("To", "+1 415 555 0100"),
                    ("From", "+15005550006"),
                    ("Body", "x"),
                ],
                21211,
            ),
        ];
        for (form, code) in cases {
            let (status, reply) = post(&standin, SID, TOKEN, form).await;
            assert_eq!(
                (status, reply["code"].as_u64()),
                (400, Some(code)),
                "{form:?}"
            );
        }
        assert_eq!(standin.count(), 0);
    }

    #[tokio::test]
    async fn rejected_numbers_and_injected_failures_are_not_recorded() {
        let standin = TwilioStandIn::start(SID, TOKEN).await;
        standin.reject_number("+14155550100", 21610);
        let (status, reply) = post(&standin, SID, TOKEN, &GOOD).await;
        assert_eq!((status, reply["code"].as_u64()), (400, Some(21610)));

        standin.fail_next(1, 503);
        let (status, reply) = post(&standin, SID, TOKEN, &GOOD).await;
        assert_eq!((status, reply["code"].as_u64()), (503, Some(20503)));
        assert_eq!((standin.count(), standin.attempts()), (0, 2));
    }

    #[tokio::test]
    async fn unknown_paths_are_counted_and_get_twilio_404() {
        let standin = TwilioStandIn::start(SID, TOKEN).await;
        let status = reqwest::get(format!("{}/nope", standin.base_url()))
            .await
            .expect("reachable")
            .status();
        assert_eq!((status.as_u16(), standin.attempts()), (404, 1));
    }

    #[tokio::test]
    async fn wait_for_count_times_out_quickly_when_nothing_arrives() {
        let standin = TwilioStandIn::start(SID, TOKEN).await;
        let started = std::time::Instant::now();
        assert!(!standin.wait_for_count(1, Duration::from_millis(30)).await);
        assert!(started.elapsed() < Duration::from_secs(1));
    }
}
