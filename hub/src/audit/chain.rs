//! Canonical form and hash of an audit row.

use sha2::{Digest, Sha256};

use crate::store::audit::AuditRow;

/// The `prev_hash` of the first row.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// SHA-256 over the previous hash and the row's canonical content, hex encoded.
///
/// The canonical content is a JSON array in a fixed field order (absent values as
/// `null`), so the encoding is unambiguous: no separator inside a value can shift
/// a field boundary, and verifiers in other languages can recompute it.
pub fn row_hash(row: &AuditRow) -> String {
    let canonical = serde_json::json!([
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
    ]);
    let mut hasher = Sha256::new();
    hasher.update(row.prev_hash.as_bytes());
    hasher.update(b"\n");
    hasher.update(canonical.to_string().as_bytes());
    hex::encode(hasher.finalize())
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
    fn hash_ignores_stored_hash_field() {
        let mut r = row();
        let h = row_hash(&r);
        r.hash = h.clone();
        assert_eq!(row_hash(&r), h);
    }
}
