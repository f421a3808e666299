//! `loadtest`: measures the HealthBridge hub's WebSocket gateway and a raw
//! broadcast server built on the same stack (tokio + tungstenite), so the
//! hub's numbers can be read against a ceiling.
//!
//! Layout: `cli` (arguments) → `scenario` (a `Plan`, with `hub_setup` for
//! the hub's REST setup) → `coordinator` (workers, RSS, "go", the report) →
//! `worker` (a slice of connections) → `peer` (one connection). Pure parts,
//! tested where they live: `probe`, `frame`, `seq`, `stats`, `spread`,
//! `outcome`, `report`, `rss`, `plan`, and the two halves of a connection,
//! `publisher` and `receiver`.
//!
//! The scheduling and notification benchmarks are request/response and
//! live apart: `notify` (outbox → `notifier` → SMTP, with `smtp` and `pg`),
//! `slot_search` and `book_contention` (with `sched_api` for the REST
//! shapes and `sched_plan` for the pure planning), `cpu` (CPU time per
//! process from `/proc`) and `pgwait` (what PostgreSQL's backends wait on).
//!
//! The video-visit benchmarks drive the `media` worker (the SFU) over its ZeroMQ control
//! socket with in-process webrtc peers: `media_capacity` (concurrent visits until loss or
//! saturation, optionally pinned with `media_affinity`) and `media_join` (join → first
//! packet), with `media_control` (the worker and its socket), `media_signal`
//! (join/pending/answer), `media_peer` (one synthetic participant), `media_synth` (frame
//! sizes), `media_loss` (sequence-gap loss) and `media_relay` (the plain UDP relay baseline).

pub mod book_contention;
pub mod cli;
pub mod clock;
pub mod conn;
pub mod coordinator;
pub mod cpu;
pub mod frame;
pub mod hub_setup;
pub mod limits;
pub mod media_affinity;
pub mod media_capacity;
pub mod media_control;
pub mod media_join;
pub mod media_loss;
pub mod media_peer;
pub mod media_relay;
pub mod media_signal;
pub mod media_synth;
pub mod notify;
pub mod outcome;
pub mod peer;
pub mod pg;
pub mod pgwait;
pub mod plan;
pub mod probe;
pub mod publisher;
pub mod raw_server;
pub mod receiver;
pub mod report;
pub mod rss;
pub mod scenario;
pub mod sched_api;
pub mod sched_plan;
pub mod seq;
pub mod slot_search;
pub mod smtp;
pub mod spread;
pub mod stats;
pub mod visit_join;
pub mod worker;

use std::time::Duration;

use cli::{Cli, Command};

/// Runs a parsed command line to the end.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    let (soft, hard) = limits::raise_nofile()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let result = runtime.block_on(dispatch(cli, soft, hard));
    // A worker's stdin reader sits in a blocking read; do not wait for it.
    runtime.shutdown_timeout(Duration::from_millis(100));
    result
}

async fn dispatch(cli: Cli, soft: u64, hard: u64) -> anyhow::Result<()> {
    let scenario = match &cli.command {
        Command::RawServer(args) => {
            let config = raw_server::RawServerConfig {
                queue: args.queue,
                read_buffer: args.read_buffer,
                stats_every: (args.stats_secs > 0).then(|| Duration::from_secs(args.stats_secs)),
            };
            let server = raw_server::start(&args.listen, config).await?;
            eprintln!(
                "raw-server: pid {} listening on {} (open files: {soft})",
                std::process::id(),
                server
                    .addrs()
                    .iter()
                    .map(|a| format!("ws://{a}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            );
            return server.run_until_ctrl_c().await;
        }
        Command::Worker => return worker::process_main().await,
        Command::NotifyThroughput(args) => return print_json(&notify::run(args).await?),
        Command::SlotSearch(args) => return print_json(&slot_search::run(args).await?),
        Command::BookContention(args) => return print_json(&book_contention::run(args).await?),
        Command::MediaCapacity(args) => return print_json(&media_capacity::run(args).await?),
        Command::MediaJoin(args) => return print_json(&media_join::run(args).await?),
        Command::VisitJoin(args) => return print_json(&visit_join::run(args).await?),
        Command::UdpRelay(args) => return media_relay::serve(args.participants, args.group).await,
        Command::Idle(args) => (&args.target, scenario::idle(args)?),
        Command::Fanout(args) => (&args.target, scenario::fanout(args)?),
        Command::Chat(args) => (&args.target, scenario::chat(args)?),
    };
    let (target, scenario) = scenario;
    let (plan, opts) = scenario::plan(target, scenario, hard).await?;
    let report = coordinator::execute(plan, opts).await?;
    print_json(&report)
}

fn print_json(report: &impl serde::Serialize) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(report)?);
    Ok(())
}
