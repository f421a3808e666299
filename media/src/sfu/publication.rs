//! A track a participant publishes: when its first packet arrives it becomes a
//! [`Publication`], is forwarded, and is offered to everybody else in the room.

use std::collections::HashMap;
use std::sync::atomic::AtomicU32;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;

use rtc::rtp_transceiver::rtp_sender::{RTCRtpCodec, RtpCodecKind};
use webrtc::media_stream::track_remote::TrackRemote;

use super::connection::sfu_codec;
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
    /// The publisher's SSRC for this track: the media SSRC of our PLIs (0 until known; the
    /// forward loop keeps it to the SSRC of the packets that actually arrive).
    pub(super) media_ssrc: AtomicU32,
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
        // `kind` is reliable; the codec (and in principle the SSRC) may not be. webrtc 0.21
        // copies them into the remote track from the core's receiver when it opens the track,
        // and a renegotiation landing between the first packet and that copy (another
        // participant's tracks being offered to this one) has just reset the receiver's track
        // to "codec unknown"; the copy is never redone for that SSRC. Seen in about one
        // track in a thousand under `loadtest media-capacity`: giving up there lost that
        // participant's video (or audio) for the whole visit. The codec is the SFU's one for
        // the kind (the only one it negotiates); the SSRC is kept from the packets
        // (`forward_loop`).
        let kind = remote.kind().await;
        let ssrc = remote.ssrcs().await.first().copied();
        let codec = match ssrc {
            Some(ssrc) => remote.codec(ssrc).await,
            None => None,
        }
        .filter(|c| !c.mime_type.is_empty())
        .unwrap_or_else(|| sfu_codec(kind));
        log::debug!(
            "room {}: {participant} publishes {kind} ssrc {ssrc:?} ({})",
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
            media_ssrc: AtomicU32::new(ssrc.unwrap_or(0)),
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
