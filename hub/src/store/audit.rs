//! Rows of the hash-chained audit log. The chain logic lives in `crate::audit`;
//! this module only reads and writes rows.

use super::{Conn, Dialect, StoreError};

#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct AuditRow {
    pub seq: i64,
    pub id: String,
    pub at: i64,
    pub actor_id: Option<String>,
    pub actor_ip: Option<String>,
    pub action: String,
    pub outcome: String,
    pub org_id: Option<String>,
    pub target_type: Option<String>,
    pub target_id: Option<String>,
    pub details: String,
    pub prev_hash: String,
    pub hash: String,
}

const COLUMNS: &str = "seq, id, at, actor_id, actor_ip, action, outcome, org_id, target_type, \
                       target_id, details, prev_hash, hash";

/// Advances the head and returns `(new seq, previous hash)`. This is the first
/// write of an append, so it takes the lock that serializes appenders until the
/// caller's transaction ends.
pub async fn advance_head(conn: &mut Conn) -> Result<(i64, String), StoreError> {
    let row: (i64, String) =
        sqlx::query_as("UPDATE audit_head SET seq = seq + 1 WHERE id = 1 RETURNING seq, hash")
            .fetch_one(conn)
            .await?;
    Ok(row)
}

pub async fn set_head_hash(conn: &mut Conn, hash: &str) -> Result<(), StoreError> {
    sqlx::query("UPDATE audit_head SET hash = $1 WHERE id = 1")
        .bind(hash)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn head(conn: &mut Conn) -> Result<(i64, String), StoreError> {
    Ok(
        sqlx::query_as("SELECT seq, hash FROM audit_head WHERE id = 1")
            .fetch_one(conn)
            .await?,
    )
}

pub async fn insert(conn: &mut Conn, row: &AuditRow) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO audit_log (seq, id, at, actor_id, actor_ip, action, outcome, org_id, \
         target_type, target_id, details, prev_hash, hash) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
    )
    .bind(row.seq)
    .bind(&row.id)
    .bind(row.at)
    .bind(&row.actor_id)
    .bind(&row.actor_ip)
    .bind(&row.action)
    .bind(&row.outcome)
    .bind(&row.org_id)
    .bind(&row.target_type)
    .bind(&row.target_id)
    .bind(&row.details)
    .bind(&row.prev_hash)
    .bind(&row.hash)
    .execute(conn)
    .await?;
    Ok(())
}

/// Up to `limit` rows with `seq > after`, in chain order (for verification and paging).
pub async fn page_after(
    conn: &mut Conn,
    after: i64,
    limit: i64,
) -> Result<Vec<AuditRow>, StoreError> {
    let sql = sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2"
    ));
    Ok(sqlx::query_as(sql)
        .bind(after)
        .bind(limit)
        .fetch_all(conn)
        .await?)
}

/// The record of where the keyed chain begins (`audit_chain`, one row).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ChainStartRow {
    pub chain_id: String,
    pub legacy_seq: i64,
    pub legacy_hash: String,
    pub created_at: i64,
    pub mac: String,
}

pub async fn chain_start(conn: &mut Conn) -> Result<Option<ChainStartRow>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT chain_id, legacy_seq, legacy_hash, created_at, mac FROM audit_chain WHERE id = 1",
    )
    .fetch_optional(conn)
    .await?)
}

/// Writes the chain's start unless another node wrote it first.
pub async fn insert_chain_start(conn: &mut Conn, row: &ChainStartRow) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO audit_chain (id, chain_id, legacy_seq, legacy_hash, created_at, mac) \
         VALUES (1, $1, $2, $3, $4, $5) ON CONFLICT (id) DO NOTHING",
    )
    .bind(&row.chain_id)
    .bind(row.legacy_seq)
    .bind(&row.legacy_hash)
    .bind(row.created_at)
    .bind(&row.mac)
    .execute(conn)
    .await?;
    Ok(())
}

/// The head, locked against appenders until the caller's transaction ends.
pub async fn lock_head(conn: &mut Conn) -> Result<(i64, String), StoreError> {
    Ok(
        sqlx::query_as("UPDATE audit_head SET seq = seq WHERE id = 1 RETURNING seq, hash")
            .fetch_one(conn)
            .await?,
    )
}

/// The triggers that keep `audit_log` and `audit_chain` append-only.
const SQLITE_GUARDS: [&str; 4] = [
    "audit_log_no_update",
    "audit_log_no_delete",
    "audit_chain_no_update",
    "audit_chain_no_delete",
];
const PG_GUARDS: [&str; 4] = [
    "audit_log_no_update",
    "audit_log_no_truncate",
    "audit_chain_no_change",
    "audit_chain_no_truncate",
];

/// The append-only triggers that are missing or disabled.
pub async fn missing_guards(conn: &mut Conn, dialect: Dialect) -> Result<Vec<String>, StoreError> {
    let (names, sql): (&[&str], &str) = match dialect {
        Dialect::Sqlite => (
            &SQLITE_GUARDS,
            "SELECT name FROM sqlite_master WHERE type = 'trigger'",
        ),
        // A disabled trigger (`ALTER TABLE … DISABLE TRIGGER`) guards nothing.
        Dialect::Postgres => (
            &PG_GUARDS,
            "SELECT tgname::text FROM pg_trigger WHERE NOT tgisinternal AND tgenabled <> 'D'",
        ),
    };
    let present: Vec<String> = sqlx::query_scalar(sql).fetch_all(conn).await?;
    Ok(names
        .iter()
        .filter(|name| !present.iter().any(|p| p == *name))
        .map(|name| (*name).to_owned())
        .collect())
}
