//! Writing checkpoints: periodically while the hub runs and once at shutdown.
//!
//! A checkpoint vouches for every row up to the head it records, so before
//! signing one the checkpointer verifies the rows added since the previous one
//! (links and keyed hashes). It refuses, and logs an error each time, when the
//! database is behind or beside its last checkpoint (rows removed, the log wiped
//! and restarted) or a new row does not verify (a forged append): a checkpoint
//! never blesses tampering, and the last good one stays the reference.

use std::{path::PathBuf, sync::Arc, time::Duration};

use super::{
    GENESIS_HASH,
    checkpoint::{self, Checkpoint},
    key::ChainKey,
    start::ChainStart,
    walk::Walk,
};
use crate::{
    clock::Clock,
    store::{Store, StoreError, audit as rows},
};

const PAGE: i64 = 1000;

#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("audit checkpoint file {path}: {source}")]
    File {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The database no longer continues the last checkpoint.
    #[error("{0}")]
    Refused(String),
}

pub struct Checkpointer {
    path: PathBuf,
    key: Arc<ChainKey>,
    start: ChainStart,
    last: tokio::sync::Mutex<Option<Checkpoint>>,
}

impl std::fmt::Debug for Checkpointer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Checkpointer")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl Checkpointer {
    /// Reads the newest checkpoint of `path` (missing file: none yet).
    pub fn open(
        path: PathBuf,
        key: Arc<ChainKey>,
        start: ChainStart,
    ) -> Result<Self, CheckpointError> {
        let file = checkpoint::read(&path, &key).map_err(|source| CheckpointError::File {
            path: path.clone(),
            source,
        })?;
        if !file.bad_lines.is_empty() {
            tracing::error!(
                target: "audit",
                path = %path.display(),
                lines = ?file.bad_lines,
                "audit checkpoint file holds lines that are not valid checkpoints; run `hub audit verify`"
            );
        }
        Ok(Self {
            path,
            key,
            start,
            last: tokio::sync::Mutex::new(file.newest),
        })
    }

    pub fn path(&self) -> &std::path::Path {
        &self.path
    }

    /// The newest checkpoint this node wrote or read at start: what a
    /// verification compares the database against.
    pub async fn newest(&self) -> Option<Checkpoint> {
        self.last.lock().await.clone()
    }

    /// Records the current head if it moved since the last checkpoint. `None`
    /// when there was nothing new to record.
    pub async fn checkpoint(
        &self,
        store: &Store,
        now_ms: i64,
    ) -> Result<Option<Checkpoint>, CheckpointError> {
        let mut last = self.last.lock().await;
        let mut conn = store.conn().await?;
        let (head_seq, head_hash) = rows::head(&mut conn).await?;
        let (from_seq, from_hash) = match last.as_ref() {
            None => (0, GENESIS_HASH.to_owned()),
            Some(c) if c.chain != self.start.chain_id => {
                return Err(CheckpointError::Refused(format!(
                    "the database's audit chain {} is not the checkpointed chain {}: the log was wiped and started over",
                    self.start.chain_id, c.chain
                )));
            }
            Some(c) if head_seq < c.seq => {
                return Err(CheckpointError::Refused(format!(
                    "the audit log's head (row {head_seq}) is behind the last checkpoint (row {}): rows were removed",
                    c.seq
                )));
            }
            Some(c) if head_seq == c.seq && head_hash == c.hash => return Ok(None),
            Some(c) if head_seq == c.seq => {
                return Err(CheckpointError::Refused(format!(
                    "the audit log's head (row {head_seq}) no longer has the checkpointed hash"
                )));
            }
            Some(c) => (c.seq, c.hash.clone()),
        };
        let mut walk = Walk::after(&self.key, &self.start, from_seq, from_hash);
        'pages: while walk.next_seq <= head_seq {
            let page = rows::page_after(&mut conn, walk.next_seq - 1, PAGE).await?;
            if page.is_empty() {
                break;
            }
            for row in &page {
                if row.seq > head_seq {
                    break 'pages;
                }
                walk.step(row).map_err(|fault| {
                    CheckpointError::Refused(format!(
                        "audit row {} does not continue the chain ({fault:?})",
                        row.seq
                    ))
                })?;
            }
        }
        if walk.next_seq - 1 != head_seq || walk.prev_hash != head_hash {
            return Err(CheckpointError::Refused(format!(
                "the audit log's rows end at row {} but its head records row {head_seq}",
                walk.next_seq - 1
            )));
        }
        drop(conn);
        let c = Checkpoint::new(
            &self.key,
            &self.start.chain_id,
            head_seq,
            &head_hash,
            now_ms,
        );
        checkpoint::append(&self.path, &c).map_err(|source| CheckpointError::File {
            path: self.path.clone(),
            source,
        })?;
        *last = Some(c.clone());
        Ok(Some(c))
    }

    /// One checkpoint attempt whose failure is logged (the periodic loop and shutdown).
    pub async fn checkpoint_logged(&self, store: &Store, clock: &dyn Clock) {
        match self.checkpoint(store, clock.now_ms()).await {
            Ok(_) => {}
            Err(CheckpointError::Refused(reason)) => tracing::error!(
                target: "audit",
                %reason,
                "audit checkpoint refused: the audit log may have been tampered with; run `hub audit verify`"
            ),
            Err(e) => {
                tracing::warn!(target: "audit", error = %e, "audit checkpoint failed; retrying")
            }
        }
    }

    /// Checkpoints now and then every `interval` until aborted.
    pub fn spawn(
        self: Arc<Self>,
        store: Store,
        clock: Arc<dyn Clock>,
        interval: Duration,
    ) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            loop {
                self.checkpoint_logged(&store, clock.as_ref()).await;
                tokio::time::sleep(interval).await;
            }
        })
    }
}
