//! Members of an organization and their roles.

use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;

use super::{InviteView, OrgContext, parse_role, publish};
use crate::{
    accounts::{Principal, RequestMeta},
    audit::{self, AuditEvent, Outcome},
    clock::rfc3339,
    domain::Role,
    error::{Error, Result},
    policy,
    state::AppState,
    store::{Conn, orgs, rooms},
};

#[derive(Debug, Serialize, ToSchema)]
pub struct MemberView {
    pub user_id: String,
    pub email: String,
    pub display_name: String,
    pub role: Role,
    pub since: String,
    /// The account's status: `active`, or `disabled` (it cannot sign in).
    pub status: String,
}

/// The roster. It names patients: who may read it is the route's rule in
/// `policy`, and each read is audited.
pub async fn list_members(
    state: &AppState,
    caller: &Principal,
    ctx: &OrgContext,
    meta: &RequestMeta,
) -> Result<Vec<MemberView>> {
    let now = state.clock.now_ms();
    let mut tx = state.store.begin_write().await?;
    let rows = orgs::members(&mut tx, &ctx.org_id).await?;
    let members = rows
        .into_iter()
        .map(|r| {
            Ok(MemberView {
                role: parse_role(&r.role)?,
                user_id: r.user_id,
                email: r.email,
                display_name: r.display_name,
                since: rfc3339(r.created_at),
                status: r.status,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let patients = members.iter().filter(|m| m.role == Role::Patient).count();
    audit::commit_with(
        tx,
        &AuditEvent::new("org.members.read", Outcome::Success)
            .actor(Some(&caller.user_id), meta.ip.as_deref())
            .org(&ctx.org_id)
            .target("organization", &ctx.org_id)
            .details(json!({ "members": members.len(), "patients": patients })),
        now,
    )
    .await?;
    Ok(members)
}

/// Invites `email` with `role`: nobody becomes a member without accepting.
///
/// The invite is mailed, and its token is not returned: only the mailbox's owner
/// can accept. The answer is the same whether or not the address has an account
/// (or is already a member), so it tells the caller nothing about other
/// organizations' users.
pub async fn invite_member(
    state: &AppState,
    caller: &Principal,
    ctx: &OrgContext,
    email: &str,
    role: Role,
    meta: &RequestMeta,
) -> Result<InviteView> {
    let (invite, _token) = super::invites::issue(state, caller, ctx, email, role, meta).await?;
    Ok(invite)
}

/// A membership that ended or lost rights: what `revocation::enforce` must end
/// everywhere (open sockets, live visits) once the change is committed.
#[derive(Debug, Clone)]
pub struct MembershipChange {
    pub org_id: String,
    pub user_id: String,
    /// The role now held in the organization; `None` after a removal.
    pub role: Option<Role>,
    /// Rooms the user is no longer a member of (their rows were deleted in the
    /// change's transaction).
    pub rooms_left: Vec<String>,
}

/// Refuses to leave an organization without an admin.
async fn ensure_admin_remains(conn: &mut Conn, org_id: &str, current: Role) -> Result<()> {
    if current == Role::Admin && orgs::count_admins(conn, org_id).await? <= 1 {
        return Err(Error::conflict(
            "last_admin",
            "an organization must keep at least one admin",
        ));
    }
    Ok(())
}

pub async fn change_role(
    state: &AppState,
    caller: &Principal,
    ctx: &OrgContext,
    user_id: &str,
    role: Role,
    meta: &RequestMeta,
) -> Result<MembershipChange> {
    if !policy::may_grant_role(ctx.role, caller.platform_admin, role) {
        return Err(Error::Forbidden);
    }
    let now = state.clock.now_ms();
    let mut tx = state.store.begin_write().await?;
    let current = orgs::role_of(&mut tx, &ctx.org_id, user_id)
        .await?
        .ok_or(Error::NotFound("member"))?;
    let current = parse_role(&current)?;
    let change = MembershipChange {
        org_id: ctx.org_id.clone(),
        user_id: user_id.to_owned(),
        role: Some(role),
        rooms_left: Vec::new(),
    };
    if current == role {
        return Ok(change);
    }
    ensure_admin_remains(&mut tx, &ctx.org_id, current).await?;
    orgs::upsert_membership(&mut tx, &ctx.org_id, user_id, role.as_str(), now).await?;
    audit::commit_with(
        tx,
        &AuditEvent::new("membership.role_change", Outcome::Success)
            .actor(Some(&caller.user_id), meta.ip.as_deref())
            .org(&ctx.org_id)
            .target("user", user_id)
            .details(json!({ "from": current.as_str(), "to": role.as_str() })),
        now,
    )
    .await?;
    publish(
        state,
        &ctx.org_id,
        "membership.changed",
        json!({ "user_id": user_id, "role": role }),
    )
    .await;
    Ok(change)
}

pub async fn remove_member(
    state: &AppState,
    caller: &Principal,
    ctx: &OrgContext,
    user_id: &str,
    meta: &RequestMeta,
) -> Result<MembershipChange> {
    let now = state.clock.now_ms();
    let mut tx = state.store.begin_write().await?;
    let current = orgs::role_of(&mut tx, &ctx.org_id, user_id)
        .await?
        .ok_or(Error::NotFound("member"))?;
    let current = parse_role(&current)?;
    ensure_admin_remains(&mut tx, &ctx.org_id, current).await?;
    orgs::remove_membership(&mut tx, &ctx.org_id, user_id).await?;
    // Room memberships that came from this organization go with it (a room of
    // another organization the user still belongs to stays). Checks read the
    // memberships anyway; deleting the rows keeps room rosters true and means a
    // later re-admission does not silently reopen old case rooms.
    let rooms_left = rooms::delete_memberships_without_standing(&mut tx, user_id).await?;
    audit::commit_with(
        tx,
        &AuditEvent::new("membership.remove", Outcome::Success)
            .actor(Some(&caller.user_id), meta.ip.as_deref())
            .org(&ctx.org_id)
            .target("user", user_id)
            .details(json!({ "role": current.as_str(), "rooms_left": rooms_left })),
        now,
    )
    .await?;
    publish(
        state,
        &ctx.org_id,
        "membership.removed",
        json!({ "user_id": user_id }),
    )
    .await;
    Ok(MembershipChange {
        org_id: ctx.org_id.clone(),
        user_id: user_id.to_owned(),
        role: None,
        rooms_left,
    })
}
