//! Oversized request heads answer 431 in the error shape.
//!
//! hyper refuses a head beyond its own (larger) limits with a bare 431 and no
//! body; the limits here are lower, so every client that can be answered gets
//! `headers_too_large` with the usual JSON error body.

use axum::{
    extract::{Request, State},
    http::StatusCode,
    middleware::Next,
    response::Response,
};

use super::error::error_response;
use crate::state::AppState;

/// Most header fields a request may carry (hyper's own limit is 200).
pub const MAX_HEADER_FIELDS: usize = 100;

pub async fn limit_headers(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let headers = req.headers();
    // Each field costs its name, its value and ": " plus CRLF on the wire.
    let bytes: usize = req.uri().to_string().len()
        + headers
            .iter()
            .map(|(name, value)| name.as_str().len() + value.len() + 4)
            .sum::<usize>();
    if headers.len() > MAX_HEADER_FIELDS || bytes > state.config.http.max_header_bytes {
        return error_response(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "headers_too_large",
            "request headers are too large",
            None,
        );
    }
    next.run(req).await
}
