//! The media worker's control socket: ZeroMQ request/reply with JSON messages.
//!
//! The hub (the signaling side) sends one JSON object per request; every object has an `op`:
//!
//! | op | fields | reply (besides `"ok": true`) |
//! | --- | --- | --- |
//! | `create_room` | `room` | |
//! | `join` | `room`, `participant`, `offer` (SDP) | `answer` (SDP) |
//! | `answer` | `room`, `participant`, `answer` (SDP answering an SFU offer) | |
//! | `candidate` | `room`, `participant`, `candidate` (`{candidate, sdpMid, sdpMLineIndex}`) | |
//! | `pending` | `room`, `participant` | `offer` (SDP or null), `candidates` (array of `{candidate, sdpMid, sdpMLineIndex}`, `sdpMid` the first m-line's) |
//! | `leave` | `room`, `participant` | |
//! | `close_room` | `room` | |
//! | `stats` | `room` | `participants` (array of [`ParticipantStats`](crate::sfu::ParticipantStats)) |
//! | `load` | | `rooms`, `participants`, `peer_connections` (for least-loaded placement) |
//!
//! A failure answers `{"ok": false, "error": {"code": "...", "message": "..."}}` with the
//! stable codes of [`MediaError::code`]; the request changed nothing.
//!
//! The server runs on its own thread and drives the async SFU on the tokio runtime it is
//! given. It binds `inproc://...` (inside `hub serve`, same `zmq::Context` as the hub) or
//! `tcp://127.0.0.1:PORT` (the separate `media` binary).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::error::{MediaError, Result};
use crate::sfu::Sfu;
use webrtc::peer_connection::RTCIceCandidateInit;

/// One control request.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub enum Request {
    /// Create a room (one per visit).
    CreateRoom {
        /// Room id.
        room: String,
    },
    /// Join with an SDP offer; the reply carries the SFU's answer.
    Join {
        /// Room id.
        room: String,
        /// Participant id.
        participant: String,
        /// The participant's SDP offer.
        offer: String,
    },
    /// The participant's answer to an SFU offer fetched with `pending`.
    Answer {
        /// Room id.
        room: String,
        /// Participant id.
        participant: String,
        /// SDP answer.
        answer: String,
    },
    /// A trickled ICE candidate from the participant.
    Candidate {
        /// Room id.
        room: String,
        /// Participant id.
        participant: String,
        /// The candidate, in the browser's `RTCIceCandidateInit` form.
        candidate: RTCIceCandidateInit,
    },
    /// What the SFU has for the participant: an offer to deliver, its ICE candidates.
    Pending {
        /// Room id.
        room: String,
        /// Participant id.
        participant: String,
    },
    /// The participant leaves.
    Leave {
        /// Room id.
        room: String,
        /// Participant id.
        participant: String,
    },
    /// Close the room and everybody's connection.
    CloseRoom {
        /// Room id.
        room: String,
    },
    /// Per-participant stats of a room.
    Stats {
        /// Room id.
        room: String,
    },
    /// This worker's load.
    Load,
}

/// Executes one request against the SFU; the JSON reply.
pub async fn handle(sfu: &Sfu, request: Request) -> Result<Value> {
    Ok(match request {
        Request::CreateRoom { room } => {
            sfu.create_room(&room).await?;
            json!({ "ok": true })
        }
        Request::Join {
            room,
            participant,
            offer,
        } => {
            let answer = sfu.room(&room).await?.join(&participant, &offer).await?;
            json!({ "ok": true, "answer": answer })
        }
        Request::Answer {
            room,
            participant,
            answer,
        } => {
            sfu.room(&room).await?.answer(&participant, &answer).await?;
            json!({ "ok": true })
        }
        Request::Candidate {
            room,
            participant,
            candidate,
        } => {
            sfu.room(&room)
                .await?
                .add_candidate(&participant, candidate)
                .await?;
            json!({ "ok": true })
        }
        Request::Pending { room, participant } => {
            let pending = sfu.room(&room).await?.take_pending(&participant).await?;
            json!({ "ok": true, "offer": pending.offer, "candidates": pending.candidates })
        }
        Request::Leave { room, participant } => {
            sfu.room(&room).await?.leave(&participant).await?;
            json!({ "ok": true })
        }
        Request::CloseRoom { room } => {
            sfu.close_room(&room).await?;
            json!({ "ok": true })
        }
        Request::Stats { room } => {
            let stats = sfu.room(&room).await?.get_stats().await;
            json!({ "ok": true, "room": room, "participants": stats })
        }
        Request::Load => json!({
            "ok": true,
            "rooms": sfu.room_count().await,
            "participants": sfu.counters().participants(),
            "peer_connections": sfu.counters().peer_connections(),
        }),
    })
}

/// Parses and executes one raw request; always a reply (errors become `ok: false`).
pub async fn handle_raw(sfu: &Sfu, raw: &[u8]) -> Value {
    let result = match serde_json::from_slice::<Request>(raw) {
        Ok(request) => handle(sfu, request).await,
        Err(e) => Err(MediaError::BadRequest(e.to_string())),
    };
    result.unwrap_or_else(
        |e| json!({ "ok": false, "error": { "code": e.code(), "message": e.to_string() } }),
    )
}

/// The REP socket's thread. Stops (and unbinds) when dropped or on [`ControlServer::stop`].
pub struct ControlServer {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    endpoint: String,
}

/// How often the server thread looks at its stop flag while idle.
const POLL_MS: i64 = 100;

impl ControlServer {
    /// Binds a REP socket on `endpoint` (`inproc://media`, `tcp://127.0.0.1:5560`, ...) in
    /// `ctx` and serves it on a new thread, running the SFU on `runtime`. The socket is bound
    /// before this returns, so clients may connect at once.
    pub fn start(
        ctx: &zmq::Context,
        endpoint: &str,
        sfu: Arc<Sfu>,
        runtime: tokio::runtime::Handle,
    ) -> Result<ControlServer> {
        let socket = ctx
            .socket(zmq::REP)
            .map_err(|e| MediaError::WebRtc(format!("zmq socket: {e}")))?;
        socket
            .set_linger(0)
            .map_err(|e| MediaError::WebRtc(format!("zmq linger: {e}")))?;
        socket
            .bind(endpoint)
            .map_err(|e| MediaError::BadRequest(format!("cannot bind {endpoint}: {e}")))?;
        // With `tcp://...:0` the OS picks the port: report the real endpoint.
        let endpoint = socket
            .get_last_endpoint()
            .ok()
            .and_then(|r| r.ok())
            .unwrap_or_else(|| endpoint.to_owned());
        let stop = Arc::new(AtomicBool::new(false));
        let thread_stop = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("media-control".into())
            .spawn(move || serve(socket, sfu, runtime, thread_stop))
            .map_err(|e| MediaError::WebRtc(format!("control thread: {e}")))?;
        Ok(ControlServer {
            stop,
            thread: Some(thread),
            endpoint,
        })
    }

    /// The bound endpoint (with the actual port for `tcp://...:0`).
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Stops serving and waits for the thread.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for ControlServer {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn serve(
    socket: zmq::Socket,
    sfu: Arc<Sfu>,
    runtime: tokio::runtime::Handle,
    stop: Arc<AtomicBool>,
) {
    while !stop.load(Ordering::SeqCst) {
        match socket.poll(zmq::POLLIN, POLL_MS) {
            Ok(0) => continue,
            Ok(_) => {}
            Err(e) => {
                log::error!("media control poll: {e}");
                break;
            }
        }
        let raw = match socket.recv_bytes(0) {
            Ok(raw) => raw,
            Err(e) => {
                log::error!("media control recv: {e}");
                continue;
            }
        };
        let reply = runtime.block_on(handle_raw(&sfu, &raw));
        if let Err(e) = socket.send(reply.to_string().as_bytes(), 0) {
            log::error!("media control send: {e}");
        }
    }
}

/// A REQ client for the control socket (what the hub uses).
pub struct ControlClient {
    socket: zmq::Socket,
}

impl ControlClient {
    /// Connects a REQ socket to `endpoint` in `ctx` (the server's context for `inproc://`).
    /// `timeout_ms` bounds each reply; a REQ socket that timed out must be replaced.
    pub fn connect(ctx: &zmq::Context, endpoint: &str, timeout_ms: i32) -> Result<ControlClient> {
        let io = |e: zmq::Error| MediaError::WebRtc(format!("zmq: {e}"));
        let socket = ctx.socket(zmq::REQ).map_err(io)?;
        socket.set_linger(0).map_err(io)?;
        socket.set_rcvtimeo(timeout_ms).map_err(io)?;
        socket.set_sndtimeo(timeout_ms).map_err(io)?;
        socket.connect(endpoint).map_err(io)?;
        Ok(ControlClient { socket })
    }

    /// Sends raw bytes and returns the parsed reply.
    pub fn call_raw(&self, request: &[u8]) -> Result<Value> {
        let io = |e: zmq::Error| MediaError::WebRtc(format!("zmq: {e}"));
        self.socket.send(request, 0).map_err(io)?;
        let reply = self.socket.recv_bytes(0).map_err(io)?;
        serde_json::from_slice(&reply).map_err(|e| MediaError::WebRtc(format!("bad reply: {e}")))
    }

    /// Sends a request and returns the worker's reply (`ok: true` with its fields, or
    /// `ok: false` with `error.code`); `Err` only for transport failures.
    pub fn call(&self, request: &Request) -> Result<Value> {
        let body =
            serde_json::to_vec(request).map_err(|e| MediaError::BadRequest(e.to_string()))?;
        self.call_raw(&body)
    }
}
