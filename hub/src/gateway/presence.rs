//! Presence: which users have a socket in which room, on any node.
//!
//! Each node counts its own sockets per (room, user) in memory and writes a row
//! to `room_presence` when a user's first socket arrives and removes it when the
//! last one leaves, announcing both on the room's topic. Nodes heartbeat into
//! `gateway_nodes`; a node silent for three heartbeats is presumed dead and the
//! survivors sweep its rows and announce its users offline, so presence expires
//! when a node dies instead of lingering forever.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use serde_json::json;

use super::feed::PRESENCE;
use crate::{bus::Event, error::Result, rooms, state::AppState, store::presence as store};

/// Sockets of this node per (room, user).
type LocalCounts = HashMap<(Arc<str>, Arc<str>), usize>;

pub struct Presence {
    node_id: String,
    local: Mutex<LocalCounts>,
}

impl Presence {
    pub fn new(node_id: &str) -> Self {
        Self {
            node_id: node_id.to_owned(),
            local: Mutex::new(HashMap::new()),
        }
    }

    fn local(&self) -> std::sync::MutexGuard<'_, LocalCounts> {
        self.local.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A socket of `user` subscribed to `room`.
    pub async fn arrived(&self, state: &AppState, room: &Arc<str>, user: &Arc<str>) {
        let first = {
            let mut local = self.local();
            let n = local.entry((room.clone(), user.clone())).or_insert(0);
            *n += 1;
            *n == 1
        };
        if first {
            let result = async {
                let mut conn = state.store.conn().await?;
                store::add(&mut conn, room, user, &self.node_id, state.clock.now_ms()).await?;
                Ok::<_, crate::error::Error>(())
            }
            .await;
            if let Err(e) = result {
                tracing::warn!(error = %e, "presence not recorded");
            }
            announce(state, room, user, "online").await;
        }
    }

    /// A socket of `user` left `room` (unsubscribed or disconnected).
    pub async fn departed(&self, state: &AppState, room: &Arc<str>, user: &Arc<str>) {
        let last = {
            let mut local = self.local();
            let key = (room.clone(), user.clone());
            match local.get_mut(&key) {
                Some(n) if *n > 1 => {
                    *n -= 1;
                    false
                }
                Some(_) => {
                    local.remove(&key);
                    true
                }
                None => false,
            }
        };
        if !last {
            return;
        }
        let still_elsewhere = async {
            let mut conn = state.store.conn().await?;
            store::remove(&mut conn, room, user, &self.node_id).await?;
            Ok::<_, crate::error::Error>(
                store::is_present(&mut conn, room, user, alive_after(state)).await?,
            )
        }
        .await;
        match still_elsewhere {
            Ok(true) => {}
            Ok(false) => announce(state, room, user, "offline").await,
            Err(e) => tracing::warn!(error = %e, "presence not cleared"),
        }
    }

    /// Users with a socket in the room on any live node.
    pub async fn users(&self, state: &AppState, room: &str) -> Result<Vec<String>> {
        let mut conn = state.store.conn().await?;
        Ok(store::users(&mut conn, room, alive_after(state)).await?)
    }

    /// Heartbeats this node and sweeps dead ones, until the process ends.
    pub async fn run_heartbeat(self: Arc<Self>, state: AppState) {
        let period = Duration::from_secs(state.config.gateway.heartbeat_secs);
        let mut tick = tokio::time::interval(period);
        loop {
            tick.tick().await;
            if let Err(e) = self.beat(&state).await {
                tracing::warn!(error = %e, "gateway heartbeat failed");
            }
        }
    }

    async fn beat(&self, state: &AppState) -> Result<()> {
        let mut conn = state.store.conn().await?;
        store::heartbeat(&mut conn, &self.node_id, state.clock.now_ms()).await?;
        let swept = store::sweep_dead(&mut conn, alive_after(state)).await?;
        for (room, user) in swept {
            if !store::is_present(&mut conn, &room, &user, alive_after(state)).await? {
                announce(state, &room, &user, "offline").await;
            }
        }
        Ok(())
    }

    /// Forgets this node's presence (graceful shutdown).
    pub async fn clear(&self, state: &AppState) {
        if let Ok(mut conn) = state.store.conn().await {
            let _ = store::clear_node(&mut conn, &self.node_id).await;
        }
    }
}

/// Rows of nodes that heartbeated within three periods count.
fn alive_after(state: &AppState) -> i64 {
    state.clock.now_ms() - 3 * 1000 * state.config.gateway.heartbeat_secs as i64
}

async fn announce(state: &AppState, room: &str, user: &str, status: &str) {
    let event = Event {
        topic: rooms::topic(room),
        kind: PRESENCE.into(),
        payload: json!({ "user_id": user, "status": status }),
    };
    if let Err(e) = state.bus.publish(event).await {
        tracing::warn!(error = %e, "presence change not announced");
    }
}
