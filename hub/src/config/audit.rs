//! `[audit]`: where and how often the hub checkpoints the audit chain's head.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::lenient;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuditConfig {
    /// The append-only file of signed checkpoints. Defaults to
    /// `data_dir/audit-checkpoints.jsonl`; point it at storage the database's
    /// administrators cannot write (another volume, an append-only mount).
    pub checkpoint_path: Option<PathBuf>,
    /// Seconds between checkpoints while serving (one is also written at start
    /// and at shutdown). Rows newer than the last checkpoint can be cut from the
    /// end unnoticed, so this bounds that window.
    #[serde(deserialize_with = "lenient::value")]
    pub checkpoint_interval_secs: u64,
}

impl Default for AuditConfig {
    fn default() -> Self {
        Self {
            checkpoint_path: None,
            checkpoint_interval_secs: 10,
        }
    }
}

impl AuditConfig {
    pub fn validate(&self) -> Result<(), String> {
        if !(1..=3600).contains(&self.checkpoint_interval_secs) {
            return Err("audit.checkpoint_interval_secs must be between 1 and 3600".into());
        }
        Ok(())
    }

    /// The checkpoint file in effect.
    pub fn effective_checkpoint_path(&self, data_dir: &Path) -> PathBuf {
        self.checkpoint_path
            .clone()
            .unwrap_or_else(|| data_dir.join("audit-checkpoints.jsonl"))
    }
}
