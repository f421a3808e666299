//! Booking, rescheduling and cancelling appointments.

use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use super::{invalid, parse_instant, parse_zone, slots, window_from_row};
use crate::{
    accounts::{Principal, RequestMeta},
    audit::{self, AuditEvent, Outcome},
    bus::Event,
    clock::rfc3339,
    crypto::Keyring,
    domain::Role,
    error::{Error, Result},
    notifications::appointments::{self as notices, Change},
    orgs::{OrgContext, parse_role},
    policy,
    state::AppState,
    store::{Conn, StoreError, orgs, scheduling as store},
};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BookInput {
    pub provider_id: String,
    pub type_id: String,
    /// RFC 3339; must be the start of a free slot.
    pub starts_at: String,
    /// The patient; a patient booking for themselves may omit it.
    #[serde(default)]
    pub patient_id: Option<String>,
    #[serde(default)]
    pub reason: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CancelInput {
    pub reason: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RescheduleInput {
    pub starts_at: String,
    pub reason: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AppointmentView {
    pub id: String,
    pub org_id: String,
    pub provider_id: String,
    pub patient_id: String,
    pub type_id: String,
    pub starts_at: String,
    pub ends_at: String,
    /// `booked` or `cancelled`.
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cancel_reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rescheduled_from: Option<String>,
}

pub(super) fn view(a: store::AppointmentRow) -> AppointmentView {
    AppointmentView {
        id: a.id,
        org_id: a.org_id,
        provider_id: a.provider_id,
        patient_id: a.patient_id,
        type_id: a.type_id,
        starts_at: rfc3339(a.starts_at),
        ends_at: rfc3339(a.ends_at),
        status: a.status,
        reason: a.reason,
        cancel_reason: a.cancel_reason,
        rescheduled_from: a.rescheduled_from,
    }
}

fn check_reason(
    field: &'static str,
    reason: Option<&str>,
    required: bool,
) -> Result<Option<String>> {
    match reason.map(str::trim) {
        None | Some("") if required => {
            Err(invalid(field, "invalid_reason", "a reason is required"))
        }
        None | Some("") => Ok(None),
        Some(r) if r.chars().count() > 500 => Err(invalid(
            field,
            "invalid_reason",
            "reason must be at most 500 characters",
        )),
        Some(r) => Ok(Some(r.to_owned())),
    }
}

fn slot_taken(e: StoreError) -> Error {
    match e {
        StoreError::UniqueViolation(_) => {
            Error::conflict("slot_taken", "this time is no longer free")
        }
        other => other.into(),
    }
}

/// Checks that `[start, start + duration)` is a bookable slot of the provider
/// now: inside the weekly hours, not in the past, not in an exception. Taken
/// slots are refused later, by the claims.
async fn check_slot(
    conn: &mut Conn,
    org_id: &str,
    provider_id: &str,
    duration_min: u32,
    start: i64,
    now: i64,
) -> Result<i64> {
    if start <= now {
        return Err(invalid(
            "starts_at",
            "in_the_past",
            "appointments must start in the future",
        ));
    }
    let (zone, windows) = store::schedule(conn, provider_id, org_id)
        .await?
        .ok_or(Error::NotFound("availability"))?;
    let tz = parse_zone(&zone)?;
    let windows: Vec<_> = windows.iter().map(window_from_row).collect();
    if !slots::is_slot(tz, &windows, duration_min, start) {
        return Err(invalid(
            "starts_at",
            "outside_availability",
            "this time is not one of the provider's slots",
        ));
    }
    let end = start + i64::from(duration_min) * 60_000;
    let exceptions = store::busy(conn, provider_id, start, end).await?;
    if !exceptions.is_empty() {
        return Err(Error::conflict("slot_taken", "this time is no longer free"));
    }
    Ok(end)
}

/// Books an appointment. A patient books for themselves; the care team for
/// any patient of the organization.
pub async fn book(
    state: &AppState,
    caller: &Principal,
    ctx: &OrgContext,
    input: BookInput,
    meta: &RequestMeta,
) -> Result<AppointmentView> {
    let patient_id = match (&input.patient_id, ctx.role) {
        (None, Some(Role::Patient)) => caller.user_id.clone(),
        (Some(p), _) => p.clone(),
        (None, _) => {
            return Err(invalid(
                "patient_id",
                "invalid_patient",
                "patient_id is required",
            ));
        }
    };
    if !policy::may_book_for(ctx.role, &caller.user_id, &patient_id) {
        return Err(Error::Forbidden);
    }
    let reason = check_reason("reason", input.reason.as_deref(), false)?;
    let start = parse_instant("starts_at", &input.starts_at)?;
    let now = state.clock.now_ms();
    let mut tx = state.store.begin_write().await?;
    let patient_role = orgs::role_of(&mut tx, &ctx.org_id, &patient_id)
        .await?
        .map(|r| parse_role(&r))
        .transpose()?;
    if patient_role != Some(Role::Patient) {
        return Err(Error::NotFound("patient in this organization"));
    }
    let kind = store::type_by_id(&mut tx, &ctx.org_id, &input.type_id)
        .await?
        .ok_or(Error::NotFound("appointment type"))?;
    let duration = u32::try_from(kind.duration_min).unwrap_or(0);
    let end = check_slot(
        &mut tx,
        &ctx.org_id,
        &input.provider_id,
        duration,
        start,
        now,
    )
    .await?;
    let row = store::AppointmentRow {
        id: uuid::Uuid::now_v7().to_string(),
        org_id: ctx.org_id.clone(),
        provider_id: input.provider_id,
        patient_id,
        type_id: kind.id,
        starts_at: start,
        ends_at: end,
        status: "booked".into(),
        reason,
        booked_by: caller.user_id.clone(),
        booked_at: now,
        cancelled_by: None,
        cancelled_at: None,
        cancel_reason: None,
        rescheduled_from: None,
    };
    store::insert_appointment(&mut tx, &state.keyring, &row).await?;
    store::claim(&mut tx, &row.provider_id, &row.id, start, end)
        .await
        .map_err(slot_taken)?;
    notices::on_change(&mut tx, Change::Booked, &row, None, offsets(state), now).await?;
    if kind.mode == "video" {
        crate::visits::for_appointment(state, &mut tx, &row).await?;
    }
    commit(state, tx, "appointment.book", caller, meta, &row, now).await?;
    Ok(view(row))
}

/// Loads an appointment the caller may change: its patient, or the care team.
async fn changeable(
    conn: &mut Conn,
    keyring: &Keyring,
    caller: &Principal,
    ctx: &OrgContext,
    id: &str,
) -> Result<store::AppointmentRow> {
    let row = store::appointment(conn, keyring, &ctx.org_id, id)
        .await?
        .ok_or(Error::NotFound("appointment"))?;
    if !policy::may_change_appointment(ctx.role, &caller.user_id, &row.patient_id) {
        return Err(Error::Forbidden);
    }
    if row.status != "booked" {
        return Err(Error::conflict(
            "not_booked",
            "this appointment is already cancelled",
        ));
    }
    Ok(row)
}

pub async fn cancel(
    state: &AppState,
    caller: &Principal,
    ctx: &OrgContext,
    id: &str,
    input: CancelInput,
    meta: &RequestMeta,
) -> Result<AppointmentView> {
    let reason = check_reason("reason", Some(&input.reason), true)?.unwrap_or_default();
    let now = state.clock.now_ms();
    let mut tx = state.store.begin_write().await?;
    let mut row = changeable(&mut tx, &state.keyring, caller, ctx, id).await?;
    if !store::cancel(&mut tx, &state.keyring, id, &caller.user_id, &reason, now).await? {
        return Err(Error::conflict(
            "not_booked",
            "this appointment is already cancelled",
        ));
    }
    store::release(&mut tx, id).await?;
    row.status = "cancelled".into();
    row.cancel_reason = Some(reason);
    notices::on_change(&mut tx, Change::Cancelled, &row, None, offsets(state), now).await?;
    commit(state, tx, "appointment.cancel", caller, meta, &row, now).await?;
    crate::visits::cancel_for_appointment(state, &row.id).await;
    Ok(view(row))
}

/// Moves an appointment to another slot of the same provider and type, in one
/// transaction: if the new slot is taken, the old booking stays as it was.
pub async fn reschedule(
    state: &AppState,
    caller: &Principal,
    ctx: &OrgContext,
    id: &str,
    input: RescheduleInput,
    meta: &RequestMeta,
) -> Result<AppointmentView> {
    let reason = check_reason("reason", Some(&input.reason), true)?.unwrap_or_default();
    let start = parse_instant("starts_at", &input.starts_at)?;
    let now = state.clock.now_ms();
    let mut tx = state.store.begin_write().await?;
    let old = changeable(&mut tx, &state.keyring, caller, ctx, id).await?;
    store::cancel(&mut tx, &state.keyring, id, &caller.user_id, &reason, now).await?;
    store::release(&mut tx, id).await?;
    let duration = u32::try_from((old.ends_at - old.starts_at) / 60_000).unwrap_or(0);
    let end = check_slot(&mut tx, &ctx.org_id, &old.provider_id, duration, start, now).await?;
    let row = store::AppointmentRow {
        id: uuid::Uuid::now_v7().to_string(),
        starts_at: start,
        ends_at: end,
        status: "booked".into(),
        booked_by: caller.user_id.clone(),
        booked_at: now,
        rescheduled_from: Some(old.id.clone()),
        ..old
    };
    store::insert_appointment(&mut tx, &state.keyring, &row).await?;
    store::claim(&mut tx, &row.provider_id, &row.id, start, end)
        .await
        .map_err(slot_taken)?;
    notices::on_change(
        &mut tx,
        Change::Rescheduled,
        &row,
        Some(&old.id),
        offsets(state),
        now,
    )
    .await?;
    let video = crate::visits::has_visit(&mut tx, &old.id).await?;
    if video {
        crate::visits::for_appointment(state, &mut tx, &row).await?;
    }
    commit(state, tx, "appointment.reschedule", caller, meta, &row, now).await?;
    if video {
        crate::visits::cancel_for_appointment(state, &old.id).await;
    }
    Ok(view(row))
}

/// The configured default reminder offsets (organizations may set their own).
fn offsets(state: &AppState) -> &[u32] {
    &state.config.notifier.reminder_offsets_min
}

/// Audits and commits, then tells the patient's and provider's live pages.
async fn commit(
    state: &AppState,
    tx: sqlx::Transaction<'static, sqlx::Any>,
    action: &'static str,
    caller: &Principal,
    meta: &RequestMeta,
    row: &store::AppointmentRow,
    now: i64,
) -> Result<()> {
    audit::commit_with(
        tx,
        &AuditEvent::new(action, Outcome::Success)
            .actor(Some(&caller.user_id), meta.ip.as_deref())
            .org(&row.org_id)
            .target("appointment", &row.id)
            .details(json!({
                "patient_id": row.patient_id, "provider_id": row.provider_id,
                "starts_at": row.starts_at, "rescheduled_from": row.rescheduled_from,
            })),
        now,
    )
    .await?;
    state.notifications.wake();
    let payload = json!({
        "appointment_id": row.id, "status": row.status, "starts_at": rfc3339(row.starts_at),
        "provider_id": row.provider_id, "patient_id": row.patient_id,
    });
    for topic in [
        format!("org.{}", row.org_id),
        format!("user.{}", row.patient_id),
        format!("user.{}", row.provider_id),
    ] {
        let event = Event {
            topic,
            kind: action.to_owned(),
            payload: payload.clone(),
        };
        if let Err(e) = state.bus.publish(event).await {
            tracing::warn!(error = %e, action, "appointment change not announced");
        }
    }
    Ok(())
}
