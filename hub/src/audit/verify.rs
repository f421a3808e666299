//! Walking the chain, with the audit key and the newest checkpoint, to find the
//! first sign of tampering and name what was done.

use serde::Serialize;

use super::{
    GENESIS_HASH,
    checkpoint::Checkpoint,
    key::ChainKey,
    start::{ChainStart, is_sealed},
    walk::{Fault, Walk},
};
use crate::store::{Conn, Dialect, StoreError, audit as rows};

/// What was done to the log (docs/architecture.md, "Audit log").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProblemKind {
    /// A row the hub wrote (and checkpointed) no longer matches its keyed hash:
    /// changed, whether or not the chain after it was recomputed.
    Altered,
    /// Rows are missing before a row that is still there.
    Deleted,
    /// A row does not link to the one before it: inserted or replaced.
    Inserted,
    /// A row after the newest checkpoint was not written with the audit key:
    /// appended by someone without it.
    Forged,
    /// The log ends before the head or the newest checkpoint: rows were removed
    /// at the end.
    Truncated,
    /// Every row is gone, or the log was started over, while a checkpoint
    /// records rows of the chain.
    Wiped,
    /// The row at the checkpointed position is another valid row: the database
    /// was restored from an older copy and written again.
    Replaced,
    /// The record of where the keyed chain begins is missing or not sealed with
    /// the audit key (or the key is not this deployment's).
    Unsealed,
    /// An append-only trigger is missing or disabled.
    Unguarded,
}

#[derive(Debug, Clone, Serialize)]
pub struct Problem {
    /// The row (sequence number) the problem is found at; 0 for the log as a whole.
    pub seq: i64,
    pub kind: ProblemKind,
    pub detail: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct VerifyReport {
    pub rows_checked: u64,
    pub head_seq: i64,
    pub head_hash: String,
    /// Rows up to this one predate the audit key (plain SHA-256).
    pub legacy_seq: i64,
    /// The newest checkpoint compared against, if any.
    pub checkpoint_seq: Option<i64>,
    pub problem: Option<Problem>,
}

impl VerifyReport {
    pub fn is_intact(&self) -> bool {
        self.problem.is_none()
    }
}

const PAGE: i64 = 1000;

fn problem(seq: i64, kind: ProblemKind, detail: impl Into<String>) -> Option<Problem> {
    Some(Problem {
        seq,
        kind,
        detail: detail.into(),
    })
}

/// Verifies the whole chain, page by page, in constant memory, against the
/// newest checkpoint (`None` when there is none: truncation at the end then goes
/// unnoticed, which the caller should say).
pub async fn verify(
    conn: &mut Conn,
    dialect: Dialect,
    key: &ChainKey,
    checkpoint: Option<&Checkpoint>,
) -> Result<VerifyReport, StoreError> {
    let stored_start = rows::chain_start(conn).await?;
    // Without its start record every row is checked as keyed.
    let start = stored_start.clone().unwrap_or_else(|| ChainStart {
        chain_id: String::new(),
        legacy_seq: 0,
        legacy_hash: GENESIS_HASH.into(),
        created_at: 0,
        mac: String::new(),
    });
    let checkpointed = checkpoint.map_or(0, |c| c.seq);
    let mut walk = Walk::after(key, &start, 0, GENESIS_HASH.to_owned());
    let mut checked = 0u64;
    let mut hash_at_checkpoint = None;
    let mut found = None;
    // The head is read after the walk: an append commits its row and the head
    // together, so a running hub's new rows are never "after the head". Rows it
    // appends after the last page are walked too, until the walk reaches the
    // head or stops moving (then rows really are missing at the end).
    let (head_seq, head_hash) = loop {
        let reached = walk.next_seq;
        'pages: loop {
            let page = rows::page_after(conn, walk.next_seq - 1, PAGE).await?;
            if page.is_empty() {
                break;
            }
            for row in &page {
                if let Err(fault) = walk.step(row) {
                    found = describe(fault, row, checkpointed);
                    break 'pages;
                }
                checked += 1;
                if row.seq == checkpointed {
                    hash_at_checkpoint = Some(row.hash.clone());
                }
            }
        }
        let head = rows::head(conn).await?;
        if found.is_some() || head.0 < walk.next_seq || walk.next_seq == reached {
            break head;
        }
    };
    let last_seq = walk.next_seq - 1;
    if found.is_none() {
        found = compare(
            &start,
            stored_start.as_ref(),
            key,
            checkpoint,
            last_seq,
            hash_at_checkpoint,
        );
    }
    if found.is_none() {
        found = compare_head(head_seq, &head_hash, last_seq, &walk.prev_hash);
    }
    if found.is_none() {
        let missing = rows::missing_guards(conn, dialect).await?;
        if !missing.is_empty() {
            found = problem(
                0,
                ProblemKind::Unguarded,
                format!(
                    "append-only triggers missing or disabled: {}; the rows were not changed since, but nothing stops it",
                    missing.join(", ")
                ),
            );
        }
    }
    Ok(VerifyReport {
        rows_checked: checked,
        head_seq,
        head_hash,
        legacy_seq: start.legacy_seq,
        checkpoint_seq: checkpoint.map(|c| c.seq),
        problem: found,
    })
}

fn describe(fault: Fault, row: &rows::AuditRow, checkpointed: i64) -> Option<Problem> {
    match fault {
        Fault::Gap { expected } => problem(
            expected,
            ProblemKind::Deleted,
            format!(
                "rows {expected} to {} are missing before row {}",
                row.seq - 1,
                row.seq
            ),
        ),
        Fault::OutOfOrder => problem(
            row.seq,
            ProblemKind::Inserted,
            "sequence number out of order",
        ),
        // Same position, wrong link: this row was forged in place of the original,
        // or the row before it was rewritten with a recomputed hash.
        Fault::BadLink => problem(
            row.seq,
            ProblemKind::Inserted,
            format!(
                "its link does not match row {}: this row was inserted, or row {} was altered and rehashed",
                row.seq - 1,
                row.seq - 1
            ),
        ),
        Fault::BadHash if row.seq <= checkpointed => problem(
            row.seq,
            ProblemKind::Altered,
            format!(
                "content does not match its keyed hash, and a checkpoint vouched for it (up to row {checkpointed}): changed after it was written"
            ),
        ),
        Fault::BadHash => problem(
            row.seq,
            ProblemKind::Forged,
            "not written with the audit key: appended (or changed) by someone without it",
        ),
    }
}

/// The chain's start record and the newest checkpoint against what remains.
fn compare(
    start: &ChainStart,
    stored: Option<&ChainStart>,
    key: &ChainKey,
    checkpoint: Option<&Checkpoint>,
    last_seq: i64,
    hash_at_checkpoint: Option<String>,
) -> Option<Problem> {
    if let Some(c) = checkpoint.filter(|c| c.seq > 0) {
        if last_seq == 0 {
            return problem(
                0,
                ProblemKind::Wiped,
                format!("no rows remain, but a checkpoint recorded {} rows", c.seq),
            );
        }
        if stored.is_some() && c.chain != start.chain_id {
            return problem(
                1,
                ProblemKind::Wiped,
                format!(
                    "the log was started over: the checkpoints record chain {}, the database holds chain {}",
                    c.chain, start.chain_id
                ),
            );
        }
    }
    match stored {
        None if last_seq > 0 => {
            return problem(
                0,
                ProblemKind::Unsealed,
                "the record of where the keyed chain begins (audit_chain) is missing: after an upgrade, start the hub once with the audit key to write it; if it has run since, the record was deleted",
            );
        }
        Some(s) if !is_sealed(key, s) => {
            return problem(
                0,
                ProblemKind::Unsealed,
                "the record of where the keyed chain begins (audit_chain) is not sealed with this audit key",
            );
        }
        _ => {}
    }
    let c = checkpoint?;
    if last_seq < c.seq {
        return problem(
            last_seq + 1,
            ProblemKind::Truncated,
            format!(
                "the checkpoint of {} recorded {} rows; only {last_seq} remain",
                crate::clock::rfc3339(c.at),
                c.seq
            ),
        );
    }
    if c.seq > 0 && hash_at_checkpoint.as_deref() != Some(c.hash.as_str()) {
        return problem(
            c.seq,
            ProblemKind::Replaced,
            "this row is not the one checkpointed: the log was restored from an older copy or rebuilt",
        );
    }
    None
}

/// The head row against the last row that verified.
fn compare_head(head_seq: i64, head_hash: &str, last_seq: i64, last_hash: &str) -> Option<Problem> {
    if last_seq < head_seq {
        problem(
            last_seq + 1,
            ProblemKind::Truncated,
            format!("head records {head_seq} rows, only {last_seq} remain"),
        )
    } else if last_seq > head_seq {
        problem(
            head_seq + 1,
            ProblemKind::Inserted,
            format!("rows after the recorded head (row {head_seq})"),
        )
    } else if last_hash != head_hash {
        problem(
            last_seq,
            ProblemKind::Altered,
            "the newest row does not match the hash recorded in the head",
        )
    } else {
        None
    }
}
