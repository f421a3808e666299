//! Referrals of case rooms to other organizations (table `room_referrals`).
//!
//! A row's `status` moves once, from `pending` to `accepted`, `declined` or
//! `withdrawn`, and an accepted referral may later be `withdrawn`. Every change is
//! a conditional `UPDATE ... WHERE status = <expected>`, so two people answering
//! the same referral at once cannot both win.

use super::{Conn, StoreError, sealed};
use crate::crypto::Keyring;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ReferralRow {
    pub id: String,
    pub room_id: String,
    pub from_org_id: String,
    pub from_org_name: String,
    pub to_org_id: String,
    pub to_org_name: String,
    pub status: String,
    pub created_by: String,
    pub created_by_name: String,
    pub created_at: i64,
    pub decided_by: Option<String>,
    pub decided_at: Option<i64>,
    /// The room's title (PHI, sealed at rest; opened here).
    pub room_title: String,
    pub patient_id: Option<String>,
}

const COLUMNS: &str = "f.id, f.room_id, f.from_org_id, fo.name AS from_org_name, f.to_org_id, \
     t.name AS to_org_name, f.status, f.created_by, u.display_name AS created_by_name, \
     f.created_at, f.decided_by, f.decided_at, r.title AS room_title, r.patient_id";

const FROM: &str = "room_referrals f \
     JOIN organizations fo ON fo.id = f.from_org_id \
     JOIN organizations t ON t.id = f.to_org_id \
     JOIN users u ON u.id = f.created_by \
     JOIN rooms r ON r.id = f.room_id";

fn open(keyring: &Keyring, mut row: ReferralRow) -> Result<ReferralRow, StoreError> {
    row.room_title = sealed::ROOM_TITLE.open(keyring, &row.room_id, row.room_title)?;
    Ok(row)
}

fn open_all(keyring: &Keyring, rows: Vec<ReferralRow>) -> Result<Vec<ReferralRow>, StoreError> {
    rows.into_iter().map(|r| open(keyring, r)).collect()
}

/// A new pending referral; false when the room already has an open (pending or
/// accepted) referral to `to_org_id`.
pub async fn insert(
    conn: &mut Conn,
    id: &str,
    room_id: &str,
    from_org_id: &str,
    to_org_id: &str,
    created_by: &str,
    now: i64,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "INSERT INTO room_referrals (id, room_id, from_org_id, to_org_id, status, created_by, created_at) \
         SELECT $1, $2, $3, $4, 'pending', $5, $6 \
         WHERE NOT EXISTS (SELECT 1 FROM room_referrals WHERE room_id = $2 AND to_org_id = $4 \
           AND status IN ('pending', 'accepted'))",
    )
    .bind(id)
    .bind(room_id)
    .bind(from_org_id)
    .bind(to_org_id)
    .bind(created_by)
    .bind(now)
    .execute(conn)
    .await
    .map_err(StoreError::from);
    match done {
        Ok(done) => Ok(done.rows_affected() == 1),
        // Two concurrent referrals: the partial unique index decides.
        Err(StoreError::UniqueViolation(_)) => Ok(false),
        Err(e) => Err(e),
    }
}

pub async fn by_id(
    conn: &mut Conn,
    keyring: &Keyring,
    id: &str,
) -> Result<Option<ReferralRow>, StoreError> {
    let sql = sqlx::AssertSqlSafe(format!("SELECT {COLUMNS} FROM {FROM} WHERE f.id = $1"));
    let row: Option<ReferralRow> = sqlx::query_as(sql).bind(id).fetch_optional(conn).await?;
    row.map(|r| open(keyring, r)).transpose()
}

/// Every referral of a room, newest first.
pub async fn for_room(
    conn: &mut Conn,
    keyring: &Keyring,
    room_id: &str,
) -> Result<Vec<ReferralRow>, StoreError> {
    let sql = sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM {FROM} WHERE f.room_id = $1 ORDER BY f.created_at DESC, f.id DESC"
    ));
    let rows = sqlx::query_as(sql).bind(room_id).fetch_all(conn).await?;
    open_all(keyring, rows)
}

/// Referrals to `org_id`, newest first; only those in `status` when given.
pub async fn incoming(
    conn: &mut Conn,
    keyring: &Keyring,
    org_id: &str,
    status: Option<&str>,
    limit: i64,
) -> Result<Vec<ReferralRow>, StoreError> {
    // Two texts rather than `$2 IS NULL OR ...`: PostgreSQL cannot type a bare NULL.
    let filter = if status.is_some() {
        "AND f.status = $3"
    } else {
        ""
    };
    let sql = sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM {FROM} WHERE f.to_org_id = $1 {filter} \
         ORDER BY f.created_at DESC, f.id DESC LIMIT $2"
    ));
    let mut query = sqlx::query_as(sql).bind(org_id).bind(limit);
    if let Some(status) = status {
        query = query.bind(status);
    }
    let rows = query.fetch_all(conn).await?;
    open_all(keyring, rows)
}

/// Moves the referral from `from` to `to`; false when it was not in `from`
/// (someone else answered first).
pub async fn transition(
    conn: &mut Conn,
    id: &str,
    from: &str,
    to: &str,
    by: &str,
    now: i64,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "UPDATE room_referrals SET status = $3, decided_by = $4, decided_at = $5 \
         WHERE id = $1 AND status = $2",
    )
    .bind(id)
    .bind(from)
    .bind(to)
    .bind(by)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Ends the organization's part in the room (its `room_orgs` row), after which
/// none of its people has standing there through it.
pub async fn delete_room_org(
    conn: &mut Conn,
    room_id: &str,
    org_id: &str,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "DELETE FROM room_orgs WHERE room_id = $1 AND org_id = $2 AND relation = 'referred'",
    )
    .bind(room_id)
    .bind(org_id)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Deletes the room's memberships that no longer count (their user holds no role in
/// any organization taking part); returns those users so their sockets can be told.
pub async fn delete_members_without_standing(
    conn: &mut Conn,
    room_id: &str,
) -> Result<Vec<String>, StoreError> {
    let sql = sqlx::AssertSqlSafe(format!(
        "DELETE FROM room_members WHERE room_id = $1 AND user_id IN \
           (SELECT m.user_id FROM room_members m WHERE m.room_id = $1 AND NOT {}) \
         RETURNING user_id",
        super::rooms::HAS_STANDING
    ));
    let rows: Vec<(String,)> = sqlx::query_as(sql).bind(room_id).fetch_all(conn).await?;
    Ok(rows.into_iter().map(|(u,)| u).collect())
}

/// The clinicians and admins of an organization who hear of a referral's changes:
/// all of them, or (with `room_id`) only those who are members of that room.
pub async fn care_team_of(
    conn: &mut Conn,
    org_id: &str,
    room_id: Option<&str>,
) -> Result<Vec<String>, StoreError> {
    let in_room = if room_id.is_some() {
        "AND EXISTS (SELECT 1 FROM room_members m WHERE m.room_id = $2 AND m.user_id = o.user_id)"
    } else {
        ""
    };
    let sql = sqlx::AssertSqlSafe(format!(
        "SELECT o.user_id FROM memberships o WHERE o.org_id = $1 \
           AND o.role IN ('admin', 'clinician') {in_room} ORDER BY o.user_id"
    ));
    let mut query = sqlx::query_as(sql).bind(org_id);
    if let Some(room_id) = room_id {
        query = query.bind(room_id);
    }
    let rows: Vec<(String,)> = query.fetch_all(conn).await?;
    Ok(rows.into_iter().map(|(u,)| u).collect())
}

/// Every organization but `except`, by name: where a case may be referred.
pub async fn targets(
    conn: &mut Conn,
    except: &str,
) -> Result<Vec<super::orgs::OrgRow>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT id, name, created_at FROM organizations WHERE id <> $1 ORDER BY name, id",
    )
    .bind(except)
    .fetch_all(conn)
    .await?)
}
