//! `media-capacity`: how many concurrent video visits one media worker carries.
//!
//! Each step runs N visits of P parties at once. Every party is a [`MediaPeer`] publishing
//! ~1 Mbit/s of VP8-sized video at 30 fps and Opus-sized audio at 50 packets/s, so the worker
//! forwards N·P·(P−1)·2 streams. Once every party receives every other's audio and video, and
//! after a warm-up, a window of `--window-secs` measures:
//! - per-subscriber loss: sequence gaps in what each party received (`media_loss`);
//! - the worker's CPU (`/proc/<pid>/stat`) and RSS, and the machine's busy and stolen cores;
//! - the load generator's own CPU (the webrtc peers live in this process).
//!
//! Steps go up the `--visits` list until the loss reaches `--max-loss` (1 %) or a side runs
//! out of CPU (≥ `--saturation` of its cores): the worker or the load generator when pinned
//! (`--worker-cpus`, `--loadgen-cpus`, see `media_affinity`), else the whole machine. Past
//! that, figures say more about the load generator fighting the worker for CPU than about
//! the worker, and publishers fall behind their rate (`delivered_share`), which sequence
//! numbers cannot show as loss. Unless `--no-baseline`,
//! every step is repeated against `udp-relay` ([`crate::media_relay`]): the same packets
//! forwarded over loopback UDP with nothing else, the floor of the forwarding cost here.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use media::control::Request;
use serde::Serialize;

use crate::cli::MediaCapacityArgs;
use crate::cpu::{CpuReport, Probe, Watch};
use crate::media_control::{Control, Worker};
use crate::media_loss::{LossCount, LossMark};
use crate::media_peer::{MediaPeer, window_loss};
use crate::media_relay::{RelayProcess, start_participants};
use crate::media_signal;
use crate::media_synth::SynthSpec;

#[derive(Debug, Serialize)]
pub struct CapacityReport {
    pub scenario: &'static str,
    pub machine: Machine,
    pub media_endpoint: String,
    pub parties: usize,
    pub spec: SynthSpec,
    pub warmup_secs: f64,
    pub window_secs: f64,
    /// CPUs the worker (and the relay) were pinned to; empty: not pinned.
    pub worker_cpus: Vec<usize>,
    /// CPUs the load generator was pinned to; empty: not pinned.
    pub loadgen_cpus: Vec<usize>,
    pub steps: Vec<Step>,
    /// The most visits whose loss stayed under `max_loss` (in the worker run).
    pub largest_visits_under_max_loss: Option<usize>,
    pub max_loss: f64,
    /// Why the ramp ended: `loss`, `worker_saturated`, `loadgen_saturated`,
    /// `machine_saturated`, `end_of_ramp` or an error.
    pub stopped_because: String,
}

#[derive(Debug, Serialize)]
pub struct Machine {
    pub cores: usize,
    pub cpu_model: String,
}

impl Machine {
    pub fn here() -> Machine {
        let cpu_model = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("model name"))
                    .and_then(|l| l.split(':').nth(1))
                    .map(|m| m.trim().to_owned())
            })
            .unwrap_or_default();
        Machine {
            cores: crate::cpu::online_cpus(),
            cpu_model,
        }
    }
}

#[derive(Debug, Serialize)]
pub struct Step {
    pub visits: usize,
    pub participants: usize,
    /// Streams the forwarder sends: visits × P × (P−1) × 2 (audio and video).
    pub forwarded_streams: usize,
    pub sfu: Measured,
    pub relay: Option<Measured>,
}

/// One run of a step (through the media worker, or through the relay baseline).
#[derive(Debug, Serialize)]
pub struct Measured {
    /// From the first join to every party receiving every other's media.
    pub setup_secs: f64,
    /// All streams of all subscribers in the window.
    pub loss: LossCount,
    pub loss_fraction: f64,
    /// The worst subscriber's loss over its streams.
    pub worst_subscriber_loss: f64,
    /// Packets subscribers received in the window, per second.
    pub forwarded_packets_per_sec: f64,
    /// What they would receive if every publisher kept its rate: subscribers' streams ×
    /// the synthetic media's packets per second.
    pub nominal_packets_per_sec: f64,
    /// forwarded / nominal: below ~0.99 the publishers (the load generator) fell behind,
    /// which sequence numbers cannot show as loss.
    pub delivered_share: f64,
    /// The forwarder's CPU, in cores (CPU seconds per second).
    pub forwarder_cores: f64,
    /// The forwarder's CPU per forwarded stream, in % of one core.
    pub forwarder_core_pct_per_stream: f64,
    /// The forwarder's CPU per forwarded packet, µs.
    pub forwarder_us_per_packet: f64,
    pub forwarder_rss_mib: Option<f64>,
    /// The load generator's CPU (this process: peers or plain sockets), in cores.
    pub loadgen_cores: f64,
    pub machine_busy_cores: f64,
    pub machine_steal_cores: f64,
    /// Packets the worker counted as not sent to subscribers in the window (leg queue full or
    /// write refused); from its `stats`. Only for the worker.
    pub sfu_dropped_out: Option<u64>,
    pub cpu: CpuReport,
}

pub async fn run(args: &MediaCapacityArgs) -> anyhow::Result<CapacityReport> {
    anyhow::ensure!(
        args.parties >= 2 && !args.visits.is_empty(),
        "--parties ≥ 2, --visits not empty"
    );
    let spec = args.spec();
    if !args.loadgen_cpus.is_empty() {
        crate::media_affinity::pin_this_process(&args.loadgen_cpus)?;
    }
    let worker = match &args.control {
        Some(endpoint) => Worker::existing(endpoint, args.media_pid),
        None => Worker::start(&args.media_bin, &args.worker_cpus).await?,
    };
    let ctl = Control::connect(&worker.endpoint)?;
    let machine = Machine::here();
    let mut report = CapacityReport {
        scenario: "media-capacity",
        media_endpoint: worker.endpoint.clone(),
        parties: args.parties,
        spec,
        warmup_secs: args.warmup_secs,
        window_secs: args.window_secs,
        steps: Vec::new(),
        largest_visits_under_max_loss: None,
        max_loss: args.max_loss,
        stopped_because: "end_of_ramp".into(),
        worker_cpus: args.worker_cpus.clone(),
        loadgen_cpus: args.loadgen_cpus.clone(),
        machine,
    };
    for (i, &visits) in args.visits.iter().enumerate() {
        eprintln!(
            "media-capacity: {visits} visits × {} parties (worker)",
            args.parties
        );
        let sfu = match sfu_step(&ctl, worker.pid, i, visits, args, spec).await {
            Ok(m) => m,
            Err(e) => {
                report.stopped_because = format!("error at {visits} visits: {e:#}");
                break;
            }
        };
        eprintln!(
            "  loss {:.3} %, worker {:.2} cores, load generator {:.2}, machine {:.2} busy",
            sfu.loss_fraction * 100.0,
            sfu.forwarder_cores,
            sfu.loadgen_cores,
            sfu.machine_busy_cores
        );
        let relay = if args.no_baseline {
            None
        } else {
            eprintln!("media-capacity: {visits} visits (udp-relay baseline)");
            Some(relay_step(visits, args, spec).await?)
        };
        let loss = sfu.loss_fraction;
        let saturated = saturation(&sfu, args, report.machine.cores);
        if loss < args.max_loss {
            report.largest_visits_under_max_loss = Some(visits);
        }
        report.steps.push(Step {
            visits,
            participants: visits * args.parties,
            forwarded_streams: visits * args.parties * (args.parties - 1) * 2,
            sfu,
            relay,
        });
        if loss >= args.max_loss {
            report.stopped_because = "loss".into();
            break;
        }
        if let Some(what) = saturated {
            report.stopped_because = what.into();
            break;
        }
    }
    worker.stop().await;
    Ok(report)
}

/// Which side ran out of CPU in a step, if any: the worker or the load generator on their
/// pinned CPUs, or the whole machine.
fn saturation(m: &Measured, args: &MediaCapacityArgs, cores: usize) -> Option<&'static str> {
    let full = |used: f64, cpus: usize| used >= args.saturation * cpus as f64;
    if !args.worker_cpus.is_empty() && full(m.forwarder_cores, args.worker_cpus.len()) {
        Some("worker_saturated")
    } else if !args.loadgen_cpus.is_empty() && full(m.loadgen_cores, args.loadgen_cpus.len()) {
        Some("loadgen_saturated")
    } else if full(m.machine_busy_cores, cores) {
        Some("machine_saturated")
    } else {
        None
    }
}

/// What the window measured, whoever forwarded.
struct Window {
    losses: Vec<(usize, LossCount)>,
    cpu: CpuReport,
}

fn measured(
    w: Window,
    streams: usize,
    nominal_pps: f64,
    setup: Duration,
    rss_pid: Option<u32>,
) -> Measured {
    let mut total = LossCount::default();
    let mut per_subscriber: HashMap<usize, LossCount> = HashMap::new();
    for (sub, c) in &w.losses {
        total.add(*c);
        per_subscriber.entry(*sub).or_default().add(*c);
    }
    let worst = per_subscriber
        .values()
        .map(LossCount::fraction)
        .fold(0.0, f64::max);
    let wall = w.cpu.wall_secs.max(1e-9);
    let forwarder_secs = w.cpu.cpu_secs.get("forwarder").copied().unwrap_or(0.0);
    let loadgen_secs = w.cpu.cpu_secs.get("loadtest").copied().unwrap_or(0.0);
    let cores = forwarder_secs / wall;
    let round = |x: f64, d: i32| (x * 10f64.powi(d)).round() / 10f64.powi(d);
    Measured {
        setup_secs: round(setup.as_secs_f64(), 2),
        loss: total,
        loss_fraction: round(total.fraction(), 6),
        worst_subscriber_loss: round(worst, 6),
        forwarded_packets_per_sec: round(total.received as f64 / wall, 0),
        nominal_packets_per_sec: round(nominal_pps, 0),
        delivered_share: round(total.received as f64 / wall / nominal_pps.max(1e-9), 4),
        forwarder_cores: round(cores, 3),
        forwarder_core_pct_per_stream: round(cores * 100.0 / streams.max(1) as f64, 4),
        forwarder_us_per_packet: if total.received > 0 {
            round(forwarder_secs * 1e6 / total.received as f64, 2)
        } else {
            0.0
        },
        forwarder_rss_mib: rss_pid
            .and_then(|p| crate::rss::read_kb(p).ok())
            .map(|kb| round(kb as f64 / 1024.0, 1)),
        loadgen_cores: round(loadgen_secs / wall, 3),
        machine_busy_cores: w.cpu.machine_busy_cores,
        machine_steal_cores: w.cpu.machine_steal_cores,
        sfu_dropped_out: None,
        cpu: w.cpu,
    }
}

fn watch(forwarder: Option<u32>) -> Watch {
    let mut pids = vec![("loadtest".to_owned(), std::process::id())];
    if let Some(pid) = forwarder {
        pids.push(("forwarder".to_owned(), pid));
    }
    Watch {
        pids,
        comms: vec![],
    }
}

/// Sum of `packets_dropped_out` over the rooms' participants.
async fn dropped_out(ctl: &Control, rooms: &[String]) -> anyhow::Result<u64> {
    let mut sum = 0;
    for room in rooms {
        let stats = ctl.call(Request::Stats { room: room.clone() }).await?;
        for p in stats["participants"].as_array().into_iter().flatten() {
            sum += p["packets_dropped_out"].as_u64().unwrap_or(0);
        }
    }
    Ok(sum)
}

async fn sfu_step(
    ctl: &Control,
    pid: Option<u32>,
    step: usize,
    visits: usize,
    args: &MediaCapacityArgs,
    spec: SynthSpec,
) -> anyhow::Result<Measured> {
    let started = Instant::now();
    let rooms: Vec<String> = (0..visits).map(|v| format!("cap{step}-v{v}")).collect();
    let mut peers: Vec<(usize, MediaPeer)> = Vec::new();
    for (v, room) in rooms.iter().enumerate() {
        ctl.call(Request::CreateRoom { room: room.clone() }).await?;
        for k in 0..args.parties {
            let mut peer = MediaPeer::new(
                &format!("s{step}v{v}p{k}"),
                (step * 100_000 + v * 16 + k) as u32,
            )
            .await?;
            media_signal::join(ctl, room, &mut peer).await?;
            peer.start_publishing(spec);
            peers.push((v, peer));
        }
    }
    let result = measure_sfu(ctl, pid, &rooms, &peers, args, started).await;
    for (_, peer) in &peers {
        peer.close().await;
    }
    for room in &rooms {
        let _ = ctl.call(Request::CloseRoom { room: room.clone() }).await;
    }
    drop(peers);
    media_signal::wait_drained(ctl).await?;
    result
}

async fn measure_sfu(
    ctl: &Control,
    pid: Option<u32>,
    rooms: &[String],
    peers: &[(usize, MediaPeer)],
    args: &MediaCapacityArgs,
    started: Instant,
) -> anyhow::Result<Measured> {
    let deadline = Instant::now() + Duration::from_secs(30 + peers.len() as u64 / 2);
    loop {
        let short = missing(peers);
        if short.is_empty() {
            break;
        }
        if Instant::now() > deadline {
            // Say which streams are short, and what the worker knows of those visits.
            let mut visits: Vec<usize> = short.iter().map(|(v, _)| *v).collect();
            visits.dedup();
            for v in visits {
                let stats = ctl
                    .call(Request::Stats {
                        room: rooms[v].clone(),
                    })
                    .await?;
                eprintln!("media-capacity: {}: {stats}", rooms[v]);
            }
            let short: Vec<String> = short.into_iter().map(|(_, s)| s).collect();
            anyhow::bail!(
                "media did not flow to everyone within the setup time; missing: {}",
                short.join(", ")
            );
        }
        for (v, peer) in peers {
            media_signal::service(ctl, &rooms[*v], peer).await?;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let setup = started.elapsed();
    tokio::time::sleep(Duration::from_secs_f64(args.warmup_secs)).await;

    let dropped_before = dropped_out(ctl, rooms).await?;
    let before: Vec<_> = peers.iter().map(|(_, p)| p.marks()).collect();
    let probe = Probe::start(watch(pid));
    tokio::time::sleep(Duration::from_secs_f64(args.window_secs)).await;
    let after: Vec<_> = peers.iter().map(|(_, p)| p.marks()).collect();
    let cpu = probe.finish();
    let dropped_after = dropped_out(ctl, rooms).await?;
    let losses = losses(&before, &after);
    let streams = peers.len() * (args.parties - 1) * 2;
    let nominal = nominal_pps(peers.len(), args);
    let mut m = measured(Window { losses, cpu }, streams, nominal, setup, pid);
    m.sfu_dropped_out = Some(dropped_after.saturating_sub(dropped_before));
    Ok(m)
}

/// (visit, "receiver<-publisher/kind=packets") for every stream short of 10 packets.
fn missing(peers: &[(usize, MediaPeer)]) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    for (v, rx) in peers {
        for (_, tx) in peers.iter().filter(|(w, tx)| w == v && tx.name != rx.name) {
            for k in ["audio", "video"] {
                let n = rx.received_from(&tx.name, k);
                if n < 10 {
                    out.push((*v, format!("{}<-{}/{k}={n}", rx.name, tx.name)));
                }
            }
        }
    }
    out
}

/// Packets per second all subscribers together should receive: each of `participants`
/// receives the P − 1 others.
fn nominal_pps(participants: usize, args: &MediaCapacityArgs) -> f64 {
    participants as f64
        * (args.parties - 1) as f64
        * args
            .spec()
            .packets_per_sec(crate::media_synth::PACKETIZER_MTU)
}

type Marks = HashMap<(String, &'static str), LossMark>;

fn losses(before: &[Marks], after: &[Marks]) -> Vec<(usize, LossCount)> {
    before
        .iter()
        .zip(after)
        .enumerate()
        .flat_map(|(i, (b, a))| window_loss(b, a).into_iter().map(move |(_, c)| (i, c)))
        .collect()
}

async fn relay_step(
    visits: usize,
    args: &MediaCapacityArgs,
    spec: SynthSpec,
) -> anyhow::Result<Measured> {
    let started = Instant::now();
    let relay = RelayProcess::start(visits * args.parties, args.parties, &args.worker_cpus).await?;
    let result = async {
        let participants =
            start_participants(&relay, args.parties, spec, Duration::from_secs(30)).await?;
        let setup = started.elapsed();
        tokio::time::sleep(Duration::from_secs_f64(args.warmup_secs)).await;
        let before: Vec<_> = participants.iter().map(|p| p.marks()).collect();
        let probe = Probe::start(watch(relay.pid));
        tokio::time::sleep(Duration::from_secs_f64(args.window_secs)).await;
        let after: Vec<_> = participants.iter().map(|p| p.marks()).collect();
        let cpu = probe.finish();
        for p in &participants {
            p.stop();
        }
        let streams = participants.len() * (args.parties - 1) * 2;
        let nominal = nominal_pps(participants.len(), args);
        Ok(measured(
            Window {
                losses: losses(&before, &after),
                cpu,
            },
            streams,
            nominal,
            setup,
            relay.pid,
        ))
    }
    .await;
    relay.stop().await;
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_figures() {
        let mut cpu = Probe::start(Watch::default()).finish();
        cpu.wall_secs = 10.0;
        cpu.cpu_secs.insert("forwarder".into(), 5.0);
        cpu.cpu_secs.insert("loadtest".into(), 8.0);
        let w = Window {
            losses: vec![
                (
                    0,
                    LossCount {
                        expected: 1000,
                        received: 990,
                    },
                ),
                (
                    1,
                    LossCount {
                        expected: 1000,
                        received: 1000,
                    },
                ),
            ],
            cpu,
        };
        let m = measured(w, 4, 200.0, Duration::from_secs(2), None);
        assert_eq!(m.loss_fraction, 0.005);
        assert_eq!(m.worst_subscriber_loss, 0.01);
        assert_eq!(m.forwarder_cores, 0.5);
        assert_eq!(m.forwarder_core_pct_per_stream, 12.5);
        assert_eq!(m.loadgen_cores, 0.8);
        assert_eq!(m.forwarded_packets_per_sec, 199.0);
        assert_eq!(m.delivered_share, 0.995);
        assert_eq!(m.forwarder_us_per_packet, 2512.56);
    }
}
