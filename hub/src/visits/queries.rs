//! Reading visits over REST: the caller's visits and one visit. Every read shows a
//! patient's name and appointment time, so each is authorized per visit and audited.

use serde::Deserialize;
use serde_json::json;
use utoipa::IntoParams;

use super::{VisitView, from_row};
use crate::{
    accounts::{Principal, RequestMeta},
    audit::{self, AuditEvent, Outcome},
    error::{Error, Result},
    orgs::parse_role,
    policy,
    scheduling::parse_instant,
    state::AppState,
    store::{orgs, visits as store},
};

const HOUR_MS: i64 = 3_600_000;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct VisitListQuery {
    /// RFC 3339; default 12 h ago.
    pub from: Option<String>,
    /// RFC 3339; default 24 h ahead. At most 31 days after `from`.
    pub to: Option<String>,
}

/// Visits the caller hosts or attends with their account.
pub async fn list_mine(
    state: &AppState,
    principal: &Principal,
    query: VisitListQuery,
    meta: &RequestMeta,
) -> Result<Vec<VisitView>> {
    let now = state.clock.now_ms();
    let from = match &query.from {
        Some(s) => parse_instant("from", s)?,
        None => now - 12 * HOUR_MS,
    };
    let to = match &query.to {
        Some(s) => parse_instant("to", s)?,
        None => now + 24 * HOUR_MS,
    };
    if to <= from || to - from > 31 * 24 * HOUR_MS {
        return Err(Error::invalid(
            "to",
            "invalid_range",
            "to must be after from, at most 31 days later",
        ));
    }
    let mut conn = state.store.conn().await?;
    let rows = store::for_user(&mut conn, &principal.user_id, from, to).await?;
    // Only visits whose rights still stand: the role held now in each visit's
    // organization decides, not the role held when the visit was made.
    let roles = orgs::memberships_of(&mut conn, &principal.user_id)
        .await?
        .into_iter()
        .map(|m| Ok((m.org_id, parse_role(&m.role)?)))
        .collect::<Result<std::collections::HashMap<_, _>>>()?;
    let mut views = Vec::with_capacity(rows.len());
    for row in rows {
        let role = roles.get(&row.org_id).copied();
        let loaded = from_row(&mut conn, &state.keyring, row).await?;
        let allowed = loaded
            .participant_of_user(&principal.user_id)
            .is_some_and(|p| {
                policy::may_take_part_in_visit(p.role == signaling::visit::Role::Host, role)
            });
        if allowed {
            views.push(loaded.view(&state.visits.policy));
        }
    }
    drop(conn);
    let tx = state.store.begin_write().await?;
    let event = AuditEvent::new("visit.list", Outcome::Success)
        .actor(Some(&principal.user_id), meta.ip.as_deref())
        .details(json!({ "visits": views.iter().map(|v| &v.id).collect::<Vec<_>>() }));
    audit::commit_with(tx, &event, now).await?;
    Ok(views)
}

/// One visit, for its hosts and the patient's own account.
pub async fn get_one(
    state: &AppState,
    principal: &Principal,
    visit_id: &str,
    meta: &RequestMeta,
) -> Result<VisitView> {
    let loaded = super::get(state, visit_id).await?;
    if super::account_participant(state, &loaded, &principal.user_id)
        .await?
        .is_none()
    {
        return Err(Error::NotFound("visit"));
    }
    let tx = state.store.begin_write().await?;
    let event = AuditEvent::new("visit.read", Outcome::Success)
        .actor(Some(&principal.user_id), meta.ip.as_deref())
        .org(&loaded.row.org_id)
        .target("visit", visit_id)
        .details(json!({ "patient_id": loaded.patient_user() }));
    audit::commit_with(tx, &event, state.clock.now_ms()).await?;
    Ok(loaded.view(&state.visits.policy))
}

/// A host cancels a visit that has not ended.
pub async fn cancel(
    state: &AppState,
    principal: &Principal,
    visit_id: &str,
    meta: &RequestMeta,
) -> Result<VisitView> {
    let before = super::get(state, visit_id).await?;
    let host = super::require_host(state, &before, &principal.user_id).await?;
    let after = super::apply(state, visit_id, |v, now| v.cancel(&host, now)).await?;
    let tx = state.store.begin_write().await?;
    let event = AuditEvent::new("visit.cancel", Outcome::Success)
        .actor(Some(&principal.user_id), meta.ip.as_deref())
        .org(&after.row.org_id)
        .target("visit", visit_id);
    audit::commit_with(tx, &event, state.clock.now_ms()).await?;
    Ok(after.view(&state.visits.policy))
}
