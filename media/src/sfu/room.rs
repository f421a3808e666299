//! A [`Room`]: the participants of one visit joining, trickling candidates, leaving, and the
//! room closing.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Instant;

use webrtc::peer_connection::{RTCIceCandidateInit, RTCSessionDescription};

use super::config::SfuConfig;
use super::connection::PeerShared;
use super::downtrack::DownTrack;
use super::live::{LiveCounters, LiveGuard, LiveKind};
use super::locks::{lock, write};
use super::negotiation::Negotiation;
use super::participant::{Participant, Traffic};
use super::publication::Publication;
use super::slots::SlotTable;
use super::stats::RateSample;
use crate::error::{MediaError, Result};

/// What the room lock guards.
pub(super) struct RoomState {
    pub(super) participants: HashMap<String, Arc<Participant>>,
    /// Set by [`Room::close`]: no more joins.
    pub(super) closed: bool,
}

/// A room of the SFU: the participants of one visit.
pub struct Room {
    pub(super) id: String,
    pub(super) config: Arc<SfuConfig>,
    pub(super) counters: Arc<LiveCounters>,
    /// An async lock: join, answer and leave hold it across the connections' awaits.
    pub(super) state: tokio::sync::Mutex<RoomState>,
    /// Numbers the connections, so late events of one that has left are told apart.
    pub(super) next_session: AtomicU64,
    /// This room, weakly: for the event handlers of its connections, which must not own it
    /// (see the [`sfu`](crate::sfu) module docs).
    pub(super) me: Weak<Room>,
}

impl Room {
    /// A new empty room with its own live counters.
    pub fn new(id: impl Into<String>, config: SfuConfig) -> Arc<Room> {
        Self::with_counters(id, Arc::new(config), Arc::new(LiveCounters::default()))
    }

    /// A new empty room counting into `counters` (shared by a worker's rooms).
    pub fn with_counters(
        id: impl Into<String>,
        config: Arc<SfuConfig>,
        counters: Arc<LiveCounters>,
    ) -> Arc<Room> {
        let id = id.into();
        Arc::new_cyclic(|me| Room {
            id,
            config,
            counters,
            state: tokio::sync::Mutex::new(RoomState {
                participants: HashMap::new(),
                closed: false,
            }),
            next_session: AtomicU64::new(1),
            me: me.clone(),
        })
    }

    /// The room id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The live-object counters this room counts into.
    pub fn counters(&self) -> &Arc<LiveCounters> {
        &self.counters
    }

    /// Server-side peer connections not freed yet (see the [`sfu`](crate::sfu) module docs).
    pub fn live_peer_connections(&self) -> usize {
        self.counters.peer_connections()
    }

    /// Ids of the participants currently in the room.
    pub async fn participants(&self) -> Vec<String> {
        let st = self.state.lock().await;
        let mut ids: Vec<String> = st.participants.keys().cloned().collect();
        ids.sort();
        ids
    }

    /// Joins `participant` with its SDP `offer`; returns the SFU's answer.
    ///
    /// Tracks the other participants already publish are added to the new connection right
    /// after, and offered to the participant in a pending offer ([`Room::take_pending`]).
    pub async fn join(&self, participant: &str, offer: &str) -> Result<String> {
        let offer = RTCSessionDescription::offer(offer.to_owned())
            .map_err(|e| MediaError::InvalidSdp(e.to_string()))?;
        let mut st = self.state.lock().await;
        if st.closed {
            return Err(MediaError::RoomClosed(self.id.clone()));
        }
        if st.participants.contains_key(participant) {
            return Err(MediaError::AlreadyJoined(participant.to_owned()));
        }
        let session = self.next_session.fetch_add(1, Ordering::Relaxed);
        let shared = Arc::new(PeerShared::new());
        let slots = Arc::new(SlotTable::default());
        let pc = self
            .build_peer_connection(participant, session, &shared, &slots)
            .await?;
        let answer = match self.answer_offer(&pc, &shared, offer).await {
            Ok(answer) => answer,
            Err(e) => {
                let _ = pc.close().await;
                return Err(e);
            }
        };
        let newcomer = Arc::new(Participant {
            id: participant.to_owned(),
            session,
            pc,
            shared,
            traffic: Arc::new(Traffic::default()),
            publications: Mutex::new(Vec::new()),
            downtracks: Mutex::new(Vec::new()),
            slots,
            negotiation: Mutex::new(Negotiation::default()),
            last_sample: Mutex::new(RateSample {
                at: Instant::now(),
                bytes_in: 0,
                bytes_out: 0,
            }),
            _live: LiveGuard::new(&self.counters, LiveKind::Participant),
        });
        st.participants
            .insert(participant.to_owned(), Arc::clone(&newcomer));

        let existing: Vec<Arc<Publication>> = st
            .participants
            .values()
            .filter(|p| p.id != participant)
            .flat_map(|p| lock(&p.publications).clone())
            .collect();
        let mut added = false;
        for publication in existing {
            match self.subscribe(&newcomer, &publication).await {
                Ok(()) => added = true,
                Err(e) => log::warn!(
                    "room {}: cannot forward {} to {participant}: {e}",
                    self.id,
                    publication.track_id
                ),
            }
        }
        // The join itself succeeded; a failed follow-up offer must not turn it into an error
        // (the participant is in the room). It is logged and retried on the next change.
        if added && let Err(e) = self.renegotiate(&newcomer).await {
            log::warn!("room {}: first offer to {participant} failed: {e}", self.id);
            lock(&newcomer.negotiation).dirty = true;
        }
        Ok(answer)
    }

    /// Applies a trickled ICE candidate from the participant. An empty candidate (end of
    /// candidates) is accepted and ignored.
    pub async fn add_candidate(
        &self,
        participant: &str,
        candidate: RTCIceCandidateInit,
    ) -> Result<()> {
        let pc = {
            let st = self.state.lock().await;
            Arc::clone(&get(&st, participant)?.pc)
        };
        if candidate.candidate.trim().is_empty() {
            return Ok(());
        }
        pc.add_ice_candidate(candidate)
            .await
            .map_err(|e| MediaError::InvalidCandidate(e.to_string()))
    }

    /// Removes the participant: closes its connection and removes its tracks from everyone
    /// else (who each get a pending offer without them).
    pub async fn leave(&self, participant: &str) -> Result<()> {
        self.leave_session(participant, None).await
    }

    /// Removes everybody and refuses further joins.
    pub async fn close(&self) {
        let mut st = self.state.lock().await;
        st.closed = true;
        let everyone: Vec<Arc<Participant>> = st.participants.drain().map(|(_, p)| p).collect();
        drop(st);
        for p in everyone {
            Self::dismantle(&p).await;
        }
    }

    /// Leaves `participant`; with `session`, only if it is still that connection (a stale
    /// failure report must not remove a participant that has rejoined).
    pub(super) async fn leave_session(
        &self,
        participant: &str,
        session: Option<u64>,
    ) -> Result<()> {
        let mut st = self.state.lock().await;
        match st.participants.get(participant) {
            None => return Err(MediaError::UnknownParticipant(participant.to_owned())),
            Some(p) if session.is_some_and(|s| s != p.session) => return Ok(()),
            Some(_) => {}
        }
        let leaving = st.participants.remove(participant).expect("checked above");
        let others: Vec<Arc<Participant>> = st.participants.values().cloned().collect();
        for other in &others {
            // Stop forwarding to the leaver.
            for publication in lock(&other.publications).iter() {
                write(&publication.legs).remove(participant);
            }
            // Stop forwarding from the leaver, and free its legs' slots on the other connection
            // (inactive at the next offer, reused by the next leg of the same kind).
            let removed: Vec<Arc<DownTrack>> = {
                let mut legs = lock(&other.downtracks);
                let (gone, kept): (Vec<_>, Vec<_>) =
                    legs.drain(..).partition(|leg| leg.publisher == participant);
                *legs = kept;
                gone
            };
            if removed.is_empty() {
                continue;
            }
            for leg in &removed {
                if let Err(e) = leg.slot.release().await {
                    log::warn!("room {}: freeing a slot of {}: {e}", self.id, other.id);
                }
            }
            drop(removed);
            if let Err(e) = self.renegotiate(other).await {
                log::warn!(
                    "room {}: renegotiation of {} failed: {e}",
                    self.id,
                    other.id
                );
            }
        }
        drop(st);
        Self::dismantle(&leaving).await;
        Ok(())
    }

    /// Closes a participant that is no longer in the room map and drops what it holds.
    async fn dismantle(p: &Arc<Participant>) {
        for publication in lock(&p.publications).drain(..) {
            write(&publication.legs).clear();
        }
        lock(&p.downtracks).clear();
        if let Err(e) = p.pc.close().await {
            log::warn!("closing {}'s connection: {e}", p.id);
        }
    }
}

/// The participant with that id, or [`MediaError::UnknownParticipant`].
pub(super) fn get<'a>(st: &'a RoomState, participant: &str) -> Result<&'a Arc<Participant>> {
    st.participants
        .get(participant)
        .ok_or_else(|| MediaError::UnknownParticipant(participant.to_owned()))
}
