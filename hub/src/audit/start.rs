//! Where the keyed chain begins: the boundary between legacy rows (plain SHA-256,
//! written before the audit key existed) and keyed rows, sealed under the key.
//!
//! Upgrading keeps legacy rows as they are rather than rewriting them: rewriting
//! audit rows would need the append-only guards lifted and would launder any
//! tampering done before the upgrade. Instead the first start with the key
//! records the head at that moment (`legacy_seq`, `legacy_hash`) and seals it.
//! Every keyed row after it links to that hash under the key, so the legacy
//! rows are pinned too: rewriting one changes the hash the seal records. The
//! seal also names the chain (a random id) so checkpoints can tell a log that was
//! wiped and started over from the one they recorded.

use serde_json::json;

use super::key::{ChainKey, Purpose};
use crate::store::{Store, StoreError, audit as rows};

pub use crate::store::audit::ChainStartRow as ChainStart;

fn seal(key: &ChainKey, start: &ChainStart) -> String {
    let content = json!([
        start.chain_id,
        start.legacy_seq,
        start.legacy_hash,
        start.created_at
    ])
    .to_string();
    key.mac(Purpose::Seal, &[content.as_bytes()])
}

/// True when the record was sealed with `key` and not changed since.
pub fn is_sealed(key: &ChainKey, start: &ChainStart) -> bool {
    ChainKey::matches(&seal(key, start), &start.mac)
}

/// The chain's start, written now if this database has none yet (its first start
/// with the audit key: a new install, or an upgrade from an unkeyed chain).
pub async fn ensure(store: &Store, key: &ChainKey, now_ms: i64) -> Result<ChainStart, StoreError> {
    let mut tx = store.begin_write().await?;
    if let Some(start) = rows::chain_start(&mut tx).await? {
        return Ok(start);
    }
    // Locking the head first: no row can be appended between reading it and
    // sealing it, so the boundary is exact.
    let (legacy_seq, legacy_hash) = rows::lock_head(&mut tx).await?;
    let mut start = ChainStart {
        chain_id: uuid::Uuid::new_v4().to_string(),
        legacy_seq,
        legacy_hash,
        created_at: now_ms,
        mac: String::new(),
    };
    start.mac = seal(key, &start);
    rows::insert_chain_start(&mut tx, &start).await?;
    let stored = rows::chain_start(&mut tx).await?;
    tx.commit().await?;
    if legacy_seq > 0 {
        tracing::warn!(
            legacy_seq,
            "audit chain keyed from now on; earlier rows stay verifiable as legacy rows"
        );
    }
    stored.ok_or_else(|| StoreError::Corrupt("audit_chain row missing after insert".into()))
}
