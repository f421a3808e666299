//! What an organization's admin does to its members' accounts (disable,
//! re-enable) and who its admins are.
//!
//! The rules of who may disable whom live in `accounts::disable`; this module
//! only says "on this organization's authority".

use serde::Serialize;
use utoipa::ToSchema;

use super::OrgContext;
use crate::{
    accounts::{self, Authority, Principal, RequestMeta},
    error::Result,
    state::AppState,
    store::orgs,
};

/// Disables a member's account on the organization's authority. The caller
/// then ends the account's sockets and visits (`revocation::end_account`).
pub async fn disable_member(
    state: &AppState,
    caller: &Principal,
    ctx: &OrgContext,
    user_id: &str,
    meta: &RequestMeta,
) -> Result<()> {
    accounts::disable_as(state, caller, authority(caller, ctx), user_id, meta).await
}

/// Re-enables a member's account the organization's admins disabled.
pub async fn enable_member(
    state: &AppState,
    caller: &Principal,
    ctx: &OrgContext,
    user_id: &str,
    meta: &RequestMeta,
) -> Result<()> {
    accounts::enable_as(state, caller, authority(caller, ctx), user_id, meta).await
}

/// A platform admin acting through an organization's page keeps their own,
/// wider authority; anyone else acts as that organization's admin.
fn authority<'a>(caller: &Principal, ctx: &'a OrgContext) -> Authority<'a> {
    if caller.platform_admin {
        Authority::Platform
    } else {
        Authority::Org(&ctx.org_id)
    }
}

/// An organization's admin, as its peers and the platform console see them.
#[derive(Debug, Serialize, ToSchema)]
pub struct AdminView {
    pub user_id: String,
    pub display_name: String,
    pub email: String,
    /// `active` or `disabled`.
    pub status: String,
}

/// The organization's admins (no patient is among them, so no audit row).
pub async fn org_admins(state: &AppState, org_id: &str) -> Result<Vec<AdminView>> {
    let mut conn = state.store.conn().await?;
    Ok(orgs::admins(&mut conn, org_id)
        .await?
        .into_iter()
        .map(|m| AdminView {
            user_id: m.user_id,
            display_name: m.display_name,
            email: m.email,
            status: m.status,
        })
        .collect())
}

/// An organization as the platform console lists it: who administers it.
#[derive(Debug, Serialize, ToSchema)]
pub struct OrgWithAdmins {
    pub id: String,
    pub name: String,
    pub created_at: String,
    pub admins: Vec<AdminView>,
}

/// Every organization with its admins (platform admins). Names and emails of
/// admins only: no member list, no patient.
pub async fn orgs_with_admins(state: &AppState) -> Result<Vec<OrgWithAdmins>> {
    let mut conn = state.store.conn().await?;
    let all = orgs::list_all(&mut conn).await?;
    drop(conn);
    let mut out = Vec::with_capacity(all.len());
    for org in all {
        let admins = org_admins(state, &org.id).await?;
        out.push(OrgWithAdmins {
            created_at: crate::clock::rfc3339(org.created_at),
            id: org.id,
            name: org.name,
            admins,
        });
    }
    Ok(out)
}
