//! The audit log as an organization's admins read it: its rows searched by
//! actor, patient, action, outcome and time, with the people named, and whether
//! the chain verifies.
//!
//! Rows name patients (as ids, which the viewer turns into names), so every
//! search is itself audited (`audit.read`), with the filters used.

use std::collections::HashSet;

use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;

use super::OrgContext;
use crate::{
    accounts::{Principal, RequestMeta},
    audit::{self, AuditEvent, Outcome},
    clock::rfc3339,
    error::{Error, Result},
    state::AppState,
    store::audit_search::{self, AuditFilter},
};

/// One audit row as shown to an organization's admins.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEntryView {
    pub seq: i64,
    pub at: String,
    pub action: String,
    pub outcome: String,
    pub actor_id: Option<String>,
    /// The actor's display name, when the actor is an account.
    pub actor_name: Option<String>,
    pub actor_ip: Option<String>,
    pub target_type: Option<String>,
    pub target_id: Option<String>,
    /// The patient the row is about (its `patient_id` detail), if any.
    pub patient_id: Option<String>,
    pub patient_name: Option<String>,
    /// The target's display name when the target is an account.
    pub target_name: Option<String>,
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
}

/// What the viewer asks for, as the route received it (text, not yet checked).
#[derive(Debug, Default)]
pub struct AuditSearch {
    pub actor: Option<String>,
    pub patient: Option<String>,
    pub action: Option<String>,
    pub outcome: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    pub before: Option<i64>,
    pub limit: Option<i64>,
}

/// An account id filter: a UUID, or the filter names nobody.
fn user_id(field: &'static str, value: Option<&str>) -> Result<Option<String>> {
    value
        .filter(|v| !v.is_empty())
        .map(|v| {
            uuid::Uuid::parse_str(v)
                .map(|u| u.to_string())
                .map_err(|_| Error::invalid(field, "invalid_filter", "not an account id"))
        })
        .transpose()
}

fn time(field: &'static str, value: Option<&str>) -> Result<Option<i64>> {
    value
        .filter(|v| !v.is_empty())
        .map(|v| {
            chrono::DateTime::parse_from_rfc3339(v)
                .map(|t| t.timestamp_millis())
                .map_err(|_| Error::invalid(field, "invalid_filter", "not an RFC 3339 time"))
        })
        .transpose()
}

/// Action names are lowercase words joined by `.` and `_` (`membership.role_change`).
fn action(value: Option<&str>) -> Result<Option<String>> {
    value
        .filter(|v| !v.is_empty())
        .map(|v| {
            let ok = v.len() <= 64
                && v.chars()
                    .all(|c| c.is_ascii_lowercase() || c == '.' || c == '_');
            if ok {
                Ok(v.to_owned())
            } else {
                Err(Error::invalid(
                    "action",
                    "invalid_filter",
                    "not an action name",
                ))
            }
        })
        .transpose()
}

fn outcome(value: Option<&str>) -> Result<Option<&'static str>> {
    match value.filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v) => [Outcome::Success, Outcome::Failure, Outcome::Denied]
            .into_iter()
            .map(Outcome::as_str)
            .find(|o| *o == v)
            .map(Some)
            .ok_or_else(|| Error::invalid("outcome", "invalid_filter", "unknown outcome")),
    }
}

/// The patient a row is about: named in its details, as most clinical rows do.
fn patient_of(details: &serde_json::Value) -> Option<String> {
    details
        .get("patient_id")
        .and_then(|p| p.as_str())
        .map(str::to_owned)
}

/// Searches the organization's rows, newest first; audited.
pub async fn search(
    state: &AppState,
    caller: &Principal,
    ctx: &OrgContext,
    q: AuditSearch,
    meta: &RequestMeta,
) -> Result<Vec<AuditEntryView>> {
    let actor = user_id("actor", q.actor.as_deref())?;
    let patient = user_id("patient", q.patient.as_deref())?;
    let action = action(q.action.as_deref())?;
    let outcome = outcome(q.outcome.as_deref())?;
    let from_ms = time("from", q.from.as_deref())?;
    let to_ms = time("to", q.to.as_deref())?;
    let filter = AuditFilter {
        org_id: &ctx.org_id,
        actor_id: actor.as_deref(),
        patient_id: patient.as_deref(),
        action: action.as_deref(),
        outcome,
        from_ms,
        to_ms,
        before_seq: q.before.unwrap_or(i64::MAX),
        limit: q.limit.unwrap_or(50).clamp(1, 200),
    };
    let now = state.clock.now_ms();
    let mut tx = state.store.begin_write().await?;
    let rows = audit_search::search(&mut tx, &filter).await?;
    let entries: Vec<_> = rows
        .into_iter()
        .map(|r| {
            let details: serde_json::Value = serde_json::from_str(&r.details).unwrap_or_default();
            (r, details)
        })
        .collect();
    let mut people: HashSet<String> = HashSet::new();
    for (r, details) in &entries {
        people.extend(r.actor_id.clone());
        people.extend(patient_of(details));
        if r.target_type.as_deref() == Some("user") {
            people.extend(r.target_id.clone());
        }
    }
    let people: Vec<String> = people.into_iter().collect();
    let names = audit_search::display_names(&mut tx, &people).await?;
    let name = |id: &Option<String>| id.as_ref().and_then(|i| names.get(i).cloned());
    audit::commit_with(
        tx,
        &AuditEvent::new("audit.read", Outcome::Success)
            .actor(Some(&caller.user_id), meta.ip.as_deref())
            .org(&ctx.org_id)
            .target("organization", &ctx.org_id)
            .details(json!({
                "rows": entries.len(),
                "actor_id": actor,
                "patient_id": patient,
                "action": action,
                "outcome": outcome,
                "before": q.before,
            })),
        now,
    )
    .await?;
    Ok(entries
        .into_iter()
        .map(|(r, details)| {
            let patient_id = patient_of(&details);
            let target_name = if r.target_type.as_deref() == Some("user") {
                name(&r.target_id)
            } else {
                None
            };
            AuditEntryView {
                seq: r.seq,
                at: rfc3339(r.at),
                action: r.action,
                outcome: r.outcome,
                actor_name: name(&r.actor_id),
                actor_id: r.actor_id,
                actor_ip: r.actor_ip,
                target_name,
                target_type: r.target_type,
                target_id: r.target_id,
                patient_name: name(&patient_id),
                patient_id,
                details,
            }
        })
        .collect())
}
