//! One WebSocket connection: authentication, the request loop, the outbound
//! queue and the timers, all in a single task so an idle socket costs one task.

use std::{
    collections::HashMap,
    sync::Arc,
    time::{Duration, Instant},
};

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use futures_util::SinkExt;
use serde_json::json;
use tokio::sync::mpsc;

use super::{
    Gateway, Killer,
    feed::{Outbound, RECEIPT, Subscriber, TYPING},
    limits::FrameCounter,
    pass_watch,
    protocol::{self, ProtocolError, Request, RequestId, close},
    visit_session::{VisitIdentity, VisitSession},
};
use crate::{
    accounts::{self, Principal},
    audit::{self, AuditEvent, Outcome},
    bus::Event,
    clock::rfc3339,
    error::Error,
    metrics::CloseLabels,
    rooms::{self, PublishInput, Recovery},
    state::AppState,
    store::{rooms as room_store, sessions, users},
    visits::pass::PassClaims,
};

/// Most queued frames written before one flush.
const SEND_BATCH: usize = 64;

/// How long a closing socket may take to accept its close frame.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

/// Minimum spacing of typing notices per room and socket.
const TYPING_INTERVAL: Duration = Duration::from_secs(2);

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

/// Waits for the auth frame and checks its token and session.
async fn authenticate(
    state: &AppState,
    socket: &mut WebSocket,
) -> Result<(Principal, i64, RequestId, Option<PassClaims>), Ending> {
    let deadline = Duration::from_secs(state.config.gateway.auth_timeout_secs);
    let first = match tokio::time::timeout(deadline, socket.recv()).await {
        Err(_) => return Err(Some((close::UNAUTHENTICATED, "no auth frame in time"))),
        Ok(None) | Ok(Some(Err(_))) => return Err(None),
        Ok(Some(Ok(Message::Text(text)))) => text,
        Ok(Some(Ok(_))) => return Err(Some((close::UNAUTHENTICATED, "first frame must be auth"))),
    };
    let (id, request) = protocol::parse(&first);
    let (Some(id), Ok(Request::Auth { token })) = (id, request) else {
        return Err(Some((close::UNAUTHENTICATED, "first frame must be auth")));
    };
    let claims = match state.signer.verify(&token, state.clock.now_secs()) {
        Ok(c) => c,
        Err(crate::auth::tokens::TokenError::Expired) => {
            return Err(Some((close::TOKEN_EXPIRED, "access token expired")));
        }
        Err(_) => return authenticate_pass(state, &token, id).await,
    };
    match accounts::authenticate(state, &token).await {
        Ok(p) => Ok((p, claims.exp, id, None)),
        Err(Error::Internal(e)) => {
            tracing::error!(error = ?e, "socket authentication failed");
            Err(Some((1011, "server error")))
        }
        Err(_) => Err(Some((close::UNAUTHENTICATED, "session is not valid"))),
    }
}

/// A visit pass instead of an access token: the socket may only take part in that
/// visit. Its principal is a placeholder that owns nothing (no account, no session).
async fn authenticate_pass(
    state: &AppState,
    token: &str,
    id: RequestId,
) -> Result<(Principal, i64, RequestId, Option<PassClaims>), Ending> {
    let Some(claims) = state.visits.passes.verify(token, state.clock.now_secs()) else {
        return Err(Some((close::UNAUTHENTICATED, "invalid access token")));
    };
    match crate::visits::pass_standing(state, &claims).await {
        Ok(true) => {}
        Ok(false) => return Err(Some((close::SESSION_REVOKED, pass_watch::REVOKED))),
        Err(_) => return Err(Some((1011, "server error"))),
    }
    let principal = Principal {
        user_id: format!("visit-pass:{}", claims.sub),
        session_id: String::new(),
        email: String::new(),
        platform_admin: false,
    };
    Ok((principal, claims.exp, id, Some(claims)))
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
                        if !Box::pin(self.session_alive()).await {
                            return Some((close::SESSION_REVOKED, "session revoked"));
                        }
                        // A safety net for a removal whose bus notice was lost.
                        let state = self.state.clone();
                        let visits_lost = Box::pin(self.visit.lost(&state)).await.into_iter().map(|v| {
                            json!({ "type": "visit_removed", "visit": v, "reason": "access_ended" })
                                .to_string()
                                .into()
                        });
                        let lost: Vec<Utf8Bytes> = Box::pin(self.rooms_lost()).await.into_iter().chain(visits_lost).collect();
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

    async fn session_alive(&self) -> bool {
        if let Some(pass) = self.visit.pass() {
            // A revoked or expired link, or a visit that is over, ends its passes; a
            // database hiccup does not.
            return crate::visits::pass_standing(&self.state, pass)
                .await
                .unwrap_or(true);
        }
        let result = async {
            let mut conn = self.state.store.conn().await?;
            let session = sessions::by_id(&mut conn, &self.principal.session_id).await?;
            let active = users::by_id(&mut conn, &self.user)
                .await?
                .is_some_and(|u| u.is_active());
            Ok::<_, Error>(session.filter(|_| active))
        }
        .await;
        match result {
            Ok(Some(s)) => s.revoked_at.is_none() && s.expires_at > self.state.clock.now_ms(),
            // No session, or the account is no longer active.
            Ok(None) => false,
            // The database is unreachable: do not punish the client for it.
            Err(_) => true,
        }
    }

    /// Ends the subscriptions to rooms the user no longer has standing in (rights are
    /// re-read from the memberships); the `unsubscribed` frames to send. The bus tells
    /// sockets at once; this bounds the damage of a lost notice to one session check.
    async fn rooms_lost(&mut self) -> Vec<Utf8Bytes> {
        let rooms: Vec<Arc<str>> = self.rooms.keys().cloned().collect();
        let mut lost = Vec::new();
        for room in rooms {
            let still = async {
                let mut conn = self.state.store.conn().await?;
                Ok::<_, Error>(room_store::member(&mut conn, &room, &self.user).await?)
            }
            .await;
            // An unreachable database does not end subscriptions.
            if let Ok(None) = still {
                self.forget_room(&room);
                lost.push(
                    json!({ "type": "unsubscribed", "room": &*room, "reason": "removed" })
                        .to_string()
                        .into(),
                );
            }
        }
        lost
    }

    /// Turns a queued item into a frame, or drops it (a duplicate offset).
    fn outbound(&mut self, item: Outbound) -> Option<Utf8Bytes> {
        match item {
            Outbound::Event {
                room,
                offset,
                frame,
            } => {
                let sub = self.rooms.get_mut(&room)?;
                if offset <= sub.offset {
                    return None;
                }
                if offset != sub.offset + 1 {
                    // Cannot happen while feeds deliver in order; never skip silently.
                    tracing::error!(%room, offset, held = sub.offset, "gap on a socket; asking for resync");
                    self.rooms.remove(&room);
                    self.leave_feed(&room);
                    return Some(resync_frame(&room, "gap"));
                }
                sub.offset = offset;
                Some(frame)
            }
            Outbound::Push(frame) => Some(frame),
            Outbound::Removed { room } => {
                self.rooms.remove(&room)?;
                self.leave_feed(&room);
                Some(
                    json!({ "type": "unsubscribed", "room": &*room, "reason": "removed" })
                        .to_string()
                        .into(),
                )
            }
            Outbound::VisitRemoved { visit } => {
                self.visit.forget(&self.state, &visit)?;
                Some(
                    json!({ "type": "visit_removed", "visit": &*visit, "reason": "access_ended" })
                        .to_string()
                        .into(),
                )
            }
            Outbound::Resync { room, reason } => {
                self.rooms.remove(&room)?;
                self.leave_feed(&room);
                Some(resync_frame(&room, reason))
            }
            // Handled by `send_queued` before it gets here.
            Outbound::Close { .. } => None,
        }
    }

    /// Writes `first` and whatever else is already queued (up to a batch), then
    /// flushes once: under load a socket costs one write call per batch instead
    /// of one per event.
    async fn send_queued(
        &mut self,
        socket: &mut WebSocket,
        first: Outbound,
        killer: &Killer,
    ) -> Result<(), Ending> {
        let mut next = Some(first);
        let mut written = 0;
        while let Some(item) = next.take() {
            if let Outbound::Close { code, reason } = item {
                if written > 0 {
                    unless_killed(socket.flush(), killer).await?;
                }
                return Err(Some((code, reason)));
            }
            if let Some(frame) = self.outbound(item) {
                unless_killed(socket.feed(Message::Text(frame)), killer).await?;
                written += 1;
            }
            if written < SEND_BATCH {
                next = self.queue_rx.as_mut().and_then(|q| q.try_recv().ok());
            }
        }
        if written > 0 {
            unless_killed(socket.flush(), killer).await?;
        }
        Ok(())
    }

    /// A sender into the socket's queue, created on first use.
    fn queue(&mut self) -> mpsc::Sender<Outbound> {
        if let Some(tx) = &self.queue_tx {
            return tx.clone();
        }
        let (tx, rx) = mpsc::channel(self.state.config.gateway.send_queue);
        self.queue_rx = Some(rx);
        self.queue_tx = Some(tx.clone());
        tx
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
            Request::Ping => Ok(json!({})),
        };
        Some(match result {
            Ok(value) => protocol::reply(id, value),
            Err(e) => protocol::error(Some(id), &e),
        })
    }

    async fn refresh(&mut self, token: &str) -> Result<serde_json::Value, ProtocolError> {
        let invalid =
            || ProtocolError::new("invalid_token", "the token is not valid for this socket");
        if let Some(current) = self.visit.pass().cloned() {
            let claims = self
                .state
                .visits
                .passes
                .verify(token, self.state.clock.now_secs())
                .filter(|c| c.sub == current.sub && c.visit == current.visit)
                .ok_or_else(invalid)?;
            if !crate::visits::pass_standing(&self.state, &claims)
                .await
                .map_err(ProtocolError::from)?
            {
                return Err(invalid());
            }
            self.token_expires_at = claims.exp;
            let expires = rfc3339(claims.exp * 1000);
            self.visit.set_pass(claims);
            self.visit.watch_pass(&self.state, &self.killer);
            return Ok(json!({ "token_expires_at": expires }));
        }
        let claims = self
            .state
            .signer
            .verify(token, self.state.clock.now_secs())
            .map_err(|_| invalid())?;
        if claims.sub != *self.user {
            return Err(invalid());
        }
        let principal = accounts::authenticate(&self.state, token)
            .await
            .map_err(|_| invalid())?;
        self.principal = principal;
        self.token_expires_at = claims.exp;
        Ok(json!({ "token_expires_at": rfc3339(claims.exp * 1000) }))
    }

    async fn subscribe(
        &mut self,
        room: &str,
        since: Option<protocol::Since>,
    ) -> Result<serde_json::Value, ProtocolError> {
        if self.rooms.contains_key(room) {
            return Err(ProtocolError::new(
                "already_subscribed",
                "this socket is already subscribed to the room",
            ));
        }
        if self.rooms.len() >= self.state.config.gateway.max_rooms_per_connection {
            return Err(ProtocolError::new(
                "too_many_rooms",
                "this socket has reached its subscription limit",
            ));
        }
        let room_row = self.member_room(room).await?;
        let room: Arc<str> = room.into();
        let subscriber = Subscriber {
            user_id: self.user.clone(),
            queue: self.queue(),
            killer: self.killer.clone(),
        };
        self.gateway
            .join(&self.state, &room, self.id, subscriber)
            .await
            .map_err(|e| {
                tracing::warn!(error = %e, "room feed unavailable");
                ProtocolError::new(
                    "unavailable",
                    "live updates for this room are unavailable; retry",
                )
            })?;
        let since_ref = since.as_ref().map(|s| (s.epoch.as_str(), s.offset));
        let recovery = match rooms::recover(&self.state, &room, since_ref).await {
            Ok(r) => r,
            Err(e) => {
                self.gateway.leave(&room, self.id);
                return Err(e.into());
            }
        };
        if let Err(e) = self
            .audit_subscribe(&room_row, since.as_ref(), &recovery)
            .await
        {
            self.gateway.leave(&room, self.id);
            return Err(e.into());
        }
        self.gateway
            .presence
            .arrived(&self.state, &room, &self.user)
            .await;
        let presence = self
            .gateway
            .presence
            .users(&self.state, &room)
            .await
            .unwrap_or_default();
        let (epoch, offset, recovered) = match recovery {
            Recovery::Complete {
                epoch,
                offset,
                missed,
            } => (epoch, offset, Ok(missed)),
            Recovery::Impossible {
                epoch,
                offset,
                reason,
            } => (epoch, offset, Err(reason)),
        };
        // Live events continue after `offset`, whether or not the client recovered.
        self.rooms.insert(
            room.clone(),
            Subscription {
                offset,
                last_typing: None,
            },
        );
        let mut reply = json!({
            "room": &*room, "epoch": epoch, "offset": offset, "presence": presence,
        });
        match recovered {
            Ok(missed) if since.is_some() => {
                reply["recovered"] = json!(true);
                reply["missed"] = json!(missed);
            }
            Ok(_) => {}
            Err(reason) => {
                reply["recovered"] = json!(false);
                reply["reason"] = json!(reason);
            }
        }
        Ok(reply)
    }

    /// Every live read of a room is audited like a history read: it is a read
    /// of a patient's conversation.
    async fn audit_subscribe(
        &self,
        room: &room_store::RoomRow,
        since: Option<&protocol::Since>,
        recovery: &Recovery,
    ) -> Result<(), Error> {
        let (recovered, missed) = match recovery {
            Recovery::Complete { missed, .. } => (since.is_some(), missed.len()),
            Recovery::Impossible { .. } => (false, 0),
        };
        let tx = self.state.store.begin_write().await?;
        audit::commit_with(
            tx,
            &AuditEvent::new("room.subscribe", Outcome::Success)
                .actor(Some(&self.user), None)
                .org(&room.org_id)
                .target("room", &room.id)
                .details(json!({
                    "patient_id": room.patient_id,
                    "since": since.map(|s| s.offset),
                    "recovered": recovered,
                    "missed": missed,
                    "connection": self.id,
                })),
            self.state.clock.now_ms(),
        )
        .await?;
        Ok(())
    }

    /// The room, if the caller is a member. Unknown and forbidden rooms get the
    /// same answer so room ids cannot be probed.
    async fn member_room(&self, room: &str) -> Result<room_store::RoomRow, ProtocolError> {
        if uuid::Uuid::parse_str(room).is_err() {
            return Err(room_not_found());
        }
        let mut conn = self.state.store.conn().await.map_err(Error::from)?;
        let row = room_store::by_id(&mut conn, &self.state.keyring, room)
            .await
            .map_err(Error::from)?
            .ok_or_else(room_not_found)?;
        room_store::member(&mut conn, room, &self.user)
            .await
            .map_err(Error::from)?
            .ok_or_else(room_not_found)?;
        Ok(row)
    }

    fn unsubscribe(&mut self, room: &str) -> Result<serde_json::Value, ProtocolError> {
        let (room, _) = self.rooms.remove_entry(room).ok_or_else(not_subscribed)?;
        self.leave_feed(&room);
        Ok(json!({ "room": &*room }))
    }

    async fn publish(
        &mut self,
        room: &str,
        client_id: String,
        body: String,
    ) -> Result<serde_json::Value, ProtocolError> {
        if uuid::Uuid::parse_str(room).is_err() {
            return Err(room_not_found());
        }
        // Malformed sends are refused before they cost the user any of their rate.
        let g = &self.state.config.gateway;
        rooms::validate_client_id(&client_id).map_err(crate::error::Error::from)?;
        rooms::validate_body(&body, g.max_body_chars).map_err(crate::error::Error::from)?;
        self.take_rate()?;
        let input = PublishInput { client_id, body };
        match rooms::publish(&self.state, &self.user, room, &input).await {
            Ok(published) => Ok(json!(published)),
            Err(Error::NotFound(_)) => {
                // No longer a member (the removal notice may have been lost on the
                // bus): stop delivering the room to this socket too.
                self.forget_room(room);
                Err(room_not_found())
            }
            Err(e) => Err(e.into()),
        }
    }

    /// An edit (`body`) or a deletion (`None`) of the user's own message. Each is
    /// a stored event like a publish, so it spends the same per-user rate.
    async fn edit(
        &mut self,
        room: &str,
        message_id: &str,
        body: Option<&str>,
    ) -> Result<serde_json::Value, ProtocolError> {
        if let Some(body) = body {
            // Malformed edits are refused before they cost the user any of their rate.
            rooms::validate_body(body, self.state.config.gateway.max_body_chars)
                .map_err(crate::error::Error::from)?;
        }
        self.take_rate()?;
        let event = match body {
            Some(body) => {
                rooms::edit_message(&self.state, &self.user, room, message_id, body).await
            }
            None => rooms::delete_message(&self.state, &self.user, room, message_id).await,
        };
        event
            .map(|e| json!({ "event": e }))
            .map_err(ProtocolError::from)
    }

    /// Spends one unit of the user's message rate (publishes, edits, deletions).
    fn take_rate(&self) -> Result<(), ProtocolError> {
        let rate = self.state.config.gateway.messages_per_second;
        if self.gateway.allow_publish(&self.user, rate, Instant::now()) {
            Ok(())
        } else {
            Err(ProtocolError::new(
                "rate_limited",
                "too many messages; slow down",
            ))
        }
    }

    async fn typing(&mut self, room: &str) -> Result<serde_json::Value, ProtocolError> {
        let sub = self.rooms.get_mut(room).ok_or_else(not_subscribed)?;
        let now = Instant::now();
        if sub
            .last_typing
            .is_some_and(|t| now.duration_since(t) < TYPING_INTERVAL)
        {
            return Ok(json!({}));
        }
        sub.last_typing = Some(now);
        self.announce(room, TYPING, json!({ "user_id": &*self.user }))
            .await;
        Ok(json!({}))
    }

    async fn read(&mut self, room: &str, offset: i64) -> Result<serde_json::Value, ProtocolError> {
        if offset < 1 {
            return Err(ProtocolError::new(
                "invalid_request",
                "offset must be at least 1",
            ));
        }
        if uuid::Uuid::parse_str(room).is_err() {
            return Err(room_not_found());
        }
        let moved = async {
            let mut conn = self.state.store.conn().await?;
            if room_store::member(&mut conn, room, &self.user)
                .await?
                .is_none()
            {
                return Ok(None);
            }
            let moved = room_store::mark_read(&mut conn, room, &self.user, offset).await?;
            if moved {
                let now = self.state.clock.now_ms();
                crate::notifications::unread::on_read(&mut conn, room, &self.user, now).await?;
            }
            Ok::<_, Error>(Some(moved))
        }
        .await?;
        match moved {
            None => {
                self.forget_room(room);
                Err(room_not_found())
            }
            Some(moved) => {
                if moved {
                    self.announce(
                        room,
                        RECEIPT,
                        json!({ "user_id": &*self.user, "offset": offset }),
                    )
                    .await;
                }
                Ok(json!({ "room": room, "offset": offset, "moved": moved }))
            }
        }
    }

    async fn presence(&self, room: &str) -> Result<serde_json::Value, ProtocolError> {
        if !self.rooms.contains_key(room) {
            return Err(not_subscribed());
        }
        let users = self.gateway.presence.users(&self.state, room).await?;
        Ok(json!({ "room": room, "users": users }))
    }

    async fn announce(&self, room: &str, kind: &str, payload: serde_json::Value) {
        let event = Event {
            topic: rooms::topic(room),
            kind: kind.into(),
            payload,
        };
        if let Err(e) = self.state.bus.publish(event).await {
            tracing::debug!(error = %e, kind, "live notice not published");
        }
    }
}

/// Sends a frame, unless the connection is told to close while the send waits
/// (a client that stopped reading blocks the send; its feed then kills it).
/// `Err` carries the ending: `None` when the socket failed, the close otherwise.
async fn send_unless_killed(
    socket: &mut WebSocket,
    message: Message,
    killer: &Killer,
) -> Result<(), Ending> {
    tokio::select! {
        sent = socket.send(message) => sent.map_err(|_| None),
        code = killer.killed() => Err(Some((code, reason_of(code)))),
    }
}

/// The next queued item; never completes while the socket has no queue.
async fn next_queued(queue: &mut Option<mpsc::Receiver<Outbound>>) -> Option<Outbound> {
    match queue {
        Some(q) => q.recv().await,
        None => std::future::pending().await,
    }
}

/// Runs a socket write unless the connection is told to close meanwhile.
async fn unless_killed(
    write: impl std::future::Future<Output = Result<(), axum::Error>>,
    killer: &Killer,
) -> Result<(), Ending> {
    tokio::select! {
        done = write => done.map_err(|_| None),
        code = killer.killed() => Err(Some((code, reason_of(code)))),
    }
}

/// Unknown rooms and rooms the user is not in get the same answer, so room ids
/// cannot be probed.
fn room_not_found() -> ProtocolError {
    ProtocolError::new("room_not_found", "no such room, or you are not a member")
}

fn not_subscribed() -> ProtocolError {
    ProtocolError::new("not_subscribed", "subscribe to the room first")
}

fn resync_frame(room: &str, reason: &str) -> Utf8Bytes {
    json!({ "type": "resync", "room": room, "reason": reason })
        .to_string()
        .into()
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
