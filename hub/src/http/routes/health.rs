//! Probes and metrics, outside `/api/v1` and outside authorization.

use axum::{
    extract::State,
    http::{StatusCode, header},
    response::IntoResponse,
};
use serde_json::json;

use crate::state::AppState;

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

/// Prometheus text exposition format.
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.render(),
    )
}
