//! The event bus every module publishes on and every live surface reads from.
//!
//! One trait, chosen at startup: in-process (one node, the default) or Redis
//! pub/sub (several nodes; selected by `redis_url`). Events are notifications,
//! not the record: the database is the truth, and a subscriber that misses
//! events recovers from it.

mod in_process;
mod redis;

use std::{future::Future, pin::Pin, sync::Arc};

use serde::{Deserialize, Serialize};
use tokio::sync::{broadcast, watch};

pub use self::redis::RedisBus;
pub use in_process::InProcessBus;

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// One event on a topic (`org.<id>`, `user.<id>`, `room.<id>`, ...).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Event {
    pub topic: String,
    /// Event type, e.g. `membership.changed`.
    pub kind: String,
    pub payload: serde_json::Value,
}

#[derive(Debug, thiserror::Error)]
pub enum BusError {
    #[error("event bus unavailable: {0}")]
    Unavailable(String),
}

pub trait EventBus: Send + Sync + 'static {
    /// Which implementation this is, for `/readyz` and logs.
    fn name(&self) -> &'static str;

    fn publish(&self, event: Event) -> BoxFuture<'_, Result<(), BusError>>;

    /// Receives the topic's events published from now on. A receiver that falls
    /// behind gets `RecvError::Lagged` and must recover from the database.
    fn subscribe(
        &self,
        topic: &str,
    ) -> BoxFuture<'_, Result<broadcast::Receiver<Arc<Event>>, BusError>>;

    /// Whether the bus can carry events right now (`/readyz`).
    fn ping(&self) -> BoxFuture<'_, Result<(), BusError>>;

    /// A counter that moves whenever the bus may have dropped events: after a
    /// reconnect (Redis restarted, network cut) and after publishes it could not
    /// deliver. Subscribers that keep a position (the gateway's room feeds) watch
    /// it and catch up from the database, so a quiet room does not wait for its
    /// next message to notice the loss.
    fn disruptions(&self) -> watch::Receiver<u64>;
}
