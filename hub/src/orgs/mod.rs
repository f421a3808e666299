//! Organizations, the roles their members hold, and invitations.
//!
//! Route-level access was already decided by `policy` before these functions
//! run; the content-dependent rules (which role may be granted, the last admin)
//! are checked here, through `policy` as well.

mod accounts;
mod audit_view;
mod invites;
mod members;

use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;

pub use accounts::{
    AdminView, OrgWithAdmins, disable_member, enable_member, org_admins, orgs_with_admins,
};
pub use audit_view::{AuditEntryView, AuditSearch, search as search_audit};
pub use invites::{
    AcceptInviteInput, AcceptedInvite, CreatedInvite, InviteView, accept_invite, create_invite,
    list_invites, revoke_invite,
};
pub use members::{
    MemberView, MembershipChange, change_role, invite_member, list_members, remove_member,
};

use crate::{
    accounts::{Principal, RequestMeta},
    audit::{self, AuditEvent, Outcome},
    bus::Event,
    clock::rfc3339,
    domain::{OrgName, Role},
    error::{Error, Result},
    state::AppState,
    store::{StoreError, orgs},
};

/// The organization a request addresses and the caller's role in it, attached
/// by the `authorize` middleware on `/orgs/{org_id}/...` routes.
#[derive(Debug, Clone)]
pub struct OrgContext {
    pub org_id: String,
    pub role: Option<Role>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OrgView {
    pub id: String,
    pub name: String,
    pub created_at: String,
    /// The caller's role here; absent for a platform admin who is not a member.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
}

fn view(row: orgs::OrgRow, role: Option<Role>) -> OrgView {
    OrgView {
        id: row.id,
        name: row.name,
        created_at: rfc3339(row.created_at),
        role,
    }
}

pub(crate) fn parse_role(stored: &str) -> Result<Role> {
    stored
        .parse()
        .map_err(|_| Error::internal(anyhow::anyhow!("stored role {stored:?} is unknown")))
}

/// Publishes a change for live surfaces (consoles update without polling). The
/// change is already committed; a lost event only delays a screen's refresh.
pub(crate) async fn publish(
    state: &AppState,
    org_id: &str,
    kind: &str,
    payload: serde_json::Value,
) {
    let event = Event {
        topic: format!("org.{org_id}"),
        kind: kind.to_owned(),
        payload,
    };
    if let Err(e) = state.bus.publish(event).await {
        tracing::warn!(error = %e, kind, "event not published");
    }
}

pub async fn create_org(
    state: &AppState,
    caller: &Principal,
    name: &str,
    meta: &RequestMeta,
) -> Result<OrgView> {
    let name = OrgName::parse(name).map_err(|e| e.for_field("name"))?;
    let id = uuid::Uuid::now_v7().to_string();
    let now = state.clock.now_ms();
    let mut tx = state.store.begin_write().await?;
    match orgs::insert(&mut tx, &id, name.as_str(), Some(&caller.user_id), now).await {
        Ok(()) => {}
        Err(StoreError::UniqueViolation(_)) => {
            return Err(Error::conflict(
                "org_name_taken",
                "an organization with this name exists",
            ));
        }
        Err(e) => return Err(e.into()),
    }
    audit::commit_with(
        tx,
        &AuditEvent::new("org.create", Outcome::Success)
            .actor(Some(&caller.user_id), meta.ip.as_deref())
            .org(&id)
            .target("organization", &id)
            .details(json!({ "name": name.as_str() })),
        now,
    )
    .await?;
    Ok(OrgView {
        id,
        name: name.as_str().to_owned(),
        created_at: rfc3339(now),
        role: None,
    })
}

/// The caller's organizations; every organization for a platform admin.
pub async fn list_orgs(state: &AppState, caller: &Principal) -> Result<Vec<OrgView>> {
    let mut conn = state.store.conn().await?;
    let mine = orgs::memberships_of(&mut conn, &caller.user_id).await?;
    if caller.platform_admin {
        let all = orgs::list_all(&mut conn).await?;
        return all
            .into_iter()
            .map(|o| {
                let role = mine
                    .iter()
                    .find(|m| m.org_id == o.id)
                    .map(|m| parse_role(&m.role))
                    .transpose()?;
                Ok(view(o, role))
            })
            .collect();
    }
    mine.into_iter()
        .map(|m| {
            Ok(OrgView {
                role: Some(parse_role(&m.role)?),
                id: m.org_id,
                name: m.org_name,
                created_at: rfc3339(m.org_created_at),
            })
        })
        .collect()
}

pub async fn get_org(state: &AppState, ctx: &OrgContext) -> Result<OrgView> {
    let mut conn = state.store.conn().await?;
    let row = orgs::by_id(&mut conn, &ctx.org_id)
        .await?
        .ok_or(Error::NotFound("organization"))?;
    Ok(view(row, ctx.role))
}

pub async fn rename_org(
    state: &AppState,
    caller: &Principal,
    ctx: &OrgContext,
    name: &str,
    meta: &RequestMeta,
) -> Result<OrgView> {
    let name = OrgName::parse(name).map_err(|e| e.for_field("name"))?;
    let now = state.clock.now_ms();
    let mut tx = state.store.begin_write().await?;
    let before = orgs::by_id(&mut tx, &ctx.org_id)
        .await?
        .ok_or(Error::NotFound("organization"))?;
    match orgs::rename(&mut tx, &ctx.org_id, name.as_str(), now).await {
        Ok(_) => {}
        Err(StoreError::UniqueViolation(_)) => {
            return Err(Error::conflict(
                "org_name_taken",
                "an organization with this name exists",
            ));
        }
        Err(e) => return Err(e.into()),
    }
    audit::commit_with(
        tx,
        &AuditEvent::new("org.rename", Outcome::Success)
            .actor(Some(&caller.user_id), meta.ip.as_deref())
            .org(&ctx.org_id)
            .target("organization", &ctx.org_id)
            .details(json!({ "from": before.name, "to": name.as_str() })),
        now,
    )
    .await?;
    publish(
        state,
        &ctx.org_id,
        "org.renamed",
        json!({ "name": name.as_str() }),
    )
    .await;
    Ok(OrgView {
        id: before.id,
        name: name.as_str().to_owned(),
        created_at: rfc3339(before.created_at),
        role: ctx.role,
    })
}
