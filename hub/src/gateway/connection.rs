//! One WebSocket connection: authentication, the request loop, the outbound
//! queue and the timers, all in a single task so an idle socket costs one task.
//!
//! The loop and the dispatch of requests are here; who the socket is and whether it
//! still may be (auth, refresh, the periodic re-check) is `rights.rs`, the room
//! requests `room_requests.rs`, the outbound queue and writes `outbound.rs`.

use std::{
    collections::HashMap,
    sync::Arc,
    time::{Duration, Instant},
};

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use serde_json::json;
use tokio::sync::mpsc;

use super::{
    Gateway, Killer,
    feed::Outbound,
    limits::FrameCounter,
    pass_watch,
    protocol::{self, ProtocolError, Request, RequestId, close},
    visit_session::{VisitIdentity, VisitSession},
};
use crate::{accounts::Principal, clock::rfc3339, metrics::CloseLabels, state::AppState};

/// How long a closing socket may take to accept its close frame.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

/// What this socket holds for one subscribed room.
struct Subscription {
    /// Highest offset delivered; queued events at or below it are duplicates.
    offset: i64,
    last_typing: Option<Instant>,
}

struct Connection {
    state: AppState,
    gateway: Arc<Gateway>,
    id: u64,
    principal: Principal,
    user: Arc<str>,
    token_expires_at: i64,
    /// Created with the first subscription: a channel allocates its first block
    /// of slots up front (~2 KiB), which idle sockets never need.
    queue_tx: Option<mpsc::Sender<Outbound>>,
    queue_rx: Option<mpsc::Receiver<Outbound>>,
    killer: Arc<Killer>,
    rooms: HashMap<Arc<str>, Subscription>,
    /// Forwards the user's personal events once the client asks for them.
    user_events: Option<tokio::task::JoinHandle<()>>,
    /// Video visits joined on this socket; for a visit pass, the only thing it can do.
    visit: VisitSession,
}

/// Why the loop ended: the close frame to send, if any.
type Ending = Option<(u16, &'static str)>;

mod monitor_requests;
mod outbound;
mod rights;
mod room_requests;

use outbound::{next_queued, send_unless_killed};
use rights::authenticate;

pub async fn serve(state: AppState, mut socket: WebSocket) {
    let gateway = state.gateway.clone();
    state.metrics.ws_connections.inc();
    let authenticated = Box::pin(authenticate(&state, &mut socket)).await;
    // One user cannot hold more than its share of the node's sockets; the slot
    // is held until this socket is gone.
    let slot = authenticated.as_ref().ok().map(|(principal, ..)| {
        gateway.hold_socket(
            &principal.user_id,
            state.config.gateway.max_sockets_per_user,
        )
    });
    let authenticated = match (authenticated, &slot) {
        (Ok(_), Some(None)) => Err(Some((
            close::TOO_MANY_SOCKETS,
            "too many sockets for this user",
        ))),
        (other, _) => other,
    };
    let ending = match authenticated {
        Ok((principal, expires_at, auth_id, pass)) => {
            // Counted in the monitor's census while the socket is open.
            let _census = Box::pin(crate::monitor::count_socket(
                &state,
                &principal,
                pass.as_ref(),
            ))
            .await;
            let mut visit = VisitSession::new(match pass {
                Some(claims) => VisitIdentity::Pass(claims),
                None => VisitIdentity::Account(principal.user_id.as_str().into()),
            });
            let killer = Arc::new(Killer::default());
            visit.watch_pass(&state, &killer);
            let mut conn = Connection {
                visit,
                user: principal.user_id.as_str().into(),
                id: gateway.conn_id(),
                gateway: gateway.clone(),
                state: state.clone(),
                principal,
                token_expires_at: expires_at,
                queue_tx: None,
                queue_rx: None,
                killer,
                rooms: HashMap::new(),
                user_events: None,
            };
            let account = conn.visit.pass().is_none();
            if account {
                let killer = conn.killer.clone();
                gateway
                    .sessions
                    .register(&conn.user, conn.id, &conn.principal.session_id, &killer);
            }
            let ending = conn.run(&mut socket, auth_id).await;
            if account {
                gateway.sessions.unregister(&conn.user, conn.id);
            }
            // A revoked socket's participant leaves its visits now, not after the grace.
            let revoked = matches!(ending, Some((close::SESSION_REVOKED, _)));
            Box::pin(conn.unsubscribe_all(revoked)).await;
            ending
        }
        Err(ending) => ending,
    };
    if let Some((code, reason)) = ending {
        // A slow consumer's buffers may be full: give the close frame a few
        // seconds to get through, then drop the socket regardless.
        let close = socket.send(Message::Close(Some(CloseFrame {
            code,
            reason: reason.into(),
        })));
        let _ = tokio::time::timeout(CLOSE_TIMEOUT, close).await;
        // Complete the closing handshake: read (and discard) until the client's
        // close arrives. Dropping the socket with unread input would make the
        // kernel send a reset, and the client would never see the close code.
        let drain = async {
            while let Some(Ok(m)) = socket.recv().await {
                if matches!(m, Message::Close(_)) {
                    break;
                }
            }
        };
        let _ = tokio::time::timeout(CLOSE_TIMEOUT, drain).await;
    }
    state
        .metrics
        .ws_closes
        .get_or_create(&CloseLabels {
            code: ending.map_or(0, |(code, _)| code),
        })
        .inc();
    state.metrics.ws_connections.dec();
}

impl Connection {
    async fn run(&mut self, socket: &mut WebSocket, auth_id: RequestId) -> Ending {
        let g = self.state.config.gateway.clone();
        let limits = json!({
            "max_frame_bytes": g.max_frame_bytes,
            "max_rooms": g.max_rooms_per_connection,
            "max_body_chars": g.max_body_chars,
            "messages_per_second": g.messages_per_second,
        });
        let pass = self
            .visit
            .pass()
            .map(|p| json!({ "visit_id": p.visit, "participant_id": p.sub }));
        let welcome = protocol::reply(
            auth_id,
            json!({
                "protocol": protocol::PROTOCOL_VERSION,
                "visit_pass": pass,
                "user_id": &*self.user,
                "connection_id": self.id.to_string(),
                "node": self.gateway.node_id,
                "token_expires_at": rfc3339(self.token_expires_at * 1000),
                "limits": limits,
            }),
        );
        if socket.send(Message::Text(welcome)).await.is_err() {
            return None;
        }
        let mut ping = tokio::time::interval(Duration::from_secs(g.ping_interval_secs));
        ping.reset();
        let idle_limit = Duration::from_secs(g.idle_timeout_secs);
        let session_check = Duration::from_secs(g.session_check_secs);
        let mut last_seen = Instant::now();
        let mut last_session_check = Instant::now();
        let mut frames = FrameCounter::new(Instant::now());
        let killer = self.killer.clone();
        let mut shutdown = self.gateway.shutdown.subscribe();
        if *shutdown.borrow_and_update() {
            return Some((close::GOING_AWAY, "server shutting down"));
        }
        // One timer for the token's expiry, moved only when the token changes (a
        // refresh) or the ping tick re-reads the clock: a fresh timer per loop turn
        // would cost every delivery a timer-wheel insertion.
        let expiry = tokio::time::sleep(self.token_expiry());
        tokio::pin!(expiry);
        let mut expiry_for = self.token_expires_at;
        loop {
            tokio::select! {
                code = killer.killed() => {
                    return Some((code, reason_of(code)));
                }
                _ = shutdown.changed() => {
                    return Some((close::GOING_AWAY, "server shutting down"));
                }
                () = &mut expiry => {
                    return Some((close::TOKEN_EXPIRED, "access token expired"));
                }
                incoming = socket.recv() => {
                    let message = match incoming {
                        None => return None,
                        Some(Err(e)) => {
                            return too_big(&e).then_some((close::TOO_BIG, "frame too large"));
                        }
                        Some(Ok(m)) => m,
                    };
                    last_seen = Instant::now();
                    let counted = matches!(message, Message::Text(_) | Message::Binary(_));
                    if counted && !frames.record(last_seen, g.flood_frames_per_second) {
                        return Some((close::FLOOD, "too many frames"));
                    }
                    let answer = match message {
                        // Boxed: the request handlers' futures are large, and
                        // inlined they would be part of every idle socket's task.
                        Message::Text(text) => {
                            // A pass that fell is not answered, even before its close
                            // (boxed like the handlers: idle sockets stay small).
                            if let Some(pass) = self.visit.pass()
                                && let Some(ending) = Box::pin(pass_watch::refuse_frame(&self.state, &killer, pass)).await
                            {
                                return Some(ending);
                            }
                            Box::pin(self.handle(&text)).await
                        }
                        Message::Binary(_) => Some(protocol::error(
                            None,
                            &ProtocolError::new("unsupported_frame", "binary frames are not part of the protocol"),
                        )),
                        Message::Close(_) => return None,
                        Message::Ping(_) | Message::Pong(_) => None,
                    };
                    if self.token_expires_at != expiry_for {
                        expiry_for = self.token_expires_at;
                        expiry.as_mut().reset(tokio::time::Instant::now() + self.token_expiry());
                    }
                    if let Some(frame) = answer
                        && let Err(ending) = send_unless_killed(socket, Message::Text(frame), &killer).await
                    {
                        return ending;
                    }
                }
                item = next_queued(&mut self.queue_rx) => {
                    let item = item?;
                    if let Err(ending) = self.send_queued(socket, item, &killer).await {
                        return ending;
                    }
                }
                _ = ping.tick() => {
                    expiry.as_mut().reset(tokio::time::Instant::now() + self.token_expiry());
                    if last_seen.elapsed() > idle_limit {
                        return Some((close::IDLE, "idle"));
                    }
                    if last_session_check.elapsed() >= session_check {
                        last_session_check = Instant::now();
                        let lost = match Box::pin(self.recheck()).await {
                            Ok(lost) => lost,
                            Err(ending) => return ending,
                        };
                        for frame in lost {
                            if let Err(ending) = send_unless_killed(socket, Message::Text(frame), &killer).await {
                                return ending;
                            }
                        }
                    }
                    if let Err(ending) = send_unless_killed(socket, Message::Ping(Default::default()), &killer).await {
                            return ending;
                        }
                }
            }
        }
    }

    fn token_expiry(&self) -> Duration {
        let left_ms = self.token_expires_at * 1000 - self.state.clock.now_ms();
        Duration::from_millis(left_ms.max(0) as u64)
    }

    /// Drops a subscription the user may no longer hold.
    fn forget_room(&mut self, room: &str) {
        if let Some((room, _)) = self.rooms.remove_entry(room) {
            self.leave_feed(&room);
        }
    }

    fn leave_feed(&self, room: &Arc<str>) {
        self.gateway.leave(room, self.id);
        let (state, gateway, room, user) = (
            self.state.clone(),
            self.gateway.clone(),
            room.clone(),
            self.user.clone(),
        );
        tokio::spawn(async move { gateway.presence.departed(&state, &room, &user).await });
    }

    /// Subscribes the socket to the user's topic: notices from the notifier and
    /// appointment changes. Live only: the durable list is `GET /me/notifications`.
    async fn user_events(&mut self) -> Result<serde_json::Value, ProtocolError> {
        if self.user_events.is_some() {
            return Ok(json!({}));
        }
        let mut events = self
            .state
            .bus
            .subscribe(&crate::notifications::user_topic(&self.user))
            .await
            .map_err(|_| {
                ProtocolError::new("unavailable", "personal events are unavailable; retry")
            })?;
        let queue = self.queue();
        let killer = self.killer.clone();
        self.user_events = Some(tokio::spawn(async move {
            loop {
                let event = match events.recv().await {
                    Ok(e) => e,
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
                };
                let frame =
                    json!({ "type": "user_event", "kind": event.kind, "payload": event.payload });
                match queue.try_send(Outbound::Push(frame.to_string().into())) {
                    Ok(()) => {}
                    Err(mpsc::error::TrySendError::Full(_)) => {
                        killer.kill(protocol::close::SLOW_CONSUMER);
                        break;
                    }
                    Err(mpsc::error::TrySendError::Closed(_)) => break,
                }
            }
        }));
        Ok(json!({}))
    }

    /// `revoked`: the socket was closed with 4003, so its visits see it leave at once.
    async fn unsubscribe_all(&mut self, revoked: bool) {
        let state = self.state.clone();
        self.visit.detach_all(&state, revoked).await;
        if let Some(task) = self.user_events.take() {
            task.abort();
        }
        self.gateway.monitor.watchers.unwatch(self.id);
        let rooms: Vec<Arc<str>> = self.rooms.drain().map(|(r, _)| r).collect();
        for room in rooms {
            self.gateway.leave(&room, self.id);
            self.gateway
                .presence
                .departed(&self.state, &room, &self.user)
                .await;
        }
    }

    /// Handles one text frame; returns the answer frame.
    async fn handle(&mut self, text: &str) -> Option<Utf8Bytes> {
        let (id, request) = protocol::parse(text);
        let request = match request {
            Ok(r) => r,
            Err(e) => return Some(protocol::error(id, &e)),
        };
        let id = id?;
        let visit_only = matches!(
            request,
            Request::Visit(_) | Request::Ping | Request::Refresh { .. } | Request::Auth { .. }
        );
        if self.visit.pass().is_some() && !visit_only {
            return Some(protocol::error(
                Some(id),
                &ProtocolError::new("forbidden", "a visit pass only takes part in its visit"),
            ));
        }
        let result = match request {
            Request::Visit(request) => {
                let (state, queue, killer) =
                    (self.state.clone(), self.queue(), self.killer.clone());
                Box::pin(self.visit.handle(&state, queue, &killer, request)).await
            }
            Request::Auth { .. } => Err(ProtocolError::new(
                "already_authenticated",
                "this socket is already authenticated",
            )),
            Request::Refresh { token } => self.refresh(&token).await,
            Request::Subscribe { room, since } => self.subscribe(&room, since).await,
            Request::Unsubscribe { room } => self.unsubscribe(&room),
            Request::Publish {
                room,
                client_id,
                body,
            } => self.publish(&room, client_id, body).await,
            Request::Edit {
                room,
                message_id,
                body,
            } => self.edit(&room, &message_id, Some(&body)).await,
            Request::Delete { room, message_id } => self.edit(&room, &message_id, None).await,
            Request::Typing { room } => self.typing(&room).await,
            Request::Read { room, offset } => self.read(&room, offset).await,
            Request::Presence { room } => self.presence(&room).await,
            Request::Notifications => self.user_events().await,
            Request::Monitor { org } => self.monitor(org.as_deref()).await,
            Request::MonitorStop => self.monitor_stop(),
            Request::Ping => Ok(json!({})),
        };
        Some(match result {
            Ok(value) => protocol::reply(id, value),
            Err(e) => protocol::error(Some(id), &e),
        })
    }
}

pub(super) fn reason_of(code: u16) -> &'static str {
    match code {
        close::SESSION_REVOKED => "revoked",
        close::SLOW_CONSUMER => "slow consumer",
        close::GOING_AWAY => "server shutting down",
        _ => "closed",
    }
}

/// Whether a receive error is tungstenite refusing an oversized frame.
fn too_big(e: &axum::Error) -> bool {
    let text = e.to_string();
    text.contains("Space limit exceeded") || text.contains("too long") || text.contains("too big")
}

fn resync_frame(room: &str, reason: &str) -> Utf8Bytes {
    json!({ "type": "resync", "room": room, "reason": reason })
        .to_string()
        .into()
}

/// `unsubscribed`: the user lost the room (docs/protocol.md).
fn removed_frame(room: &str) -> Utf8Bytes {
    json!({ "type": "unsubscribed", "room": room, "reason": "removed" })
        .to_string()
        .into()
}

/// `visit_removed`: the account lost its part in the visit (docs/protocol.md).
fn visit_removed_frame(visit: &str) -> Utf8Bytes {
    json!({ "type": "visit_removed", "visit": visit, "reason": "access_ended" })
        .to_string()
        .into()
}
