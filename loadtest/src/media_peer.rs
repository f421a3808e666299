//! One synthetic video-visit participant: a webrtc 0.21 peer connection (the same crate as the
//! SFU, as the media crate's own tests use) that publishes [`SynthSpec`] audio and video and
//! keeps, per remote (publisher, kind) stream, the sequence-number accounting of
//! [`StreamLoss`]. It can join the SFU (offer → `join`, SFU offers answered through `pending`)
//! or connect to another peer directly (the peer-to-peer baseline).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use media::sfu::RtcpFeedbackForwarder;
use rtc::ice::mdns::MulticastDnsMode;
use rtc::interceptor::Slot;
use rtc::media::Sample;
use rtc::media_stream::MediaStreamTrack;
use rtc::peer_connection::configuration::media_engine::{MIME_TYPE_OPUS, MIME_TYPE_VP8};
use rtc::rtcp::payload_feedbacks::full_intra_request::FullIntraRequest;
use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use rtc::rtp_transceiver::rtp_sender::{
    RTCPFeedback, RTCRtpCodec, RTCRtpCodecParameters, RTCRtpCodingParameters,
    RTCRtpEncodingParameters, RtpCodecKind,
};
use tokio::sync::{mpsc, watch};
use webrtc::media_stream::track_local::static_sample::TrackLocalStaticSample;
use webrtc::media_stream::track_local::{TrackLocal, TrackLocalEvent};
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};
use webrtc::peer_connection::{
    MediaEngine, PeerConnection, PeerConnectionBuilder, PeerConnectionEventHandler,
    RTCIceCandidateInit, RTCIceGatheringState, RTCPeerConnectionIceEvent, RTCPeerConnectionState,
    RTCSessionDescription, Registry, SettingEngineBuilder, register_default_interceptors,
};
use webrtc::rtp_transceiver::RtpSender;

use crate::media_loss::{LossCount, LossMark, StreamLoss};
use crate::media_synth::{AUDIO_PERIOD, SynthSpec};

/// (publisher, "audio" | "video") → what this peer received of it.
pub type Streams = Arc<Mutex<HashMap<(String, &'static str), StreamLoss>>>;

fn kind_name(kind: RtpCodecKind) -> &'static str {
    match kind {
        RtpCodecKind::Video => "video",
        _ => "audio",
    }
}

struct Handler {
    candidates: mpsc::UnboundedSender<RTCIceCandidateInit>,
    gathered: watch::Sender<bool>,
    state: watch::Sender<RTCPeerConnectionState>,
    streams: Streams,
}

#[async_trait::async_trait]
impl PeerConnectionEventHandler for Handler {
    async fn on_ice_candidate(&self, event: RTCPeerConnectionIceEvent) {
        if let Ok(c) = event.candidate.to_json() {
            let _ = self.candidates.send(c);
        }
    }
    async fn on_ice_gathering_state_change(&self, state: RTCIceGatheringState) {
        if state == RTCIceGatheringState::Complete {
            self.gathered.send_replace(true);
        }
    }
    async fn on_connection_state_change(&self, state: RTCPeerConnectionState) {
        self.state.send_replace(state);
    }
    async fn on_track(&self, track: Arc<dyn TrackRemote>) {
        // Callbacks run on the connection's driver: read the track on a task of its own.
        let streams = Arc::clone(&self.streams);
        tokio::spawn(async move {
            let key = (track.stream_id().await, kind_name(track.kind().await));
            while let Some(event) = track.poll().await {
                match event {
                    TrackRemoteEvent::OnRtpPacket(p) => {
                        let now = Instant::now();
                        let mut streams = streams.lock().unwrap_or_else(|e| e.into_inner());
                        streams
                            .entry(key.clone())
                            .or_default()
                            .record(p.header.sequence_number, now);
                    }
                    TrackRemoteEvent::OnEnded => break,
                    _ => {}
                }
            }
        });
    }
}

fn opus() -> RTCRtpCodec {
    RTCRtpCodec {
        mime_type: MIME_TYPE_OPUS.to_owned(),
        clock_rate: 48000,
        channels: 2,
        sdp_fmtp_line: "minptime=10;useinbandfec=1".to_owned(),
        rtcp_feedback: vec![],
    }
}

fn vp8(rtcp_feedback: Vec<RTCPFeedback>) -> RTCRtpCodec {
    RTCRtpCodec {
        mime_type: MIME_TYPE_VP8.to_owned(),
        clock_rate: 90000,
        channels: 0,
        sdp_fmtp_line: String::new(),
        rtcp_feedback,
    }
}

/// Opus and VP8 with NACK, PLI and FIR, as a browser offers them.
fn media_engine() -> anyhow::Result<MediaEngine> {
    let mut m = MediaEngine::default();
    m.register_codec(
        RTCRtpCodecParameters {
            rtp_codec: opus(),
            payload_type: 111,
        },
        RtpCodecKind::Audio,
    )?;
    let fb = |t: &str, p: &str| RTCPFeedback {
        typ: t.to_owned(),
        parameter: p.to_owned(),
    };
    m.register_codec(
        RTCRtpCodecParameters {
            rtp_codec: vp8(vec![fb("nack", ""), fb("nack", "pli"), fb("ccm", "fir")]),
            payload_type: 96,
        },
        RtpCodecKind::Video,
    )?;
    Ok(m)
}

/// One published track and what its writer needs.
struct Outgoing {
    track: Arc<TrackLocalStaticSample>,
    sender: Arc<dyn RtpSender>,
    ssrc: u32,
    kind: RtpCodecKind,
}

/// A synthetic participant.
pub struct MediaPeer {
    pub name: String,
    pub pc: Arc<dyn PeerConnection>,
    pub streams: Streams,
    candidates: mpsc::UnboundedReceiver<RTCIceCandidateInit>,
    gathered: watch::Receiver<bool>,
    pub state: watch::Receiver<RTCPeerConnectionState>,
    outgoing: Vec<Outgoing>,
    /// Set by a PLI/FIR on the video sender: the next frame is a keyframe.
    keyframe_wanted: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
}

impl MediaPeer {
    /// A connection with one audio and one video track whose stream id is `name` (so a
    /// direct peer sees the same publisher name as a subscriber of the SFU does).
    pub async fn new(name: &str, ssrc_seed: u32) -> anyhow::Result<MediaPeer> {
        let (cand_tx, candidates) = mpsc::unbounded_channel();
        let gathered = watch::Sender::new(false);
        let state = watch::Sender::new(RTCPeerConnectionState::New);
        let streams: Streams = Arc::default();
        let (gathered_rx, state_rx) = (gathered.subscribe(), state.subscribe());
        let mut engine = media_engine()?;
        // Without it a sender never sees the PLIs the SFU relays (see media::sfu).
        let registry = register_default_interceptors(Registry::new(), &mut engine)?
            .with(Slot::from(14_000), RtcpFeedbackForwarder::default());
        let pc = PeerConnectionBuilder::new()
            .with_media_engine(engine)
            .with_interceptor_registry(registry)
            .with_setting_engine(
                SettingEngineBuilder::new()
                    .with_multicast_dns_mode(MulticastDnsMode::Disabled)
                    .build(),
            )
            .with_handler(Arc::new(Handler {
                candidates: cand_tx,
                gathered,
                state,
                streams: Arc::clone(&streams),
            }))
            // Explicit: webrtc 0.21 expands a wildcard into every interface but loopback.
            .with_udp_addrs(vec!["127.0.0.1:0".to_owned()])
            .build()
            .await?;
        let pc: Arc<dyn PeerConnection> = Arc::new(pc);
        let keyframe_wanted = Arc::new(AtomicBool::new(false));
        let mut outgoing = Vec::new();
        for (i, kind) in [RtpCodecKind::Audio, RtpCodecKind::Video]
            .into_iter()
            .enumerate()
        {
            let ssrc = ssrc_seed.wrapping_mul(2).wrapping_add(i as u32) | 1 << 31;
            let codec = match kind {
                RtpCodecKind::Video => vp8(vec![]),
                _ => opus(),
            };
            let id = format!("{name}-{}", kind_name(kind));
            let track = MediaStreamTrack::new(
                name.to_owned(),
                id.clone(),
                id,
                kind,
                vec![RTCRtpEncodingParameters {
                    rtp_coding_parameters: RTCRtpCodingParameters {
                        ssrc: Some(ssrc),
                        ..Default::default()
                    },
                    codec,
                    ..Default::default()
                }],
            );
            let track = Arc::new(TrackLocalStaticSample::new(Instant::now(), track)?);
            let sender = pc
                .add_track(Arc::clone(&track) as Arc<dyn TrackLocal>)
                .await?;
            if kind == RtpCodecKind::Video {
                spawn_keyframe_listener(Arc::clone(&track), Arc::clone(&keyframe_wanted));
            }
            outgoing.push(Outgoing {
                track,
                sender,
                ssrc,
                kind,
            });
        }
        Ok(MediaPeer {
            name: name.to_owned(),
            pc,
            streams,
            candidates,
            gathered: gathered_rx,
            state: state_rx,
            outgoing,
            keyframe_wanted,
            stop: Arc::new(AtomicBool::new(false)),
        })
    }

    /// Creates and applies an offer; its SDP.
    pub async fn offer(&self) -> anyhow::Result<String> {
        let offer = self.pc.create_offer(None).await?;
        self.pc.set_local_description(offer).await?;
        self.local_sdp().await
    }

    async fn local_sdp(&self) -> anyhow::Result<String> {
        Ok(self
            .pc
            .local_description()
            .await
            .ok_or_else(|| anyhow::anyhow!("no local description"))?
            .sdp)
    }

    pub async fn apply_answer(&self, sdp: String) -> anyhow::Result<()> {
        self.pc
            .set_remote_description(RTCSessionDescription::answer(sdp)?)
            .await?;
        Ok(())
    }

    /// Applies an offer (from the SFU or a direct peer); the answer's SDP.
    pub async fn answer_offer(&self, sdp: String) -> anyhow::Result<String> {
        self.pc
            .set_remote_description(RTCSessionDescription::offer(sdp)?)
            .await?;
        let answer = self.pc.create_answer(None).await?;
        self.pc.set_local_description(answer).await?;
        self.local_sdp().await
    }

    /// This peer's candidates gathered so far, waiting (at most 3 s) for gathering to end.
    pub async fn candidates(&mut self) -> Vec<RTCIceCandidateInit> {
        let _ = tokio::time::timeout(Duration::from_secs(3), self.gathered.wait_for(|g| *g)).await;
        let mut out = Vec::new();
        while let Ok(c) = self.candidates.try_recv() {
            out.push(c);
        }
        out
    }

    pub async fn add_candidate(&self, c: RTCIceCandidateInit) -> anyhow::Result<()> {
        self.pc.add_ice_candidate(c).await?;
        Ok(())
    }

    /// Starts writing audio and video at `spec`'s sizes and rates until [`MediaPeer::close`].
    pub fn start_publishing(&self, spec: SynthSpec) {
        for out in &self.outgoing {
            let (track, sender, ssrc, kind) = (
                Arc::clone(&out.track),
                Arc::clone(&out.sender),
                out.ssrc,
                out.kind,
            );
            let stop = Arc::clone(&self.stop);
            let keyframe_wanted = Arc::clone(&self.keyframe_wanted);
            tokio::spawn(async move {
                let (period, mime) = match kind {
                    RtpCodecKind::Video => (spec.frame_period(), MIME_TYPE_VP8),
                    _ => (AUDIO_PERIOD, MIME_TYPE_OPUS),
                };
                let mut tick = tokio::time::interval(period);
                let mut pt = None;
                let mut n: u64 = 0;
                while !stop.load(Ordering::Relaxed) {
                    tick.tick().await;
                    // The payload type is known once the track has been negotiated.
                    if pt.is_none() {
                        pt = negotiated_pt(&sender, mime).await;
                        if pt.is_none() {
                            continue;
                        }
                    }
                    let data = match kind {
                        RtpCodecKind::Video => {
                            let wanted = keyframe_wanted.swap(false, Ordering::Relaxed);
                            spec.video_frame(n, wanted).0
                        }
                        _ => spec.audio_frame(),
                    };
                    let sample = Sample {
                        data,
                        duration: period,
                        ..Sample::new(Instant::now())
                    };
                    // Errors before DTLS is up are expected; `close` ends the loop.
                    let _ = track
                        .write_sample(ssrc, pt.unwrap_or_default(), &sample, &[])
                        .await;
                    n += 1;
                }
            });
        }
    }

    /// Counters of every stream received so far.
    pub fn marks(&self) -> HashMap<(String, &'static str), LossMark> {
        let streams = self.streams.lock().unwrap_or_else(|e| e.into_inner());
        streams.iter().map(|(k, s)| (k.clone(), s.mark())).collect()
    }

    /// Packets received from `publisher` (both kinds).
    pub fn received_from(&self, publisher: &str, kind: &str) -> u64 {
        let streams = self.streams.lock().unwrap_or_else(|e| e.into_inner());
        streams
            .iter()
            .filter(|((p, k), _)| p == publisher && *k == kind)
            .map(|(_, s)| s.received)
            .sum()
    }

    /// When the first packet from `publisher` (either kind) arrived.
    pub fn first_from(&self, publisher: &str) -> Option<Instant> {
        let streams = self.streams.lock().unwrap_or_else(|e| e.into_inner());
        streams
            .iter()
            .filter(|((p, _), _)| p == publisher)
            .filter_map(|(_, s)| s.first_at)
            .min()
    }

    pub async fn close(&self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.pc.close().await;
    }
}

/// Loss of every stream between two [`MediaPeer::marks`]; streams are keyed as there.
pub fn window_loss(
    before: &HashMap<(String, &'static str), LossMark>,
    after: &HashMap<(String, &'static str), LossMark>,
) -> Vec<((String, &'static str), LossCount)> {
    after
        .iter()
        .map(|(k, to)| {
            let from = before.get(k).copied().unwrap_or_default();
            (k.clone(), crate::media_loss::between(from, *to))
        })
        .collect()
}

async fn negotiated_pt(sender: &Arc<dyn RtpSender>, mime: &str) -> Option<u8> {
    let params = sender.get_parameters().await.ok()?;
    params
        .rtp_parameters
        .codecs
        .iter()
        .find(|c| c.rtp_codec.mime_type.eq_ignore_ascii_case(mime))
        .map(|c| c.payload_type)
}

/// Turns PLIs and FIRs on the video sender into "next frame is a keyframe", as an encoder
/// does (the SFU sends one when a subscriber's leg is negotiated or a subscriber asks).
fn spawn_keyframe_listener(track: Arc<TrackLocalStaticSample>, wanted: Arc<AtomicBool>) {
    tokio::spawn(async move {
        while let Some(event) = track.poll().await {
            if let TrackLocalEvent::OnRtcpPacket(packets) = event
                && packets.iter().any(|p| {
                    p.as_any().is::<PictureLossIndication>() || p.as_any().is::<FullIntraRequest>()
                })
            {
                wanted.store(true, Ordering::Relaxed);
            }
        }
    });
}
