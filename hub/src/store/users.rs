//! Accounts.

use super::{Conn, StoreError, flag};

/// A stored account. `password_hash` is an argon2id PHC string.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct UserRow {
    pub id: String,
    pub email: String,
    pub display_name: String,
    pub password_hash: String,
    pub platform_admin: i64,
    pub status: String,
    pub mfa_enabled: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

impl UserRow {
    pub fn is_platform_admin(&self) -> bool {
        flag(self.platform_admin)
    }

    pub fn mfa_enabled(&self) -> bool {
        flag(self.mfa_enabled)
    }

    pub fn is_active(&self) -> bool {
        self.status == "active"
    }
}

const COLUMNS: &str = "id, email, display_name, password_hash, platform_admin, status, \
                       mfa_enabled, created_at, updated_at";

pub struct NewUser<'a> {
    pub id: &'a str,
    pub email: &'a str,
    pub display_name: &'a str,
    pub password_hash: &'a str,
    pub platform_admin: bool,
    pub now: i64,
}

/// Inserts an account; a taken email surfaces as `StoreError::UniqueViolation`.
pub async fn insert(conn: &mut Conn, user: &NewUser<'_>) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO users (id, email, display_name, password_hash, platform_admin, status, \
         mfa_enabled, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, 'active', 0, $6, $6)",
    )
    .bind(user.id)
    .bind(user.email)
    .bind(user.display_name)
    .bind(user.password_hash)
    .bind(i64::from(user.platform_admin))
    .bind(user.now)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn by_email(conn: &mut Conn, email: &str) -> Result<Option<UserRow>, StoreError> {
    let sql = sqlx::AssertSqlSafe(format!("SELECT {COLUMNS} FROM users WHERE email = $1"));
    Ok(sqlx::query_as(sql).bind(email).fetch_optional(conn).await?)
}

pub async fn by_id(conn: &mut Conn, id: &str) -> Result<Option<UserRow>, StoreError> {
    let sql = sqlx::AssertSqlSafe(format!("SELECT {COLUMNS} FROM users WHERE id = $1"));
    Ok(sqlx::query_as(sql).bind(id).fetch_optional(conn).await?)
}

pub async fn set_password_hash(
    conn: &mut Conn,
    id: &str,
    hash: &str,
    now: i64,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE users SET password_hash = $1, updated_at = $2 WHERE id = $3")
        .bind(hash)
        .bind(now)
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn set_mfa_enabled(
    conn: &mut Conn,
    id: &str,
    enabled: bool,
    now: i64,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE users SET mfa_enabled = $1, updated_at = $2 WHERE id = $3")
        .bind(i64::from(enabled))
        .bind(now)
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn set_platform_admin(
    conn: &mut Conn,
    id: &str,
    admin: bool,
    now: i64,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE users SET platform_admin = $1, updated_at = $2 WHERE id = $3")
        .bind(i64::from(admin))
        .bind(now)
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Sets the account's status (`active` or `disabled`); false if there is no such account.
pub async fn set_status(
    conn: &mut Conn,
    id: &str,
    status: &str,
    now: i64,
) -> Result<bool, StoreError> {
    let done = sqlx::query("UPDATE users SET status = $1, updated_at = $2 WHERE id = $3")
        .bind(status)
        .bind(now)
        .bind(id)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Records which organization's admin disabled the account (`None`: a platform
/// admin did, or the account is active again).
pub async fn set_disabled_by_org(
    conn: &mut Conn,
    id: &str,
    org_id: Option<&str>,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE users SET disabled_by_org = $1 WHERE id = $2")
        .bind(org_id)
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

/// The organization whose admin disabled the account, if one did.
pub async fn disabled_by_org(conn: &mut Conn, id: &str) -> Result<Option<String>, StoreError> {
    Ok(
        sqlx::query_scalar::<_, Option<String>>("SELECT disabled_by_org FROM users WHERE id = $1")
            .bind(id)
            .fetch_optional(conn)
            .await?
            .flatten(),
    )
}

/// Accounts holding the platform-admin flag, by name.
pub async fn platform_admins(conn: &mut Conn) -> Result<Vec<UserRow>, StoreError> {
    let sql = sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM users WHERE platform_admin = 1 ORDER BY display_name, id"
    ));
    Ok(sqlx::query_as(sql).fetch_all(conn).await?)
}

/// How many active accounts hold the platform-admin flag. Locks those rows first
/// (a no-op update), so two admins disabling each other at once are serialized and
/// the second sees the first's change (SQLite's write transactions already are).
pub async fn count_active_platform_admins(conn: &mut Conn) -> Result<i64, StoreError> {
    sqlx::query("UPDATE users SET updated_at = updated_at WHERE platform_admin = 1")
        .execute(&mut *conn)
        .await?;
    let n: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM users WHERE platform_admin = 1 AND status = 'active'",
    )
    .fetch_one(conn)
    .await?;
    Ok(n)
}
