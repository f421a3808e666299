//! Email verification and password reset: single-use tokens, stored hashed,
//! mailed through the notifier's outbox in the same transaction that creates them.
//!
//! Links carry the token in the URL fragment (`/signup#verify=…`, `/forgot#reset=…`), which
//! browsers never send to a server, so it cannot land in an access log; the page
//! posts it to the API.

use notifier::outbox::{self, Category, Delivery, NewNotification};
use serde::Deserialize;
use serde_json::json;
use sqlx::Row;
use utoipa::ToSchema;

use crate::{
    accounts::{RequestMeta, credentials::hash_password},
    audit::{self, AuditEvent, Outcome},
    auth::tokens::{opaque_token, token_hash},
    domain::{EmailAddress, Password},
    error::{Error, Result},
    state::AppState,
    store::{Conn, StoreError, sessions, users},
};

const VERIFY_TTL_MS: i64 = 24 * 3_600_000;
const RESET_TTL_MS: i64 = 30 * 60_000;
/// At most one reset mail per account per window, however often it is asked for.
const RESET_WINDOW_MS: i64 = 5 * 60_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Purpose {
    VerifyEmail,
    PasswordReset,
}

impl Purpose {
    fn as_str(self) -> &'static str {
        match self {
            Purpose::VerifyEmail => "verify_email",
            Purpose::PasswordReset => "password_reset",
        }
    }
}

/// Creates a token and queues the mail carrying it, in the caller's transaction.
/// `dedupe` names the notice: a second request with the same key queues nothing
/// (and creates no token).
async fn issue(
    conn: &mut Conn,
    state: &AppState,
    user_id: &str,
    purpose: Purpose,
    dedupe: String,
    now: i64,
) -> Result<bool> {
    let token = opaque_token();
    // The sign-up page confirms the address, the forgot-password page sets the
    // new password; the token rides in the fragment, which browsers never send.
    let (template, page, fragment, ttl) = match purpose {
        Purpose::VerifyEmail => ("account.verify_email", "signup", "verify", VERIFY_TTL_MS),
        Purpose::PasswordReset => ("account.password_reset", "forgot", "reset", RESET_TTL_MS),
    };
    let link = format!(
        "{}/{page}#{fragment}={token}",
        state.config.effective_public_url()
    );
    let queued = outbox::enqueue(
        conn,
        &NewNotification {
            idempotency_key: dedupe,
            recipient_id: user_id.to_owned(),
            org_id: None,
            category: Category::Account,
            template: template.to_owned(),
            payload: json!({ "link": link }),
            subject_ref: None,
            delivery: Delivery::Email,
            due_at: now,
            expires_at: Some(now + ttl),
        },
        now,
    )
    .await
    .map_err(StoreError::from)?;
    if queued {
        sqlx::query(
            "INSERT INTO account_tokens (token_hash, user_id, purpose, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(token_hash(&token))
        .bind(user_id)
        .bind(purpose.as_str())
        .bind(now)
        .bind(now + ttl)
        .execute(&mut *conn)
        .await
        .map_err(StoreError::from)?;
    }
    Ok(queued)
}

/// Queues the verification mail for a new account (called inside registration's
/// transaction).
pub async fn queue_verification(
    conn: &mut Conn,
    state: &AppState,
    user_id: &str,
    now: i64,
) -> Result<()> {
    issue(
        conn,
        state,
        user_id,
        Purpose::VerifyEmail,
        format!("account.verify_email:{user_id}:{now}"),
        now,
    )
    .await?;
    Ok(())
}

/// Sends a fresh verification mail to a signed-in user whose address is not
/// verified yet.
pub async fn resend_verification(state: &AppState, user_id: &str) -> Result<()> {
    let now = state.clock.now_ms();
    let mut tx = state.store.begin_write().await?;
    let verified: Option<i64> =
        sqlx::query_scalar("SELECT email_verified_at FROM users WHERE id = $1")
            .bind(user_id)
            .fetch_one(&mut *tx)
            .await
            .map_err(StoreError::from)?;
    if verified.is_some() {
        return Err(Error::conflict(
            "already_verified",
            "this email address is already verified",
        ));
    }
    let window = now / RESET_WINDOW_MS;
    issue(
        &mut tx,
        state,
        user_id,
        Purpose::VerifyEmail,
        format!("account.verify_email:{user_id}:w{window}"),
        now,
    )
    .await?;
    tx.commit().await.map_err(StoreError::from)?;
    state.notifications.wake();
    Ok(())
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenInput {
    pub token: String,
}

/// Marks the token single-used and returns its user, or `invalid_token`.
async fn redeem(conn: &mut Conn, token: &str, purpose: Purpose, now: i64) -> Result<String> {
    let invalid = || {
        Error::invalid(
            "token",
            "invalid_token",
            "this link is invalid, used or expired",
        )
    };
    if token.is_empty() || token.len() > 200 {
        return Err(invalid());
    }
    let row = sqlx::query(
        "UPDATE account_tokens SET used_at = $3 WHERE token_hash = $1 AND purpose = $2 \
         AND used_at IS NULL AND expires_at > $3 RETURNING user_id",
    )
    .bind(token_hash(token))
    .bind(purpose.as_str())
    .bind(now)
    .fetch_optional(&mut *conn)
    .await
    .map_err(StoreError::from)?
    .ok_or_else(invalid)?;
    Ok(row.try_get("user_id").map_err(StoreError::from)?)
}

pub async fn verify_email(state: &AppState, input: TokenInput, meta: &RequestMeta) -> Result<()> {
    let now = state.clock.now_ms();
    let mut tx = state.store.begin_write().await?;
    let user_id = redeem(&mut tx, input.token.trim(), Purpose::VerifyEmail, now).await?;
    sqlx::query("UPDATE users SET email_verified_at = $2, updated_at = $2 WHERE id = $1 AND email_verified_at IS NULL")
        .bind(&user_id)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(StoreError::from)?;
    audit::commit_with(
        tx,
        &AuditEvent::new("account.verify_email", Outcome::Success)
            .actor(Some(&user_id), meta.ip.as_deref())
            .target("user", &user_id),
        now,
    )
    .await?;
    Ok(())
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetRequest {
    pub email: String,
}

/// Queues a reset mail if an active account has this address. The answer is the
/// same either way, so the endpoint does not reveal who has an account.
pub async fn request_reset(
    state: &AppState,
    input: ResetRequest,
    meta: &RequestMeta,
) -> Result<()> {
    let email = EmailAddress::parse(&input.email)?;
    let now = state.clock.now_ms();
    let mut tx = state.store.begin_write().await?;
    let user = users::by_email(&mut tx, email.as_str()).await?;
    let Some(user) = user.filter(|u| u.is_active()) else {
        return Ok(());
    };
    let window = now / RESET_WINDOW_MS;
    let queued = issue(
        &mut tx,
        state,
        &user.id,
        Purpose::PasswordReset,
        format!("account.password_reset:{}:{window}", user.id),
        now,
    )
    .await?;
    audit::commit_with(
        tx,
        &AuditEvent::new("account.password_reset_request", Outcome::Success)
            .actor(None, meta.ip.as_deref())
            .target("user", &user.id)
            .details(json!({ "mail_queued": queued })),
        now,
    )
    .await?;
    state.notifications.wake();
    Ok(())
}

/// Tells the owner of `email` that someone tried to register with it (the
/// registration answer itself does not say so). At most one such mail per
/// account per window, so repeated attempts cannot flood a mailbox. A disabled
/// account gets nothing.
pub async fn tell_owner_of_attempt(
    state: &AppState,
    email: &EmailAddress,
    meta: &RequestMeta,
) -> Result<()> {
    let now = state.clock.now_ms();
    let mut tx = state.store.begin_write().await?;
    let Some(user) = users::by_email(&mut tx, email.as_str())
        .await?
        .filter(|u| u.is_active())
    else {
        return Ok(());
    };
    let window = now / RESET_WINDOW_MS;
    let queued = outbox::enqueue(
        &mut tx,
        &NewNotification {
            idempotency_key: format!("account.register_attempt:{}:{window}", user.id),
            recipient_id: user.id.clone(),
            org_id: None,
            category: Category::Account,
            template: "account.register_attempt".to_owned(),
            payload: json!({ "link": format!("{}/", state.config.effective_public_url()) }),
            subject_ref: None,
            delivery: Delivery::Email,
            due_at: now,
            expires_at: Some(now + VERIFY_TTL_MS),
        },
        now,
    )
    .await
    .map_err(StoreError::from)?;
    audit::commit_with(
        tx,
        &AuditEvent::new("account.register_attempt", Outcome::Denied)
            .actor(None, meta.ip.as_deref())
            .target("user", &user.id)
            .details(json!({ "mail_queued": queued })),
        now,
    )
    .await?;
    state.notifications.wake();
    Ok(())
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetConfirm {
    pub token: String,
    /// The new password, under the same policy as registration.
    pub password: String,
}

/// Sets the new password and signs the account out everywhere; the account's id
/// (the caller closes its open sockets).
pub async fn confirm_reset(
    state: &AppState,
    input: ResetConfirm,
    meta: &RequestMeta,
) -> Result<String> {
    let now = state.clock.now_ms();
    // Check the token before the (slow) hash, without using it yet.
    let user_id: Option<String> = {
        let mut conn = state.store.conn().await?;
        sqlx::query_scalar(
            "SELECT user_id FROM account_tokens WHERE token_hash = $1 AND purpose = 'password_reset' \
             AND used_at IS NULL AND expires_at > $2",
        )
        .bind(token_hash(input.token.trim()))
        .bind(now)
        .fetch_optional(&mut *conn)
        .await
        .map_err(StoreError::from)?
    };
    let user_id = user_id.ok_or_else(|| {
        Error::invalid(
            "token",
            "invalid_token",
            "this link is invalid, used or expired",
        )
    })?;
    let mut conn = state.store.conn().await?;
    let user = users::by_id(&mut conn, &user_id)
        .await?
        .ok_or(Error::NotFound("account"))?;
    drop(conn);
    let email = EmailAddress::parse(&user.email).ok();
    let password = Password::parse_new(&input.password, email.as_ref())?;
    let hash = hash_password(password.expose()).await?;
    let mut tx = state.store.begin_write().await?;
    let redeemed = redeem(&mut tx, input.token.trim(), Purpose::PasswordReset, now).await?;
    users::set_password_hash(&mut tx, &redeemed, &hash, now).await?;
    // Whoever could read the mailbox could reset; a reset also proves the address.
    sqlx::query(
        "UPDATE users SET email_verified_at = COALESCE(email_verified_at, $2) WHERE id = $1",
    )
    .bind(&redeemed)
    .bind(now)
    .execute(&mut *tx)
    .await
    .map_err(StoreError::from)?;
    let revoked =
        sessions::revoke_all_for_user(&mut tx, &redeemed, None, "password_reset", now).await?;
    audit::commit_with(
        tx,
        &AuditEvent::new("account.password_reset", Outcome::Success)
            .actor(Some(&redeemed), meta.ip.as_deref())
            .target("user", &redeemed)
            .details(json!({ "sessions_revoked": revoked })),
        now,
    )
    .await?;
    Ok(redeemed)
}
