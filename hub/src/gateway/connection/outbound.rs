//! The socket's outbound side: its queue (created on first use), the turning of
//! queued items into frames, and writes that give way when the socket is told to close.

use axum::extract::ws::{Message, Utf8Bytes, WebSocket};
use futures_util::SinkExt;
use tokio::sync::mpsc;

use super::{Connection, Ending, reason_of, removed_frame, resync_frame, visit_removed_frame};
use crate::gateway::{Killer, feed::Outbound};

/// Most queued frames written before one flush.
const SEND_BATCH: usize = 64;

impl Connection {
    /// Turns a queued item into a frame, or drops it (a duplicate offset).
    pub(super) fn outbound(&mut self, item: Outbound) -> Option<Utf8Bytes> {
        match item {
            Outbound::Event {
                room,
                offset,
                frame,
            } => {
                let sub = self.rooms.get_mut(&room)?;
                if offset <= sub.offset {
                    return None;
                }
                if offset != sub.offset + 1 {
                    // Cannot happen while feeds deliver in order; never skip silently.
                    tracing::error!(%room, offset, held = sub.offset, "gap on a socket; asking for resync");
                    self.rooms.remove(&room);
                    self.leave_feed(&room);
                    return Some(resync_frame(&room, "gap"));
                }
                sub.offset = offset;
                Some(frame)
            }
            Outbound::Push(frame) => Some(frame),
            Outbound::Removed { room } => {
                self.rooms.remove(&room)?;
                self.leave_feed(&room);
                Some(removed_frame(&room))
            }
            Outbound::VisitRemoved { visit } => {
                self.visit.forget(&self.state, &visit)?;
                Some(visit_removed_frame(&visit))
            }
            Outbound::Resync { room, reason } => {
                self.rooms.remove(&room)?;
                self.leave_feed(&room);
                Some(resync_frame(&room, reason))
            }
            // Handled by `send_queued` before it gets here.
            Outbound::Close { .. } => None,
        }
    }

    /// Writes `first` and whatever else is already queued (up to a batch), then
    /// flushes once: under load a socket costs one write call per batch instead
    /// of one per event.
    pub(super) async fn send_queued(
        &mut self,
        socket: &mut WebSocket,
        first: Outbound,
        killer: &Killer,
    ) -> Result<(), Ending> {
        let mut next = Some(first);
        let mut written = 0;
        while let Some(item) = next.take() {
            if let Outbound::Close { code, reason } = item {
                if written > 0 {
                    unless_killed(socket.flush(), killer).await?;
                }
                return Err(Some((code, reason)));
            }
            if let Some(frame) = self.outbound(item) {
                unless_killed(socket.feed(Message::Text(frame)), killer).await?;
                written += 1;
            }
            if written < SEND_BATCH {
                next = self.queue_rx.as_mut().and_then(|q| q.try_recv().ok());
            }
        }
        if written > 0 {
            unless_killed(socket.flush(), killer).await?;
        }
        Ok(())
    }

    /// A sender into the socket's queue, created on first use.
    pub(super) fn queue(&mut self) -> mpsc::Sender<Outbound> {
        if let Some(tx) = &self.queue_tx {
            return tx.clone();
        }
        let (tx, rx) = mpsc::channel(self.state.config.gateway.send_queue);
        self.queue_rx = Some(rx);
        self.queue_tx = Some(tx.clone());
        tx
    }
}

/// Sends a frame, unless the connection is told to close while the send waits
/// (a client that stopped reading blocks the send; its feed then kills it).
/// `Err` carries the ending: `None` when the socket failed, the close otherwise.
pub(super) async fn send_unless_killed(
    socket: &mut WebSocket,
    message: Message,
    killer: &Killer,
) -> Result<(), Ending> {
    tokio::select! {
        sent = socket.send(message) => sent.map_err(|_| None),
        code = killer.killed() => Err(Some((code, reason_of(code)))),
    }
}

/// The next queued item; never completes while the socket has no queue.
pub(super) async fn next_queued(queue: &mut Option<mpsc::Receiver<Outbound>>) -> Option<Outbound> {
    match queue {
        Some(q) => q.recv().await,
        None => std::future::pending().await,
    }
}

/// Runs a socket write unless the connection is told to close meanwhile.
async fn unless_killed(
    write: impl std::future::Future<Output = Result<(), axum::Error>>,
    killer: &Killer,
) -> Result<(), Ending> {
    tokio::select! {
        done = write => done.map_err(|_| None),
        code = killer.killed() => Err(Some((code, reason_of(code)))),
    }
}
