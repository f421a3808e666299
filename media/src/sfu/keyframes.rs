//! Keyframe requests (PLI) to publishers: when a subscriber's new video leg is ready, and
//! when a subscriber asks for one (relayed by the leg's RTCP reader), merged per publisher.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use rtc::rtp_transceiver::rtp_sender::RtpCodecKind;
use tokio::sync::watch;
use webrtc::peer_connection::RTCPeerConnectionState;

use super::locks::lock;
use super::publication::Publication;

/// Keyframe requests to one publisher closer together than this are merged.
const KEYFRAME_REQUEST_INTERVAL: Duration = Duration::from_millis(250);

impl Publication {
    /// Sends a PLI to the publisher of this (video) track, at most once per
    /// [`KEYFRAME_REQUEST_INTERVAL`].
    pub(super) async fn request_keyframe(&self) {
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
        let media_ssrc = self.media_ssrc.load(Ordering::Relaxed);
        if media_ssrc == 0 {
            return; // no packet yet: nothing to ask a keyframe of
        }
        let pli = PictureLossIndication {
            sender_ssrc: 0,
            media_ssrc,
        };
        if self.remote.write_rtcp(vec![Box::new(pli)]).await.is_ok() {
            self.publisher_traffic
                .plis_received
                .fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Asks the publishers of a subscriber's newly negotiated video legs for a keyframe once the
/// subscriber's connection (`state`) is up, so its decoders start on one; gives up after
/// 15 s. Waits on its own task: the caller holds the room lock.
pub(super) fn request_keyframes_once_connected(
    mut state: watch::Receiver<RTCPeerConnectionState>,
    fresh_video: Vec<Arc<Publication>>,
) {
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
