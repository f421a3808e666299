//! The tamper-evident audit log.
//!
//! Each row's hash is an HMAC-SHA256, under the audit key, over the previous
//! row's hash and the row's canonical content, so changing, removing or
//! inserting a row breaks the chain from that row on, and nobody without the key
//! (which the database does not hold) can recompute the chain after changing it
//! or append a row that verifies. Signed checkpoints of the head, written outside
//! the database, catch what a chain alone cannot: rows cut from the end, or all
//! of them. Rows written before the key existed stay verifiable as legacy rows
//! (see `start`). Rows are written in the same transaction as the change they
//! record: a change that commits is always audited, and an audit row never
//! describes a change that rolled back.

mod chain;
mod checkpoint;
mod checkpointer;
mod event;
mod key;
mod start;
mod verdict;
mod verify;
mod walk;

pub use chain::{GENESIS_HASH, row_hash, row_mac};
pub use checkpoint::{Checkpoint, CheckpointFile, read as read_checkpoints};
pub use checkpointer::{CheckpointError, Checkpointer};
pub use event::{AuditEvent, Outcome};
pub use key::{ChainKey, install as install_key, installed as installed_key};
pub use start::{ChainStart, ensure as ensure_chain_start};
pub use verdict::{ChainFault, ChainVerdict, chain_verdict};
pub use verify::{Problem, ProblemKind, VerifyReport, verify};

use sqlx::{Any, Transaction};

use crate::store::{Conn, StoreError, audit as rows};

/// Appends `event` to the chain inside the caller's transaction.
///
/// The row is keyed with the process's installed audit key ([`install_key`],
/// done at startup); without one the append fails rather than write a row that
/// could be forged.
pub async fn append(conn: &mut Conn, event: &AuditEvent, now_ms: i64) -> Result<i64, StoreError> {
    let key = installed_key().ok_or(StoreError::NotConfigured("the audit key is not loaded"))?;
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
    row.hash = row_mac(&key, &row);
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
