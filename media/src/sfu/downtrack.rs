//! Subscriber legs: one [`DownTrack`] per (publication, subscriber), added to the
//! subscriber's connection as a `sendonly` track with its own SSRC.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU16, AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use rtc::media_stream::MediaStreamTrack;
use rtc::rtp;
use rtc::rtp_transceiver::rtp_sender::{
    RTCRtpCodec, RTCRtpCodingParameters, RTCRtpEncodingParameters, RtpCodecKind,
};
use rtc::rtp_transceiver::{RTCRtpTransceiverDirection, RTCRtpTransceiverInit};
use tokio::sync::mpsc;
use webrtc::media_stream::track_local::TrackLocal;
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;
use webrtc::rtp_transceiver::{RtpSender, RtpTransceiver};

use super::forward::spawn_leg_writer;
use super::locks::{lock, write};
use super::participant::{Participant, Traffic};
use super::publication::Publication;
use super::room::Room;
use super::rtcp::spawn_leg_rtcp_reader;
use crate::error::{MediaError, Result};

/// Payload type value meaning "not negotiated yet" for a leg.
pub(super) const NO_PT: u16 = u16::MAX;

/// One subscriber leg of a publication.
pub(super) struct DownTrack {
    pub(super) publisher: String,
    pub(super) publication_track_id: String,
    pub(super) kind: RtpCodecKind,
    pub(super) codec: RTCRtpCodec,
    /// This leg's SSRC (announced in the subscriber's SDP).
    pub(super) ssrc: u32,
    /// This leg's negotiated payload type, [`NO_PT`] until its negotiation completed.
    pub(super) payload_type: AtomicU16,
    /// Set once a keyframe has been requested for this leg.
    pub(super) keyframe_requested: AtomicBool,
    /// Loss fraction (x/256) from the subscriber's latest receiver report on this leg.
    pub(super) fraction_lost: AtomicU16,
    pub(super) sender: Arc<dyn RtpSender>,
    pub(super) transceiver: Arc<dyn RtpTransceiver>,
    pub(super) queue: mpsc::Sender<rtp::Packet>,
    pub(super) subscriber_traffic: Arc<Traffic>,
}

impl Room {
    /// Adds a leg of `publication` to `subscriber`'s connection (not negotiated yet).
    pub(super) async fn subscribe(
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
        let (queue, rx) = mpsc::channel::<rtp::Packet>(self.config.leg_queue);
        spawn_leg_writer(local, rx, Arc::clone(&subscriber.traffic));
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
        spawn_leg_rtcp_reader(
            rtcp_local,
            Arc::downgrade(&leg),
            Arc::downgrade(publication),
        );
        lock(&subscriber.downtracks).push(Arc::clone(&leg));
        write(&publication.legs).insert(subscriber.id.clone(), leg);
        Ok(())
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ssrcs_differ() {
        let a: std::collections::HashSet<u32> = (0..10_000).map(|_| new_ssrc()).collect();
        assert_eq!(a.len(), 10_000);
        assert!(!a.contains(&0));
    }
}
