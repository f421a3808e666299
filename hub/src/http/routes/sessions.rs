//! The caller's signed-in sessions: list them, sign one out, sign out
//! everywhere. Ending a session closes its open sockets on every node at once,
//! as logout does.

use axum::{
    extract::{Path, State},
    http::StatusCode,
    response::{IntoResponse, Response},
};

use super::auth::with_cleared_cookie;
use crate::{
    accounts::signed_in::{self, SessionView},
    error::Result,
    gateway::sessions::{self, Ended},
    http::{
        error::ErrorBody,
        extract::{Auth, Meta},
    },
    state::AppState,
};

/// Sign out on every device: every session of the account ends, this one too,
/// their sockets close (4003) and the `hb_refresh` cookie is removed.
#[utoipa::path(post, path = "/auth/logout-everywhere", tag = "auth", security(("bearer" = [])),
    responses((status = 204), (status = 401, body = ErrorBody)))]
pub async fn logout_everywhere(
    State(state): State<AppState>,
    Auth(p): Auth,
    Meta(meta): Meta,
) -> Result<Response> {
    signed_in::sign_out_everywhere(&state, &p.user_id, &meta).await?;
    sessions::announce_ended(&state, &p.user_id, Ended::All).await;
    Ok(with_cleared_cookie(StatusCode::NO_CONTENT.into_response()))
}

/// Where the account is signed in: live sessions, newest first, with the one
/// making the request marked `current`. No token or address is shown.
#[utoipa::path(get, path = "/me/sessions", tag = "account", security(("bearer" = [])),
    responses((status = 200, body = Vec<SessionView>), (status = 401, body = ErrorBody)))]
pub async fn list_sessions(
    State(state): State<AppState>,
    Auth(p): Auth,
) -> Result<axum::Json<Vec<SessionView>>> {
    Ok(axum::Json(
        signed_in::list(&state, &p.user_id, &p.session_id).await?,
    ))
}

/// Sign out one of the caller's sessions (a lost phone, a shared computer). Its
/// tokens stop working and its sockets close. Ending the current session also
/// removes the `hb_refresh` cookie.
#[utoipa::path(delete, path = "/me/sessions/{session_id}", tag = "account", security(("bearer" = [])),
    params(("session_id" = String, Path)),
    responses((status = 204), (status = 401, body = ErrorBody),
        (status = 404, description = "`not_found`: no live session of the caller has this id", body = ErrorBody)))]
pub async fn delete_session(
    State(state): State<AppState>,
    Auth(p): Auth,
    Meta(meta): Meta,
    Path(session_id): Path<String>,
) -> Result<Response> {
    signed_in::sign_out(&state, &p.user_id, &session_id, &meta).await?;
    sessions::announce_ended(&state, &p.user_id, Ended::One(&session_id)).await;
    let done = StatusCode::NO_CONTENT.into_response();
    Ok(if session_id == p.session_id {
        with_cleared_cookie(done)
    } else {
        done
    })
}
