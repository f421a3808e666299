//! An organization admin's console: the audit log viewer and the chain's
//! verdict, disabling and re-enabling members' accounts, the organization's
//! admins, and sending a failed notification again (docs/api.md, "Admin console").

use axum::{
    extract::{Path, State},
    http::StatusCode,
};
use serde::Deserialize;
use serde_json::json;
use utoipa::IntoParams;

use crate::{
    audit::{self, AuditEvent, ChainVerdict, Outcome},
    error::Result,
    http::{
        error::ErrorBody,
        extract::{Auth, Meta, Org, Query},
    },
    notifications,
    orgs::{self, AdminView, AuditEntryView, AuditSearch},
    state::AppState,
};

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// Only rows this account did (a user id).
    pub actor: Option<String>,
    /// Only rows about this patient (a user id): the target, or named in the details.
    pub patient: Option<String>,
    /// An action (`invite.accept`) or a family of them (`invite`).
    pub action: Option<String>,
    /// `success`, `failure` or `denied`.
    pub outcome: Option<String>,
    /// From this time on (RFC 3339, inclusive).
    pub from: Option<String>,
    /// Before this time (RFC 3339, exclusive).
    pub to: Option<String>,
    /// Only rows with a smaller sequence number (the next page: the last `seq` seen).
    pub before: Option<i64>,
    /// At most this many rows (1–200, default 50).
    pub limit: Option<i64>,
}

/// The organization's audit trail, newest first, filtered (its admins). Each
/// search is itself audited (`audit.read`).
#[utoipa::path(get, path = "/orgs/{org_id}/audit", tag = "audit", security(("bearer" = [])),
    params(("org_id" = String, Path), AuditQuery),
    responses((status = 200, body = Vec<AuditEntryView>), (status = 403, body = ErrorBody),
        (status = 422, description = "`invalid_filter`", body = ErrorBody)))]
pub async fn org_audit(
    State(state): State<AppState>,
    Auth(p): Auth,
    Org(ctx): Org,
    Meta(meta): Meta,
    Query(q): Query<AuditQuery>,
) -> Result<axum::Json<Vec<AuditEntryView>>> {
    let search = AuditSearch {
        actor: q.actor,
        patient: q.patient,
        action: q.action,
        outcome: q.outcome,
        from: q.from,
        to: q.to,
        before: q.before,
        limit: q.limit,
    };
    Ok(axum::Json(
        orgs::search_audit(&state, &p, &ctx, search, &meta).await?,
    ))
}

/// Whether the audit chain verifies now (the same check as `hub audit verify`).
#[utoipa::path(get, path = "/orgs/{org_id}/audit/verification", tag = "audit", security(("bearer" = [])),
    params(("org_id" = String, Path)),
    responses((status = 200, body = ChainVerdict), (status = 403, body = ErrorBody)))]
pub async fn audit_verification(
    State(state): State<AppState>,
    Auth(p): Auth,
    Org(ctx): Org,
    Meta(meta): Meta,
) -> Result<axum::Json<ChainVerdict>> {
    let verdict = audit::chain_verdict(&state).await?;
    let now = state.clock.now_ms();
    let tx = state.store.begin_write().await?;
    audit::commit_with(
        tx,
        &AuditEvent::new("audit.verify", Outcome::Success)
            .actor(Some(&p.user_id), meta.ip.as_deref())
            .org(&ctx.org_id)
            .details(json!({ "intact": verdict.intact, "head_seq": verdict.head_seq })),
        now,
    )
    .await?;
    Ok(axum::Json(verdict))
}

/// Disable a member's account (admins): only an account that belongs to this
/// organization alone. Its sessions end and its sockets close (4003) at once.
#[utoipa::path(post, path = "/orgs/{org_id}/members/{user_id}/disable", tag = "organizations", security(("bearer" = [])),
    params(("org_id" = String, Path), ("user_id" = String, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "`cannot_disable_self`, `account_beyond_org`, `last_platform_admin`", body = ErrorBody)))]
pub async fn disable_member(
    State(state): State<AppState>,
    Auth(p): Auth,
    Org(ctx): Org,
    Meta(meta): Meta,
    Path(ids): Path<(String, String)>,
) -> Result<StatusCode> {
    orgs::disable_member(&state, &p, &ctx, &ids.1, &meta).await?;
    crate::revocation::end_account(&state, &ids.1).await;
    Ok(StatusCode::NO_CONTENT)
}

/// Re-enable a member's account this organization's admins disabled.
#[utoipa::path(post, path = "/orgs/{org_id}/members/{user_id}/enable", tag = "organizations", security(("bearer" = [])),
    params(("org_id" = String, Path), ("user_id" = String, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "`account_beyond_org`, `disabled_by_platform`", body = ErrorBody)))]
pub async fn enable_member(
    State(state): State<AppState>,
    Auth(p): Auth,
    Org(ctx): Org,
    Meta(meta): Meta,
    Path(ids): Path<(String, String)>,
) -> Result<StatusCode> {
    orgs::enable_member(&state, &p, &ctx, &ids.1, &meta).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The organization's admins.
#[utoipa::path(get, path = "/orgs/{org_id}/admins", tag = "organizations", security(("bearer" = [])),
    params(("org_id" = String, Path)),
    responses((status = 200, body = Vec<AdminView>), (status = 403, body = ErrorBody)))]
pub async fn org_admins(
    State(state): State<AppState>,
    Org(ctx): Org,
) -> Result<axum::Json<Vec<AdminView>>> {
    Ok(axum::Json(orgs::org_admins(&state, &ctx.org_id).await?))
}

/// Send a failed notification again (admins).
#[utoipa::path(post, path = "/orgs/{org_id}/notifications/{notification_id}/retry", tag = "notifications", security(("bearer" = [])),
    params(("org_id" = String, Path), ("notification_id" = String, Path)),
    responses((status = 202, description = "Queued again"), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "`notification_not_failed`", body = ErrorBody),
        (status = 410, description = "`notification_expired`, `notification_content_gone`", body = ErrorBody)))]
pub async fn retry_notification(
    State(state): State<AppState>,
    Auth(p): Auth,
    Org(ctx): Org,
    Meta(meta): Meta,
    Path(ids): Path<(String, String)>,
) -> Result<StatusCode> {
    notifications::retry::retry(&state, &p, &ctx.org_id, &ids.1, &meta).await?;
    Ok(StatusCode::ACCEPTED)
}
