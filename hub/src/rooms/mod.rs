//! Case rooms and direct threads: who is in them, and their message streams.
//!
//! A room belongs to one organization (its owner) and may take in others when a
//! case is referred. Its members may come from any organization taking part.
//! Route-level access (member of the room, or care team of a taking-part
//! organization) was decided by `policy` before these functions run; the
//! content rules (who may add whom) are `policy::may_*` calls here.

pub mod activity;
mod members;
mod messages;
pub mod referrals;
mod stream;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

pub use crate::domain::RoomKind;

pub use members::{MEMBER_REMOVED, add_member, announce_removal, remove_member};
pub use messages::{
    EditInput, HistoryPage, HistoryQuery, MessageView, PublishInput, Published, delete_message,
    edit_message, history, publish, validate_body, validate_client_id,
};
pub use stream::{
    BUS_KIND, Recovery, StreamEvent, decode_bus_event, recover, stream_event, to_bus_payload,
};

use crate::{
    accounts::{Principal, RequestMeta},
    audit::{self, AuditEvent, Outcome},
    clock::rfc3339,
    domain::{Role, RoomStanding, RoomTitle},
    error::{Error, Result},
    orgs::{OrgContext, parse_role},
    policy,
    state::AppState,
    store::{StoreError, orgs, rooms},
};

/// The bus topic of a room's live events.
pub fn topic(room_id: &str) -> String {
    format!("room.{room_id}")
}

/// The room of a `/rooms/{room_id}/...` route and the caller's standing in it,
/// attached by the `authorize` middleware.
#[derive(Debug, Clone)]
pub struct RoomContext {
    pub room: rooms::RoomRow,
    pub standing: RoomStanding,
}

/// Loads the room and the caller's standing; `None` when the room does not exist.
/// Both are read now, from the memberships they derive from: a member removed from
/// every organization taking part has no standing, whatever rows remain.
pub async fn context(
    state: &AppState,
    room_id: &str,
    user_id: &str,
) -> Result<Option<RoomContext>> {
    let mut conn = state.store.conn().await?;
    let Some(room) = rooms::by_id(&mut conn, &state.keyring, room_id).await? else {
        return Ok(None);
    };
    let member = rooms::member(&mut conn, room_id, user_id).await?.is_some();
    let org_roles = rooms::roles_in_room_orgs(&mut conn, room_id, user_id)
        .await?
        .iter()
        .map(|r| parse_role(r))
        .collect::<Result<Vec<_>>>()?;
    Ok(Some(RoomContext {
        room,
        standing: RoomStanding { member, org_roles },
    }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RoomView {
    pub id: String,
    pub org_id: String,
    pub kind: String,
    pub title: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub patient_id: Option<String>,
    /// The stream's epoch; offsets are meaningful only within one epoch.
    pub epoch: String,
    /// Offset of the newest event in the stream (0 when empty).
    pub offset: i64,
    pub created_at: String,
    /// Messages from others after `last_read_offset` (room lists only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unread: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_read_offset: Option<i64>,
    /// The name of the patient the room is about (room lists only), so a care
    /// team's list can title a direct thread after its patient.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub patient_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub members: Option<Vec<RoomMemberView>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub orgs: Option<Vec<RoomOrgView>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RoomMemberView {
    pub user_id: String,
    pub display_name: String,
    pub added_by: String,
    pub joined_at: String,
    pub last_read_offset: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RoomOrgView {
    pub org_id: String,
    pub name: String,
    /// `owner` or `referred`.
    pub relation: String,
    pub added_at: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RoomList {
    pub rooms: Vec<RoomView>,
}

fn view(row: rooms::RoomRow) -> RoomView {
    RoomView {
        id: row.id,
        org_id: row.org_id,
        kind: row.kind,
        title: row.title,
        patient_id: row.patient_id,
        epoch: row.epoch,
        offset: row.last_seq,
        created_at: rfc3339(row.created_at),
        unread: None,
        last_read_offset: None,
        patient_name: None,
        members: None,
        orgs: None,
    }
}

pub(crate) fn member_view(m: rooms::MemberRow) -> RoomMemberView {
    RoomMemberView {
        user_id: m.user_id,
        display_name: m.display_name,
        added_by: m.added_by,
        joined_at: rfc3339(m.joined_at),
        last_read_offset: m.last_read_seq,
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateRoomInput {
    pub kind: RoomKind,
    /// Required for a case room; a direct thread is titled after its patient.
    #[serde(default)]
    pub title: Option<String>,
    /// The patient the room is about: required for a direct thread (a patient
    /// creating their own thread may omit it), optional for a case.
    #[serde(default)]
    pub patient_id: Option<String>,
    /// Further members, each holding a role in the organization.
    #[serde(default)]
    pub member_ids: Vec<String>,
}

/// Most members a room can be created with in one request.
const MAX_INITIAL_MEMBERS: usize = 100;

/// Creates a case room or a direct thread owned by the organization. The
/// creator, the patient (if any) and `member_ids` become members; everyone must
/// hold a role in the organization.
pub async fn create(
    state: &AppState,
    caller: &Principal,
    ctx: &OrgContext,
    input: CreateRoomInput,
    meta: &RequestMeta,
) -> Result<RoomView> {
    let patient_id = match (input.kind, input.patient_id, ctx.role) {
        (RoomKind::Direct, None, Some(Role::Patient)) => Some(caller.user_id.clone()),
        (_, patient, _) => patient,
    };
    if !policy::may_create_room(ctx.role, input.kind, &caller.user_id, patient_id.as_deref()) {
        return Err(Error::Forbidden);
    }
    if input.member_ids.len() > MAX_INITIAL_MEMBERS {
        return Err(crate::domain::ValidationError::new(
            "member_ids",
            "too_many_members",
            format!("at most {MAX_INITIAL_MEMBERS} members at creation"),
        )
        .into());
    }
    let title = match (input.kind, input.title) {
        (_, Some(t)) => RoomTitle::parse(&t)?,
        (RoomKind::Direct, None) => RoomTitle::parse("Care team")?,
        (RoomKind::Case, None) => {
            return Err(crate::domain::ValidationError::new(
                "title",
                "invalid_title",
                "a case room needs a title",
            )
            .into());
        }
    };
    let now = state.clock.now_ms();
    let mut tx = state.store.begin_write().await?;
    let mut members = vec![caller.user_id.clone()];
    if let Some(p) = &patient_id {
        let role = orgs::role_of(&mut tx, &ctx.org_id, p).await?;
        if role.as_deref() != Some(Role::Patient.as_str()) {
            return Err(Error::NotFound("patient in this organization"));
        }
        members.push(p.clone());
    }
    for id in input.member_ids {
        if orgs::role_of(&mut tx, &ctx.org_id, &id).await?.is_none() {
            return Err(crate::domain::ValidationError::new(
                "member_ids",
                "not_an_org_member",
                "every member must belong to the organization",
            )
            .into());
        }
        members.push(id);
    }
    members.sort();
    members.dedup();
    if input.kind == RoomKind::Direct
        && let Some(p) = &patient_id
        && rooms::direct_thread(&mut tx, &state.keyring, &ctx.org_id, p)
            .await?
            .is_some()
    {
        return Err(Error::conflict(
            "direct_thread_exists",
            "this patient already has a direct thread in this organization",
        ));
    }
    let row = rooms::RoomRow {
        id: uuid::Uuid::now_v7().to_string(),
        org_id: ctx.org_id.clone(),
        kind: input.kind.as_str().to_owned(),
        title: title.as_str().to_owned(),
        patient_id,
        epoch: new_epoch(),
        last_seq: 0,
        created_by: caller.user_id.clone(),
        created_at: now,
    };
    rooms::insert_room(&mut tx, &state.keyring, &row)
        .await
        .map_err(unique_direct)?;
    rooms::insert_org(&mut tx, &row.id, &ctx.org_id, "owner", &caller.user_id, now).await?;
    for m in &members {
        rooms::insert_member(&mut tx, &row.id, m, &caller.user_id, now).await?;
    }
    audit::commit_with(
        tx,
        &AuditEvent::new("room.create", Outcome::Success)
            .actor(Some(&caller.user_id), meta.ip.as_deref())
            .org(&ctx.org_id)
            .target("room", &row.id)
            .details(serde_json::json!({
                "kind": row.kind, "patient_id": row.patient_id, "members": members.len()
            })),
        now,
    )
    .await?;
    for m in &members {
        activity::room_added(state, &row.id, m).await;
    }
    get(state, &row.id).await
}

/// Two concurrent creations of the same direct thread: the unique index decides.
fn unique_direct(e: StoreError) -> Error {
    if matches!(e, StoreError::UniqueViolation(_)) {
        Error::conflict(
            "direct_thread_exists",
            "this patient already has a direct thread in this organization",
        )
    } else {
        e.into()
    }
}

/// A fresh stream epoch: random, so offsets from a rebuilt stream can never be
/// mistaken for the old one's.
fn new_epoch() -> String {
    data_encoding::HEXLOWER.encode(&crate::crypto::random_bytes::<8>())
}

/// The caller's rooms with unread counts.
pub async fn list_mine(state: &AppState, caller: &Principal) -> Result<RoomList> {
    let mut conn = state.store.conn().await?;
    let rooms = rooms::for_user(&mut conn, &state.keyring, &caller.user_id)
        .await?
        .into_iter()
        .map(|r| {
            let (last_read, unread) = (r.last_read_seq, r.unread);
            let mut v = view(r.room);
            v.patient_name = r.patient_name;
            v.unread = Some(unread);
            v.last_read_offset = Some(last_read);
            v
        })
        .collect();
    Ok(RoomList { rooms })
}

/// One room with its members and organizations.
pub async fn get(state: &AppState, room_id: &str) -> Result<RoomView> {
    let mut conn = state.store.conn().await?;
    let row = rooms::by_id(&mut conn, &state.keyring, room_id)
        .await?
        .ok_or(Error::NotFound("room"))?;
    let members = rooms::members(&mut conn, room_id).await?;
    let orgs = rooms::orgs(&mut conn, room_id).await?;
    let mut v = view(row);
    v.members = Some(members.into_iter().map(member_view).collect());
    v.orgs = Some(
        orgs.into_iter()
            .map(|o| RoomOrgView {
                org_id: o.org_id,
                name: o.org_name,
                relation: o.relation,
                added_at: rfc3339(o.added_at),
            })
            .collect(),
    );
    Ok(v)
}
