//! Password login with optional second factor, throttled per account and per
//! client address.

use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;

use super::throttling::{check_gate, record_failure};
use super::{
    RequestMeta,
    credentials::{SecondFactor, check_second_factor, verify_password},
    session::{TokenPair, start_session},
};
use crate::{
    audit::{self, AuditEvent, Outcome},
    auth::{lockout::Limits, password::dummy_hash},
    domain::{EmailAddress, Password},
    error::{Error, Result},
    state::AppState,
    store::{throttle, users},
};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginInput {
    pub email: String,
    pub password: String,
    /// The 6-digit code from the authenticator app, when MFA is on.
    pub totp_code: Option<String>,
    /// A one-time recovery code, instead of `totp_code`.
    pub recovery_code: Option<String>,
}

pub async fn login(state: &AppState, input: LoginInput, meta: &RequestMeta) -> Result<TokenPair> {
    let cfg = &state.config.auth.lockout;
    let now = state.clock.now_ms();
    let ip_key = format!("ip:{}", meta.ip.as_deref().unwrap_or("unknown"));
    let mut conn = state.store.conn().await?;

    if let Err(e) = check_gate(&mut conn, &ip_key, Limits::ip(cfg), state, false).await {
        state.metrics.login("address_blocked");
        return Err(e);
    }

    // Malformed input is just a failed login: the response must not reveal policy.
    let email = EmailAddress::parse(&input.email).ok();
    let password = Password::for_login(&input.password).ok();
    let user = match &email {
        Some(email) => users::by_email(&mut conn, email.as_str()).await?,
        None => None,
    };
    let account_key = user.as_ref().map(|u| super::throttling::account_key(&u.id));
    if let (Some(key), Some(user)) = (&account_key, &user)
        && let Err(e) = check_gate(&mut conn, key, Limits::account(cfg), state, true).await
    {
        drop(conn);
        record_failure(
            state,
            meta,
            "auth.login",
            Some(&user.id),
            Outcome::Denied,
            "locked",
            &[],
        )
        .await?;
        state.metrics.login("locked");
        return Err(e);
    }

    // The slow hash runs without holding a pooled connection: a burst of logins
    // must not starve every other request of database connections.
    drop(conn);
    // Verify against a dummy hash when there is no such user, so the time taken
    // does not reveal whether an account exists.
    let phc = user
        .as_ref()
        .map_or(dummy_hash(), |u| u.password_hash.as_str());
    let plain = password.as_ref().map_or("", |p| p.expose());
    let password_ok = verify_password(plain, phc).await? && password.is_some() && user.is_some();
    let user = match user {
        Some(user) if password_ok && user.is_active() => user,
        other => {
            let reason = match &other {
                None => "unknown_account",
                Some(u) if !u.is_active() => "account_disabled",
                Some(_) => "bad_password",
            };
            let user_id = other.as_ref().map(|u| u.id.as_str());
            let keys = [Some(ip_key.as_str()), account_key.as_deref()];
            record_failure(
                state,
                meta,
                "auth.login",
                user_id,
                Outcome::Failure,
                reason,
                &keys,
            )
            .await?;
            state.metrics.login("failure");
            return Err(Error::InvalidCredentials);
        }
    };

    if user.mfa_enabled() {
        let factor = match (&input.totp_code, &input.recovery_code) {
            (Some(code), _) => SecondFactor::Totp(code),
            (None, Some(code)) => SecondFactor::Recovery(code),
            (None, None) => {
                state.metrics.login("mfa_required");
                return Err(Error::MfaRequired);
            }
        };
        let mut conn = state.store.conn().await?;
        if !check_second_factor(state, &mut conn, &user.id, factor).await? {
            drop(conn);
            let keys = [Some(ip_key.as_str()), account_key.as_deref()];
            record_failure(
                state,
                meta,
                "auth.login",
                Some(&user.id),
                Outcome::Failure,
                "bad_mfa_code",
                &keys,
            )
            .await?;
            state.metrics.login("failure");
            return Err(Error::InvalidMfaCode);
        }
    }

    let mut tx = state.store.begin_write().await?;
    if let Some(key) = &account_key {
        throttle::clear(&mut tx, key).await?;
    }
    let pair = start_session(state, &mut tx, &user.id, meta, now).await?;
    let method = match (&input.totp_code, &input.recovery_code, user.mfa_enabled()) {
        (_, _, false) => "password",
        (Some(_), _, true) => "password+totp",
        (None, _, true) => "password+recovery_code",
    };
    audit::commit_with(
        tx,
        &AuditEvent::new("auth.login", Outcome::Success)
            .actor(Some(&user.id), meta.ip.as_deref())
            .target("session", &pair.session_id)
            .details(json!({ "method": method })),
        now,
    )
    .await?;
    state.metrics.login("success");
    Ok(pair)
}
