//! What the patient portal reads: the providers a member can book in an
//! organization, and the caller's own appointments (upcoming and past) with the
//! names a list shows and, for a video appointment, its visit and when the
//! visit's waiting room opens.

use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};

use super::{AppointmentView, TypeView, appointments::view, parse_instant, type_view};
use crate::{
    accounts::{Principal, RequestMeta},
    audit::{self, AuditEvent, Outcome},
    clock::rfc3339,
    error::{Error, Result},
    orgs::OrgContext,
    state::AppState,
    store::{portal as store, scheduling as schedules},
};

const DAY_MS: i64 = 86_400_000;
/// Longest window one `GET /appointments` may cover.
const MAX_LIST_DAYS: i64 = 400;

/// A provider members can book, with the organization's appointment types.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProviderView {
    pub user_id: String,
    pub display_name: String,
    /// The IANA zone of the provider's weekly hours.
    pub time_zone: String,
    pub appointment_types: Vec<TypeView>,
}

/// The organization's bookable providers: clinicians and admins with weekly hours.
pub async fn list_providers(state: &AppState, ctx: &OrgContext) -> Result<Vec<ProviderView>> {
    let mut conn = state.store.conn().await?;
    let providers = store::bookable_providers(&mut conn, &ctx.org_id).await?;
    let types: Vec<_> = schedules::types(&mut conn, &ctx.org_id).await?;
    Ok(providers
        .into_iter()
        .map(|p| ProviderView {
            user_id: p.user_id,
            display_name: p.display_name,
            time_zone: p.time_zone,
            appointment_types: types.iter().cloned().map(type_view).collect(),
        })
        .collect())
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct AppointmentListQuery {
    /// RFC 3339; appointments ending after it. Default 24 h ago.
    pub from: Option<String>,
    /// RFC 3339; appointments starting before it. Default: no end. At most 400 days after `from`.
    pub to: Option<String>,
}

/// One of the caller's appointments as a list shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ListedAppointmentView {
    #[serde(flatten)]
    pub appointment: AppointmentView,
    pub type_name: String,
    /// `in_person` or `video`.
    pub mode: String,
    pub org_name: String,
    pub provider_name: String,
    /// The patient's display name (a provider's agenda names who is coming).
    pub patient_name: String,
    /// The video visit of a video appointment.
    pub visit_id: Option<String>,
    /// The visit's state: `scheduled`, `waiting`, `live`, `ended`, `no_show`, `cancelled`.
    pub visit_state: Option<String>,
    /// When patients may enter the visit's waiting room
    /// (`visits.join_opens_before_secs` before the start).
    pub opens_at: Option<String>,
}

/// The caller's appointments, as patient or provider, in `[from, to)`. Audited:
/// the answer names patients and their reasons.
pub async fn list_mine(
    state: &AppState,
    caller: &Principal,
    query: AppointmentListQuery,
    meta: &RequestMeta,
) -> Result<Vec<ListedAppointmentView>> {
    let now = state.clock.now_ms();
    let from = match &query.from {
        Some(s) => parse_instant("from", s)?,
        None => now - DAY_MS,
    };
    let to = match &query.to {
        Some(s) => parse_instant("to", s)?,
        None => i64::MAX,
    };
    if to <= from || (query.to.is_some() && to - from > MAX_LIST_DAYS * DAY_MS) {
        return Err(Error::invalid(
            "to",
            "invalid_range",
            "to must follow from, within 400 days",
        ));
    }
    let opens_before = state.visits.policy.join_opens_before_ms;
    let mut conn = state.store.conn().await?;
    let rows = store::appointments_of(&mut conn, &state.keyring, &caller.user_id, from, to).await?;
    drop(conn);
    let listed: Vec<_> = rows
        .into_iter()
        .map(|r| {
            let opens_at = r
                .visit_id
                .as_ref()
                .map(|_| rfc3339(r.appointment.starts_at - opens_before));
            ListedAppointmentView {
                appointment: view(r.appointment),
                type_name: r.type_name,
                mode: r.mode,
                org_name: r.org_name,
                provider_name: r.provider_name,
                patient_name: r.patient_name,
                visit_id: r.visit_id,
                visit_state: r.visit_state,
                opens_at,
            }
        })
        .collect();
    let tx = state.store.begin_write().await?;
    let event = AuditEvent::new("appointment.list", Outcome::Success)
        .actor(Some(&caller.user_id), meta.ip.as_deref())
        .details(json!({
            "appointments": listed.iter().map(|a| &a.appointment.id).collect::<Vec<_>>()
        }));
    audit::commit_with(tx, &event, now).await?;
    Ok(listed)
}
