//! One socket's part in video visits: which visits it joined, as which participant,
//! the forwarding of each visit's events, and its media session (docs/visits.md).
//!
//! A socket is either an account's (the participant is the one whose `user_id` is the
//! user) or a visit pass's (one visit, one participant; nothing else is reachable).
//! Admission is noticed from the visit's own events: when a published snapshot shows this
//! socket's participant admitted, the socket issues it a media grant and ICE servers
//! itself, so it works the same on every node.

use std::{
    collections::HashMap,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use media::control::Request as MediaRequest;
use serde_json::{Value, json};
use signaling::{
    ParticipantId, VisitId,
    visit::{Participant, ParticipantState, Role},
};
use tokio::sync::{broadcast::error::RecvError, mpsc};

use super::{
    Killer,
    feed::Outbound,
    pass_watch::PassWatch,
    protocol::{ProtocolError, close},
    visit_protocol::VisitRequest,
};
use crate::{
    audit::{self, AuditEvent, Outcome},
    error::Error,
    state::AppState,
    visits::{self, Loaded, media::PENDING_POLL, pass::PassClaims},
};

/// How long a participant whose socket dropped stays on the visit before they are marked
/// as having left (time to reconnect after a network drop).
const RECONNECT_GRACE: Duration = Duration::from_secs(20);

struct Attachment {
    participant: String,
    role: Role,
    forward: tokio::task::JoinHandle<()>,
    /// Polls the media worker for SFU offers and candidates while in the session.
    poller: Option<tokio::task::JoinHandle<()>>,
}

impl Drop for Attachment {
    fn drop(&mut self) {
        self.forward.abort();
        if let Some(p) = self.poller.take() {
            p.abort();
        }
    }
}

/// Who may act: an account or one visit's pass.
#[derive(Clone)]
pub enum VisitIdentity {
    Account(Arc<str>),
    Pass(PassClaims),
}

pub struct VisitSession {
    identity: VisitIdentity,
    attached: HashMap<String, Attachment>,
    /// For a pass: closes the socket once the pass no longer stands.
    watch: Option<PassWatch>,
    /// For a pass: whether it joined its visit (then its forwarding task closes it once
    /// the visit is over, after the visit's last event).
    joined: Arc<AtomicBool>,
}

fn not_found() -> ProtocolError {
    ProtocolError::new("visit_not_found", "no such visit, or you are not on it")
}

fn from_error(e: Error) -> ProtocolError {
    match e {
        Error::NotFound("visit") => not_found(),
        other => other.into(),
    }
}

impl VisitSession {
    pub fn new(identity: VisitIdentity) -> Self {
        Self {
            identity,
            attached: HashMap::new(),
            watch: None,
            joined: Arc::default(),
        }
    }

    /// The participant this socket is in `loaded`. An account's rights are read now,
    /// from its current role in the visit's organization.
    async fn me<'a>(
        &self,
        state: &AppState,
        loaded: &'a Loaded,
    ) -> Result<&'a Participant, ProtocolError> {
        match &self.identity {
            VisitIdentity::Pass(p) => {
                if p.visit != loaded.row.id {
                    return Err(not_found());
                }
                loaded
                    .visit
                    .participant(&ParticipantId::from(p.sub.as_str()))
                    .ok_or_else(not_found)
            }
            VisitIdentity::Account(user) => visits::account_participant(state, loaded, user)
                .await
                .map_err(from_error)?
                .ok_or_else(not_found),
        }
    }

    async fn load(&self, state: &AppState, visit: &str) -> Result<Loaded, ProtocolError> {
        if let VisitIdentity::Pass(p) = &self.identity
            && p.visit != visit
        {
            return Err(not_found());
        }
        visits::get(state, visit).await.map_err(from_error)
    }

    pub async fn handle(
        &mut self,
        state: &AppState,
        queue: mpsc::Sender<Outbound>,
        killer: &Arc<Killer>,
        request: VisitRequest,
    ) -> Result<Value, ProtocolError> {
        let visit_id = request.visit().to_owned();
        let loaded = self.load(state, &visit_id).await?;
        let me = self.me(state, &loaded).await?.clone();
        let actor = visits::actor_of(&me);
        let done = |l: Loaded| Ok(json!({ "visit": l.view(&state.visits.policy) }));
        match request {
            VisitRequest::Join { .. } => self.join(state, queue, killer, loaded, me).await,
            VisitRequest::Admit { participant, .. } => {
                let who = ParticipantId::from(participant.as_str());
                done(apply(state, &visit_id, |v, now| v.admit(&actor, &who, now)).await?)
            }
            VisitRequest::Decline { participant, .. } => {
                let who = ParticipantId::from(participant.as_str());
                done(apply(state, &visit_id, |v, now| v.decline(&actor, &who, now)).await?)
            }
            VisitRequest::Start { .. } => {
                done(apply(state, &visit_id, |v, now| v.start(&actor, now)).await?)
            }
            VisitRequest::End { .. } => {
                done(apply(state, &visit_id, |v, now| v.end(&actor, now)).await?)
            }
            VisitRequest::Leave { .. } => {
                self.leave_media(state, &visit_id, &me).await;
                self.attached.remove(&visit_id);
                self.joined.store(false, Ordering::Release);
                let after = match apply(state, &visit_id, |v, now| v.leave(&actor, now)).await {
                    Ok(after) => after,
                    // Leaving when not present (already left, only invited) changes nothing.
                    Err(e) if e.code == "not_present" || e.code == "visit_ended" => loaded,
                    Err(e) => return Err(e),
                };
                done(after)
            }
            VisitRequest::Offer { grant, sdp, .. } => {
                self.offer(state, queue, killer, &loaded, &me, &grant, sdp)
                    .await
            }
            VisitRequest::Answer { sdp, .. } => {
                self.in_session(&visit_id)?;
                state
                    .visits
                    .media
                    .call(
                        &visit_id,
                        MediaRequest::Answer {
                            room: visit_id.clone(),
                            participant: me.id.as_str().to_owned(),
                            answer: sdp,
                        },
                    )
                    .await
                    .map_err(|f| from_error(f.into()))?;
                Ok(json!({}))
            }
            VisitRequest::Candidate { candidate, .. } => {
                self.in_session(&visit_id)?;
                let candidate = serde_json::from_value(candidate).map_err(|e| {
                    ProtocolError::new("invalid_candidate", format!("candidate: {e}"))
                })?;
                state
                    .visits
                    .media
                    .call(
                        &visit_id,
                        MediaRequest::Candidate {
                            room: visit_id.clone(),
                            participant: me.id.as_str().to_owned(),
                            candidate,
                        },
                    )
                    .await
                    .map_err(|f| from_error(f.into()))?;
                Ok(json!({}))
            }
            VisitRequest::Media {
                audio,
                video,
                screen,
                ..
            } => {
                self.in_session(&visit_id)?;
                let _ = state
                    .bus
                    .publish(crate::bus::Event {
                        topic: visits::topic(&visit_id),
                        kind: visits::MEDIA_STATE.to_owned(),
                        payload: json!({ "visit": visit_id, "participant": me.id.as_str(),
                                         "audio": audio, "video": video, "screen": screen }),
                    })
                    .await;
                Ok(json!({}))
            }
        }
    }

    fn in_session(&self, visit: &str) -> Result<(), ProtocolError> {
        match self.attached.get(visit) {
            Some(a) if a.poller.is_some() => Ok(()),
            Some(_) => Err(ProtocolError::new(
                "not_in_session",
                "send visit_offer first",
            )),
            None => Err(ProtocolError::new("not_joined", "send visit_join first")),
        }
    }

    async fn join(
        &mut self,
        state: &AppState,
        queue: mpsc::Sender<Outbound>,
        killer: &Arc<Killer>,
        loaded: Loaded,
        me: Participant,
    ) -> Result<Value, ProtocolError> {
        let visit_id = loaded.row.id.clone();
        let actor = visits::actor_of(&me);
        let policy = state.visits.policy;
        // A host only watches a visit that is not live yet (the console's queue); everyone
        // else enters the waiting room, or rejoins the live session.
        let after =
            if me.role == Role::Host && loaded.visit.state != signaling::visit::VisitState::Live {
                loaded
            } else {
                apply(state, &visit_id, |v, now| v.join(&actor, &policy, now)).await?
            };
        let me_now = after
            .visit
            .participant(&me.id)
            .cloned()
            .ok_or_else(not_found)?;
        if !self.attached.contains_key(&visit_id) {
            let is_pass = self.pass().is_some();
            let forward = forward(
                state,
                queue.clone(),
                killer.clone(),
                &visit_id,
                &me_now,
                is_pass,
            )
            .await?;
            self.attached.insert(
                visit_id.clone(),
                Attachment {
                    participant: me.id.as_str().to_owned(),
                    role: me.role,
                    forward,
                    poller: None,
                },
            );
            state.visits.attach(&visit_id, me.id.as_str());
            self.joined.store(is_pass, Ordering::Release);
        }
        if me_now.state == ParticipantState::Admitted {
            // Rejoining (a reload, a reconnect): the grant comes at once.
            push_all(
                &queue,
                killer,
                vec![admitted_frame(state, &visit_id, &me_now)],
            );
        }
        audit_join(state, &after, &me_now).await;
        Ok(json!({
            "visit": after.view(&state.visits.policy),
            "participant": { "id": me_now.id.as_str(), "role": me_now.role.as_str(), "state": me_now.state.as_str() },
        }))
    }

    #[allow(clippy::too_many_arguments)]
    async fn offer(
        &mut self,
        state: &AppState,
        queue: mpsc::Sender<Outbound>,
        killer: &Arc<Killer>,
        loaded: &Loaded,
        me: &Participant,
        grant: &str,
        sdp: String,
    ) -> Result<Value, ProtocolError> {
        let visit_id = loaded.row.id.clone();
        if !self.attached.contains_key(&visit_id) {
            return Err(ProtocolError::new("not_joined", "send visit_join first"));
        }
        let now = state.clock.now_ms();
        let claims = state
            .visits
            .grants
            .verify(grant, &VisitId::from(visit_id.as_str()), now)
            .map_err(|e| ProtocolError::new("grant_invalid", e.to_string()))?;
        if claims.participant_id != me.id {
            return Err(ProtocolError::new(
                "grant_invalid",
                "the grant is for another participant",
            ));
        }
        loaded
            .visit
            .check_media_access(&me.id)
            .map_err(|e| ProtocolError::new(e.code(), e.to_string()))?;
        // A fresh offer replaces any earlier connection (a reconnect after a drop).
        self.leave_media(state, &visit_id, me).await;
        let reply = state
            .visits
            .media
            .call(
                &visit_id,
                MediaRequest::Join {
                    room: visit_id.clone(),
                    participant: me.id.as_str().to_owned(),
                    offer: sdp,
                },
            )
            .await
            .map_err(|f| from_error(f.into()))?;
        let poller = poll_pending(
            state.clone(),
            queue,
            killer.clone(),
            visit_id.clone(),
            me.id.as_str().to_owned(),
        );
        if let Some(a) = self.attached.get_mut(&visit_id)
            && let Some(old) = a.poller.replace(poller)
        {
            old.abort();
        }
        Ok(json!({ "sdp": reply["answer"] }))
    }

    async fn leave_media(&mut self, state: &AppState, visit_id: &str, me: &Participant) {
        let Some(a) = self.attached.get_mut(visit_id) else {
            return;
        };
        if let Some(p) = a.poller.take() {
            p.abort();
            state.visits.media.leave(visit_id, me.id.as_str()).await;
        }
    }

    /// The socket is closing: leave each media session now, and the visit itself unless
    /// the participant comes back within [`RECONNECT_GRACE`]. A revoked socket
    /// (`leave_now`) cannot come back, so its participant leaves at once and the hosts see
    /// it.
    pub async fn detach_all(&mut self, state: &AppState, leave_now: bool) {
        self.watch = None;
        for (visit_id, a) in self.attached.drain() {
            if a.poller.is_some() {
                state.visits.media.leave(&visit_id, &a.participant).await;
            }
            if !state.visits.detach(&visit_id, &a.participant) {
                continue;
            }
            let actor = signaling::visit::Actor::participant(
                ParticipantId::from(a.participant.as_str()),
                a.role,
            );
            if leave_now {
                // Not present any more, or the visit is over: nothing to record.
                let _ = visits::apply(state, &visit_id, |v, now| v.leave(&actor, now)).await;
                continue;
            }
            let (state, participant) = (state.clone(), a.participant.clone());
            tokio::spawn(async move {
                tokio::time::sleep(RECONNECT_GRACE).await;
                if state.visits.is_attached(&visit_id, &participant) {
                    return;
                }
                let _ = visits::apply(&state, &visit_id, |v, now| v.leave(&actor, now)).await;
            });
        }
    }

    /// For a pass socket: (re)starts the watch that closes it with 4003 once the pass no
    /// longer stands (called again after a refresh brings another pass).
    pub fn watch_pass(&mut self, state: &AppState, killer: &Arc<Killer>) {
        if let VisitIdentity::Pass(pass) = &self.identity {
            self.watch = Some(PassWatch::start(
                state,
                pass.clone(),
                killer.clone(),
                self.joined.clone(),
            ));
        }
    }

    /// The account lost its part in the visit: stop forwarding its events and polling
    /// its media (the session itself was torn down by whoever ended the access).
    /// `None` when this socket had not joined it.
    pub fn forget(&mut self, state: &AppState, visit_id: &str) -> Option<()> {
        let a = self.attached.remove(visit_id)?;
        state.visits.detach(visit_id, &a.participant);
        Some(())
    }

    /// Visits this account socket joined but may no longer take part in (its rights are
    /// re-read): each is forgotten, and its id returned for a `visit_removed` push. The
    /// session check's safety net for a lost `visit.access_ended` notice.
    pub async fn lost(&mut self, state: &AppState) -> Vec<String> {
        let VisitIdentity::Account(user) = &self.identity else {
            return Vec::new();
        };
        let user = user.clone();
        let mut lost = Vec::new();
        let joined: Vec<String> = self.attached.keys().cloned().collect();
        for visit_id in joined {
            // An unreachable database does not end anything.
            let Ok(loaded) = visits::get(state, &visit_id).await else {
                continue;
            };
            if let Ok(None) = visits::account_participant(state, &loaded, &user).await {
                if let Some(a) = self.attached.get(&visit_id)
                    && a.poller.is_some()
                {
                    state.visits.media.leave(&visit_id, &a.participant).await;
                }
                self.forget(state, &visit_id);
                lost.push(visit_id);
            }
        }
        lost
    }

    /// For pass sockets: the pass's claims.
    pub fn pass(&self) -> Option<&PassClaims> {
        match &self.identity {
            VisitIdentity::Pass(p) => Some(p),
            VisitIdentity::Account(_) => None,
        }
    }

    pub fn set_pass(&mut self, claims: PassClaims) {
        self.identity = VisitIdentity::Pass(claims);
    }
}

async fn apply<F>(state: &AppState, visit_id: &str, command: F) -> Result<Loaded, ProtocolError>
where
    F: Fn(
        &signaling::visit::Visit,
        i64,
    ) -> Result<signaling::visit::Transition, signaling::visit::VisitError>,
{
    visits::apply(state, visit_id, command)
        .await
        .map_err(from_error)
}

async fn audit_join(state: &AppState, loaded: &Loaded, me: &Participant) {
    let event = AuditEvent::new("visit.join", Outcome::Success)
        .actor(me.user_id.as_deref(), None)
        .org(&loaded.row.org_id)
        .target("visit", &loaded.row.id)
        .details(
            json!({ "participant_id": me.id.as_str(), "role": me.role.as_str(),
                         "patient_id": loaded.patient_user() }),
        );
    let result = async {
        let tx = state.store.begin_write().await?;
        audit::commit_with(tx, &event, state.clock.now_ms()).await
    }
    .await;
    if let Err(e) = result {
        tracing::error!(error = %e, "audit of visit.join failed");
    }
}

/// `visit_admitted`: a fresh media grant and the ICE servers for this participant.
fn admitted_frame(state: &AppState, visit_id: &str, me: &Participant) -> Value {
    let now = state.clock.now_ms();
    let grant = match state
        .visits
        .grants
        .issue(&VisitId::from(visit_id), &me.id, me.role, now)
    {
        Ok(g) => g.token,
        Err(e) => {
            // The client's offer then fails with `grant_invalid` and it joins again.
            tracing::error!(error = %e, "cannot sign a media grant");
            String::new()
        }
    };
    let ice = state.visits.ice.ice_servers(&me.id, now);
    json!({ "type": "visit_admitted", "visit": visit_id, "grant": grant,
            "ice_servers": ice.ice_servers })
}

/// Forwards the visit's bus events to the socket: state changes to everyone on it, media
/// state to the others, quality figures to hosts; and notices this participant's admission.
/// A pass socket (`is_pass`) is closed with 4003 after the event that ends the visit.
async fn forward(
    state: &AppState,
    queue: mpsc::Sender<Outbound>,
    killer: Arc<Killer>,
    visit_id: &str,
    me: &Participant,
    is_pass: bool,
) -> Result<tokio::task::JoinHandle<()>, ProtocolError> {
    let mut events = state
        .bus
        .subscribe(&visits::topic(visit_id))
        .await
        .map_err(|_| ProtocolError::new("unavailable", "visit events are unavailable; retry"))?;
    let (state, visit_id, me) = (state.clone(), visit_id.to_owned(), me.clone());
    Ok(tokio::spawn(async move {
        let mut admitted = me.state == ParticipantState::Admitted;
        loop {
            let event = match events.recv().await {
                Ok(e) => e,
                Err(RecvError::Lagged(_)) => continue,
                Err(RecvError::Closed) => break,
            };
            let mut frames = Vec::new();
            match event.kind.as_str() {
                visits::ACCESS_ENDED => {
                    if event.payload["participant"].as_str() == Some(me.id.as_str()) {
                        let item = Outbound::VisitRemoved {
                            visit: visit_id.as_str().into(),
                        };
                        if queue.try_send(item).is_err() {
                            killer.kill(close::SLOW_CONSUMER);
                        }
                        return;
                    }
                }
                // For the gateways' pass watchers; clients see the participant leave.
                visits::revocation::LINK_REVOKED => {}
                visits::STATS => {
                    if me.role == Role::Host {
                        frames.push(json!({ "type": "visit_stats", "visit": visit_id,
                                            "participants": event.payload["participants"] }));
                    }
                }
                visits::MEDIA_STATE => {
                    if event.payload["participant"].as_str() != Some(me.id.as_str()) {
                        let mut p = event.payload.clone();
                        p["type"] = json!("visit_media");
                        frames.push(p);
                    }
                }
                _ => {
                    frames.push(json!({ "type": "visit_event", "visit": visit_id,
                                        "event": event.payload["event"], "state": event.payload["state"] }));
                    let mine = event.payload["state"]["participants"]
                        .as_array()
                        .and_then(|ps| ps.iter().find(|p| p["id"].as_str() == Some(me.id.as_str())))
                        .and_then(|p| p["state"].as_str())
                        .map(str::to_owned);
                    let now_admitted = mine.as_deref() == Some("admitted");
                    if now_admitted && !admitted {
                        frames.push(admitted_frame(&state, &visit_id, &me));
                    }
                    admitted = now_admitted;
                }
            }
            if !push_all(&queue, &killer, frames) {
                return;
            }
            if is_pass && visits::revocation::ends_visit(&event) {
                let last = Outbound::Close {
                    code: close::SESSION_REVOKED,
                    reason: "visit over",
                };
                if queue.try_send(last).is_err() {
                    killer.kill(close::SESSION_REVOKED);
                }
                return;
            }
        }
    }))
}

/// Queues pushes for the socket; `false` once it cannot take more (a slow consumer is
/// closed with 4004, like for room events) or has gone.
fn push_all(queue: &mpsc::Sender<Outbound>, killer: &Killer, frames: Vec<Value>) -> bool {
    for frame in frames {
        match queue.try_send(Outbound::Push(frame.to_string().into())) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => {
                killer.kill(close::SLOW_CONSUMER);
                return false;
            }
            Err(mpsc::error::TrySendError::Closed(_)) => return false,
        }
    }
    true
}

/// Delivers the SFU's offers and ICE candidates for one participant as `visit_signal`.
fn poll_pending(
    state: AppState,
    queue: mpsc::Sender<Outbound>,
    killer: Arc<Killer>,
    visit_id: String,
    participant: String,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(PENDING_POLL).await;
            let request = MediaRequest::Pending {
                room: visit_id.clone(),
                participant: participant.clone(),
            };
            let reply = match state.visits.media.call(&visit_id, request).await {
                Ok(r) => r,
                Err(f) if f.code == "unknown_participant" || f.code == "unknown_room" => return,
                Err(_) => continue,
            };
            let mut frames = Vec::new();
            if let Some(offer) = reply["offer"].as_str() {
                frames.push(json!({ "type": "visit_signal", "visit": visit_id, "offer": offer }));
            }
            if let Some(candidates) = reply["candidates"].as_array() {
                for c in candidates {
                    frames
                        .push(json!({ "type": "visit_signal", "visit": visit_id, "candidate": c }));
                }
            }
            if !push_all(&queue, &killer, frames) {
                return;
            }
        }
    })
}
