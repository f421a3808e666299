//! Counts of live participants and peer connections, kept true by drop guards: the leak tests
//! read them to prove that a closed connection has really been freed.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Counts of live objects, shared by every room of one worker.
#[derive(Debug, Default)]
pub struct LiveCounters {
    participants: AtomicUsize,
    peer_connections: AtomicUsize,
}

impl LiveCounters {
    /// Participants whose state has not been freed yet.
    pub fn participants(&self) -> usize {
        self.participants.load(Ordering::SeqCst)
    }
    /// Server-side peer connections whose core (and so its event handler) has not been freed.
    pub fn peer_connections(&self) -> usize {
        self.peer_connections.load(Ordering::SeqCst)
    }
}

/// Which counter a [`LiveGuard`] counts in.
#[derive(Clone, Copy)]
pub(super) enum LiveKind {
    Participant,
    PeerConnection,
}

/// Increments a live counter on creation and decrements it on drop.
pub(super) struct LiveGuard {
    counters: Arc<LiveCounters>,
    kind: LiveKind,
}

impl LiveGuard {
    pub(super) fn new(counters: &Arc<LiveCounters>, kind: LiveKind) -> Self {
        let guard = LiveGuard {
            counters: Arc::clone(counters),
            kind,
        };
        guard.counter().fetch_add(1, Ordering::SeqCst);
        guard
    }
    fn counter(&self) -> &AtomicUsize {
        match self.kind {
            LiveKind::Participant => &self.counters.participants,
            LiveKind::PeerConnection => &self.counters.peer_connections,
        }
    }
}

impl Drop for LiveGuard {
    fn drop(&mut self) {
        self.counter().fetch_sub(1, Ordering::SeqCst);
    }
}
