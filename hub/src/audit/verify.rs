//! Walking the chain to find the first row that was altered, inserted or deleted.

use serde::Serialize;

use super::chain::{GENESIS_HASH, row_hash};
use crate::store::{Conn, StoreError, audit as rows};

/// Why verification stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProblemKind {
    /// The row's content no longer matches its hash.
    Altered,
    /// The row does not follow the previous one: a row before it is missing.
    Deleted,
    /// The row does not belong in the chain: it was inserted.
    Inserted,
    /// The chain's head records more rows than exist: rows were removed at the end.
    Truncated,
}

#[derive(Debug, Clone, Serialize)]
pub struct Problem {
    /// The first row (sequence number) at which the chain breaks.
    pub seq: i64,
    pub kind: ProblemKind,
    pub detail: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct VerifyReport {
    pub rows_checked: u64,
    pub head_seq: i64,
    pub head_hash: String,
    pub problem: Option<Problem>,
}

impl VerifyReport {
    pub fn is_intact(&self) -> bool {
        self.problem.is_none()
    }
}

const PAGE: i64 = 1000;

/// Verifies the whole chain, page by page, in constant memory.
pub async fn verify(conn: &mut Conn) -> Result<VerifyReport, StoreError> {
    let (head_seq, head_hash) = rows::head(conn).await?;
    let mut expected_seq = 1i64;
    let mut prev_hash = GENESIS_HASH.to_owned();
    let mut checked = 0u64;
    let mut after = i64::MIN;
    let report = |checked, problem| VerifyReport {
        rows_checked: checked,
        head_seq,
        head_hash: head_hash.clone(),
        problem,
    };
    loop {
        let page = rows::page_after(conn, after, PAGE).await?;
        let Some(last) = page.last() else { break };
        after = last.seq;
        for row in page {
            if let Some(problem) = check_row(&row, expected_seq, &prev_hash) {
                return Ok(report(checked, Some(problem)));
            }
            checked += 1;
            expected_seq = row.seq + 1;
            prev_hash = row.hash;
        }
    }
    let last_seq = expected_seq - 1;
    let problem = if last_seq < head_seq {
        Some(Problem {
            seq: last_seq + 1,
            kind: ProblemKind::Truncated,
            detail: format!("head records {head_seq} rows, only {last_seq} remain"),
        })
    } else if last_seq > head_seq {
        Some(Problem {
            seq: head_seq + 1,
            kind: ProblemKind::Inserted,
            detail: format!("rows after the recorded head (row {head_seq})"),
        })
    } else if prev_hash != head_hash {
        Some(Problem {
            seq: last_seq,
            kind: ProblemKind::Altered,
            detail: "the newest row does not match the hash recorded in the head".into(),
        })
    } else {
        None
    };
    Ok(report(checked, problem))
}

fn check_row(row: &rows::AuditRow, expected_seq: i64, prev_hash: &str) -> Option<Problem> {
    let problem = |kind, detail: String| {
        Some(Problem {
            seq: row.seq,
            kind,
            detail,
        })
    };
    if row.seq > expected_seq {
        return Some(Problem {
            seq: expected_seq,
            kind: ProblemKind::Deleted,
            detail: format!(
                "rows {expected_seq} to {} are missing before row {}",
                row.seq - 1,
                row.seq
            ),
        });
    }
    if row.seq < expected_seq {
        return problem(ProblemKind::Inserted, "sequence number out of order".into());
    }
    if row.prev_hash != prev_hash {
        // Same position, wrong link: this row was forged in place of the original,
        // or the row before it was rewritten with a recomputed hash. Either way the
        // chain breaks between the two; both are named.
        return problem(
            ProblemKind::Inserted,
            format!(
                "its link does not match row {}: this row was inserted, or row {} was altered and rehashed",
                row.seq - 1,
                row.seq - 1
            ),
        );
    }
    if row_hash(row) != row.hash {
        return problem(
            ProblemKind::Altered,
            "content does not match its hash".into(),
        );
    }
    None
}
