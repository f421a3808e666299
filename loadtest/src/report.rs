//! The one JSON report a scenario prints on stdout.

use std::collections::BTreeMap;

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::clock;
use crate::outcome::Partial;
use crate::plan::{Plan, Scenario, Target};
use crate::stats::{Latency, new_histogram};

#[derive(Debug, Serialize)]
pub struct Report {
    pub scenario: &'static str,
    pub target: &'static str,
    pub urls: Vec<String>,
    /// Connections set up (connected, and on the hub authenticated and
    /// subscribed).
    pub connections: u64,
    pub connections_requested: u64,
    pub connect_failures: u64,
    /// From the first connect to the last connection set up.
    pub connect_secs: f64,
    pub workers: usize,
    pub source_ips: usize,
    /// Seconds measured: idle, the hold; otherwise from "go" to the last
    /// delivery or send.
    pub duration: f64,
    pub publish: Option<PublishReport>,
    /// First deliveries of probe messages to receiving connections.
    pub deliveries: u64,
    /// Sum over receivers of the messages accepted in their room.
    pub expected_deliveries: u64,
    pub deliveries_per_sec: f64,
    /// Delivery latency: receive time minus the send time in the message.
    pub latency_ms: Option<Latency>,
    /// Sum of `errors_by_code`.
    pub errors: u64,
    pub errors_by_code: BTreeMap<String, u64>,
    pub missing: u64,
    pub receivers_with_missing: u64,
    pub duplicates: u64,
    pub out_of_order: u64,
    pub server_rss: Option<ServerRss>,
}

#[derive(Debug, Serialize)]
pub struct PublishReport {
    /// Probe messages sent.
    pub sent: u64,
    /// Acknowledged: hub `reply`, raw server own echo.
    pub acked: u64,
    /// Refused with an `error` frame (see `errors_by_code`).
    pub refused: u64,
    /// Configured total rate; `null` with `--max-rate`.
    pub target_rate: Option<f64>,
    /// Rate achieved between the first and the last send, all publishers.
    pub rate: Option<f64>,
    pub acked_per_sec: Option<f64>,
    /// Hub only: acknowledged publishes are stored messages.
    pub persisted_per_sec: Option<f64>,
    /// Publish request to its acknowledgement.
    pub rtt_ms: Option<Latency>,
}

#[derive(Debug, Serialize)]
pub struct ServerRss {
    pub pids: Vec<u32>,
    /// Sum over `pids` before any connection.
    pub before_kb: u64,
    /// With every connection open: idle, at the end of the hold; otherwise
    /// after setup, just before publishing starts.
    pub after_kb: u64,
    /// After every connection ended: what the server gave back (or kept,
    /// allocators rarely return everything).
    pub end_kb: u64,
    /// `(after_kb - before_kb) * 1024 / connections`.
    pub per_connection_bytes: Option<f64>,
}

/// Timing the coordinator observed.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    pub connect_secs: f64,
    pub go_ns: u64,
    /// For idle: when the hold ended.
    pub hold_end_ns: u64,
}

pub fn build(
    plan: &Plan,
    workers: usize,
    run: &Partial,
    timing: Timing,
    server_rss: Option<ServerRss>,
) -> Report {
    let (expected, missing, short) = run.missing();
    let end_ns = match plan.scenario {
        Scenario::Idle { .. } => timing.hold_end_ns,
        _ => run
            .last_delivery_ns
            .into_iter()
            .chain(run.last_send_ns)
            .max()
            .unwrap_or(timing.go_ns),
    };
    let duration = clock::secs_between(timing.go_ns, end_ns);
    let per_sec = |n: u64, secs: f64| if secs > 0.0 { n as f64 / secs } else { 0.0 };
    let publish = match plan.scenario {
        Scenario::Idle { .. } => None,
        Scenario::Fanout { rate, .. } => Some(publish_report(plan, run, rate)),
        Scenario::Chat {
            rooms,
            rate_per_room,
            ..
        } => Some(publish_report(
            plan,
            run,
            Some(rate_per_room * rooms as f64),
        )),
    };
    let latency = histogram_of(&run.latency.0);
    Report {
        scenario: plan.scenario.name(),
        target: plan.target.as_str(),
        urls: plan.ws_urls.clone(),
        connections: run.established,
        connections_requested: run.requested,
        connect_failures: run.requested - run.established,
        connect_secs: round3(timing.connect_secs),
        workers,
        source_ips: plan.source_ips.len(),
        duration: round3(duration),
        publish,
        deliveries: run.deliveries,
        expected_deliveries: expected,
        deliveries_per_sec: round3(per_sec(run.deliveries, duration)),
        latency_ms: Latency::of(&latency),
        errors: run.errors.values().sum(),
        errors_by_code: run.errors.clone(),
        missing,
        receivers_with_missing: short,
        duplicates: run.duplicates,
        out_of_order: run.out_of_order,
        server_rss,
    }
}

fn publish_report(plan: &Plan, run: &Partial, target_rate: Option<f64>) -> PublishReport {
    // n sends span n-1 intervals.
    let window = match (run.first_send_ns, run.last_send_ns) {
        (Some(first), Some(last)) if last > first => Some(clock::secs_between(first, last)),
        _ => None,
    };
    let rate = window.map(|w| round3(run.published.saturating_sub(1) as f64 / w));
    let acked_per_sec = window.map(|w| round3(run.acked as f64 / w));
    PublishReport {
        sent: run.published,
        acked: run.acked,
        refused: run.publish_errors,
        target_rate,
        rate,
        acked_per_sec,
        persisted_per_sec: if plan.target == Target::Hub {
            acked_per_sec
        } else {
            None
        },
        rtt_ms: Latency::of(&histogram_of(&run.rtt.0)),
    }
}

fn histogram_of(values: &[(u64, u64)]) -> Histogram<u64> {
    let mut h = new_histogram();
    crate::stats::HistData(values.to_vec()).add_to(&mut h);
    h
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::ConnOutcome;
    use crate::plan::NetOptions;
    use crate::stats::{HistData, Recorder};

    fn fanout_plan() -> Plan {
        Plan {
            scenario: Scenario::Fanout {
                subscribers: 2,
                rate: Some(10.0),
                window: 1,
                duration_secs: 1.0,
                drain_secs: 1.0,
            },
            target: Target::Raw,
            ws_urls: vec!["ws://127.0.0.1:9100".into()],
            source_ips: vec![],
            tokens: vec![],
            rooms: vec!["raw".into()],
            net: NetOptions {
                connect_concurrency: 1,
                connect_timeout_ms: 1,
                read_buffer: 1,
            },
        }
    }

    #[test]
    fn fanout_report_adds_up() {
        let go = 1_000_000_000_000;
        let mut run = Partial::default();
        run.absorb(ConnOutcome {
            established: true,
            published: 11,
            acked: 11,
            first_send_ns: Some(go),
            last_send_ns: Some(go + 1_000_000_000),
            accepted: Some((0, 11)),
            ..Default::default()
        });
        for got in [11, 9] {
            run.absorb(ConnOutcome {
                established: true,
                deliveries: got,
                received: Some((0, got)),
                last_delivery_ns: Some(go + 2_000_000_000),
                ..Default::default()
            });
        }
        let r = Recorder::default();
        for ms in 1..=20u64 {
            r.record_ns(ms as usize, ms * 1_000_000);
        }
        run.latency = HistData::from_histogram(&r.merged());
        let timing = Timing {
            connect_secs: 0.5,
            go_ns: go,
            hold_end_ns: 0,
        };
        let report = build(&fanout_plan(), 1, &run, timing, None);
        assert_eq!(report.connections, 3);
        assert_eq!(report.deliveries, 20);
        assert_eq!(report.expected_deliveries, 22);
        assert_eq!((report.missing, report.receivers_with_missing), (2, 1));
        assert_eq!(report.duration, 2.0);
        assert_eq!(report.deliveries_per_sec, 10.0);
        let p = report.publish.as_ref().unwrap();
        assert_eq!(p.rate, Some(10.0));
        assert_eq!(p.persisted_per_sec, None);
        let l = report.latency_ms.unwrap();
        assert_eq!(l.samples, 20);
        assert!((l.p50 - 10.0).abs() < 0.02, "{l:?}");
        assert!((l.max - 20.0).abs() < 0.03, "{l:?}");
        let json = serde_json::to_value(&report).unwrap();
        for key in [
            "scenario",
            "target",
            "urls",
            "connections",
            "duration",
            "deliveries",
            "deliveries_per_sec",
            "latency_ms",
            "errors",
            "missing",
            "duplicates",
            "server_rss",
        ] {
            assert!(json.get(key).is_some(), "{key} missing from the report");
        }
    }
}
