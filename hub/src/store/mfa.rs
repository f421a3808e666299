//! TOTP credentials and recovery codes.

use super::{Conn, StoreError};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TotpRow {
    pub user_id: String,
    pub secret_sealed: Vec<u8>,
    pub key_id: String,
    pub confirmed_at: Option<i64>,
    pub last_used_step: Option<i64>,
}

/// Stores a new, unconfirmed secret, replacing an earlier unconfirmed one.
pub async fn put_pending(
    conn: &mut Conn,
    user_id: &str,
    sealed: &[u8],
    key_id: &str,
    now: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO totp_credentials (user_id, secret_sealed, key_id, created_at) \
         VALUES ($1, $2, $3, $4) \
         ON CONFLICT (user_id) DO UPDATE SET secret_sealed = excluded.secret_sealed, \
         key_id = excluded.key_id, created_at = excluded.created_at, \
         confirmed_at = NULL, last_used_step = NULL",
    )
    .bind(user_id)
    .bind(sealed.to_vec())
    .bind(key_id)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn get(conn: &mut Conn, user_id: &str) -> Result<Option<TotpRow>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT user_id, secret_sealed, key_id, confirmed_at, last_used_step \
         FROM totp_credentials WHERE user_id = $1",
    )
    .bind(user_id)
    .fetch_optional(conn)
    .await?)
}

pub async fn confirm(conn: &mut Conn, user_id: &str, now: i64) -> Result<(), StoreError> {
    sqlx::query("UPDATE totp_credentials SET confirmed_at = $1 WHERE user_id = $2")
        .bind(now)
        .bind(user_id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Records the time step a code was accepted for, only if it is newer than the
/// last one: a compare-and-set, so a code cannot be replayed even by two
/// concurrent logins on different nodes.
pub async fn claim_step(conn: &mut Conn, user_id: &str, step: i64) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "UPDATE totp_credentials SET last_used_step = $1 \
         WHERE user_id = $2 AND (last_used_step IS NULL OR last_used_step < $1)",
    )
    .bind(step)
    .bind(user_id)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn delete(conn: &mut Conn, user_id: &str) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM totp_credentials WHERE user_id = $1")
        .bind(user_id)
        .execute(&mut *conn)
        .await?;
    sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1")
        .bind(user_id)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn replace_recovery_codes(
    conn: &mut Conn,
    user_id: &str,
    code_hashes: &[String],
) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1")
        .bind(user_id)
        .execute(&mut *conn)
        .await?;
    for hash in code_hashes {
        sqlx::query("INSERT INTO recovery_codes (code_hash, user_id) VALUES ($1, $2)")
            .bind(hash)
            .bind(user_id)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// Spends a recovery code; true if it existed, belonged to the user and was unused.
pub async fn use_recovery_code(
    conn: &mut Conn,
    user_id: &str,
    code_hash: &str,
    now: i64,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "UPDATE recovery_codes SET used_at = $1 \
         WHERE code_hash = $2 AND user_id = $3 AND used_at IS NULL",
    )
    .bind(now)
    .bind(code_hash)
    .bind(user_id)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn remaining_recovery_codes(conn: &mut Conn, user_id: &str) -> Result<i64, StoreError> {
    Ok(sqlx::query_scalar(
        "SELECT COUNT(*) FROM recovery_codes WHERE user_id = $1 AND used_at IS NULL",
    )
    .bind(user_id)
    .fetch_one(conn)
    .await?)
}
