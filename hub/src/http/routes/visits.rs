//! `/api/v1/orgs/{org_id}/visits`, `/api/v1/visits/...` and `/api/v1/visit-links/redeem`
//! (docs/visits.md). Visit-level access (host, the patient's account) is decided in
//! `visits` itself: outsiders get `visit_not_found`, participants who are not hosts
//! `not_host`.

use axum::{
    extract::{Path, State},
    http::StatusCode,
};

use crate::{
    error::Result,
    http::{
        error::ErrorBody,
        extract::{AppJson, Auth, Meta, Org, Query},
    },
    state::AppState,
    visits::{
        self, CreateVisitInput, CreatedVisit, InviteInput, Invited, LinkView, RedeemInput,
        Redeemed, VisitListQuery, VisitView,
    },
};

/// Create a visit hosted by the caller, with the patient's link.
#[utoipa::path(post, path = "/orgs/{org_id}/visits", tag = "visits", security(("bearer" = [])),
    params(("org_id" = String, Path)), request_body = CreateVisitInput,
    responses((status = 201, body = CreatedVisit), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_visit(
    State(state): State<AppState>,
    Auth(p): Auth,
    Org(ctx): Org,
    Meta(meta): Meta,
    AppJson(input): AppJson<CreateVisitInput>,
) -> Result<(StatusCode, axum::Json<CreatedVisit>)> {
    let created = visits::create(&state, &p, &ctx, input, &meta).await?;
    Ok((StatusCode::CREATED, axum::Json(created)))
}

/// The caller's visits (hosted or attended), from 12 h ago to 24 h ahead by default.
#[utoipa::path(get, path = "/visits", tag = "visits", security(("bearer" = [])),
    params(VisitListQuery), responses((status = 200, body = Vec<VisitView>), (status = 422, body = ErrorBody)))]
pub async fn list_visits(
    State(state): State<AppState>,
    Auth(p): Auth,
    Meta(meta): Meta,
    Query(query): Query<VisitListQuery>,
) -> Result<axum::Json<Vec<VisitView>>> {
    Ok(axum::Json(
        visits::list_mine(&state, &p, query, &meta).await?,
    ))
}

/// One visit (its hosts and the patient's account).
#[utoipa::path(get, path = "/visits/{visit_id}", tag = "visits", security(("bearer" = [])),
    params(("visit_id" = String, Path)),
    responses((status = 200, body = VisitView), (status = 404, body = ErrorBody)))]
pub async fn get_visit(
    State(state): State<AppState>,
    Auth(p): Auth,
    Meta(meta): Meta,
    Path(visit_id): Path<String>,
) -> Result<axum::Json<VisitView>> {
    Ok(axum::Json(
        visits::get_one(&state, &p, &visit_id, &meta).await?,
    ))
}

/// Invite a guest (an interpreter, a family member); answers the guest's link.
#[utoipa::path(post, path = "/visits/{visit_id}/invites", tag = "visits", security(("bearer" = [])),
    params(("visit_id" = String, Path)), request_body = InviteInput,
    responses((status = 201, body = Invited), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn invite(
    State(state): State<AppState>,
    Auth(p): Auth,
    Meta(meta): Meta,
    Path(visit_id): Path<String>,
    AppJson(input): AppJson<InviteInput>,
) -> Result<(StatusCode, axum::Json<Invited>)> {
    let invited = visits::invite(&state, &p, &visit_id, input, &meta).await?;
    Ok((StatusCode::CREATED, axum::Json(invited)))
}

#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewLinkInput {
    pub participant_id: String,
}

/// A new link for a patient or guest; their earlier links stop working.
#[utoipa::path(post, path = "/visits/{visit_id}/links", tag = "visits", security(("bearer" = [])),
    params(("visit_id" = String, Path)), request_body = NewLinkInput,
    responses((status = 201, body = LinkView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn new_link(
    State(state): State<AppState>,
    Auth(p): Auth,
    Meta(meta): Meta,
    Path(visit_id): Path<String>,
    AppJson(input): AppJson<NewLinkInput>,
) -> Result<(StatusCode, axum::Json<LinkView>)> {
    let link =
        visits::link_for_participant(&state, &p, &visit_id, &input.participant_id, &meta).await?;
    Ok((StatusCode::CREATED, axum::Json(link)))
}

/// Revoke every link of a participant.
#[utoipa::path(delete, path = "/visits/{visit_id}/links/{participant_id}", tag = "visits", security(("bearer" = [])),
    params(("visit_id" = String, Path), ("participant_id" = String, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn revoke_links(
    State(state): State<AppState>,
    Auth(p): Auth,
    Meta(meta): Meta,
    Path(path): Path<(String, String)>,
) -> Result<StatusCode> {
    visits::revoke(&state, &p, &path.0, &path.1, &meta).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Cancel a visit (its hosts).
#[utoipa::path(post, path = "/visits/{visit_id}/cancel", tag = "visits", security(("bearer" = [])),
    params(("visit_id" = String, Path)),
    responses((status = 200, body = VisitView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn cancel_visit(
    State(state): State<AppState>,
    Auth(p): Auth,
    Meta(meta): Meta,
    Path(visit_id): Path<String>,
) -> Result<axum::Json<VisitView>> {
    Ok(axum::Json(
        visits::cancel(&state, &p, &visit_id, &meta).await?,
    ))
}

/// Exchange a visit link's token for a visit pass (no account needed).
#[utoipa::path(post, path = "/visit-links/redeem", tag = "visits", request_body = RedeemInput,
    responses((status = 200, body = Redeemed), (status = 401, description = "`link_invalid`, `link_expired`, `link_revoked`", body = ErrorBody),
        (status = 409, description = "`visit_ended`", body = ErrorBody)))]
pub async fn redeem(
    State(state): State<AppState>,
    Meta(meta): Meta,
    AppJson(input): AppJson<RedeemInput>,
) -> Result<axum::Json<Redeemed>> {
    Ok(axum::Json(visits::redeem(&state, input, &meta).await?))
}
