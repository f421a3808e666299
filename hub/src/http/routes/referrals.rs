//! Referrals of a case to another organization: the referring side under
//! `/rooms/{room_id}/referrals`, the receiving side under `/orgs/{org_id}/referrals`.

use axum::{
    extract::{Path, State},
    http::StatusCode,
};
use serde::Deserialize;
use utoipa::ToSchema;

use crate::{
    error::Result,
    http::{
        error::ErrorBody,
        extract::{AppJson, Auth, Meta, Org, Query, Room},
    },
    rooms::referrals::{
        self, AcceptInput, IncomingQuery, ReferralList, ReferralTargets, ReferralView,
    },
    state::AppState,
};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReferralInput {
    /// The organization the case is referred to (from `GET /orgs/{org_id}/referral-targets`).
    /// People are never named: the receiving organization chooses who joins.
    pub org_id: String,
}

/// Refer the case to another organization: a pending referral it accepts or declines.
#[utoipa::path(post, path = "/rooms/{room_id}/referrals", tag = "referrals", security(("bearer" = [])),
    params(("room_id" = String, Path)), request_body = ReferralInput,
    responses((status = 201, body = ReferralView), (status = 403, body = ErrorBody),
        (status = 404, description = "`not_found`: no such organization", body = ErrorBody),
        (status = 409, description = "`already_referred`, `not_a_case`, `own_organization`", body = ErrorBody)))]
pub async fn refer(
    State(state): State<AppState>,
    Auth(p): Auth,
    Room(ctx): Room,
    Meta(meta): Meta,
    AppJson(input): AppJson<ReferralInput>,
) -> Result<(StatusCode, axum::Json<ReferralView>)> {
    let referral = referrals::create(&state, &p, &ctx, &input.org_id, &meta).await?;
    Ok((StatusCode::CREATED, axum::Json(referral)))
}

/// The room's referrals, every state, newest first (the referring care team).
#[utoipa::path(get, path = "/rooms/{room_id}/referrals", tag = "referrals", security(("bearer" = [])),
    params(("room_id" = String, Path)),
    responses((status = 200, body = ReferralList), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn room_referrals(
    State(state): State<AppState>,
    Auth(p): Auth,
    Room(ctx): Room,
) -> Result<axum::Json<ReferralList>> {
    Ok(axum::Json(referrals::for_room(&state, &p, &ctx).await?))
}

/// Withdraw a pending or accepted referral; the other organization's people lose
/// the room at once.
#[utoipa::path(delete, path = "/rooms/{room_id}/referrals/{referral_id}", tag = "referrals", security(("bearer" = [])),
    params(("room_id" = String, Path), ("referral_id" = String, Path)),
    responses((status = 200, body = ReferralView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "`referral_closed`", body = ErrorBody)))]
pub async fn withdraw(
    State(state): State<AppState>,
    Auth(p): Auth,
    Room(ctx): Room,
    Meta(meta): Meta,
    Path(path): Path<(String, String)>,
) -> Result<axum::Json<ReferralView>> {
    Ok(axum::Json(
        referrals::withdraw(&state, &p, &ctx, &path.1, &meta).await?,
    ))
}

/// Referrals sent to the organization, newest first (its clinicians and admins;
/// the read is audited).
#[utoipa::path(get, path = "/orgs/{org_id}/referrals", tag = "referrals", security(("bearer" = [])),
    params(("org_id" = String, Path), IncomingQuery),
    responses((status = 200, body = ReferralList), (status = 400, description = "`invalid_query`", body = ErrorBody),
        (status = 403, body = ErrorBody)))]
pub async fn incoming(
    State(state): State<AppState>,
    Auth(p): Auth,
    Org(ctx): Org,
    Meta(meta): Meta,
    Query(query): Query<IncomingQuery>,
) -> Result<axum::Json<ReferralList>> {
    Ok(axum::Json(
        referrals::incoming(&state, &p, &ctx, query, &meta).await?,
    ))
}

/// Accept a referral and choose who of the organization's care team joins.
#[utoipa::path(post, path = "/orgs/{org_id}/referrals/{referral_id}/accept", tag = "referrals", security(("bearer" = [])),
    params(("org_id" = String, Path), ("referral_id" = String, Path)), request_body = AcceptInput,
    responses((status = 200, body = ReferralView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "`referral_closed`", body = ErrorBody),
        (status = 422, description = "`invalid_member_ids`, `not_a_clinician`", body = ErrorBody)))]
pub async fn accept(
    State(state): State<AppState>,
    Auth(p): Auth,
    Org(ctx): Org,
    Meta(meta): Meta,
    Path(path): Path<(String, String)>,
    AppJson(input): AppJson<AcceptInput>,
) -> Result<axum::Json<ReferralView>> {
    Ok(axum::Json(
        referrals::accept(&state, &p, &ctx, &path.1, input, &meta).await?,
    ))
}

/// Decline a pending referral, or leave a case accepted earlier.
#[utoipa::path(post, path = "/orgs/{org_id}/referrals/{referral_id}/decline", tag = "referrals", security(("bearer" = [])),
    params(("org_id" = String, Path), ("referral_id" = String, Path)),
    responses((status = 200, body = ReferralView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "`referral_closed`", body = ErrorBody)))]
pub async fn decline(
    State(state): State<AppState>,
    Auth(p): Auth,
    Org(ctx): Org,
    Meta(meta): Meta,
    Path(path): Path<(String, String)>,
) -> Result<axum::Json<ReferralView>> {
    Ok(axum::Json(
        referrals::decline(&state, &p, &ctx, &path.1, &meta).await?,
    ))
}

/// Organizations a case may be referred to: every other one, names only.
#[utoipa::path(get, path = "/orgs/{org_id}/referral-targets", tag = "referrals", security(("bearer" = [])),
    params(("org_id" = String, Path)),
    responses((status = 200, body = ReferralTargets), (status = 403, body = ErrorBody)))]
pub async fn targets(
    State(state): State<AppState>,
    Org(ctx): Org,
) -> Result<axum::Json<ReferralTargets>> {
    Ok(axum::Json(referrals::targets(&state, &ctx).await?))
}
