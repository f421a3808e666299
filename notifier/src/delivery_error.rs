//! The one question every channel answers when a hand-off fails.

/// Why a hand-off to a provider failed, and whether trying again can help.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeliveryError {
    /// Network trouble, timeouts, 429, 5xx: retry later with backoff.
    #[error("transient: {0}")]
    Transient(String),
    /// The provider refused this message for good (bad number, opted out, auth): do not retry this channel.
    #[error("permanent: {0}")]
    Permanent(String),
}
