//! The tamper-evident audit log.
//!
//! Each row's hash is SHA-256 over the previous row's hash and the row's canonical
//! content, so changing, removing or inserting a row breaks the chain from that row
//! on. Rows are written in the same transaction as the change they record: a change
//! that commits is always audited, and an audit row never describes a change that
//! rolled back.

mod chain;
mod event;
mod verify;

pub use chain::{GENESIS_HASH, row_hash};
pub use event::{AuditEvent, Outcome};
pub use verify::{Problem, ProblemKind, VerifyReport, verify};

use sqlx::{Any, Transaction};

use crate::store::{Conn, StoreError, audit as rows};

/// Appends `event` to the chain inside the caller's transaction.
pub async fn append(conn: &mut Conn, event: &AuditEvent, now_ms: i64) -> Result<i64, StoreError> {
    let (seq, prev_hash) = rows::advance_head(conn).await?;
    let mut row = rows::AuditRow {
        seq,
        id: uuid::Uuid::now_v7().to_string(),
        at: now_ms,
        actor_id: event.actor_id.clone(),
        actor_ip: event.actor_ip.clone(),
        action: event.action.to_owned(),
        outcome: event.outcome.as_str().to_owned(),
        org_id: event.org_id.clone(),
        target_type: event.target_type.map(str::to_owned),
        target_id: event.target_id.clone(),
        details: event.details.to_string(),
        prev_hash,
        hash: String::new(),
    };
    row.hash = row_hash(&row);
    rows::insert(conn, &row).await?;
    rows::set_head_hash(conn, &row.hash).await?;
    tracing::info!(
        target: "audit",
        seq,
        action = event.action,
        outcome = event.outcome.as_str(),
        actor = event.actor_id.as_deref().unwrap_or("-"),
        "audit"
    );
    Ok(seq)
}

/// Appends `event` as the last write of `tx` and commits: the common ending of a
/// change that is audited, so the change and its audit row land together.
pub async fn commit_with(
    mut tx: Transaction<'_, Any>,
    event: &AuditEvent,
    now_ms: i64,
) -> Result<i64, StoreError> {
    let seq = append(&mut tx, event, now_ms).await?;
    tx.commit().await?;
    Ok(seq)
}
