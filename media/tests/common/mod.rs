//! In-process test participants: webrtc 0.21 client peer connections that publish a
//! synthetic VP8 video track and an Opus audio track and count what they receive.

#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use media::sfu::RtcpFeedbackForwarder;
use media::{RTCIceCandidateInit, Room};
use rtc::ice::mdns::MulticastDnsMode;
use rtc::interceptor::Slot;
use rtc::media::Sample;
use rtc::media_stream::MediaStreamTrack;
use rtc::peer_connection::configuration::media_engine::{MIME_TYPE_OPUS, MIME_TYPE_VP8};
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
    RTCIceGatheringState, RTCPeerConnectionIceEvent, RTCPeerConnectionState, RTCSessionDescription,
    Registry, SettingEngineBuilder, register_default_interceptors,
};
use webrtc::rtp_transceiver::RtpSender;

/// Payload types a client registers; each test client uses different ones, so forwarding
/// between two clients only works if the SFU rewrites the payload type per leg.
#[derive(Clone, Copy, Debug)]
pub struct PtProfile {
    pub vp8: u8,
    pub opus: u8,
}

pub const PROFILES: [PtProfile; 3] = [
    PtProfile { vp8: 96, opus: 111 },
    PtProfile {
        vp8: 100,
        opus: 109,
    },
    PtProfile {
        vp8: 120,
        opus: 101,
    },
];

/// Received RTP per (publisher id = remote stream id, kind).
pub type Counts = Arc<Mutex<HashMap<(String, String), u64>>>;

struct ClientHandler {
    candidates: mpsc::UnboundedSender<RTCIceCandidateInit>,
    gathered: watch::Sender<bool>,
    state: watch::Sender<RTCPeerConnectionState>,
    counts: Counts,
    wrong_pt: Arc<AtomicU64>,
    profile: PtProfile,
    remotes: Remotes,
}

/// Remote tracks the client receives: (publisher, kind, track).
pub type Remotes = Arc<Mutex<Vec<(String, String, Arc<dyn TrackRemote>)>>>;

#[async_trait::async_trait]
impl PeerConnectionEventHandler for ClientHandler {
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
        let counts = Arc::clone(&self.counts);
        let wrong_pt = Arc::clone(&self.wrong_pt);
        let profile = self.profile;
        let remotes = Arc::clone(&self.remotes);
        tokio::spawn(async move {
            let publisher = track.stream_id().await;
            let kind = track.kind().await;
            remotes
                .lock()
                .unwrap()
                .push((publisher.clone(), kind.to_string(), Arc::clone(&track)));
            let expected_pt = match kind {
                RtpCodecKind::Video => profile.vp8,
                _ => profile.opus,
            };
            let key = (publisher, kind.to_string());
            while let Some(event) = track.poll().await {
                match event {
                    TrackRemoteEvent::OnRtpPacket(p) => {
                        if p.header.payload_type != expected_pt {
                            wrong_pt.fetch_add(1, Ordering::Relaxed);
                        }
                        *counts.lock().unwrap().entry(key.clone()).or_default() += 1;
                    }
                    TrackRemoteEvent::OnEnded => break,
                    _ => {}
                }
            }
        });
    }
}

fn client_media_engine(profile: PtProfile) -> MediaEngine {
    let mut m = MediaEngine::default();
    m.register_codec(
        RTCRtpCodecParameters {
            rtp_codec: RTCRtpCodec {
                mime_type: MIME_TYPE_OPUS.to_owned(),
                clock_rate: 48000,
                channels: 2,
                sdp_fmtp_line: "minptime=10;useinbandfec=1".to_owned(),
                rtcp_feedback: vec![],
            },
            payload_type: profile.opus,
        },
        RtpCodecKind::Audio,
    )
    .unwrap();
    let fb = |t: &str, p: &str| RTCPFeedback {
        typ: t.to_owned(),
        parameter: p.to_owned(),
    };
    m.register_codec(
        RTCRtpCodecParameters {
            rtp_codec: vp8_codec(vec![fb("nack", ""), fb("nack", "pli"), fb("ccm", "fir")]),
            payload_type: profile.vp8,
        },
        RtpCodecKind::Video,
    )
    .unwrap();
    m
}

fn vp8_codec(rtcp_feedback: Vec<RTCPFeedback>) -> RTCRtpCodec {
    RTCRtpCodec {
        mime_type: MIME_TYPE_VP8.to_owned(),
        clock_rate: 90000,
        channels: 0,
        sdp_fmtp_line: String::new(),
        rtcp_feedback,
    }
}

fn local_track(name: &str, kind: RtpCodecKind, ssrc: u32) -> Arc<TrackLocalStaticSample> {
    let codec = match kind {
        RtpCodecKind::Video => vp8_codec(vec![]),
        _ => RTCRtpCodec {
            mime_type: MIME_TYPE_OPUS.to_owned(),
            clock_rate: 48000,
            channels: 2,
            sdp_fmtp_line: String::new(),
            rtcp_feedback: vec![],
        },
    };
    let track = MediaStreamTrack::new(
        format!("{name}-stream"),
        format!("{name}-{kind}"),
        format!("{name}-{kind}"),
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
    Arc::new(TrackLocalStaticSample::new(Instant::now(), track).expect("sample track"))
}

/// One published track: the sample track, its sender, its SSRC and kind.
type Publisher = (
    Arc<TrackLocalStaticSample>,
    Arc<dyn RtpSender>,
    u32,
    RtpCodecKind,
);

pub struct TestClient {
    pub name: String,
    pub pc: Arc<dyn PeerConnection>,
    pub counts: Counts,
    pub wrong_pt: Arc<AtomicU64>,
    /// PLIs received on the client's video sender.
    pub plis: Arc<AtomicU64>,
    pub remotes: Remotes,
    candidates: mpsc::UnboundedReceiver<RTCIceCandidateInit>,
    gathered: watch::Receiver<bool>,
    pub state: watch::Receiver<RTCPeerConnectionState>,
    senders: Vec<Publisher>,
    stop: Arc<AtomicBool>,
}

impl TestClient {
    /// Builds the client's connection with an audio and a video track.
    pub async fn new(name: &str, profile: PtProfile) -> TestClient {
        let (cand_tx, cand_rx) = mpsc::unbounded_channel();
        let gathered = watch::Sender::new(false);
        let state = watch::Sender::new(RTCPeerConnectionState::New);
        let counts: Counts = Arc::default();
        let wrong_pt = Arc::new(AtomicU64::new(0));
        let remotes: Remotes = Arc::default();
        let (gathered_rx, state_rx) = (gathered.subscribe(), state.subscribe());
        let handler = ClientHandler {
            candidates: cand_tx,
            gathered,
            state,
            counts: Arc::clone(&counts),
            wrong_pt: Arc::clone(&wrong_pt),
            profile,
            remotes: Arc::clone(&remotes),
        };
        let mut media_engine = client_media_engine(profile);
        // Without it inbound RTCP never reaches `TrackLocal::poll` (see media::sfu).
        let registry = register_default_interceptors(Registry::new(), &mut media_engine)
            .unwrap()
            .with(Slot::from(14_000), RtcpFeedbackForwarder::default());
        let pc = PeerConnectionBuilder::new()
            .with_media_engine(media_engine)
            .with_interceptor_registry(registry)
            .with_setting_engine(
                SettingEngineBuilder::new()
                    .with_multicast_dns_mode(MulticastDnsMode::Disabled)
                    .build(),
            )
            .with_handler(Arc::new(handler))
            .with_udp_addrs(vec!["127.0.0.1:0".to_owned()])
            .build()
            .await
            .expect("client peer connection");
        let pc: Arc<dyn PeerConnection> = Arc::new(pc);
        let seed = name
            .bytes()
            .fold(7u32, |h, b| h.wrapping_mul(31).wrapping_add(b as u32));
        let plis = Arc::new(AtomicU64::new(0));
        let mut senders = Vec::new();
        for (i, kind) in [RtpCodecKind::Audio, RtpCodecKind::Video]
            .into_iter()
            .enumerate()
        {
            let ssrc = (seed.wrapping_mul(2654435761) & !1).wrapping_add(2 * i as u32 + 1);
            let track = local_track(name, kind, ssrc);
            let sender = pc
                .add_track(Arc::clone(&track) as Arc<dyn TrackLocal>)
                .await
                .expect("add_track");
            let (rtcp_track, plis) = (Arc::clone(&track), Arc::clone(&plis));
            tokio::spawn(async move {
                while let Some(event) = rtcp_track.poll().await {
                    if let TrackLocalEvent::OnRtcpPacket(packets) = event {
                        let n = packets
                            .iter()
                            .filter(|p| p.as_any().is::<PictureLossIndication>())
                            .count();
                        plis.fetch_add(n as u64, Ordering::Relaxed);
                    }
                }
            });
            senders.push((track, sender, ssrc, kind));
        }
        TestClient {
            name: name.to_owned(),
            pc,
            counts,
            wrong_pt,
            candidates: cand_rx,
            gathered: gathered_rx,
            state: state_rx,
            senders,
            stop: Arc::new(AtomicBool::new(false)),
            plis,
            remotes,
        }
    }

    /// Offers, joins the room with the offer, applies the answer, trickles the client's
    /// candidates with `add_candidate`, and starts publishing.
    pub async fn join(&mut self, room: &Room) -> media::Result<()> {
        let offer = self.offer().await;
        let answer = room.join(&self.name, &offer).await?;
        self.apply_answer(answer).await;
        for c in self.gathered_candidates().await {
            room.add_candidate(&self.name, c).await?;
        }
        self.start_publishing();
        Ok(())
    }

    /// The client's offer (trickle: it may carry no candidates yet).
    pub async fn offer(&self) -> String {
        let offer = self.pc.create_offer(None).await.unwrap();
        self.pc.set_local_description(offer).await.unwrap();
        self.pc.local_description().await.unwrap().sdp
    }

    pub async fn apply_answer(&self, answer: String) {
        self.pc
            .set_remote_description(RTCSessionDescription::answer(answer).unwrap())
            .await
            .unwrap();
    }

    /// The client's candidates, once its gathering completed.
    pub async fn gathered_candidates(&mut self) -> Vec<RTCIceCandidateInit> {
        let _ = tokio::time::timeout(Duration::from_secs(3), self.gathered.wait_for(|g| *g)).await;
        let mut out = Vec::new();
        while let Ok(c) = self.candidates.try_recv() {
            out.push(c);
        }
        out
    }

    /// Applies an SFU offer and returns the client's answer.
    pub async fn answer_offer(&self, offer: String) -> String {
        if std::env::var_os("DEBUG_SDP").is_some() {
            println!("--- SFU offer to {}:\n{offer}", self.name);
        }
        self.pc
            .set_remote_description(RTCSessionDescription::offer(offer).unwrap())
            .await
            .expect("client applies SFU offer");
        let answer = self.pc.create_answer(None).await.unwrap();
        self.pc.set_local_description(answer).await.unwrap();
        self.pc.local_description().await.unwrap().sdp
    }

    /// Answers the SFU's pending offer, if any. Returns whether there was one.
    pub async fn service(&self, room: &Room) -> bool {
        let Ok(Some(offer)) = room.take_pending_offer(&self.name).await else {
            return false;
        };
        let answer = self.answer_offer(offer).await;
        room.answer(&self.name, &answer)
            .await
            .expect("SFU takes answer");
        true
    }

    /// Writes a VP8 frame every 33 ms (a keyframe every 30th) and an Opus frame every 20 ms.
    pub fn start_publishing(&self) {
        for (track, sender, ssrc, kind) in self.senders.iter().cloned() {
            let stop = Arc::clone(&self.stop);
            tokio::spawn(async move {
                let (period, mime) = match kind {
                    RtpCodecKind::Video => (Duration::from_millis(33), MIME_TYPE_VP8),
                    _ => (Duration::from_millis(20), MIME_TYPE_OPUS),
                };
                let mut pt = None;
                let mut tick = tokio::time::interval(period);
                let mut n: u64 = 0;
                while !stop.load(Ordering::Relaxed) {
                    tick.tick().await;
                    if pt.is_none() {
                        pt = sender.get_parameters().await.ok().and_then(|p| {
                            p.rtp_parameters
                                .codecs
                                .iter()
                                .find(|c| c.rtp_codec.mime_type.eq_ignore_ascii_case(mime))
                                .map(|c| c.payload_type)
                        });
                        if pt.is_none() {
                            continue;
                        }
                    }
                    let data = match kind {
                        RtpCodecKind::Video => vp8_frame(n),
                        _ => Bytes::from(vec![0xFC; 60]),
                    };
                    let sample = Sample {
                        data,
                        duration: period,
                        ..Sample::new(Instant::now())
                    };
                    // Errors before the transport is up are expected; `close` stops the loop.
                    let _ = track
                        .write_sample(ssrc, pt.unwrap_or_default(), &sample, &[])
                        .await;
                    n += 1;
                }
            });
        }
    }

    pub fn count(&self, publisher: &str, kind: &str) -> u64 {
        self.counts
            .lock()
            .unwrap()
            .get(&(publisher.to_owned(), kind.to_owned()))
            .copied()
            .unwrap_or(0)
    }

    /// PLIs the client's senders have received. (Not outbound-rtp `pliCount`: webrtc 0.21.1
    /// never feeds inbound RTCP to its stats, so that stays 0.)
    pub fn plis_received(&self) -> u64 {
        self.plis.load(Ordering::Relaxed)
    }

    /// Sends a PLI for `publisher`'s video, as a browser's decoder would.
    pub async fn request_keyframe_from(&self, publisher: &str) -> bool {
        let track = self
            .remotes
            .lock()
            .unwrap()
            .iter()
            .rev()
            .find(|(p, k, _)| p == publisher && k == "video")
            .map(|(_, _, t)| Arc::clone(t));
        let Some(track) = track else { return false };
        let Some(ssrc) = track.ssrcs().await.first().copied() else {
            return false;
        };
        track
            .write_rtcp(vec![Box::new(PictureLossIndication {
                sender_ssrc: 0,
                media_ssrc: ssrc,
            })])
            .await
            .is_ok()
    }

    pub async fn wait_connected(&mut self, timeout: Duration) -> bool {
        tokio::time::timeout(
            timeout,
            self.state
                .wait_for(|s| *s == RTCPeerConnectionState::Connected),
        )
        .await
        .is_ok_and(|r| r.is_ok())
    }

    pub async fn close(&self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.pc.close().await;
    }
}

/// A synthetic VP8 frame: a keyframe (frame tag P bit 0, start code 9d 01 2a, 320x240) every
/// 30th frame and ~3 KB, else an interframe of ~900 bytes.
fn vp8_frame(n: u64) -> Bytes {
    if n.is_multiple_of(30) {
        let mut f = vec![0x50, 0x42, 0x00, 0x9d, 0x01, 0x2a, 0x40, 0x01, 0xf0, 0x00];
        f.resize(3000, 0x11);
        Bytes::from(f)
    } else {
        let mut f = vec![0x51, 0x42, 0x00];
        f.resize(900, 0x22);
        Bytes::from(f)
    }
}

/// Services pending SFU offers for `clients` until `done` holds or `timeout` passes.
pub async fn drive_until(
    room: &Room,
    clients: &[&TestClient],
    timeout: Duration,
    mut done: impl FnMut() -> bool,
) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        for c in clients {
            c.service(room).await;
        }
        if done() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Resident set size of this process in bytes (from /proc/self/statm).
pub fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    pages * 4096
}
