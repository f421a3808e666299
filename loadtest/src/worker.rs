//! A worker runs a slice of a plan's connections and tallies them.
//!
//! The coordinator runs one worker in its own process, or, when the open-file
//! hard limit is below what the run needs, several worker processes (the same
//! binary, `loadtest worker`). The protocol between them is three lines of
//! JSON: the coordinator writes a `WorkerInit` to the worker's stdin, the
//! worker answers `{"ready":…}` when its connections are set up, the
//! coordinator writes `go <ns>`, and the worker ends with `{"partial":…}`.

use std::io::Write;
use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::{Semaphore, mpsc, oneshot, watch};
use tokio::task::JoinSet;

use crate::conn::{self, Endpoint};
use crate::outcome::{self, Errors, Partial};
use crate::peer::{self, Shared};
use crate::plan::{Plan, Target};
use crate::stats::HistData;

/// What a worker process is told on its first stdin line.
#[derive(Debug, Serialize, Deserialize)]
pub struct WorkerInit {
    pub plan: Plan,
    pub range: Range<usize>,
    pub label: String,
}

/// Setup result of a worker's slice.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct Ready {
    pub established: u64,
    pub failed: u64,
    pub errors: Errors,
}

/// Lines a worker process writes to stdout.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WorkerMsg {
    Ready(Ready),
    Partial(Box<Partial>),
}

/// How a worker talks to its coordinator, wherever it runs.
pub struct Link {
    pub ready: oneshot::Sender<Ready>,
    /// `Some(wall clock ns)` once the coordinator says go.
    pub go: watch::Receiver<Option<u64>>,
}

/// Opens the connections `range` of `plan`, reports when they are set up,
/// lets them run, and returns their tally.
pub async fn run(
    plan: Arc<Plan>,
    range: Range<usize>,
    label: &str,
    link: Link,
) -> anyhow::Result<Partial> {
    let mut endpoints = Vec::with_capacity(plan.ws_urls.len());
    for url in &plan.ws_urls {
        endpoints.push(Endpoint::resolve(url, plan.target == Target::Hub).await?);
    }
    let shared = Arc::new(Shared {
        ws_config: conn::client_config(plan.net.read_buffer),
        connect_permits: Semaphore::new(plan.net.connect_concurrency.max(1)),
        latency: Default::default(),
        rtt: Default::default(),
        go: link.go,
        endpoints,
        plan,
    });

    let total = range.len();
    let (setup_tx, mut setup_rx) = mpsc::unbounded_channel();
    let mut tasks = JoinSet::new();
    for index in range {
        tasks.spawn(peer::run(shared.clone(), index, setup_tx.clone()));
    }
    drop(setup_tx);

    let mut ready = Ready::default();
    let mut progress = tokio::time::interval(Duration::from_secs(2));
    progress.tick().await;
    while ready.established + ready.failed < total as u64 {
        tokio::select! {
            result = setup_rx.recv() => match result {
                Some(Ok(())) => ready.established += 1,
                Some(Err(code)) => {
                    ready.failed += 1;
                    outcome::count(&mut ready.errors, &code);
                }
                // Every task has reported or ended.
                None => break,
            },
            _ = progress.tick() => eprintln!(
                "{label}: {}/{total} connected, {} failed",
                ready.established, ready.failed
            ),
        }
    }
    eprintln!(
        "{label}: setup done: {}/{total} connected, {} failed {:?}",
        ready.established, ready.failed, ready.errors
    );
    let _ = link.ready.send(ready);

    let mut partial = Partial::default();
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok(outcome) => partial.absorb(outcome),
            Err(e) => {
                let mut lost = crate::outcome::ConnOutcome::default();
                lost.error(if e.is_panic() {
                    "internal:panic"
                } else {
                    "internal:cancelled"
                });
                partial.absorb(lost);
            }
        }
    }
    partial.latency = HistData::from_histogram(&shared.latency.merged());
    partial.rtt = HistData::from_histogram(&shared.rtt.merged());
    Ok(partial)
}

/// `loadtest worker`: a worker process driven over stdin/stdout.
pub async fn process_main() -> anyhow::Result<()> {
    let mut stdin = BufReader::new(tokio::io::stdin()).lines();
    let first = stdin
        .next_line()
        .await?
        .ok_or_else(|| anyhow::anyhow!("worker: no plan on stdin"))?;
    let init: WorkerInit = serde_json::from_str(&first)?;
    let (go_tx, go_rx) = watch::channel(None);
    let (ready_tx, ready_rx) = oneshot::channel();

    tokio::spawn(async move {
        while let Ok(Some(line)) = stdin.next_line().await {
            if let Some(ns) = line.strip_prefix("go ").and_then(|n| n.trim().parse().ok()) {
                let _ = go_tx.send(Some(ns));
            }
        }
        // The coordinator is gone: without it nobody reads the result, and
        // connections waiting for "go" would wait forever.
        if go_tx.borrow().is_none() {
            eprintln!("worker: coordinator went away before go; exiting");
            std::process::exit(3);
        }
        // Keep the sender alive so connections still running finish normally.
        std::future::pending::<()>().await;
    });
    tokio::spawn(async move {
        if let Ok(ready) = ready_rx.await {
            emit(&WorkerMsg::Ready(ready));
        }
    });

    let partial = run(
        Arc::new(init.plan),
        init.range,
        &init.label,
        Link {
            ready: ready_tx,
            go: go_rx,
        },
    )
    .await?;
    emit(&WorkerMsg::Partial(Box::new(partial)));
    Ok(())
}

/// Writes one protocol line to stdout (blocking is fine: two lines per run).
fn emit(msg: &WorkerMsg) {
    let mut out = std::io::stdout().lock();
    if let Ok(line) = serde_json::to_string(msg) {
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
    }
}
