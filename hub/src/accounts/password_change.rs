//! Changing one's password.

use serde_json::json;

use super::{
    RequestMeta,
    credentials::{hash_password, verify_password},
    throttling,
};
use crate::{
    audit::{self, AuditEvent, Outcome},
    domain::{EmailAddress, Password},
    error::{Error, Result},
    state::AppState,
    store::{sessions, users},
};

/// Verifies the current password, applies the policy to the new one, and revokes
/// every other session: whoever knew the old password is signed out.
pub async fn change_password(
    state: &AppState,
    user_id: &str,
    session_id: &str,
    current: &str,
    new: &str,
    meta: &RequestMeta,
) -> Result<u64> {
    let mut conn = state.store.conn().await?;
    let user = users::by_id(&mut conn, user_id)
        .await?
        .ok_or(Error::Unauthenticated)?;
    drop(conn);
    throttling::check_account(state, user_id).await?;
    if !verify_password(current, &user.password_hash).await? {
        throttling::account_failure(
            state,
            meta,
            "account.password_change",
            user_id,
            "bad_password",
        )
        .await?;
        return Err(Error::InvalidCredentials);
    }
    let email = EmailAddress::parse(&user.email).ok();
    let password =
        Password::parse_new(new, email.as_ref()).map_err(|e| e.for_field("new_password"))?;
    let hash = hash_password(password.expose()).await?;
    let now = state.clock.now_ms();
    let mut tx = state.store.begin_write().await?;
    users::set_password_hash(&mut tx, user_id, &hash, now).await?;
    let revoked =
        sessions::revoke_all_for_user(&mut tx, user_id, Some(session_id), "password_change", now)
            .await?;
    audit::commit_with(
        tx,
        &AuditEvent::new("account.password_change", Outcome::Success)
            .actor(Some(user_id), meta.ip.as_deref())
            .target("user", user_id)
            .details(json!({ "other_sessions_revoked": revoked })),
        now,
    )
    .await?;
    Ok(revoked)
}
