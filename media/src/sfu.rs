//! A selective forwarding unit on webrtc 0.21.
//!
//! One [`Room`] per visit. Each participant has exactly one server-side peer connection:
//!
//! - what the participant *publishes* arrives on the transceivers created from its own offer
//!   (the SFU answers them `recvonly`);
//! - everything the *other* participants publish is sent to it on `sendonly` transceivers the
//!   SFU adds, one [`TrackLocalStaticRTP`] per (publisher track, subscriber) leg.
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
//!   for [`Room::take_local_candidates`]).
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

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU16, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rtc::ice::mdns::MulticastDnsMode;
use rtc::interceptor::{Attribute, Interceptor, Packet, Slot, StreamInfo, TaggedPacket};
use rtc::media_stream::MediaStreamTrack;
use rtc::peer_connection::configuration::media_engine::{MIME_TYPE_OPUS, MIME_TYPE_VP8};
use rtc::rtcp::payload_feedbacks::full_intra_request::FullIntraRequest;
use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use rtc::rtcp::receiver_report::ReceiverReport;
use rtc::rtp;
use rtc::rtp_transceiver::rtp_sender::{
    RTCPFeedback, RTCRtpCodec, RTCRtpCodecParameters, RTCRtpCodingParameters,
    RTCRtpEncodingParameters, RtpCodecKind,
};
use rtc::rtp_transceiver::{RTCRtpTransceiverDirection, RTCRtpTransceiverInit};
use rtc::sansio::Protocol;
use rtc::statistics::report::RTCStatsReportEntry;
use serde::Serialize;
use tokio::sync::{mpsc, watch};
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;
use webrtc::media_stream::track_local::{TrackLocal, TrackLocalEvent};
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};
use webrtc::peer_connection::{
    MediaEngine, PeerConnection, PeerConnectionBuilder, PeerConnectionEventHandler,
    RTCConfigurationBuilder, RTCIceCandidateInit, RTCIceGatheringState, RTCIceServer,
    RTCPeerConnectionIceEvent, RTCPeerConnectionState, RTCSessionDescription, Registry,
    SettingEngineBuilder, StatsSelector, register_default_interceptors,
};
use webrtc::rtp_transceiver::{RtpSender, RtpTransceiver};

use crate::error::{MediaError, Result};

/// Payload type value meaning "not negotiated yet" for a leg.
const NO_PT: u16 = u16::MAX;

/// Configuration of the SFU's peer connections.
#[derive(Clone, Debug)]
pub struct SfuConfig {
    /// Local UDP addresses each connection binds. They must be explicit: webrtc 0.21 expands a
    /// wildcard (`0.0.0.0:0`) into one socket per interface and skips loopback, so a wildcard
    /// bind can never talk to a peer on 127.0.0.1. Port 0 = one ephemeral port per connection.
    pub bind_addrs: Vec<SocketAddr>,
    /// STUN/TURN servers for the SFU's own gathering (normally none: it has a public address).
    pub ice_servers: Vec<RTCIceServer>,
    /// How long `join` waits for the SFU's candidates before answering anyway.
    pub gather_timeout: Duration,
    /// Packets queued per subscriber leg before that leg starts dropping.
    pub leg_queue: usize,
}

impl Default for SfuConfig {
    fn default() -> Self {
        SfuConfig {
            bind_addrs: vec![SocketAddr::from(([127, 0, 0, 1], 0))],
            ice_servers: vec![],
            gather_timeout: Duration::from_secs(3),
            leg_queue: 512,
        }
    }
}

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

#[derive(Clone, Copy)]
enum LiveKind {
    Participant,
    PeerConnection,
}

/// Increments a live counter on creation and decrements it on drop.
struct LiveGuard {
    counters: Arc<LiveCounters>,
    kind: LiveKind,
}

impl LiveGuard {
    fn new(counters: &Arc<LiveCounters>, kind: LiveKind) -> Self {
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

/// Per-participant traffic counters, updated by the forwarding tasks.
#[derive(Debug, Default)]
struct Traffic {
    packets_in: AtomicU64,
    bytes_in: AtomicU64,
    packets_out: AtomicU64,
    bytes_out: AtomicU64,
    /// Packets meant for this participant that were not sent (leg not negotiated yet, queue
    /// full, or the write failed).
    dropped_out: AtomicU64,
    /// PLIs the SFU sent to this participant as a publisher.
    plis_received: AtomicU64,
}

/// State shared between a participant and its connection's event handler. Owns no connection.
struct PeerShared {
    gathered: watch::Sender<bool>,
    state: watch::Sender<RTCPeerConnectionState>,
    candidates: Mutex<Vec<RTCIceCandidateInit>>,
}

impl PeerShared {
    fn new() -> Self {
        PeerShared {
            gathered: watch::Sender::new(false),
            state: watch::Sender::new(RTCPeerConnectionState::New),
            candidates: Mutex::new(Vec::new()),
        }
    }
}

/// The event handler of one server-side connection. Holds no strong reference to anything
/// that owns the connection (see the module docs), and the live-connection guard.
struct PeerHandler {
    room: Weak<Room>,
    participant: String,
    session: u64,
    shared: Arc<PeerShared>,
    _live: LiveGuard,
}

#[async_trait::async_trait]
impl PeerConnectionEventHandler for PeerHandler {
    async fn on_ice_candidate(&self, event: RTCPeerConnectionIceEvent) {
        if let Ok(init) = event.candidate.to_json() {
            lock(&self.shared.candidates).push(init);
        }
    }

    async fn on_ice_gathering_state_change(&self, state: RTCIceGatheringState) {
        if state == RTCIceGatheringState::Complete {
            self.shared.gathered.send_replace(true);
        }
    }

    async fn on_connection_state_change(&self, state: RTCPeerConnectionState) {
        self.shared.state.send_replace(state);
        if state == RTCPeerConnectionState::Failed
            && let Some(room) = self.room.upgrade()
        {
            // Callbacks run on the connection's driver: anything that calls back into a
            // connection must be spawned, or it waits on the driver it is blocking.
            let (pid, session) = (self.participant.clone(), self.session);
            tokio::spawn(async move {
                let _ = room.leave_session(&pid, Some(session)).await;
            });
        }
    }

    async fn on_track(&self, track: Arc<dyn TrackRemote>) {
        if let Some(room) = self.room.upgrade() {
            let (pid, session) = (self.participant.clone(), self.session);
            tokio::spawn(async move {
                room.on_publisher_track(&pid, session, track).await;
            });
        }
    }
}

#[derive(Default)]
struct Negotiation {
    /// An SFU offer has been applied locally and waits for the participant's answer.
    awaiting_answer: bool,
    /// Tracks changed while an offer was outstanding: offer again after the answer.
    dirty: bool,
    /// The offer not yet fetched by signaling.
    pending_offer: Option<String>,
    /// The outstanding offer, kept to hand out again if the answer to it is refused.
    outstanding_offer: Option<String>,
}

struct RateSample {
    at: Instant,
    bytes_in: u64,
    bytes_out: u64,
}

struct Participant {
    id: String,
    session: u64,
    pc: Arc<dyn PeerConnection>,
    shared: Arc<PeerShared>,
    traffic: Arc<Traffic>,
    publications: Mutex<Vec<Arc<Publication>>>,
    downtracks: Mutex<Vec<Arc<DownTrack>>>,
    negotiation: Mutex<Negotiation>,
    last_sample: Mutex<RateSample>,
    _live: LiveGuard,
}

/// One track a participant publishes, and the legs it is forwarded on.
struct Publication {
    publisher: String,
    /// The id every subscriber leg of this publication carries (unique per room).
    track_id: String,
    kind: RtpCodecKind,
    codec: RTCRtpCodec,
    media_ssrc: u32,
    remote: Arc<dyn TrackRemote>,
    publisher_traffic: Arc<Traffic>,
    /// subscriber participant id → its leg.
    legs: RwLock<HashMap<String, Arc<DownTrack>>>,
    last_keyframe_request: Mutex<Option<Instant>>,
}

/// Keyframe requests to one publisher closer together than this are merged.
const KEYFRAME_REQUEST_INTERVAL: Duration = Duration::from_millis(250);

impl Publication {
    /// Sends a PLI to the publisher of this (video) track, at most once per
    /// [`KEYFRAME_REQUEST_INTERVAL`].
    async fn request_keyframe(&self) {
        if self.kind != RtpCodecKind::Video {
            return;
        }
        {
            let mut last = lock(&self.last_keyframe_request);
            let now = Instant::now();
            if last.is_some_and(|t| now.duration_since(t) < KEYFRAME_REQUEST_INTERVAL) {
                return;
            }
            *last = Some(now);
        }
        let pli = PictureLossIndication {
            sender_ssrc: 0,
            media_ssrc: self.media_ssrc,
        };
        if self.remote.write_rtcp(vec![Box::new(pli)]).await.is_ok() {
            self.publisher_traffic
                .plis_received
                .fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// One subscriber leg of a publication.
struct DownTrack {
    publisher: String,
    publication_track_id: String,
    kind: RtpCodecKind,
    codec: RTCRtpCodec,
    /// This leg's SSRC (announced in the subscriber's SDP).
    ssrc: u32,
    /// This leg's negotiated payload type, [`NO_PT`] until its negotiation completed.
    payload_type: AtomicU16,
    /// Set once a keyframe has been requested for this leg.
    keyframe_requested: AtomicBool,
    /// Loss fraction (x/256) from the subscriber's latest receiver report on this leg.
    fraction_lost: AtomicU16,
    sender: Arc<dyn RtpSender>,
    transceiver: Arc<dyn RtpTransceiver>,
    queue: mpsc::Sender<rtp::Packet>,
    subscriber_traffic: Arc<Traffic>,
}

impl DownTrack {
    /// Queues a copy of `packet` for this leg.
    ///
    /// webrtc 0.21's `RTCRtpSender::write_rtp` refuses (and the driver only logs, at `error`
    /// level, which nobody sees without a logger) any packet whose SSRC is not one of the
    /// sender track's, whose payload type is not negotiated on this leg, or which carries a
    /// header extension id not negotiated on this leg. The publisher's packets fail all three,
    /// so each copy gets the leg's SSRC and payload type, and its extensions are stripped.
    fn forward(&self, packet: &rtp::Packet) {
        let pt = self.payload_type.load(Ordering::Acquire);
        if pt == NO_PT {
            self.subscriber_traffic
                .dropped_out
                .fetch_add(1, Ordering::Relaxed);
            return;
        }
        if self
            .queue
            .try_send(leg_copy(packet, self.ssrc, pt as u8))
            .is_err()
        {
            self.subscriber_traffic
                .dropped_out
                .fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// What [`Room::take_pending`] hands to signaling for one participant.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PendingSignal {
    /// An SFU offer to deliver; answer it with [`Room::answer`].
    pub offer: Option<String>,
    /// The SFU's ICE candidates gathered since the last fetch.
    pub candidates: Vec<RTCIceCandidateInit>,
}

/// A participant's quality figures, as reported by [`Room::get_stats`].
#[derive(Debug, Clone, Serialize)]
pub struct ParticipantStats {
    /// Participant id.
    pub participant: String,
    /// Connection state of the SFU's peer connection (`new`, `connecting`, `connected`, ...).
    pub connection_state: String,
    /// Bits per second received from this participant since the previous `get_stats`.
    pub bitrate_in_bps: f64,
    /// Bits per second sent to this participant since the previous `get_stats`.
    pub bitrate_out_bps: f64,
    /// RTP packets received from this participant.
    pub packets_in: u64,
    /// RTP packets sent to this participant.
    pub packets_out: u64,
    /// RTP bytes (payload + 12-byte header) received from this participant.
    pub bytes_in: u64,
    /// RTP bytes sent to this participant.
    pub bytes_out: u64,
    /// Packets meant for this participant that the SFU did not send.
    pub packets_dropped_out: u64,
    /// Packets lost on the way from this participant (inbound RTP stats, all tracks).
    pub packets_lost_in: i64,
    /// `packets_lost_in / (received + lost)`.
    pub loss_in: f64,
    /// Largest loss fraction this participant reported in its receiver reports on our legs.
    pub loss_out: f64,
    /// Largest inbound interarrival jitter over this participant's tracks, in milliseconds.
    pub jitter_in_ms: f64,
    /// Round-trip time of the selected ICE candidate pair (or from RTCP), in milliseconds.
    pub rtt_ms: Option<f64>,
    /// Keyframe requests (PLI) the SFU sent to this participant.
    pub plis_sent_to_publisher: u64,
    /// Tracks this participant publishes.
    pub published_tracks: usize,
    /// Legs forwarded to this participant.
    pub subscribed_tracks: usize,
}

struct RoomState {
    participants: HashMap<String, Arc<Participant>>,
    closed: bool,
}

/// A room of the SFU: the participants of one visit.
pub struct Room {
    id: String,
    config: Arc<SfuConfig>,
    counters: Arc<LiveCounters>,
    state: tokio::sync::Mutex<RoomState>,
    next_session: AtomicU64,
    me: Weak<Room>,
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

    /// Server-side peer connections not freed yet (see the module docs).
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
        let pc = self
            .build_peer_connection(participant, session, &shared)
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

    /// Applies the participant's answer to the SFU's pending offer.
    pub async fn answer(&self, participant: &str, answer: &str) -> Result<()> {
        let desc = RTCSessionDescription::answer(answer.to_owned())
            .map_err(|e| MediaError::InvalidSdp(e.to_string()))?;
        let st = self.state.lock().await;
        let p = get(&st, participant)?;
        if !lock(&p.negotiation).awaiting_answer {
            return Err(MediaError::NoOfferPending(participant.to_owned()));
        }
        if let Err(e) = p.pc.set_remote_description(desc).await {
            // A refused answer is not atomic in webrtc 0.21.1: the connection may already be
            // back in `stable`. If the offer still stands, deliver it again; otherwise make a
            // fresh one. Either way the participant gets an offer to answer.
            let still_offering = p.pc.pending_local_description().await.is_some();
            if still_offering {
                let mut neg = lock(&p.negotiation);
                neg.pending_offer = neg.outstanding_offer.clone();
            } else {
                {
                    let mut neg = lock(&p.negotiation);
                    neg.awaiting_answer = false;
                    neg.outstanding_offer = None;
                }
                if let Err(e) = self.renegotiate(p).await {
                    log::warn!("room {}: re-offer to {participant} failed: {e}", self.id);
                }
            }
            return Err(MediaError::InvalidSdp(e.to_string()));
        }
        let again = {
            let mut neg = lock(&p.negotiation);
            neg.awaiting_answer = false;
            neg.pending_offer = None;
            neg.outstanding_offer = None;
            std::mem::take(&mut neg.dirty)
        };
        self.legs_negotiated(&st, p).await;
        if again {
            self.renegotiate(p).await?;
        }
        Ok(())
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

    /// The offer waiting to be delivered to `participant` (taken: a second call returns
    /// `None` until the SFU makes another), and the SFU candidates gathered since last time.
    pub async fn take_pending(&self, participant: &str) -> Result<PendingSignal> {
        let st = self.state.lock().await;
        let p = get(&st, participant)?;
        let offer = lock(&p.negotiation).pending_offer.take();
        let candidates = std::mem::take(&mut *lock(&p.shared.candidates));
        Ok(PendingSignal { offer, candidates })
    }

    /// Shortcut for the offer part of [`Room::take_pending`].
    pub async fn take_pending_offer(&self, participant: &str) -> Result<Option<String>> {
        let st = self.state.lock().await;
        let p = get(&st, participant)?;
        let offer = lock(&p.negotiation).pending_offer.take();
        Ok(offer)
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

    /// Per-participant stats. Bitrates are averaged since the previous call (or the join).
    pub async fn get_stats(&self) -> Vec<ParticipantStats> {
        let participants: Vec<Arc<Participant>> = {
            let st = self.state.lock().await;
            st.participants.values().cloned().collect()
        };
        let mut out = Vec::with_capacity(participants.len());
        for p in participants {
            out.push(participant_stats(&p).await);
        }
        out.sort_by(|a, b| a.participant.cmp(&b.participant));
        out
    }

    async fn build_peer_connection(
        &self,
        participant: &str,
        session: u64,
        shared: &Arc<PeerShared>,
    ) -> Result<Arc<dyn PeerConnection>> {
        let mut media_engine = sfu_media_engine()?;
        let registry = register_default_interceptors(Registry::new(), &mut media_engine)?
            .with(Slot::from(14_000), RtcpFeedbackForwarder::default());
        // mDNS off: the default (QueryOnly) binds a multicast socket on :5353 per connection,
        // which a server does not need (browsers reach it on its host candidate, and their
        // own `.local` candidates are replaced by peer-reflexive ones).
        let setting_engine = SettingEngineBuilder::new()
            .with_multicast_dns_mode(MulticastDnsMode::Disabled)
            .build();
        let configuration = RTCConfigurationBuilder::new()
            .with_ice_servers(self.config.ice_servers.clone())
            .build();
        let handler = PeerHandler {
            room: self.me.clone(),
            participant: participant.to_owned(),
            session,
            shared: Arc::clone(shared),
            _live: LiveGuard::new(&self.counters, LiveKind::PeerConnection),
        };
        let pc = PeerConnectionBuilder::new()
            .with_configuration(configuration)
            .with_media_engine(media_engine)
            .with_setting_engine(setting_engine)
            .with_interceptor_registry(registry)
            .with_handler(Arc::new(handler))
            .with_udp_addrs(self.config.bind_addrs.clone())
            .build()
            .await?;
        Ok(Arc::new(pc))
    }

    async fn answer_offer(
        &self,
        pc: &Arc<dyn PeerConnection>,
        shared: &PeerShared,
        offer: RTCSessionDescription,
    ) -> Result<String> {
        pc.set_remote_description(offer)
            .await
            .map_err(|e| MediaError::InvalidSdp(e.to_string()))?;
        let answer = pc.create_answer(None).await?;
        let mut gathered = shared.gathered.subscribe();
        pc.set_local_description(answer).await?;
        let _ = tokio::time::timeout(self.config.gather_timeout, gathered.wait_for(|g| *g)).await;
        pc.local_description()
            .await
            .map(|d| d.sdp)
            .ok_or_else(|| MediaError::WebRtc("no local description after answering".into()))
    }

    /// Makes a new offer for `p` unless one is already outstanding (then the change rides on
    /// the next one).
    async fn renegotiate(&self, p: &Participant) -> Result<()> {
        {
            let mut neg = lock(&p.negotiation);
            if neg.awaiting_answer {
                neg.dirty = true;
                return Ok(());
            }
        }
        let offer = p.pc.create_offer(None).await?;
        p.pc.set_local_description(offer).await?;
        let sdp =
            p.pc.local_description()
                .await
                .map(|d| d.sdp)
                .ok_or_else(|| MediaError::WebRtc("no local description after offering".into()))?;
        log::debug!(
            "room {}: offer #{} pending for {}",
            self.id,
            p.pc.get_transceivers().await.len(),
            p.id
        );
        let mut neg = lock(&p.negotiation);
        neg.awaiting_answer = true;
        neg.dirty = false;
        neg.outstanding_offer = Some(sdp.clone());
        neg.pending_offer = Some(sdp);
        Ok(())
    }

    /// Adds a leg of `publication` to `subscriber`'s connection (not negotiated yet).
    async fn subscribe(
        &self,
        subscriber: &Participant,
        publication: &Arc<Publication>,
    ) -> Result<()> {
        let ssrc = new_ssrc();
        let track = MediaStreamTrack::new(
            publication.publisher.clone(),
            publication.track_id.clone(),
            publication.track_id.clone(),
            publication.kind,
            vec![RTCRtpEncodingParameters {
                rtp_coding_parameters: RTCRtpCodingParameters {
                    ssrc: Some(ssrc),
                    ..Default::default()
                },
                codec: publication.codec.clone(),
                ..Default::default()
            }],
        );
        let local = Arc::new(TrackLocalStaticRTP::new(track));
        let transceiver = subscriber
            .pc
            .add_transceiver_from_track(
                Arc::clone(&local) as Arc<dyn TrackLocal>,
                Some(RTCRtpTransceiverInit {
                    direction: RTCRtpTransceiverDirection::Sendonly,
                    streams: vec![publication.publisher.clone()],
                    send_encodings: vec![],
                }),
            )
            .await?;
        let sender = transceiver
            .sender()
            .await?
            .ok_or_else(|| MediaError::WebRtc("sendonly transceiver without a sender".into()))?;
        let rtcp_local = Arc::clone(&local);
        let (queue, mut rx) = mpsc::channel::<rtp::Packet>(self.config.leg_queue);
        let traffic = Arc::clone(&subscriber.traffic);
        // The leg's writer: ends when the DownTrack (the only queue sender) is dropped.
        tokio::spawn(async move {
            while let Some(packet) = rx.recv().await {
                let bytes = packet.payload.len() as u64 + 12;
                match local.write_rtp(packet).await {
                    Ok(()) => {
                        traffic.packets_out.fetch_add(1, Ordering::Relaxed);
                        traffic.bytes_out.fetch_add(bytes, Ordering::Relaxed);
                    }
                    Err(_) => {
                        traffic.dropped_out.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        });
        let leg = Arc::new(DownTrack {
            publisher: publication.publisher.clone(),
            publication_track_id: publication.track_id.clone(),
            kind: publication.kind,
            codec: publication.codec.clone(),
            ssrc,
            payload_type: AtomicU16::new(NO_PT),
            keyframe_requested: AtomicBool::new(false),
            fraction_lost: AtomicU16::new(0),
            sender,
            transceiver,
            queue,
            subscriber_traffic: Arc::clone(&subscriber.traffic),
        });
        // The leg's RTCP from the subscriber (marked for us by `RtcpFeedbackForwarder`): keyframe
        // requests go on to the publisher, receiver reports feed `loss_out`. Ends when the leg
        // is removed from the connection or the connection closes (its event stream ends).
        let (weak_leg, weak_publication) = (Arc::downgrade(&leg), Arc::downgrade(publication));
        tokio::spawn(async move {
            while let Some(event) = rtcp_local.poll().await {
                let TrackLocalEvent::OnRtcpPacket(packets) = event else {
                    continue;
                };
                for packet in &packets {
                    let any = packet.as_any();
                    if any.is::<PictureLossIndication>() || any.is::<FullIntraRequest>() {
                        if let Some(publication) = weak_publication.upgrade() {
                            publication.request_keyframe().await;
                        }
                    } else if let Some(rr) = any.downcast_ref::<ReceiverReport>()
                        && let Some(leg) = weak_leg.upgrade()
                    {
                        for report in rr.reports.iter().filter(|r| r.ssrc == leg.ssrc) {
                            leg.fraction_lost
                                .store(u16::from(report.fraction_lost), Ordering::Relaxed);
                        }
                    }
                }
            }
        });
        lock(&subscriber.downtracks).push(Arc::clone(&leg));
        write(&publication.legs).insert(subscriber.id.clone(), leg);
        Ok(())
    }

    /// After a negotiation of `p` completed: learn each leg's payload type, and ask the
    /// publishers of newly negotiated video legs for a keyframe once `p` is connected.
    async fn legs_negotiated(&self, st: &RoomState, p: &Participant) {
        let legs: Vec<Arc<DownTrack>> = lock(&p.downtracks).clone();
        let mut fresh_video = Vec::new();
        for leg in legs {
            if leg.payload_type.load(Ordering::Acquire) == NO_PT {
                match negotiated_payload_type(&leg).await {
                    Some(pt) => {
                        log::debug!(
                            "room {}: leg {} -> {} negotiated, ssrc {} pt {pt}",
                            self.id,
                            leg.publication_track_id,
                            p.id,
                            leg.ssrc
                        );
                        leg.payload_type.store(pt as u16, Ordering::Release)
                    }
                    None => log::debug!(
                        "room {}: {} not negotiated on {}'s connection yet",
                        self.id,
                        leg.publication_track_id,
                        p.id
                    ),
                }
            }
            if leg.kind == RtpCodecKind::Video
                && leg.payload_type.load(Ordering::Acquire) != NO_PT
                && !leg.keyframe_requested.swap(true, Ordering::AcqRel)
                && let Some(publisher) = st.participants.get(&leg.publisher)
                && let Some(publication) = lock(&publisher.publications)
                    .iter()
                    .find(|x| x.track_id == leg.publication_track_id)
            {
                fresh_video.push(Arc::clone(publication));
            }
        }
        if fresh_video.is_empty() {
            return;
        }
        let mut state = p.shared.state.subscribe();
        tokio::spawn(async move {
            let connected = tokio::time::timeout(
                Duration::from_secs(15),
                state.wait_for(|s| *s == RTCPeerConnectionState::Connected),
            )
            .await
            .is_ok_and(|r| r.is_ok());
            if connected {
                for publication in fresh_video {
                    publication.request_keyframe().await;
                }
            }
        });
    }

    /// A publisher's track arrived: forward it, and offer it to everybody else.
    async fn on_publisher_track(
        &self,
        participant: &str,
        session: u64,
        remote: Arc<dyn TrackRemote>,
    ) {
        let ssrc = remote.ssrcs().await.first().copied();
        let kind = remote.kind().await;
        let Some(ssrc) = ssrc else { return };
        let Some(codec) = remote.codec(ssrc).await else {
            log::warn!("room {}: track from {participant} without a codec", self.id);
            return;
        };
        log::debug!(
            "room {}: {participant} publishes {kind} ssrc {ssrc} ({})",
            self.id,
            codec.mime_type
        );
        let st = self.state.lock().await;
        let Some(publisher) = st.participants.get(participant) else {
            return;
        };
        if publisher.session != session {
            return; // a track of a connection that has left since
        }
        let n = lock(&publisher.publications).len();
        let publication = Arc::new(Publication {
            publisher: participant.to_owned(),
            track_id: format!("{participant}-{session}-{kind}-{n}"),
            kind,
            codec,
            media_ssrc: ssrc,
            remote: Arc::clone(&remote),
            publisher_traffic: Arc::clone(&publisher.traffic),
            legs: RwLock::new(HashMap::new()),
            last_keyframe_request: Mutex::new(None),
        });
        lock(&publisher.publications).push(Arc::clone(&publication));
        tokio::spawn(forward_loop(Arc::clone(&publication)));

        let others: Vec<Arc<Participant>> = st
            .participants
            .values()
            .filter(|p| p.id != participant)
            .cloned()
            .collect();
        for other in others {
            if let Err(e) = self.subscribe(&other, &publication).await {
                log::warn!(
                    "room {}: cannot forward {} to {}: {e}",
                    self.id,
                    publication.track_id,
                    other.id
                );
                continue;
            }
            if let Err(e) = self.renegotiate(&other).await {
                log::warn!(
                    "room {}: renegotiation of {} failed: {e}",
                    self.id,
                    other.id
                );
            }
        }
    }

    /// Leaves `participant`; with `session`, only if it is still that connection (a stale
    /// failure report must not remove a participant that has rejoined).
    async fn leave_session(&self, participant: &str, session: Option<u64>) -> Result<()> {
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
            // Stop forwarding from the leaver, and take its legs off the other connection.
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
                if let Err(e) = other.pc.remove_track(&leg.sender).await {
                    log::warn!("room {}: remove_track on {}: {e}", self.id, other.id);
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

/// The copy of a publisher's packet for one subscriber leg: the leg's SSRC and payload
/// type, no header extensions; sequence number, timestamp, marker and payload unchanged.
fn leg_copy(packet: &rtp::Packet, ssrc: u32, payload_type: u8) -> rtp::Packet {
    let mut copy = packet.clone();
    copy.header.ssrc = ssrc;
    copy.header.payload_type = payload_type;
    copy.header.extension = false;
    copy.header.extension_profile = 0;
    copy.header.extensions.clear();
    copy.header.extensions_padding = 0;
    copy
}

async fn forward_loop(publication: Arc<Publication>) {
    while let Some(event) = publication.remote.poll().await {
        match event {
            TrackRemoteEvent::OnRtpPacket(packet) => {
                let traffic = &publication.publisher_traffic;
                traffic.packets_in.fetch_add(1, Ordering::Relaxed);
                traffic
                    .bytes_in
                    .fetch_add(packet.payload.len() as u64 + 12, Ordering::Relaxed);
                for leg in read(&publication.legs).values() {
                    leg.forward(&packet);
                }
            }
            TrackRemoteEvent::OnEnded => break,
            _ => {}
        }
    }
    write(&publication.legs).clear();
}

/// The payload type negotiated for the leg's codec, once the leg's m-line has been through
/// an offer/answer (its current direction sends). Before that, `get_parameters` already lists
/// codecs — the SFU's own registrations, not the subscriber's payload types — so asking too
/// early gives a plausible but wrong number.
async fn negotiated_payload_type(leg: &DownTrack) -> Option<u8> {
    let current = leg.transceiver.current_direction().await.ok()?;
    if !current.has_send() {
        return None;
    }
    let params = leg.sender.get_parameters().await.ok()?;
    params
        .rtp_parameters
        .codecs
        .iter()
        .find(|c| {
            c.rtp_codec
                .mime_type
                .eq_ignore_ascii_case(&leg.codec.mime_type)
                && c.rtp_codec.clock_rate == leg.codec.clock_rate
        })
        .map(|c| c.payload_type)
}

async fn participant_stats(p: &Participant) -> ParticipantStats {
    let t = &p.traffic;
    let (bytes_in, bytes_out) = (
        t.bytes_in.load(Ordering::Relaxed),
        t.bytes_out.load(Ordering::Relaxed),
    );
    let now = Instant::now();
    let (bitrate_in_bps, bitrate_out_bps) = {
        let mut last = lock(&p.last_sample);
        let secs = now.duration_since(last.at).as_secs_f64().max(1e-3);
        let rates = (
            (bytes_in.saturating_sub(last.bytes_in) * 8) as f64 / secs,
            (bytes_out.saturating_sub(last.bytes_out) * 8) as f64 / secs,
        );
        *last = RateSample {
            at: now,
            bytes_in,
            bytes_out,
        };
        rates
    };

    let report = p.pc.get_stats(now, StatsSelector::None).await;
    let (mut lost, mut received, mut jitter_s) = (0i64, 0u64, 0f64);
    for s in report.inbound_rtp_streams() {
        let r = &s.received_rtp_stream_stats;
        lost += r.packets_lost;
        received += r.packets_received;
        // Documented as seconds, but 0.21.1 stores the receiver report's raw interarrival
        // jitter, in RTP timestamp units: divide by the clock rate (Opus/VP8 only here).
        let clock = match r.rtp_stream_stats.kind {
            RtpCodecKind::Video => 90_000.0,
            _ => 48_000.0,
        };
        jitter_s = jitter_s.max(r.jitter / clock);
    }
    // In 0.21.1 inbound RTCP never reaches the stats accumulator (`process_read_rtcp_for_stats`
    // is never called), so remote-inbound-rtp (RR loss, RTCP RTT) and outbound pliCount stay
    // empty. Loss towards the participant comes from the receiver reports our legs receive.
    let loss_out = lock(&p.downtracks)
        .iter()
        .map(|leg| f64::from(leg.fraction_lost.load(Ordering::Relaxed)) / 256.0)
        .fold(0.0, f64::max);
    let mut rtcp_rtt = None;
    for entry in report.iter() {
        if let RTCStatsReportEntry::RemoteInboundRtp(r) = entry
            && r.round_trip_time_measurements > 0
        {
            rtcp_rtt = Some(r.round_trip_time);
        }
    }
    let ice_rtt = report
        .candidate_pairs()
        .filter(|c| c.current_round_trip_time > 0.0)
        .map(|c| c.current_round_trip_time)
        .reduce(f64::min);
    let total = received as i64 + lost.max(0);
    ParticipantStats {
        participant: p.id.clone(),
        connection_state: p.shared.state.borrow().to_string(),
        bitrate_in_bps,
        bitrate_out_bps,
        packets_in: t.packets_in.load(Ordering::Relaxed),
        packets_out: t.packets_out.load(Ordering::Relaxed),
        bytes_in,
        bytes_out,
        packets_dropped_out: t.dropped_out.load(Ordering::Relaxed),
        packets_lost_in: lost,
        loss_in: if total > 0 {
            lost.max(0) as f64 / total as f64
        } else {
            0.0
        },
        loss_out,
        jitter_in_ms: jitter_s * 1000.0,
        rtt_ms: ice_rtt.or(rtcp_rtt).map(|s| s * 1000.0),
        plis_sent_to_publisher: t.plis_received.load(Ordering::Relaxed),
        published_tracks: lock(&p.publications).len(),
        subscribed_tracks: lock(&p.downtracks).len(),
    }
}

/// Marks inbound keyframe requests (PLI, FIR) and receiver reports for delivery to the
/// application, and drops every other inbound RTCP packet at the end of the chain.
///
/// In webrtc 0.21 inbound RTCP stops at the end of the interceptor chain: without an
/// interceptor that adds `Attribute::DeliverToApplication`, `TrackLocal::poll` never yields
/// the subscriber's PLIs or receiver reports, and an SFU cannot relay keyframe requests.
/// Register it last (a high slot), so the NACK responder and report interceptors have seen
/// everything first.
#[derive(Default)]
pub struct RtcpFeedbackForwarder {
    reads: VecDeque<TaggedPacket>,
    writes: VecDeque<TaggedPacket>,
}

impl Protocol<TaggedPacket, TaggedPacket, ()> for RtcpFeedbackForwarder {
    type Rout = TaggedPacket;
    type Wout = TaggedPacket;
    type Eout = ();
    type Error = rtc::shared::error::Error;
    type Time = Instant;

    fn handle_read(&mut self, mut msg: TaggedPacket) -> std::result::Result<(), Self::Error> {
        if let Packet::Rtcp(packets) = &msg.message.packet {
            let wanted: Vec<Box<dyn rtc::rtcp::Packet>> = packets
                .iter()
                .filter(|p| {
                    let any = p.as_any();
                    any.is::<PictureLossIndication>()
                        || any.is::<FullIntraRequest>()
                        || any.is::<ReceiverReport>()
                })
                .cloned()
                .collect();
            if wanted.is_empty() {
                return Ok(());
            }
            msg.message.packet = Packet::Rtcp(wanted);
            msg.message.add(Attribute::DeliverToApplication);
        }
        self.reads.push_back(msg);
        Ok(())
    }

    fn poll_read(&mut self) -> Option<TaggedPacket> {
        self.reads.pop_front()
    }

    fn handle_write(&mut self, msg: TaggedPacket) -> std::result::Result<(), Self::Error> {
        self.writes.push_back(msg);
        Ok(())
    }

    fn poll_write(&mut self) -> Option<TaggedPacket> {
        self.writes.pop_front()
    }
}

impl Interceptor for RtcpFeedbackForwarder {
    fn bind_local_stream(&mut self, _info: &StreamInfo) {}
    fn unbind_local_stream(&mut self, _info: &StreamInfo) {}
    fn bind_remote_stream(&mut self, _info: &StreamInfo) {}
    fn unbind_remote_stream(&mut self, _info: &StreamInfo) {}
}

/// The SFU forwards without transcoding, so every participant must use the same codecs:
/// only Opus and VP8 are offered/accepted (browsers all support both).
fn sfu_media_engine() -> Result<MediaEngine> {
    let mut m = MediaEngine::default();
    m.register_codec(
        RTCRtpCodecParameters {
            rtp_codec: RTCRtpCodec {
                mime_type: MIME_TYPE_OPUS.to_owned(),
                clock_rate: 48000,
                channels: 2,
                sdp_fmtp_line: "minptime=10;useinbandfec=1".to_owned(),
                rtcp_feedback: vec![],
            },
            payload_type: 111,
        },
        RtpCodecKind::Audio,
    )?;
    let feedback = |typ: &str, parameter: &str| RTCPFeedback {
        typ: typ.to_owned(),
        parameter: parameter.to_owned(),
    };
    m.register_codec(
        RTCRtpCodecParameters {
            rtp_codec: RTCRtpCodec {
                mime_type: MIME_TYPE_VP8.to_owned(),
                clock_rate: 90000,
                channels: 0,
                sdp_fmtp_line: String::new(),
                rtcp_feedback: vec![
                    feedback("ccm", "fir"),
                    feedback("nack", ""),
                    feedback("nack", "pli"),
                ],
            },
            payload_type: 96,
        },
        RtpCodecKind::Video,
    )?;
    Ok(m)
}

/// A fresh random-looking SSRC (splitmix64 over a counter seeded from the clock).
fn new_ssrc() -> u32 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let mut z = seed.wrapping_add(
        COUNTER
            .fetch_add(1, Ordering::Relaxed)
            .wrapping_mul(0x9E37_79B9_7F4A_7C15),
    );
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z as u32).max(1)
}

fn get<'a>(st: &'a RoomState, participant: &str) -> Result<&'a Arc<Participant>> {
    st.participants
        .get(participant)
        .ok_or_else(|| MediaError::UnknownParticipant(participant.to_owned()))
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn read<T>(m: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    m.read().unwrap_or_else(|e| e.into_inner())
}

fn write<T>(m: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    m.write().unwrap_or_else(|e| e.into_inner())
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ssrcs_differ() {
        let a: std::collections::HashSet<u32> = (0..10_000).map(|_| new_ssrc()).collect();
        assert_eq!(a.len(), 10_000);
        assert!(!a.contains(&0));
    }

    #[test]
    fn leg_copy_rewrites_ssrc_pt_and_strips_extensions() {
        let mut packet = rtp::Packet::default();
        packet.header.version = 2;
        packet.header.ssrc = 1111;
        packet.header.payload_type = 120;
        packet.header.sequence_number = 77;
        packet.header.timestamp = 9000;
        packet
            .header
            .set_extension(3, bytes::Bytes::from_static(&[1]))
            .expect("set extension");
        assert!(packet.header.extension);
        packet.payload = bytes::Bytes::from_static(&[9, 9, 9]);

        let out = leg_copy(&packet, 4242, 96);
        assert_eq!(out.header.ssrc, 4242);
        assert_eq!(out.header.payload_type, 96);
        assert!(!out.header.extension);
        assert!(out.header.extensions.is_empty());
        assert_eq!(out.payload, packet.payload);
        assert_eq!(out.header.sequence_number, 77);
        assert_eq!(out.header.timestamp, 9000);
        // the original is untouched (other legs copy from it too)
        assert_eq!(packet.header.ssrc, 1111);
    }
}
