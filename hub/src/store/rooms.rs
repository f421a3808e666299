//! Rooms, their members and organizations, and their event streams.

use super::{Conn, StoreError, sealed};
use crate::crypto::Keyring;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RoomRow {
    pub id: String,
    pub org_id: String,
    pub kind: String,
    pub title: String,
    pub patient_id: Option<String>,
    pub epoch: String,
    pub last_seq: i64,
    pub created_by: String,
    pub created_at: i64,
}

const ROOM_COLUMNS: &str = "r.id, r.org_id, r.kind, r.title, r.patient_id, r.epoch, r.last_seq, r.created_by, r.created_at";

/// The condition that makes a `room_members` row `m` count: its user still holds a
/// role in an organization taking part in the room (the owner, or one the case was
/// referred to). Room rights follow the organization membership they came from, read
/// at every check, so a removal ends them at once even where a row was missed.
pub const HAS_STANDING: &str = "EXISTS (SELECT 1 FROM memberships om JOIN room_orgs ro ON ro.org_id = om.org_id \
     WHERE ro.room_id = m.room_id AND om.user_id = m.user_id)";

/// A room as one of its members sees it in a list.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct MyRoomRow {
    #[sqlx(flatten)]
    pub room: RoomRow,
    pub last_read_seq: i64,
    pub unread: i64,
    /// The display name of the patient the room is about, if any: direct threads
    /// are titled after their patient in the care team's list.
    pub patient_name: Option<String>,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct MemberRow {
    pub user_id: String,
    pub display_name: String,
    pub added_by: String,
    pub joined_at: i64,
    pub last_read_seq: i64,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RoomOrgRow {
    pub org_id: String,
    pub org_name: String,
    pub relation: String,
    pub added_at: i64,
}

/// One entry of a room's stream.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct EventRow {
    pub room_id: String,
    pub seq: i64,
    pub id: String,
    pub kind: String,
    pub message_id: String,
    pub sender_id: String,
    pub client_id: Option<String>,
    pub key_id: Option<String>,
    pub body: Option<Vec<u8>>,
    pub created_at: i64,
}

const EVENT_COLUMNS: &str =
    "room_id, seq, id, kind, message_id, sender_id, client_id, key_id, body, created_at";

/// Decrypts the title of a room read from the database.
fn open_room(keyring: &Keyring, mut room: RoomRow) -> Result<RoomRow, StoreError> {
    room.title = sealed::ROOM_TITLE.open(keyring, &room.id, room.title)?;
    Ok(room)
}

/// Inserts a room; its title is sealed (PHI: case rooms are often named after the case).
pub async fn insert_room(
    conn: &mut Conn,
    keyring: &Keyring,
    r: &RoomRow,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO rooms (id, org_id, kind, title, patient_id, epoch, last_seq, created_by, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(&r.id)
    .bind(&r.org_id)
    .bind(&r.kind)
    .bind(sealed::ROOM_TITLE.seal(keyring, &r.id, &r.title))
    .bind(&r.patient_id)
    .bind(&r.epoch)
    .bind(r.last_seq)
    .bind(&r.created_by)
    .bind(r.created_at)
    .execute(conn)
    .await?;
    Ok(())
}

/// The direct thread of `patient_id` in `org_id`, if one exists.
pub async fn direct_thread(
    conn: &mut Conn,
    keyring: &Keyring,
    org_id: &str,
    patient_id: &str,
) -> Result<Option<RoomRow>, StoreError> {
    let sql = sqlx::AssertSqlSafe(format!(
        "SELECT {ROOM_COLUMNS} FROM rooms r \
         WHERE r.org_id = $1 AND r.patient_id = $2 AND r.kind = 'direct'"
    ));
    let row: Option<RoomRow> = sqlx::query_as(sql)
        .bind(org_id)
        .bind(patient_id)
        .fetch_optional(conn)
        .await?;
    row.map(|r| open_room(keyring, r)).transpose()
}

pub async fn by_id(
    conn: &mut Conn,
    keyring: &Keyring,
    id: &str,
) -> Result<Option<RoomRow>, StoreError> {
    let sql = sqlx::AssertSqlSafe(format!(
        "SELECT {ROOM_COLUMNS} FROM rooms r WHERE r.id = $1"
    ));
    let row: Option<RoomRow> = sqlx::query_as(sql).bind(id).fetch_optional(conn).await?;
    row.map(|r| open_room(keyring, r)).transpose()
}

/// The rooms `user_id` belongs to, newest first, with unread counts (messages
/// from others after the member's last read offset).
pub async fn for_user(
    conn: &mut Conn,
    keyring: &Keyring,
    user_id: &str,
) -> Result<Vec<MyRoomRow>, StoreError> {
    let sql = sqlx::AssertSqlSafe(format!(
        "SELECT {ROOM_COLUMNS}, m.last_read_seq, \
           (SELECT COUNT(*) FROM room_events e WHERE e.room_id = r.id AND e.seq > m.last_read_seq \
              AND e.kind = 'message' AND e.sender_id <> m.user_id) AS unread, \
           pu.display_name AS patient_name \
         FROM room_members m JOIN rooms r ON r.id = m.room_id \
         LEFT JOIN users pu ON pu.id = r.patient_id \
         WHERE m.user_id = $1 AND {HAS_STANDING} ORDER BY r.created_at DESC, r.id DESC"
    ));
    let rows: Vec<MyRoomRow> = sqlx::query_as(sql).bind(user_id).fetch_all(conn).await?;
    rows.into_iter()
        .map(|mut r| {
            r.room = open_room(keyring, r.room)?;
            Ok(r)
        })
        .collect()
}

pub async fn insert_org(
    conn: &mut Conn,
    room_id: &str,
    org_id: &str,
    relation: &str,
    added_by: &str,
    now: i64,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "INSERT INTO room_orgs (room_id, org_id, relation, added_by, added_at) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (room_id, org_id) DO NOTHING",
    )
    .bind(room_id)
    .bind(org_id)
    .bind(relation)
    .bind(added_by)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn orgs(conn: &mut Conn, room_id: &str) -> Result<Vec<RoomOrgRow>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT ro.org_id, o.name AS org_name, ro.relation, ro.added_at \
         FROM room_orgs ro JOIN organizations o ON o.id = ro.org_id \
         WHERE ro.room_id = $1 ORDER BY ro.added_at, ro.org_id",
    )
    .bind(room_id)
    .fetch_all(conn)
    .await?)
}

/// The roles `user_id` holds in the organizations taking part in the room.
pub async fn roles_in_room_orgs(
    conn: &mut Conn,
    room_id: &str,
    user_id: &str,
) -> Result<Vec<String>, StoreError> {
    let rows: Vec<(String,)> = sqlx::query_as(
        "SELECT m.role FROM memberships m JOIN room_orgs ro ON ro.org_id = m.org_id \
         WHERE ro.room_id = $1 AND m.user_id = $2",
    )
    .bind(room_id)
    .bind(user_id)
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(|(r,)| r).collect())
}

/// The roles `target_id` holds in the room's taking-part organizations that
/// `actor_id` belongs to as well: whom the actor may add (each organization adds
/// its own people; a referral does not let one see or add another's).
pub async fn roles_in_shared_room_orgs(
    conn: &mut Conn,
    room_id: &str,
    actor_id: &str,
    target_id: &str,
) -> Result<Vec<String>, StoreError> {
    let rows: Vec<(String,)> = sqlx::query_as(
        "SELECT t.role FROM memberships t \
         JOIN room_orgs ro ON ro.org_id = t.org_id \
         JOIN memberships a ON a.org_id = t.org_id \
         WHERE ro.room_id = $1 AND a.user_id = $2 AND t.user_id = $3",
    )
    .bind(room_id)
    .bind(actor_id)
    .bind(target_id)
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(|(r,)| r).collect())
}

/// Adds a member; false if they already were one.
pub async fn insert_member(
    conn: &mut Conn,
    room_id: &str,
    user_id: &str,
    added_by: &str,
    now: i64,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "INSERT INTO room_members (room_id, user_id, added_by, joined_at, last_read_seq) \
         VALUES ($1, $2, $3, $4, 0) ON CONFLICT (room_id, user_id) DO NOTHING",
    )
    .bind(room_id)
    .bind(user_id)
    .bind(added_by)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn delete_member(
    conn: &mut Conn,
    room_id: &str,
    user_id: &str,
) -> Result<bool, StoreError> {
    let done = sqlx::query("DELETE FROM room_members WHERE room_id = $1 AND user_id = $2")
        .bind(room_id)
        .bind(user_id)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// `user_id`'s membership of the room, if it counts (see [`HAS_STANDING`]).
pub async fn member(
    conn: &mut Conn,
    room_id: &str,
    user_id: &str,
) -> Result<Option<MemberRow>, StoreError> {
    let sql = sqlx::AssertSqlSafe(format!(
        "SELECT m.user_id, u.display_name, m.added_by, m.joined_at, m.last_read_seq \
         FROM room_members m JOIN users u ON u.id = m.user_id \
         WHERE m.room_id = $1 AND m.user_id = $2 AND {HAS_STANDING}"
    ));
    Ok(sqlx::query_as(sql)
        .bind(room_id)
        .bind(user_id)
        .fetch_optional(conn)
        .await?)
}

/// Of `room_ids`, the rooms where `user_id` is still a member with standing: one query
/// for a socket's periodic re-check of all its subscriptions.
pub async fn with_standing(
    conn: &mut Conn,
    user_id: &str,
    room_ids: &[impl AsRef<str>],
) -> Result<Vec<String>, StoreError> {
    if room_ids.is_empty() {
        return Ok(Vec::new());
    }
    let placeholders: Vec<String> = (2..room_ids.len() + 2).map(|n| format!("${n}")).collect();
    let sql = sqlx::AssertSqlSafe(format!(
        "SELECT m.room_id FROM room_members m \
         WHERE m.user_id = $1 AND m.room_id IN ({}) AND {HAS_STANDING}",
        placeholders.join(", ")
    ));
    let mut query = sqlx::query_as(sql).bind(user_id);
    for room in room_ids {
        query = query.bind(room.as_ref());
    }
    let rows: Vec<(String,)> = query.fetch_all(conn).await?;
    Ok(rows.into_iter().map(|(room,)| room).collect())
}

pub async fn members(conn: &mut Conn, room_id: &str) -> Result<Vec<MemberRow>, StoreError> {
    let sql = sqlx::AssertSqlSafe(format!(
        "SELECT m.user_id, u.display_name, m.added_by, m.joined_at, m.last_read_seq \
         FROM room_members m JOIN users u ON u.id = m.user_id \
         WHERE m.room_id = $1 AND {HAS_STANDING} ORDER BY m.joined_at, m.user_id"
    ));
    Ok(sqlx::query_as(sql).bind(room_id).fetch_all(conn).await?)
}

/// Deletes `user_id`'s memberships of rooms where they no longer hold a role in any
/// organization taking part (after leaving an organization); returns those rooms so
/// their open subscriptions can be ended. Their messages stay in the history.
pub async fn delete_memberships_without_standing(
    conn: &mut Conn,
    user_id: &str,
) -> Result<Vec<String>, StoreError> {
    let sql = sqlx::AssertSqlSafe(format!(
        "DELETE FROM room_members WHERE user_id = $1 AND room_id IN \
           (SELECT m.room_id FROM room_members m WHERE m.user_id = $1 AND NOT {HAS_STANDING}) \
         RETURNING room_id"
    ));
    let rows: Vec<(String,)> = sqlx::query_as(sql).bind(user_id).fetch_all(conn).await?;
    Ok(rows.into_iter().map(|(r,)| r).collect())
}

pub async fn member_count(conn: &mut Conn, room_id: &str) -> Result<i64, StoreError> {
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM room_members WHERE room_id = $1")
        .bind(room_id)
        .fetch_one(conn)
        .await?;
    Ok(n)
}

/// Takes the room's next offset for a message by `user_id`, only if they are a
/// member with standing: one statement instead of a membership read plus an update, on the
/// hottest path of the hub. `None`: no such room or not a member.
pub async fn next_seq_for_member(
    conn: &mut Conn,
    room_id: &str,
    user_id: &str,
) -> Result<Option<(i64, String)>, StoreError> {
    let sql = sqlx::AssertSqlSafe(format!(
        "UPDATE rooms SET last_seq = last_seq + 1 WHERE id = $1 \
           AND EXISTS (SELECT 1 FROM room_members m WHERE m.room_id = $1 AND m.user_id = $2 \
             AND {HAS_STANDING}) \
         RETURNING last_seq, epoch"
    ));
    Ok(sqlx::query_as(sql)
        .bind(room_id)
        .bind(user_id)
        .fetch_optional(conn)
        .await?)
}

/// Inserts an event unless its client id was used before by the same sender in
/// the room; false when it was (the caller rolls back and returns the original).
/// Events without a client id (edits, deletions) always insert.
pub async fn insert_event_once(conn: &mut Conn, e: &EventRow) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "INSERT INTO room_events (room_id, seq, id, kind, message_id, sender_id, client_id, key_id, body, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
         ON CONFLICT (room_id, sender_id, client_id) WHERE client_id IS NOT NULL DO NOTHING",
    )
    .bind(&e.room_id)
    .bind(e.seq)
    .bind(&e.id)
    .bind(&e.kind)
    .bind(&e.message_id)
    .bind(&e.sender_id)
    .bind(&e.client_id)
    .bind(&e.key_id)
    .bind(&e.body)
    .bind(e.created_at)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// The room's current position without taking one.
pub async fn position(conn: &mut Conn, room_id: &str) -> Result<Option<(i64, String)>, StoreError> {
    Ok(
        sqlx::query_as("SELECT last_seq, epoch FROM rooms WHERE id = $1")
            .bind(room_id)
            .fetch_optional(conn)
            .await?,
    )
}

/// The event a sender already stored under `client_id`, for idempotent retries.
pub async fn event_by_client_id(
    conn: &mut Conn,
    room_id: &str,
    sender_id: &str,
    client_id: &str,
) -> Result<Option<EventRow>, StoreError> {
    let sql = sqlx::AssertSqlSafe(format!(
        "SELECT {EVENT_COLUMNS} FROM room_events \
         WHERE room_id = $1 AND sender_id = $2 AND client_id = $3"
    ));
    Ok(sqlx::query_as(sql)
        .bind(room_id)
        .bind(sender_id)
        .bind(client_id)
        .fetch_optional(conn)
        .await?)
}

/// The original `message` event with id `message_id` in the room.
pub async fn message(
    conn: &mut Conn,
    room_id: &str,
    message_id: &str,
) -> Result<Option<EventRow>, StoreError> {
    let sql = sqlx::AssertSqlSafe(format!(
        "SELECT {EVENT_COLUMNS} FROM room_events \
         WHERE room_id = $1 AND id = $2 AND kind = 'message'"
    ));
    Ok(sqlx::query_as(sql)
        .bind(room_id)
        .bind(message_id)
        .fetch_optional(conn)
        .await?)
}

/// Whether a message has been deleted.
pub async fn is_deleted(
    conn: &mut Conn,
    room_id: &str,
    message_id: &str,
) -> Result<bool, StoreError> {
    let row: Option<(String,)> = sqlx::query_as(
        "SELECT id FROM room_events WHERE room_id = $1 AND message_id = $2 AND kind = 'delete'",
    )
    .bind(room_id)
    .bind(message_id)
    .fetch_optional(conn)
    .await?;
    Ok(row.is_some())
}

/// Events with `after < seq <= up_to`, oldest first, at most `limit`.
pub async fn events_between(
    conn: &mut Conn,
    room_id: &str,
    after: i64,
    up_to: i64,
    limit: i64,
) -> Result<Vec<EventRow>, StoreError> {
    let sql = sqlx::AssertSqlSafe(format!(
        "SELECT {EVENT_COLUMNS} FROM room_events \
         WHERE room_id = $1 AND seq > $2 AND seq <= $3 ORDER BY seq LIMIT $4"
    ));
    Ok(sqlx::query_as(sql)
        .bind(room_id)
        .bind(after)
        .bind(up_to)
        .bind(limit)
        .fetch_all(conn)
        .await?)
}

/// A page of original messages below offset `before`, newest first.
pub async fn messages_before(
    conn: &mut Conn,
    room_id: &str,
    before: i64,
    limit: i64,
) -> Result<Vec<EventRow>, StoreError> {
    let sql = sqlx::AssertSqlSafe(format!(
        "SELECT {EVENT_COLUMNS} FROM room_events \
         WHERE room_id = $1 AND kind = 'message' AND seq < $2 ORDER BY seq DESC LIMIT $3"
    ));
    Ok(sqlx::query_as(sql)
        .bind(room_id)
        .bind(before)
        .bind(limit)
        .fetch_all(conn)
        .await?)
}

/// Edits and deletions at or after offset `from`, oldest first: every change to a
/// message at or after `from` comes later in the stream than the message itself.
pub async fn changes_since(
    conn: &mut Conn,
    room_id: &str,
    from: i64,
) -> Result<Vec<EventRow>, StoreError> {
    let sql = sqlx::AssertSqlSafe(format!(
        "SELECT {EVENT_COLUMNS} FROM room_events \
         WHERE room_id = $1 AND kind <> 'message' AND seq >= $2 ORDER BY seq"
    ));
    Ok(sqlx::query_as(sql)
        .bind(room_id)
        .bind(from)
        .fetch_all(conn)
        .await?)
}

/// Moves a member's read marker forward (never back, never past the stream's end).
pub async fn mark_read(
    conn: &mut Conn,
    room_id: &str,
    user_id: &str,
    seq: i64,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "UPDATE room_members SET last_read_seq = $3 \
         WHERE room_id = $1 AND user_id = $2 AND last_read_seq < $3 \
           AND $3 <= (SELECT last_seq FROM rooms WHERE id = $1)",
    )
    .bind(room_id)
    .bind(user_id)
    .bind(seq)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}
