//! The RTP path: each packet a publisher sends is copied to every subscriber leg, rewritten
//! for that leg, and queued for the leg's own writer task, so a slow subscriber drops its own
//! packets instead of stalling the others.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use rtc::rtp;
use tokio::sync::mpsc;
use webrtc::media_stream::track_local::TrackLocal;
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;
use webrtc::media_stream::track_remote::TrackRemoteEvent;

use super::downtrack::{DownTrack, NO_PT};
use super::locks::{read, write};
use super::participant::Traffic;
use super::publication::Publication;
use super::slots::UNSET;

/// Reads a publication's RTP and copies each packet to every leg; ends when the publisher's
/// track ends or its connection closes, and then drops the legs.
pub(super) async fn forward_loop(publication: Arc<Publication>) {
    while let Some(event) = publication.remote.poll().await {
        match event {
            TrackRemoteEvent::OnRtpPacket(packet) => {
                let ssrc = packet.header.ssrc;
                if publication.media_ssrc.load(Ordering::Relaxed) != ssrc {
                    publication.media_ssrc.store(ssrc, Ordering::Relaxed);
                }
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

impl DownTrack {
    /// Queues a copy of `packet` for this leg.
    ///
    /// webrtc 0.21's `RTCRtpSender::write_rtp` refuses (and the driver only logs, at `error`
    /// level, which nobody sees without a logger) any packet whose SSRC is not one of the
    /// sender track's, whose payload type is not negotiated on this leg, or which carries a
    /// header extension id not negotiated on this leg. The publisher's packets fail all three,
    /// so each copy gets the leg's SSRC and payload type, and its extensions are stripped.
    /// Its sequence number is shifted to continue the slot's (unchanged on a fresh slot).
    pub(super) fn forward(&self, packet: &rtp::Packet) {
        let pt = self.payload_type.load(Ordering::Acquire);
        if pt == NO_PT {
            self.subscriber_traffic
                .dropped_out
                .fetch_add(1, Ordering::Relaxed);
            return;
        }
        // Only the publication's forward loop calls this, so the offset is set once.
        let seq_in = packet.header.sequence_number;
        let mut offset = self.seq_offset.load(Ordering::Relaxed);
        if offset == UNSET {
            offset = u32::from(self.slot.offset_for(seq_in));
            self.seq_offset.store(offset, Ordering::Relaxed);
        }
        let seq = seq_in.wrapping_add(offset as u16);
        if self
            .queue
            .try_send(leg_copy(packet, self.ssrc(), pt as u8, seq))
            .is_err()
        {
            self.subscriber_traffic
                .dropped_out
                .fetch_add(1, Ordering::Relaxed);
        }
        // Counted as sent even if the queue was full: the gap is then a loss the subscriber
        // sees (and may NACK), not a sequence number a later leg would reuse.
        self.slot.sent(seq);
    }
}

/// The copy of a publisher's packet for one subscriber leg: the leg's SSRC, payload type and
/// sequence number, no header extensions; timestamp, marker and payload unchanged.
fn leg_copy(packet: &rtp::Packet, ssrc: u32, payload_type: u8, seq: u16) -> rtp::Packet {
    let mut copy = packet.clone();
    copy.header.ssrc = ssrc;
    copy.header.payload_type = payload_type;
    copy.header.sequence_number = seq;
    copy.header.extension = false;
    copy.header.extension_profile = 0;
    copy.header.extensions.clear();
    copy.header.extensions_padding = 0;
    copy
}

/// The leg's writer: ends when the DownTrack (the only queue sender) is dropped.
pub(super) fn spawn_leg_writer(
    local: Arc<TrackLocalStaticRTP>,
    mut rx: mpsc::Receiver<rtp::Packet>,
    traffic: Arc<Traffic>,
) {
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leg_copy_rewrites_ssrc_pt_seq_and_strips_extensions() {
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

        let out = leg_copy(&packet, 4242, 96, 1234);
        assert_eq!(out.header.ssrc, 4242);
        assert_eq!(out.header.payload_type, 96);
        assert!(!out.header.extension);
        assert!(out.header.extensions.is_empty());
        assert_eq!(out.payload, packet.payload);
        assert_eq!(out.header.sequence_number, 1234);
        assert_eq!(out.header.timestamp, 9000);
        // the original is untouched (other legs copy from it too)
        assert_eq!(packet.header.ssrc, 1111);
    }
}
