//! `/api/v1/orgs/{org_id}/...` scheduling routes and `/api/v1/appointments`.

use axum::{
    extract::{Path, State},
    http::StatusCode,
};

use crate::{
    error::Result,
    http::{
        error::ErrorBody,
        extract::{AppJson, Auth, Meta, Org, Query},
    },
    scheduling::{
        self, AppointmentListQuery, AppointmentView, AvailabilityInput, BookInput, CancelInput,
        ExceptionInput, ExceptionView, ListedAppointmentView, ProviderView, RescheduleInput,
        SlotList, SlotQuery, TypeInput, TypeView,
    },
    state::AppState,
};

/// Appointment types of the organization.
#[utoipa::path(get, path = "/orgs/{org_id}/appointment-types", tag = "scheduling", security(("bearer" = [])),
    params(("org_id" = String, Path)), responses((status = 200, body = Vec<TypeView>)))]
pub async fn list_types(
    State(state): State<AppState>,
    Org(ctx): Org,
) -> Result<axum::Json<Vec<TypeView>>> {
    Ok(axum::Json(scheduling::list_types(&state, &ctx).await?))
}

/// Create an appointment type (organization admins).
#[utoipa::path(post, path = "/orgs/{org_id}/appointment-types", tag = "scheduling", security(("bearer" = [])),
    params(("org_id" = String, Path)), request_body = TypeInput,
    responses((status = 201, body = TypeView), (status = 409, description = "`type_name_taken`", body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_type(
    State(state): State<AppState>,
    Auth(p): Auth,
    Org(ctx): Org,
    Meta(meta): Meta,
    AppJson(input): AppJson<TypeInput>,
) -> Result<(StatusCode, axum::Json<TypeView>)> {
    let t = scheduling::create_type(&state, &p, &ctx, input, &meta).await?;
    Ok((StatusCode::CREATED, axum::Json(t)))
}

/// A provider's weekly hours.
#[utoipa::path(get, path = "/orgs/{org_id}/providers/{user_id}/availability", tag = "scheduling", security(("bearer" = [])),
    params(("org_id" = String, Path), ("user_id" = String, Path)),
    responses((status = 200, body = AvailabilityInput), (status = 404, body = ErrorBody)))]
pub async fn get_availability(
    State(state): State<AppState>,
    Org(ctx): Org,
    Path(path): Path<(String, String)>,
) -> Result<axum::Json<AvailabilityInput>> {
    Ok(axum::Json(
        scheduling::get_availability(&state, &ctx, &path.1).await?,
    ))
}

/// Replace a provider's weekly hours (admins; clinicians their own).
#[utoipa::path(put, path = "/orgs/{org_id}/providers/{user_id}/availability", tag = "scheduling", security(("bearer" = [])),
    params(("org_id" = String, Path), ("user_id" = String, Path)), request_body = AvailabilityInput,
    responses((status = 200, body = AvailabilityInput), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn set_availability(
    State(state): State<AppState>,
    Auth(p): Auth,
    Org(ctx): Org,
    Meta(meta): Meta,
    Path(path): Path<(String, String)>,
    AppJson(input): AppJson<AvailabilityInput>,
) -> Result<axum::Json<AvailabilityInput>> {
    Ok(axum::Json(
        scheduling::set_availability(&state, &p, &ctx, &path.1, input, &meta).await?,
    ))
}

/// Add leave or a holiday for a provider.
#[utoipa::path(post, path = "/orgs/{org_id}/providers/{user_id}/exceptions", tag = "scheduling", security(("bearer" = [])),
    params(("org_id" = String, Path), ("user_id" = String, Path)), request_body = ExceptionInput,
    responses((status = 201, body = ExceptionView), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn add_exception(
    State(state): State<AppState>,
    Auth(p): Auth,
    Org(ctx): Org,
    Meta(meta): Meta,
    Path(path): Path<(String, String)>,
    AppJson(input): AppJson<ExceptionInput>,
) -> Result<(StatusCode, axum::Json<ExceptionView>)> {
    let e = scheduling::add_exception(&state, &p, &ctx, &path.1, input, &meta).await?;
    Ok((StatusCode::CREATED, axum::Json(e)))
}

/// A provider's leave and holidays that have not ended, soonest first (audited read).
#[utoipa::path(get, path = "/orgs/{org_id}/providers/{user_id}/exceptions", tag = "scheduling", security(("bearer" = [])),
    params(("org_id" = String, Path), ("user_id" = String, Path)),
    responses((status = 200, body = [ExceptionView]), (status = 403, body = ErrorBody)))]
pub async fn list_exceptions(
    State(state): State<AppState>,
    Auth(p): Auth,
    Org(ctx): Org,
    Meta(meta): Meta,
    Path(path): Path<(String, String)>,
) -> Result<axum::Json<Vec<ExceptionView>>> {
    Ok(axum::Json(
        scheduling::list_exceptions(&state, &p, &ctx, &path.1, &meta).await?,
    ))
}

/// Take back leave or a holiday: the provider is bookable in that time again.
#[utoipa::path(delete, path = "/orgs/{org_id}/providers/{user_id}/exceptions/{exception_id}", tag = "scheduling", security(("bearer" = [])),
    params(("org_id" = String, Path), ("user_id" = String, Path), ("exception_id" = String, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn delete_exception(
    State(state): State<AppState>,
    Auth(p): Auth,
    Org(ctx): Org,
    Meta(meta): Meta,
    Path(path): Path<(String, String, String)>,
) -> Result<StatusCode> {
    scheduling::delete_exception(&state, &p, &ctx, &path.1, &path.2, &meta).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Free slots of a provider for an appointment type.
#[utoipa::path(get, path = "/orgs/{org_id}/slots", tag = "scheduling", security(("bearer" = [])),
    params(("org_id" = String, Path), SlotQuery),
    responses((status = 200, body = SlotList), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn search_slots(
    State(state): State<AppState>,
    Org(ctx): Org,
    Query(q): Query<SlotQuery>,
) -> Result<axum::Json<SlotList>> {
    Ok(axum::Json(scheduling::search_slots(&state, &ctx, q).await?))
}

/// Book an appointment (patients for themselves, the care team for any patient).
#[utoipa::path(post, path = "/orgs/{org_id}/appointments", tag = "scheduling", security(("bearer" = [])),
    params(("org_id" = String, Path)), request_body = BookInput,
    responses((status = 201, body = AppointmentView), (status = 403, body = ErrorBody),
        (status = 409, description = "`slot_taken`", body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn book(
    State(state): State<AppState>,
    Auth(p): Auth,
    Org(ctx): Org,
    Meta(meta): Meta,
    AppJson(input): AppJson<BookInput>,
) -> Result<(StatusCode, axum::Json<AppointmentView>)> {
    let a = scheduling::book(&state, &p, &ctx, input, &meta).await?;
    Ok((StatusCode::CREATED, axum::Json(a)))
}

/// Cancel an appointment, with a reason.
#[utoipa::path(post, path = "/orgs/{org_id}/appointments/{appointment_id}/cancel", tag = "scheduling", security(("bearer" = [])),
    params(("org_id" = String, Path), ("appointment_id" = String, Path)), request_body = CancelInput,
    responses((status = 200, body = AppointmentView), (status = 403, body = ErrorBody), (status = 409, description = "`not_booked`", body = ErrorBody)))]
pub async fn cancel(
    State(state): State<AppState>,
    Auth(p): Auth,
    Org(ctx): Org,
    Meta(meta): Meta,
    Path(path): Path<(String, String)>,
    AppJson(input): AppJson<CancelInput>,
) -> Result<axum::Json<AppointmentView>> {
    Ok(axum::Json(
        scheduling::cancel(&state, &p, &ctx, &path.1, input, &meta).await?,
    ))
}

/// Move an appointment to another free slot; the old one is kept as cancelled.
#[utoipa::path(post, path = "/orgs/{org_id}/appointments/{appointment_id}/reschedule", tag = "scheduling", security(("bearer" = [])),
    params(("org_id" = String, Path), ("appointment_id" = String, Path)), request_body = RescheduleInput,
    responses((status = 201, body = AppointmentView), (status = 403, body = ErrorBody), (status = 409, description = "`slot_taken`", body = ErrorBody)))]
pub async fn reschedule(
    State(state): State<AppState>,
    Auth(p): Auth,
    Org(ctx): Org,
    Meta(meta): Meta,
    Path(path): Path<(String, String)>,
    AppJson(input): AppJson<RescheduleInput>,
) -> Result<(StatusCode, axum::Json<AppointmentView>)> {
    let a = scheduling::reschedule(&state, &p, &ctx, &path.1, input, &meta).await?;
    Ok((StatusCode::CREATED, axum::Json(a)))
}

/// The caller's appointments, as patient or provider (upcoming, and past with `from`).
#[utoipa::path(get, path = "/appointments", tag = "scheduling", security(("bearer" = [])),
    params(AppointmentListQuery),
    responses((status = 200, body = Vec<ListedAppointmentView>), (status = 422, description = "`invalid_time`, `invalid_range`", body = ErrorBody)))]
pub async fn my_appointments(
    State(state): State<AppState>,
    Auth(p): Auth,
    Meta(meta): Meta,
    Query(query): Query<AppointmentListQuery>,
) -> Result<axum::Json<Vec<ListedAppointmentView>>> {
    Ok(axum::Json(
        scheduling::list_mine(&state, &p, query, &meta).await?,
    ))
}

/// The providers members can book, each with the organization's appointment types.
#[utoipa::path(get, path = "/orgs/{org_id}/providers", tag = "scheduling", security(("bearer" = [])),
    params(("org_id" = String, Path)), responses((status = 200, body = Vec<ProviderView>)))]
pub async fn list_providers(
    State(state): State<AppState>,
    Org(ctx): Org,
) -> Result<axum::Json<Vec<ProviderView>>> {
    Ok(axum::Json(scheduling::list_providers(&state, &ctx).await?))
}

/// Create or rotate your secret calendar-feed URL (the old one stops working).
#[utoipa::path(post, path = "/me/calendar-feed", tag = "scheduling", security(("bearer" = [])),
    responses((status = 201, body = scheduling::FeedLink)))]
pub async fn rotate_feed(
    State(state): State<AppState>,
    Auth(p): Auth,
    Meta(meta): Meta,
) -> Result<(StatusCode, axum::Json<scheduling::FeedLink>)> {
    let link = scheduling::rotate_feed(&state, &p, &meta).await?;
    Ok((StatusCode::CREATED, axum::Json(link)))
}

/// Revoke your calendar-feed URL.
#[utoipa::path(delete, path = "/me/calendar-feed", tag = "scheduling", security(("bearer" = [])),
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn revoke_feed(
    State(state): State<AppState>,
    Auth(p): Auth,
    Meta(meta): Meta,
) -> Result<StatusCode> {
    scheduling::revoke_feed(&state, &p, &meta).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /calendar/{secret}.ics`: the feed for calendar apps. Outside the API and
/// its policy: the secret in the path is the credential (apps cannot log in).
pub async fn calendar_feed(
    State(state): State<AppState>,
    Meta(meta): Meta,
    Path(secret): Path<String>,
) -> Result<impl axum::response::IntoResponse> {
    let body = scheduling::calendar_feed(&state, &secret, &meta).await?;
    Ok((
        [
            (
                axum::http::header::CONTENT_TYPE,
                "text/calendar; charset=utf-8",
            ),
            (axum::http::header::CACHE_CONTROL, "no-store"),
        ],
        body,
    ))
}
