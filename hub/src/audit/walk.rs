//! Following the chain row by row: the check shared by `hub audit verify` (from
//! the first row) and the checkpointer (from its last checkpoint).

use super::{
    chain::{row_hash, row_mac},
    key::ChainKey,
    start::ChainStart,
};
use crate::store::audit::AuditRow;

/// Why a row does not continue the chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fault {
    /// Rows from `expected` to `row.seq - 1` are missing.
    Gap { expected: i64 },
    /// The row's sequence number is out of order.
    OutOfOrder,
    /// The row does not link to the previous row's hash.
    BadLink,
    /// The row's hash is not what its content gives: under the audit key for
    /// keyed rows, SHA-256 (and the sealed boundary hash) for legacy rows.
    BadHash,
}

/// The position reached so far: the next expected row and the hash it must link to.
pub(crate) struct Walk<'a> {
    key: &'a ChainKey,
    legacy_seq: i64,
    legacy_hash: &'a str,
    pub next_seq: i64,
    pub prev_hash: String,
}

impl<'a> Walk<'a> {
    /// A walk that continues after row `seq` whose hash is `hash` (0 and the
    /// genesis hash for the whole chain).
    pub fn after(key: &'a ChainKey, start: &'a ChainStart, seq: i64, hash: String) -> Self {
        Self {
            key,
            legacy_seq: start.legacy_seq,
            legacy_hash: &start.legacy_hash,
            next_seq: seq + 1,
            prev_hash: hash,
        }
    }

    /// Checks `row` and, if it continues the chain, moves past it.
    pub fn step(&mut self, row: &AuditRow) -> Result<(), Fault> {
        if row.seq > self.next_seq {
            return Err(Fault::Gap {
                expected: self.next_seq,
            });
        }
        if row.seq < self.next_seq {
            return Err(Fault::OutOfOrder);
        }
        if row.prev_hash != self.prev_hash {
            return Err(Fault::BadLink);
        }
        let valid = if row.seq <= self.legacy_seq {
            row_hash(row) == row.hash
                && (row.seq != self.legacy_seq || row.hash == self.legacy_hash)
        } else {
            ChainKey::matches(&row_mac(self.key, row), &row.hash)
        };
        if !valid {
            return Err(Fault::BadHash);
        }
        self.next_seq = row.seq + 1;
        self.prev_hash.clone_from(&row.hash);
        Ok(())
    }
}
