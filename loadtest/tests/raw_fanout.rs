//! A small fanout against the raw server, both in this process on port 0:
//! every message reaches every subscriber exactly once, and the report adds
//! up.

use std::time::Duration;

use loadtest::coordinator::{self, RunOptions};
use loadtest::plan::{NetOptions, Plan, Scenario, Target};
use loadtest::raw_server::{self, RawServerConfig};

fn raw_plan(url: String, scenario: Scenario) -> Plan {
    Plan {
        scenario,
        target: Target::Raw,
        ws_urls: vec![url],
        source_ips: loadtest::spread::source_addresses(2),
        tokens: vec![],
        rooms: vec!["raw".into()],
        net: NetOptions {
            connect_concurrency: 16,
            connect_timeout_ms: 10_000,
            read_buffer: 4096,
        },
    }
}

fn one_worker() -> RunOptions {
    RunOptions {
        workers: 1,
        worker_exe: None,
        server_pids: vec![std::process::id()],
        nofile_hard: loadtest::limits::raise_nofile().unwrap().1,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fanout_delivers_every_message_once() {
    let server = raw_server::start(
        &["127.0.0.1:0".parse().unwrap()],
        RawServerConfig::default(),
    )
    .await
    .unwrap();
    let url = format!("ws://{}", server.addrs()[0]);
    // 200 messages at 200/s: one second of publishing.
    let plan = raw_plan(
        url,
        Scenario::Fanout {
            subscribers: 20,
            rate: Some(200.0),
            window: 1,
            duration_secs: 1.0,
            drain_secs: 10.0,
        },
    );
    let report = tokio::time::timeout(
        Duration::from_secs(60),
        coordinator::execute(plan, one_worker()),
    )
    .await
    .expect("fanout finished in time")
    .unwrap();
    let json = serde_json::to_string_pretty(&report).unwrap();

    assert_eq!(report.connections, 21, "{json}");
    assert_eq!(report.connect_failures, 0, "{json}");
    let publish = report.publish.as_ref().unwrap();
    // Exactly rate × duration messages, message k at k/200 s.
    assert_eq!(publish.sent, 200, "{json}");
    assert_eq!(publish.acked, 200, "{json}");
    assert_eq!(report.expected_deliveries, 20 * 200, "{json}");
    assert_eq!(report.deliveries, 20 * 200, "{json}");
    assert_eq!(report.missing, 0, "{json}");
    assert_eq!(report.duplicates, 0, "{json}");
    assert_eq!(report.out_of_order, 0, "{json}");
    assert_eq!(report.errors, 0, "{json}");
    let latency = report.latency_ms.unwrap();
    assert_eq!(latency.samples, 4000);
    assert!(
        latency.p50 > 0.0 && latency.p50 <= latency.p99 && latency.p99 <= latency.max,
        "{json}"
    );
    assert!(report.deliveries_per_sec > 0.0, "{json}");
    let rate = publish.rate.unwrap();
    assert!((150.0..=250.0).contains(&rate), "{json}");
    assert!(publish.rtt_ms.is_some(), "{json}");
    assert!(report.server_rss.is_some(), "{json}");
    assert_eq!(
        server
            .stats()
            .dropped_slow
            .load(std::sync::atomic::Ordering::Relaxed),
        0
    );
    server.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_are_held_and_released() {
    let server = raw_server::start(
        &["127.0.0.1:0".parse().unwrap()],
        RawServerConfig::default(),
    )
    .await
    .unwrap();
    let url = format!("ws://{}", server.addrs()[0]);
    let plan = raw_plan(
        url,
        Scenario::Idle {
            connections: 50,
            hold_secs: 0,
            rooms: 0,
        },
    );
    let report = tokio::time::timeout(
        Duration::from_secs(60),
        coordinator::execute(plan, one_worker()),
    )
    .await
    .expect("idle finished in time")
    .unwrap();
    let json = serde_json::to_string_pretty(&report).unwrap();
    assert_eq!(report.connections, 50, "{json}");
    assert_eq!(report.errors, 0, "{json}");
    assert!(report.publish.is_none(), "{json}");
    let rss = report.server_rss.as_ref().unwrap();
    assert!(rss.per_connection_bytes.is_some(), "{json}");
    server.shutdown();
}
