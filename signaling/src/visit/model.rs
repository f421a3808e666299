//! The values a visit is made of: its state, roles, participants, who acts,
//! and the time rules from configuration.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::ParticipantRef;
use crate::ids::ParticipantId;

/// Where a visit is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VisitState {
    /// Created; nobody is in the waiting room.
    Scheduled,
    /// Not started, and at least one patient or guest is in the waiting room.
    Waiting,
    /// A host started it (or admitted someone): the media session runs.
    Live,
    /// A host (or the system) ended it after it was live.
    Ended,
    /// Nobody joined by the scheduled start plus the grace period.
    NoShow,
    /// Called off before it went live.
    Cancelled,
}

impl VisitState {
    pub const ALL: [VisitState; 6] = [
        VisitState::Scheduled,
        VisitState::Waiting,
        VisitState::Live,
        VisitState::Ended,
        VisitState::NoShow,
        VisitState::Cancelled,
    ];

    /// Ended, no-show and cancelled visits accept no further command.
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Ended | Self::NoShow | Self::Cancelled)
    }

    /// The stored and wire form (`"no_show"`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Scheduled => "scheduled",
            Self::Waiting => "waiting",
            Self::Live => "live",
            Self::Ended => "ended",
            Self::NoShow => "no_show",
            Self::Cancelled => "cancelled",
        }
    }
}

impl fmt::Display for VisitState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a participant is in the visit. Roles decide what a participant may do
/// here and what its media grant allows ([`crate::grants::PermissionTable`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// The clinician running the visit: starts, admits, declines, ends.
    Host,
    /// The patient the visit is for.
    Patient,
    /// Anyone else invited: an interpreter, a family member.
    Guest,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Host, Role::Patient, Role::Guest];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Host => "host",
            Self::Patient => "patient",
            Self::Guest => "guest",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where one participant is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ParticipantState {
    /// On the visit's list, not (or not yet) here.
    Invited,
    /// In the waiting room, until a host admits or declines them.
    Waiting,
    /// In the media session.
    Admitted,
    /// Turned away by a host; cannot join this visit again.
    Declined,
    /// Was waiting or admitted and went away; may join again (and wait again).
    Left,
}

impl ParticipantState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Invited => "invited",
            Self::Waiting => "waiting",
            Self::Admitted => "admitted",
            Self::Declined => "declined",
            Self::Left => "left",
        }
    }
}

impl fmt::Display for ParticipantState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A participant to add to a visit, at creation or by [`Visit::invite`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewParticipant {
    pub id: ParticipantId,
    pub role: Role,
    /// The hub account, if any (a patient joining from a link may have none).
    pub user_id: Option<String>,
}

/// One participant of a visit, with the times the state machine needs for
/// durations (how long they waited) and the hub needs for display.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Participant {
    pub id: ParticipantId,
    pub role: Role,
    pub user_id: Option<String>,
    pub state: ParticipantState,
    /// When they last entered the waiting room.
    pub waiting_since_ms: Option<i64>,
    /// When they were last admitted (or, for a host, started or rejoined).
    pub admitted_at_ms: Option<i64>,
    /// When they last left (or were moved out when the visit closed).
    pub left_at_ms: Option<i64>,
}

impl Participant {
    pub(super) fn invited(new: NewParticipant) -> Self {
        Self {
            id: new.id,
            role: new.role,
            user_id: new.user_id,
            state: ParticipantState::Invited,
            waiting_since_ms: None,
            admitted_at_ms: None,
            left_at_ms: None,
        }
    }

    /// In the waiting room or in the media session.
    pub fn is_present(&self) -> bool {
        matches!(
            self.state,
            ParticipantState::Waiting | ParticipantState::Admitted
        )
    }

    pub(super) fn as_ref(&self) -> ParticipantRef {
        ParticipantRef {
            participant_id: self.id.clone(),
            role: self.role,
        }
    }
}

/// Who issues a command: a participant (as identified by the hub from an
/// access token or a media grant, with the role it claims), or the hub itself
/// (a scheduled sweep marking no-shows, an appointment cancelled elsewhere).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    Participant { id: ParticipantId, role: Role },
    System,
}

impl Actor {
    pub fn participant(id: impl Into<ParticipantId>, role: Role) -> Self {
        Self::Participant {
            id: id.into(),
            role,
        }
    }

    pub(super) fn id(&self) -> Option<&ParticipantId> {
        match self {
            Self::Participant { id, .. } => Some(id),
            Self::System => None,
        }
    }
}

/// The time rules of visits, from configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct VisitPolicy {
    /// How long before the scheduled start patients and guests may enter the
    /// waiting room (once the visit is live they may always join): a link
    /// opened the day before must not leave someone waiting all night.
    pub join_opens_before_ms: i64,
    /// How long after the scheduled start a visit nobody joined may be marked
    /// a no-show: patients are often a few minutes late.
    pub no_show_grace_ms: i64,
}

impl VisitPolicy {
    pub const DEFAULT_JOIN_OPENS_BEFORE_MS: i64 = 30 * 60 * 1000;
    pub const DEFAULT_NO_SHOW_GRACE_MS: i64 = 15 * 60 * 1000;
}

impl Default for VisitPolicy {
    fn default() -> Self {
        Self {
            join_opens_before_ms: Self::DEFAULT_JOIN_OPENS_BEFORE_MS,
            no_show_grace_ms: Self::DEFAULT_NO_SHOW_GRACE_MS,
        }
    }
}
