//! `/api/v1/orgs/...` and `/api/v1/invites/accept`.

use axum::{
    extract::{Path, State},
    http::StatusCode,
};
use serde::Deserialize;
use utoipa::ToSchema;

use crate::{
    domain::Role,
    error::Result,
    http::{
        error::ErrorBody,
        extract::{AppJson, Auth, MaybeAuth, Meta, Org},
    },
    orgs::{
        self, AcceptInviteInput, AcceptedInvite, CreatedInvite, InviteView, MemberView, OrgView,
    },
    state::AppState,
};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrgInput {
    #[schema(example = "Riverside Cardiology")]
    pub name: String,
}

/// Create an organization (platform admins).
#[utoipa::path(post, path = "/orgs", tag = "organizations", security(("bearer" = [])),
    request_body = OrgInput,
    responses((status = 201, body = OrgView), (status = 403, body = ErrorBody), (status = 409, description = "`org_name_taken`", body = ErrorBody)))]
pub async fn create_org(
    State(state): State<AppState>,
    Auth(p): Auth,
    Meta(meta): Meta,
    AppJson(input): AppJson<OrgInput>,
) -> Result<(StatusCode, axum::Json<OrgView>)> {
    let org = orgs::create_org(&state, &p, &input.name, &meta).await?;
    Ok((StatusCode::CREATED, axum::Json(org)))
}

/// The caller's organizations (all of them for a platform admin).
#[utoipa::path(get, path = "/orgs", tag = "organizations", security(("bearer" = [])),
    responses((status = 200, body = Vec<OrgView>)))]
pub async fn list_orgs(
    State(state): State<AppState>,
    Auth(p): Auth,
) -> Result<axum::Json<Vec<OrgView>>> {
    Ok(axum::Json(orgs::list_orgs(&state, &p).await?))
}

/// One organization.
#[utoipa::path(get, path = "/orgs/{org_id}", tag = "organizations", security(("bearer" = [])),
    params(("org_id" = String, Path)),
    responses((status = 200, body = OrgView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_org(State(state): State<AppState>, Org(ctx): Org) -> Result<axum::Json<OrgView>> {
    Ok(axum::Json(orgs::get_org(&state, &ctx).await?))
}

/// Rename an organization (its admins).
#[utoipa::path(patch, path = "/orgs/{org_id}", tag = "organizations", security(("bearer" = [])),
    params(("org_id" = String, Path)), request_body = OrgInput,
    responses((status = 200, body = OrgView), (status = 403, body = ErrorBody)))]
pub async fn rename_org(
    State(state): State<AppState>,
    Auth(p): Auth,
    Org(ctx): Org,
    Meta(meta): Meta,
    AppJson(input): AppJson<OrgInput>,
) -> Result<axum::Json<OrgView>> {
    Ok(axum::Json(
        orgs::rename_org(&state, &p, &ctx, &input.name, &meta).await?,
    ))
}

/// The members and their roles (care team; each read is audited).
#[utoipa::path(get, path = "/orgs/{org_id}/members", tag = "organizations", security(("bearer" = [])),
    params(("org_id" = String, Path)),
    responses((status = 200, body = Vec<MemberView>), (status = 403, body = ErrorBody)))]
pub async fn list_members(
    State(state): State<AppState>,
    Auth(p): Auth,
    Org(ctx): Org,
    Meta(meta): Meta,
) -> Result<axum::Json<Vec<MemberView>>> {
    Ok(axum::Json(
        orgs::list_members(&state, &p, &ctx, &meta).await?,
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MemberInput {
    pub email: String,
    pub role: Role,
}

/// Invite someone by email with a role (admins; clinicians may invite patients).
/// Nobody is added without accepting: the invite is mailed and its token is not
/// returned. The answer is the same whether or not the email has an account.
#[utoipa::path(post, path = "/orgs/{org_id}/members", tag = "organizations", security(("bearer" = [])),
    params(("org_id" = String, Path)), request_body = MemberInput,
    responses((status = 202, description = "Invite created and mailed", body = InviteView),
        (status = 403, description = "`forbidden`", body = ErrorBody),
        (status = 404, description = "`not_found` (no such organization)", body = ErrorBody),
        (status = 422, description = "`invalid_email`", body = ErrorBody)))]
pub async fn add_member(
    State(state): State<AppState>,
    Auth(p): Auth,
    Org(ctx): Org,
    Meta(meta): Meta,
    AppJson(input): AppJson<MemberInput>,
) -> Result<(StatusCode, axum::Json<InviteView>)> {
    let invite = orgs::invite_member(&state, &p, &ctx, &input.email, input.role, &meta).await?;
    Ok((StatusCode::ACCEPTED, axum::Json(invite)))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleInput {
    pub role: Role,
}

/// Change a member's role (admins).
#[utoipa::path(put, path = "/orgs/{org_id}/members/{user_id}", tag = "organizations", security(("bearer" = [])),
    params(("org_id" = String, Path), ("user_id" = String, Path)), request_body = RoleInput,
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, description = "`last_admin`", body = ErrorBody)))]
pub async fn change_role(
    State(state): State<AppState>,
    Auth(p): Auth,
    Org(ctx): Org,
    Meta(meta): Meta,
    Path(ids): Path<(String, String)>,
    AppJson(input): AppJson<RoleInput>,
) -> Result<StatusCode> {
    let change = orgs::change_role(&state, &p, &ctx, &ids.1, input.role, &meta).await?;
    crate::revocation::enforce(&state, &change).await;
    Ok(StatusCode::NO_CONTENT)
}

/// Remove a member (admins).
#[utoipa::path(delete, path = "/orgs/{org_id}/members/{user_id}", tag = "organizations", security(("bearer" = [])),
    params(("org_id" = String, Path), ("user_id" = String, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, description = "`last_admin`", body = ErrorBody)))]
pub async fn remove_member(
    State(state): State<AppState>,
    Auth(p): Auth,
    Org(ctx): Org,
    Meta(meta): Meta,
    Path(ids): Path<(String, String)>,
) -> Result<StatusCode> {
    let change = orgs::remove_member(&state, &p, &ctx, &ids.1, &meta).await?;
    crate::revocation::enforce(&state, &change).await;
    Ok(StatusCode::NO_CONTENT)
}

/// Invitations of the organization.
#[utoipa::path(get, path = "/orgs/{org_id}/invites", tag = "invites", security(("bearer" = [])),
    params(("org_id" = String, Path)),
    responses((status = 200, body = Vec<InviteView>), (status = 403, body = ErrorBody)))]
pub async fn list_invites(
    State(state): State<AppState>,
    Org(ctx): Org,
) -> Result<axum::Json<Vec<InviteView>>> {
    Ok(axum::Json(orgs::list_invites(&state, &ctx).await?))
}

/// Invite an email with a role; the invite is mailed, and the one-time link is
/// also returned to hand over another way.
#[utoipa::path(post, path = "/orgs/{org_id}/invites", tag = "invites", security(("bearer" = [])),
    params(("org_id" = String, Path)), request_body = MemberInput,
    responses((status = 201, body = CreatedInvite),
        (status = 403, description = "`forbidden`", body = ErrorBody),
        (status = 404, description = "`not_found` (no such organization)", body = ErrorBody),
        (status = 422, description = "`invalid_email`", body = ErrorBody)))]
pub async fn create_invite(
    State(state): State<AppState>,
    Auth(p): Auth,
    Org(ctx): Org,
    Meta(meta): Meta,
    AppJson(input): AppJson<MemberInput>,
) -> Result<(StatusCode, axum::Json<CreatedInvite>)> {
    let invite = orgs::create_invite(&state, &p, &ctx, &input.email, input.role, &meta).await?;
    Ok((StatusCode::CREATED, axum::Json(invite)))
}

/// Revoke a pending invite.
#[utoipa::path(delete, path = "/orgs/{org_id}/invites/{invite_id}", tag = "invites", security(("bearer" = [])),
    params(("org_id" = String, Path), ("invite_id" = String, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn revoke_invite(
    State(state): State<AppState>,
    Auth(p): Auth,
    Org(ctx): Org,
    Meta(meta): Meta,
    Path(ids): Path<(String, String)>,
) -> Result<StatusCode> {
    orgs::revoke_invite(&state, &p, &ctx, &ids.1, &meta).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Accept an invite: creates the account (with `password` and `display_name`) or,
/// signed in as the invited email, adds the membership.
#[utoipa::path(post, path = "/invites/accept", tag = "invites",
    request_body = AcceptInviteInput,
    responses((status = 200, body = AcceptedInvite), (status = 404, body = ErrorBody),
        (status = 409, description = "`login_required`, `invite_email_mismatch`", body = ErrorBody),
        (status = 410, description = "`invite_expired`, `invite_revoked`, `invite_used`", body = ErrorBody)))]
pub async fn accept_invite(
    State(state): State<AppState>,
    MaybeAuth(p): MaybeAuth,
    Meta(meta): Meta,
    AppJson(input): AppJson<AcceptInviteInput>,
) -> Result<axum::Json<AcceptedInvite>> {
    Ok(axum::Json(
        orgs::accept_invite(&state, p.as_ref(), input, &meta).await?,
    ))
}
