//! What happened to a visit: the events a transition emits, to be stored
//! (the visit's history, from which durations and reports are computed) and
//! published on the bus (live waiting queues, the clinician's console).
//!
//! Events hold ids, roles and instants only: never names, reasons or other
//! patient details, so they may cross the bus in clear.

use serde::{Deserialize, Serialize};

use super::{ParticipantState, Role};
use crate::ids::{ParticipantId, VisitId};

/// A participant as events name it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParticipantRef {
    pub participant_id: ParticipantId,
    pub role: Role,
}

/// One event of a visit. Serialized flat:
/// `{"visit_id": "…", "seq": 3, "at_ms": …, "actor": "…", "type": "admitted",
/// "participant_id": "…", "role": "patient", "waited_ms": 42000}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VisitEvent {
    pub visit_id: VisitId,
    /// 1, 2, 3, ... within the visit, without gaps: a subscriber that sees a
    /// gap reloads the visit, as room feeds do with offsets.
    pub seq: u64,
    pub at_ms: i64,
    /// The participant who issued the command; `None` for the system.
    pub actor: Option<ParticipantId>,
    #[serde(flatten)]
    pub kind: VisitEventKind,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum VisitEventKind {
    /// The visit exists, with everyone invited.
    VisitCreated {
        scheduled_start_ms: i64,
        participants: Vec<ParticipantRef>,
    },
    /// A participant was added after creation.
    Invited(ParticipantRef),
    /// A patient or guest entered the waiting room (the role says which):
    /// the host's queue grows.
    PatientWaiting(ParticipantRef),
    /// A waiting participant was let in, after `waited_ms` in the waiting
    /// room; also a host rejoining a live visit (`waited_ms` 0).
    Admitted {
        #[serde(flatten)]
        participant: ParticipantRef,
        waited_ms: i64,
    },
    /// A waiting participant was turned away.
    Declined(ParticipantRef),
    /// The media session began (the event's actor is the host who started it).
    Started,
    /// A participant left the waiting room (`from: waiting`) or the session.
    ParticipantLeft {
        #[serde(flatten)]
        participant: ParticipantRef,
        from: ParticipantState,
    },
    /// The visit ended: `duration_ms` from start to end; `waited_ms` from the
    /// first arrival in the waiting room to the first admission (`None` if
    /// no patient or guest was ever admitted).
    Ended {
        duration_ms: i64,
        waited_ms: Option<i64>,
    },
    NoShow,
    Cancelled,
}

impl VisitEventKind {
    /// The bus `kind` of the event (`visit.admitted`, ...).
    pub fn name(&self) -> &'static str {
        match self {
            Self::VisitCreated { .. } => "visit.created",
            Self::Invited(_) => "visit.invited",
            Self::PatientWaiting(_) => "visit.patient_waiting",
            Self::Admitted { .. } => "visit.admitted",
            Self::Declined(_) => "visit.declined",
            Self::Started => "visit.started",
            Self::ParticipantLeft { .. } => "visit.participant_left",
            Self::Ended { .. } => "visit.ended",
            Self::NoShow => "visit.no_show",
            Self::Cancelled => "visit.cancelled",
        }
    }
}

impl VisitEvent {
    /// The bus topic for the visit's own subscribers (its participants' pages).
    pub fn topic(&self) -> String {
        format!("visit.{}", self.visit_id)
    }

    /// The event as JSON, for the bus payload and the stored row.
    pub fn to_json(&self) -> serde_json::Result<serde_json::Value> {
        serde_json::to_value(self)
    }
}
