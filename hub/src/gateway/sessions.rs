//! Closing a user's open sockets at once, on every node, when their sessions end
//! (account disabled, logout, password change): REST refuses the revoked session
//! from the commit on, and this closes what is already open with 4003 instead of
//! waiting for the socket's periodic session check.
//!
//! One bus topic for the whole node (not one per socket), and a local index from
//! user to their sockets, so 50,000 idle sockets cost no subscriptions.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use serde_json::json;

use super::{Killer, protocol::close};
use crate::{bus::Event, state::AppState};

const TOPIC: &str = "accounts.sessions";
const ENDED: &str = "sessions.ended";

/// One open socket of an account.
struct Entry {
    conn: u64,
    session: Arc<str>,
    killer: Arc<Killer>,
}

/// The node's account sockets, by user.
#[derive(Default)]
pub struct SessionSockets {
    by_user: Mutex<HashMap<Arc<str>, Vec<Entry>>>,
}

impl SessionSockets {
    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<Arc<str>, Vec<Entry>>> {
        self.by_user.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn register(&self, user: &Arc<str>, conn: u64, session: &str, killer: &Arc<Killer>) {
        self.map().entry(user.clone()).or_default().push(Entry {
            conn,
            session: session.into(),
            killer: killer.clone(),
        });
    }

    pub fn unregister(&self, user: &str, conn: u64) {
        let mut map = self.map();
        if let Some(list) = map.get_mut(user) {
            list.retain(|e| e.conn != conn);
            if list.is_empty() {
                map.remove(user);
            }
        }
    }

    /// Closes the user's sockets on this node that `ended` selects, with 4003.
    fn end(&self, user: &str, ended: &Ended) {
        let map = self.map();
        for e in map.get(user).into_iter().flatten() {
            let hit = match ended {
                Ended::All => true,
                Ended::AllBut(keep) => **keep != *e.session,
                Ended::One(one) => **one == *e.session,
            };
            if hit {
                e.killer.kill(close::SESSION_REVOKED);
            }
        }
    }
}

/// Which of a user's sessions ended.
#[derive(Debug, Clone, Copy)]
pub enum Ended<'a> {
    /// Every session (account disabled, password reset).
    All,
    /// Every session but the caller's (password change).
    AllBut(&'a str),
    /// One session (logout).
    One(&'a str),
}

/// Tells every node that the user's sessions (all, or all but `keep`) ended. Runs
/// after the revocation is committed; a lost notice is bounded by the session check.
pub async fn announce_ended(state: &AppState, user_id: &str, ended: Ended<'_>) {
    let (keep, one) = match ended {
        Ended::All => (None, None),
        Ended::AllBut(s) => (Some(s), None),
        Ended::One(s) => (None, Some(s)),
    };
    let event = Event {
        topic: TOPIC.into(),
        kind: ENDED.into(),
        payload: json!({ "user_id": user_id, "keep": keep, "one": one, "node": state.gateway.node_id }),
    };
    // This node at once, whether or not the bus carries it.
    state.gateway.sessions.end(user_id, &ended);
    if let Err(e) = state.bus.publish(event).await {
        tracing::warn!(error = %e, "session end not announced");
    }
}

/// Listens for other nodes' notices for the life of the server.
pub async fn run_listener(state: AppState) {
    loop {
        let mut rx = match state.bus.subscribe(TOPIC).await {
            Ok(rx) => rx,
            Err(e) => {
                tracing::warn!(error = %e, "session listener cannot subscribe; retrying");
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                continue;
            }
        };
        loop {
            match rx.recv().await {
                Ok(event) if event.kind == ENDED => {
                    let p = &event.payload;
                    let user = p["user_id"].as_str().unwrap_or_default();
                    let ended = match (p["keep"].as_str(), p["one"].as_str()) {
                        (_, Some(one)) => Ended::One(one),
                        (Some(keep), None) => Ended::AllBut(keep),
                        (None, None) => Ended::All,
                    };
                    state.gateway.sessions.end(user, &ended);
                }
                Ok(_) => {}
                // Missed notices: the session check catches up.
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
            }
        }
    }
}
