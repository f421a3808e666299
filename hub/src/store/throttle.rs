//! Failed-login counters, kept in the database so every node sees the same count.

use super::{Conn, StoreError};

#[derive(Debug, Clone, Default, sqlx::FromRow)]
pub struct ThrottleRow {
    pub failures: i64,
    pub first_failure_at: i64,
    pub last_failure_at: i64,
    pub locked_until: Option<i64>,
}

pub async fn get(conn: &mut Conn, key: &str) -> Result<Option<ThrottleRow>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT failures, first_failure_at, last_failure_at, locked_until \
         FROM login_throttle WHERE key = $1",
    )
    .bind(key)
    .fetch_optional(conn)
    .await?)
}

pub async fn put(conn: &mut Conn, key: &str, row: &ThrottleRow) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO login_throttle (key, failures, first_failure_at, last_failure_at, locked_until) \
         VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (key) DO UPDATE SET failures = excluded.failures, \
         first_failure_at = excluded.first_failure_at, \
         last_failure_at = excluded.last_failure_at, locked_until = excluded.locked_until",
    )
    .bind(key)
    .bind(row.failures)
    .bind(row.first_failure_at)
    .bind(row.last_failure_at)
    .bind(row.locked_until)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn clear(conn: &mut Conn, key: &str) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM login_throttle WHERE key = $1")
        .bind(key)
        .execute(conn)
        .await?;
    Ok(())
}
