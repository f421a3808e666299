//! Runs a plan: starts the workers, waits until every connection is set up,
//! measures the server, says "go", and merges what the workers found.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

use crate::outcome::Partial;
use crate::plan::{Plan, Scenario};
use crate::report::{self, Report, ServerRss, Timing};
use crate::worker::{self, Link, Ready, WorkerInit, WorkerMsg};
use crate::{clock, rss, spread};

#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Worker processes; 0: as many as the open-file hard limit requires.
    pub workers: usize,
    /// The `loadtest` binary, needed to start worker processes.
    pub worker_exe: Option<PathBuf>,
    /// Server processes whose RSS is reported.
    pub server_pids: Vec<u32>,
    /// The open-file hard limit of this process.
    pub nofile_hard: u64,
}

/// A worker, in this process or another.
struct WorkerHandle {
    ready: oneshot::Receiver<Ready>,
    go: Go,
    done: JoinHandle<anyhow::Result<Partial>>,
    /// Kept so the child is killed if the coordinator gives up early.
    _child: Option<Child>,
}

enum Go {
    Local(watch::Sender<Option<u64>>),
    Process(ChildStdin),
}

impl Go {
    async fn send(&mut self, ns: u64) -> anyhow::Result<()> {
        match self {
            Go::Local(tx) => {
                let _ = tx.send(Some(ns));
            }
            Go::Process(stdin) => {
                stdin.write_all(format!("go {ns}\n").as_bytes()).await?;
                stdin.flush().await?;
            }
        }
        Ok(())
    }
}

/// Runs the plan to the end and builds the report.
pub async fn execute(plan: Plan, opts: RunOptions) -> anyhow::Result<Report> {
    let total = plan.connections();
    let workers = match opts.workers {
        0 => spread::auto_workers(total, opts.nofile_hard),
        n => n,
    }
    .min(total.max(1));
    let before_kb = read_rss(&opts.server_pids)?;
    let plan = Arc::new(plan);
    eprintln!(
        "{}: {total} connections to {} over {} source address(es), {workers} worker(s)",
        plan.scenario.name(),
        plan.ws_urls.join(" "),
        plan.source_ips.len().max(1),
    );

    let setup_start = Instant::now();
    let mut handles = Vec::with_capacity(workers);
    for (w, range) in spread::worker_ranges(total, workers)
        .into_iter()
        .enumerate()
    {
        let label = format!("worker {}/{workers}", w + 1);
        handles.push(if workers == 1 {
            start_local(plan.clone(), range, label)
        } else {
            let exe = opts
                .worker_exe
                .as_ref()
                .context("several workers need the loadtest binary (worker_exe)")?;
            start_process(exe, &plan, range, label).await?
        });
    }

    for h in &mut handles {
        // A worker that dies before it is ready reports its error on `done`.
        let _ = (&mut h.ready).await;
    }
    let connect_secs = setup_start.elapsed().as_secs_f64();
    eprintln!(
        "{}: all workers ready after {connect_secs:.1}s",
        plan.scenario.name()
    );

    // The measured window: the hold for idle, from "go" otherwise.
    let mut window_start_ns = 0;
    let mut hold_end_ns = 0;
    if let Scenario::Idle { hold_secs, .. } = plan.scenario {
        eprintln!("idle: holding for {hold_secs}s");
        window_start_ns = clock::now_ns();
        tokio::time::sleep(Duration::from_secs(hold_secs)).await;
        hold_end_ns = clock::now_ns();
    }
    let after_kb = read_rss(&opts.server_pids)?;

    let go_ns = clock::now_ns();
    for h in &mut handles {
        if let Err(e) = h.go.send(go_ns).await {
            eprintln!("a worker did not take the go signal: {e}");
        }
    }
    if !matches!(plan.scenario, Scenario::Idle { .. }) {
        eprintln!("{}: running", plan.scenario.name());
    }

    let mut run = Partial::default();
    for h in handles {
        let partial = h.done.await.context("worker task")??;
        run.merge(partial);
    }
    let end_kb = read_rss(&opts.server_pids)?;

    let server_rss = match (before_kb, after_kb, end_kb) {
        (Some(before_kb), Some(after_kb), Some(end_kb)) => Some(ServerRss {
            pids: opts.server_pids.clone(),
            before_kb,
            after_kb,
            end_kb,
            per_connection_bytes: rss::per_connection_bytes(before_kb, after_kb, run.established)
                .map(|b| b.round()),
        }),
        _ => None,
    };
    let timing = Timing {
        connect_secs,
        go_ns: match plan.scenario {
            Scenario::Idle { .. } => window_start_ns,
            _ => go_ns,
        },
        hold_end_ns,
    };
    Ok(report::build(&plan, workers, &run, timing, server_rss))
}

/// Sum of the RSS of `pids`; `None` when no pid was given.
fn read_rss(pids: &[u32]) -> anyhow::Result<Option<u64>> {
    if pids.is_empty() {
        return Ok(None);
    }
    let mut sum = 0;
    for &pid in pids {
        sum += rss::read_kb(pid).with_context(|| format!("reading the RSS of server pid {pid}"))?;
    }
    Ok(Some(sum))
}

fn start_local(plan: Arc<Plan>, range: std::ops::Range<usize>, label: String) -> WorkerHandle {
    let (ready_tx, ready_rx) = oneshot::channel();
    let (go_tx, go_rx) = watch::channel(None);
    let done = tokio::spawn(async move {
        worker::run(
            plan,
            range,
            &label,
            Link {
                ready: ready_tx,
                go: go_rx,
            },
        )
        .await
    });
    WorkerHandle {
        ready: ready_rx,
        go: Go::Local(go_tx),
        done,
        _child: None,
    }
}

async fn start_process(
    exe: &PathBuf,
    plan: &Plan,
    range: std::ops::Range<usize>,
    label: String,
) -> anyhow::Result<WorkerHandle> {
    let mut child = Command::new(exe)
        .arg("worker")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting worker process {}", exe.display()))?;
    let mut stdin = child.stdin.take().context("worker stdin")?;
    let stdout = child.stdout.take().context("worker stdout")?;
    let init = WorkerInit {
        plan: plan.clone(),
        range,
        label: label.clone(),
    };
    let mut line = serde_json::to_string(&init)?;
    line.push('\n');
    stdin.write_all(line.as_bytes()).await?;
    stdin.flush().await?;

    let (ready_tx, ready_rx) = oneshot::channel();
    let done = tokio::spawn(async move {
        let mut lines = BufReader::new(stdout).lines();
        let mut ready_tx = Some(ready_tx);
        while let Some(line) = lines.next_line().await? {
            match serde_json::from_str::<WorkerMsg>(&line) {
                Ok(WorkerMsg::Ready(ready)) => {
                    if let Some(tx) = ready_tx.take() {
                        let _ = tx.send(ready);
                    }
                }
                Ok(WorkerMsg::Partial(partial)) => return Ok(*partial),
                Err(e) => anyhow::bail!("{label}: unexpected output {line:?}: {e}"),
            }
        }
        anyhow::bail!("{label}: exited without a result")
    });
    Ok(WorkerHandle {
        ready: ready_rx,
        go: Go::Process(stdin),
        done,
        _child: Some(child),
    })
}
