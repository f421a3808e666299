//! The capacity baseline: forwarding the same packets over loopback UDP with nothing else.
//!
//! `loadtest udp-relay` is an SFU reduced to its data path: one UDP socket per participant
//! (the media worker also has one per peer connection), and every packet a participant sends
//! is copied to each other participant of its visit with the SSRC rewritten for that leg,
//! sent from the receiver's own socket. No ICE, DTLS, SRTP, RTCP, interceptors or stats: what
//! is left is the kernel's UDP path, one task wake-up per packet and the copies, i.e. the
//! least any user-space SFU on this machine can spend per forwarded packet. The load side is
//! plain UDP sockets sending the same packet sizes at the same rates as the webrtc peers
//! (RTP header, packetized VP8 or Opus payload, SRTP's 10-byte tag) and counting sequence
//! gaps the same way.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::process::Stdio;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::UdpSocket;

use crate::media_loss::{LossMark, StreamLoss};
use crate::media_synth::{AUDIO_PERIOD, PACKETIZER_MTU, SynthSpec, packetize_sizes};

/// RTP header (12) before the payload, SRTP authentication tag (10) after it.
const RTP_HEADER: usize = 12;
const SRTP_TAG: usize = 10;

/// The SSRC a leg to subscriber `j` carries: the publisher's, marked with the subscriber.
fn leg_ssrc(ssrc: u32, j: usize) -> u32 {
    ssrc ^ (((j as u32) + 1) << 20)
}

/// Publisher `index`'s SSRC for `kind` (0 audio, 1 video).
fn source_ssrc(index: usize, kind: u32) -> u32 {
    ((index as u32) << 1) | kind
}

/// Runs the relay: `participants` sockets, visits of `group` consecutive ones. Prints the
/// ports as a JSON array on the first line of stdout, then serves until killed.
pub async fn serve(participants: usize, group: usize) -> anyhow::Result<()> {
    anyhow::ensure!(
        group >= 2 && participants.is_multiple_of(group),
        "bad relay shape"
    );
    let mut sockets = Vec::with_capacity(participants);
    for _ in 0..participants {
        sockets.push(Arc::new(UdpSocket::bind("127.0.0.1:0").await?));
    }
    let ports: Vec<u16> = sockets
        .iter()
        .map(|s| s.local_addr().map(|a| a.port()))
        .collect::<Result<_, _>>()?;
    println!("{}", serde_json::to_string(&ports)?);
    let addrs: Arc<Vec<OnceLock<SocketAddr>>> =
        Arc::new((0..participants).map(|_| OnceLock::new()).collect());
    let sockets = Arc::new(sockets);
    for i in 0..participants {
        let (sockets, addrs) = (Arc::clone(&sockets), Arc::clone(&addrs));
        tokio::spawn(async move {
            let visit = i / group * group;
            let mut buf = vec![0u8; 2048];
            let mut out = vec![0u8; 2048];
            loop {
                let Ok((n, from)) = sockets[i].recv_from(&mut buf).await else {
                    return;
                };
                // The first packet latches the participant's address (as ICE would learn it).
                let _ = addrs[i].set(from);
                if n < RTP_HEADER {
                    continue;
                }
                let ssrc = u32::from_be_bytes([buf[8], buf[9], buf[10], buf[11]]);
                for j in (visit..visit + group).filter(|&j| j != i) {
                    let Some(to) = addrs[j].get() else { continue };
                    out[..n].copy_from_slice(&buf[..n]);
                    out[8..12].copy_from_slice(&leg_ssrc(ssrc, j).to_be_bytes());
                    let _ = sockets[j].send_to(&out[..n], to).await;
                }
            }
        });
    }
    std::future::pending::<()>().await;
    Ok(())
}

/// A relay child process (`loadtest udp-relay`).
pub struct RelayProcess {
    pub pid: Option<u32>,
    pub ports: Vec<u16>,
    child: tokio::process::Child,
}

impl RelayProcess {
    /// `participants` sockets in visits of `group`, the process pinned to `cpus` (all when
    /// empty).
    pub async fn start(
        participants: usize,
        group: usize,
        cpus: &[usize],
    ) -> anyhow::Result<RelayProcess> {
        let exe = std::env::current_exe().context("own executable")?;
        let mut cmd = tokio::process::Command::new(exe);
        cmd.args([
            "udp-relay",
            "--participants",
            &participants.to_string(),
            "--group",
            &group.to_string(),
        ])
        .stdout(Stdio::piped())
        .kill_on_drop(true);
        crate::media_affinity::pin_child(&mut cmd, cpus);
        let mut child = cmd.spawn().context("starting udp-relay")?;
        let stdout = child.stdout.take().context("relay stdout")?;
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).await?;
        let ports: Vec<u16> = serde_json::from_str(line.trim()).context("relay ports")?;
        anyhow::ensure!(
            ports.len() == participants,
            "relay bound {} ports",
            ports.len()
        );
        Ok(RelayProcess {
            pid: child.id(),
            ports,
            child,
        })
    }

    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}

/// Streams one plain-UDP participant received, keyed like a `MediaPeer`'s.
pub type UdpStreams = Arc<Mutex<HashMap<(String, &'static str), StreamLoss>>>;

/// A participant of the baseline: one socket to its relay port, publishing and receiving.
pub struct UdpParticipant {
    pub streams: UdpStreams,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl UdpParticipant {
    /// Participant `index` on relay port `port`, publishing `spec`.
    pub async fn start(index: usize, port: u16, spec: SynthSpec) -> anyhow::Result<Self> {
        let socket = Arc::new(UdpSocket::bind("127.0.0.1:0").await?);
        socket.connect(("127.0.0.1", port)).await?;
        // Latch the address at the relay before media starts.
        socket.send(&[0]).await?;
        let streams: UdpStreams = Arc::default();
        let mut tasks = Vec::new();
        let rx_socket = Arc::clone(&socket);
        let rx_streams = Arc::clone(&streams);
        tasks.push(tokio::spawn(async move {
            let mut buf = vec![0u8; 2048];
            while let Ok(n) = rx_socket.recv(&mut buf).await {
                if n < RTP_HEADER {
                    continue;
                }
                let seq = u16::from_be_bytes([buf[2], buf[3]]);
                let ssrc = leg_ssrc(
                    u32::from_be_bytes([buf[8], buf[9], buf[10], buf[11]]),
                    index,
                );
                let key = (
                    format!("p{}", ssrc >> 1),
                    if ssrc & 1 == 1 { "video" } else { "audio" },
                );
                let now = Instant::now();
                let mut s = rx_streams.lock().unwrap_or_else(|e| e.into_inner());
                s.entry(key).or_default().record(seq, now);
            }
        }));
        for kind in [0u32, 1] {
            let socket = Arc::clone(&socket);
            tasks.push(tokio::spawn(async move {
                let ssrc = source_ssrc(index, kind);
                let period = if kind == 1 {
                    spec.frame_period()
                } else {
                    AUDIO_PERIOD
                };
                let mut tick = tokio::time::interval(period);
                let (mut seq, mut n) = (0u16, 0u64);
                let mut packet = vec![0u8; PACKETIZER_MTU + RTP_HEADER + SRTP_TAG];
                loop {
                    tick.tick().await;
                    let sizes = if kind == 1 {
                        packetize_sizes(spec.video_frame(n, false).0.len(), PACKETIZER_MTU)
                    } else {
                        vec![spec.audio_bytes]
                    };
                    for size in sizes {
                        let len = RTP_HEADER + size + SRTP_TAG;
                        packet[0] = 0x80;
                        packet[1] = if kind == 1 { 96 } else { 111 };
                        packet[2..4].copy_from_slice(&seq.to_be_bytes());
                        packet[8..12].copy_from_slice(&ssrc.to_be_bytes());
                        let _ = socket.send(&packet[..len]).await;
                        seq = seq.wrapping_add(1);
                    }
                    n += 1;
                }
            }));
        }
        Ok(UdpParticipant { streams, tasks })
    }

    pub fn marks(&self) -> HashMap<(String, &'static str), LossMark> {
        let s = self.streams.lock().unwrap_or_else(|e| e.into_inner());
        s.iter().map(|(k, v)| (k.clone(), v.mark())).collect()
    }

    pub fn received_from(&self, publisher: &str, kind: &str) -> u64 {
        let s = self.streams.lock().unwrap_or_else(|e| e.into_inner());
        s.iter()
            .filter(|((p, k), _)| p == publisher && *k == kind)
            .map(|(_, v)| v.received)
            .sum()
    }

    pub fn stop(&self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// Starts the baseline participants of `visits` × `parties` on `relay`, waits until every
/// one receives every other's audio and video (at most `timeout`).
pub async fn start_participants(
    relay: &RelayProcess,
    parties: usize,
    spec: SynthSpec,
    timeout: Duration,
) -> anyhow::Result<Vec<UdpParticipant>> {
    let mut all = Vec::with_capacity(relay.ports.len());
    for (i, &port) in relay.ports.iter().enumerate() {
        all.push(UdpParticipant::start(i, port, spec).await?);
    }
    let deadline = Instant::now() + timeout;
    loop {
        let flowing = all.iter().enumerate().all(|(i, p)| {
            let visit = i / parties * parties;
            (visit..visit + parties).filter(|&j| j != i).all(|j| {
                ["audio", "video"]
                    .iter()
                    .all(|k| p.received_from(&format!("p{j}"), k) >= 10)
            })
        });
        if flowing {
            return Ok(all);
        }
        anyhow::ensure!(Instant::now() < deadline, "relay media did not flow");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leg_ssrc_round_trips() {
        let s = source_ssrc(1234, 1);
        let leg = leg_ssrc(s, 7);
        assert_ne!(leg, s);
        assert_eq!(leg_ssrc(leg, 7), s);
        assert_eq!(leg_ssrc(leg, 7) >> 1, 1234);
    }
}
