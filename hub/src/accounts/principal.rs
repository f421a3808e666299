//! Who is calling: an access token checked against its live session.

use crate::{
    auth::tokens::TokenError,
    error::{Error, Result},
    state::AppState,
    store::{sessions, users},
};

/// An authenticated caller, attached to the request by the `authorize` middleware.
#[derive(Debug, Clone)]
pub struct Principal {
    pub user_id: String,
    pub session_id: String,
    pub email: String,
    pub platform_admin: bool,
}

/// Verifies the token, then that its session is live and its user active. The
/// database check costs one indexed read per request and buys immediate effect
/// for logout, refresh-token theft detection and disabling an account.
pub async fn authenticate(state: &AppState, token: &str) -> Result<Principal> {
    let claims = state
        .signer
        .verify(token, state.clock.now_secs())
        .map_err(|e| match e {
            TokenError::Expired => Error::TokenExpired,
            TokenError::Invalid => Error::Unauthenticated,
        })?;
    let mut conn = state.store.conn().await?;
    let session = sessions::by_id(&mut conn, &claims.sid)
        .await?
        .filter(|s| s.user_id == claims.sub)
        .ok_or(Error::Unauthenticated)?;
    if session.revoked_at.is_some() || session.expires_at <= state.clock.now_ms() {
        return Err(Error::Unauthenticated);
    }
    let user = users::by_id(&mut conn, &claims.sub)
        .await?
        .filter(|u| u.is_active())
        .ok_or(Error::Unauthenticated)?;
    Ok(Principal {
        platform_admin: user.is_platform_admin(),
        user_id: user.id,
        session_id: session.id,
        email: user.email,
    })
}
