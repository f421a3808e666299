//! Email delivery over SMTP (lettre, async on tokio, TLS through rustls + ring).
//!
//! One pooled transport is built per configuration and shared by all sends, so a
//! burst of notifications reuses a few SMTP sessions instead of doing a TCP + TLS
//! handshake per message. Every failure is mapped onto [`DeliveryError`] so the hub's
//! retry logic can decide between "back off and retry" and "give up on this channel".

use std::fmt;
use std::time::Duration;

use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::{AsyncSmtpTransportBuilder, Error as SmtpError};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::delivery_error::DeliveryError;

/// Domain part of every Message-ID we generate; receivers (and our own tests) use the
/// full `<id@healthbridge>` to recognise a duplicate delivery of the same notification.
const MESSAGE_ID_DOMAIN: &str = "healthbridge";

/// What is shown instead of a secret in errors and `Debug` output.
const REDACTED: &str = "[redacted]";

/// How the connection to the SMTP server is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpSecurity {
    /// No TLS at all. Only for a relay on localhost or a trusted private network.
    Plain,
    /// Plain connect, then a mandatory STARTTLS upgrade (usually port 587).
    StartTls,
    /// TLS from the first byte ("implicit TLS", usually port 465).
    Tls,
}

/// Settings for one SMTP relay.
#[derive(Clone, PartialEq, Eq)]
pub struct SmtpConfig {
    pub host: String,
    pub port: u16,
    pub security: SmtpSecurity,
    pub username: Option<String>,
    pub password: Option<String>,
    /// Sender mailbox, e.g. `HealthBridge <no-reply@example.org>`.
    pub from: String,
    /// Applies to connecting and to each SMTP command, so a stuck server cannot
    /// hold a delivery worker forever.
    pub timeout: Duration,
}

/// Hand-written so that logging a config never prints the password.
impl fmt::Debug for SmtpConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("security", &self.security)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| REDACTED))
            .field("from", &self.from)
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// One email to hand to the relay. Borrowed so callers need not clone templates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutgoingEmail<'a> {
    pub to: &'a str,
    pub subject: &'a str,
    pub text: &'a str,
    pub html: &'a str,
    /// Stable id of the notification; becomes `<{message_id}@healthbridge>` so a
    /// retried send is recognisable as a duplicate at the receiver.
    pub message_id: &'a str,
}

/// Sends [`OutgoingEmail`]s through one pooled SMTP transport.
#[derive(Clone)]
pub struct SmtpMailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    /// Kept only to scrub it out of error text, should a server ever echo it.
    password: Option<String>,
}

/// Hand-written: the transport holds credentials, so it is not printed.
impl fmt::Debug for SmtpMailer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpMailer")
            .field("from", &self.from)
            .finish_non_exhaustive()
    }
}

impl SmtpMailer {
    /// Builds the pooled transport. Nothing is connected yet: connections are opened
    /// lazily by the first `send`, so a relay that is down at start-up only shows up
    /// as `Transient` errors later, not as a start-up failure.
    ///
    /// Must be called inside a Tokio runtime: lettre's pool spawns its idle-connection
    /// reaper here (and another task when the mailer is dropped), and `tokio::spawn`
    /// panics without a runtime. That case is reported as an error instead.
    pub fn new(config: &SmtpConfig) -> Result<Self, String> {
        if tokio::runtime::Handle::try_current().is_err() {
            return Err("SmtpMailer::new must be called inside a Tokio runtime".to_owned());
        }
        if config.host.trim().is_empty() {
            return Err("smtp host is empty".to_owned());
        }
        let from: Mailbox = config
            .from
            .parse()
            .map_err(|e| format!("invalid smtp from address: {e}"))?;
        let transport = transport_builder(config)?
            .port(config.port)
            .timeout(Some(config.timeout));
        let transport = with_credentials(transport, config).build();
        Ok(Self {
            transport,
            from,
            password: config.password.clone().filter(|p| !p.is_empty()),
        })
    }

    /// Sends one multipart/alternative (text + HTML) message.
    ///
    /// Errors: `Permanent` when the recipient address or message id is unusable or the
    /// server answers 5xx; `Transient` for everything a later attempt may fix
    /// (connection, timeout, TLS, 4xx replies).
    pub async fn send(&self, email: &OutgoingEmail<'_>) -> Result<(), DeliveryError> {
        let message = self.build_message(email)?;
        self.transport
            .send(message)
            .await
            .map(|_response| ())
            .map_err(|e| self.classify(&e))
    }

    fn build_message(&self, email: &OutgoingEmail<'_>) -> Result<Message, DeliveryError> {
        let to: Mailbox = email.to.parse().map_err(|e| {
            // The address itself is personal data: say what is wrong, not what it was.
            DeliveryError::Permanent(format!("invalid recipient address: {e}"))
        })?;
        let message_id = format_message_id(email.message_id)?;
        Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(email.subject)
            .message_id(Some(message_id))
            .multipart(MultiPart::alternative_plain_html(
                email.text.to_owned(),
                email.html.to_owned(),
            ))
            .map_err(|e| DeliveryError::Permanent(format!("could not build email: {e}")))
    }

    /// Maps a lettre error onto retry semantics, scrubbing the password.
    fn classify(&self, error: &SmtpError) -> DeliveryError {
        let text = redact(format!("smtp: {error}"), self.password.as_deref());
        if is_permanent(error) {
            DeliveryError::Permanent(text)
        } else {
            DeliveryError::Transient(text)
        }
    }
}

/// Picks the lettre builder for the security mode. `relay`/`starttls_relay` also set
/// up rustls with the bundled webpki roots and the host name for certificate checks.
fn transport_builder(config: &SmtpConfig) -> Result<AsyncSmtpTransportBuilder, String> {
    let host = config.host.as_str();
    let built = match config.security {
        SmtpSecurity::Plain => Ok(AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(
            host,
        )),
        SmtpSecurity::StartTls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(host),
        SmtpSecurity::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(host),
    };
    built.map_err(|e| format!("smtp tls setup for {host} failed: {e}"))
}

/// Adds credentials only when both parts are set: a half-configured login is treated
/// as "no login" rather than sending an empty user name or password.
fn with_credentials(
    builder: AsyncSmtpTransportBuilder,
    config: &SmtpConfig,
) -> AsyncSmtpTransportBuilder {
    match (&config.username, &config.password) {
        (Some(user), Some(pass)) => {
            builder.credentials(Credentials::new(user.clone(), pass.clone()))
        }
        _ => builder,
    }
}

/// Only a 5xx reply means "this will never work"; connection, timeout, TLS and
/// protocol trouble, 4xx replies and client-side problems (such as a server that
/// stopped offering STARTTLS or AUTH) are worth another attempt later.
fn is_permanent(error: &SmtpError) -> bool {
    error.is_permanent()
}

/// Wraps the hub's id as `<id@healthbridge>`. The id goes into a header verbatim, so
/// anything outside RFC 5322 `atext` and `.` is refused rather than risking a
/// malformed or injected header; retrying would not fix it, hence `Permanent`.
fn format_message_id(id: &str) -> Result<String, DeliveryError> {
    let valid = !id.is_empty()
        && !id.starts_with('.')
        && !id.ends_with('.')
        && !id.contains("..")
        && id.chars().all(is_dot_atom_char);
    if valid {
        Ok(format!("<{id}@{MESSAGE_ID_DOMAIN}>"))
    } else {
        Err(DeliveryError::Permanent(
            "message id must be a non-empty RFC 5322 dot-atom".to_owned(),
        ))
    }
}

fn is_dot_atom_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~.".contains(c)
}

/// Removes the password from `text`. lettre never puts it in errors, but a server
/// reply is echoed verbatim and we do not control what a server says.
fn redact(text: String, secret: Option<&str>) -> String {
    match secret {
        Some(secret) if text.contains(secret) => text.replace(secret, REDACTED),
        _ => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::smtp_sink::{SinkOptions, SmtpSink, TestCert};

    const TO: &str = "patient@example.org";
    const WAIT: Duration = Duration::from_secs(5);

    fn config(port: u16, security: SmtpSecurity) -> SmtpConfig {
        SmtpConfig {
            host: "127.0.0.1".to_owned(),
            port,
            security,
            username: None,
            password: None,
            from: "HealthBridge <no-reply@example.org>".to_owned(),
            timeout: Duration::from_secs(5),
        }
    }

    fn mailer(port: u16, security: SmtpSecurity) -> SmtpMailer {
        SmtpMailer::new(&config(port, security)).expect("valid config")
    }

    fn email<'a>(to: &'a str, message_id: &'a str) -> OutgoingEmail<'a> {
        OutgoingEmail {
            to,
            subject: "Appointment reminder",
            text: "Your appointment is tomorrow at 10:00.",
            html: "<p>Your appointment is <b>tomorrow</b> at 10:00.</p>",
            message_id,
        }
    }

    fn assert_transient(result: Result<(), DeliveryError>) -> String {
        match result {
            Err(DeliveryError::Transient(msg)) => {
                eprintln!("transient: {msg}");
                msg
            }
            other => panic!("expected Transient, got {other:?}"),
        }
    }

    fn assert_permanent(result: Result<(), DeliveryError>) -> String {
        match result {
            Err(DeliveryError::Permanent(msg)) => {
                eprintln!("permanent: {msg}");
                msg
            }
            other => panic!("expected Permanent, got {other:?}"),
        }
    }

    /// A port on which nothing listens: bind an ephemeral port, then release it.
    fn closed_port() -> u16 {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("addr").port()
    }

    #[tokio::test]
    async fn delivers_multipart_message_with_message_id() {
        let sink = SmtpSink::start(SinkOptions::default());
        let mailer = mailer(sink.port(), SmtpSecurity::Plain);

        mailer.send(&email(TO, "notif-42")).await.expect("sent");

        assert!(sink.wait_for_count(1, WAIT), "message did not arrive");
        let received = sink.messages().remove(0);
        assert_eq!(received.message_id, "<notif-42@healthbridge>");
        assert_eq!(received.mail_from, "no-reply@example.org");
        assert_eq!(received.rcpt_tos, vec![TO.to_owned()]);
        let data = &received.data;
        assert!(data.contains("Subject: Appointment reminder"), "{data}");
        assert!(
            data.contains("From: HealthBridge <no-reply@example.org>"),
            "{data}"
        );
        assert!(
            data.contains("Content-Type: multipart/alternative"),
            "{data}"
        );
        assert!(
            data.contains("Content-Type: text/plain; charset=utf-8"),
            "{data}"
        );
        assert!(
            data.contains("Content-Type: text/html; charset=utf-8"),
            "{data}"
        );
        assert!(
            data.contains("Your appointment is tomorrow at 10:00."),
            "{data}"
        );
        assert!(
            data.contains("<p>Your appointment is <b>tomorrow</b> at 10:00.</p>"),
            "{data}"
        );
    }

    #[tokio::test]
    async fn non_ascii_content_is_delivered() {
        let sink = SmtpSink::start(SinkOptions::default());
        let mailer = mailer(sink.port(), SmtpSecurity::Plain);
        let mut message = email(TO, "utf8-1");
        message.subject = "Terminerinnerung für Müller";
        message.text = "Grüße aus der Praxis – bis morgen!";

        mailer.send(&message).await.expect("sent");

        assert!(sink.wait_for_count(1, WAIT));
        let data = &sink.messages()[0].data;
        // RFC 2047 encoded-word for the subject, quoted-printable UTF-8 for the body.
        assert!(
            data.contains("Subject: Terminerinnerung =?utf-8?b?"),
            "{data}"
        );
        assert!(
            data.contains("Gr=C3=BC=C3=9Fe aus der Praxis =E2=80=93"),
            "{data}"
        );
    }

    #[tokio::test]
    async fn reused_pool_sends_several_messages() {
        let sink = SmtpSink::start(SinkOptions::default());
        let mailer = mailer(sink.port(), SmtpSecurity::Plain);

        for id in ["a-1", "a-2", "a-3"] {
            mailer.send(&email(TO, id)).await.expect("sent");
        }

        assert!(sink.wait_for_count(3, WAIT));
        let ids: Vec<String> = sink.messages().into_iter().map(|m| m.message_id).collect();
        assert_eq!(
            ids,
            [
                "<a-1@healthbridge>",
                "<a-2@healthbridge>",
                "<a-3@healthbridge>"
            ]
        );
    }

    #[tokio::test]
    async fn temporary_failure_is_transient_and_retry_succeeds() {
        let sink = SmtpSink::start(SinkOptions {
            fail_first: 1,
            ..SinkOptions::default()
        });
        let mailer = mailer(sink.port(), SmtpSecurity::Plain);

        let msg = assert_transient(mailer.send(&email(TO, "retry-1")).await);
        assert!(msg.contains("451"), "{msg}");
        assert_eq!(sink.count(), 0);

        mailer
            .send(&email(TO, "retry-1"))
            .await
            .expect("retry sent");
        assert!(sink.wait_for_count(1, WAIT));
        assert_eq!(sink.messages()[0].message_id, "<retry-1@healthbridge>");
    }

    #[tokio::test]
    async fn rejected_recipient_is_permanent() {
        let sink = SmtpSink::start(SinkOptions {
            reject: vec!["gone@example.org".to_owned()],
            ..SinkOptions::default()
        });
        let mailer = mailer(sink.port(), SmtpSecurity::Plain);

        let msg = assert_permanent(mailer.send(&email("gone@example.org", "rej-1")).await);
        assert!(msg.contains("550"), "{msg}");

        // lettre drops the refused session; the pooled mailer opens a new one.
        mailer.send(&email(TO, "rej-2")).await.expect("sent");
        assert!(sink.wait_for_count(1, WAIT));
        assert_eq!(sink.messages()[0].rcpt_tos, vec![TO.to_owned()]);
    }

    #[tokio::test]
    async fn invalid_recipient_is_permanent_without_echoing_it() {
        let sink = SmtpSink::start(SinkOptions::default());
        let mailer = mailer(sink.port(), SmtpSecurity::Plain);

        for bad in [
            "not an address",
            "",
            "a@b@c",
            "x@example.org\r\nBcc: evil@example.org",
        ] {
            let msg = assert_permanent(mailer.send(&email(bad, "bad-1")).await);
            assert!(bad.is_empty() || !msg.contains(bad), "{msg}");
        }
        assert_eq!(sink.count(), 0);
    }

    #[tokio::test]
    async fn unsafe_message_id_is_permanent() {
        let mailer = mailer(closed_port(), SmtpSecurity::Plain);
        for bad in [
            "",
            "a b",
            "x>\r\nBcc: evil@example.org",
            "a@b",
            ".a",
            "a..b",
        ] {
            assert_permanent(mailer.send(&email(TO, bad)).await);
        }
    }

    #[tokio::test]
    async fn nothing_listening_is_transient() {
        let mailer = mailer(closed_port(), SmtpSecurity::Plain);
        let msg = assert_transient(mailer.send(&email(TO, "down-1")).await);
        assert!(msg.to_lowercase().contains("connect"), "{msg}");
    }

    #[tokio::test]
    async fn implicit_tls_against_plain_server_is_transient() {
        let sink = SmtpSink::start(SinkOptions::default());
        let mailer = mailer(sink.port(), SmtpSecurity::Tls);

        assert_transient(mailer.send(&email(TO, "tls-1")).await);
        assert_eq!(sink.count(), 0);
    }

    #[tokio::test]
    async fn starttls_required_but_not_offered_is_transient() {
        let sink = SmtpSink::start(SinkOptions::default());
        let mailer = mailer(sink.port(), SmtpSecurity::StartTls);

        assert_transient(mailer.send(&email(TO, "stls-1")).await);
        assert_eq!(sink.count(), 0, "must not fall back to plaintext");
    }

    /// The sink offers STARTTLS with a self-signed certificate: the upgrade is
    /// attempted and the certificate is refused, which is a TLS (transient) error.
    #[tokio::test]
    async fn starttls_with_untrusted_certificate_is_transient() {
        let Some(cert) = TestCert::self_signed() else {
            eprintln!("skipped: openssl CLI not available to make a test certificate");
            return;
        };
        let sink = SmtpSink::start(SinkOptions {
            starttls: Some((cert.cert.clone(), cert.key.clone())),
            ..SinkOptions::default()
        });
        let mailer = mailer(sink.port(), SmtpSecurity::StartTls);

        let msg = assert_transient(mailer.send(&email(TO, "stls-2")).await);
        assert!(msg.contains("certificate"), "{msg}");
        assert_eq!(sink.count(), 0);
    }

    #[tokio::test]
    async fn password_never_appears_in_errors_or_debug() {
        let sink = SmtpSink::start(SinkOptions::default());
        let mut cfg = config(sink.port(), SmtpSecurity::Plain);
        cfg.username = Some("hub".to_owned());
        cfg.password = Some("s3cret-pa55".to_owned());
        let mailer = SmtpMailer::new(&cfg).expect("valid config");

        // aiosmtpd offers no AUTH, so the login cannot happen.
        let msg = assert_transient(mailer.send(&email(TO, "auth-1")).await);
        assert!(!msg.contains("s3cret-pa55"), "{msg}");
        assert!(!format!("{cfg:?}").contains("s3cret-pa55"));
        assert!(!format!("{mailer:?}").contains("s3cret-pa55"));
        assert_eq!(sink.count(), 0);
    }

    #[test]
    fn new_outside_a_runtime_is_an_error_not_a_panic() {
        let err = SmtpMailer::new(&config(25, SmtpSecurity::Plain)).expect_err("no runtime");
        assert!(err.contains("Tokio runtime"), "{err}");
    }

    #[tokio::test]
    async fn new_rejects_bad_from_and_empty_host() {
        let mut cfg = config(25, SmtpSecurity::Plain);
        cfg.from = "not a mailbox".to_owned();
        assert!(SmtpMailer::new(&cfg).is_err());

        let mut cfg = config(25, SmtpSecurity::Tls);
        cfg.host = " ".to_owned();
        assert!(SmtpMailer::new(&cfg).is_err());
    }

    #[tokio::test]
    async fn new_accepts_every_security_mode() {
        for security in [
            SmtpSecurity::Plain,
            SmtpSecurity::StartTls,
            SmtpSecurity::Tls,
        ] {
            let cfg = config(2525, security);
            assert!(SmtpMailer::new(&cfg).is_ok(), "{security:?}");
        }
    }

    #[test]
    fn redact_replaces_secret() {
        assert_eq!(redact("a pw b".to_owned(), Some("pw")), "a [redacted] b");
        assert_eq!(redact("a pw b".to_owned(), None), "a pw b");
    }
}
