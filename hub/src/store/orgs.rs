//! Organizations and the per-organization roles of their members.

use super::{Conn, StoreError};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OrgRow {
    pub id: String,
    pub name: String,
    pub created_at: i64,
}

/// A member as listed to an organization's staff.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct MemberRow {
    pub user_id: String,
    pub email: String,
    pub display_name: String,
    pub role: String,
    pub created_at: i64,
    /// The account's status (`active`, `disabled`).
    pub status: String,
}

/// One of a user's memberships, with its organization's name.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct MembershipRow {
    pub org_id: String,
    pub org_name: String,
    pub org_created_at: i64,
    pub role: String,
}

pub async fn insert(
    conn: &mut Conn,
    id: &str,
    name: &str,
    created_by: Option<&str>,
    now: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO organizations (id, name, created_by, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $4)",
    )
    .bind(id)
    .bind(name)
    .bind(created_by)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn by_id(conn: &mut Conn, id: &str) -> Result<Option<OrgRow>, StoreError> {
    Ok(
        sqlx::query_as("SELECT id, name, created_at FROM organizations WHERE id = $1")
            .bind(id)
            .fetch_optional(conn)
            .await?,
    )
}

pub async fn by_name(conn: &mut Conn, name: &str) -> Result<Option<OrgRow>, StoreError> {
    Ok(
        sqlx::query_as("SELECT id, name, created_at FROM organizations WHERE name = $1")
            .bind(name)
            .fetch_optional(conn)
            .await?,
    )
}

pub async fn list_all(conn: &mut Conn) -> Result<Vec<OrgRow>, StoreError> {
    Ok(
        sqlx::query_as("SELECT id, name, created_at FROM organizations ORDER BY name")
            .fetch_all(conn)
            .await?,
    )
}

pub async fn rename(conn: &mut Conn, id: &str, name: &str, now: i64) -> Result<bool, StoreError> {
    let done = sqlx::query("UPDATE organizations SET name = $1, updated_at = $2 WHERE id = $3")
        .bind(name)
        .bind(now)
        .bind(id)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// The role `user_id` holds in `org_id`, if any.
pub async fn role_of(
    conn: &mut Conn,
    org_id: &str,
    user_id: &str,
) -> Result<Option<String>, StoreError> {
    Ok(
        sqlx::query_scalar("SELECT role FROM memberships WHERE org_id = $1 AND user_id = $2")
            .bind(org_id)
            .bind(user_id)
            .fetch_optional(conn)
            .await?,
    )
}

/// Grants `role` in `org_id`, replacing any role already held there.
pub async fn upsert_membership(
    conn: &mut Conn,
    org_id: &str,
    user_id: &str,
    role: &str,
    now: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO memberships (org_id, user_id, role, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $4) \
         ON CONFLICT (org_id, user_id) DO UPDATE SET role = excluded.role, \
         updated_at = excluded.updated_at",
    )
    .bind(org_id)
    .bind(user_id)
    .bind(role)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn remove_membership(
    conn: &mut Conn,
    org_id: &str,
    user_id: &str,
) -> Result<bool, StoreError> {
    let done = sqlx::query("DELETE FROM memberships WHERE org_id = $1 AND user_id = $2")
        .bind(org_id)
        .bind(user_id)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn count_admins(conn: &mut Conn, org_id: &str) -> Result<i64, StoreError> {
    Ok(
        sqlx::query_scalar("SELECT COUNT(*) FROM memberships WHERE org_id = $1 AND role = 'admin'")
            .bind(org_id)
            .fetch_one(conn)
            .await?,
    )
}

pub async fn members(conn: &mut Conn, org_id: &str) -> Result<Vec<MemberRow>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT u.id AS user_id, u.email, u.display_name, m.role, m.created_at, u.status \
         FROM memberships m JOIN users u ON u.id = m.user_id \
         WHERE m.org_id = $1 ORDER BY u.display_name, u.id",
    )
    .bind(org_id)
    .fetch_all(conn)
    .await?)
}

/// The organization's admins.
pub async fn admins(conn: &mut Conn, org_id: &str) -> Result<Vec<MemberRow>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT u.id AS user_id, u.email, u.display_name, m.role, m.created_at, u.status \
         FROM memberships m JOIN users u ON u.id = m.user_id \
         WHERE m.org_id = $1 AND m.role = 'admin' ORDER BY u.display_name, u.id",
    )
    .bind(org_id)
    .fetch_all(conn)
    .await?)
}

pub async fn memberships_of(
    conn: &mut Conn,
    user_id: &str,
) -> Result<Vec<MembershipRow>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT o.id AS org_id, o.name AS org_name, o.created_at AS org_created_at, m.role \
         FROM memberships m JOIN organizations o ON o.id = m.org_id \
         WHERE m.user_id = $1 ORDER BY o.name",
    )
    .bind(user_id)
    .fetch_all(conn)
    .await?)
}
