//! A selective forwarding unit on webrtc 0.21.
//!
//! One [`Room`] per visit. Each participant has exactly one server-side peer connection:
//!
//! - what the participant *publishes* arrives on the transceivers created from its own offer
//!   (the SFU answers them `recvonly`);
//! - everything the *other* participants publish is sent to it on `sendonly` transceivers the
//!   SFU adds, one leg per (publisher track, subscriber), written through a
//!   [`TrackLocalStaticRTP`]. A leg's transceiver (its *slot*) outlives the leg: when a
//!   publisher leaves, the slot goes inactive and the next leg of the same kind reuses it, so
//!   a participant who stays through many others' visits keeps a bounded SDP (`slots.rs`).
//!
//! Every RTP packet read from a publisher's remote track is copied to each subscriber leg with
//! the leg's own SSRC and negotiated payload type, and with the header extensions stripped (the
//! extension ids are negotiated per leg too; see [`DownTrack::forward`]). A leg's writes go
//! through a small bounded queue and its own task, so a slow subscriber drops its own packets
//! instead of stalling the publisher's other subscribers.
//!
//! ## Signaling model
//!
//! - [`Room::join`] takes the participant's offer and returns the SFU's answer (non-trickle on
//!   the SFU side: the answer already carries the SFU's host candidates; they are also queued
//!   for [`Room::take_pending`]).
//! - Whenever tracks are added to or removed from an existing participant's connection, the SFU
//!   creates a new offer for it. That offer is *pending* until fetched with
//!   [`Room::take_pending_offer`] (to be delivered over `/ws`) and answered with
//!   [`Room::answer`]. Changes that happen while an offer is outstanding are folded into the
//!   next offer, made as soon as the answer arrives.
//! - [`Room::add_candidate`] applies a trickled candidate from the participant.
//!
//! ## Keyframes
//!
//! When a video leg has been negotiated and the subscriber's connection is up, the SFU sends
//! a PLI to the publisher, so the new subscriber's decoder starts on a keyframe.
//!
//! ## Freeing closed connections (webrtc-rs issue 906)
//!
//! In webrtc 0.21.1 the library-side cycle (transceiver/sender/receiver → `PeerConnectionRef`)
//! is fixed: those back-references are `Weak` (see webrtc's test
//! `close_releases_connection_with_transceivers`). What remains is the *application* side of
//! the same trap: the event handler is owned by the connection for its whole life and 0.21 has
//! no way to clear it (`on_track`/`on_ice_candidate` are trait methods of a handler passed once
//! to the builder, not settable closures). So a handler that holds an `Arc` to anything that
//! owns the connection (our `Participant`, the `Room`) is a cycle nothing breaks. Here the
//! handler holds only a `Weak<Room>`, the participant id and an `Arc<PeerShared>` that owns no
//! connection, and every long-lived task ends on its own when the connection closes (remote
//! track streams return `None`, leg queues close when their `DownTrack` is dropped). The
//! handler carries a [`LiveGuard`], so [`Room::live_peer_connections`] counts connections whose
//! core has really been freed — the leak test asserts it returns to zero.
//!
//! ## Where things are
//!
//! | file | what |
//! | --- | --- |
//! | `mod.rs` | [`Sfu`]: a worker's rooms and shared counters |
//! | `config.rs` | [`SfuConfig`] |
//! | `live.rs` | [`LiveCounters`] and the guard that keeps them true |
//! | `room.rs` | [`Room`]: join, trickled candidates, leave, close |
//! | `participant.rs` | one participant's state and traffic counters |
//! | `connection.rs` | building a participant's peer connection; its event handler |
//! | `negotiation.rs` | SFU offers, the participant's answers, [`PendingSignal`] |
//! | `publication.rs` | a track a participant publishes |
//! | `downtrack.rs` | adding a subscriber leg of a publication |
//! | `slots.rs` | leg transceivers kept and reused across legs (bounded m-lines over churn) |
//! | `forward.rs` | the RTP path: publisher → legs, the per-leg rewrite |
//! | `keyframes.rs` | keyframe requests (PLI) to publishers |
//! | `rtcp.rs` | subscribers' RTCP: [`RtcpFeedbackForwarder`] and the feedback reader (by SSRC) |
//! | `stats.rs` | [`ParticipantStats`] |
//! | `locks.rs` | lock helpers that survive poisoning |
//!
//! [`TrackLocalStaticRTP`]: webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP
//! [`DownTrack::forward`]: downtrack::DownTrack::forward
//! [`LiveGuard`]: live::LiveGuard

mod config;
mod connection;
mod downtrack;
mod forward;
mod keyframes;
mod live;
mod locks;
mod negotiation;
mod participant;
mod publication;
mod room;
mod rtcp;
mod slots;
mod stats;

use std::collections::HashMap;
use std::sync::Arc;

use crate::error::{MediaError, Result};

pub use config::SfuConfig;
pub use live::LiveCounters;
pub use negotiation::PendingSignal;
pub use room::Room;
pub use rtcp::RtcpFeedbackForwarder;
pub use stats::ParticipantStats;

/// The SFU of one media worker: its rooms and shared counters.
pub struct Sfu {
    config: Arc<SfuConfig>,
    counters: Arc<LiveCounters>,
    rooms: tokio::sync::Mutex<HashMap<String, Arc<Room>>>,
}

impl Sfu {
    /// A worker with no rooms.
    pub fn new(config: SfuConfig) -> Self {
        Sfu {
            config: Arc::new(config),
            counters: Arc::new(LiveCounters::default()),
            rooms: tokio::sync::Mutex::new(HashMap::new()),
        }
    }

    /// Live counters over every room of this worker.
    pub fn counters(&self) -> &Arc<LiveCounters> {
        &self.counters
    }

    /// Creates a room.
    pub async fn create_room(&self, id: &str) -> Result<Arc<Room>> {
        let mut rooms = self.rooms.lock().await;
        if rooms.contains_key(id) {
            return Err(MediaError::RoomExists(id.to_owned()));
        }
        let room = Room::with_counters(id, Arc::clone(&self.config), Arc::clone(&self.counters));
        rooms.insert(id.to_owned(), Arc::clone(&room));
        Ok(room)
    }

    /// The room with that id.
    pub async fn room(&self, id: &str) -> Result<Arc<Room>> {
        self.rooms
            .lock()
            .await
            .get(id)
            .cloned()
            .ok_or_else(|| MediaError::UnknownRoom(id.to_owned()))
    }

    /// Closes and forgets a room.
    pub async fn close_room(&self, id: &str) -> Result<()> {
        let room = self
            .rooms
            .lock()
            .await
            .remove(id)
            .ok_or_else(|| MediaError::UnknownRoom(id.to_owned()))?;
        room.close().await;
        Ok(())
    }

    /// Number of rooms (the placement load figure).
    pub async fn room_count(&self) -> usize {
        self.rooms.lock().await.len()
    }
}
