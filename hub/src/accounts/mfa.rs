//! TOTP enrolment (RFC 6238): start, confirm with a code, disable.

use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;

use super::{
    RequestMeta,
    credentials::{SecondFactor, check_second_factor, open_totp_secret, totp_aad, verify_password},
    throttling,
};
use crate::{
    audit::{self, AuditEvent, Outcome},
    auth::totp,
    error::{Error, Result},
    state::AppState,
    store::{mfa, users},
};

const RECOVERY_CODES: usize = 10;

/// What an authenticator app needs: scan `qr_svg` (the `otpauth_uri` as a QR
/// code) or type `secret`.
#[derive(Debug, Serialize, ToSchema)]
pub struct MfaEnrolment {
    pub secret: String,
    pub otpauth_uri: String,
    /// `otpauth_uri` as a QR code: an SVG document (black modules on white,
    /// with the quiet zone), for the page to show as it is.
    pub qr_svg: String,
}

/// The QR code of `uri` as SVG, drawn by the `qrcode` crate. Medium error
/// correction keeps the code small enough for a phone camera at arm's length.
fn qr_svg(uri: &str) -> Result<String> {
    use qrcode::{EcLevel, QrCode, render::svg};
    let code =
        QrCode::with_error_correction_level(uri.as_bytes(), EcLevel::M).map_err(Error::internal)?;
    Ok(code
        .render::<svg::Color<'_>>()
        .min_dimensions(200, 200)
        .dark_color(svg::Color("#000000"))
        .light_color(svg::Color("#ffffff"))
        .quiet_zone(true)
        .build())
}

/// Starts enrolment with a fresh secret, stored encrypted and unconfirmed; login
/// does not ask for codes until the user proves their app works.
pub async fn enrol_totp(
    state: &AppState,
    user_id: &str,
    meta: &RequestMeta,
) -> Result<MfaEnrolment> {
    let now = state.clock.now_ms();
    let mut tx = state.store.begin_write().await?;
    let user = users::by_id(&mut tx, user_id)
        .await?
        .ok_or(Error::Unauthenticated)?;
    if user.mfa_enabled() {
        return Err(Error::conflict(
            "mfa_already_enabled",
            "two-factor authentication is already on; disable it first to enrol a new app",
        ));
    }
    let secret = totp::TotpSecret::generate();
    let sealed = state.keyring.encrypt(secret.as_bytes(), &totp_aad(user_id));
    mfa::put_pending(&mut tx, user_id, &sealed.ciphertext, &sealed.key_id, now).await?;
    audit::commit_with(
        tx,
        &AuditEvent::new("mfa.totp_enrol_started", Outcome::Success)
            .actor(Some(user_id), meta.ip.as_deref())
            .target("user", user_id),
        now,
    )
    .await?;
    let otpauth_uri = totp::otpauth_uri(&secret, &state.config.auth.mfa_issuer, &user.email);
    Ok(MfaEnrolment {
        secret: secret.to_base32(),
        qr_svg: qr_svg(&otpauth_uri)?,
        otpauth_uri,
    })
}

/// Confirms enrolment with a current code; returns the recovery codes, shown once.
pub async fn confirm_totp(
    state: &AppState,
    user_id: &str,
    code: &str,
    meta: &RequestMeta,
) -> Result<Vec<String>> {
    let now = state.clock.now_ms();
    let mut tx = state.store.begin_write().await?;
    let row = mfa::get(&mut tx, user_id).await?.ok_or(Error::conflict(
        "mfa_not_enrolled",
        "start enrolment with POST /api/v1/auth/mfa/totp first",
    ))?;
    if row.confirmed_at.is_some() {
        return Err(Error::conflict(
            "mfa_already_enabled",
            "two-factor authentication is already on",
        ));
    }
    let secret = open_totp_secret(state, user_id, &row)?;
    let now_secs = u64::try_from(state.clock.now_secs()).unwrap_or(0);
    let Some(step) = totp::verify(&secret, code, now_secs, None) else {
        // A wrong confirmation code changes nothing; enrolment can be retried.
        return Err(Error::InvalidMfaCode);
    };
    mfa::claim_step(
        &mut tx,
        user_id,
        i64::try_from(step).map_err(Error::internal)?,
    )
    .await?;
    mfa::confirm(&mut tx, user_id, now).await?;
    users::set_mfa_enabled(&mut tx, user_id, true, now).await?;
    let codes = totp::generate_recovery_codes(RECOVERY_CODES);
    let hashes: Vec<String> = codes
        .iter()
        .filter_map(|c| totp::normalize_recovery_code(c))
        .map(|c| totp::hash_recovery_code(&c))
        .collect();
    mfa::replace_recovery_codes(&mut tx, user_id, &hashes).await?;
    audit::commit_with(
        tx,
        &AuditEvent::new("mfa.totp_enabled", Outcome::Success)
            .actor(Some(user_id), meta.ip.as_deref())
            .target("user", user_id)
            .details(json!({ "recovery_codes": codes.len() })),
        now,
    )
    .await?;
    Ok(codes)
}

/// Turns MFA off. Needs the password and a current second factor, so a stolen
/// access token alone cannot weaken the account.
pub async fn disable_totp(
    state: &AppState,
    user_id: &str,
    password: &str,
    totp_code: Option<&str>,
    recovery_code: Option<&str>,
    meta: &RequestMeta,
) -> Result<()> {
    let now = state.clock.now_ms();
    let mut conn = state.store.conn().await?;
    let user = users::by_id(&mut conn, user_id)
        .await?
        .ok_or(Error::Unauthenticated)?;
    if !user.mfa_enabled() {
        return Err(Error::conflict(
            "mfa_not_enabled",
            "two-factor authentication is off",
        ));
    }
    throttling::check_account(state, user_id).await?;
    if !verify_password(password, &user.password_hash).await? {
        drop(conn);
        throttling::account_failure(state, meta, "mfa.totp_disable", user_id, "bad_password")
            .await?;
        return Err(Error::InvalidCredentials);
    }
    let factor = match (totp_code, recovery_code) {
        (Some(code), _) => SecondFactor::Totp(code),
        (None, Some(code)) => SecondFactor::Recovery(code),
        (None, None) => return Err(Error::MfaRequired),
    };
    if !check_second_factor(state, &mut conn, user_id, factor).await? {
        drop(conn);
        throttling::account_failure(state, meta, "mfa.totp_disable", user_id, "bad_mfa_code")
            .await?;
        return Err(Error::InvalidMfaCode);
    }
    drop(conn);
    let mut tx = state.store.begin_write().await?;
    mfa::delete(&mut tx, user_id).await?;
    users::set_mfa_enabled(&mut tx, user_id, false, now).await?;
    audit::commit_with(
        tx,
        &AuditEvent::new("mfa.totp_disabled", Outcome::Success)
            .actor(Some(user_id), meta.ip.as_deref())
            .target("user", user_id),
        now,
    )
    .await?;
    Ok(())
}
