//! Our own small client for Twilio's Messages REST API.
//!
//! Published Rust crates either hard-code `api.twilio.com` (so they cannot
//! be pointed at a local stand-in in tests) or cannot set To/From/Body and a
//! status callback together. Sending an SMS is one form POST, so we own it.
//!
//! Every failure is classified into [`DeliveryError`]: network trouble,
//! timeouts, 429 and 5xx are worth retrying; any other 4xx is Twilio
//! refusing this message for good. The auth token never appears in an error
//! string, a `Debug` dump or a log line.

use std::fmt;
use std::time::Duration;

use reqwest::StatusCode;
use serde::Deserialize;

use crate::delivery_error::DeliveryError;
use crate::phone::PhoneNumber;

/// Where the real Twilio API lives.
pub const DEFAULT_BASE_URL: &str = "https://api.twilio.com";
/// Used by [`TwilioConfig::new`]; long enough for Twilio's usual sub-second
/// replies, short enough that a stuck call does not hold a delivery worker.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// Twilio error messages can quote the recipient number; keep them short.
const MAX_PROVIDER_MESSAGE_CHARS: usize = 200;

/// Everything needed to send SMS through one Twilio account.
#[derive(Clone)]
pub struct TwilioConfig {
    /// API root without trailing slash, e.g. `https://api.twilio.com`.
    pub base_url: String,
    /// Account SID (`AC…`), also the basic-auth user name.
    pub account_sid: String,
    /// Secret: basic-auth password. Never logged.
    pub auth_token: String,
    /// Sender: an E.164 number or messaging-service-capable sender ID.
    pub from: String,
    /// Where Twilio should POST delivery status updates, if anywhere.
    pub status_callback_url: Option<String>,
    /// Whole-request timeout (connect + send + reply).
    pub timeout: Duration,
}

impl TwilioConfig {
    /// A config for the real API with the default timeout and no status callback.
    pub fn new(
        account_sid: impl Into<String>,
        auth_token: impl Into<String>,
        from: impl Into<String>,
    ) -> Self {
        TwilioConfig {
            base_url: DEFAULT_BASE_URL.to_owned(),
            account_sid: account_sid.into(),
            auth_token: auth_token.into(),
            from: from.into(),
            status_callback_url: None,
            timeout: DEFAULT_TIMEOUT,
        }
    }
}

/// Redacts the auth token so a config can be logged or dumped safely.
impl fmt::Debug for TwilioConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TwilioConfig")
            .field("base_url", &self.base_url)
            .field("account_sid", &self.account_sid)
            .field("auth_token", &"[redacted]")
            .field("from", &self.from)
            .field("status_callback_url", &self.status_callback_url)
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// What Twilio said about a message it accepted.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct SentSms {
    /// Twilio's message SID (`SM…`), the key for later status callbacks.
    pub sid: String,
    /// Twilio's status at acceptance, usually `queued` or `accepted`.
    pub status: String,
}

/// The fields of Twilio's JSON error body we report.
#[derive(Debug, Default, Deserialize)]
struct TwilioErrorBody {
    code: Option<u64>,
    message: Option<String>,
}

/// Sends SMS through Twilio's Messages API. Cheap to share: wrap in `Arc`
/// or clone the config; it holds one connection-pooling HTTP client.
#[derive(Clone)]
pub struct TwilioClient {
    http: reqwest::Client,
    config: TwilioConfig,
    messages_url: String,
}

impl fmt::Debug for TwilioClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TwilioClient")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl TwilioClient {
    /// Checks the config and builds the HTTP client. Fails on an empty
    /// SID/token/sender, a SID that is not alphanumeric (it goes into the
    /// URL path), or a base URL that is not http(s).
    pub fn new(config: TwilioConfig) -> Result<Self, String> {
        validate(&config)?;
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            // The API never redirects; following one could send credentials elsewhere.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| format!("cannot build HTTP client: {e}"))?;
        let messages_url = format!(
            "{}/2010-04-01/Accounts/{}/Messages.json",
            config.base_url.trim_end_matches('/'),
            config.account_sid
        );
        Ok(TwilioClient {
            http,
            config,
            messages_url,
        })
    }

    /// Hands one SMS to Twilio. `Ok` means Twilio accepted (queued) it;
    /// delivery to the handset is reported later via the status callback.
    pub async fn send(&self, to: &PhoneNumber, body: &str) -> Result<SentSms, DeliveryError> {
        let result = self.post_message(to, body).await;
        match &result {
            Ok(sent) => {
                tracing::debug!(sid = %sent.sid, status = %sent.status, "twilio accepted sms")
            }
            // Only the kind: Twilio's messages can quote the recipient's number,
            // so the full text is left to the caller, which knows its log policy.
            Err(e) => tracing::warn!(
                retryable = matches!(e, DeliveryError::Transient(_)),
                "twilio sms hand-off failed"
            ),
        }
        result
    }

    /// SIDs of recent messages from our number to `to` with exactly `body`
    /// (newest first, one page of 50). Used after a crash to learn whether a
    /// message was already accepted before sending it again.
    pub async fn find_sent(
        &self,
        to: &PhoneNumber,
        body: &str,
    ) -> Result<Vec<String>, DeliveryError> {
        #[derive(Deserialize)]
        struct Page {
            messages: Vec<Listed>,
        }
        #[derive(Deserialize)]
        struct Listed {
            sid: String,
            body: Option<String>,
        }
        let response = self
            .http
            .get(&self.messages_url)
            .basic_auth(&self.config.account_sid, Some(&self.config.auth_token))
            .query(&[
                ("To", to.as_str()),
                ("From", self.config.from.as_str()),
                ("PageSize", "50"),
            ])
            .send()
            .await
            .map_err(|e| self.redact(transport_error(e)))?;
        let status = response.status();
        let text = response
            .text()
            .await
            .map_err(|e| self.redact(transport_error(e)))?;
        if !status.is_success() {
            return Err(DeliveryError::Transient(format!(
                "twilio: listing messages answered {status}"
            )));
        }
        let page: Page = serde_json::from_str(&text)
            .map_err(|_| DeliveryError::Transient("twilio: unreadable message list".into()))?;
        Ok(page
            .messages
            .into_iter()
            .filter(|m| m.body.as_deref() == Some(body))
            .map(|m| m.sid)
            .collect())
    }

    async fn post_message(&self, to: &PhoneNumber, body: &str) -> Result<SentSms, DeliveryError> {
        let response = self
            .http
            .post(&self.messages_url)
            .basic_auth(&self.config.account_sid, Some(&self.config.auth_token))
            .form(&self.form_fields(to, body))
            .send()
            .await
            .map_err(|e| self.redact(transport_error(e)))?;
        let status = response.status();
        let text = response
            .text()
            .await
            .map_err(|e| self.redact(transport_error(e)))?;
        classify_response(status, &text).map_err(|e| self.redact(e))
    }

    fn form_fields<'a>(
        &'a self,
        to: &'a PhoneNumber,
        body: &'a str,
    ) -> Vec<(&'static str, &'a str)> {
        let mut fields = vec![
            ("To", to.as_str()),
            ("From", self.config.from.as_str()),
            ("Body", body),
        ];
        if let Some(url) = &self.config.status_callback_url {
            fields.push(("StatusCallback", url.as_str()));
        }
        fields
    }

    /// Belt and braces: scrub the token from any text we pass upward, in
    /// case a provider or library ever echoes it.
    fn redact(&self, error: DeliveryError) -> DeliveryError {
        let token = self.config.auth_token.as_str();
        let scrub = |s: String| s.replace(token, "[redacted]");
        match error {
            DeliveryError::Transient(s) => DeliveryError::Transient(scrub(s)),
            DeliveryError::Permanent(s) => DeliveryError::Permanent(scrub(s)),
        }
    }
}

fn validate(config: &TwilioConfig) -> Result<(), String> {
    if config.account_sid.is_empty()
        || !config
            .account_sid
            .chars()
            .all(|c| c.is_ascii_alphanumeric())
    {
        return Err("twilio account_sid must be non-empty and alphanumeric".to_owned());
    }
    if config.auth_token.is_empty() {
        return Err("twilio auth_token is empty".to_owned());
    }
    if config.from.trim().is_empty() {
        return Err("twilio sender (from) is empty".to_owned());
    }
    let base = config.base_url.as_str();
    if !(base.starts_with("https://") || base.starts_with("http://")) {
        return Err("twilio base_url must start with http:// or https://".to_owned());
    }
    if config.timeout.is_zero() {
        return Err("twilio timeout must be greater than zero".to_owned());
    }
    Ok(())
}

/// Failures before we got a full HTTP reply. Builder errors mean our own
/// request is malformed (retrying will not help); everything else, connect
/// errors and timeouts included, is network trouble.
fn transport_error(error: reqwest::Error) -> DeliveryError {
    let kind = if error.is_timeout() {
        "timed out talking to twilio"
    } else if error.is_connect() {
        "could not connect to twilio"
    } else {
        "network error talking to twilio"
    };
    // The URL only holds the account SID, but leave it out of messages anyway.
    let detail = error.without_url();
    if detail.is_builder() {
        DeliveryError::Permanent(format!("cannot build twilio request: {detail}"))
    } else {
        DeliveryError::Transient(format!("{kind}: {detail}"))
    }
}

/// Turns Twilio's HTTP reply into a result. Pure, so it is tested directly.
fn classify_response(status: StatusCode, body: &str) -> Result<SentSms, DeliveryError> {
    if status.is_success() {
        return serde_json::from_str::<SentSms>(body).map_err(|_| {
            // Twilio took the message; retrying would risk a duplicate SMS.
            DeliveryError::Permanent(format!(
                "twilio accepted the message (HTTP {}) but its reply had no readable sid/status; not retrying to avoid a duplicate",
                status.as_u16()
            ))
        });
    }
    let detail = error_detail(status, body);
    if is_retryable(status) {
        Err(DeliveryError::Transient(detail))
    } else {
        Err(DeliveryError::Permanent(detail))
    }
}

/// 408/429 and every 5xx are the provider being busy or broken, not the
/// message being wrong.
fn is_retryable(status: StatusCode) -> bool {
    status == StatusCode::TOO_MANY_REQUESTS
        || status == StatusCode::REQUEST_TIMEOUT
        || status.is_server_error()
}

/// "twilio error 21211: <message> (HTTP 400)", falling back to the bare
/// status when the body is not Twilio's JSON error shape.
fn error_detail(status: StatusCode, body: &str) -> String {
    let parsed: TwilioErrorBody = serde_json::from_str(body).unwrap_or_default();
    let message = parsed.message.map(|m| {
        m.chars()
            .take(MAX_PROVIDER_MESSAGE_CHARS)
            .collect::<String>()
    });
    let http = status.as_u16();
    match (parsed.code, message) {
        (Some(code), Some(msg)) => format!("twilio error {code}: {msg} (HTTP {http})"),
        (Some(code), None) => format!("twilio error {code} (HTTP {http})"),
        (None, Some(msg)) => format!("twilio: {msg} (HTTP {http})"),
        (None, None) => format!("twilio answered HTTP {http}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(code: u16) -> StatusCode {
        StatusCode::from_u16(code).expect("valid status")
    }

    fn config() -> TwilioConfig {
        TwilioConfig::new("AC123", "s3cret-token", "+15005550006")
    }

    #[test]
    fn success_reply_yields_sid_and_status() {
        let body = r#"{"sid":"SM0123","status":"queued","to":"+1","body":"hi"}"#;
        assert_eq!(
            classify_response(status(201), body),
            Ok(SentSms {
                sid: "SM0123".into(),
                status: "queued".into()
            })
        );
    }

    #[test]
    fn unreadable_success_reply_is_not_retried() {
        let err = classify_response(status(201), "<html>").expect_err("no sid");
        assert!(
            matches!(err, DeliveryError::Permanent(ref m) if m.contains("duplicate")),
            "{err}"
        );
    }

    #[test]
    fn client_errors_are_permanent_with_twilio_code_and_message() {
        let body = r#"{"code":21211,"message":"The 'To' number is not a valid phone number.","status":400}"#;
        assert_eq!(
            classify_response(status(400), body),
            Err(DeliveryError::Permanent(
                "twilio error 21211: The 'To' number is not a valid phone number. (HTTP 400)"
                    .into()
            ))
        );
        let auth = r#"{"code":20003,"message":"Authenticate","status":401}"#;
        assert!(
            matches!(classify_response(status(401), auth), Err(DeliveryError::Permanent(m)) if m.contains("20003"))
        );
    }

    #[test]
    fn rate_limits_timeouts_and_server_errors_are_transient() {
        for code in [408, 429, 500, 502, 503] {
            let result = classify_response(status(code), "");
            assert!(
                matches!(result, Err(DeliveryError::Transient(_))),
                "{code}: {result:?}"
            );
        }
    }

    #[test]
    fn non_json_error_body_still_reports_the_status() {
        assert_eq!(
            classify_response(status(404), "not found"),
            Err(DeliveryError::Permanent("twilio answered HTTP 404".into()))
        );
    }

    #[test]
    fn long_provider_messages_are_truncated() {
        let body = format!(r#"{{"code":1,"message":"{}"}}"#, "x".repeat(1000));
        let detail = error_detail(status(400), &body);
        assert!(detail.len() < 300, "{}", detail.len());
    }

    #[test]
    fn debug_output_never_shows_the_token() {
        let client = TwilioClient::new(config()).expect("valid config");
        assert!(!format!("{client:?}").contains("s3cret-token"));
        assert!(!format!("{:?}", config()).contains("s3cret-token"));
    }

    #[test]
    fn redact_scrubs_the_token_from_errors() {
        let client = TwilioClient::new(config()).expect("valid config");
        let scrubbed = client.redact(DeliveryError::Permanent("bad s3cret-token".into()));
        assert_eq!(scrubbed, DeliveryError::Permanent("bad [redacted]".into()));
    }

    #[test]
    fn bad_configs_are_rejected_without_echoing_the_token() {
        let mut bad_sid = config();
        bad_sid.account_sid = "AC/../x".into();
        let mut no_token = config();
        no_token.auth_token.clear();
        let mut bad_url = config();
        bad_url.base_url = "ftp://example".into();
        let mut no_from = config();
        no_from.from = " ".into();
        for c in [bad_sid, no_token, bad_url, no_from] {
            let err = TwilioClient::new(c).expect_err("invalid");
            assert!(!err.contains("s3cret-token"), "{err}");
        }
    }

    #[test]
    fn messages_url_tolerates_a_trailing_slash() {
        let mut c = config();
        c.base_url = "http://127.0.0.1:9/".into();
        let client = TwilioClient::new(c).expect("valid config");
        assert_eq!(
            client.messages_url,
            "http://127.0.0.1:9/2010-04-01/Accounts/AC123/Messages.json"
        );
    }

    #[test]
    fn status_callback_is_sent_only_when_configured() {
        let to = PhoneNumber::parse("+14155550100").expect("valid");
        let plain = TwilioClient::new(config()).expect("valid config");
        assert_eq!(plain.form_fields(&to, "hi").len(), 3);
        let mut c = config();
        c.status_callback_url = Some("https://hub.example/cb".into());
        let with_cb = TwilioClient::new(c).expect("valid config");
        assert!(
            with_cb
                .form_fields(&to, "hi")
                .contains(&("StatusCallback", "https://hub.example/cb"))
        );
    }
}
