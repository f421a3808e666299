//! The media workers this node can use, and which one serves each visit.
//!
//! Workers speak ZeroMQ request/reply (`media/src/control.rs`). `hub serve` starts one in
//! process on `inproc://` by default, on its own tokio runtime so forwarding packets never
//! competes with request handling on the hub's runtime; `[visits] media_workers` adds
//! separate `media` processes on `tcp://`. A visit is placed on the least loaded worker
//! when its first participant enters the session; with Redis configured the placement is
//! kept there (`hb:visit-media:<visit>`, first writer wins) so every hub node sends one
//! visit's signaling to the same worker.
//!
//! ZeroMQ sockets block and are not `Sync`: each worker has one REQ socket behind a
//! mutex, used from `spawn_blocking`. A REQ socket whose request timed out is stuck in
//! the wrong state, so it is dropped and the next call connects afresh.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use media::control::{ControlClient, ControlServer, Request};
use serde_json::Value;

use crate::{config::VisitsConfig, error::Error};

/// The in-process worker's endpoint.
const INPROC_ENDPOINT: &str = "inproc://healthbridge-media";
/// Placements outlive any visit; the key is deleted when the visit ends.
const PLACEMENT_TTL_SECS: u64 = 24 * 3600;

/// A refused or failed media request. `code` is the worker's stable code
/// (`invalid_sdp`, `unknown_participant`, ...) or `media_unavailable`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaFailure {
    pub code: String,
    pub message: String,
}

impl MediaFailure {
    fn unavailable(message: impl Into<String>) -> Self {
        Self {
            code: "media_unavailable".into(),
            message: message.into(),
        }
    }
}

impl From<MediaFailure> for Error {
    fn from(f: MediaFailure) -> Self {
        match f.code.as_str() {
            "media_unavailable" => {
                tracing::error!(cause = %f.message, "media worker unavailable");
                Error::conflict(
                    "media_unavailable",
                    "the video service is unavailable; retry shortly",
                )
            }
            // The worker's own text may quote the rejected SDP or candidate (which
            // carry ICE credentials and addresses): clients get a fixed sentence.
            "invalid_sdp" => Error::invalid(
                "sdp",
                "invalid_sdp",
                "the session description could not be used",
            ),
            "invalid_candidate" => Error::invalid(
                "candidate",
                "invalid_candidate",
                "the ICE candidate could not be used",
            ),
            "no_offer_pending" => Error::conflict(
                "no_offer_pending",
                "no offer from the video service is waiting for an answer",
            ),
            "unknown_participant" => Error::conflict(
                "not_in_session",
                "this participant is not in the video session; join it first",
            ),
            _ => Error::conflict(
                "media_refused",
                "the video service refused the request; retry shortly",
            ),
        }
    }
}

struct Worker {
    endpoint: String,
    client: Mutex<Option<ControlClient>>,
}

/// The in-process worker: its control thread and the runtime its SFU runs on.
struct InProcess {
    server: Option<ControlServer>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl Drop for InProcess {
    fn drop(&mut self) {
        if let Some(server) = self.server.take() {
            server.stop();
        }
        // Dropping a runtime inside async code panics; let its threads wind down alone.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// Fields drop in order: sockets and the in-process worker before the context, whose
/// termination waits for every socket to close.
pub struct MediaPool {
    workers: Vec<Arc<Worker>>,
    timeout_ms: i32,
    placements: Mutex<HashMap<String, Arc<Worker>>>,
    /// Placement lookups are rare (once per visit and node), so each opens its own
    /// connection: nothing to repair after Redis restarts.
    redis: Option<redis::Client>,
    _in_process: Option<InProcess>,
    ctx: zmq::Context,
}

impl MediaPool {
    /// Starts the in-process worker (if configured) and lists the others. Nothing is
    /// contacted yet: a separate worker that is down is skipped at placement time.
    pub async fn start(config: &VisitsConfig, redis_url: Option<&str>) -> anyhow::Result<Self> {
        let ctx = zmq::Context::new();
        let mut endpoints = Vec::new();
        let in_process = if config.in_process_media {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .thread_name("media")
                .enable_all()
                .build()?;
            let sfu = Arc::new(media::Sfu::new(media::SfuConfig {
                bind_addrs: config
                    .media_bind_ips
                    .iter()
                    .map(|ip| std::net::SocketAddr::new(*ip, 0))
                    .collect(),
                ..media::SfuConfig::default()
            }));
            let server = ControlServer::start(&ctx, INPROC_ENDPOINT, sfu, runtime.handle().clone())
                .map_err(|e| anyhow::anyhow!("in-process media worker: {e}"))?;
            endpoints.push(server.endpoint().to_owned());
            Some(InProcess {
                server: Some(server),
                runtime: Some(runtime),
            })
        } else {
            None
        };
        endpoints.extend(config.media_workers.iter().cloned());
        let redis = redis_url.map(redis::Client::open).transpose()?;
        Ok(Self {
            ctx,
            workers: endpoints
                .into_iter()
                .map(|endpoint| {
                    Arc::new(Worker {
                        endpoint,
                        client: Mutex::new(None),
                    })
                })
                .collect(),
            timeout_ms: i32::try_from(config.media_timeout_ms).unwrap_or(5000),
            placements: Mutex::new(HashMap::new()),
            redis,
            _in_process: in_process,
        })
    }

    /// Sends `request` to the worker serving `visit`, placing the visit first if needed.
    /// The reply's fields on success.
    pub async fn call(&self, visit: &str, request: Request) -> Result<Value, MediaFailure> {
        let worker = self.worker_for(visit).await?;
        let reply = self.send(&worker, request.clone()).await?;
        if reply_code(&reply) == Some("unknown_room") {
            // The worker restarted (or the placement is new): recreate the room, retry once.
            self.send_ok(
                &worker,
                Request::CreateRoom {
                    room: visit.to_owned(),
                },
            )
            .await?;
            return into_result(self.send(&worker, request).await?);
        }
        into_result(reply)
    }

    /// Tears down `participant`'s media session in `visit`; a worker that no longer
    /// knows it (never joined, already left) is nothing to undo.
    pub async fn leave(&self, visit: &str, participant: &str) {
        let request = Request::Leave {
            room: visit.to_owned(),
            participant: participant.to_owned(),
        };
        let _ = self.call(visit, request).await;
    }

    /// Closes the visit's room and forgets its placement.
    pub async fn close(&self, visit: &str) {
        let worker = self.placements_lock().remove(visit);
        let worker = match worker {
            Some(w) => Some(w),
            None => self.stored_placement(visit).await,
        };
        if let Some(worker) = worker {
            let _ = self
                .send(
                    &worker,
                    Request::CloseRoom {
                        room: visit.to_owned(),
                    },
                )
                .await;
        }
        if let Some(mut redis) = self.redis_conn().await {
            let _: Result<(), _> = redis::cmd("DEL")
                .arg(placement_key(visit))
                .query_async(&mut redis)
                .await;
        }
    }

    /// Visits this node has placed (or looked up), for the stats loop.
    pub fn placed_visits(&self) -> Vec<String> {
        self.placements_lock().keys().cloned().collect()
    }

    /// Per-participant stats of a placed visit, without placing it.
    pub async fn stats(&self, visit: &str) -> Option<Value> {
        let worker = self.placements_lock().get(visit).cloned()?;
        let reply = self
            .send(
                &worker,
                Request::Stats {
                    room: visit.to_owned(),
                },
            )
            .await
            .ok()?;
        into_result(reply).ok()
    }

    fn placements_lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Worker>>> {
        self.placements.lock().unwrap_or_else(|p| p.into_inner())
    }

    async fn worker_for(&self, visit: &str) -> Result<Arc<Worker>, MediaFailure> {
        if let Some(w) = self.placements_lock().get(visit) {
            return Ok(w.clone());
        }
        if let Some(w) = self.stored_placement(visit).await {
            self.placements_lock().insert(visit.to_owned(), w.clone());
            return Ok(w);
        }
        let chosen = self.least_loaded().await?;
        let chosen = match self.store_placement(visit, &chosen).await {
            Some(winner) => winner,
            None => chosen,
        };
        self.send_ok(
            &chosen,
            Request::CreateRoom {
                room: visit.to_owned(),
            },
        )
        .await
        .or_else(|f| {
            if f.code == "room_exists" {
                Ok(Value::Null)
            } else {
                Err(f)
            }
        })?;
        self.placements_lock()
            .insert(visit.to_owned(), chosen.clone());
        Ok(chosen)
    }

    /// The worker with the fewest participants among those that answer.
    async fn least_loaded(&self) -> Result<Arc<Worker>, MediaFailure> {
        let mut best: Option<(u64, Arc<Worker>)> = None;
        for worker in &self.workers {
            let Ok(load) = self.send_ok(worker, Request::Load).await else {
                tracing::warn!(endpoint = %worker.endpoint, "media worker did not answer `load`");
                continue;
            };
            let participants = load["participants"].as_u64().unwrap_or(u64::MAX);
            if best.as_ref().is_none_or(|(b, _)| participants < *b) {
                best = Some((participants, worker.clone()));
            }
        }
        best.map(|(_, w)| w)
            .ok_or_else(|| MediaFailure::unavailable("no media worker answered"))
    }

    async fn stored_placement(&self, visit: &str) -> Option<Arc<Worker>> {
        let mut redis = self.redis_conn().await?;
        let endpoint: Option<String> = redis::cmd("GET")
            .arg(placement_key(visit))
            .query_async(&mut redis)
            .await
            .ok()?;
        self.by_endpoint(&endpoint?)
    }

    /// Records `worker` for `visit` unless another node was first; the winner's worker
    /// when it was not us (and we know it).
    async fn store_placement(&self, visit: &str, worker: &Arc<Worker>) -> Option<Arc<Worker>> {
        let mut redis = self.redis_conn().await?;
        let key = placement_key(visit);
        let set: Option<String> = redis::cmd("SET")
            .arg(&key)
            .arg(&worker.endpoint)
            .arg("NX")
            .arg("EX")
            .arg(PLACEMENT_TTL_SECS)
            .query_async(&mut redis)
            .await
            .ok()?;
        if set.is_some() {
            return None;
        }
        let existing: Option<String> = redis::cmd("GET")
            .arg(&key)
            .query_async(&mut redis)
            .await
            .ok()?;
        self.by_endpoint(&existing?)
    }

    async fn redis_conn(&self) -> Option<redis::aio::MultiplexedConnection> {
        let client = self.redis.as_ref()?;
        match client.get_multiplexed_async_connection().await {
            Ok(c) => Some(c),
            Err(e) => {
                tracing::warn!(error = %e, "Redis unavailable for media placement");
                None
            }
        }
    }

    fn by_endpoint(&self, endpoint: &str) -> Option<Arc<Worker>> {
        self.workers
            .iter()
            .find(|w| w.endpoint == endpoint)
            .cloned()
    }

    async fn send_ok(&self, worker: &Arc<Worker>, request: Request) -> Result<Value, MediaFailure> {
        into_result(self.send(worker, request).await?)
    }

    /// One request/reply on the worker's socket, off the async threads.
    async fn send(&self, worker: &Arc<Worker>, request: Request) -> Result<Value, MediaFailure> {
        let (ctx, worker, timeout) = (self.ctx.clone(), worker.clone(), self.timeout_ms);
        tokio::task::spawn_blocking(move || {
            let mut slot = worker.client.lock().unwrap_or_else(|p| p.into_inner());
            if slot.is_none() {
                *slot = Some(
                    ControlClient::connect(&ctx, &worker.endpoint, timeout)
                        .map_err(|e| MediaFailure::unavailable(e.to_string()))?,
                );
            }
            let client = slot
                .as_ref()
                .ok_or_else(|| MediaFailure::unavailable("no socket"))?;
            match client.call(&request) {
                Ok(reply) => Ok(reply),
                Err(e) => {
                    *slot = None;
                    Err(MediaFailure::unavailable(e.to_string()))
                }
            }
        })
        .await
        .map_err(|e| MediaFailure::unavailable(e.to_string()))?
    }
}

fn placement_key(visit: &str) -> String {
    format!("hb:visit-media:{visit}")
}

fn reply_code(reply: &Value) -> Option<&str> {
    reply["error"]["code"].as_str()
}

fn into_result(reply: Value) -> Result<Value, MediaFailure> {
    if reply["ok"] == Value::Bool(true) {
        return Ok(reply);
    }
    Err(MediaFailure {
        code: reply_code(&reply).unwrap_or("media_refused").to_owned(),
        message: reply["error"]["message"]
            .as_str()
            .unwrap_or("the media worker refused the request")
            .to_owned(),
    })
}

/// How long a caller should wait between polls of a participant's pending offers.
pub const PENDING_POLL: Duration = Duration::from_millis(100);

#[cfg(test)]
mod tests {
    use super::{Error, MediaFailure};

    #[test]
    fn a_refusal_never_repeats_the_workers_text() {
        for code in [
            "invalid_sdp",
            "invalid_candidate",
            "no_offer_pending",
            "unknown_participant",
            "media_failure",
        ] {
            let failure = MediaFailure {
                code: code.into(),
                message: "invalid SDP: a=ice-pwd:s3cr3tpassw0rd c=IN IP4 192.0.2.7".into(),
            };
            let shown = format!("{:?}", Error::from(failure));
            assert!(!shown.contains("s3cr3t"), "{code}: {shown}");
            assert!(!shown.contains("192.0.2.7"), "{code}: {shown}");
        }
    }
}
