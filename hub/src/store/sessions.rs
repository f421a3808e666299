//! Login sessions and their rotating refresh tokens.

use super::{Conn, StoreError};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SessionRow {
    pub id: String,
    pub user_id: String,
    pub expires_at: i64,
    pub revoked_at: Option<i64>,
}

pub struct NewSession<'a> {
    pub id: &'a str,
    pub user_id: &'a str,
    pub now: i64,
    pub expires_at: i64,
    pub client_ip: Option<&'a str>,
    pub user_agent: Option<&'a str>,
}

pub async fn insert(conn: &mut Conn, s: &NewSession<'_>) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO sessions (id, user_id, created_at, expires_at, client_ip, user_agent) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(s.id)
    .bind(s.user_id)
    .bind(s.now)
    .bind(s.expires_at)
    .bind(s.client_ip)
    .bind(s.user_agent)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn by_id(conn: &mut Conn, id: &str) -> Result<Option<SessionRow>, StoreError> {
    Ok(
        sqlx::query_as("SELECT id, user_id, expires_at, revoked_at FROM sessions WHERE id = $1")
            .bind(id)
            .fetch_optional(conn)
            .await?,
    )
}

/// Revokes one session; returns whether it was still live.
pub async fn revoke(conn: &mut Conn, id: &str, reason: &str, now: i64) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "UPDATE sessions SET revoked_at = $1, revoked_reason = $2 \
         WHERE id = $3 AND revoked_at IS NULL",
    )
    .bind(now)
    .bind(reason)
    .bind(id)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Revokes every live session of a user except `keep` (e.g. after a password change).
pub async fn revoke_all_for_user(
    conn: &mut Conn,
    user_id: &str,
    keep: Option<&str>,
    reason: &str,
    now: i64,
) -> Result<u64, StoreError> {
    let done = sqlx::query(
        "UPDATE sessions SET revoked_at = $1, revoked_reason = $2 \
         WHERE user_id = $3 AND revoked_at IS NULL AND id <> $4",
    )
    .bind(now)
    .bind(reason)
    .bind(user_id)
    .bind(keep.unwrap_or(""))
    .execute(conn)
    .await?;
    Ok(done.rows_affected())
}

pub async fn insert_refresh_token(
    conn: &mut Conn,
    token_hash: &str,
    session_id: &str,
    now: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO refresh_tokens (token_hash, session_id, created_at) VALUES ($1, $2, $3)",
    )
    .bind(token_hash)
    .bind(session_id)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// What presenting a refresh token found.
#[derive(Debug, PartialEq, Eq)]
pub enum RefreshLookup {
    /// The token was current and is now marked rotated (used exactly once).
    Rotated {
        session_id: String,
    },
    /// The token had already been rotated (at `rotated_at`): someone is
    /// replaying it, or a browser page was cut off mid-refresh.
    Reused {
        session_id: String,
        rotated_at: i64,
    },
    Unknown,
}

/// Marks the token used, atomically: of two concurrent presentations of one
/// token, exactly one gets `Rotated`.
pub async fn rotate_refresh_token(
    conn: &mut Conn,
    token_hash: &str,
    now: i64,
) -> Result<RefreshLookup, StoreError> {
    let rotated: Option<String> = sqlx::query_scalar(
        "UPDATE refresh_tokens SET rotated_at = $1 \
         WHERE token_hash = $2 AND rotated_at IS NULL RETURNING session_id",
    )
    .bind(now)
    .bind(token_hash)
    .fetch_optional(&mut *conn)
    .await?;
    if let Some(session_id) = rotated {
        return Ok(RefreshLookup::Rotated { session_id });
    }
    let existing: Option<(String, Option<i64>)> =
        sqlx::query_as("SELECT session_id, rotated_at FROM refresh_tokens WHERE token_hash = $1")
            .bind(token_hash)
            .fetch_optional(conn)
            .await?;
    Ok(match existing {
        Some((session_id, rotated_at)) => RefreshLookup::Reused {
            session_id,
            rotated_at: rotated_at.unwrap_or(0),
        },
        None => RefreshLookup::Unknown,
    })
}

/// A live session as its owner's session list shows it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct LiveSession {
    pub id: String,
    pub created_at: i64,
    /// When its newest refresh token was issued (login or the last refresh).
    pub last_used_at: Option<i64>,
    pub user_agent: Option<String>,
}

/// The user's sessions that are neither revoked nor expired, newest first (at
/// most 100).
pub async fn live_for_user(
    conn: &mut Conn,
    user_id: &str,
    now: i64,
) -> Result<Vec<LiveSession>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT s.id, s.created_at, s.user_agent, \
         (SELECT MAX(r.created_at) FROM refresh_tokens r WHERE r.session_id = s.id) AS last_used_at \
         FROM sessions s WHERE s.user_id = $1 AND s.revoked_at IS NULL AND s.expires_at > $2 \
         ORDER BY s.created_at DESC, s.id DESC LIMIT 100",
    )
    .bind(user_id)
    .bind(now)
    .fetch_all(conn)
    .await?)
}
