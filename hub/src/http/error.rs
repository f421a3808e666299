//! How application errors become HTTP responses:
//! `{"error": {"code": "snake_case", "message": "...", "field": "..."}}`.
//! Internal causes are logged with the request's span and never sent.

use axum::{
    Json,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::Error;

/// The body of every error response.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable, machine-readable code; clients branch on this.
    #[schema(example = "invalid_credentials")]
    pub code: String,
    /// Human-readable explanation, safe to show to the user.
    pub message: String,
    /// The request field at fault, for validation errors.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

pub fn status_of(error: &Error) -> StatusCode {
    match error {
        Error::Validation(_) | Error::InvalidBody(_) => StatusCode::UNPROCESSABLE_ENTITY,
        Error::MalformedJson(_) | Error::InvalidQuery(_) => StatusCode::BAD_REQUEST,
        Error::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        Error::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        Error::Unauthenticated
        | Error::TokenExpired
        | Error::InvalidCredentials
        | Error::MfaRequired
        | Error::InvalidMfaCode
        | Error::InvalidRefreshToken
        | Error::RefreshTokenReused
        | Error::BadCredential { .. } => StatusCode::UNAUTHORIZED,
        Error::TooManyAttempts { .. } | Error::AccountLocked { .. } => {
            StatusCode::TOO_MANY_REQUESTS
        }
        Error::Forbidden | Error::Denied { .. } => StatusCode::FORBIDDEN,
        Error::NotFound(_) => StatusCode::NOT_FOUND,
        Error::Conflict { .. } => StatusCode::CONFLICT,
        Error::Gone { .. } => StatusCode::GONE,
        Error::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// Builds the JSON error response for a code and message.
pub fn error_response(
    status: StatusCode,
    code: &str,
    message: &str,
    field: Option<&str>,
) -> Response {
    let body = ErrorBody {
        error: ErrorDetail {
            code: code.to_owned(),
            message: message.to_owned(),
            field: field.map(str::to_owned),
        },
    };
    (status, Json(body)).into_response()
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let status = status_of(&self);
        if let Error::Internal(cause) = &self {
            tracing::error!(error = ?cause, "internal error");
        }
        let field = match &self {
            Error::Validation(v) => Some(v.field),
            _ => None,
        };
        let mut response = error_response(status, self.code(), &self.to_string(), field);
        let headers = response.headers_mut();
        match &self {
            Error::TooManyAttempts { retry_after_secs }
            | Error::AccountLocked { retry_after_secs } => {
                if let Ok(v) = HeaderValue::from_str(&retry_after_secs.to_string()) {
                    headers.insert(header::RETRY_AFTER, v);
                }
            }
            _ if status == StatusCode::UNAUTHORIZED => {
                headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            _ => {}
        }
        response
    }
}
