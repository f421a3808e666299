//! The application error: every failure a client can see, each with a stable
//! snake_case code. The HTTP mapping lives in `http::error`; internal causes are
//! logged there and never sent to the client.

use crate::{domain::ValidationError, store::StoreError};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{}", .0.message)]
    Validation(ValidationError),
    #[error("request body is not valid JSON: {0}")]
    MalformedJson(String),
    #[error("request body does not match the expected shape: {0}")]
    InvalidBody(String),
    /// A query parameter cannot be parsed (400); the message names it, never its value.
    #[error("invalid query string: {0}")]
    InvalidQuery(String),
    #[error("request body must be JSON (Content-Type: application/json)")]
    UnsupportedMediaType,
    #[error("request body is too large")]
    PayloadTooLarge,
    #[error("authentication required")]
    Unauthenticated,
    #[error("access token has expired; refresh it")]
    TokenExpired,
    #[error("invalid email or password")]
    InvalidCredentials,
    #[error("this account requires a one-time code (totp_code or recovery_code)")]
    MfaRequired,
    #[error("invalid one-time code")]
    InvalidMfaCode,
    #[error("too many failed attempts; retry later")]
    TooManyAttempts { retry_after_secs: u64 },
    #[error("account temporarily locked after repeated failed logins")]
    AccountLocked { retry_after_secs: u64 },
    #[error("invalid or expired refresh token")]
    InvalidRefreshToken,
    #[error("refresh token was already used; the session has been revoked")]
    RefreshTokenReused,
    #[error("you are not allowed to do this")]
    Forbidden,
    #[error("{0} not found")]
    NotFound(&'static str),
    /// Refused for who the caller is in this resource (403), with its own code
    /// (a patient trying to admit: `not_host`).
    #[error("{message}")]
    Denied { code: &'static str, message: String },
    /// A presented credential other than a session token (a visit link or pass) is
    /// not valid (401), with its own code (`link_expired`, `link_revoked`, ...).
    #[error("{message}")]
    BadCredential { code: &'static str, message: String },
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    #[error("{message}")]
    Gone { code: &'static str, message: String },
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl Error {
    /// The stable code clients branch on. Never change an existing one.
    pub fn code(&self) -> &'static str {
        match self {
            Error::Validation(v) => v.code,
            Error::MalformedJson(_) => "malformed_json",
            Error::InvalidBody(_) => "invalid_body",
            Error::InvalidQuery(_) => "invalid_query",
            Error::UnsupportedMediaType => "unsupported_media_type",
            Error::PayloadTooLarge => "payload_too_large",
            Error::Unauthenticated => "unauthenticated",
            Error::TokenExpired => "token_expired",
            Error::InvalidCredentials => "invalid_credentials",
            Error::MfaRequired => "mfa_required",
            Error::InvalidMfaCode => "invalid_mfa_code",
            Error::TooManyAttempts { .. } => "too_many_attempts",
            Error::AccountLocked { .. } => "account_locked",
            Error::InvalidRefreshToken => "invalid_refresh_token",
            Error::RefreshTokenReused => "refresh_token_reused",
            Error::Forbidden => "forbidden",
            Error::NotFound("visit") => "visit_not_found",
            Error::NotFound(_) => "not_found",
            Error::Conflict { code, .. }
            | Error::Gone { code, .. }
            | Error::Denied { code, .. }
            | Error::BadCredential { code, .. } => code,
            Error::Internal(_) => "internal_error",
        }
    }

    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Error::Conflict {
            code,
            message: message.into(),
        }
    }

    /// A field-level validation failure (422) with its stable code.
    pub fn invalid(field: &'static str, code: &'static str, message: impl Into<String>) -> Self {
        Error::Validation(ValidationError::new(field, code, message))
    }

    pub fn internal(e: impl Into<anyhow::Error>) -> Self {
        Error::Internal(e.into())
    }
}

impl From<ValidationError> for Error {
    fn from(v: ValidationError) -> Self {
        Error::Validation(v)
    }
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        Error::Internal(e.into())
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
