//! `/api/v1/me`: the caller's own account.

use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;

use crate::{
    accounts::profile::{self, ProfileInput},
    clock::rfc3339,
    domain::Role,
    error::{Error, Result},
    http::{
        error::ErrorBody,
        extract::{AppJson, Auth, Meta},
    },
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
    /// E.164, for text-message notices; `null` when none is set.
    pub phone: Option<String>,
    /// IANA zone in which pages and notices show times.
    pub time_zone: String,
    /// Language of the notices (`en`, `es`, `pt`).
    pub locale: String,
    pub memberships: Vec<MembershipView>,
}

/// The signed-in account and its roles per organization.
#[utoipa::path(get, path = "/me", tag = "account", security(("bearer" = [])),
    responses((status = 200, body = MeView), (status = 401, body = ErrorBody)))]
pub async fn me(State(state): State<AppState>, Auth(p): Auth) -> Result<axum::Json<MeView>> {
    view(&state, &p.user_id).await.map(axum::Json)
}

/// Change the caller's name, phone, time zone or language. Every field is
/// optional; `phone: null` removes the number. One bad field changes nothing.
#[utoipa::path(patch, path = "/me", tag = "account", security(("bearer" = [])),
    request_body = ProfileInput,
    responses((status = 200, body = MeView), (status = 401, body = ErrorBody),
        (status = 422, description = "`invalid_display_name`, `invalid_phone`, `invalid_time_zone`, `invalid_locale`", body = ErrorBody)))]
pub async fn patch_me(
    State(state): State<AppState>,
    Auth(p): Auth,
    Meta(meta): Meta,
    AppJson(input): AppJson<ProfileInput>,
) -> Result<axum::Json<MeView>> {
    profile::update(&state, &p.user_id, input, &meta).await?;
    view(&state, &p.user_id).await.map(axum::Json)
}

async fn view(state: &AppState, user_id: &str) -> Result<MeView> {
    let mut conn = state.store.conn().await?;
    let user = users::by_id(&mut conn, user_id)
        .await?
        .ok_or(Error::Unauthenticated)?;
    let memberships = orgs::memberships_of(&mut conn, user_id)
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
    let contact = profile::contact(&mut conn, user_id).await?;
    Ok(MeView {
        platform_admin: user.is_platform_admin(),
        mfa_enabled: user.mfa_enabled(),
        created_at: rfc3339(user.created_at),
        id: user.id,
        email: user.email,
        display_name: user.display_name,
        phone: contact.phone,
        time_zone: contact.time_zone,
        locale: contact.locale,
        memberships,
    })
}
