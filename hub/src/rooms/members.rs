//! Joining, adding, removing and leaving (referrals are `referrals`).

use serde_json::json;

use super::{RoomContext, RoomMemberView, member_view, topic};
use crate::{
    accounts::{Principal, RequestMeta},
    audit::{self, AuditEvent, Outcome},
    bus::Event,
    error::{Error, Result},
    policy,
    state::AppState,
    store::rooms,
};

/// The bus kind telling gateways that a member left or was removed: their
/// sockets stop receiving the room at once.
pub const MEMBER_REMOVED: &str = "room.member_removed";

/// Adds `user_id`, who must hold a role in a taking-part organization the caller
/// belongs to as well: each organization adds its own people, so the referring
/// side cannot add (or probe for) the referred organization's members, whose
/// care team joins by adding themselves. Anyone else is "not found", whether or
/// not they belong to another taking-part organization.
pub async fn add_member(
    state: &AppState,
    caller: &Principal,
    ctx: &RoomContext,
    user_id: &str,
    meta: &RequestMeta,
) -> Result<RoomMemberView> {
    if !policy::may_add_room_member(&ctx.standing, &caller.user_id, user_id) {
        return Err(Error::Forbidden);
    }
    let room_id = &ctx.room.id;
    let now = state.clock.now_ms();
    let mut tx = state.store.begin_write().await?;
    let roles = if user_id == caller.user_id {
        rooms::roles_in_room_orgs(&mut tx, room_id, user_id).await?
    } else {
        rooms::roles_in_shared_room_orgs(&mut tx, room_id, &caller.user_id, user_id).await?
    };
    if roles.is_empty() {
        return Err(Error::NotFound(
            "user in an organization taking part in this room",
        ));
    }
    if !rooms::insert_member(&mut tx, room_id, user_id, &caller.user_id, now).await? {
        return Err(Error::conflict(
            "already_member",
            "this user is already a member of the room",
        ));
    }
    let member = rooms::member(&mut tx, room_id, user_id)
        .await?
        .ok_or_else(|| Error::internal(anyhow::anyhow!("member vanished")))?;
    audit::commit_with(
        tx,
        &AuditEvent::new("room.member.add", Outcome::Success)
            .actor(Some(&caller.user_id), meta.ip.as_deref())
            .org(&ctx.room.org_id)
            .target("room", room_id)
            .details(json!({ "user_id": user_id, "patient_id": ctx.room.patient_id })),
        now,
    )
    .await?;
    super::activity::room_added(state, room_id, user_id).await;
    Ok(member_view(member))
}

/// Removes a member, or lets a member leave. The room keeps at least one member.
pub async fn remove_member(
    state: &AppState,
    caller: &Principal,
    ctx: &RoomContext,
    user_id: &str,
    meta: &RequestMeta,
) -> Result<()> {
    if !policy::may_remove_room_member(&ctx.standing, &caller.user_id, user_id) {
        return Err(Error::Forbidden);
    }
    let room_id = &ctx.room.id;
    let now = state.clock.now_ms();
    let mut tx = state.store.begin_write().await?;
    if rooms::member(&mut tx, room_id, user_id).await?.is_none() {
        return Err(Error::NotFound("member"));
    }
    if rooms::member_count(&mut tx, room_id).await? <= 1 {
        return Err(Error::conflict(
            "last_member",
            "the last member cannot leave; the room would be unreachable",
        ));
    }
    rooms::delete_member(&mut tx, room_id, user_id).await?;
    let action = if user_id == caller.user_id {
        "room.member.leave"
    } else {
        "room.member.remove"
    };
    audit::commit_with(
        tx,
        &AuditEvent::new(action, Outcome::Success)
            .actor(Some(&caller.user_id), meta.ip.as_deref())
            .org(&ctx.room.org_id)
            .target("room", room_id)
            .details(json!({ "user_id": user_id })),
        now,
    )
    .await?;
    announce_removal(state, room_id, user_id).await;
    super::activity::room_removed(state, room_id, user_id).await;
    Ok(())
}

/// Tells every node that `user_id` lost the room: each of their subscriptions to
/// it ends at once with an `unsubscribed` push (docs/protocol.md).
pub async fn announce_removal(state: &AppState, room_id: &str, user_id: &str) {
    let event = Event {
        topic: topic(room_id),
        kind: MEMBER_REMOVED.into(),
        payload: json!({ "user_id": user_id }),
    };
    if let Err(e) = state.bus.publish(event).await {
        // The removal is committed; open sockets lose the room at their next
        // request or session check (membership is read there) rather than at once.
        tracing::warn!(error = %e, "member removal not announced");
    }
}
