//! Platform administration: disabling accounts, the platform admins, and the
//! organizations with their admins (docs/api.md, "Disabling an account",
//! "Platform console").

use axum::{
    extract::{Path, State},
    http::StatusCode,
};

use crate::{
    accounts::{
        self,
        platform_admins::{self, PlatformAdminView},
    },
    error::Result,
    http::{
        error::ErrorBody,
        extract::{AppJson, Auth, Meta},
    },
    orgs::OrgWithAdmins,
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
    crate::revocation::end_account(&state, &user_id).await;
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

#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlatformAdminInput {
    /// The email of an existing account.
    pub email: String,
}

/// The platform admins.
#[utoipa::path(get, path = "/admin/platform-admins", tag = "admin", security(("bearer" = [])),
    responses((status = 200, body = Vec<PlatformAdminView>), (status = 403, body = ErrorBody)))]
pub async fn list_platform_admins(
    State(state): State<AppState>,
) -> Result<axum::Json<Vec<PlatformAdminView>>> {
    Ok(axum::Json(platform_admins::list(&state).await?))
}

/// Make an existing account a platform admin.
#[utoipa::path(post, path = "/admin/platform-admins", tag = "admin", security(("bearer" = [])),
    request_body = PlatformAdminInput,
    responses((status = 200, body = PlatformAdminView), (status = 403, body = ErrorBody),
        (status = 404, description = "`not_found` (no account with this email)", body = ErrorBody),
        (status = 422, description = "`invalid_email`", body = ErrorBody)))]
pub async fn add_platform_admin(
    State(state): State<AppState>,
    Auth(p): Auth,
    Meta(meta): Meta,
    AppJson(input): AppJson<PlatformAdminInput>,
) -> Result<axum::Json<PlatformAdminView>> {
    Ok(axum::Json(
        platform_admins::grant(&state, &p, &input.email, &meta).await?,
    ))
}

/// Take the platform-admin flag away (at least one active platform admin remains).
#[utoipa::path(delete, path = "/admin/platform-admins/{user_id}", tag = "admin", security(("bearer" = [])),
    params(("user_id" = String, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "`last_platform_admin`", body = ErrorBody)))]
pub async fn remove_platform_admin(
    State(state): State<AppState>,
    Auth(p): Auth,
    Meta(meta): Meta,
    Path(user_id): Path<String>,
) -> Result<StatusCode> {
    platform_admins::revoke(&state, &p, &user_id, &meta).await?;
    // A platform-wide live monitor watch ends with the right.
    crate::monitor::rights_changed(&state, &user_id).await;
    Ok(StatusCode::NO_CONTENT)
}

/// Every organization with its admins (the platform console).
#[utoipa::path(get, path = "/admin/organizations", tag = "admin", security(("bearer" = [])),
    responses((status = 200, body = Vec<OrgWithAdmins>), (status = 403, body = ErrorBody)))]
pub async fn organizations(
    State(state): State<AppState>,
) -> Result<axum::Json<Vec<OrgWithAdmins>>> {
    Ok(axum::Json(crate::orgs::orgs_with_admins(&state).await?))
}
