//! Video visits: the state machine's snapshot, participants' names, the event log and
//! visit links.

use super::{
    Conn, StoreError,
    sealed::{self, participant_row},
};
use crate::crypto::Keyring;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct VisitRow {
    pub id: String,
    pub org_id: String,
    pub appointment_id: Option<String>,
    pub state: String,
    pub scheduled_at: i64,
    /// `signaling::visit::Visit` as JSON.
    pub snapshot: String,
    pub version: i64,
    pub created_by: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

const COLUMNS: &str = "id, org_id, appointment_id, state, scheduled_at, snapshot, version, created_by, created_at, updated_at";

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ParticipantRow {
    pub visit_id: String,
    pub participant_id: String,
    pub role: String,
    pub user_id: Option<String>,
    pub display_name: String,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct LinkRow {
    pub token_hash: String,
    pub visit_id: String,
    pub participant_id: String,
    pub expires_at: i64,
    pub revoked_at: Option<i64>,
    pub created_by: Option<String>,
    pub created_at: i64,
}

pub async fn insert(conn: &mut Conn, v: &VisitRow) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO visits (id, org_id, appointment_id, state, scheduled_at, snapshot, version, created_by, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(&v.id)
    .bind(&v.org_id)
    .bind(&v.appointment_id)
    .bind(&v.state)
    .bind(v.scheduled_at)
    .bind(&v.snapshot)
    .bind(v.version)
    .bind(&v.created_by)
    .bind(v.created_at)
    .bind(v.updated_at)
    .execute(conn)
    .await?;
    Ok(())
}

/// Stores a transition computed from the snapshot at `expected_version`. `false` when
/// someone else stored one first: reload and apply the command again.
#[allow(clippy::too_many_arguments)]
pub async fn update(
    conn: &mut Conn,
    id: &str,
    expected_version: i64,
    state: &str,
    scheduled_at: i64,
    snapshot: &str,
    version: i64,
    now: i64,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "UPDATE visits SET state = $1, scheduled_at = $2, snapshot = $3, version = $4, updated_at = $5 \
         WHERE id = $6 AND version = $7",
    )
    .bind(state)
    .bind(scheduled_at)
    .bind(snapshot)
    .bind(version)
    .bind(now)
    .bind(id)
    .bind(expected_version)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn by_id(conn: &mut Conn, id: &str) -> Result<Option<VisitRow>, StoreError> {
    let sql = sqlx::AssertSqlSafe(format!("SELECT {COLUMNS} FROM visits WHERE id = $1"));
    Ok(sqlx::query_as(sql).bind(id).fetch_optional(conn).await?)
}

pub async fn by_appointment(
    conn: &mut Conn,
    appointment_id: &str,
) -> Result<Option<VisitRow>, StoreError> {
    let sql = sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM visits WHERE appointment_id = $1"
    ));
    Ok(sqlx::query_as(sql)
        .bind(appointment_id)
        .fetch_optional(conn)
        .await?)
}

/// Visits `user_id` takes part in, scheduled within `[from, to)`, earliest first.
pub async fn for_user(
    conn: &mut Conn,
    user_id: &str,
    from: i64,
    to: i64,
) -> Result<Vec<VisitRow>, StoreError> {
    let sql = sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM visits WHERE id IN \
         (SELECT visit_id FROM visit_participants WHERE user_id = $1) \
         AND scheduled_at >= $2 AND scheduled_at < $3 ORDER BY scheduled_at, id LIMIT 500"
    ));
    Ok(sqlx::query_as(sql)
        .bind(user_id)
        .bind(from)
        .bind(to)
        .fetch_all(conn)
        .await?)
}

/// Visits of `org_id` that are not over and in which `user_id` takes part.
pub async fn open_for_user_in_org(
    conn: &mut Conn,
    org_id: &str,
    user_id: &str,
) -> Result<Vec<String>, StoreError> {
    let rows: Vec<(String,)> = sqlx::query_as(
        "SELECT DISTINCT v.id FROM visits v JOIN visit_participants p ON p.visit_id = v.id \
         WHERE v.org_id = $1 AND p.user_id = $2 \
           AND v.state NOT IN ('ended', 'cancelled', 'no_show')",
    )
    .bind(org_id)
    .bind(user_id)
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(|(id,)| id).collect())
}

/// The open visits (any organization) in which `user_id` is a participant.
pub async fn open_for_user(conn: &mut Conn, user_id: &str) -> Result<Vec<String>, StoreError> {
    let rows: Vec<(String,)> = sqlx::query_as(
        "SELECT DISTINCT v.id FROM visits v JOIN visit_participants p ON p.visit_id = v.id \
         WHERE p.user_id = $1 AND v.state NOT IN ('ended', 'cancelled', 'no_show')",
    )
    .bind(user_id)
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(|(id,)| id).collect())
}

/// Inserts a participant; the display name is sealed (a guest's name is whatever the
/// host typed, and every name ties a person to a clinical visit).
pub async fn insert_participant(
    conn: &mut Conn,
    keyring: &Keyring,
    p: &ParticipantRow,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO visit_participants (visit_id, participant_id, role, user_id, display_name) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(&p.visit_id)
    .bind(&p.participant_id)
    .bind(&p.role)
    .bind(&p.user_id)
    .bind(sealed::PARTICIPANT_NAME.seal(
        keyring,
        &participant_row(&p.visit_id, &p.participant_id),
        &p.display_name,
    ))
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn participants(
    conn: &mut Conn,
    keyring: &Keyring,
    visit_id: &str,
) -> Result<Vec<ParticipantRow>, StoreError> {
    let rows: Vec<ParticipantRow> = sqlx::query_as(
        "SELECT visit_id, participant_id, role, user_id, display_name FROM visit_participants \
         WHERE visit_id = $1 ORDER BY participant_id",
    )
    .bind(visit_id)
    .fetch_all(conn)
    .await?;
    rows.into_iter()
        .map(|mut p| {
            let row_id = participant_row(&p.visit_id, &p.participant_id);
            p.display_name = sealed::PARTICIPANT_NAME.open(keyring, &row_id, p.display_name)?;
            Ok(p)
        })
        .collect()
}

pub async fn insert_event(
    conn: &mut Conn,
    visit_id: &str,
    seq: i64,
    kind: &str,
    body: &str,
    at: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO visit_events (visit_id, seq, kind, body, at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(visit_id)
    .bind(seq)
    .bind(kind)
    .bind(body)
    .bind(at)
    .execute(conn)
    .await?;
    Ok(())
}

/// `(seq, kind, body, at)` of a visit's events, in order.
pub async fn events(
    conn: &mut Conn,
    visit_id: &str,
) -> Result<Vec<(i64, String, String, i64)>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT seq, kind, body, at FROM visit_events WHERE visit_id = $1 ORDER BY seq",
    )
    .bind(visit_id)
    .fetch_all(conn)
    .await?)
}

pub async fn insert_link(conn: &mut Conn, l: &LinkRow) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO visit_links (token_hash, visit_id, participant_id, expires_at, revoked_at, created_by, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&l.token_hash)
    .bind(&l.visit_id)
    .bind(&l.participant_id)
    .bind(l.expires_at)
    .bind(l.revoked_at)
    .bind(&l.created_by)
    .bind(l.created_at)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn link_by_hash(conn: &mut Conn, hash: &str) -> Result<Option<LinkRow>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT token_hash, visit_id, participant_id, expires_at, revoked_at, created_by, created_at \
         FROM visit_links WHERE token_hash = $1",
    )
    .bind(hash)
    .fetch_optional(conn)
    .await?)
}

/// Whether the link `hash` is live (not revoked, not expired at `now`), belongs to
/// `participant_id` in `visit_id`, and its visit is not over: one indexed read, as it
/// runs before every frame of a visit pass's socket.
pub async fn link_stands(
    conn: &mut Conn,
    hash: &str,
    visit_id: &str,
    participant_id: &str,
    now: i64,
) -> Result<bool, StoreError> {
    let row: Option<(i32,)> = sqlx::query_as(
        "SELECT 1 FROM visit_links l JOIN visits v ON v.id = l.visit_id \
         WHERE l.token_hash = $1 AND l.visit_id = $2 AND l.participant_id = $3 \
           AND l.revoked_at IS NULL AND l.expires_at > $4 \
           AND v.state NOT IN ('ended', 'cancelled', 'no_show')",
    )
    .bind(hash)
    .bind(visit_id)
    .bind(participant_id)
    .bind(now)
    .fetch_optional(conn)
    .await?;
    Ok(row.is_some())
}

/// Revokes every live link of a participant; how many were revoked.
pub async fn revoke_links(
    conn: &mut Conn,
    visit_id: &str,
    participant_id: &str,
    now: i64,
) -> Result<u64, StoreError> {
    let done = sqlx::query(
        "UPDATE visit_links SET revoked_at = $1 \
         WHERE visit_id = $2 AND participant_id = $3 AND revoked_at IS NULL",
    )
    .bind(now)
    .bind(visit_id)
    .bind(participant_id)
    .execute(conn)
    .await?;
    Ok(done.rows_affected())
}
