//! One participant of a room: its server-side connection, what it publishes and receives,
//! and its traffic counters.

use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};

use webrtc::peer_connection::PeerConnection;

use super::connection::PeerShared;
use super::downtrack::DownTrack;
use super::live::LiveGuard;
use super::negotiation::Negotiation;
use super::publication::Publication;
use super::slots::SlotTable;
use super::stats::RateSample;

/// A participant in a room, with its one server-side peer connection.
pub(super) struct Participant {
    pub(super) id: String,
    /// Tells this connection from earlier ones under the same id: events of a connection
    /// that has left since carry an older session and are ignored.
    pub(super) session: u64,
    pub(super) pc: Arc<dyn PeerConnection>,
    /// Shared with the connection's event handler (candidates, gathering, connection state).
    pub(super) shared: Arc<PeerShared>,
    pub(super) traffic: Arc<Traffic>,
    /// Tracks this participant publishes.
    pub(super) publications: Mutex<Vec<Arc<Publication>>>,
    /// Legs of the other participants' tracks forwarded to this participant.
    pub(super) downtracks: Mutex<Vec<Arc<DownTrack>>>,
    /// The connection's `sendonly` transceivers, used by `downtracks` or free for reuse.
    pub(super) slots: Arc<SlotTable>,
    pub(super) negotiation: Mutex<Negotiation>,
    /// Byte counts at the previous `get_stats`, for the bitrates.
    pub(super) last_sample: Mutex<RateSample>,
    /// Counts this participant in
    /// [`LiveCounters::participants`](super::LiveCounters::participants).
    pub(super) _live: LiveGuard,
}

/// Per-participant traffic counters, updated by the forwarding tasks.
#[derive(Debug, Default)]
pub(super) struct Traffic {
    pub(super) packets_in: AtomicU64,
    pub(super) bytes_in: AtomicU64,
    pub(super) packets_out: AtomicU64,
    pub(super) bytes_out: AtomicU64,
    /// Packets meant for this participant that were not sent (leg not negotiated yet, queue
    /// full, or the write failed).
    pub(super) dropped_out: AtomicU64,
    /// PLIs the SFU sent to this participant as a publisher.
    pub(super) plis_received: AtomicU64,
}
