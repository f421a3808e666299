//! RTCP from subscribers: the interceptor that lets it reach the SFU at all, and the per-leg
//! reader that relays keyframe requests to the publisher and keeps the leg's loss figure.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::Instant;

use rtc::interceptor::{Attribute, Interceptor, Packet, StreamInfo, TaggedPacket};
use rtc::rtcp::payload_feedbacks::full_intra_request::FullIntraRequest;
use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use rtc::rtcp::receiver_report::ReceiverReport;
use rtc::sansio::Protocol;
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;
use webrtc::media_stream::track_local::{TrackLocal, TrackLocalEvent};

use super::downtrack::DownTrack;
use super::publication::Publication;

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

/// Reads one leg's RTCP from the subscriber (marked for us by `RtcpFeedbackForwarder`): keyframe
/// requests go on to the publisher, receiver reports feed `loss_out`. Ends when the leg
/// is removed from the connection or the connection closes (its event stream ends).
pub(super) fn spawn_leg_rtcp_reader(
    rtcp_local: Arc<TrackLocalStaticRTP>,
    weak_leg: Weak<DownTrack>,
    weak_publication: Weak<Publication>,
) {
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
}
