//! A provider's leave and holidays as their schedule page shows them: the list
//! of exceptions still ahead, and taking one back. Adding is `add_exception`.
//! Reasons can be medical, so only those who may manage the provider's hours
//! read them (`policy::may_manage_availability`), and each read is audited.

use serde_json::json;

use super::ExceptionView;
use crate::{
    accounts::{Principal, RequestMeta},
    audit::{self, AuditEvent, Outcome},
    clock::rfc3339,
    error::{Error, Result},
    orgs::OrgContext,
    policy,
    state::AppState,
    store::scheduling as store,
};

/// Only those who manage the provider's hours see or change their leave; to anyone
/// else the provider's leave is "not found" (a clinician learns nothing about a
/// colleague's absences, and the route rule stays the answer for everyone else).
fn require_manager(caller: &Principal, ctx: &OrgContext, provider_id: &str) -> Result<()> {
    if policy::may_manage_availability(ctx.role, &caller.user_id, provider_id) {
        Ok(())
    } else {
        Err(Error::NotFound("leave of this provider"))
    }
}

/// The provider's exceptions in the organization that have not ended, soonest first.
pub async fn list_exceptions(
    state: &AppState,
    caller: &Principal,
    ctx: &OrgContext,
    provider_id: &str,
    meta: &RequestMeta,
) -> Result<Vec<ExceptionView>> {
    require_manager(caller, ctx, provider_id)?;
    let now = state.clock.now_ms();
    let mut tx = state.store.begin_write().await?;
    let rows = store::exceptions(&mut tx, &state.keyring, provider_id, &ctx.org_id, now).await?;
    audit::commit_with(
        tx,
        &AuditEvent::new("availability.exceptions.read", Outcome::Success)
            .actor(Some(&caller.user_id), meta.ip.as_deref())
            .org(&ctx.org_id)
            .target("user", provider_id)
            .details(json!({ "count": rows.len() })),
        now,
    )
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| ExceptionView {
            id: r.id,
            starts_at: rfc3339(r.starts_at),
            ends_at: rfc3339(r.ends_at),
            reason: r.reason,
        })
        .collect())
}

/// Takes back one exception: the provider is bookable in that time again.
pub async fn delete_exception(
    state: &AppState,
    caller: &Principal,
    ctx: &OrgContext,
    provider_id: &str,
    exception_id: &str,
    meta: &RequestMeta,
) -> Result<()> {
    require_manager(caller, ctx, provider_id)?;
    let now = state.clock.now_ms();
    let mut tx = state.store.begin_write().await?;
    if !store::delete_exception(&mut tx, exception_id, provider_id, &ctx.org_id).await? {
        return Err(Error::NotFound("exception"));
    }
    audit::commit_with(
        tx,
        &AuditEvent::new("availability.exception.delete", Outcome::Success)
            .actor(Some(&caller.user_id), meta.ip.as_deref())
            .org(&ctx.org_id)
            .target("user", provider_id)
            .details(json!({ "exception_id": exception_id })),
        now,
    )
    .await?;
    Ok(())
}
