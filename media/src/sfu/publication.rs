//! A track a participant publishes: when its first packet arrives it becomes a
//! [`Publication`], is forwarded, and is offered to everybody else in the room.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;

use rtc::rtp_transceiver::rtp_sender::{RTCRtpCodec, RtpCodecKind};
use webrtc::media_stream::track_remote::TrackRemote;

use super::downtrack::DownTrack;
use super::forward::forward_loop;
use super::locks::lock;
use super::participant::{Participant, Traffic};
use super::room::Room;

/// One track a participant publishes, and the legs it is forwarded on.
pub(super) struct Publication {
    pub(super) publisher: String,
    /// The id every subscriber leg of this publication carries (unique per room).
    pub(super) track_id: String,
    pub(super) kind: RtpCodecKind,
    pub(super) codec: RTCRtpCodec,
    /// The publisher's SSRC for this track: the media SSRC of our PLIs.
    pub(super) media_ssrc: u32,
    pub(super) remote: Arc<dyn TrackRemote>,
    /// The publisher's counters (packets in, PLIs sent to it).
    pub(super) publisher_traffic: Arc<Traffic>,
    /// subscriber participant id → its leg.
    pub(super) legs: RwLock<HashMap<String, Arc<DownTrack>>>,
    /// When a keyframe was last requested from the publisher (see `request_keyframe`).
    pub(super) last_keyframe_request: Mutex<Option<Instant>>,
}

impl Room {
    /// A publisher's track arrived: forward it, and offer it to everybody else.
    pub(super) async fn on_publisher_track(
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
}
