//! Referral of a case to another organization, which that organization answers.
//!
//! The referring side names an organization, never people: the referral waits
//! (`pending`) and gives the receiving organization nothing until one of its
//! clinicians or admins accepts it and chooses which of their own care team join.
//! Only then is the organization written to `room_orgs`, from which every room
//! right is derived (`store::rooms::HAS_STANDING`). Withdrawing an accepted
//! referral, or the receiving side declining it later, deletes that row again, so
//! its people's rights end at once; their sockets are told over the bus, on every
//! node, through the same announcement as a member's removal.
//!
//! Each step is audited in both organizations, and the care teams on both sides
//! get a `referral.changed` user event live (docs/protocol.md).

mod notice;
mod receiving;

use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;

pub use notice::CHANGED;
use notice::{announce, audit_both};
pub use receiving::{AcceptInput, IncomingQuery, accept, decline, incoming};

use super::{RoomContext, announce_removal};
use crate::{
    accounts::{Principal, RequestMeta},
    audit::{self, AuditEvent, Outcome},
    clock::rfc3339,
    domain::Role,
    error::{Error, Result},
    notifications,
    orgs::{OrgContext, parse_role},
    policy,
    state::AppState,
    store::{Conn, orgs, referrals as rows},
};

/// Most people an acceptance may bring into the room at once.
pub(super) const MAX_JOINERS: usize = 20;

#[derive(Debug, Serialize, ToSchema)]
pub struct ReferralView {
    pub id: String,
    pub room_id: String,
    /// The case room's title, so the receiving side knows what it is asked to take.
    pub room_title: String,
    pub from_org_id: String,
    pub from_org_name: String,
    pub to_org_id: String,
    pub to_org_name: String,
    /// `pending`, `accepted`, `declined` or `withdrawn`.
    pub status: String,
    pub referred_by: String,
    pub referred_by_name: String,
    pub created_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decided_at: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReferralList {
    pub referrals: Vec<ReferralView>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReferralTarget {
    pub id: String,
    pub name: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReferralTargets {
    pub orgs: Vec<ReferralTarget>,
}

pub(super) fn view(r: rows::ReferralRow) -> ReferralView {
    ReferralView {
        id: r.id,
        room_id: r.room_id,
        room_title: r.room_title,
        from_org_id: r.from_org_id,
        from_org_name: r.from_org_name,
        to_org_id: r.to_org_id,
        to_org_name: r.to_org_name,
        status: r.status,
        referred_by: r.created_by,
        referred_by_name: r.created_by_name,
        created_at: rfc3339(r.created_at),
        decided_at: r.decided_at.map(rfc3339),
    }
}

pub(super) async fn role_in(conn: &mut Conn, org_id: &str, user_id: &str) -> Result<Option<Role>> {
    orgs::role_of(conn, org_id, user_id)
        .await?
        .map(|r| parse_role(&r))
        .transpose()
}

/// The caller may act for the referring side of this room: a care-team member of
/// the room who is a clinician or admin of the organization that owns it.
async fn require_referrer(conn: &mut Conn, caller: &Principal, ctx: &RoomContext) -> Result<()> {
    let owner_role = role_in(conn, &ctx.room.org_id, &caller.user_id).await?;
    if policy::may_refer_room(&ctx.standing, owner_role) {
        Ok(())
    } else {
        Err(Error::Forbidden)
    }
}

pub(super) fn closed() -> Error {
    Error::conflict(
        "referral_closed",
        "this referral was already answered or withdrawn",
    )
}

/// Refers the case to `to_org_id`: a pending referral, announced to that
/// organization's care team (an in-app notice to its admins, a live event to its
/// clinicians and admins) and audited on both sides.
pub async fn create(
    state: &AppState,
    caller: &Principal,
    ctx: &RoomContext,
    to_org_id: &str,
    meta: &RequestMeta,
) -> Result<ReferralView> {
    let room = &ctx.room;
    let now = state.clock.now_ms();
    let mut tx = state.store.begin_write().await?;
    require_referrer(&mut tx, caller, ctx).await?;
    if room.kind != "case" {
        return Err(Error::conflict(
            "not_a_case",
            "only case rooms can be referred to another organization",
        ));
    }
    if uuid::Uuid::parse_str(to_org_id).is_err() || orgs::by_id(&mut tx, to_org_id).await?.is_none()
    {
        return Err(Error::NotFound("organization"));
    }
    if to_org_id == room.org_id {
        return Err(Error::conflict(
            "own_organization",
            "a case cannot be referred to the organization that owns it",
        ));
    }
    let id = uuid::Uuid::now_v7().to_string();
    let inserted = rows::insert(
        &mut tx,
        &id,
        &room.id,
        &room.org_id,
        to_org_id,
        &caller.user_id,
        now,
    )
    .await?;
    if !inserted {
        return Err(Error::conflict(
            "already_referred",
            "this case already has an open referral to that organization",
        ));
    }
    notifications::referrals::queue(&mut tx, &id, &room.org_id, to_org_id, now).await?;
    let details = json!({ "referral_id": id, "from_org_id": room.org_id, "to_org_id": to_org_id,
        "patient_id": room.patient_id });
    audit::append(
        &mut tx,
        &AuditEvent::new("room.referral_received", Outcome::Success)
            .actor(Some(&caller.user_id), meta.ip.as_deref())
            .org(to_org_id)
            .target("room", &room.id)
            .details(details.clone()),
        now,
    )
    .await?;
    audit::commit_with(
        tx,
        &AuditEvent::new("room.refer", Outcome::Success)
            .actor(Some(&caller.user_id), meta.ip.as_deref())
            .org(&room.org_id)
            .target("room", &room.id)
            .details(details),
        now,
    )
    .await?;
    state.notifications.wake();
    let referral = load(state, &id).await?;
    announce(state, &referral).await;
    Ok(view(referral))
}

/// The room's referrals, for its referring care team.
pub async fn for_room(
    state: &AppState,
    caller: &Principal,
    ctx: &RoomContext,
) -> Result<ReferralList> {
    let mut conn = state.store.conn().await?;
    require_referrer(&mut conn, caller, ctx).await?;
    let referrals = rows::for_room(&mut conn, &state.keyring, &ctx.room.id).await?;
    Ok(ReferralList {
        referrals: referrals.into_iter().map(view).collect(),
    })
}

/// Every other organization, by name: where the caller's organization may refer
/// a case. Names only; who belongs where is not shown.
pub async fn targets(state: &AppState, ctx: &OrgContext) -> Result<ReferralTargets> {
    let mut conn = state.store.conn().await?;
    let orgs = rows::targets(&mut conn, &ctx.org_id).await?;
    Ok(ReferralTargets {
        orgs: orgs
            .into_iter()
            .map(|o| ReferralTarget {
                id: o.id,
                name: o.name,
            })
            .collect(),
    })
}

/// The referring side takes a referral back, pending or accepted.
pub async fn withdraw(
    state: &AppState,
    caller: &Principal,
    ctx: &RoomContext,
    referral_id: &str,
    meta: &RequestMeta,
) -> Result<ReferralView> {
    let mut conn = state.store.conn().await?;
    require_referrer(&mut conn, caller, ctx).await?;
    let referral = match uuid::Uuid::parse_str(referral_id) {
        Ok(_) => rows::by_id(&mut conn, &state.keyring, referral_id).await?,
        Err(_) => None,
    }
    .filter(|r| r.room_id == ctx.room.id)
    .ok_or(Error::NotFound("referral"))?;
    drop(conn);
    close(state, caller, referral, "withdrawn", meta).await
}

/// Ends an open referral with `status`. If it had been accepted, the receiving
/// organization leaves the room and its people's memberships there are deleted;
/// their sockets on every node stop receiving the room.
pub(super) async fn close(
    state: &AppState,
    caller: &Principal,
    referral: rows::ReferralRow,
    status: &str,
    meta: &RequestMeta,
) -> Result<ReferralView> {
    let now = state.clock.now_ms();
    let mut tx = state.store.begin_write().await?;
    let was = referral.status.as_str();
    let open = matches!(was, "pending" | "accepted");
    if !open || !rows::transition(&mut tx, &referral.id, was, status, &caller.user_id, now).await? {
        return Err(closed());
    }
    let mut removed = Vec::new();
    if was == "accepted" {
        rows::delete_room_org(&mut tx, &referral.room_id, &referral.to_org_id).await?;
        removed = rows::delete_members_without_standing(&mut tx, &referral.room_id).await?;
    }
    let action = if status == "withdrawn" {
        "room.referral.withdraw"
    } else {
        "room.referral.decline"
    };
    let details = json!({ "referral_id": referral.id, "from_org_id": referral.from_org_id,
        "to_org_id": referral.to_org_id, "was": was, "removed": removed,
        "patient_id": referral.patient_id });
    audit_both(&mut tx, action, caller, &referral, details, meta, now).await?;
    tx.commit().await.map_err(crate::store::StoreError::from)?;
    for user in &removed {
        announce_removal(state, &referral.room_id, user).await;
        super::activity::room_removed(state, &referral.room_id, user).await;
    }
    let referral = load(state, &referral.id).await?;
    announce(state, &referral).await;
    Ok(view(referral))
}

pub(super) async fn load(state: &AppState, id: &str) -> Result<rows::ReferralRow> {
    let mut conn = state.store.conn().await?;
    rows::by_id(&mut conn, &state.keyring, id)
        .await?
        .ok_or_else(|| Error::internal(anyhow::anyhow!("referral vanished")))
}
