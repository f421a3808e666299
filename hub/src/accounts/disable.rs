//! Disabling and re-enabling an account (platform admins only: an account spans
//! organizations, so an organization admin removes the member instead).
//!
//! Disabling revokes every session (and with them every refresh token) in the same
//! transaction as the status change and its audit row; the caller then closes the
//! open sockets on every node (`gateway::sessions`), which also ends the user's
//! live visit participation.

use super::{Principal, RequestMeta};
use crate::{
    audit::{self, AuditEvent, Outcome},
    error::{Error, Result},
    state::AppState,
    store::{sessions, users},
};

/// Disables the account; refuses oneself and the last active platform admin.
/// Disabling an already disabled account changes nothing and succeeds.
pub async fn disable(
    state: &AppState,
    caller: &Principal,
    user_id: &str,
    meta: &RequestMeta,
) -> Result<()> {
    well_formed(user_id)?;
    if user_id == caller.user_id {
        return Err(Error::conflict(
            "cannot_disable_self",
            "you cannot disable your own account",
        ));
    }
    let now = state.clock.now_ms();
    let mut tx = state.store.begin_write().await?;
    let user = known(users::by_id(&mut tx, user_id).await?)?;
    if user.is_platform_admin()
        && user.is_active()
        && users::count_active_platform_admins(&mut tx).await? <= 1
    {
        return Err(Error::conflict(
            "last_platform_admin",
            "the last active platform admin cannot be disabled",
        ));
    }
    users::set_status(&mut tx, user_id, "disabled", now).await?;
    let revoked =
        sessions::revoke_all_for_user(&mut tx, user_id, None, "account_disabled", now).await?;
    audit::commit_with(
        tx,
        &AuditEvent::new("account.disable", Outcome::Success)
            .actor(Some(&caller.user_id), meta.ip.as_deref())
            .target("user", user_id)
            .details(serde_json::json!({ "sessions_revoked": revoked })),
        now,
    )
    .await?;
    Ok(())
}

/// Re-enables the account: the user may sign in again (old sessions stay revoked).
pub async fn enable(
    state: &AppState,
    caller: &Principal,
    user_id: &str,
    meta: &RequestMeta,
) -> Result<()> {
    well_formed(user_id)?;
    let now = state.clock.now_ms();
    let mut tx = state.store.begin_write().await?;
    known(users::by_id(&mut tx, user_id).await?)?;
    users::set_status(&mut tx, user_id, "active", now).await?;
    audit::commit_with(
        tx,
        &AuditEvent::new("account.enable", Outcome::Success)
            .actor(Some(&caller.user_id), meta.ip.as_deref())
            .target("user", user_id),
        now,
    )
    .await?;
    Ok(())
}

fn known(user: Option<users::UserRow>) -> Result<users::UserRow> {
    user.ok_or(Error::NotFound("user"))
}

/// A malformed id names no account (and never reaches the database).
fn well_formed(user_id: &str) -> Result<()> {
    uuid::Uuid::parse_str(user_id)
        .map(|_| ())
        .map_err(|_| Error::NotFound("user"))
}
