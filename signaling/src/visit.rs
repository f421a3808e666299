//! The visit model and its state machine.
//!
//! A visit is `Scheduled` until a patient or guest enters the waiting room
//! (`Waiting`), `Live` once a host starts it or admits someone, and then
//! `Ended`; a visit nobody joined can become `NoShow` after the grace period,
//! and one that never went live can be `Cancelled`. The three terminal states
//! refuse every command with `visit_ended`.
//!
//! Every command is a method on `&Visit` taking the [`Actor`] and `now_ms`. It
//! returns a [`Transition`] (the visit as it is after the command, and the
//! events to store and publish) or a [`VisitError`]. The visit passed in is
//! never changed, so a refused command leaves it exactly as it was, and the
//! caller stores the new one with a compare-and-set on [`Visit::last_seq`]
//! (two nodes racing on one visit cannot both win). Each event gets the next
//! sequence number of the visit, like offsets in a room's stream.
//!
//! Checks run in a fixed order, so a caller always gets the same code for the
//! same mistake: who is acting (`not_a_participant`, `role_mismatch`), whether
//! their role may do it (`not_host`), whether the visit is over
//! (`visit_ended`), and then the command's own preconditions.
//!
//! | command | who | visit state | effect |
//! | --- | --- | --- | --- |
//! | [`create`](Visit::create) | host, system | — | `Scheduled` |
//! | [`invite`](Visit::invite) | host | not over | adds an `Invited` participant |
//! | [`join`](Visit::join) | patient, guest (host only when live) | not over | patient/guest `Waiting`; visit `Scheduled` → `Waiting` |
//! | [`admit`](Visit::admit) | host | not over | a `Waiting` participant `Admitted`; visit → `Live` |
//! | [`decline`](Visit::decline) | host | not over | a `Waiting` participant `Declined` |
//! | [`start`](Visit::start) | host | `Scheduled`, `Waiting` | `Live`, the host `Admitted` |
//! | [`leave`](Visit::leave) | the participant | not over | `Left` |
//! | [`end`](Visit::end) | host, system | `Live` | `Ended` |
//! | [`mark_no_show`](Visit::mark_no_show) | host, system | `Scheduled`, nobody ever joined, after start + grace | `NoShow` |
//! | [`cancel`](Visit::cancel) | host, system | `Scheduled`, `Waiting` | `Cancelled` |

mod error;
mod event;
mod model;
#[cfg(test)]
mod tests;

use serde::{Deserialize, Serialize};

pub use error::VisitError;
pub use event::{ParticipantRef, VisitEvent, VisitEventKind};
pub use model::{
    Actor, NewParticipant, Participant, ParticipantState, Role, VisitPolicy, VisitState,
};

use crate::ids::{ParticipantId, VisitId};

/// A visit: its state, participants, and the instants durations are computed
/// from. Fields are public so the hub can map them to and from rows; change a
/// visit only through its commands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Visit {
    pub id: VisitId,
    pub state: VisitState,
    pub scheduled_start_ms: i64,
    pub participants: Vec<Participant>,
    pub created_at_ms: i64,
    /// The first time anyone entered the waiting room; never cleared (a visit
    /// someone joined is not a no-show, even if they left again).
    pub first_waiting_at_ms: Option<i64>,
    /// The first time a patient or guest was admitted (the end of the wait).
    pub first_admitted_at_ms: Option<i64>,
    pub started_at_ms: Option<i64>,
    /// When the visit reached a terminal state (ended, no-show or cancelled).
    pub ended_at_ms: Option<i64>,
    /// Sequence number of the visit's newest event (1 after creation). Store
    /// a transition only if the stored visit still has the old value.
    pub last_seq: u64,
}

/// The outcome of an accepted command: the visit after it, and the events
/// (possibly none, for a repeated `join`) to store and publish, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    pub visit: Visit,
    pub events: Vec<VisitEvent>,
}

impl Transition {
    /// True when the command changed nothing (nothing to store or publish).
    pub fn is_noop(&self) -> bool {
        self.events.is_empty()
    }
}

/// A transition being built: a copy of the visit, and the events emitted so
/// far, each numbered with the visit's next sequence number.
struct Draft<'a> {
    visit: Visit,
    events: Vec<VisitEvent>,
    actor: &'a Actor,
    now_ms: i64,
}

impl<'a> Draft<'a> {
    fn new(visit: &Visit, actor: &'a Actor, now_ms: i64) -> Self {
        Self {
            visit: visit.clone(),
            events: Vec::new(),
            actor,
            now_ms,
        }
    }

    fn emit(&mut self, kind: VisitEventKind) {
        self.visit.last_seq += 1;
        self.events.push(VisitEvent {
            visit_id: self.visit.id.clone(),
            seq: self.visit.last_seq,
            at_ms: self.now_ms,
            actor: self.actor.id().cloned(),
            kind,
        });
    }

    /// A visit that is not live is `Waiting` exactly while someone waits.
    fn settle_waiting(&mut self) {
        let anyone_waiting = self
            .visit
            .participants
            .iter()
            .any(|p| p.state == ParticipantState::Waiting);
        self.visit.state = match self.visit.state {
            VisitState::Scheduled | VisitState::Waiting if anyone_waiting => VisitState::Waiting,
            VisitState::Scheduled | VisitState::Waiting => VisitState::Scheduled,
            other => other,
        };
    }

    /// Starts the media session with `host` in it.
    fn start(&mut self, host: usize) {
        let now = self.now_ms;
        self.visit.state = VisitState::Live;
        self.visit.started_at_ms = Some(now);
        let p = &mut self.visit.participants[host];
        p.state = ParticipantState::Admitted;
        p.admitted_at_ms = Some(now);
        p.left_at_ms = None;
        self.emit(VisitEventKind::Started);
    }

    /// Closes the visit: everyone still present is moved out.
    fn close(&mut self, state: VisitState) {
        let now = self.now_ms;
        self.visit.state = state;
        self.visit.ended_at_ms = Some(now);
        for p in &mut self.visit.participants {
            if p.is_present() {
                p.state = ParticipantState::Left;
                p.left_at_ms = Some(now);
            }
        }
    }

    fn finish(self) -> Transition {
        Transition {
            visit: self.visit,
            events: self.events,
        }
    }
}

/// Non-negative difference, so a clock that stepped back cannot produce a
/// negative duration.
fn elapsed(from_ms: i64, to_ms: i64) -> i64 {
    to_ms.saturating_sub(from_ms).max(0)
}

impl Visit {
    /// Creates a visit with everyone `Invited`. It needs at least one host and
    /// one patient, with distinct ids. A visit is created by the system (when
    /// a video appointment is booked) or by one of its hosts; a patient books
    /// an appointment instead, so a patient actor gets `not_host`.
    pub fn create(
        id: VisitId,
        scheduled_start_ms: i64,
        participants: Vec<NewParticipant>,
        actor: &Actor,
        now_ms: i64,
    ) -> Result<Transition, VisitError> {
        for (i, p) in participants.iter().enumerate() {
            if participants[..i].iter().any(|q| q.id == p.id) {
                return Err(VisitError::DuplicateParticipant);
            }
        }
        if !participants.iter().any(|p| p.role == Role::Host) {
            return Err(VisitError::InvalidParticipants("a visit needs a host"));
        }
        if !participants.iter().any(|p| p.role == Role::Patient) {
            return Err(VisitError::InvalidParticipants("a visit needs a patient"));
        }
        if let Actor::Participant { id: actor_id, role } = actor {
            let listed = participants
                .iter()
                .find(|p| &p.id == actor_id)
                .ok_or(VisitError::NotAParticipant)?;
            if listed.role != *role {
                return Err(VisitError::RoleMismatch);
            }
            if *role != Role::Host {
                return Err(VisitError::NotHost { action: "create" });
            }
        }
        let visit = Visit {
            id,
            state: VisitState::Scheduled,
            scheduled_start_ms,
            participants: participants.into_iter().map(Participant::invited).collect(),
            created_at_ms: now_ms,
            first_waiting_at_ms: None,
            first_admitted_at_ms: None,
            started_at_ms: None,
            ended_at_ms: None,
            last_seq: 0,
        };
        let mut draft = Draft::new(&visit, actor, now_ms);
        let participants = visit.participants.iter().map(Participant::as_ref).collect();
        draft.emit(VisitEventKind::VisitCreated {
            scheduled_start_ms,
            participants,
        });
        Ok(draft.finish())
    }

    /// Adds a participant (an interpreter found the day of the visit, a family
    /// member). Only a host may invite, and not into a visit that is over.
    pub fn invite(
        &self,
        actor: &Actor,
        new: NewParticipant,
        now_ms: i64,
    ) -> Result<Transition, VisitError> {
        self.host_index(actor, "invite")?;
        self.ensure_open()?;
        if self.participant(&new.id).is_some() {
            return Err(VisitError::DuplicateParticipant);
        }
        let mut draft = Draft::new(self, actor, now_ms);
        let participant = Participant::invited(new);
        let event = VisitEventKind::Invited(participant.as_ref());
        draft.visit.participants.push(participant);
        draft.emit(event);
        Ok(draft.finish())
    }

    /// The actor arrives. A patient or guest enters the waiting room (at the
    /// earliest `policy.join_opens_before_ms` before the scheduled start, or
    /// any time once live) and must be admitted by a host, also when coming
    /// back after leaving. A host joins only a live visit (rejoining, or a
    /// second host), directly into the session; before that, a host starts.
    ///
    /// Joining again while already waiting or admitted (a reloaded page) is
    /// accepted and changes nothing. A declined participant gets `declined`.
    pub fn join(
        &self,
        actor: &Actor,
        policy: &VisitPolicy,
        now_ms: i64,
    ) -> Result<Transition, VisitError> {
        let idx = self.actor_index(actor)?;
        self.ensure_open()?;
        let p = &self.participants[idx];
        match p.state {
            ParticipantState::Waiting | ParticipantState::Admitted => return Ok(self.unchanged()),
            ParticipantState::Declined => return Err(VisitError::Declined),
            ParticipantState::Invited | ParticipantState::Left => {}
        }
        let mut draft = Draft::new(self, actor, now_ms);
        if p.role == Role::Host {
            if self.state != VisitState::Live {
                return Err(VisitError::IllegalTransition {
                    action: "join",
                    state: self.state,
                });
            }
            let host = &mut draft.visit.participants[idx];
            host.state = ParticipantState::Admitted;
            host.admitted_at_ms = Some(now_ms);
            host.left_at_ms = None;
            let event = VisitEventKind::Admitted {
                participant: host.as_ref(),
                waited_ms: 0,
            };
            draft.emit(event);
            return Ok(draft.finish());
        }
        if self.state != VisitState::Live {
            let opens_at_ms = self
                .scheduled_start_ms
                .saturating_sub(policy.join_opens_before_ms);
            if now_ms < opens_at_ms {
                return Err(VisitError::TooEarly {
                    allowed_at_ms: opens_at_ms,
                });
            }
        }
        let waiting = &mut draft.visit.participants[idx];
        waiting.state = ParticipantState::Waiting;
        waiting.waiting_since_ms = Some(now_ms);
        waiting.left_at_ms = None;
        let event = VisitEventKind::PatientWaiting(waiting.as_ref());
        draft.visit.first_waiting_at_ms.get_or_insert(now_ms);
        draft.settle_waiting();
        draft.emit(event);
        Ok(draft.finish())
    }

    /// A host lets a waiting participant into the session. If the visit is
    /// not live yet, admitting starts it (with the admitting host in it): a
    /// `Started` event comes before the `Admitted` one. A host need not be in
    /// the session to admit (the console's queue works from anywhere).
    /// Patients and guests can never admit anyone, themselves included
    /// (`not_host`).
    pub fn admit(
        &self,
        actor: &Actor,
        participant_id: &ParticipantId,
        now_ms: i64,
    ) -> Result<Transition, VisitError> {
        let host = self.host_index(actor, "admit")?;
        self.ensure_open()?;
        let idx = self.waiting_index(participant_id)?;
        let mut draft = Draft::new(self, actor, now_ms);
        if self.state != VisitState::Live {
            draft.start(host);
        }
        let p = &mut draft.visit.participants[idx];
        p.state = ParticipantState::Admitted;
        p.admitted_at_ms = Some(now_ms);
        let waited_ms = elapsed(p.waiting_since_ms.unwrap_or(now_ms), now_ms);
        let event = VisitEventKind::Admitted {
            participant: p.as_ref(),
            waited_ms,
        };
        draft.visit.first_admitted_at_ms.get_or_insert(now_ms);
        draft.emit(event);
        Ok(draft.finish())
    }

    /// A host turns a waiting participant away for this visit.
    pub fn decline(
        &self,
        actor: &Actor,
        participant_id: &ParticipantId,
        now_ms: i64,
    ) -> Result<Transition, VisitError> {
        self.host_index(actor, "decline")?;
        self.ensure_open()?;
        let idx = self.waiting_index(participant_id)?;
        let mut draft = Draft::new(self, actor, now_ms);
        let p = &mut draft.visit.participants[idx];
        p.state = ParticipantState::Declined;
        p.left_at_ms = Some(now_ms);
        let event = VisitEventKind::Declined(p.as_ref());
        draft.settle_waiting();
        draft.emit(event);
        Ok(draft.finish())
    }

    /// A host opens the media session, alone at first; anyone waiting stays
    /// waiting until admitted. Hosts may start before the scheduled time.
    pub fn start(&self, actor: &Actor, now_ms: i64) -> Result<Transition, VisitError> {
        let host = self.host_index(actor, "start")?;
        self.ensure_open()?;
        if self.state == VisitState::Live {
            return Err(VisitError::IllegalTransition {
                action: "start",
                state: self.state,
            });
        }
        let mut draft = Draft::new(self, actor, now_ms);
        draft.start(host);
        Ok(draft.finish())
    }

    /// The actor leaves the waiting room or the session. The visit goes on
    /// (a host may leave and rejoin); only [`end`](Self::end) ends it.
    pub fn leave(&self, actor: &Actor, now_ms: i64) -> Result<Transition, VisitError> {
        let idx = self.actor_index(actor)?;
        self.ensure_open()?;
        let p = &self.participants[idx];
        if !p.is_present() {
            return Err(VisitError::NotPresent);
        }
        let from = p.state;
        let mut draft = Draft::new(self, actor, now_ms);
        let p = &mut draft.visit.participants[idx];
        p.state = ParticipantState::Left;
        p.left_at_ms = Some(now_ms);
        let event = VisitEventKind::ParticipantLeft {
            participant: p.as_ref(),
            from,
        };
        draft.settle_waiting();
        draft.emit(event);
        Ok(draft.finish())
    }

    /// A host (or the system, e.g. after everyone left) ends a live visit.
    /// The `Ended` event carries the visit's duration and how long the first
    /// patient or guest waited before being admitted.
    pub fn end(&self, actor: &Actor, now_ms: i64) -> Result<Transition, VisitError> {
        self.host_or_system(actor, "end")?;
        self.ensure_open()?;
        if self.state != VisitState::Live {
            return Err(VisitError::IllegalTransition {
                action: "end",
                state: self.state,
            });
        }
        let mut draft = Draft::new(self, actor, now_ms);
        draft.close(VisitState::Ended);
        let duration_ms = elapsed(self.started_at_ms.unwrap_or(now_ms), now_ms);
        let waited_ms = match (self.first_waiting_at_ms, self.first_admitted_at_ms) {
            (Some(waiting), Some(admitted)) => Some(elapsed(waiting, admitted)),
            _ => None,
        };
        draft.emit(VisitEventKind::Ended {
            duration_ms,
            waited_ms,
        });
        Ok(draft.finish())
    }

    /// Marks a visit nobody joined as a no-show, at the earliest
    /// `policy.no_show_grace_ms` after the scheduled start (`too_early`
    /// before). A visit someone joined (even if they left again) is not a
    /// no-show (`someone_joined`): cancel or end it instead.
    pub fn mark_no_show(
        &self,
        actor: &Actor,
        policy: &VisitPolicy,
        now_ms: i64,
    ) -> Result<Transition, VisitError> {
        self.host_or_system(actor, "mark_no_show")?;
        self.ensure_open()?;
        if self.state != VisitState::Scheduled {
            return Err(VisitError::IllegalTransition {
                action: "mark_no_show",
                state: self.state,
            });
        }
        if self.first_waiting_at_ms.is_some() {
            return Err(VisitError::SomeoneJoined);
        }
        let allowed_at_ms = self
            .scheduled_start_ms
            .saturating_add(policy.no_show_grace_ms);
        if now_ms < allowed_at_ms {
            return Err(VisitError::TooEarly { allowed_at_ms });
        }
        let mut draft = Draft::new(self, actor, now_ms);
        draft.close(VisitState::NoShow);
        draft.emit(VisitEventKind::NoShow);
        Ok(draft.finish())
    }

    /// Calls the visit off before it goes live (by a host, or by the system
    /// when its appointment is cancelled); anyone waiting is moved out.
    pub fn cancel(&self, actor: &Actor, now_ms: i64) -> Result<Transition, VisitError> {
        self.host_or_system(actor, "cancel")?;
        self.ensure_open()?;
        if self.state == VisitState::Live {
            return Err(VisitError::IllegalTransition {
                action: "cancel",
                state: self.state,
            });
        }
        let mut draft = Draft::new(self, actor, now_ms);
        draft.close(VisitState::Cancelled);
        draft.emit(VisitEventKind::Cancelled);
        Ok(draft.finish())
    }

    /// Whether `participant_id` may have the media session now: the visit is
    /// live and they are admitted. Check this before issuing a media grant.
    pub fn check_media_access(
        &self,
        participant_id: &ParticipantId,
    ) -> Result<&Participant, VisitError> {
        let p = self
            .participant(participant_id)
            .ok_or(VisitError::NotAParticipant)?;
        self.ensure_open()?;
        if self.state != VisitState::Live {
            return Err(VisitError::NotLive);
        }
        if p.state != ParticipantState::Admitted {
            return Err(VisitError::NotAdmitted);
        }
        Ok(p)
    }

    pub fn participant(&self, id: &ParticipantId) -> Option<&Participant> {
        self.participants.iter().find(|p| &p.id == id)
    }

    /// The waiting room as a host sees it: longest waiting first.
    pub fn waiting_queue(&self) -> Vec<&Participant> {
        let mut queue: Vec<&Participant> = self
            .participants
            .iter()
            .filter(|p| p.state == ParticipantState::Waiting)
            .collect();
        queue.sort_by_key(|p| p.waiting_since_ms);
        queue
    }

    fn unchanged(&self) -> Transition {
        Transition {
            visit: self.clone(),
            events: Vec::new(),
        }
    }

    fn ensure_open(&self) -> Result<(), VisitError> {
        if self.state.is_terminal() {
            return Err(VisitError::VisitEnded { state: self.state });
        }
        Ok(())
    }

    /// The acting participant's index. The role the caller claims must be the
    /// one on record, so a grant or session for one role cannot act as another.
    fn actor_index(&self, actor: &Actor) -> Result<usize, VisitError> {
        let Actor::Participant { id, role } = actor else {
            return Err(VisitError::NotAParticipant);
        };
        let idx = self
            .participants
            .iter()
            .position(|p| &p.id == id)
            .ok_or(VisitError::NotAParticipant)?;
        if self.participants[idx].role != *role {
            return Err(VisitError::RoleMismatch);
        }
        Ok(idx)
    }

    fn host_index(&self, actor: &Actor, action: &'static str) -> Result<usize, VisitError> {
        if *actor == Actor::System {
            return Err(VisitError::NotHost { action });
        }
        let idx = self.actor_index(actor)?;
        if self.participants[idx].role != Role::Host {
            return Err(VisitError::NotHost { action });
        }
        Ok(idx)
    }

    fn host_or_system(&self, actor: &Actor, action: &'static str) -> Result<(), VisitError> {
        match actor {
            Actor::System => Ok(()),
            Actor::Participant { .. } => self.host_index(actor, action).map(|_| ()),
        }
    }

    fn waiting_index(&self, participant_id: &ParticipantId) -> Result<usize, VisitError> {
        let idx = self
            .participants
            .iter()
            .position(|p| &p.id == participant_id)
            .ok_or(VisitError::NotAParticipant)?;
        if self.participants[idx].state != ParticipantState::Waiting {
            return Err(VisitError::NotWaiting);
        }
        Ok(idx)
    }
}
