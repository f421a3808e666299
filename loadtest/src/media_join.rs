//! `media-join`: how long a participant waits for the other party's media when it joins.
//!
//! Each of `--joins` rounds opens a visit whose host is already in it and publishing, then a
//! second party joins: the clock starts when its offer is sent to the worker (`join`) and
//! stops at the first RTP packet of the host it receives; the host's first packet of the
//! joiner is timed from the same moment. In between: the worker answers (after gathering its
//! candidates), ICE and DTLS, the worker's follow-up offer with the host's tracks (fetched
//! with `pending`, polled every `--poll-ms`, as the hub would deliver it) and its answer, and
//! the first forwarded packet.
//!
//! Baseline, same run: two of the same peers connected directly (offer handed to the other
//! peer, its answer back, candidates exchanged), timed from the offer to the first packet.
//! That is the floor set by webrtc itself on this machine (ICE, DTLS, SRTP); what the SFU
//! adds is its answer, the second offer/answer round and one forwarding hop.

use std::time::{Duration, Instant};

use media::control::Request;
use serde::Serialize;

use crate::cli::MediaJoinArgs;
use crate::media_capacity::Machine;
use crate::media_control::{Control, Worker};
use crate::media_peer::MediaPeer;
use crate::media_signal;
use crate::stats::{Summary, new_histogram};

#[derive(Debug, Serialize)]
pub struct JoinReport {
    pub scenario: &'static str,
    pub machine: Machine,
    pub joins: usize,
    pub poll_ms: u64,
    /// Offer sent → the joiner's first packet of the host, through the worker.
    pub joiner_receives_host: Option<Summary>,
    /// Offer sent → the host's first packet of the joiner, through the worker.
    pub host_receives_joiner: Option<Summary>,
    /// Offer sent → the worker's answer back (its gathering is part of it).
    pub join_reply: Option<Summary>,
    /// Baseline: offer handed over → the answering peer's first packet of the offerer, direct.
    pub p2p_first_packet: Option<Summary>,
    pub failures: usize,
}

pub async fn run(args: &MediaJoinArgs) -> anyhow::Result<JoinReport> {
    let worker = match &args.control {
        Some(endpoint) => Worker::existing(endpoint, None),
        None => Worker::start(&args.media_bin, &[]).await?,
    };
    let ctl = Control::connect(&worker.endpoint)?;
    let poll = Duration::from_millis(args.poll_ms.max(1));
    let (mut joiner_h, mut host_h, mut reply_h, mut p2p_h) = (
        new_histogram(),
        new_histogram(),
        new_histogram(),
        new_histogram(),
    );
    let mut failures = 0;
    let spec = crate::media_synth::SynthSpec::default();
    for i in 0..args.joins {
        match sfu_join(&ctl, i, poll, spec).await {
            Ok((joiner, host, reply)) => {
                joiner_h.saturating_record(joiner.as_micros() as u64);
                host_h.saturating_record(host.as_micros() as u64);
                reply_h.saturating_record(reply.as_micros() as u64);
            }
            Err(e) => {
                eprintln!("media-join: join {i} failed: {e:#}");
                failures += 1;
            }
        }
        if !args.no_baseline {
            match p2p_join(i, spec).await {
                Ok(t) => p2p_h.saturating_record(t.as_micros() as u64),
                Err(e) => {
                    eprintln!("media-join: direct pair {i} failed: {e:#}");
                    failures += 1;
                }
            }
        }
    }
    media_signal::wait_drained(&ctl).await?;
    worker.stop().await;
    Ok(JoinReport {
        scenario: "media-join",
        machine: Machine::here(),
        joins: args.joins,
        poll_ms: args.poll_ms,
        joiner_receives_host: Summary::of(&joiner_h),
        host_receives_joiner: Summary::of(&host_h),
        join_reply: Summary::of(&reply_h),
        p2p_first_packet: Summary::of(&p2p_h),
        failures,
    })
}

/// One round through the worker: (joiner gets the host, host gets the joiner, join reply).
async fn sfu_join(
    ctl: &Control,
    i: usize,
    poll: Duration,
    spec: crate::media_synth::SynthSpec,
) -> anyhow::Result<(Duration, Duration, Duration)> {
    let room = format!("join-{i}");
    ctl.call(Request::CreateRoom { room: room.clone() }).await?;
    let mut host = MediaPeer::new(&format!("host{i}"), (i * 4) as u32).await?;
    let mut guest = MediaPeer::new(&format!("guest{i}"), (i * 4 + 2) as u32).await?;
    let result = async {
        media_signal::join(ctl, &room, &mut host).await?;
        host.start_publishing(spec);
        // The host is in the visit: connected, and its tracks reached the worker.
        let mut state = host.state.clone();
        tokio::time::timeout(
            Duration::from_secs(10),
            state.wait_for(|s| *s == webrtc::peer_connection::RTCPeerConnectionState::Connected),
        )
        .await??;
        tokio::time::sleep(Duration::from_millis(300)).await;

        let offer = guest.offer().await?;
        let t0 = Instant::now();
        let reply = {
            media_signal::join_with(ctl, &room, &mut guest, offer).await?;
            t0.elapsed()
        };
        guest.start_publishing(spec);
        let deadline = t0 + Duration::from_secs(20);
        loop {
            media_signal::service(ctl, &room, &guest).await?;
            media_signal::service(ctl, &room, &host).await?;
            let (g, h) = (guest.first_from(&host.name), host.first_from(&guest.name));
            if let (Some(g), Some(h)) = (g, h) {
                return anyhow::Ok((g - t0, h - t0, reply));
            }
            anyhow::ensure!(Instant::now() < deadline, "no media within 20 s");
            tokio::time::sleep(poll).await;
        }
    }
    .await;
    host.close().await;
    guest.close().await;
    let _ = ctl.call(Request::CloseRoom { room }).await;
    result
}

/// The baseline: two peers connected directly; offer handed over → the answerer's first
/// packet of the offerer.
pub(crate) async fn p2p_join(
    i: usize,
    spec: crate::media_synth::SynthSpec,
) -> anyhow::Result<Duration> {
    let mut a = MediaPeer::new(&format!("pa{i}"), (i * 4 + 1) as u32).await?;
    let mut b = MediaPeer::new(&format!("pb{i}"), (i * 4 + 3) as u32).await?;
    let result = async {
        let offer = a.offer().await?;
        let t0 = Instant::now();
        let answer = b.answer_offer(offer).await?;
        a.apply_answer(answer).await?;
        for c in a.candidates().await {
            b.add_candidate(c).await?;
        }
        for c in b.candidates().await {
            a.add_candidate(c).await?;
        }
        a.start_publishing(spec);
        b.start_publishing(spec);
        let deadline = t0 + Duration::from_secs(20);
        loop {
            if let Some(t) = b.first_from(&a.name) {
                return anyhow::Ok(t - t0);
            }
            anyhow::ensure!(Instant::now() < deadline, "no direct media within 20 s");
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
    .await;
    a.close().await;
    b.close().await;
    result
}
