//! Seals PHI text written before it was encrypted at rest.
//!
//! An SQL migration cannot encrypt (the database does not hold the key), so `hub serve`
//! runs this after the migrations and before it listens: every row of a sealed column
//! still in plaintext (no [`sealed::PREFIX`]) is sealed in place. Each update names the
//! plaintext it replaces, so nodes starting together never seal a value twice, and a row
//! an older node writes during a rolling upgrade is still read as plaintext until the
//! next start seals it.
//!
//! So the search runs at every start, and must stay cheap once every row is sealed: a
//! partial index per column holds only its plaintext rows (migration
//! `0009_unsealed_phi_index`), and the query below repeats that index's predicate word
//! for word (a `NULL` fails it, as it should) and orders by the index's key, which is
//! what lets PostgreSQL and SQLite read the (then empty) index instead of the table.

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

/// The next batch of a column's plaintext rows, read through its partial index.
fn select_plaintext(t: &Target) -> String {
    let Column { table, column } = t.column;
    let keys = t.key.join(", ");
    format!(
        "SELECT {row_id} AS row_id, {keys}, {column} AS plain FROM {table} \
         WHERE substr({column}, 1, {len}) <> '{prefix}' ORDER BY {keys} LIMIT {BATCH}",
        row_id = t.row_id,
        len = sealed::PREFIX.len(),
        prefix = sealed::PREFIX,
    )
}

async fn seal_column(conn: &mut Conn, keyring: &Keyring, t: &Target) -> Result<u64, StoreError> {
    let Column { table, column } = t.column;
    let select = select_plaintext(t);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Dialect, Store};

    /// Each column's search reads its partial index, not the table: the predicate and
    /// key of `select_plaintext` match the migration's index, which SQLite's planner
    /// only uses if they do (PostgreSQL's likewise, and it also needs the ORDER BY).
    #[tokio::test]
    async fn the_search_for_plaintext_reads_only_the_partial_index() {
        let path = std::env::temp_dir().join(format!("seal-backfill-{}.db", std::process::id()));
        let store = Store::connect(
            &format!("sqlite://{}?mode=rwc", path.display()),
            Dialect::Sqlite,
        )
        .await
        .expect("connect");
        store.migrate().await.expect("migrate");
        let mut conn = store.conn().await.expect("conn");
        for t in TARGETS {
            let plan: Vec<String> = sqlx::query(sqlx::AssertSqlSafe(format!(
                "EXPLAIN QUERY PLAN {}",
                select_plaintext(t)
            )))
            .fetch_all(&mut *conn)
            .await
            .expect("explain")
            .iter()
            .map(|row| row.try_get::<String, _>("detail").expect("detail"))
            .collect();
            let index = format!("{}_{}_unsealed", t.column.table, t.column.column);
            assert_eq!(
                plan,
                [format!("SCAN {} USING INDEX {index}", t.column.table)],
                "{}",
                select_plaintext(t)
            );
        }
        for migrations in [
            include_str!("../../../migrations/sqlite/0009_unsealed_phi_index.sql"),
            include_str!("../../../migrations/postgres/0009_unsealed_phi_index.sql"),
        ] {
            let text = migrations.split_whitespace().collect::<Vec<_>>().join(" ");
            for t in TARGETS {
                let Column { table, column } = t.column;
                let index = format!(
                    "ON {table} ({}) WHERE substr({column}, 1, {}) <> '{}';",
                    t.key.join(", "),
                    sealed::PREFIX.len(),
                    sealed::PREFIX
                );
                assert!(text.contains(&index), "{index}");
            }
        }
        drop(conn);
        store.pool().close().await;
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
    }
}
