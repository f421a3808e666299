//! Probes and metrics, outside `/api/v1` and outside authorization.

use axum::{
    extract::State,
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde_json::json;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::{error::Error, state::AppState};

/// Alive: the process answers. Never touches dependencies, so a database outage
/// does not get healthy processes restarted.
pub async fn healthz() -> impl IntoResponse {
    axum::Json(json!({ "status": "ok" }))
}

/// Ready: the database and the event bus answer. Load balancers route only to
/// ready nodes.
pub async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    let database = state.store.ping().await.is_ok();
    let bus = state.bus.ping().await.is_ok();
    let status = if database && bus {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let check = |ok: bool| if ok { "ok" } else { "unavailable" };
    (
        status,
        axum::Json(json!({
            "status": if status == StatusCode::OK { "ready" } else { "unavailable" },
            "checks": { "database": check(database), "bus": check(bus) },
            "bus": state.bus.name(),
        })),
    )
}

/// Prometheus text exposition format, behind `metrics.token` when one is
/// configured (required outside the loopback default; see `config::metrics`).
pub async fn metrics(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Some(token) = &state.config.metrics.token
        && !bearer_matches(&headers, token.expose())
    {
        return Error::Unauthenticated.into_response();
    }
    crate::monitor::metrics::refresh(&state).await;
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.render(),
    )
        .into_response()
}

/// Compares the presented bearer token with the configured one in constant time.
/// Both are hashed first, so neither the content nor the length of the token
/// leaks through the comparison's timing.
fn bearer_matches(headers: &HeaderMap, expected: &str) -> bool {
    let presented = crate::http::middleware::bearer(headers).unwrap_or("");
    let a = Sha256::digest(presented.as_bytes());
    let b = Sha256::digest(expected.trim().as_bytes());
    !presented.is_empty() && bool::from(a.ct_eq(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, value.parse().unwrap());
        h
    }

    #[test]
    fn only_the_exact_bearer_token_matches() {
        let token = "scrape-token-0123456789";
        assert!(bearer_matches(
            &with("Bearer scrape-token-0123456789"),
            token
        ));
        assert!(bearer_matches(
            &with("bearer scrape-token-0123456789"),
            token
        ));
        assert!(!bearer_matches(
            &with("Bearer scrape-token-012345678"),
            token
        ));
        assert!(!bearer_matches(
            &with("Basic scrape-token-0123456789"),
            token
        ));
        assert!(!bearer_matches(&with("Bearer "), token));
        assert!(!bearer_matches(&HeaderMap::new(), token));
    }
}
