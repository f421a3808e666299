//! The `[notifier]` configuration section, shared by `hub serve` (which embeds it)
//! and the `notifier` binary. Every field has a default that works on one machine
//! with nothing configured: without `[notifier.email]` or `[notifier.sms]`, messages
//! are written to files under the data directory and the log says so.

use std::{fmt::Display, path::PathBuf, str::FromStr};

use serde::{Deserialize, Deserializer, Serialize, Serializer, de::Error as _};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NotifierConfig {
    /// Run a worker inside `hub serve`. Turn off when separate `notifier`
    /// processes do the sending.
    #[serde(deserialize_with = "lenient")]
    pub in_process: bool,
    /// How often an idle worker looks for due notifications.
    #[serde(deserialize_with = "lenient")]
    pub poll_interval_ms: u64,
    /// Rows claimed per round trip.
    #[serde(deserialize_with = "lenient")]
    pub batch_size: u32,
    /// Hand-offs in flight at once per worker.
    #[serde(deserialize_with = "lenient")]
    pub concurrency: usize,
    /// A claimed row not finished within this time is taken over by another worker.
    #[serde(deserialize_with = "lenient")]
    pub lease_secs: u64,
    /// Attempts on one channel before falling back to the next.
    #[serde(deserialize_with = "lenient")]
    pub max_attempts: u32,
    /// First retry delay; doubles per attempt (with jitter) up to `backoff_max_secs`.
    #[serde(deserialize_with = "lenient")]
    pub backoff_base_secs: u64,
    #[serde(deserialize_with = "lenient")]
    pub backoff_max_secs: u64,
    /// Reminder offsets before an appointment, in minutes, when the organization
    /// has not set its own.
    #[serde(deserialize_with = "offsets")]
    pub reminder_offsets_min: Vec<u32>,
    /// How long a message may wait unread before its offline recipient is told.
    #[serde(deserialize_with = "lenient")]
    pub unread_delay_secs: u64,
    /// Where email and SMS go when no provider is configured (default:
    /// `<data_dir>/notifications`).
    pub sink_dir: Option<PathBuf>,
    pub email: Option<SmtpSettings>,
    pub sms: Option<TwilioSettings>,
}

impl Default for NotifierConfig {
    fn default() -> Self {
        Self {
            in_process: true,
            poll_interval_ms: 500,
            batch_size: 50,
            concurrency: 8,
            lease_secs: 60,
            max_attempts: 4,
            backoff_base_secs: 15,
            backoff_max_secs: 3600,
            reminder_offsets_min: vec![24 * 60, 60],
            unread_delay_secs: 600,
            sink_dir: None,
            email: None,
            sms: None,
        }
    }
}

/// How the SMTP connection is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpSecurity {
    /// No TLS (a relay on localhost or a test server).
    Plain,
    /// Plain connection upgraded with STARTTLS (port 587); TLS is required.
    Starttls,
    /// TLS from the first byte (port 465).
    Tls,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpSettings {
    pub host: String,
    #[serde(deserialize_with = "lenient")]
    pub port: u16,
    pub security: SmtpSecurity,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub password: Option<Redacted>,
    /// The sender mailbox, e.g. `HealthBridge <no-reply@clinic.example>`.
    pub from: String,
    #[serde(default = "default_timeout", deserialize_with = "lenient")]
    pub timeout_secs: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TwilioSettings {
    /// `https://api.twilio.com` in production; a local stand-in in tests.
    #[serde(default = "default_twilio_url")]
    pub base_url: String,
    pub account_sid: String,
    pub auth_token: Redacted,
    /// The sending number (E.164) or messaging service.
    pub from: String,
    /// Where Twilio posts delivery receipts; defaults to the hub's
    /// `<public_url>/api/v1/webhooks/twilio/status`.
    #[serde(default)]
    pub status_callback_url: Option<String>,
    #[serde(default = "default_timeout", deserialize_with = "lenient")]
    pub timeout_secs: u64,
}

fn default_timeout() -> u64 {
    15
}

fn default_twilio_url() -> String {
    "https://api.twilio.com".into()
}

impl NotifierConfig {
    /// Checks ranges; messages name the key at fault.
    pub fn validate(&self) -> Result<(), String> {
        let check = |ok: bool, msg: &str| if ok { Ok(()) } else { Err(msg.to_owned()) };
        check(
            (50..=60_000).contains(&self.poll_interval_ms),
            "notifier.poll_interval_ms must be between 50 and 60000",
        )?;
        check(
            (1..=1000).contains(&self.batch_size),
            "notifier.batch_size must be between 1 and 1000",
        )?;
        check(
            (1..=256).contains(&self.concurrency),
            "notifier.concurrency must be between 1 and 256",
        )?;
        check(
            (5..=3600).contains(&self.lease_secs),
            "notifier.lease_secs must be between 5 and 3600",
        )?;
        check(
            (1..=20).contains(&self.max_attempts),
            "notifier.max_attempts must be between 1 and 20",
        )?;
        check(
            self.backoff_base_secs >= 1 && self.backoff_max_secs >= self.backoff_base_secs,
            "notifier.backoff_base_secs must be at least 1 and at most backoff_max_secs",
        )?;
        check(
            !self.reminder_offsets_min.is_empty()
                && self.reminder_offsets_min.len() <= 5
                && self
                    .reminder_offsets_min
                    .iter()
                    .all(|m| (5..=30 * 24 * 60).contains(m)),
            "notifier.reminder_offsets_min must hold 1 to 5 offsets between 5 minutes and 30 days",
        )?;
        let slowest = [
            self.email.as_ref().map(|e| e.timeout_secs),
            self.sms.as_ref().map(|s| s.timeout_secs),
        ]
        .into_iter()
        .flatten()
        .max()
        .unwrap_or(0);
        check(
            slowest.saturating_mul(3) < self.lease_secs,
            "notifier.lease_secs must exceed three times the email and SMS timeouts",
        )?;
        if let Some(email) = &self.email {
            check(
                !email.host.is_empty() && email.port != 0,
                "notifier.email.host and port are required",
            )?;
            check(
                email.from.contains('@'),
                "notifier.email.from must be a mailbox",
            )?;
            check(
                email.username.is_some() == email.password.is_some(),
                "notifier.email.username and password go together",
            )?;
        }
        if let Some(sms) = &self.sms {
            check(
                sms.base_url.starts_with("http://") || sms.base_url.starts_with("https://"),
                "notifier.sms.base_url must start with http:// or https://",
            )?;
            check(
                !sms.account_sid.is_empty() && !sms.auth_token.expose().is_empty(),
                "notifier.sms.account_sid and auth_token are required",
            )?;
            check(
                crate::phone::PhoneNumber::parse(&sms.from).is_ok(),
                "notifier.sms.from must be an E.164 number like +14155550100",
            )?;
        }
        Ok(())
    }
}

/// A configured secret: shown as `****` in logs, `Debug` and serialized config.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Redacted(String);

impl Redacted {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Redacted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("****")
    }
}

impl Serialize for Redacted {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str("****")
    }
}

impl<'de> Deserialize<'de> for Redacted {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Redacted)
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
enum ValueOrString<T> {
    Value(T),
    String(String),
}

/// Environment variables are strings while the TOML file is typed: accept both.
fn lenient<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + FromStr,
    <T as FromStr>::Err: Display,
{
    match ValueOrString::<T>::deserialize(deserializer)? {
        ValueOrString::Value(v) => Ok(v),
        ValueOrString::String(s) => s.trim().parse().map_err(D::Error::custom),
    }
}

/// `[1440, 60]` from the file or `"1440,60"` from the environment.
fn offsets<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<u32>, D::Error> {
    match ValueOrString::<Vec<u32>>::deserialize(deserializer)? {
        ValueOrString::Value(v) => Ok(v),
        ValueOrString::String(s) => s
            .split(',')
            .map(|p| p.trim().parse::<u32>().map_err(D::Error::custom))
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        NotifierConfig::default().validate().unwrap();
    }

    #[test]
    fn strings_from_the_environment_parse() {
        let table: NotifierConfig = toml::from_str(
            "in_process = \"false\"\nreminder_offsets_min = \"2880, 30\"\n\
             [email]\nhost = \"localhost\"\nport = \"2525\"\nsecurity = \"plain\"\nfrom = \"a@b.c\"\n",
        )
        .unwrap();
        assert!(!table.in_process);
        assert_eq!(table.reminder_offsets_min, vec![2880, 30]);
        assert_eq!(table.email.unwrap().port, 2525);
    }

    #[test]
    fn bad_values_are_named() {
        let mut c = NotifierConfig {
            reminder_offsets_min: vec![1],
            ..Default::default()
        };
        assert!(c.validate().unwrap_err().contains("reminder_offsets_min"));
        c.reminder_offsets_min = vec![60];
        c.sms = Some(TwilioSettings {
            base_url: "ftp://x".into(),
            account_sid: "AC1".into(),
            auth_token: Redacted::new("t"),
            from: "+14155550100".into(),
            status_callback_url: None,
            timeout_secs: 5,
        });
        assert!(c.validate().unwrap_err().contains("base_url"));
    }

    #[test]
    fn secrets_never_print() {
        let r = Redacted::new("hunter2");
        assert_eq!(format!("{r:?}"), "****");
        assert_eq!(serde_json::to_string(&r).unwrap(), "\"****\"");
    }
}
