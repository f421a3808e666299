//! The live gateway: `/ws` sockets (docs/protocol.md), room feeds shared by the
//! sockets of one node, presence across nodes, and per-user limits.
//!
//! Memory per idle socket is what the 50,000-connection target is about, so a
//! connection is one task with small WebSocket buffers and a bounded queue that
//! allocates only when used; events are serialized once per node, and each
//! socket's queue holds a reference-counted frame.

mod connection;
mod feed;
mod limits;
mod pass_watch;
mod presence;
pub mod protocol;
pub mod sessions;
mod visit_protocol;
mod visit_session;

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU16, AtomicU64, Ordering},
    },
};

use axum::{
    extract::{State, WebSocketUpgrade},
    response::Response,
};
use tokio::sync::Notify;

pub use feed::Outbound;
use feed::{RoomFeed, Subscriber};
use limits::TokenBucket;
pub use presence::Presence;

use crate::state::AppState;

/// Tells a connection task to close with a code, from anywhere (a feed that
/// found its queue full, shutdown).
#[derive(Debug, Default)]
pub struct Killer {
    code: AtomicU16,
    notify: Notify,
}

impl Killer {
    pub fn kill(&self, code: u16) {
        // The first reason wins.
        let _ = self
            .code
            .compare_exchange(0, code, Ordering::AcqRel, Ordering::Acquire);
        self.notify.notify_one();
    }

    /// The close code, once told to close.
    pub fn code(&self) -> Option<u16> {
        match self.code.load(Ordering::Acquire) {
            0 => None,
            code => Some(code),
        }
    }

    pub async fn killed(&self) -> u16 {
        self.notify.notified().await;
        self.code.load(Ordering::Acquire)
    }
}

/// The node's gateway, shared by every socket.
pub struct Gateway {
    pub node_id: String,
    feeds: Mutex<HashMap<Arc<str>, Arc<RoomFeed>>>,
    pub presence: Arc<Presence>,
    /// The live monitor: this node's census of sockets and its watchers.
    pub monitor: Arc<crate::monitor::Monitor>,
    /// Account sockets by user, to close them when their sessions end.
    pub sessions: sessions::SessionSockets,
    buckets: Mutex<HashMap<Arc<str>, TokenBucket>>,
    /// Open sockets per user on this node (`gateway.max_sockets_per_user`).
    sockets: Mutex<HashMap<Arc<str>, usize>>,
    next_conn: AtomicU64,
    shutdown: tokio::sync::watch::Sender<bool>,
}

impl Gateway {
    pub fn new() -> Arc<Self> {
        let node_id = uuid::Uuid::now_v7().to_string();
        Arc::new(Self {
            presence: Arc::new(Presence::new(&node_id)),
            monitor: Arc::new(crate::monitor::Monitor::new(&node_id)),
            sessions: sessions::SessionSockets::default(),
            node_id,
            feeds: Mutex::new(HashMap::new()),
            buckets: Mutex::new(HashMap::new()),
            sockets: Mutex::new(HashMap::new()),
            next_conn: AtomicU64::new(1),
            shutdown: tokio::sync::watch::Sender::new(false),
        })
    }

    /// Closes every socket with 1001 so clients reconnect to another node.
    pub fn shut_down(&self) {
        self.shutdown.send_replace(true);
    }

    fn conn_id(&self) -> u64 {
        self.next_conn.fetch_add(1, Ordering::Relaxed)
    }

    fn feeds(&self) -> std::sync::MutexGuard<'_, HashMap<Arc<str>, Arc<RoomFeed>>> {
        self.feeds.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Registers a socket with the room's feed, starting the feed if it is the
    /// room's first local subscriber, and waits until the feed is listening.
    async fn join(
        &self,
        state: &AppState,
        room_id: &str,
        conn_id: u64,
        subscriber: Subscriber,
    ) -> Result<(), String> {
        let feed = {
            let mut feeds = self.feeds();
            let feed = feeds
                .entry(room_id.into())
                .or_insert_with(|| {
                    let feed = RoomFeed::new(room_id);
                    tokio::spawn(feed::run(state.clone(), feed.clone()));
                    feed
                })
                .clone();
            feed.add(conn_id, subscriber);
            feed
        };
        if let Err(e) = feed.wait_ready().await {
            self.leave(room_id, conn_id);
            return Err(e);
        }
        Ok(())
    }

    /// Unregisters a socket; the feed stops with its last subscriber.
    fn leave(&self, room_id: &str, conn_id: u64) {
        let mut feeds = self.feeds();
        if let Some(feed) = feeds.get(room_id)
            && feed.remove(conn_id)
        {
            feed.stop();
            feeds.remove(room_id);
        }
    }

    /// Takes one publish from the user's bucket; false when over the rate.
    fn allow_publish(&self, user_id: &Arc<str>, rate: u32, now: std::time::Instant) -> bool {
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if buckets.len() > 100_000 {
            // Full buckets carry no information; forget them.
            buckets.retain(|_, b| !b.is_full(now));
        }
        buckets
            .entry(user_id.clone())
            .or_insert_with(|| TokenBucket::new(rate, now))
            .take(now)
    }

    /// Counts one more socket for `user`; `None` when it already holds `max`.
    fn hold_socket(self: &Arc<Self>, user: &str, max: usize) -> Option<SocketSlot> {
        let mut sockets = self.sockets.lock().unwrap_or_else(|p| p.into_inner());
        let held = sockets.entry(user.into()).or_insert(0);
        if *held >= max {
            return None;
        }
        *held += 1;
        Some(SocketSlot {
            gateway: self.clone(),
            user: user.into(),
        })
    }

    /// Rooms with a feed on this node (metrics, tests).
    pub fn active_rooms(&self) -> usize {
        self.feeds().len()
    }
}

/// One of a user's sockets, counted until dropped.
struct SocketSlot {
    gateway: Arc<Gateway>,
    user: Arc<str>,
}

impl Drop for SocketSlot {
    fn drop(&mut self) {
        let mut sockets = self
            .gateway
            .sockets
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if let Some(held) = sockets.get_mut(&self.user) {
            *held = held.saturating_sub(1);
            if *held == 0 {
                sockets.remove(&self.user);
            }
        }
    }
}

/// `GET /ws`: upgrades to the live protocol. Authentication happens in the
/// first frame, so the token never appears in a URL or an access log.
pub async fn ws_handler(State(state): State<AppState>, upgrade: WebSocketUpgrade) -> Response {
    let g = &state.config.gateway;
    upgrade
        .protocols([protocol::SUBPROTOCOL])
        // tungstenite's defaults reserve 128 KiB per socket up front; chat
        // frames are small, and 50,000 idle sockets must fit in memory.
        .read_buffer_size(4 * 1024)
        .write_buffer_size(4 * 1024)
        .max_write_buffer_size(256 * 1024)
        .max_frame_size(g.max_frame_bytes)
        .max_message_size(g.max_frame_bytes)
        .on_upgrade(move |socket| connection::serve(state, socket))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_user_holds_at_most_the_configured_sockets() {
        let gateway = Gateway::new();
        let first = gateway.hold_socket("u", 2).expect("first");
        let _second = gateway.hold_socket("u", 2).expect("second");
        assert!(gateway.hold_socket("u", 2).is_none(), "third refused");
        assert!(gateway.hold_socket("v", 2).is_some(), "per user");
        drop(first);
        assert!(
            gateway.hold_socket("u", 2).is_some(),
            "a closed socket frees its slot"
        );
    }
}
