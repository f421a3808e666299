//! Subscriber legs: one [`DownTrack`] per (publication, subscriber), sent on one of the
//! subscriber's leg slots (a `sendonly` transceiver, reused across legs: see `slots.rs`).

use std::sync::atomic::{AtomicBool, AtomicU16, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::{SystemTime, UNIX_EPOCH};

use rtc::rtp;
use rtc::rtp_transceiver::rtp_sender::{RTCRtpCodec, RtpCodecKind};
use tokio::sync::mpsc;

use super::forward::spawn_leg_writer;
use super::locks::{lock, write};
use super::participant::{Participant, Traffic};
use super::publication::Publication;
use super::room::Room;
use super::slots::{LegSlot, UNSET};
use crate::error::Result;

/// Payload type value meaning "not negotiated yet" for a leg.
pub(super) const NO_PT: u16 = u16::MAX;

/// One subscriber leg of a publication.
pub(super) struct DownTrack {
    pub(super) publisher: String,
    pub(super) publication_track_id: String,
    /// The publication, for keyframe requests relayed from the subscriber.
    pub(super) publication: Weak<Publication>,
    pub(super) kind: RtpCodecKind,
    pub(super) codec: RTCRtpCodec,
    /// The transceiver this leg is sent on (its SSRC is the slot's).
    pub(super) slot: Arc<LegSlot>,
    /// The first SFU offer to this subscriber made after the leg was attached: the leg is
    /// negotiated only once an offer at least this new has been answered.
    pub(super) ready_after_offer: u64,
    /// This leg's negotiated payload type, [`NO_PT`] until its negotiation completed.
    pub(super) payload_type: AtomicU16,
    /// Added to the publisher's sequence numbers so they continue the slot's ([`UNSET`] until
    /// the first packet; see `slots.rs`).
    pub(super) seq_offset: AtomicU32,
    /// Set once a keyframe has been requested for this leg.
    pub(super) keyframe_requested: AtomicBool,
    /// Loss fraction (x/256) from the subscriber's latest receiver report on this leg.
    pub(super) fraction_lost: AtomicU16,
    pub(super) queue: mpsc::Sender<rtp::Packet>,
    pub(super) subscriber_traffic: Arc<Traffic>,
}

impl DownTrack {
    /// The SSRC this leg is sent with.
    pub(super) fn ssrc(&self) -> u32 {
        self.slot.ssrc
    }
}

impl Room {
    /// Adds a leg of `publication` to `subscriber`'s connection (not negotiated yet), on a free
    /// slot of the same kind if there is one.
    pub(super) async fn subscribe(
        &self,
        subscriber: &Participant,
        publication: &Arc<Publication>,
    ) -> Result<()> {
        let slot = subscriber.slots.take(&subscriber.pc, publication).await?;
        let (queue, rx) = mpsc::channel::<rtp::Packet>(self.config.leg_queue);
        spawn_leg_writer(Arc::clone(&slot.local), rx, Arc::clone(&subscriber.traffic));
        let leg = Arc::new(DownTrack {
            publisher: publication.publisher.clone(),
            publication_track_id: publication.track_id.clone(),
            publication: Arc::downgrade(publication),
            kind: publication.kind,
            codec: publication.codec.clone(),
            slot: Arc::clone(&slot),
            ready_after_offer: lock(&subscriber.negotiation).offers + 1,
            payload_type: AtomicU16::new(NO_PT),
            seq_offset: AtomicU32::new(UNSET),
            keyframe_requested: AtomicBool::new(false),
            fraction_lost: AtomicU16::new(0),
            queue,
            subscriber_traffic: Arc::clone(&subscriber.traffic),
        });
        slot.attach(&leg);
        lock(&subscriber.downtracks).push(Arc::clone(&leg));
        write(&publication.legs).insert(subscriber.id.clone(), leg);
        Ok(())
    }
}

/// A fresh random-looking SSRC (splitmix64 over a counter seeded from the clock).
pub(super) fn new_ssrc() -> u32 {
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
