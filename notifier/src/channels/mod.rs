//! Where rendered notices go: email, SMS and in-app, each behind a small trait so
//! the worker does not care whether a message goes to a real provider or, with
//! nothing configured, to a file in the data directory.

pub mod file;
pub mod redis_in_app;
pub mod smtp;
pub mod twilio;

use std::{future::Future, path::Path, pin::Pin, sync::Arc, time::Duration};

pub use smtp::OutgoingEmail;

use crate::{
    config::{NotifierConfig, SmtpSecurity},
    delivery_error::DeliveryError,
    phone::PhoneNumber,
};

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Sends email. Answers the provider's reference when it has one.
pub trait EmailSink: Send + Sync {
    /// `smtp` or `file`, recorded with each attempt.
    fn kind(&self) -> &'static str;
    fn send<'a>(
        &'a self,
        email: &'a OutgoingEmail<'a>,
    ) -> BoxFuture<'a, Result<Option<String>, DeliveryError>>;
}

/// Sends SMS. Answers the provider's message id (Twilio's SID), which delivery
/// receipts refer to.
pub trait SmsSink: Send + Sync {
    fn kind(&self) -> &'static str;

    /// Provider ids of messages already accepted for `to` with this exact
    /// `body`, if the provider can say (Twilio can list messages). After a worker
    /// died mid-hand-off, this tells whether sending again would repeat it.
    fn find_sent<'a>(
        &'a self,
        _to: &'a PhoneNumber,
        _body: &'a str,
    ) -> BoxFuture<'a, Result<Vec<String>, DeliveryError>> {
        Box::pin(async { Ok(Vec::new()) })
    }

    fn send<'a>(
        &'a self,
        to: &'a PhoneNumber,
        body: &'a str,
    ) -> BoxFuture<'a, Result<String, DeliveryError>>;
}

/// Pushes a notice to the recipient's open sessions (the hub's event bus).
pub trait InAppSink: Send + Sync {
    fn publish<'a>(
        &'a self,
        user_id: &'a str,
        notice: serde_json::Value,
    ) -> BoxFuture<'a, Result<(), DeliveryError>>;
}

/// The channels one worker sends through.
#[derive(Clone)]
pub struct Channels {
    pub email: Arc<dyn EmailSink>,
    pub sms: Arc<dyn SmsSink>,
    /// None for a worker that cannot reach sockets; it leaves in-app rows alone.
    pub in_app: Option<Arc<dyn InAppSink>>,
}

impl Channels {
    /// Providers from configuration; an unconfigured channel writes to a file in
    /// `sink_dir` and says so in the log, so nothing is silently dropped.
    /// `default_status_callback` is the hub's receipt URL, used when the SMS
    /// settings do not name one.
    pub fn from_config(
        config: &NotifierConfig,
        sink_dir: &Path,
        default_status_callback: Option<String>,
        in_app: Option<Arc<dyn InAppSink>>,
    ) -> Result<Self, String> {
        let email: Arc<dyn EmailSink> = match &config.email {
            Some(s) => Arc::new(smtp::SmtpMailer::new(&smtp::SmtpConfig {
                host: s.host.clone(),
                port: s.port,
                security: match s.security {
                    SmtpSecurity::Plain => smtp::SmtpSecurity::Plain,
                    SmtpSecurity::Starttls => smtp::SmtpSecurity::StartTls,
                    SmtpSecurity::Tls => smtp::SmtpSecurity::Tls,
                },
                username: s.username.clone(),
                password: s.password.as_ref().map(|p| p.expose().to_owned()),
                from: s.from.clone(),
                timeout: Duration::from_secs(s.timeout_secs),
            })?),
            None => {
                let sink = file::FileSink::open(sink_dir, "email")?;
                tracing::warn!(path = %sink.path().display(), "no SMTP server configured ([notifier.email]): email is written to this file");
                Arc::new(sink)
            }
        };
        let sms: Arc<dyn SmsSink> = match &config.sms {
            Some(s) => Arc::new(twilio::TwilioClient::new(twilio::TwilioConfig {
                base_url: s.base_url.trim_end_matches('/').to_owned(),
                account_sid: s.account_sid.clone(),
                auth_token: s.auth_token.expose().to_owned(),
                from: s.from.clone(),
                status_callback_url: s.status_callback_url.clone().or(default_status_callback),
                timeout: Duration::from_secs(s.timeout_secs),
            })?),
            None => {
                let sink = file::FileSink::open(sink_dir, "sms")?;
                tracing::warn!(path = %sink.path().display(), "no SMS provider configured ([notifier.sms]): SMS is written to this file");
                Arc::new(sink)
            }
        };
        Ok(Self { email, sms, in_app })
    }
}

impl EmailSink for smtp::SmtpMailer {
    fn kind(&self) -> &'static str {
        "smtp"
    }

    fn send<'a>(
        &'a self,
        email: &'a OutgoingEmail<'a>,
    ) -> BoxFuture<'a, Result<Option<String>, DeliveryError>> {
        Box::pin(async move {
            smtp::SmtpMailer::send(self, email).await?;
            Ok(Some(format!("<{}@healthbridge>", email.message_id)))
        })
    }
}

impl SmsSink for twilio::TwilioClient {
    fn kind(&self) -> &'static str {
        "twilio"
    }

    fn find_sent<'a>(
        &'a self,
        to: &'a PhoneNumber,
        body: &'a str,
    ) -> BoxFuture<'a, Result<Vec<String>, DeliveryError>> {
        Box::pin(twilio::TwilioClient::find_sent(self, to, body))
    }

    fn send<'a>(
        &'a self,
        to: &'a PhoneNumber,
        body: &'a str,
    ) -> BoxFuture<'a, Result<String, DeliveryError>> {
        Box::pin(async move { Ok(twilio::TwilioClient::send(self, to, body).await?.sid) })
    }
}
