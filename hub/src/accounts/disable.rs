//! Disabling and re-enabling an account.
//!
//! An account spans organizations, so who may disable it depends on where it
//! belongs: a platform admin may disable any account (but their own and the last
//! active platform admin); an organization's admin only an account that belongs
//! to that organization alone and is not a platform admin (otherwise they remove
//! the member instead: `account_beyond_org`). An account a platform admin
//! disabled stays disabled until a platform admin re-enables it
//! (`disabled_by_platform`); one an organization's admin disabled may be
//! re-enabled by that organization's admins or a platform admin.
//!
//! Disabling revokes every session (and with them every refresh token) in the same
//! transaction as the status change and its audit row; the caller then ends the
//! open sockets and live visits on every node (`revocation::end_account`).

use super::{Principal, RequestMeta};
use crate::{
    audit::{self, AuditEvent, Outcome},
    error::{Error, Result},
    state::AppState,
    store::{Conn, orgs, sessions, users},
};

/// On whose authority an account is disabled or enabled.
#[derive(Debug, Clone, Copy)]
pub enum Authority<'a> {
    /// A platform admin (the `/admin/users/...` routes).
    Platform,
    /// An admin of this organization (the `/orgs/{org_id}/members/...` routes).
    Org(&'a str),
}

impl Authority<'_> {
    fn org(self) -> Option<String> {
        match self {
            Authority::Platform => None,
            Authority::Org(org) => Some(org.to_owned()),
        }
    }

    fn event(self, action: &'static str, caller: &Principal, meta: &RequestMeta) -> AuditEvent {
        let event = AuditEvent::new(action, Outcome::Success)
            .actor(Some(&caller.user_id), meta.ip.as_deref());
        match self {
            Authority::Platform => event,
            Authority::Org(org) => event.org(org),
        }
    }
}

/// Disables the account as a platform admin.
pub async fn disable(
    state: &AppState,
    caller: &Principal,
    user_id: &str,
    meta: &RequestMeta,
) -> Result<()> {
    disable_as(state, caller, Authority::Platform, user_id, meta).await
}

/// Re-enables the account as a platform admin.
pub async fn enable(
    state: &AppState,
    caller: &Principal,
    user_id: &str,
    meta: &RequestMeta,
) -> Result<()> {
    enable_as(state, caller, Authority::Platform, user_id, meta).await
}

/// Disables the account; refuses oneself, the last active platform admin, and
/// (for an organization's admin) an account beyond the organization. Disabling
/// an already disabled account succeeds again (and is audited again).
pub async fn disable_as(
    state: &AppState,
    caller: &Principal,
    authority: Authority<'_>,
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
    if let Authority::Org(org) = authority {
        within_org(&mut tx, &user, org).await?;
    }
    if user.is_platform_admin()
        && user.is_active()
        && users::count_active_platform_admins(&mut tx).await? <= 1
    {
        return Err(Error::conflict(
            "last_platform_admin",
            "the last active platform admin cannot be disabled",
        ));
    }
    // Disabling again keeps who disabled it first: an organization's admin must
    // not take over an account a platform admin disabled.
    if user.is_active() {
        users::set_status(&mut tx, user_id, "disabled", now).await?;
        users::set_disabled_by_org(&mut tx, user_id, authority.org().as_deref()).await?;
    }
    let revoked =
        sessions::revoke_all_for_user(&mut tx, user_id, None, "account_disabled", now).await?;
    audit::commit_with(
        tx,
        &authority
            .event("account.disable", caller, meta)
            .target("user", user_id)
            .details(serde_json::json!({ "sessions_revoked": revoked })),
        now,
    )
    .await?;
    Ok(())
}

/// Re-enables the account: the user may sign in again (old sessions stay revoked).
pub async fn enable_as(
    state: &AppState,
    caller: &Principal,
    authority: Authority<'_>,
    user_id: &str,
    meta: &RequestMeta,
) -> Result<()> {
    well_formed(user_id)?;
    let now = state.clock.now_ms();
    let mut tx = state.store.begin_write().await?;
    let user = known(users::by_id(&mut tx, user_id).await?)?;
    if let Authority::Org(org) = authority {
        within_org(&mut tx, &user, org).await?;
        if !user.is_active()
            && users::disabled_by_org(&mut tx, user_id).await?.as_deref() != Some(org)
        {
            return Err(Error::conflict(
                "disabled_by_platform",
                "a platform admin disabled this account; only a platform admin can re-enable it",
            ));
        }
    }
    users::set_status(&mut tx, user_id, "active", now).await?;
    users::set_disabled_by_org(&mut tx, user_id, None).await?;
    audit::commit_with(
        tx,
        &authority
            .event("account.enable", caller, meta)
            .target("user", user_id),
        now,
    )
    .await?;
    Ok(())
}

/// An organization's admin acts only on an account of that organization alone:
/// a member elsewhere (or a platform admin) is beyond their authority.
async fn within_org(conn: &mut Conn, user: &users::UserRow, org_id: &str) -> Result<()> {
    let memberships = orgs::memberships_of(conn, &user.id).await?;
    if !memberships.iter().any(|m| m.org_id == org_id) {
        return Err(Error::NotFound("member"));
    }
    if memberships.len() > 1 || user.is_platform_admin() {
        return Err(Error::conflict(
            "account_beyond_org",
            "this account belongs to other organizations too; remove the member instead, or ask a platform admin",
        ));
    }
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
