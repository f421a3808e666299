//! A room's feed on this node: one bus subscription shared by every local
//! socket subscribed to the room. It puts the room's events in offset order,
//! fills gaps from the database (a lost pub/sub message, a bus restart, a
//! publisher that died between commit and announce) and hands each event,
//! serialized once, to every local subscriber's bounded queue.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use axum::extract::ws::Utf8Bytes;
use serde_json::json;
use tokio::sync::{Notify, broadcast::error::RecvError, mpsc, watch};

use super::Killer;
use crate::{
    bus::Event,
    rooms::{self, decode_bus_event, stream_event},
    state::AppState,
    store::rooms as room_store,
};

/// Bus kinds on a room topic besides stream events.
pub const PRESENCE: &str = "room.presence";
pub const TYPING: &str = "room.typing";
pub const RECEIPT: &str = "room.receipt";

/// What a feed or the gateway puts on a connection's queue.
#[derive(Debug, Clone)]
pub enum Outbound {
    /// A stream event; the connection drops it if it already holds `offset`.
    Event {
        room: Arc<str>,
        offset: i64,
        frame: Utf8Bytes,
    },
    /// A push that is not part of the stream (presence, typing, receipts).
    Push(Utf8Bytes),
    /// The member was removed from the room: forget the subscription.
    Removed { room: Arc<str> },
    /// The account lost its part in the visit (its organization membership ended or
    /// its role no longer allows it): forget the visit on this socket.
    VisitRemoved { visit: Arc<str> },
    /// The feed cannot continue the room's stream: the client must resync.
    Resync {
        room: Arc<str>,
        reason: &'static str,
    },
    /// Close the socket once the frames queued before this are written (a visit pass
    /// whose visit is over gets the visit's last event first).
    Close { code: u16, reason: &'static str },
}

/// One local socket subscribed to the room.
pub struct Subscriber {
    pub user_id: Arc<str>,
    pub queue: mpsc::Sender<Outbound>,
    pub killer: Arc<Killer>,
}

/// Whether the feed has its bus subscription and stream position.
#[derive(Debug, Clone, PartialEq)]
pub enum Readiness {
    Starting,
    Ready,
    Failed(String),
}

pub struct RoomFeed {
    pub room_id: Arc<str>,
    subscribers: Mutex<HashMap<u64, Subscriber>>,
    ready: watch::Sender<Readiness>,
    stop: Notify,
}

impl RoomFeed {
    pub fn new(room_id: &str) -> Arc<Self> {
        Arc::new(Self {
            room_id: room_id.into(),
            subscribers: Mutex::new(HashMap::new()),
            ready: watch::Sender::new(Readiness::Starting),
            stop: Notify::new(),
        })
    }

    fn subscribers(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Subscriber>> {
        self.subscribers.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn add(&self, conn_id: u64, subscriber: Subscriber) {
        self.subscribers().insert(conn_id, subscriber);
    }

    /// Removes a subscriber; true when none remain.
    pub fn remove(&self, conn_id: u64) -> bool {
        let mut subs = self.subscribers();
        subs.remove(&conn_id);
        subs.is_empty()
    }

    pub fn is_empty(&self) -> bool {
        self.subscribers().is_empty()
    }

    pub fn stop(&self) {
        self.stop.notify_one();
    }

    /// Waits until the feed listens to the bus and knows its position.
    pub async fn wait_ready(&self) -> Result<(), String> {
        let mut rx = self.ready.subscribe();
        let state = rx
            .wait_for(|r| *r != Readiness::Starting)
            .await
            .map_err(|_| "room feed stopped".to_owned())?
            .clone();
        match state {
            Readiness::Failed(e) => Err(e),
            _ => Ok(()),
        }
    }

    /// Offers `item` to every subscriber (but `except`'s user). A full queue
    /// means the client is not reading: it is cut off rather than buffered.
    fn dispatch(&self, item: &Outbound, except_user: Option<&str>) -> u64 {
        let mut gone = Vec::new();
        let mut queued = 0;
        let subs = self.subscribers();
        for (conn_id, sub) in subs.iter() {
            if except_user.is_some_and(|u| *sub.user_id == *u) {
                continue;
            }
            match sub.queue.try_send(item.clone()) {
                Ok(()) => queued += 1,
                Err(mpsc::error::TrySendError::Full(_)) => {
                    sub.killer.kill(super::protocol::close::SLOW_CONSUMER);
                    gone.push(*conn_id);
                }
                Err(mpsc::error::TrySendError::Closed(_)) => gone.push(*conn_id),
            }
        }
        drop(subs);
        if !gone.is_empty() {
            let mut subs = self.subscribers();
            for id in gone {
                subs.remove(&id);
            }
        }
        queued
    }

    /// Removes every subscription of `user_id` (they left or were removed).
    fn drop_user(&self, user_id: &str) {
        let item = Outbound::Removed {
            room: self.room_id.clone(),
        };
        let mut subs = self.subscribers();
        subs.retain(|_, sub| {
            if *sub.user_id == *user_id {
                let _ = sub.queue.try_send(item.clone());
                false
            } else {
                true
            }
        });
    }
}

/// How often an idle feed checks the database for events it never heard of.
const CATCH_UP_PERIOD: std::time::Duration = std::time::Duration::from_secs(5);

/// Runs a feed until it is stopped (no subscribers left) or its bus ends.
pub async fn run(state: AppState, feed: Arc<RoomFeed>) {
    let topic = rooms::topic(&feed.room_id);
    let mut events = match state.bus.subscribe(&topic).await {
        Ok(rx) => rx,
        Err(e) => {
            feed.ready.send_replace(Readiness::Failed(e.to_string()));
            return;
        }
    };
    let mut disruptions = state.bus.disruptions();
    disruptions.mark_unchanged();
    // Position after subscribing: anything committed later reaches us on the bus
    // or is found by a catch-up.
    let mut cursor = match position(&state, &feed.room_id).await {
        Ok(p) => p,
        Err(e) => {
            feed.ready.send_replace(Readiness::Failed(e));
            return;
        }
    };
    feed.ready.send_replace(Readiness::Ready);
    // A safety net for the one loss nothing else reveals: the room's newest event
    // announced by a node that died between commit and publish, with no event
    // after it. Cheap: one indexed read per active room per period.
    let mut audit_tick = tokio::time::interval(CATCH_UP_PERIOD);
    audit_tick.reset();
    loop {
        tokio::select! {
            _ = audit_tick.tick() => catch_up(&state, &feed, &mut cursor, None).await,
            _ = feed.stop.notified() => {
                if feed.is_empty() {
                    break;
                }
            }
            received = events.recv() => match received {
                Ok(event) => handle(&state, &feed, &mut cursor, &event).await,
                Err(RecvError::Lagged(n)) => {
                    tracing::warn!(room = %feed.room_id, skipped = n, "room feed lagged; catching up");
                    catch_up(&state, &feed, &mut cursor, None).await;
                }
                Err(RecvError::Closed) => break,
            },
            changed = disruptions.changed() => {
                if changed.is_err() {
                    break;
                }
                catch_up(&state, &feed, &mut cursor, None).await;
            }
        }
    }
}

/// Where the feed is in the room's stream.
struct Cursor {
    epoch: String,
    offset: i64,
}

async fn position(state: &AppState, room_id: &str) -> Result<Cursor, String> {
    let mut conn = state.store.conn().await.map_err(|e| e.to_string())?;
    let (offset, epoch) = room_store::position(&mut conn, room_id)
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| "room vanished".to_owned())?;
    Ok(Cursor { epoch, offset })
}

async fn handle(state: &AppState, feed: &RoomFeed, cursor: &mut Cursor, event: &Event) {
    match event.kind.as_str() {
        rooms::BUS_KIND => {
            let Some((epoch, row)) = decode_bus_event(&feed.room_id, &event.payload) else {
                tracing::warn!(room = %feed.room_id, "malformed room event on the bus");
                return;
            };
            if epoch != cursor.epoch {
                resync(feed, "epoch_changed");
                return;
            }
            if row.seq <= cursor.offset {
                return; // already delivered (a gap fill got there first)
            }
            if row.seq > cursor.offset + 1 {
                catch_up(state, feed, cursor, Some(row.seq - 1)).await;
                if row.seq != cursor.offset + 1 {
                    return;
                }
            }
            deliver(state, feed, cursor, &row);
        }
        rooms::MEMBER_REMOVED => {
            if let Some(user) = event.payload.get("user_id").and_then(|u| u.as_str()) {
                feed.drop_user(user);
            }
        }
        PRESENCE | TYPING | RECEIPT => {
            let mut frame = event.payload.clone();
            frame["room"] = json!(&*feed.room_id);
            frame["type"] = json!(match event.kind.as_str() {
                PRESENCE => "presence",
                TYPING => "typing",
                _ => "receipt",
            });
            let except = (event.kind == TYPING)
                .then(|| {
                    frame
                        .get("user_id")
                        .and_then(|u| u.as_str())
                        .map(str::to_owned)
                })
                .flatten();
            feed.dispatch(&Outbound::Push(frame.to_string().into()), except.as_deref());
        }
        _ => {}
    }
}

fn deliver(state: &AppState, feed: &RoomFeed, cursor: &mut Cursor, row: &room_store::EventRow) {
    match stream_event(&state.keyring, &cursor.epoch, row)
        .and_then(|e| serde_json::to_string(&e).map_err(crate::error::Error::internal))
    {
        Ok(text) => {
            let queued = feed.dispatch(
                &Outbound::Event {
                    room: feed.room_id.clone(),
                    offset: row.seq,
                    frame: text.into(),
                },
                None,
            );
            state.metrics.ws_deliveries.inc_by(queued);
        }
        Err(e) => {
            tracing::error!(room = %feed.room_id, error = %e, "cannot deliver a stored event");
            resync(feed, "unreadable_event");
        }
    }
    cursor.offset = row.seq;
}

/// Reads events after the cursor from the database (up to `up_to`, or the
/// room's current end) and delivers them in order.
async fn catch_up(state: &AppState, feed: &RoomFeed, cursor: &mut Cursor, up_to: Option<i64>) {
    let result = async {
        let mut conn = state.store.conn().await?;
        let (last, epoch) = room_store::position(&mut conn, &feed.room_id)
            .await?
            .ok_or_else(|| crate::error::Error::NotFound("room"))?;
        if epoch != cursor.epoch {
            return Ok(Err("epoch_changed"));
        }
        let target = up_to.map_or(last, |u| u.min(last));
        let batch = state.config.gateway.max_recovery_events as i64;
        if cursor.offset < target {
            state.metrics.feed_catch_ups.inc();
        }
        while cursor.offset < target {
            let rows =
                room_store::events_between(&mut conn, &feed.room_id, cursor.offset, target, batch)
                    .await?;
            if rows.first().is_none_or(|r| r.seq != cursor.offset + 1) {
                return Ok(Err("stream_hole"));
            }
            for row in &rows {
                if row.seq != cursor.offset + 1 {
                    return Ok(Err("stream_hole"));
                }
                deliver(state, feed, cursor, row);
            }
        }
        Ok::<_, crate::error::Error>(Ok(()))
    }
    .await;
    match result {
        Ok(Ok(())) => {}
        Ok(Err(reason)) => resync(feed, reason),
        Err(e) => {
            // The database is unreachable: the next event or disruption retries.
            tracing::warn!(room = %feed.room_id, error = %e, "room catch-up failed");
        }
    }
}

fn resync(feed: &RoomFeed, reason: &'static str) {
    feed.dispatch(
        &Outbound::Resync {
            room: feed.room_id.clone(),
            reason,
        },
        None,
    );
}
