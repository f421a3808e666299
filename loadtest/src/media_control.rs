//! The media worker under test: started as a child process (the `media` binary) or reached at
//! a given `tcp://` control endpoint, and driven over its ZeroMQ REQ/REP socket.
//!
//! A REQ socket is strictly one request, one reply, and blocking; [`Control`] owns it on a
//! thread of its own and hands replies back to async callers, one request at a time (the
//! worker's REP side is serial anyway).

use std::path::Path;
use std::process::Stdio;
use std::sync::mpsc as std_mpsc;

use anyhow::Context as _;
use media::control::{ControlClient, Request};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::oneshot;

type Job = (Request, oneshot::Sender<anyhow::Result<Value>>);

/// Async handle on the control socket.
#[derive(Clone)]
pub struct Control {
    jobs: std_mpsc::Sender<Job>,
}

/// How long one control request may take (a `join` waits for the worker's ICE gathering).
const TIMEOUT_MS: i32 = 15_000;

impl Control {
    /// Connects to `endpoint` (`tcp://127.0.0.1:5560`).
    pub fn connect(endpoint: &str) -> anyhow::Result<Control> {
        let ctx = zmq::Context::new();
        let client = ControlClient::connect(&ctx, endpoint, TIMEOUT_MS)
            .map_err(|e| anyhow::anyhow!("control {endpoint}: {e}"))?;
        let (jobs, rx) = std_mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("media-control-client".into())
            .spawn(move || {
                let _ctx = ctx;
                for (request, reply) in rx {
                    let result = client
                        .call(&request)
                        .map_err(|e| anyhow::anyhow!("control request failed: {e}"));
                    let _ = reply.send(result);
                }
            })?;
        Ok(Control { jobs })
    }

    /// Sends a request; the reply's fields, or an error naming the worker's error code.
    pub async fn call(&self, request: Request) -> anyhow::Result<Value> {
        let (tx, rx) = oneshot::channel();
        self.jobs
            .send((request, tx))
            .map_err(|_| anyhow::anyhow!("control thread gone"))?;
        let reply = rx.await.context("control thread gone")??;
        if reply["ok"] != Value::Bool(true) {
            anyhow::bail!("media worker refused: {}", reply["error"]);
        }
        Ok(reply)
    }
}

/// The worker: a child process this run started, or one it only connects to.
pub struct Worker {
    pub endpoint: String,
    /// For CPU and RSS (`None` when connecting to a worker of unknown pid).
    pub pid: Option<u32>,
    child: Option<tokio::process::Child>,
}

impl Worker {
    /// Starts `media_bin` on a free local port, binding peer connections to 127.0.0.1,
    /// pinned to `cpus` (all when empty).
    pub async fn start(media_bin: &Path, cpus: &[usize]) -> anyhow::Result<Worker> {
        let mut cmd = tokio::process::Command::new(media_bin);
        cmd.env("MEDIA_CONTROL", "tcp://127.0.0.1:0")
            .env("MEDIA_BIND_IPS", "127.0.0.1")
            .stdout(Stdio::piped())
            .kill_on_drop(true);
        crate::media_affinity::pin_child(&mut cmd, cpus);
        let mut child = cmd
            .spawn()
            .with_context(|| format!("starting {}", media_bin.display()))?;
        let stdout = child.stdout.take().context("media stdout")?;
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .await
            .context("reading the media worker's endpoint")?;
        let endpoint = line.trim().to_owned();
        anyhow::ensure!(
            endpoint.starts_with("tcp://"),
            "the media worker printed {endpoint:?}, not its endpoint"
        );
        Ok(Worker {
            endpoint,
            pid: child.id(),
            child: Some(child),
        })
    }

    /// A worker someone else runs.
    pub fn existing(endpoint: &str, pid: Option<u32>) -> Worker {
        Worker {
            endpoint: endpoint.to_owned(),
            pid,
            child: None,
        }
    }

    /// Stops the worker if this run started it.
    pub async fn stop(mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill().await;
        }
    }
}
