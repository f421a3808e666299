//! The chain's verdict for the audit log viewer: the same verification as
//! `hub audit verify` (every row's keyed hash and link, the newest checkpoint, the
//! append-only guards), answered as a yes or no with where it first failed.
//!
//! The chain is one for the whole installation, so the verdict is too: an
//! organization's admin learns whether the log holding their rows can be trusted,
//! and where the first fault is by sequence number and kind, never the content
//! of another organization's rows.

use serde::Serialize;
use utoipa::ToSchema;

use super::{installed_key, verify};
use crate::{clock::rfc3339, error::Result, state::AppState};

/// Whether the chain verifies, as of `checked_at`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChainVerdict {
    /// True when every row verified and nothing is missing at the end.
    pub intact: bool,
    pub rows_checked: u64,
    /// The newest row's sequence number.
    pub head_seq: i64,
    /// The newest signed checkpoint compared against (rows cut from the end are
    /// caught only with one).
    pub checkpoint_seq: Option<i64>,
    pub checked_at: String,
    pub problem: Option<ChainFault>,
}

/// The first fault found.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChainFault {
    /// The row it was found at (0: the log as a whole).
    pub seq: i64,
    /// `altered`, `deleted`, `inserted`, `forged`, `truncated`, `wiped`,
    /// `replaced`, `unsealed` or `unguarded` (docs/architecture.md, "Audit log").
    pub kind: String,
}

/// One verification at a time per process: a walk reads every row, and several
/// admins pressing "verify" together should not multiply that.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Walks the whole chain now against this node's newest checkpoint.
pub async fn chain_verdict(state: &AppState) -> Result<ChainVerdict> {
    let key = installed_key().ok_or_else(|| {
        crate::error::Error::internal(anyhow::anyhow!("the audit key is not loaded"))
    })?;
    let checkpoint = state.audit.newest().await;
    let _turn = ONE_AT_A_TIME.lock().await;
    let mut conn = state.store.conn().await?;
    let report = verify(&mut conn, state.store.dialect(), &key, checkpoint.as_ref()).await?;
    let problem = report.problem.as_ref().map(|p| ChainFault {
        seq: p.seq,
        kind: serde_json::to_value(p.kind)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default(),
    });
    Ok(ChainVerdict {
        intact: report.is_intact(),
        rows_checked: report.rows_checked,
        head_seq: report.head_seq,
        checkpoint_seq: report.checkpoint_seq,
        checked_at: rfc3339(state.clock.now_ms()),
        problem,
    })
}
