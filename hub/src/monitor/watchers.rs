//! The sockets of this node watching the monitor, by connection: their account,
//! their scope and their queue. The node's loop pushes each a snapshot every tick;
//! a watcher whose rights ended is removed and told with `monitor_ended`.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use axum::extract::ws::Utf8Bytes;
use serde_json::json;
use tokio::sync::mpsc::{self, error::TrySendError};

use super::scope::Scope;
use crate::gateway::{Killer, Outbound, protocol::close};

/// One watching socket.
pub struct Watcher {
    pub user: Arc<str>,
    pub scope: Scope,
    pub queue: mpsc::Sender<Outbound>,
    pub killer: Arc<Killer>,
}

/// This node's watchers, by connection id.
#[derive(Default)]
pub struct Watchers {
    by_conn: Mutex<HashMap<u64, Watcher>>,
}

/// Why a watch ended (`monitor_ended.reason`).
pub const ACCESS_ENDED: &str = "access_ended";

impl Watchers {
    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Watcher>> {
        self.by_conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Starts (or re-scopes) the connection's watch.
    pub fn watch(&self, conn: u64, watcher: Watcher) {
        self.map().insert(conn, watcher);
    }

    /// Stops the connection's watch; false if it had none.
    pub fn unwatch(&self, conn: u64) -> bool {
        self.map().remove(&conn).is_some()
    }

    pub fn is_empty(&self) -> bool {
        self.map().is_empty()
    }

    pub fn len(&self) -> usize {
        self.map().len()
    }

    /// `(connection, user, scope)` of every watcher.
    pub fn list(&self) -> Vec<(u64, Arc<str>, Scope)> {
        self.map()
            .iter()
            .map(|(conn, w)| (*conn, w.user.clone(), w.scope.clone()))
            .collect()
    }

    /// The connections `user` watches from, with their scopes.
    pub fn of_user(&self, user: &str) -> Vec<(u64, Scope)> {
        self.map()
            .iter()
            .filter(|(_, w)| &*w.user == user)
            .map(|(conn, w)| (*conn, w.scope.clone()))
            .collect()
    }

    /// Queues a frame to the watcher (if it still watches `scope`). A full queue
    /// closes the socket as a slow consumer; a closed one forgets the watcher.
    pub fn push(&self, conn: u64, scope: &Scope, frame: Utf8Bytes) {
        let mut map = self.map();
        let Some(w) = map.get(&conn).filter(|w| &w.scope == scope) else {
            return;
        };
        match w.queue.try_send(Outbound::Push(frame)) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                w.killer.kill(close::SLOW_CONSUMER);
                map.remove(&conn);
            }
            Err(TrySendError::Closed(_)) => {
                map.remove(&conn);
            }
        }
    }

    /// Ends the watch with a `monitor_ended` push.
    pub fn end(&self, conn: u64, reason: &str) {
        let Some(w) = self.map().remove(&conn) else {
            return;
        };
        let frame = json!({ "type": "monitor_ended", "reason": reason }).to_string();
        if let Err(TrySendError::Full(_)) = w.queue.try_send(Outbound::Push(frame.into())) {
            w.killer.kill(close::SLOW_CONSUMER);
        }
    }
}
