//! How a visit is shown to clients (REST answers, `/ws` results and pushes).

use serde::Serialize;
use signaling::visit::Visit;
use utoipa::ToSchema;

use crate::{clock::rfc3339, store::visits::ParticipantRow};

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct VisitView {
    pub id: String,
    pub org_id: String,
    pub appointment_id: Option<String>,
    /// `scheduled`, `waiting`, `live`, `ended`, `no_show` or `cancelled`.
    pub state: String,
    pub scheduled_at: String,
    /// From when patients and guests may enter the waiting room
    /// (`visits.join_opens_before_secs` before `scheduled_at`; any time once live).
    pub opens_at: String,
    pub started_at: Option<String>,
    pub ended_at: Option<String>,
    pub participants: Vec<ParticipantView>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ParticipantView {
    pub id: String,
    /// `host`, `patient` or `guest`.
    pub role: String,
    /// `invited`, `waiting`, `admitted`, `declined` or `left`.
    pub state: String,
    pub display_name: String,
    pub user_id: Option<String>,
    pub waiting_since: Option<String>,
    pub admitted_at: Option<String>,
}

/// The visit as clients see it: the state machine's snapshot with display names.
pub fn view(
    visit: &Visit,
    opens_before_ms: i64,
    org_id: &str,
    appointment_id: Option<&str>,
    people: &[ParticipantRow],
) -> VisitView {
    let name_of = |id: &str| {
        people
            .iter()
            .find(|p| p.participant_id == id)
            .map(|p| p.display_name.clone())
            .unwrap_or_default()
    };
    VisitView {
        id: visit.id.as_str().to_owned(),
        org_id: org_id.to_owned(),
        appointment_id: appointment_id.map(str::to_owned),
        state: visit.state.as_str().to_owned(),
        scheduled_at: rfc3339(visit.scheduled_start_ms),
        opens_at: rfc3339(visit.scheduled_start_ms - opens_before_ms),
        started_at: visit.started_at_ms.map(rfc3339),
        ended_at: visit.ended_at_ms.map(rfc3339),
        participants: visit
            .participants
            .iter()
            .map(|p| ParticipantView {
                id: p.id.as_str().to_owned(),
                role: p.role.as_str().to_owned(),
                state: p.state.as_str().to_owned(),
                display_name: name_of(p.id.as_str()),
                user_id: p.user_id.clone(),
                waiting_since: p.waiting_since_ms.map(rfc3339),
                admitted_at: p.admitted_at_ms.map(rfc3339),
            })
            .collect(),
    }
}
