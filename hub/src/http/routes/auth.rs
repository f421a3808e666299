//! `/api/v1/auth/...`: registration, login, tokens, MFA, password.

use axum::{
    body::{Body, Bytes},
    extract::{FromRequest, Request, State},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{
    accounts::{self, LoginInput, MfaEnrolment, RegisterInput, TokenPair},
    error::Result,
    gateway::sessions::{self, Ended},
    http::{
        error::ErrorBody,
        extract::{AppJson, Auth, Meta},
        session_cookie,
    },
    state::AppState,
};

/// A new access token, and the refresh token unless it went into the cookie.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionTokens {
    /// Short-lived JWT for `Authorization: Bearer`.
    pub access_token: String,
    pub token_type: &'static str,
    /// Seconds until `access_token` expires.
    pub expires_in: i64,
    /// Single-use token for `POST /api/v1/auth/refresh`; each use returns a new
    /// one. Absent when the request sent `X-Session-Cookie: 1`: it is then in
    /// the `hb_refresh` cookie only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    pub session_id: String,
}

/// Answers a new token pair the way the client asked: a browser page
/// (`X-Session-Cookie: 1`, or a refresh that came from the cookie) gets the
/// refresh token in the `HttpOnly` cookie only, other clients in the body.
fn tokens_answer(state: &AppState, in_cookie: bool, pair: TokenPair) -> Response {
    let body = |refresh_token| SessionTokens {
        access_token: pair.access_token.clone(),
        token_type: pair.token_type,
        expires_in: pair.expires_in,
        refresh_token,
        session_id: pair.session_id.clone(),
    };
    if in_cookie {
        let cookie = session_cookie::set(
            &pair.refresh_token,
            state.config.auth.refresh_token_ttl_secs,
        );
        ([(header::SET_COOKIE, cookie)], axum::Json(body(None))).into_response()
    } else {
        axum::Json(body(Some(pair.refresh_token.clone()))).into_response()
    }
}

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
        (status = 200, description = "Signed in. With `X-Session-Cookie: 1` the refresh token is set as the `hb_refresh` cookie and left out of the body", body = SessionTokens),
        (status = 401, description = "`invalid_credentials`, `mfa_required`, `invalid_mfa_code`", body = ErrorBody),
        (status = 429, description = "`too_many_attempts`, `account_locked` (see Retry-After)", body = ErrorBody),
    ))]
pub async fn login(
    State(state): State<AppState>,
    Meta(meta): Meta,
    headers: HeaderMap,
    AppJson(input): AppJson<LoginInput>,
) -> Result<Response> {
    let pair = accounts::login(&state, input, &meta).await?;
    Ok(tokens_answer(
        &state,
        session_cookie::wanted(&headers),
        pair,
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshInput {
    pub refresh_token: String,
}

/// Exchange a refresh token for a new token pair (the old one stops working).
///
/// The token comes from the body, or — for a browser page that sends
/// `X-Session-Cookie: 1` and no body — from the `hb_refresh` cookie. A page
/// with no cookie gets 204: nobody is signed in in this browser.
#[utoipa::path(post, path = "/auth/refresh", tag = "auth",
    request_body(content = RefreshInput, description = "Optional with `X-Session-Cookie: 1`: without a body the `hb_refresh` cookie is used"),
    responses(
        (status = 200, body = SessionTokens),
        (status = 204, description = "`X-Session-Cookie: 1`, no body and no cookie: no session in this browser"),
        (status = 401, description = "`invalid_refresh_token`, `refresh_token_reused` (session revoked); in cookie mode the cookie is cleared", body = ErrorBody),
    ))]
pub async fn refresh(
    State(state): State<AppState>,
    Meta(meta): Meta,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response> {
    let cookie_mode = session_cookie::wanted(&headers);
    let token = if cookie_mode && body.is_empty() {
        match session_cookie::read(&headers) {
            Some(token) => token,
            None => return Ok(StatusCode::NO_CONTENT.into_response()),
        }
    } else {
        // The body as every other JSON endpoint reads it (content type, shape).
        let mut request = Request::new(Body::from(body));
        *request.headers_mut() = headers;
        let AppJson(input) = AppJson::<RefreshInput>::from_request(request, &()).await?;
        input.refresh_token
    };
    let refreshed = if cookie_mode {
        accounts::refresh_browser(&state, &token, &meta).await
    } else {
        accounts::refresh(&state, &token, &meta).await
    };
    match refreshed {
        Ok(pair) => Ok(tokens_answer(&state, cookie_mode, pair)),
        // A dead cookie is removed, so the next page load starts signed out.
        Err(e) if cookie_mode => Ok(with_cleared_cookie(e.into_response())),
        Err(e) => Err(e),
    }
}

/// Adds the `Set-Cookie` that removes `hb_refresh` to a response.
pub(crate) fn with_cleared_cookie(mut response: Response) -> Response {
    response
        .headers_mut()
        .append(header::SET_COOKIE, session_cookie::clear());
    response
}

/// End the current session: its access and refresh tokens stop working and the
/// `hb_refresh` cookie is removed.
#[utoipa::path(post, path = "/auth/logout", tag = "auth", security(("bearer" = [])),
    responses((status = 204), (status = 401, body = ErrorBody)))]
pub async fn logout(
    State(state): State<AppState>,
    Auth(p): Auth,
    Meta(meta): Meta,
) -> Result<Response> {
    accounts::logout(&state, &p.user_id, &p.session_id, &meta).await?;
    // Open sockets of this session close now, on every node, not at their session check.
    sessions::announce_ended(&state, &p.user_id, Ended::One(&p.session_id)).await;
    Ok(with_cleared_cookie(StatusCode::NO_CONTENT.into_response()))
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

/// Start TOTP enrolment: returns the secret, an `otpauth://` URI for the app and
/// that URI as a QR code (`qr_svg`, an SVG document) to scan.
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
