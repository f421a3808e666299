//! Seals PHI text written before it was encrypted at rest.
//!
//! An SQL migration cannot encrypt (the database does not hold the key), so `hub serve`
//! runs this after the migrations and before it listens: every row of a sealed column
//! still in plaintext (no [`sealed::PREFIX`]) is sealed in place. Each update names the
//! plaintext it replaces, so nodes starting together never seal a value twice, and a row
//! an older node writes during a rolling upgrade is still read as plaintext until the
//! next start seals it.

use sqlx::Row;

use super::{
    Conn, StoreError,
    sealed::{self, Column},
};
use crate::crypto::Keyring;

/// One sealed column: where it lives and how its row id is built.
struct Target {
    column: Column,
    /// SQL expression of the row id, as [`Column`]'s associated data names it.
    row_id: &'static str,
    /// The row's key columns and their SQL expressions, for the update.
    key: &'static [&'static str],
}

const TARGETS: &[Target] = &[
    Target {
        column: sealed::ROOM_TITLE,
        row_id: "id",
        key: &["id"],
    },
    Target {
        column: sealed::APPOINTMENT_REASON,
        row_id: "id",
        key: &["id"],
    },
    Target {
        column: sealed::APPOINTMENT_CANCEL_REASON,
        row_id: "id",
        key: &["id"],
    },
    Target {
        column: sealed::EXCEPTION_REASON,
        row_id: "id",
        key: &["id"],
    },
    Target {
        column: sealed::PARTICIPANT_NAME,
        row_id: "visit_id || '/' || participant_id",
        key: &["visit_id", "participant_id"],
    },
];

/// Rows sealed per statement batch: bounded memory on a large table.
const BATCH: i64 = 500;

/// Seals every plaintext value of every sealed column; how many were sealed.
///
/// # Errors
///
/// Any database error; rows sealed before it stay sealed.
pub async fn run(conn: &mut Conn, keyring: &Keyring) -> Result<u64, StoreError> {
    let mut total = 0;
    for target in TARGETS {
        total += seal_column(conn, keyring, target).await?;
    }
    Ok(total)
}

async fn seal_column(conn: &mut Conn, keyring: &Keyring, t: &Target) -> Result<u64, StoreError> {
    let Column { table, column } = t.column;
    let keys = t.key.join(", ");
    let select = format!(
        "SELECT {row_id} AS row_id, {keys}, {column} AS plain FROM {table} \
         WHERE {column} IS NOT NULL AND substr({column}, 1, {len}) <> '{prefix}' LIMIT {BATCH}",
        row_id = t.row_id,
        len = sealed::PREFIX.len(),
        prefix = sealed::PREFIX,
    );
    let matches: Vec<String> = t
        .key
        .iter()
        .enumerate()
        .map(|(i, k)| format!("{k} = ${}", i + 3))
        .collect();
    let update = format!(
        "UPDATE {table} SET {column} = $1 WHERE {column} = $2 AND {}",
        matches.join(" AND ")
    );
    let mut sealed_count = 0;
    loop {
        let rows = sqlx::query(sqlx::AssertSqlSafe(select.clone()))
            .fetch_all(&mut *conn)
            .await?;
        if rows.is_empty() {
            return Ok(sealed_count);
        }
        let before = sealed_count;
        for row in &rows {
            let row_id: String = row.try_get("row_id")?;
            let plain: String = row.try_get("plain")?;
            let mut query = sqlx::query(sqlx::AssertSqlSafe(update.clone()))
                .bind(t.column.seal(keyring, &row_id, &plain))
                .bind(plain);
            for key in t.key {
                query = query.bind(row.try_get::<String, _>(*key)?);
            }
            sealed_count += query.execute(&mut *conn).await?.rows_affected();
        }
        if sealed_count == before {
            // Every row of the batch changed under us: another node is sealing this
            // column and will finish it.
            return Ok(sealed_count);
        }
    }
}
