//! Why a visit command was refused.

use super::VisitState;

/// A refused command. The visit is unchanged; `code()` is the stable string
/// for API and protocol answers.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VisitError {
    #[error("cannot {action} a visit that is {state}")]
    IllegalTransition {
        action: &'static str,
        state: VisitState,
    },
    #[error("only a host may {action}")]
    NotHost { action: &'static str },
    #[error("not a participant of this visit")]
    NotAParticipant,
    #[error("the participant does not have the role given")]
    RoleMismatch,
    #[error("the participant is not in the waiting room")]
    NotWaiting,
    #[error("the participant is neither waiting nor admitted")]
    NotPresent,
    #[error("the participant was declined for this visit")]
    Declined,
    #[error("the visit is over ({state})")]
    VisitEnded { state: VisitState },
    #[error("too early: allowed from {allowed_at_ms} ms")]
    TooEarly { allowed_at_ms: i64 },
    #[error("someone joined the visit, so it is not a no-show")]
    SomeoneJoined,
    #[error("the visit is not live")]
    NotLive,
    #[error("the participant has not been admitted")]
    NotAdmitted,
    #[error("a participant with this id is already on the visit")]
    DuplicateParticipant,
    #[error("invalid participants: {0}")]
    InvalidParticipants(&'static str),
}

impl VisitError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::IllegalTransition { .. } => "illegal_transition",
            Self::NotHost { .. } => "not_host",
            Self::NotAParticipant => "not_a_participant",
            Self::RoleMismatch => "role_mismatch",
            Self::NotWaiting => "not_waiting",
            Self::NotPresent => "not_present",
            Self::Declined => "declined",
            Self::VisitEnded { .. } => "visit_ended",
            Self::TooEarly { .. } => "too_early",
            Self::SomeoneJoined => "someone_joined",
            Self::NotLive => "not_live",
            Self::NotAdmitted => "not_admitted",
            Self::DuplicateParticipant => "duplicate_participant",
            Self::InvalidParticipants(_) => "invalid_participants",
        }
    }
}
