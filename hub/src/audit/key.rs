//! The audit key: what makes the chain tamper-evident to someone who can write
//! the database.
//!
//! A plain hash chain can be recomputed by anyone who edits a row. Keyed with
//! HMAC-SHA256 under a key the database does not hold, a row (or a checkpoint of
//! the head, or the record of where keyed rows begin) can only be written by a
//! process that has the key. One configured key (`secrets.audit_key`) is split
//! into a subkey per purpose, so a MAC made for one purpose can never be passed
//! off as another.

use std::sync::{Arc, RwLock};

use hmac::{Hmac, Mac};
use sha2::Sha256;
use zeroize::Zeroizing;

type HmacSha256 = Hmac<Sha256>;

/// The subkeys derived from the configured audit key.
pub struct ChainKey {
    rows: Zeroizing<[u8; 32]>,
    checkpoints: Zeroizing<[u8; 32]>,
    seal: Zeroizing<[u8; 32]>,
}

impl std::fmt::Debug for ChainKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ChainKey(****)")
    }
}

/// What a MAC is for; each purpose has its own subkey.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Purpose {
    Row,
    Checkpoint,
    Seal,
}

impl ChainKey {
    /// Derives the subkeys as HMAC-SHA256(key, label), one label per purpose.
    pub fn new(key: &[u8]) -> Self {
        let derive = |label: &[u8]| {
            let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes any key length");
            mac.update(label);
            Zeroizing::new(<[u8; 32]>::from(mac.finalize().into_bytes()))
        };
        Self {
            rows: derive(b"healthbridge audit v1: rows"),
            checkpoints: derive(b"healthbridge audit v1: checkpoints"),
            seal: derive(b"healthbridge audit v1: chain seal"),
        }
    }

    /// Hex HMAC-SHA256 of `parts` joined by newlines, under the purpose's subkey.
    pub(crate) fn mac(&self, purpose: Purpose, parts: &[&[u8]]) -> String {
        let key: &[u8] = match purpose {
            Purpose::Row => self.rows.as_slice(),
            Purpose::Checkpoint => self.checkpoints.as_slice(),
            Purpose::Seal => self.seal.as_slice(),
        };
        let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes any key length");
        for (i, part) in parts.iter().enumerate() {
            if i > 0 {
                mac.update(b"\n");
            }
            mac.update(part);
        }
        hex::encode(mac.finalize().into_bytes())
    }

    /// Constant-time comparison of a stored hex MAC with the expected one.
    pub(crate) fn matches(expected: &str, stored: &str) -> bool {
        use subtle::ConstantTimeEq;
        expected.len() == stored.len() && bool::from(expected.as_bytes().ct_eq(stored.as_bytes()))
    }
}

/// The key every append in this process uses.
///
/// A process runs one hub with one audit key, and audited changes append from
/// dozens of places that hold only a database connection; a process-wide key
/// keeps that signature instead of threading the key through every caller.
/// Several servers in one process (the system tests) must share the key.
static INSTALLED: RwLock<Option<Arc<ChainKey>>> = RwLock::new(None);

/// Makes `key` the one appends use (at startup, before serving).
pub fn install(key: Arc<ChainKey>) {
    *INSTALLED.write().unwrap_or_else(|p| p.into_inner()) = Some(key);
}

/// The installed key, if any.
pub fn installed() -> Option<Arc<ChainKey>> {
    INSTALLED.read().unwrap_or_else(|p| p.into_inner()).clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn purposes_and_keys_give_different_macs() {
        let key = ChainKey::new(&[7u8; 32]);
        let row = key.mac(Purpose::Row, &[b"a", b"b"]);
        assert_ne!(row, key.mac(Purpose::Checkpoint, &[b"a", b"b"]));
        assert_ne!(row, key.mac(Purpose::Seal, &[b"a", b"b"]));
        assert_ne!(
            row,
            ChainKey::new(&[8u8; 32]).mac(Purpose::Row, &[b"a", b"b"])
        );
        assert!(ChainKey::matches(&row, &row.clone()));
        assert!(!ChainKey::matches(&row, &row[1..]));
    }
}
