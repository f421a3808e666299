//! The offer/answer cycle with each participant after its join: SFU offers made when
//! tracks come and go, handed to signaling as [`PendingSignal`]s, and the participant's
//! answers, after which each new leg learns its payload type.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use rtc::rtp_transceiver::rtp_sender::RtpCodecKind;
use serde::Serialize;
use webrtc::peer_connection::{PeerConnection, RTCIceCandidateInit, RTCSessionDescription};

use super::connection::PeerShared;
use super::downtrack::{DownTrack, NO_PT};
use super::keyframes::request_keyframes_once_connected;
use super::locks::lock;
use super::participant::Participant;
use super::room::{Room, RoomState, get};
use crate::error::{MediaError, Result};

/// Where a participant stands in the SFU-offer/answer cycle (one offer outstanding at most).
#[derive(Default)]
pub(super) struct Negotiation {
    /// An SFU offer has been applied locally and waits for the participant's answer.
    pub(super) awaiting_answer: bool,
    /// Tracks changed while an offer was outstanding: offer again after the answer.
    pub(super) dirty: bool,
    /// The offer not yet fetched by signaling.
    pub(super) pending_offer: Option<String>,
    /// The outstanding offer, kept to hand out again if the answer to it is refused.
    pub(super) outstanding_offer: Option<String>,
    /// SFU offers made so far; the outstanding one (if any) is number `offers`. A leg attached
    /// while offer `n` is out is negotiated by offer `n + 1` at the earliest.
    pub(super) offers: u64,
}

/// What [`Room::take_pending`] hands to signaling for one participant.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PendingSignal {
    /// An SFU offer to deliver; answer it with [`Room::answer`].
    pub offer: Option<String>,
    /// The SFU's ICE candidates gathered since the last fetch.
    pub candidates: Vec<RTCIceCandidateInit>,
}

impl Room {
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
        let (again, answered) = {
            let mut neg = lock(&p.negotiation);
            neg.awaiting_answer = false;
            neg.pending_offer = None;
            neg.outstanding_offer = None;
            (std::mem::take(&mut neg.dirty), neg.offers)
        };
        self.legs_negotiated(&st, p, answered).await;
        if again {
            self.renegotiate(p).await?;
        }
        Ok(())
    }

    /// The offer waiting to be delivered to `participant` (taken: a second call returns
    /// `None` until the SFU makes another), and the SFU candidates gathered since last time.
    pub async fn take_pending(&self, participant: &str) -> Result<PendingSignal> {
        let st = self.state.lock().await;
        let p = get(&st, participant)?;
        let offer = lock(&p.negotiation).pending_offer.take();
        let mut candidates = std::mem::take(&mut *lock(&p.shared.candidates));
        if !candidates.is_empty() {
            name_m_line(&p.pc, &mut candidates).await;
        }
        Ok(PendingSignal { offer, candidates })
    }

    /// Shortcut for the offer part of [`Room::take_pending`].
    pub async fn take_pending_offer(&self, participant: &str) -> Result<Option<String>> {
        let st = self.state.lock().await;
        let p = get(&st, participant)?;
        let offer = lock(&p.negotiation).pending_offer.take();
        Ok(offer)
    }

    /// Answers a joining participant's offer; waits for the SFU's candidates (at most
    /// `gather_timeout`) so the answer carries them.
    pub(super) async fn answer_offer(
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
    pub(super) async fn renegotiate(&self, p: &Participant) -> Result<()> {
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
            "room {}: offer pending for {} ({} transceivers)",
            self.id,
            p.id,
            p.pc.get_transceivers().await.len()
        );
        let mut neg = lock(&p.negotiation);
        neg.offers += 1;
        neg.awaiting_answer = true;
        neg.dirty = false;
        neg.outstanding_offer = Some(sdp.clone());
        neg.pending_offer = Some(sdp);
        Ok(())
    }

    /// After `p` answered SFU offer number `answered`: learn the payload type of each leg that
    /// offer covered, and ask the publishers of newly negotiated video legs for a keyframe once
    /// `p` is connected.
    async fn legs_negotiated(&self, st: &RoomState, p: &Participant, answered: u64) {
        let legs: Vec<Arc<DownTrack>> = lock(&p.downtracks).clone();
        let mut fresh_video = Vec::new();
        for leg in legs {
            // A leg on a reused slot: the transceiver already sends, but this answer is to an
            // offer made before the leg was attached (the subscriber has not seen its msid).
            if leg.ready_after_offer > answered {
                continue;
            }
            if leg.payload_type.load(Ordering::Acquire) == NO_PT {
                match negotiated_payload_type(&leg).await {
                    Some(pt) => {
                        log::debug!(
                            "room {}: leg {} -> {} negotiated, ssrc {} pt {pt}",
                            self.id,
                            leg.publication_track_id,
                            p.id,
                            leg.ssrc()
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
        request_keyframes_once_connected(p.shared.state.subscribe(), fresh_video);
    }
}

/// The payload type negotiated for the leg's codec, once the leg's m-line has been through
/// an offer/answer (its current direction sends). Before that, `get_parameters` already lists
/// codecs — the SFU's own registrations, not the subscriber's payload types — so asking too
/// early gives a plausible but wrong number.
async fn negotiated_payload_type(leg: &DownTrack) -> Option<u8> {
    let current = leg.slot.transceiver.current_direction().await.ok()?;
    if !current.has_send() {
        return None;
    }
    let params = leg.slot.sender.get_parameters().await.ok()?;
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

/// webrtc 0.21 reports every local candidate with `sdpMid: ""` and `sdpMLineIndex: 0`. An
/// empty mid names no m-line, and a browser that resolves candidates by mid may drop them.
/// The SFU bundles all m-lines on one transport, whose candidates belong to the first
/// m-line (the BUNDLE tag): name it by its mid, read from the local description.
async fn name_m_line(pc: &Arc<dyn PeerConnection>, candidates: &mut [RTCIceCandidateInit]) {
    let Some(mid) = pc.local_description().await.and_then(|d| first_mid(&d.sdp)) else {
        return;
    };
    for c in candidates
        .iter_mut()
        .filter(|c| c.sdp_mid.as_deref().is_none_or(str::is_empty))
    {
        c.sdp_mid = Some(mid.clone());
        c.sdp_mline_index = Some(0);
    }
}

/// The `a=mid` of the first m-line of `sdp`.
fn first_mid(sdp: &str) -> Option<String> {
    let mut in_first = false;
    for line in sdp.lines().map(str::trim_end) {
        if line.starts_with("m=") {
            if in_first {
                return None;
            }
            in_first = true;
        } else if in_first && let Some(mid) = line.strip_prefix("a=mid:") {
            return Some(mid.to_owned());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::first_mid;

    #[test]
    fn the_first_m_lines_mid_is_found_and_no_other() {
        let sdp = "v=0\r\na=group:BUNDLE 0 1\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n\
                   a=mid:0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:1\r\n";
        assert_eq!(first_mid(sdp).as_deref(), Some("0"));
        let no_mid_first = "v=0\r\nm=audio 9 RTP/AVP 0\r\nm=video 9 RTP/AVP 96\r\na=mid:v\r\n";
        assert_eq!(first_mid(no_mid_first), None);
        assert_eq!(first_mid("v=0\r\na=mid:session\r\n"), None);
    }
}
