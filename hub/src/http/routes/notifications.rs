//! Notification routes: a user's own settings and notices, account mail (email
//! verification, password reset), organization settings, critical alerts, the
//! admins' view of failures, and Twilio's webhooks.

use axum::{
    Form,
    extract::State,
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
};
use notifier::{outbox::NotificationSummary, phone::PhoneNumber, receipts, twilio_signature};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::{
    audit::{self, AuditEvent, Outcome},
    clock::rfc3339,
    error::{Error, Result},
    http::{
        error::ErrorBody,
        extract::{AppJson, Auth, Meta, Org, Query},
    },
    notifications::{
        account_tokens::{self, ResetConfirm, ResetRequest, TokenInput},
        alerts::{self, AlertInput},
        contact::{self, NotificationSettings, SettingsInput},
        inbox,
        settings::{self, OrgNotificationSettings},
    },
    state::AppState,
    store::StoreError,
};

/// A notification as its recipient or an admin sees it: what, how, when, and
/// what happened, never the message text.
#[derive(Debug, Serialize, ToSchema)]
pub struct NotificationView {
    pub id: String,
    pub recipient_id: String,
    pub category: String,
    pub template: String,
    /// `in_app`, `out_of_band` (SMS or email by preference) or `email`.
    pub delivery: String,
    pub channel: Option<String>,
    /// `pending`, `sending`, `sent`, `delivered`, `failed`, `cancelled`, `suppressed`.
    pub status: String,
    pub attempts: i64,
    pub due_at: String,
    pub sent_at: Option<String>,
    pub last_error: Option<String>,
    pub created_at: String,
}

fn view(n: NotificationSummary) -> NotificationView {
    NotificationView {
        id: n.id,
        recipient_id: n.recipient_id,
        category: n.category,
        template: n.template,
        delivery: n.delivery,
        channel: n.channel,
        status: n.status,
        attempts: n.attempts,
        due_at: rfc3339(n.due_at),
        sent_at: n.sent_at.map(rfc3339),
        last_error: n.last_error,
        created_at: rfc3339(n.created_at),
    }
}

/// The caller's notification settings.
#[utoipa::path(get, path = "/me/notification-settings", tag = "notifications", security(("bearer" = [])),
    responses((status = 200, body = NotificationSettings)))]
pub async fn get_settings(
    State(state): State<AppState>,
    Auth(p): Auth,
) -> Result<axum::Json<NotificationSettings>> {
    Ok(axum::Json(contact::get(&state, &p.user_id).await?))
}

/// Change phone, language, time zone, quiet hours or channel preferences.
#[utoipa::path(put, path = "/me/notification-settings", tag = "notifications", security(("bearer" = [])),
    request_body = SettingsInput,
    responses((status = 200, body = NotificationSettings),
        (status = 422, description = "`invalid_phone`, `invalid_locale`, `invalid_time_zone`, `invalid_quiet_hours`, `invalid_category`, `invalid_channels`", body = ErrorBody)))]
pub async fn put_settings(
    State(state): State<AppState>,
    Auth(p): Auth,
    Meta(meta): Meta,
    AppJson(input): AppJson<SettingsInput>,
) -> Result<axum::Json<NotificationSettings>> {
    Ok(axum::Json(
        contact::update(&state, &p.user_id, input, &meta).await?,
    ))
}

/// One of the caller's own notifications, with its text written for them.
#[derive(Debug, Serialize, ToSchema)]
pub struct InboxItemView {
    #[serde(flatten)]
    pub notification: NotificationView,
    /// Plain text for the reader, e.g. "Appointment confirmed".
    pub title: String,
    /// The notice's first line (in-app notices only; mail and SMS may carry a link
    /// that is a credential).
    pub body: Option<String>,
}

/// The caller's latest notifications (100), newest first, with their text.
#[utoipa::path(get, path = "/me/notifications", tag = "notifications", security(("bearer" = [])),
    responses((status = 200, body = Vec<InboxItemView>)))]
pub async fn my_notifications(
    State(state): State<AppState>,
    Auth(p): Auth,
) -> Result<axum::Json<Vec<InboxItemView>>> {
    let items = inbox::for_user(&state, &p.user_id).await?;
    Ok(axum::Json(
        items
            .into_iter()
            .map(|i| InboxItemView {
                notification: view(i.summary),
                title: i.title,
                body: i.body,
            })
            .collect(),
    ))
}

/// Confirm an email address with the token from the verification mail.
#[utoipa::path(post, path = "/auth/verify-email", tag = "auth", request_body = TokenInput,
    responses((status = 204), (status = 422, description = "`invalid_token`", body = ErrorBody)))]
pub async fn verify_email(
    State(state): State<AppState>,
    Meta(meta): Meta,
    AppJson(input): AppJson<TokenInput>,
) -> Result<StatusCode> {
    account_tokens::verify_email(&state, input, &meta).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Send the verification mail again.
#[utoipa::path(post, path = "/auth/verify-email/resend", tag = "auth", security(("bearer" = [])),
    responses((status = 202), (status = 409, description = "`already_verified`", body = ErrorBody)))]
pub async fn resend_verification(
    State(state): State<AppState>,
    Auth(p): Auth,
) -> Result<StatusCode> {
    account_tokens::resend_verification(&state, &p.user_id).await?;
    Ok(StatusCode::ACCEPTED)
}

/// Ask for a password-reset mail. Always 202, whether or not the address has an
/// account, so the answer reveals nothing.
#[utoipa::path(post, path = "/auth/password-reset", tag = "auth", request_body = ResetRequest,
    responses((status = 202), (status = 422, description = "`invalid_email`", body = ErrorBody)))]
pub async fn request_reset(
    State(state): State<AppState>,
    Meta(meta): Meta,
    AppJson(input): AppJson<ResetRequest>,
) -> Result<StatusCode> {
    account_tokens::request_reset(&state, input, &meta).await?;
    Ok(StatusCode::ACCEPTED)
}

/// Choose a new password with the token from the reset mail; every session of
/// the account is signed out.
#[utoipa::path(post, path = "/auth/password-reset/confirm", tag = "auth", request_body = ResetConfirm,
    responses((status = 204), (status = 422, description = "`invalid_token`, `password_too_short`, ...", body = ErrorBody)))]
pub async fn confirm_reset(
    State(state): State<AppState>,
    Meta(meta): Meta,
    AppJson(input): AppJson<ResetConfirm>,
) -> Result<StatusCode> {
    let user_id = account_tokens::confirm_reset(&state, input, &meta).await?;
    // Its open sockets close with 4003 now, on every node.
    crate::gateway::sessions::announce_ended(
        &state,
        &user_id,
        crate::gateway::sessions::Ended::All,
    )
    .await;
    Ok(StatusCode::NO_CONTENT)
}

/// The organization's reminder offsets.
#[utoipa::path(get, path = "/orgs/{org_id}/notification-settings", tag = "notifications", security(("bearer" = [])),
    params(("org_id" = String, Path)), responses((status = 200, body = OrgNotificationSettings)))]
pub async fn get_org_settings(
    State(state): State<AppState>,
    Org(ctx): Org,
) -> Result<axum::Json<OrgNotificationSettings>> {
    let mut conn = state.store.conn().await?;
    let offsets = settings::reminder_offsets(
        &mut conn,
        &ctx.org_id,
        &state.config.notifier.reminder_offsets_min,
    )
    .await?;
    Ok(axum::Json(OrgNotificationSettings {
        reminder_offsets_min: offsets,
    }))
}

/// Set the organization's reminder offsets (admins). Applies to bookings made
/// from now on.
#[utoipa::path(put, path = "/orgs/{org_id}/notification-settings", tag = "notifications", security(("bearer" = [])),
    params(("org_id" = String, Path)), request_body = OrgNotificationSettings,
    responses((status = 200, body = OrgNotificationSettings), (status = 422, description = "`invalid_reminder_offsets`", body = ErrorBody)))]
pub async fn put_org_settings(
    State(state): State<AppState>,
    Auth(p): Auth,
    Org(ctx): Org,
    Meta(meta): Meta,
    AppJson(mut input): AppJson<OrgNotificationSettings>,
) -> Result<axum::Json<OrgNotificationSettings>> {
    input.validate()?;
    input.reminder_offsets_min.sort_unstable_by(|a, b| b.cmp(a));
    input.reminder_offsets_min.dedup();
    let now = state.clock.now_ms();
    let mut tx = state.store.begin_write().await?;
    settings::set_reminder_offsets(&mut tx, &ctx.org_id, &input.reminder_offsets_min, now).await?;
    audit::commit_with(
        tx,
        &AuditEvent::new("org.notification_settings", Outcome::Success)
            .actor(Some(&p.user_id), meta.ip.as_deref())
            .org(&ctx.org_id)
            .target("org", &ctx.org_id)
            .details(serde_json::json!({ "reminder_offsets_min": input.reminder_offsets_min })),
        now,
    )
    .await?;
    Ok(axum::Json(input))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct StatusQuery {
    /// `failed` (default), `pending`, `sent`, `delivered`, `cancelled`, `suppressed`.
    pub status: Option<String>,
}

/// The organization's notifications in one status, newest first (admins): this
/// is where failed deliveries show.
#[utoipa::path(get, path = "/orgs/{org_id}/notifications", tag = "notifications", security(("bearer" = [])),
    params(("org_id" = String, Path), StatusQuery),
    responses((status = 200, body = Vec<NotificationView>), (status = 422, description = "`invalid_status`", body = ErrorBody)))]
pub async fn org_notifications(
    State(state): State<AppState>,
    Org(ctx): Org,
    Query(query): Query<StatusQuery>,
) -> Result<axum::Json<Vec<NotificationView>>> {
    let status = query.status.as_deref().unwrap_or("failed");
    const STATUSES: [&str; 8] = [
        "pending",
        "sending",
        "sent",
        "delivered",
        "undelivered",
        "failed",
        "cancelled",
        "suppressed",
    ];
    if !STATUSES.contains(&status) {
        return Err(Error::invalid(
            "status",
            "invalid_status",
            "unknown notification status",
        ));
    }
    let mut conn = state.store.conn().await?;
    let rows = notifier::outbox::for_org(&mut conn, &ctx.org_id, status, 200)
        .await
        .map_err(StoreError::from)?;
    Ok(axum::Json(rows.into_iter().map(view).collect()))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AlertSent {
    pub alert_id: String,
}

/// Send a critical alert to a patient (care team). Preferences and quiet hours
/// do not hold it back.
#[utoipa::path(post, path = "/orgs/{org_id}/alerts", tag = "notifications", security(("bearer" = [])),
    params(("org_id" = String, Path)), request_body = AlertInput,
    responses((status = 202, body = AlertSent), (status = 404, body = ErrorBody)))]
pub async fn send_alert(
    State(state): State<AppState>,
    Auth(p): Auth,
    Org(ctx): Org,
    Meta(meta): Meta,
    AppJson(input): AppJson<AlertInput>,
) -> Result<(StatusCode, axum::Json<AlertSent>)> {
    let alert_id = alerts::send(&state, &p, &ctx, input, &meta).await?;
    Ok((StatusCode::ACCEPTED, axum::Json(AlertSent { alert_id })))
}

/// Checks `X-Twilio-Signature` over the URL Twilio called (our public URL) and
/// the posted fields. Without SMS configured there is no token, so nothing is
/// accepted.
fn twilio_verified(
    state: &AppState,
    path: &str,
    headers: &HeaderMap,
    fields: &[(String, String)],
) -> Result<()> {
    let token = state
        .config
        .notifier
        .sms
        .as_ref()
        .map(|s| s.auth_token.expose().to_owned())
        .ok_or(Error::NotFound("webhook"))?;
    let signature = headers
        .get("x-twilio-signature")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let url = format!("{}{path}", state.config.effective_public_url());
    if twilio_signature::is_valid(&token, &url, fields, signature) {
        Ok(())
    } else {
        Err(Error::conflict(
            "invalid_signature",
            "the request signature does not match",
        ))
    }
}

fn field<'a>(fields: &'a [(String, String)], name: &str) -> Option<&'a str> {
    fields
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// An empty TwiML answer: we acknowledge and send no reply of our own.
fn twiml() -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/xml")],
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response></Response>",
    )
        .into_response()
}

/// Twilio's delivery receipts (status callback) for SMS we sent.
#[utoipa::path(post, path = "/webhooks/twilio/status", tag = "webhooks",
    request_body(content = std::collections::BTreeMap<String, String>, content_type = "application/x-www-form-urlencoded"),
    responses((status = 204), (status = 409, description = "`invalid_signature`", body = ErrorBody)))]
pub async fn twilio_status(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(fields): Form<Vec<(String, String)>>,
) -> Result<StatusCode> {
    twilio_verified(&state, "/api/v1/webhooks/twilio/status", &headers, &fields)?;
    let (Some(sid), Some(status)) = (
        field(&fields, "MessageSid"),
        field(&fields, "MessageStatus"),
    ) else {
        return Err(Error::invalid(
            "MessageSid",
            "invalid_receipt",
            "MessageSid and MessageStatus are required",
        ));
    };
    let outcome = receipts::sms_status(
        state.store.pool(),
        sid,
        status,
        field(&fields, "ErrorCode"),
        state.clock.now_ms(),
    )
    .await
    .map_err(StoreError::from)?;
    if outcome == receipts::ReceiptOutcome::Undelivered {
        state.notifications.wake();
    }
    tracing::info!(status, outcome = ?outcome, "SMS receipt");
    Ok(StatusCode::NO_CONTENT)
}

/// Inbound SMS: STOP (and the other carrier keywords) opts the number out of
/// every SMS; START opts back in.
#[utoipa::path(post, path = "/webhooks/twilio/inbound", tag = "webhooks",
    request_body(content = std::collections::BTreeMap<String, String>, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, description = "empty TwiML"), (status = 409, description = "`invalid_signature`", body = ErrorBody)))]
pub async fn twilio_inbound(
    State(state): State<AppState>,
    Meta(meta): Meta,
    headers: HeaderMap,
    Form(fields): Form<Vec<(String, String)>>,
) -> Result<Response> {
    twilio_verified(&state, "/api/v1/webhooks/twilio/inbound", &headers, &fields)?;
    let from = field(&fields, "From")
        .and_then(|f| PhoneNumber::parse(f).ok())
        .ok_or_else(|| Error::invalid("From", "invalid_phone", "From must be an E.164 number"))?;
    let now = state.clock.now_ms();
    let action = receipts::sms_inbound(
        state.store.pool(),
        from.as_str(),
        field(&fields, "Body").unwrap_or(""),
        now,
    )
    .await
    .map_err(StoreError::from)?;
    if action != receipts::InboundAction::Ignored {
        let tx = state.store.begin_write().await?;
        audit::commit_with(
            tx,
            &AuditEvent::new(
                if action == receipts::InboundAction::OptedOut {
                    "sms.opt_out"
                } else {
                    "sms.opt_in"
                },
                Outcome::Success,
            )
            .actor(None, meta.ip.as_deref())
            .target("phone", from.as_str()),
            now,
        )
        .await?;
    }
    Ok(twiml())
}
