//! `/api/v1/me`: the caller's own account.

use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;

use crate::{
    clock::rfc3339,
    domain::Role,
    error::{Error, Result},
    http::{error::ErrorBody, extract::Auth},
    orgs::parse_role,
    state::AppState,
    store::{orgs, users},
};

#[derive(Debug, Serialize, ToSchema)]
pub struct MembershipView {
    pub org_id: String,
    pub org_name: String,
    pub role: Role,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MeView {
    pub id: String,
    pub email: String,
    pub display_name: String,
    pub platform_admin: bool,
    pub mfa_enabled: bool,
    pub created_at: String,
    pub memberships: Vec<MembershipView>,
}

/// The signed-in account and its roles per organization.
#[utoipa::path(get, path = "/me", tag = "account", security(("bearer" = [])),
    responses((status = 200, body = MeView), (status = 401, body = ErrorBody)))]
pub async fn me(State(state): State<AppState>, Auth(p): Auth) -> Result<axum::Json<MeView>> {
    let mut conn = state.store.conn().await?;
    let user = users::by_id(&mut conn, &p.user_id)
        .await?
        .ok_or(Error::Unauthenticated)?;
    let memberships = orgs::memberships_of(&mut conn, &p.user_id)
        .await?
        .into_iter()
        .map(|m| {
            Ok(MembershipView {
                role: parse_role(&m.role)?,
                org_id: m.org_id,
                org_name: m.org_name,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(axum::Json(MeView {
        platform_admin: user.is_platform_admin(),
        mfa_enabled: user.mfa_enabled(),
        created_at: rfc3339(user.created_at),
        id: user.id,
        email: user.email,
        display_name: user.display_name,
        memberships,
    }))
}
