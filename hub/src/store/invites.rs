//! Invitations to join an organization with a role.

use super::{Conn, StoreError};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct InviteRow {
    pub id: String,
    pub org_id: String,
    pub email: String,
    pub role: String,
    pub created_by: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub accepted_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

const COLUMNS: &str =
    "id, org_id, email, role, created_by, created_at, expires_at, accepted_at, revoked_at";

pub struct NewInvite<'a> {
    pub id: &'a str,
    pub org_id: &'a str,
    pub email: &'a str,
    pub role: &'a str,
    pub token_hash: &'a str,
    pub created_by: &'a str,
    pub now: i64,
    pub expires_at: i64,
}

pub async fn insert(conn: &mut Conn, i: &NewInvite<'_>) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO invites (id, org_id, email, role, token_hash, created_by, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(i.id)
    .bind(i.org_id)
    .bind(i.email)
    .bind(i.role)
    .bind(i.token_hash)
    .bind(i.created_by)
    .bind(i.now)
    .bind(i.expires_at)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn by_token_hash(conn: &mut Conn, hash: &str) -> Result<Option<InviteRow>, StoreError> {
    let sql = sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM invites WHERE token_hash = $1"
    ));
    Ok(sqlx::query_as(sql).bind(hash).fetch_optional(conn).await?)
}

pub async fn list_for_org(conn: &mut Conn, org_id: &str) -> Result<Vec<InviteRow>, StoreError> {
    let sql = sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM invites WHERE org_id = $1 ORDER BY created_at DESC, id DESC"
    ));
    Ok(sqlx::query_as(sql).bind(org_id).fetch_all(conn).await?)
}

/// One invite of `org_id` (an id from another organization finds nothing).
pub async fn by_id(
    conn: &mut Conn,
    org_id: &str,
    id: &str,
) -> Result<Option<InviteRow>, StoreError> {
    let sql = sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM invites WHERE id = $1 AND org_id = $2"
    ));
    Ok(sqlx::query_as(sql)
        .bind(id)
        .bind(org_id)
        .fetch_optional(conn)
        .await?)
}

/// Revokes a pending invite of `org_id`; false if none was pending.
pub async fn revoke(conn: &mut Conn, org_id: &str, id: &str, now: i64) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "UPDATE invites SET revoked_at = $1 \
         WHERE id = $2 AND org_id = $3 AND revoked_at IS NULL AND accepted_at IS NULL",
    )
    .bind(now)
    .bind(id)
    .bind(org_id)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Marks the invite accepted if it is still pending and unexpired. Atomic, so an
/// invite link works once even when clicked twice at the same moment.
pub async fn accept(
    conn: &mut Conn,
    id: &str,
    user_id: &str,
    now: i64,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "UPDATE invites SET accepted_at = $1, accepted_by = $2 \
         WHERE id = $3 AND accepted_at IS NULL AND revoked_at IS NULL AND expires_at > $1",
    )
    .bind(now)
    .bind(user_id)
    .bind(id)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}
