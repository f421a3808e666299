//! Leg slots: the SFU's `sendonly` transceivers on a subscriber's connection, kept and reused.
//!
//! webrtc 0.21 never deletes a transceiver: `remove_track` leaves an inactive m-line behind and
//! `add_transceiver_from_track` always appends a new one (its `add_track` would reuse one, but
//! it takes the first sender-less transceiver of the kind, which is the participant's own
//! publishing m-line). A participant who stays while others come and go (a clinician through a
//! day of guests) would gain two m-lines per guest, and every offer would carry all of them.
//! So a leg's transceiver outlives the leg: when the leg goes, its slot goes `inactive` with
//! its sender still attached, and the next leg of the same kind takes a free slot with
//! `replace_track` + `set_direction(sendonly)` instead of adding a transceiver.
//!
//! What a reused slot keeps and what changes:
//! - **The SSRC stays.** A sender's encodings (its SSRC, and the interceptors bound to it: NACK
//!   responder, sender reports, stats) are fixed when its transceiver is created; `replace_track`
//!   swaps only the track, and `write_rtp` refuses a packet whose SSRC is not in both. Forwarded
//!   packets are rewritten to the slot's SSRC, as for a fresh slot.
//! - **The track id and msid change** to the new publication's: a webrtc-rs receiver creates a
//!   remote track (and fires `on_track`) once per track id, so with a kept id the new
//!   publisher's media would go on arriving as the old publisher's track. Browsers fire `track`
//!   with the new stream either way.
//! - **Sequence numbers continue** across legs ([`continued_offset`]): the subscriber's SRTP
//!   context for the SSRC survives, and its replay window would discard a new publisher's
//!   packets while their sequence numbers are behind the previous publisher's.
//! - **RTCP is matched by SSRC** ([`SlotTable::leg_by_ssrc`]), not by track id: webrtc routes a
//!   sender's inbound RTCP to the track id the sender was *created* with, which a replaced track
//!   no longer has, so the SFU taps feedback in its interceptor instead (`rtcp.rs`).
//! - A leg on a reused slot forwards only after an offer made *after* it was attached has been
//!   answered (`DownTrack::ready_after_offer`): the slot's transceiver already sends, so its
//!   current direction alone would let it start before the subscriber knows the new msid.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, Weak};

use rtc::media_stream::MediaStreamTrack;
use rtc::rtp_transceiver::rtp_sender::{
    RTCRtpCodingParameters, RTCRtpEncodingParameters, RtpCodecKind,
};
use rtc::rtp_transceiver::{RTCRtpTransceiverDirection, RTCRtpTransceiverInit};
use webrtc::media_stream::track_local::TrackLocal;
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;
use webrtc::peer_connection::PeerConnection;
use webrtc::rtp_transceiver::{RtpSender, RtpTransceiver};

use super::downtrack::{DownTrack, new_ssrc};
use super::locks::lock;
use super::publication::Publication;
use crate::error::{MediaError, Result};

/// "No value yet" for the 16-bit figures kept in an `AtomicU32`.
pub(super) const UNSET: u32 = u32::MAX;

/// One `sendonly` transceiver of a subscriber's connection and what stays with it across legs.
pub(super) struct LegSlot {
    pub(super) kind: RtpCodecKind,
    /// The SSRC every leg on this slot sends with (fixed by the sender's encodings).
    pub(super) ssrc: u32,
    /// The track the sender was created with. Writes go through it for the slot's whole life:
    /// it is what webrtc bound to the sender; the tracks given to `replace_track` later only
    /// change what the core announces and checks (track id, msid), they are never bound.
    pub(super) local: Arc<TrackLocalStaticRTP>,
    pub(super) sender: Arc<dyn RtpSender>,
    pub(super) transceiver: Arc<dyn RtpTransceiver>,
    /// Set while a leg uses the slot.
    in_use: AtomicBool,
    /// The leg using the slot now (dangling while free): where RTCP about the SSRC goes.
    current: Mutex<Weak<DownTrack>>,
    /// The sequence number after the newest one sent on this slot ([`UNSET`]: none yet).
    next_seq: AtomicU32,
}

impl LegSlot {
    /// A new `sendonly` transceiver on `pc` carrying `publication`, with a fresh SSRC.
    pub(super) async fn create(
        pc: &Arc<dyn PeerConnection>,
        publication: &Publication,
    ) -> Result<Arc<LegSlot>> {
        let ssrc = new_ssrc();
        let local = Arc::new(TrackLocalStaticRTP::new(leg_track(publication, ssrc)));
        let transceiver = pc
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
        Ok(Arc::new(LegSlot {
            kind: publication.kind,
            ssrc,
            local,
            sender,
            transceiver,
            in_use: AtomicBool::new(true),
            current: Mutex::new(Weak::new()),
            next_seq: AtomicU32::new(UNSET),
        }))
    }

    /// Points this (taken) slot at `publication`: sending again, with its track id and msid.
    /// The direction comes first: webrtc 0.21 hides a transceiver's sender (`replace_track`
    /// answers "RTPSender not existed") while the direction does not send.
    async fn reassign(&self, publication: &Publication) -> Result<()> {
        self.transceiver
            .set_direction(RTCRtpTransceiverDirection::Sendonly)
            .await?;
        let carrier = TrackLocalStaticRTP::new(leg_track(publication, self.ssrc));
        if let Err(e) = self.sender.replace_track(Arc::new(carrier)).await {
            let _ = self
                .transceiver
                .set_direction(RTCRtpTransceiverDirection::Inactive)
                .await;
            return Err(e.into());
        }
        Ok(())
    }

    /// The leg now using the slot (RTCP about the slot's SSRC is for it).
    pub(super) fn attach(&self, leg: &Arc<DownTrack>) {
        *lock(&self.current) = Arc::downgrade(leg);
    }

    /// The leg is gone: the m-line goes `inactive` (at the next offer) and the slot is free.
    pub(super) async fn release(&self) -> Result<()> {
        *lock(&self.current) = Weak::new();
        let result = self
            .transceiver
            .set_direction(RTCRtpTransceiverDirection::Inactive)
            .await;
        self.in_use.store(false, Ordering::Release);
        result.map_err(Into::into)
    }

    /// The offset that makes a new leg's first packet (`first_in`) follow on from what the
    /// slot sent before; 0 on a fresh slot (sequence numbers pass through unchanged).
    pub(super) fn offset_for(&self, first_in: u16) -> u16 {
        let next = self.next_seq.load(Ordering::Acquire);
        continued_offset((next != UNSET).then_some(next as u16), first_in)
    }

    /// Records that `seq` went out on the slot.
    pub(super) fn sent(&self, seq: u16) {
        let next = self.next_seq.load(Ordering::Acquire);
        if next == UNSET || is_at_or_after(seq, next as u16) {
            self.next_seq
                .store(u32::from(seq.wrapping_add(1)), Ordering::Release);
        }
    }
}

/// The slots of one subscriber's connection. Shared (weakly) with the task that reads the
/// subscriber's RTCP feedback, which looks legs up by SSRC here.
#[derive(Default)]
pub(super) struct SlotTable {
    slots: Mutex<Vec<Arc<LegSlot>>>,
}

impl SlotTable {
    /// A slot carrying `publication` on `pc`: a free one of the same kind, reassigned, or a new
    /// transceiver when none is free. The slot is marked in use.
    pub(super) async fn take(
        &self,
        pc: &Arc<dyn PeerConnection>,
        publication: &Publication,
    ) -> Result<Arc<LegSlot>> {
        let free = lock(&self.slots)
            .iter()
            .find(|s| {
                s.kind == publication.kind
                    && s.in_use
                        .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
                        .is_ok()
            })
            .cloned();
        if let Some(slot) = free {
            if let Err(e) = slot.reassign(publication).await {
                slot.in_use.store(false, Ordering::Release);
                return Err(e);
            }
            return Ok(slot);
        }
        let slot = LegSlot::create(pc, publication).await?;
        lock(&self.slots).push(Arc::clone(&slot));
        Ok(slot)
    }

    /// The leg currently on the slot with that SSRC.
    pub(super) fn leg_by_ssrc(&self, ssrc: u32) -> Option<Arc<DownTrack>> {
        let slots = lock(&self.slots);
        let slot = slots.iter().find(|s| s.ssrc == ssrc)?;
        lock(&slot.current).upgrade()
    }
}

/// The track a leg of `publication` is announced as: stream id = the publisher (the page puts
/// a name on the tile with it), track id = the publication's, and the slot's SSRC.
fn leg_track(publication: &Publication, ssrc: u32) -> MediaStreamTrack {
    MediaStreamTrack::new(
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
    )
}

/// The offset to add to a new leg's sequence numbers so that its first packet (`first_in`)
/// comes right after the slot's last (`next` = last + 1); 0 when the slot sent nothing yet.
pub(super) fn continued_offset(next: Option<u16>, first_in: u16) -> u16 {
    next.map_or(0, |next| next.wrapping_sub(first_in))
}

/// `a` is `b` or later in RTP sequence-number order (within half the 16-bit space).
fn is_at_or_after(a: u16, b: u16) -> bool {
    (a.wrapping_sub(b) as i16) >= 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequence_numbers_continue_across_legs() {
        // A fresh slot passes sequence numbers through.
        assert_eq!(continued_offset(None, 4000), 0);
        // The previous leg's last packet was 60000; the new publisher starts at 12.
        let off = continued_offset(Some(60001), 12);
        assert_eq!(12u16.wrapping_add(off), 60001);
        assert_eq!(13u16.wrapping_add(off), 60002);
        // Across the wrap.
        let off = continued_offset(Some(3), 50000);
        assert_eq!(50000u16.wrapping_add(off), 3);
    }

    #[test]
    fn newest_sequence_number_wins_over_reordering() {
        assert!(is_at_or_after(5, 5));
        assert!(is_at_or_after(6, 5));
        assert!(!is_at_or_after(4, 5));
        assert!(is_at_or_after(2, 65530), "after the wrap");
        assert!(!is_at_or_after(65530, 2));
    }
}
