//! Scheduling: appointment types, providers' weekly hours in their own time
//! zone with exceptions, free-slot search, and booking that cannot double book.
//!
//! Double booking is prevented by the database: a booked appointment claims
//! every 5-minute granule it covers in `slot_claims`, whose primary key refuses
//! a second claim, so two racing bookings cannot both commit whatever the code
//! above does. Slot arithmetic (zones, daylight saving) is in [`slots`].

mod appointments;
mod feed;
pub mod ical;
mod leave;
mod lists;
pub mod slots;

use std::str::FromStr;

use chrono::{NaiveTime, Timelike, Weekday};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};

pub use appointments::{
    AppointmentView, BookInput, CancelInput, RescheduleInput, book, cancel, reschedule,
};
pub use feed::{FeedLink, calendar_feed, revoke_feed, rotate_feed};
pub use leave::{delete_exception, list_exceptions};
pub use lists::{
    AppointmentListQuery, ListedAppointmentView, ProviderView, list_mine, list_providers,
};

use crate::{
    accounts::{Principal, RequestMeta},
    audit::{self, AuditEvent, Outcome},
    clock::rfc3339,
    domain::{Role, ValidationError},
    error::{Error, Result},
    orgs::{OrgContext, parse_role},
    policy,
    state::AppState,
    store::{orgs, scheduling as store},
};

/// Longest range one slot search may cover.
const MAX_SEARCH_DAYS: i64 = 62;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    InPerson,
    Video,
}

impl Mode {
    fn as_str(self) -> &'static str {
        match self {
            Mode::InPerson => "in_person",
            Mode::Video => "video",
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TypeInput {
    #[schema(example = "Follow-up")]
    pub name: String,
    /// 5 to 480 minutes, a multiple of 5.
    pub duration_min: u32,
    pub mode: Mode,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TypeView {
    pub id: String,
    pub name: String,
    pub duration_min: i64,
    pub mode: String,
}

fn type_view(t: store::TypeRow) -> TypeView {
    TypeView {
        id: t.id,
        name: t.name,
        duration_min: t.duration_min,
        mode: t.mode,
    }
}

fn invalid(field: &'static str, code: &'static str, message: impl Into<String>) -> Error {
    ValidationError::new(field, code, message).into()
}

pub async fn create_type(
    state: &AppState,
    caller: &Principal,
    ctx: &OrgContext,
    input: TypeInput,
    meta: &RequestMeta,
) -> Result<TypeView> {
    let name = input.name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(invalid(
            "name",
            "invalid_name",
            "name must hold 1 to 100 characters",
        ));
    }
    slots::validate_duration(input.duration_min)
        .map_err(|e| invalid("duration_min", e.code(), e.to_string()))?;
    let row = store::TypeRow {
        id: uuid::Uuid::now_v7().to_string(),
        org_id: ctx.org_id.clone(),
        name: name.to_owned(),
        duration_min: i64::from(input.duration_min),
        mode: input.mode.as_str().to_owned(),
        created_at: state.clock.now_ms(),
    };
    let mut tx = state.store.begin_write().await?;
    store::insert_type(&mut tx, &row)
        .await
        .map_err(|e| match e {
            crate::store::StoreError::UniqueViolation(_) => Error::conflict(
                "type_name_taken",
                "an appointment type with this name exists",
            ),
            other => other.into(),
        })?;
    audit::commit_with(
        tx,
        &AuditEvent::new("appointment_type.create", Outcome::Success)
            .actor(Some(&caller.user_id), meta.ip.as_deref())
            .org(&ctx.org_id)
            .target("appointment_type", &row.id),
        row.created_at,
    )
    .await?;
    Ok(type_view(row))
}

pub async fn list_types(state: &AppState, ctx: &OrgContext) -> Result<Vec<TypeView>> {
    let mut conn = state.store.conn().await?;
    Ok(store::types(&mut conn, &ctx.org_id)
        .await?
        .into_iter()
        .map(type_view)
        .collect())
}

/// One weekly window as the API shows it: `{"weekday": "mon", "start": "09:00", "end": "12:30"}`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WindowInput {
    #[schema(example = "mon")]
    pub weekday: String,
    #[schema(example = "09:00")]
    pub start: String,
    #[schema(example = "12:30")]
    pub end: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AvailabilityInput {
    /// IANA time zone of the provider's hours, e.g. `America/New_York`.
    #[schema(example = "America/New_York")]
    pub time_zone: String,
    pub windows: Vec<WindowInput>,
}

const WEEKDAYS: [(&str, Weekday); 7] = [
    ("mon", Weekday::Mon),
    ("tue", Weekday::Tue),
    ("wed", Weekday::Wed),
    ("thu", Weekday::Thu),
    ("fri", Weekday::Fri),
    ("sat", Weekday::Sat),
    ("sun", Weekday::Sun),
];

fn parse_window(w: &WindowInput) -> Result<slots::WeeklyWindow> {
    let weekday = WEEKDAYS
        .iter()
        .find(|(name, _)| *name == w.weekday)
        .map(|(_, d)| *d)
        .ok_or_else(|| invalid("windows", "invalid_window", "weekday must be mon … sun"))?;
    let time = |s: &str| {
        NaiveTime::parse_from_str(s, "%H:%M")
            .map_err(|_| invalid("windows", "invalid_window", "times are HH:MM"))
    };
    Ok(slots::WeeklyWindow {
        weekday,
        start: time(&w.start)?,
        end: time(&w.end)?,
    })
}

fn minutes(t: NaiveTime) -> i64 {
    i64::from(t.hour() * 60 + t.minute())
}

fn window_input(w: &store::WindowRow) -> WindowInput {
    let hhmm = |m: i64| format!("{:02}:{:02}", m / 60, m % 60);
    WindowInput {
        weekday: WEEKDAYS[w.weekday.clamp(0, 6) as usize].0.to_owned(),
        start: hhmm(w.start_min),
        end: hhmm(w.end_min),
    }
}

fn window_from_row(w: &store::WindowRow) -> slots::WeeklyWindow {
    let t = |m: i64| {
        NaiveTime::from_hms_opt((m / 60) as u32, (m % 60) as u32, 0).unwrap_or(NaiveTime::MIN)
    };
    slots::WeeklyWindow {
        weekday: WEEKDAYS[w.weekday.clamp(0, 6) as usize].1,
        start: t(w.start_min),
        end: t(w.end_min),
    }
}

fn parse_zone(name: &str) -> Result<chrono_tz::Tz> {
    chrono_tz::Tz::from_str(name).map_err(|_| {
        invalid(
            "time_zone",
            "invalid_time_zone",
            "not an IANA time zone name",
        )
    })
}

/// The provider must be a clinician or admin of the organization.
async fn require_provider(
    conn: &mut crate::store::Conn,
    org_id: &str,
    provider_id: &str,
) -> Result<()> {
    let role = orgs::role_of(conn, org_id, provider_id)
        .await?
        .map(|r| parse_role(&r))
        .transpose()?;
    match role {
        Some(Role::Clinician | Role::Admin) => Ok(()),
        _ => Err(Error::NotFound("provider in this organization")),
    }
}

/// Replaces a provider's weekly hours. Admins set anyone's; clinicians their own.
pub async fn set_availability(
    state: &AppState,
    caller: &Principal,
    ctx: &OrgContext,
    provider_id: &str,
    input: AvailabilityInput,
    meta: &RequestMeta,
) -> Result<AvailabilityInput> {
    if !policy::may_manage_availability(ctx.role, &caller.user_id, provider_id) {
        return Err(Error::Forbidden);
    }
    parse_zone(&input.time_zone)?;
    if input.windows.len() > 100 {
        return Err(invalid("windows", "invalid_window", "at most 100 windows"));
    }
    let windows = input
        .windows
        .iter()
        .map(parse_window)
        .collect::<Result<Vec<_>>>()?;
    slots::validate_windows(&windows).map_err(|e| invalid("windows", e.code(), e.to_string()))?;
    let rows: Vec<store::WindowRow> = windows
        .iter()
        .map(|w| store::WindowRow {
            weekday: i64::from(w.weekday.num_days_from_monday()),
            start_min: minutes(w.start),
            end_min: minutes(w.end),
        })
        .collect();
    let now = state.clock.now_ms();
    let mut tx = state.store.begin_write().await?;
    require_provider(&mut tx, &ctx.org_id, provider_id).await?;
    store::replace_schedule(
        &mut tx,
        provider_id,
        &ctx.org_id,
        &input.time_zone,
        &rows,
        now,
    )
    .await?;
    audit::commit_with(
        tx,
        &AuditEvent::new("availability.set", Outcome::Success)
            .actor(Some(&caller.user_id), meta.ip.as_deref())
            .org(&ctx.org_id)
            .target("user", provider_id)
            .details(json!({ "windows": rows.len(), "time_zone": input.time_zone })),
        now,
    )
    .await?;
    Ok(AvailabilityInput {
        time_zone: input.time_zone,
        windows: rows.iter().map(window_input).collect(),
    })
}

pub async fn get_availability(
    state: &AppState,
    ctx: &OrgContext,
    provider_id: &str,
) -> Result<AvailabilityInput> {
    let mut conn = state.store.conn().await?;
    let Some((time_zone, windows)) = store::schedule(&mut conn, provider_id, &ctx.org_id).await?
    else {
        // A clinician or admin of the organization who has not set hours yet
        // has an empty week (the schedule page shows "no hours yet"); anyone
        // else is not a provider here.
        let role = orgs::role_of(&mut conn, &ctx.org_id, provider_id).await?;
        return match role.as_deref() {
            Some("clinician" | "admin") => Ok(AvailabilityInput {
                time_zone: "UTC".to_owned(),
                windows: Vec::new(),
            }),
            _ => Err(Error::NotFound("availability")),
        };
    };
    Ok(AvailabilityInput {
        time_zone,
        windows: windows.iter().map(window_input).collect(),
    })
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExceptionInput {
    /// RFC 3339 instants; the provider takes no appointments in `[starts_at, ends_at)`.
    pub starts_at: String,
    pub ends_at: String,
    #[schema(example = "Annual leave")]
    pub reason: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ExceptionView {
    pub id: String,
    pub starts_at: String,
    pub ends_at: String,
    pub reason: String,
}

pub(crate) fn parse_instant(field: &'static str, s: &str) -> Result<i64> {
    chrono::DateTime::parse_from_rfc3339(s)
        .map(|t| t.timestamp_millis())
        .map_err(|_| {
            invalid(
                field,
                "invalid_time",
                format!("{field} must be an RFC 3339 instant"),
            )
        })
}

/// Adds leave or a holiday. Existing appointments in the range stay booked (the
/// care team decides whether to move them); new bookings are refused.
pub async fn add_exception(
    state: &AppState,
    caller: &Principal,
    ctx: &OrgContext,
    provider_id: &str,
    input: ExceptionInput,
    meta: &RequestMeta,
) -> Result<ExceptionView> {
    if !policy::may_manage_availability(ctx.role, &caller.user_id, provider_id) {
        return Err(Error::Forbidden);
    }
    let start = parse_instant("starts_at", &input.starts_at)?;
    let end = parse_instant("ends_at", &input.ends_at)?;
    if end <= start || end - start > 366 * 86_400_000 {
        return Err(invalid(
            "ends_at",
            "invalid_range",
            "ends_at must follow starts_at, within a year",
        ));
    }
    let reason = input.reason.trim();
    if reason.is_empty() || reason.chars().count() > 200 {
        return Err(invalid(
            "reason",
            "invalid_reason",
            "reason must hold 1 to 200 characters",
        ));
    }
    let id = uuid::Uuid::now_v7().to_string();
    let now = state.clock.now_ms();
    let mut tx = state.store.begin_write().await?;
    require_provider(&mut tx, &ctx.org_id, provider_id).await?;
    store::insert_exception(
        &mut tx,
        &state.keyring,
        &store::NewException {
            id: &id,
            provider_id,
            org_id: &ctx.org_id,
            starts_at: start,
            ends_at: end,
            reason,
            created_by: &caller.user_id,
            now,
        },
    )
    .await?;
    audit::commit_with(
        tx,
        &AuditEvent::new("availability.exception", Outcome::Success)
            .actor(Some(&caller.user_id), meta.ip.as_deref())
            .org(&ctx.org_id)
            .target("user", provider_id),
        now,
    )
    .await?;
    Ok(ExceptionView {
        id,
        starts_at: rfc3339(start),
        ends_at: rfc3339(end),
        reason: reason.to_owned(),
    })
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct SlotQuery {
    pub provider_id: String,
    pub type_id: String,
    /// RFC 3339; defaults to now.
    pub from: Option<String>,
    /// RFC 3339; defaults to 7 days after `from`; at most 62 days after it.
    pub to: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SlotView {
    pub starts_at: String,
    pub ends_at: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SlotList {
    pub provider_id: String,
    pub type_id: String,
    pub time_zone: String,
    pub slots: Vec<SlotView>,
}

/// Free slots of a provider for an appointment type.
pub async fn search_slots(state: &AppState, ctx: &OrgContext, q: SlotQuery) -> Result<SlotList> {
    let now = state.clock.now_ms();
    let from = q
        .from
        .as_deref()
        .map(|s| parse_instant("from", s))
        .transpose()?
        .unwrap_or(now);
    let to =
        q.to.as_deref()
            .map(|s| parse_instant("to", s))
            .transpose()?
            .unwrap_or(from + 7 * 86_400_000);
    if to <= from || to - from > MAX_SEARCH_DAYS * 86_400_000 {
        return Err(invalid(
            "to",
            "invalid_range",
            "to must follow from, within 62 days",
        ));
    }
    let mut conn = state.store.conn().await?;
    let kind = store::type_by_id(&mut conn, &ctx.org_id, &q.type_id)
        .await?
        .ok_or(Error::NotFound("appointment type"))?;
    let (zone, windows) = store::schedule(&mut conn, &q.provider_id, &ctx.org_id)
        .await?
        .ok_or(Error::NotFound("availability"))?;
    let tz = parse_zone(&zone)?;
    let duration = u32::try_from(kind.duration_min).unwrap_or(0);
    let margin = i64::from(duration) * 60_000;
    let busy = store::busy(&mut conn, &q.provider_id, from - margin, to + margin)
        .await?
        .into_iter()
        .map(|(start_ms, end_ms)| slots::Busy { start_ms, end_ms })
        .collect::<Vec<_>>();
    let windows: Vec<_> = windows.iter().map(window_from_row).collect();
    let free = slots::free_slots(tz, &windows, &busy, duration, from, to, now);
    Ok(SlotList {
        provider_id: q.provider_id,
        type_id: q.type_id,
        time_zone: zone,
        slots: free
            .into_iter()
            .map(|s| SlotView {
                starts_at: rfc3339(s.start_ms),
                ends_at: rfc3339(s.end_ms),
            })
            .collect(),
    })
}
