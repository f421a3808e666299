//! Building a participant's server-side peer connection (codecs, interceptors, setting
//! engine, bind addresses) and the event handler that connection reports to.

use std::sync::{Arc, Mutex, Weak};

use rtc::ice::mdns::MulticastDnsMode;
use rtc::interceptor::Slot;
use rtc::peer_connection::configuration::media_engine::{MIME_TYPE_OPUS, MIME_TYPE_VP8};
use rtc::rtp_transceiver::rtp_sender::{
    RTCPFeedback, RTCRtpCodec, RTCRtpCodecParameters, RtpCodecKind,
};
use tokio::sync::watch;
use webrtc::media_stream::track_remote::TrackRemote;
use webrtc::peer_connection::{
    MediaEngine, PeerConnection, PeerConnectionBuilder, PeerConnectionEventHandler,
    RTCConfigurationBuilder, RTCIceCandidateInit, RTCIceGatheringState, RTCPeerConnectionIceEvent,
    RTCPeerConnectionState, Registry, SettingEngineBuilder, register_default_interceptors,
};

use super::live::{LiveGuard, LiveKind};
use super::locks::lock;
use super::room::Room;
use super::rtcp::{FEEDBACK_QUEUE, RtcpFeedbackForwarder, spawn_feedback_reader};
use super::slots::SlotTable;
use crate::error::Result;

/// State shared between a participant and its connection's event handler. Owns no connection.
pub(super) struct PeerShared {
    /// Set once ICE gathering is complete: `join` waits for it (at most `gather_timeout`)
    /// so its answer carries the SFU's candidates.
    pub(super) gathered: watch::Sender<bool>,
    /// The connection state, for the stats and for keyframe requests that wait for it.
    pub(super) state: watch::Sender<RTCPeerConnectionState>,
    /// The SFU's candidates not fetched yet ([`Room::take_pending`]).
    pub(super) candidates: Mutex<Vec<RTCIceCandidateInit>>,
}

impl PeerShared {
    pub(super) fn new() -> Self {
        PeerShared {
            gathered: watch::Sender::new(false),
            state: watch::Sender::new(RTCPeerConnectionState::New),
            candidates: Mutex::new(Vec::new()),
        }
    }
}

/// The event handler of one server-side connection. Holds no strong reference to anything
/// that owns the connection (see the [`sfu`](crate::sfu) module docs), and the
/// live-connection guard.
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

impl Room {
    /// A new server-side connection for `participant`, reporting to a [`PeerHandler`]:
    /// Opus and VP8 only, the default interceptors plus a tapped [`RtcpFeedbackForwarder`]
    /// whose feedback is applied to the legs in `slots`, bound to the configured addresses.
    pub(super) async fn build_peer_connection(
        &self,
        participant: &str,
        session: u64,
        shared: &Arc<PeerShared>,
        slots: &Arc<SlotTable>,
    ) -> Result<Arc<dyn PeerConnection>> {
        let mut media_engine = sfu_media_engine()?;
        let (feedback, feedback_rx) = tokio::sync::mpsc::channel(FEEDBACK_QUEUE);
        let registry = register_default_interceptors(Registry::new(), &mut media_engine)?
            .with(Slot::from(14_000), RtcpFeedbackForwarder::tapped(feedback));
        spawn_feedback_reader(feedback_rx, Arc::downgrade(slots));
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
}

/// The SFU forwards without transcoding, so every participant must use the same codecs:
/// only Opus and VP8 are offered/accepted (browsers all support both).
fn sfu_media_engine() -> Result<MediaEngine> {
    let mut m = MediaEngine::default();
    for (kind, payload_type) in [(RtpCodecKind::Audio, 111), (RtpCodecKind::Video, 96)] {
        m.register_codec(
            RTCRtpCodecParameters {
                rtp_codec: sfu_codec(kind),
                payload_type,
            },
            kind,
        )?;
    }
    Ok(m)
}

/// The one codec the SFU negotiates for `kind` (Opus for audio, VP8 for video), so also the
/// codec of anything a participant publishes of that kind.
pub(super) fn sfu_codec(kind: RtpCodecKind) -> RTCRtpCodec {
    let feedback = |typ: &str, parameter: &str| RTCPFeedback {
        typ: typ.to_owned(),
        parameter: parameter.to_owned(),
    };
    match kind {
        RtpCodecKind::Video => RTCRtpCodec {
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
        _ => RTCRtpCodec {
            mime_type: MIME_TYPE_OPUS.to_owned(),
            clock_rate: 48000,
            channels: 2,
            sdp_fmtp_line: "minptime=10;useinbandfec=1".to_owned(),
            rtcp_feedback: vec![],
        },
    }
}
