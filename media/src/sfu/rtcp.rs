//! RTCP from subscribers: the interceptor that taps it off the connection, and the task that
//! relays keyframe requests to the publisher and keeps each leg's loss figure.

use std::collections::VecDeque;
use std::sync::Weak;
use std::sync::atomic::Ordering;
use std::time::Instant;

use rtc::interceptor::{Attribute, Interceptor, Packet, StreamInfo, TaggedPacket};
use rtc::rtcp::payload_feedbacks::full_intra_request::FullIntraRequest;
use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use rtc::rtcp::receiver_report::ReceiverReport;
use rtc::rtcp::sender_report::SenderReport;
use rtc::sansio::Protocol;
use tokio::sync::mpsc;

use super::slots::SlotTable;

/// Feedback a subscriber sent about one of the SFU's outgoing streams, named by its SSRC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Feedback {
    /// PLI or FIR: the subscriber's decoder wants a keyframe.
    Keyframe { ssrc: u32 },
    /// A reception report block (in an RR or an SR): loss fraction x/256 since the last one.
    Loss { ssrc: u32, fraction_lost: u8 },
}

/// Feedback buffered between the interceptor and its reader before more is dropped (a few
/// seconds' worth of reports and keyframe requests for a busy connection).
pub(super) const FEEDBACK_QUEUE: usize = 256;

/// Lets subscribers' keyframe requests (PLI, FIR) and reception reports reach the SFU, and
/// drops every other inbound RTCP packet at the end of the chain.
///
/// In webrtc 0.21 inbound RTCP stops at the end of the interceptor chain. Two modes:
/// - [`Default`]: marks PLI, FIR and receiver reports `Attribute::DeliverToApplication`, so
///   `TrackLocal::poll` yields them (what a plain webrtc client wants).
/// - tapped (the SFU's own connections): hands them to a channel as [`Feedback`] by media
///   SSRC and delivers nothing. webrtc routes delivered RTCP to the track id a sender was
///   created with, and a reused leg slot's track has another id since (`slots.rs`); the SSRC
///   is the one thing that stays. Reports inside sender reports count too: a browser that
///   also publishes sends its report blocks in SRs, not RRs.
///
/// Register it last (a high slot), so the NACK responder and report interceptors have seen
/// everything first.
#[derive(Default)]
pub struct RtcpFeedbackForwarder {
    reads: VecDeque<TaggedPacket>,
    writes: VecDeque<TaggedPacket>,
    tap: Option<mpsc::Sender<Feedback>>,
}

impl RtcpFeedbackForwarder {
    /// The SFU's mode: feedback goes to `tap` (dropped when it is full or closed).
    pub(super) fn tapped(tap: mpsc::Sender<Feedback>) -> Self {
        RtcpFeedbackForwarder {
            tap: Some(tap),
            ..Default::default()
        }
    }
}

/// The feedback in one inbound RTCP compound packet.
fn feedback_in(packets: &[Box<dyn rtc::rtcp::Packet>]) -> Vec<Feedback> {
    let mut out = Vec::new();
    for p in packets {
        let any = p.as_any();
        if let Some(pli) = any.downcast_ref::<PictureLossIndication>() {
            out.push(Feedback::Keyframe {
                ssrc: pli.media_ssrc,
            });
        } else if let Some(fir) = any.downcast_ref::<FullIntraRequest>() {
            out.extend(fir.fir.iter().map(|e| Feedback::Keyframe { ssrc: e.ssrc }));
        } else {
            let reports = if let Some(rr) = any.downcast_ref::<ReceiverReport>() {
                &rr.reports
            } else if let Some(sr) = any.downcast_ref::<SenderReport>() {
                &sr.reports
            } else {
                continue;
            };
            out.extend(reports.iter().map(|r| Feedback::Loss {
                ssrc: r.ssrc,
                fraction_lost: r.fraction_lost,
            }));
        }
    }
    out
}

impl Protocol<TaggedPacket, TaggedPacket, ()> for RtcpFeedbackForwarder {
    type Rout = TaggedPacket;
    type Wout = TaggedPacket;
    type Eout = ();
    type Error = rtc::shared::error::Error;
    type Time = Instant;

    fn handle_read(&mut self, mut msg: TaggedPacket) -> std::result::Result<(), Self::Error> {
        if let (Some(tap), Packet::Rtcp(packets)) = (&self.tap, &msg.message.packet) {
            for feedback in feedback_in(packets) {
                let _ = tap.try_send(feedback);
            }
            return Ok(());
        }
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

/// Applies one subscriber's [`Feedback`] to the leg on the slot with that SSRC: keyframe
/// requests go on to the publisher, reports feed the leg's `loss_out`. Holds the slots only
/// weakly; ends when the connection (which owns the interceptor, the only sender) is freed,
/// or when the participant is gone.
pub(super) fn spawn_feedback_reader(mut rx: mpsc::Receiver<Feedback>, slots: Weak<SlotTable>) {
    tokio::spawn(async move {
        while let Some(feedback) = rx.recv().await {
            let Some(table) = slots.upgrade() else { break };
            match feedback {
                Feedback::Keyframe { ssrc } => {
                    let publication = table
                        .leg_by_ssrc(ssrc)
                        .and_then(|leg| leg.publication.upgrade());
                    drop(table);
                    if let Some(publication) = publication {
                        publication.request_keyframe().await;
                    }
                }
                Feedback::Loss {
                    ssrc,
                    fraction_lost,
                } => {
                    if let Some(leg) = table.leg_by_ssrc(ssrc) {
                        leg.fraction_lost
                            .store(u16::from(fraction_lost), Ordering::Relaxed);
                    }
                }
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use rtc::rtcp::payload_feedbacks::full_intra_request::FirEntry;
    use rtc::rtcp::reception_report::ReceptionReport;

    #[test]
    fn feedback_by_ssrc_from_pli_fir_rr_and_sr() {
        let report = |ssrc, fraction_lost| ReceptionReport {
            ssrc,
            fraction_lost,
            ..Default::default()
        };
        let packets: Vec<Box<dyn rtc::rtcp::Packet>> = vec![
            Box::new(PictureLossIndication {
                sender_ssrc: 1,
                media_ssrc: 10,
            }),
            Box::new(FullIntraRequest {
                sender_ssrc: 1,
                media_ssrc: 0,
                fir: vec![FirEntry {
                    ssrc: 11,
                    sequence_number: 3,
                }],
            }),
            Box::new(ReceiverReport {
                ssrc: 1,
                reports: vec![report(12, 25)],
                ..Default::default()
            }),
            Box::new(SenderReport {
                ssrc: 1,
                reports: vec![report(13, 0), report(14, 128)],
                ..Default::default()
            }),
        ];
        assert_eq!(
            feedback_in(&packets),
            vec![
                Feedback::Keyframe { ssrc: 10 },
                Feedback::Keyframe { ssrc: 11 },
                Feedback::Loss {
                    ssrc: 12,
                    fraction_lost: 25
                },
                Feedback::Loss {
                    ssrc: 13,
                    fraction_lost: 0
                },
                Feedback::Loss {
                    ssrc: 14,
                    fraction_lost: 128
                },
            ]
        );
    }
}
