//! Platform administration of accounts (docs/api.md, "Disabling an account").

use axum::{
    extract::{Path, State},
    http::StatusCode,
};

use crate::{
    accounts,
    error::Result,
    gateway::sessions::{self, Ended},
    http::{
        error::ErrorBody,
        extract::{Auth, Meta},
    },
    state::AppState,
};

/// Disable an account: its sessions end and its open sockets close (4003) at once.
#[utoipa::path(post, path = "/admin/users/{user_id}/disable", tag = "admin", security(("bearer" = [])),
    params(("user_id" = String, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "`cannot_disable_self`, `last_platform_admin`", body = ErrorBody)))]
pub async fn disable_user(
    State(state): State<AppState>,
    Auth(p): Auth,
    Meta(meta): Meta,
    Path(user_id): Path<String>,
) -> Result<StatusCode> {
    accounts::disable(&state, &p, &user_id, &meta).await?;
    // Every node closes the user's sockets now, then the user leaves their live
    // visits (media torn down, the others see them go).
    sessions::announce_ended(&state, &user_id, Ended::All).await;
    crate::visits::end_account(&state, &user_id).await;
    crate::monitor::rights_changed(&state, &user_id).await;
    Ok(StatusCode::NO_CONTENT)
}

/// Re-enable a disabled account: the user may sign in again.
#[utoipa::path(post, path = "/admin/users/{user_id}/enable", tag = "admin", security(("bearer" = [])),
    params(("user_id" = String, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn enable_user(
    State(state): State<AppState>,
    Auth(p): Auth,
    Meta(meta): Meta,
    Path(user_id): Path<String>,
) -> Result<StatusCode> {
    accounts::enable(&state, &p, &user_id, &meta).await?;
    Ok(StatusCode::NO_CONTENT)
}
