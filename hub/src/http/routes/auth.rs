//! `/api/v1/auth/...`: registration, login, tokens, MFA, password.

use axum::{extract::State, http::StatusCode};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{
    accounts::{self, LoginInput, MfaEnrolment, RegisterInput, TokenPair},
    error::Result,
    gateway::sessions::{self, Ended},
    http::{
        error::ErrorBody,
        extract::{AppJson, Auth, Meta},
    },
    state::AppState,
};

#[derive(Debug, Serialize, ToSchema)]
pub struct Registered {
    pub user_id: String,
}

/// Register a patient account. The answer is the same whether or not the email
/// already has an account (its owner is told by email instead).
#[utoipa::path(post, path = "/auth/register", tag = "auth",
    request_body = RegisterInput,
    responses(
        (status = 201, description = "Registered, or the email already has an account (then `user_id` names no account)", body = Registered),
        (status = 422, description = "`invalid_email`, `password_too_short`, `password_too_common`, ...", body = ErrorBody),
    ))]
pub async fn register(
    State(state): State<AppState>,
    Meta(meta): Meta,
    AppJson(input): AppJson<RegisterInput>,
) -> Result<(StatusCode, axum::Json<Registered>)> {
    let user_id = accounts::register(&state, input, &meta).await?;
    Ok((StatusCode::CREATED, axum::Json(Registered { user_id })))
}

/// Log in with email and password (and a second factor when MFA is on).
#[utoipa::path(post, path = "/auth/login", tag = "auth",
    request_body = LoginInput,
    responses(
        (status = 200, body = TokenPair),
        (status = 401, description = "`invalid_credentials`, `mfa_required`, `invalid_mfa_code`", body = ErrorBody),
        (status = 429, description = "`too_many_attempts`, `account_locked` (see Retry-After)", body = ErrorBody),
    ))]
pub async fn login(
    State(state): State<AppState>,
    Meta(meta): Meta,
    AppJson(input): AppJson<LoginInput>,
) -> Result<axum::Json<TokenPair>> {
    Ok(axum::Json(accounts::login(&state, input, &meta).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshInput {
    pub refresh_token: String,
}

/// Exchange a refresh token for a new token pair (the old one stops working).
#[utoipa::path(post, path = "/auth/refresh", tag = "auth",
    request_body = RefreshInput,
    responses(
        (status = 200, body = TokenPair),
        (status = 401, description = "`invalid_refresh_token`, `refresh_token_reused` (session revoked)", body = ErrorBody),
    ))]
pub async fn refresh(
    State(state): State<AppState>,
    Meta(meta): Meta,
    AppJson(input): AppJson<RefreshInput>,
) -> Result<axum::Json<TokenPair>> {
    Ok(axum::Json(
        accounts::refresh(&state, &input.refresh_token, &meta).await?,
    ))
}

/// End the current session: its access and refresh tokens stop working.
#[utoipa::path(post, path = "/auth/logout", tag = "auth", security(("bearer" = [])),
    responses((status = 204), (status = 401, body = ErrorBody)))]
pub async fn logout(
    State(state): State<AppState>,
    Auth(p): Auth,
    Meta(meta): Meta,
) -> Result<StatusCode> {
    accounts::logout(&state, &p.user_id, &p.session_id, &meta).await?;
    // Open sockets of this session close now, on every node, not at their session check.
    sessions::announce_ended(&state, &p.user_id, Ended::One(&p.session_id)).await;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangePasswordInput {
    pub current_password: String,
    pub new_password: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PasswordChanged {
    /// Other sessions signed out by the change.
    pub sessions_revoked: u64,
}

/// Change the password; every other session is signed out.
#[utoipa::path(post, path = "/auth/password", tag = "auth", security(("bearer" = [])),
    request_body = ChangePasswordInput,
    responses((status = 200, body = PasswordChanged), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn change_password(
    State(state): State<AppState>,
    Auth(p): Auth,
    Meta(meta): Meta,
    AppJson(input): AppJson<ChangePasswordInput>,
) -> Result<axum::Json<PasswordChanged>> {
    let revoked = accounts::change_password(
        &state,
        &p.user_id,
        &p.session_id,
        &input.current_password,
        &input.new_password,
        &meta,
    )
    .await?;
    sessions::announce_ended(&state, &p.user_id, Ended::AllBut(&p.session_id)).await;
    Ok(axum::Json(PasswordChanged {
        sessions_revoked: revoked,
    }))
}

/// Start TOTP enrolment: returns the secret and an `otpauth://` URI for the app.
#[utoipa::path(post, path = "/auth/mfa/totp", tag = "mfa", security(("bearer" = [])),
    responses((status = 200, body = MfaEnrolment), (status = 409, description = "`mfa_already_enabled`", body = ErrorBody)))]
pub async fn enrol_totp(
    State(state): State<AppState>,
    Auth(p): Auth,
    Meta(meta): Meta,
) -> Result<axum::Json<MfaEnrolment>> {
    Ok(axum::Json(
        accounts::enrol_totp(&state, &p.user_id, &meta).await?,
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfirmTotpInput {
    /// A current 6-digit code from the authenticator app.
    pub code: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RecoveryCodes {
    /// One-time codes for when the authenticator is lost. Shown only now.
    pub recovery_codes: Vec<String>,
}

/// Confirm enrolment with a code; MFA is on from now and recovery codes are returned.
#[utoipa::path(post, path = "/auth/mfa/totp/confirm", tag = "mfa", security(("bearer" = [])),
    request_body = ConfirmTotpInput,
    responses((status = 200, body = RecoveryCodes), (status = 401, description = "`invalid_mfa_code`", body = ErrorBody)))]
pub async fn confirm_totp(
    State(state): State<AppState>,
    Auth(p): Auth,
    Meta(meta): Meta,
    AppJson(input): AppJson<ConfirmTotpInput>,
) -> Result<axum::Json<RecoveryCodes>> {
    let codes = accounts::confirm_totp(&state, &p.user_id, &input.code, &meta).await?;
    Ok(axum::Json(RecoveryCodes {
        recovery_codes: codes,
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DisableTotpInput {
    pub password: String,
    pub totp_code: Option<String>,
    pub recovery_code: Option<String>,
}

/// Turn MFA off (needs the password and a second factor).
#[utoipa::path(post, path = "/auth/mfa/totp/disable", tag = "mfa", security(("bearer" = [])),
    request_body = DisableTotpInput,
    responses((status = 204), (status = 401, body = ErrorBody)))]
pub async fn disable_totp(
    State(state): State<AppState>,
    Auth(p): Auth,
    Meta(meta): Meta,
    AppJson(input): AppJson<DisableTotpInput>,
) -> Result<StatusCode> {
    accounts::disable_totp(
        &state,
        &p.user_id,
        &input.password,
        input.totp_code.as_deref(),
        input.recovery_code.as_deref(),
        &meta,
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}
