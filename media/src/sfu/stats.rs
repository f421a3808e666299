//! Per-participant quality figures ([`ParticipantStats`]): our own traffic counters, the
//! connection's stats report, and the receiver reports read off the legs.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use rtc::rtp_transceiver::rtp_sender::RtpCodecKind;
use rtc::statistics::report::RTCStatsReportEntry;
use serde::Serialize;
use webrtc::peer_connection::StatsSelector;

use super::locks::lock;
use super::participant::Participant;
use super::room::Room;

/// A participant's quality figures, as reported by [`Room::get_stats`].
#[derive(Debug, Clone, Serialize)]
pub struct ParticipantStats {
    /// Participant id.
    pub participant: String,
    /// Connection state of the SFU's peer connection (`new`, `connecting`, `connected`, ...).
    pub connection_state: String,
    /// Bits per second received from this participant since the previous `get_stats`.
    pub bitrate_in_bps: f64,
    /// Bits per second sent to this participant since the previous `get_stats`.
    pub bitrate_out_bps: f64,
    /// RTP packets received from this participant.
    pub packets_in: u64,
    /// RTP packets sent to this participant.
    pub packets_out: u64,
    /// RTP bytes (payload + 12-byte header) received from this participant.
    pub bytes_in: u64,
    /// RTP bytes sent to this participant.
    pub bytes_out: u64,
    /// Packets meant for this participant that the SFU did not send.
    pub packets_dropped_out: u64,
    /// Packets lost on the way from this participant (inbound RTP stats, all tracks).
    pub packets_lost_in: i64,
    /// `packets_lost_in / (received + lost)`.
    pub loss_in: f64,
    /// Largest loss fraction this participant reported in its receiver reports on our legs.
    pub loss_out: f64,
    /// Largest inbound interarrival jitter over this participant's tracks, in milliseconds.
    pub jitter_in_ms: f64,
    /// Round-trip time of the selected ICE candidate pair (or from RTCP), in milliseconds.
    pub rtt_ms: Option<f64>,
    /// Keyframe requests (PLI) the SFU sent to this participant.
    pub plis_sent_to_publisher: u64,
    /// Tracks this participant publishes.
    pub published_tracks: usize,
    /// Legs forwarded to this participant.
    pub subscribed_tracks: usize,
    /// Transceivers (m-lines) of the SFU's connection to this participant: its own tracks plus
    /// every leg slot, used or free. Freed slots are reused, so over churn this stays at what
    /// the most crowded moment needed instead of growing by one per track that came and went.
    pub transceivers: usize,
}

/// Byte counts at one `get_stats` (or the join): the base of the next bitrates.
pub(super) struct RateSample {
    pub(super) at: Instant,
    pub(super) bytes_in: u64,
    pub(super) bytes_out: u64,
}

impl Room {
    /// Per-participant stats. Bitrates are averaged since the previous call (or the join).
    pub async fn get_stats(&self) -> Vec<ParticipantStats> {
        let participants: Vec<Arc<Participant>> = {
            let st = self.state.lock().await;
            st.participants.values().cloned().collect()
        };
        let mut out = Vec::with_capacity(participants.len());
        for p in participants {
            out.push(participant_stats(&p).await);
        }
        out.sort_by(|a, b| a.participant.cmp(&b.participant));
        out
    }
}

/// One participant's figures; also moves its bitrate base ([`RateSample`]) to now.
async fn participant_stats(p: &Participant) -> ParticipantStats {
    let t = &p.traffic;
    let (bytes_in, bytes_out) = (
        t.bytes_in.load(Ordering::Relaxed),
        t.bytes_out.load(Ordering::Relaxed),
    );
    let now = Instant::now();
    let (bitrate_in_bps, bitrate_out_bps) = {
        let mut last = lock(&p.last_sample);
        let secs = now.duration_since(last.at).as_secs_f64().max(1e-3);
        let rates = (
            (bytes_in.saturating_sub(last.bytes_in) * 8) as f64 / secs,
            (bytes_out.saturating_sub(last.bytes_out) * 8) as f64 / secs,
        );
        *last = RateSample {
            at: now,
            bytes_in,
            bytes_out,
        };
        rates
    };

    let report = p.pc.get_stats(now, StatsSelector::None).await;
    let (mut lost, mut received, mut jitter_s) = (0i64, 0u64, 0f64);
    for s in report.inbound_rtp_streams() {
        let r = &s.received_rtp_stream_stats;
        lost += r.packets_lost;
        received += r.packets_received;
        // Documented as seconds, but 0.21.1 stores the receiver report's raw interarrival
        // jitter, in RTP timestamp units: divide by the clock rate (Opus/VP8 only here).
        let clock = match r.rtp_stream_stats.kind {
            RtpCodecKind::Video => 90_000.0,
            _ => 48_000.0,
        };
        jitter_s = jitter_s.max(r.jitter / clock);
    }
    // In 0.21.1 inbound RTCP never reaches the stats accumulator (`process_read_rtcp_for_stats`
    // is never called), so remote-inbound-rtp (RR loss, RTCP RTT) and outbound pliCount stay
    // empty. Loss towards the participant comes from the receiver reports our legs receive.
    let loss_out = lock(&p.downtracks)
        .iter()
        .map(|leg| f64::from(leg.fraction_lost.load(Ordering::Relaxed)) / 256.0)
        .fold(0.0, f64::max);
    let mut rtcp_rtt = None;
    for entry in report.iter() {
        if let RTCStatsReportEntry::RemoteInboundRtp(r) = entry
            && r.round_trip_time_measurements > 0
        {
            rtcp_rtt = Some(r.round_trip_time);
        }
    }
    let ice_rtt = report
        .candidate_pairs()
        .filter(|c| c.current_round_trip_time > 0.0)
        .map(|c| c.current_round_trip_time)
        .reduce(f64::min);
    let total = received as i64 + lost.max(0);
    let transceivers = p.pc.get_transceivers().await.len();
    ParticipantStats {
        participant: p.id.clone(),
        connection_state: p.shared.state.borrow().to_string(),
        bitrate_in_bps,
        bitrate_out_bps,
        packets_in: t.packets_in.load(Ordering::Relaxed),
        packets_out: t.packets_out.load(Ordering::Relaxed),
        bytes_in,
        bytes_out,
        packets_dropped_out: t.dropped_out.load(Ordering::Relaxed),
        packets_lost_in: lost,
        loss_in: if total > 0 {
            lost.max(0) as f64 / total as f64
        } else {
            0.0
        },
        loss_out,
        jitter_in_ms: jitter_s * 1000.0,
        rtt_ms: ice_rtt.or(rtcp_rtt).map(|s| s * 1000.0),
        plis_sent_to_publisher: t.plis_received.load(Ordering::Relaxed),
        published_tracks: lock(&p.publications).len(),
        subscribed_tracks: lock(&p.downtracks).len(),
        transceivers,
    }
}
