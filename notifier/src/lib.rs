//! The HealthBridge notifier: every notice a person must get (a booking, a reminder,
//! a message while they were away, a password reset) goes through here, once, on the
//! channel they chose, at a time that suits them.
//!
//! The design is a **durable outbox** ([`outbox`]): the module that changes something
//! writes the notification row in the same database transaction as the change, so a
//! committed change always has its notice and a rolled-back one never does. Workers
//! ([`worker`]) claim due rows under a lease — `FOR UPDATE SKIP LOCKED` on PostgreSQL,
//! so several notifier processes share the work — render them ([`templates`]) and
//! hand them to a channel ([`channels`]): email over SMTP, SMS through Twilio's REST
//! API, or in-app through the event bus. Transient failures are retried with
//! exponential backoff and jitter ([`retry`]); a channel that keeps failing falls back
//! to the next one the recipient allows. Delivery receipts and opt-outs arrive through
//! [`receipts`]. The exact delivery guarantee is in `docs/notifications.md`.
//!
//! The library does not depend on the hub: the hub embeds it (`hub serve` runs a
//! worker in-process) and the `notifier` binary runs the same worker on its own.

pub mod channels;
pub mod config;
pub mod delivery_error;
pub mod outbox;
pub mod phone;
pub mod quiet_hours;
pub mod receipts;
pub mod recipient;
pub mod requeue;
pub mod retry;
pub mod templates;
#[cfg(any(test, feature = "test-support"))]
pub mod test_support;
pub mod twilio_signature;
pub mod worker;

pub use config::NotifierConfig;
pub use delivery_error::DeliveryError;
pub use outbox::{Category, Delivery, NewNotification};

/// Which SQL engine the outbox lives in; claiming differs between the two.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    /// One writer at a time: a single worker claims, no row locks needed.
    Sqlite,
    /// Row locks with `SKIP LOCKED`: any number of workers share the outbox.
    Postgres,
}

impl Engine {
    /// The engine a database URL points at.
    pub fn of_url(url: &str) -> Option<Self> {
        if url.starts_with("sqlite:") {
            Some(Self::Sqlite)
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Some(Self::Postgres)
        } else {
            None
        }
    }
}

/// Milliseconds since the Unix epoch, from the host's clock (tests pass a manual one).
pub type Now = std::sync::Arc<dyn Fn() -> i64 + Send + Sync>;

/// The wall clock as a [`Now`].
pub fn system_now() -> Now {
    std::sync::Arc::new(|| chrono::Utc::now().timestamp_millis())
}
