//! The node's open connections: a cap on how many, which are busy, and which
//! one to close when a new client arrives at the cap.
//!
//! A flood of idle connections must not lock out real clients (a load
//! balancer's `/healthz`): at the cap, the longest-open connection with no
//! request in progress is closed to make room. Connections serving a request or
//! upgraded to a WebSocket are never chosen; if every connection is busy, the
//! newcomer is closed instead.

use std::{
    collections::BTreeMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};

/// One connection's state, shared by its task, its requests and the registry.
#[derive(Debug)]
pub struct ConnState {
    id: u64,
    started: Instant,
    in_flight: AtomicUsize,
    /// Milliseconds since `started` of the last request's end (or the start).
    last_active_ms: AtomicU64,
    /// Upgraded (101): owned by the WebSocket from now on, never idle.
    upgraded: AtomicBool,
    evicted: AtomicBool,
    /// Wakes the connection's task: a request began or ended, or it was evicted.
    pub changed: Notify,
}

impl ConnState {
    fn new(id: u64) -> Self {
        Self {
            id,
            started: Instant::now(),
            in_flight: AtomicUsize::new(0),
            last_active_ms: AtomicU64::new(0),
            upgraded: AtomicBool::new(false),
            evicted: AtomicBool::new(false),
            changed: Notify::new(),
        }
    }

    /// A request is being served: the connection is not idle until it ends.
    pub fn begin(&self) {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        self.changed.notify_one();
    }

    /// The request's response is ready; a 101 keeps the connection busy for good.
    pub fn end(&self, upgraded: bool) {
        if upgraded {
            self.upgraded.store(true, Ordering::Release);
        }
        let ms = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_active_ms.store(ms, Ordering::Release);
        self.in_flight.fetch_sub(1, Ordering::AcqRel);
        self.changed.notify_one();
    }

    pub fn busy(&self) -> bool {
        self.in_flight.load(Ordering::Acquire) > 0 || self.upgraded.load(Ordering::Acquire)
    }

    pub fn evicted(&self) -> bool {
        self.evicted.load(Ordering::Acquire)
    }

    /// When an idle connection is closed: `idle` after its last request (or
    /// its start); `None` while busy.
    pub fn idle_deadline(&self, idle: Duration) -> Option<Instant> {
        if self.busy() {
            return None;
        }
        let last = Duration::from_millis(self.last_active_ms.load(Ordering::Acquire));
        Some(self.started + last + idle)
    }
}

/// The cap and the live connections.
#[derive(Debug)]
pub struct Registry {
    slots: Arc<Semaphore>,
    live: Mutex<BTreeMap<u64, Arc<ConnState>>>,
    next_id: AtomicU64,
}

/// A connection's place under the cap: the permit lives as long as the socket
/// (it moves into a WebSocket with it), the entry until its HTTP task ends.
pub struct Admission {
    pub permit: OwnedSemaphorePermit,
    pub state: Arc<ConnState>,
}

impl Registry {
    pub fn new(max_connections: usize) -> Self {
        Self {
            slots: Arc::new(Semaphore::new(max_connections)),
            live: Mutex::new(BTreeMap::new()),
            next_id: AtomicU64::new(1),
        }
    }

    fn live(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, Arc<ConnState>>> {
        self.live.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A slot for a new connection. At the cap, closes the oldest idle
    /// connection and waits (briefly) for its slot; `None` when every
    /// connection is busy, and the newcomer must be closed.
    pub async fn admit(&self) -> Option<Admission> {
        let permit = match self.slots.clone().try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => {
                if !self.evict_one() {
                    return None;
                }
                let wait = self.slots.clone().acquire_owned();
                tokio::time::timeout(Duration::from_secs(2), wait)
                    .await
                    .ok()?
                    .ok()?
            }
        };
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let state = Arc::new(ConnState::new(id));
        self.live().insert(id, state.clone());
        Some(Admission { permit, state })
    }

    /// Asks the oldest connection with no request in progress to close.
    pub fn evict_one(&self) -> bool {
        let live = self.live();
        let victim = live
            .values()
            .find(|c| !c.busy() && !c.evicted.load(Ordering::Acquire));
        match victim {
            Some(c) => {
                c.evicted.store(true, Ordering::Release);
                c.changed.notify_one();
                true
            }
            None => false,
        }
    }

    /// The connection's HTTP task ended (closed, or handed to a WebSocket).
    pub fn remove(&self, state: &ConnState) {
        self.live().remove(&state.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn at_the_cap_the_oldest_idle_connection_makes_room() {
        let registry = Arc::new(Registry::new(2));
        let first = registry.admit().await.unwrap();
        let second = registry.admit().await.unwrap();
        second.state.begin();
        // The newcomer evicts `first` (idle), not `second` (busy); `first`'s task
        // closes and its permit frees the slot.
        let r = registry.clone();
        let newcomer = tokio::spawn(async move { r.admit().await.map(|a| a.state.id) });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(first.state.evicted());
        assert!(!second.state.evicted());
        registry.remove(&first.state);
        drop(first);
        assert!(newcomer.await.unwrap().is_some());
    }

    #[tokio::test]
    async fn when_every_connection_is_busy_the_newcomer_is_refused() {
        let registry = Registry::new(1);
        let only = registry.admit().await.unwrap();
        only.state.begin();
        only.state.end(true);
        assert!(only.state.busy(), "a WebSocket stays busy");
        assert!(registry.admit().await.is_none());
        assert!(!only.state.evicted());
    }

    #[test]
    fn idle_deadline_counts_from_the_last_request() {
        let state = ConnState::new(1);
        let idle = Duration::from_secs(5);
        assert_eq!(state.idle_deadline(idle), Some(state.started + idle));
        state.begin();
        assert_eq!(state.idle_deadline(idle), None);
        std::thread::sleep(Duration::from_millis(20));
        state.end(false);
        assert!(
            state.idle_deadline(idle).unwrap() >= state.started + idle + Duration::from_millis(20)
        );
    }
}
