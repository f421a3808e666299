//! Canonical form and hash of an audit row.

use sha2::{Digest, Sha256};

use super::key::{ChainKey, Purpose};
use crate::store::audit::AuditRow;

/// The `prev_hash` of the first row.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The row's canonical content: a JSON array in a fixed field order (absent
/// values as `null`), so the encoding is unambiguous: no separator inside a value
/// can shift a field boundary, and verifiers in other languages can recompute it.
fn canonical(row: &AuditRow) -> String {
    serde_json::json!([
        row.seq,
        row.id,
        row.at,
        row.actor_id,
        row.actor_ip,
        row.action,
        row.outcome,
        row.org_id,
        row.target_type,
        row.target_id,
        row.details,
    ])
    .to_string()
}

/// SHA-256 over the previous hash, a newline and the canonical content, hex
/// encoded: the hash of rows written before the chain was keyed (legacy rows).
pub fn row_hash(row: &AuditRow) -> String {
    let mut hasher = Sha256::new();
    hasher.update(row.prev_hash.as_bytes());
    hasher.update(b"\n");
    hasher.update(canonical(row).as_bytes());
    hex::encode(hasher.finalize())
}

/// HMAC-SHA256 under the audit key over the same bytes as [`row_hash`]: the
/// hash of every row written since the chain was keyed. Without the key nobody
/// can write a row, or recompute the chain after changing one, that verifies.
pub fn row_mac(key: &ChainKey, row: &AuditRow) -> String {
    key.mac(
        Purpose::Row,
        &[row.prev_hash.as_bytes(), canonical(row).as_bytes()],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row() -> AuditRow {
        AuditRow {
            seq: 1,
            id: "a".into(),
            at: 1,
            actor_id: None,
            actor_ip: None,
            action: "auth.login".into(),
            outcome: "success".into(),
            org_id: None,
            target_type: None,
            target_id: None,
            details: "{}".into(),
            prev_hash: GENESIS_HASH.into(),
            hash: String::new(),
        }
    }

    #[test]
    fn every_field_is_covered() {
        let base = row_hash(&row());
        let mut changed = row();
        changed.outcome = "failure".into();
        assert_ne!(row_hash(&changed), base);
        let mut changed = row();
        changed.prev_hash = "1".repeat(64);
        assert_ne!(row_hash(&changed), base);
        let mut changed = row();
        changed.actor_id = Some(String::new());
        assert_ne!(row_hash(&changed), base, "None and empty must differ");
    }

    #[test]
    fn the_mac_needs_the_key() {
        let r = row();
        let key = ChainKey::new(&[1u8; 32]);
        assert_ne!(row_mac(&key, &r), row_hash(&r));
        assert_ne!(row_mac(&key, &r), row_mac(&ChainKey::new(&[2u8; 32]), &r));
        let mut changed = row();
        changed.details = "{\"x\":1}".into();
        assert_ne!(row_mac(&key, &changed), row_mac(&key, &r));
    }

    #[test]
    fn hash_ignores_stored_hash_field() {
        let mut r = row();
        let h = row_hash(&r);
        r.hash = h.clone();
        assert_eq!(row_hash(&r), h);
    }
}
