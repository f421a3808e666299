//! One task per connection: set up, then idle, publish, receive, or both.
//!
//! Everything a connection does happens in this one task, around one
//! `select!` over the socket, the "go" signal and one reusable timer: no
//! second task, no channel, no timer allocated per message. Frames are parsed
//! into borrowed views; the only allocation per message is the outgoing
//! frame's text, which the WebSocket takes ownership of.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::sync::{Semaphore, mpsc, watch};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use crate::conn::{self, Endpoint, ErrorCode, Ws};
use crate::outcome::ConnOutcome;
use crate::plan::{Plan, Role, Scenario, Target};
use crate::probe::{self, Probe};
use crate::seq::{Seen, SeqTracker};
use crate::stats::Recorder;
use crate::{clock, frame, spread};

/// How long a publisher waits for outstanding acknowledgements after its
/// last message before it sends its fin marker anyway.
const ACK_GRACE: Duration = Duration::from_secs(5);
/// A refused fin (e.g. `rate_limited`) is retried after this long...
const FIN_RETRY: Duration = Duration::from_millis(250);
/// ...this many times.
const FIN_TRIES: u32 = 40;
/// Most frames written before the task goes back to reading.
const SEND_BATCH: usize = 256;

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

/// What a receiving connection has seen, per publisher of its room.
struct Receiving {
    trackers: Vec<SeqTracker>,
    fins: Vec<bool>,
    fins_seen: usize,
}

impl Receiving {
    fn new(publishers: u32) -> Self {
        Self {
            trackers: vec![SeqTracker::default(); publishers as usize],
            fins: vec![false; publishers as usize],
            fins_seen: 0,
        }
    }

    fn fin(&mut self, publisher: u32) {
        if let Some(seen) = self.fins.get_mut(publisher as usize)
            && !*seen
        {
            *seen = true;
            self.fins_seen += 1;
        }
    }

    fn done(&self) -> bool {
        self.fins_seen == self.fins.len()
    }

    fn distinct(&self) -> u64 {
        self.trackers.iter().map(SeqTracker::distinct).sum()
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Fin {
    /// Still publishing, or waiting for acknowledgements.
    Pending,
    Sent {
        id: u64,
        tries: u32,
    },
    RetryAt {
        at: Instant,
        tries: u32,
    },
    Done,
}

/// A publishing connection's state.
struct Publishing {
    publisher: u32,
    /// Messages per second, or `None` for "as fast as acknowledged".
    rate: Option<f64>,
    /// At a rate: exactly this many messages (rate × duration), message `k`
    /// due at `k / rate`, so runs are comparable message for message. A
    /// publisher that falls behind keeps going (up to twice the duration)
    /// and the report's achieved rate shows it.
    count: u64,
    /// When the last message was sent (or publishing was cut off).
    finished: Option<Instant>,
    window: usize,
    /// Offset of this publisher's schedule, so a room's members do not all
    /// send in the same millisecond.
    phase: Duration,
    seq: u64,
    /// `(request id, send time ns)` awaiting acknowledgement, oldest first.
    in_flight: VecDeque<(u64, u64)>,
    fin: Fin,
}

impl Publishing {
    /// An acknowledgement (hub: reply/error; raw: own echo) for request `id`.
    fn ack(
        &mut self,
        id: u64,
        refused: Option<&str>,
        index: usize,
        rtt: &Recorder,
        out: &mut ConnOutcome,
    ) {
        if let Fin::Sent { id: fin_id, tries } = self.fin
            && fin_id == id
        {
            self.fin = match refused {
                None => Fin::Done,
                Some(_) if tries < FIN_TRIES => Fin::RetryAt {
                    at: Instant::now() + FIN_RETRY,
                    tries,
                },
                Some(code) => {
                    out.error(&format!("fin:{code}"));
                    Fin::Done
                }
            };
            return;
        }
        // Requests on one socket are answered in order: anything older than
        // `id` still waiting will never be answered.
        while let Some(&(sent_id, sent_ns)) = self.in_flight.front() {
            if sent_id > id {
                break;
            }
            self.in_flight.pop_front();
            if sent_id < id {
                out.error("publish:no_reply");
                continue;
            }
            match refused {
                None => {
                    out.acked += 1;
                    rtt.record_ns(index, clock::now_ns().saturating_sub(sent_ns));
                }
                Some(code) => {
                    out.publish_errors += 1;
                    out.error(&format!("publish:{code}"));
                }
            }
            break;
        }
    }
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
    let mut receiving = match role {
        Role::Subscriber { publishers, .. } | Role::Member { publishers, .. } => {
            Some(Receiving::new(publishers))
        }
        _ => None,
    };
    let mut publishing = match (role, &plan.scenario) {
        (Role::Publisher { publisher, .. }, &Scenario::Fanout { rate, window, .. }) => {
            Some(Publishing {
                publisher,
                rate,
                count: rate.map_or(u64::MAX, |r| message_count(r, duration)),
                finished: None,
                window: window.max(1),
                phase: Duration::ZERO,
                seq: 0,
                in_flight: VecDeque::new(),
                fin: Fin::Pending,
            })
        }
        (
            Role::Member { publisher, .. },
            &Scenario::Chat {
                rate_per_room,
                members,
                ..
            },
        ) => {
            let rate = rate_per_room / members.max(1) as f64;
            Some(Publishing {
                publisher,
                rate: Some(rate),
                count: message_count(rate, duration),
                finished: None,
                window: usize::MAX,
                phase: Duration::from_secs_f64(rand::random::<f64>() / rate.max(1e-9)),
                seq: 0,
                in_flight: VecDeque::new(),
                fin: Fin::Pending,
            })
        }
        _ => None,
    };

    // Request ids 1 and 2 were used by auth and subscribe.
    let mut next_id = 3u64;
    let mut go = shared.go.clone();
    let mut started: Option<(Instant, Instant, Instant)> = None; // start, publish end, deadline
    let far = Instant::now() + Duration::from_secs(365 * 24 * 3600);
    let sleep = tokio::time::sleep_until(far);
    tokio::pin!(sleep);
    let mut lost = false;

    'run: loop {
        if started.is_none() && go.borrow().is_some() {
            let now = Instant::now();
            // Receivers normally stop at the publishers' fin markers; the
            // deadline only ends a run whose fin never comes, after the
            // longest a lagging publisher may go on (see `cut_off`) plus the
            // drain.
            let slack = duration.max(Duration::from_secs(5));
            started = Some((now, now + duration, now + duration + slack + drain));
        }
        let mut wake = far;
        if let Some((start, publish_end, deadline)) = started {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            wake = deadline;
            if let Some(p) = publishing.as_mut() {
                let mut fed = 0;
                let cut_off = publish_end + duration.max(Duration::from_secs(5));
                let active = p.finished.is_none()
                    && match p.rate {
                        Some(_) => p.seq < p.count && now < cut_off,
                        None => now < publish_end,
                    };
                if active {
                    wake = wake.min(if p.rate.is_some() {
                        cut_off
                    } else {
                        publish_end
                    });
                    while fed < SEND_BATCH && p.seq < p.count {
                        let may_send = match p.rate {
                            Some(rate) => {
                                let due =
                                    start + p.phase + Duration::from_secs_f64(p.seq as f64 / rate);
                                if due > now {
                                    wake = wake.min(due);
                                }
                                due <= now
                            }
                            None => p.in_flight.len() < p.window,
                        };
                        if !may_send {
                            break;
                        }
                        let id = next_id;
                        next_id += 1;
                        let t_ns = clock::now_ns();
                        let text = frame::publish(id, room_id, index, |b| {
                            probe::write_data(b, p.publisher, p.seq, t_ns)
                        });
                        if ws.feed(Message::Text(text.into())).await.is_err() {
                            out.error("send_failed");
                            lost = true;
                            break 'run;
                        }
                        p.in_flight.push_back((id, t_ns));
                        p.seq += 1;
                        out.published += 1;
                        out.first_send_ns.get_or_insert(t_ns);
                        out.last_send_ns = Some(t_ns);
                        fed += 1;
                    }
                    if fed == SEND_BATCH || p.seq >= p.count {
                        // More is due (read first, then come straight back),
                        // or all is sent (go on to the fin marker).
                        wake = now;
                    }
                } else {
                    let finished = *p.finished.get_or_insert(now);
                    let send_fin = match p.fin {
                        Fin::Pending if p.in_flight.is_empty() || now >= finished + ACK_GRACE => {
                            Some(0)
                        }
                        Fin::Pending => {
                            wake = wake.min(finished + ACK_GRACE);
                            None
                        }
                        Fin::RetryAt { at, tries } if at <= now => Some(tries + 1),
                        Fin::RetryAt { at, .. } => {
                            wake = wake.min(at);
                            None
                        }
                        Fin::Sent { .. } | Fin::Done => None,
                    };
                    if let Some(tries) = send_fin {
                        let id = next_id;
                        next_id += 1;
                        let text = frame::publish(id, room_id, index, |b| {
                            probe::write_fin(b, p.publisher)
                        });
                        if ws.feed(Message::Text(text.into())).await.is_err() {
                            out.error("send_failed");
                            lost = true;
                            break 'run;
                        }
                        p.fin = Fin::Sent { id, tries };
                        fed += 1;
                    }
                }
                if fed > 0 && ws.flush().await.is_err() {
                    out.error("send_failed");
                    lost = true;
                    break 'run;
                }
            }
            let received_all = receiving.as_ref().is_none_or(Receiving::done);
            let published_all = publishing.as_ref().is_none_or(|p| p.fin == Fin::Done);
            if received_all && published_all {
                break;
            }
        }
        if sleep.deadline() != wake {
            sleep.as_mut().reset(wake);
        }
        tokio::select! {
            msg = ws.next() => match msg {
                Some(Ok(Message::Text(text))) => on_text(
                    shared, index, raw, &text, receiving.as_mut(), publishing.as_mut(), out,
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

    if let Some(r) = &receiving {
        out.received = Some((room, r.distinct()));
        out.duplicates = r.trackers.iter().map(|t| t.duplicates).sum();
        out.out_of_order = r.trackers.iter().map(|t| t.out_of_order).sum();
    }
    if let Some(p) = &publishing {
        for _ in &p.in_flight {
            out.error("publish:no_reply");
        }
        out.accepted = Some((room, out.published - out.publish_errors));
    }
    if !lost {
        conn::close(ws).await;
    }
}

/// Messages a publisher at `rate` sends in `duration` (at least one).
fn message_count(rate: f64, duration: Duration) -> u64 {
    ((rate * duration.as_secs_f64()) - 1e-9).ceil().max(1.0) as u64
}

/// One text frame from the server.
fn on_text(
    shared: &Shared,
    index: usize,
    raw: bool,
    text: &str,
    receiving: Option<&mut Receiving>,
    publishing: Option<&mut Publishing>,
    out: &mut ConnOutcome,
) {
    let Ok(f) = frame::parse(text) else {
        out.error("malformed_frame");
        return;
    };
    if let Some(probe) = f.body.as_deref().and_then(probe::parse) {
        let own = publishing.as_ref().map(|p| p.publisher);
        match probe {
            Probe::Data {
                publisher,
                seq,
                t_ns,
            } => {
                let now_ns = clock::now_ns();
                if raw
                    && own == Some(publisher)
                    && let (Some(p), Some(id)) = (publishing, f.id.0)
                {
                    p.ack(id, None, index, &shared.rtt, out);
                }
                if let Some(r) = receiving
                    && let Some(tracker) = r.trackers.get_mut(publisher as usize)
                    && tracker.record(seq) == Seen::First
                {
                    out.deliveries += 1;
                    shared.latency.record_ns(index, now_ns.saturating_sub(t_ns));
                    out.first_delivery_ns.get_or_insert(now_ns);
                    out.last_delivery_ns = Some(now_ns);
                }
            }
            Probe::Fin { publisher } => {
                if raw
                    && own == Some(publisher)
                    && let (Some(p), Some(id)) = (publishing, f.id.0)
                {
                    p.ack(id, None, index, &shared.rtt, out);
                }
                if let Some(r) = receiving {
                    r.fin(publisher);
                }
            }
        }
        return;
    }
    match (&*f.ty, f.id.0) {
        ("reply", Some(id)) => {
            if let Some(p) = publishing {
                p.ack(id, None, index, &shared.rtt, out);
            }
        }
        ("error", id) => {
            let code = f.error.map_or_else(|| "unknown".into(), |e| e.code);
            match (publishing, id) {
                (Some(p), Some(id)) => p.ack(id, Some(&code), index, &shared.rtt, out),
                _ => out.error(&format!("error:{code}")),
            }
        }
        ("resync", _) => out.error("resync"),
        _ => {}
    }
}
