//! One task per connection: set up, then idle, publish, receive, or both.
//!
//! Everything a connection does happens in this one task, around one
//! `select!` over the socket, the "go" signal and one reusable timer: no
//! second task, no channel, no timer allocated per message. Frames are parsed
//! into borrowed views; the only allocation per message is the outgoing
//! frame's text, which the WebSocket takes ownership of.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use tokio::sync::{Semaphore, mpsc, watch};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use crate::conn::{self, Endpoint, ErrorCode, Ws};
use crate::outcome::ConnOutcome;
use crate::plan::{Plan, Role, Scenario, Target};
use crate::probe::{self, Probe};
use crate::publisher::{self, Publisher, Schedule, SendFailed};
use crate::receiver::Receiver;
use crate::stats::Recorder;
use crate::{clock, frame, spread};

/// What the connections of one worker share.
pub struct Shared {
    pub plan: Arc<Plan>,
    pub endpoints: Vec<Endpoint>,
    pub ws_config: WebSocketConfig,
    /// Bounds handshakes in flight, so 50,000 connections ramp up instead of
    /// flooding the server's accept queue.
    pub connect_permits: Semaphore,
    pub latency: Recorder,
    pub rtt: Recorder,
    /// Set (to the coordinator's wall clock) when publishing starts, or, for
    /// idle connections, when they may close.
    pub go: watch::Receiver<Option<u64>>,
}

/// Runs connection `index` to the end; reports the setup result on `setup`
/// as soon as it is known.
pub async fn run(
    shared: Arc<Shared>,
    index: usize,
    setup: mpsc::UnboundedSender<Result<(), ErrorCode>>,
) -> ConnOutcome {
    let mut out = ConnOutcome::default();
    let role = shared.plan.role(index);
    let ws = match establish(&shared, index, role).await {
        Ok(ws) => {
            let _ = setup.send(Ok(()));
            ws
        }
        Err(code) => {
            out.error(&code);
            let _ = setup.send(Err(code));
            return out;
        }
    };
    drop(setup);
    out.established = true;
    match role {
        Role::Idle { .. } => hold(&shared, ws, &mut out).await,
        _ => exchange(&shared, index, role, ws, &mut out).await,
    }
    out
}

/// TCP, WebSocket, and on the hub `auth` (request 1) and `subscribe`
/// (request 2), all within the connect timeout.
async fn establish(shared: &Shared, index: usize, role: Role) -> Result<Ws, ErrorCode> {
    let _permit = shared
        .connect_permits
        .acquire()
        .await
        .map_err(|_| "internal:closed".to_string())?;
    let plan = &shared.plan;
    let endpoint = &shared.endpoints[spread::url_index(index, shared.endpoints.len())];
    let limit = Duration::from_millis(plan.net.connect_timeout_ms);
    let setup = async {
        let mut ws = conn::open(endpoint, plan.source_ip(index), shared.ws_config).await?;
        if plan.target == Target::Hub {
            let token = plan
                .token(index)
                .ok_or_else(|| "auth:no_token".to_string())?;
            conn::request(&mut ws, 1, frame::auth(1, token), "auth").await?;
            if let Some(room) = role.room() {
                conn::request(
                    &mut ws,
                    2,
                    frame::subscribe(2, &plan.rooms[room]),
                    "subscribe",
                )
                .await?;
            }
        }
        Ok(ws)
    };
    tokio::time::timeout(limit, setup)
        .await
        .unwrap_or_else(|_| Err("timeout:setup".to_string()))
}

/// Idle: keep reading (tungstenite answers the server's pings while we read)
/// until the coordinator releases the connection.
async fn hold(shared: &Shared, mut ws: Ws, out: &mut ConnOutcome) {
    let mut go = shared.go.clone();
    loop {
        tokio::select! {
            released = go.wait_for(Option::is_some) => {
                if released.is_err() {
                    out.error("aborted");
                }
                break;
            }
            msg = ws.next() => match msg {
                Some(Ok(Message::Close(close))) => {
                    out.error(&conn::close_code(close.as_ref()));
                    return;
                }
                Some(Ok(_)) => {}
                None | Some(Err(_)) => {
                    out.error("connection_lost");
                    return;
                }
            },
        }
    }
    conn::close(ws).await;
}

/// Publish and/or receive until done or the deadline.
async fn exchange(shared: &Shared, index: usize, role: Role, mut ws: Ws, out: &mut ConnOutcome) {
    let plan = &shared.plan;
    let raw = plan.target == Target::Raw;
    let (duration, drain) = match plan.scenario {
        Scenario::Fanout {
            duration_secs,
            drain_secs,
            ..
        }
        | Scenario::Chat {
            duration_secs,
            drain_secs,
            ..
        } => (
            Duration::from_secs_f64(duration_secs),
            Duration::from_secs_f64(drain_secs),
        ),
        Scenario::Idle { .. } => (Duration::ZERO, Duration::ZERO),
    };
    let Some(room) = role.room() else { return };
    let room_id = plan.rooms[room].as_str();
    let mut receiver = match role {
        Role::Subscriber { publishers, .. } | Role::Member { publishers, .. } => {
            Some(Receiver::new(publishers))
        }
        _ => None,
    };
    let mut publisher = Publisher::for_role(role, &plan.scenario);

    let mut go = shared.go.clone();
    // Set at "go": the publishing schedule and the deadline. Receivers
    // normally stop at the publishers' fin markers; the deadline only ends a
    // run whose fin never comes, after the longest a lagging publisher may go
    // on plus the drain.
    let mut started: Option<(Schedule, Instant)> = None;
    let far = Instant::now() + Duration::from_secs(365 * 24 * 3600);
    let sleep = tokio::time::sleep_until(far);
    tokio::pin!(sleep);
    let mut lost = false;

    loop {
        if started.is_none() && go.borrow().is_some() {
            let start = Instant::now();
            let deadline = start + duration + publisher::slack(duration) + drain;
            started = Some((Schedule { start, duration }, deadline));
        }
        let mut wake = far;
        if let Some((schedule, deadline)) = started {
            if Instant::now() >= deadline {
                break;
            }
            wake = deadline;
            if let Some(p) = publisher.as_mut() {
                match p.step(&mut ws, schedule, room_id, index, out).await {
                    Ok(next) => wake = wake.min(next),
                    Err(SendFailed) => {
                        out.error("send_failed");
                        lost = true;
                        break;
                    }
                }
            }
            if receiver.as_ref().is_none_or(Receiver::done)
                && publisher.as_ref().is_none_or(Publisher::done)
            {
                break;
            }
        }
        if sleep.deadline() != wake {
            sleep.as_mut().reset(wake);
        }
        tokio::select! {
            msg = ws.next() => match msg {
                Some(Ok(Message::Text(text))) => on_text(
                    shared, index, raw, &text, receiver.as_mut(), publisher.as_mut(), out,
                ),
                Some(Ok(Message::Close(close))) => {
                    out.error(&conn::close_code(close.as_ref()));
                    lost = true;
                    break;
                }
                Some(Ok(_)) => {}
                None | Some(Err(_)) => {
                    out.error("connection_lost");
                    lost = true;
                    break;
                }
            },
            changed = go.changed(), if started.is_none() => {
                if changed.is_err() {
                    out.error("aborted");
                    break;
                }
            }
            () = &mut sleep => {}
        }
    }

    if let Some(r) = &receiver {
        r.finish(room, out);
    }
    if let Some(p) = &publisher {
        p.finish(room, out);
    }
    if !lost {
        conn::close(ws).await;
    }
}

/// One text frame from the server: a probe (delivery, or on the raw server
/// the echo that acknowledges our own publish), or an answer to a request.
fn on_text(
    shared: &Shared,
    index: usize,
    raw: bool,
    text: &str,
    receiver: Option<&mut Receiver>,
    publisher: Option<&mut Publisher>,
    out: &mut ConnOutcome,
) {
    let Ok(f) = frame::parse(text) else {
        out.error("malformed_frame");
        return;
    };
    if let Some(probe) = f.body.as_deref().and_then(probe::parse) {
        let own = publisher.as_ref().map(|p| p.publisher);
        let from = match probe {
            Probe::Data { publisher, .. } | Probe::Fin { publisher } => publisher,
        };
        if raw
            && own == Some(from)
            && let (Some(p), Some(id)) = (publisher, f.id.0)
        {
            p.ack(id, None, index, &shared.rtt, out);
        }
        if let Some(r) = receiver {
            match probe {
                Probe::Data {
                    publisher,
                    seq,
                    t_ns,
                } => {
                    if let Some(ns) = r.data(publisher, seq, t_ns, clock::now_ns(), out) {
                        shared.latency.record_ns(index, ns);
                    }
                }
                Probe::Fin { publisher } => r.fin(publisher),
            }
        }
        return;
    }
    match (&*f.ty, f.id.0) {
        ("reply", Some(id)) => {
            if let Some(p) = publisher {
                p.ack(id, None, index, &shared.rtt, out);
            }
        }
        ("error", id) => {
            let code = f.error.map_or_else(|| "unknown".into(), |e| e.code);
            match (publisher, id) {
                (Some(p), Some(id)) => p.ack(id, Some(&code), index, &shared.rtt, out),
                _ => out.error(&format!("error:{code}")),
            }
        }
        ("resync", _) => out.error("resync"),
        _ => {}
    }
}
