//! Sessions: issuing token pairs, rotating refresh tokens, logout.

use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;

use super::RequestMeta;
use crate::{
    audit::{self, AuditEvent, Outcome},
    auth::tokens::{opaque_token, token_hash},
    error::{Error, Result},
    state::AppState,
    store::{
        Conn,
        sessions::{self, RefreshLookup},
    },
};

/// What a successful login or refresh returns.
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenPair {
    /// Short-lived JWT for `Authorization: Bearer`.
    pub access_token: String,
    pub token_type: &'static str,
    /// Seconds until `access_token` expires.
    pub expires_in: i64,
    /// Single-use token for `POST /api/v1/auth/refresh`; each use returns a new one.
    pub refresh_token: String,
    pub session_id: String,
}

fn pair(state: &AppState, user_id: &str, session_id: &str, refresh: String) -> Result<TokenPair> {
    let access = state
        .signer
        .issue(user_id, session_id, state.clock.now_secs())
        .map_err(Error::internal)?;
    Ok(TokenPair {
        access_token: access,
        token_type: "Bearer",
        expires_in: state.signer.ttl_secs(),
        refresh_token: refresh,
        session_id: session_id.to_owned(),
    })
}

/// Opens a session inside the caller's transaction and returns its first tokens.
pub(super) async fn start_session(
    state: &AppState,
    conn: &mut Conn,
    user_id: &str,
    meta: &RequestMeta,
    now: i64,
) -> Result<TokenPair> {
    let session_id = uuid::Uuid::now_v7().to_string();
    let ttl_ms =
        i64::try_from(state.config.auth.refresh_token_ttl_secs * 1000).map_err(Error::internal)?;
    let user_agent = meta.user_agent.as_deref().map(|ua| truncate(ua, 256));
    sessions::insert(
        conn,
        &sessions::NewSession {
            id: &session_id,
            user_id,
            now,
            expires_at: now + ttl_ms,
            client_ip: meta.ip.as_deref(),
            user_agent: user_agent.as_deref(),
        },
    )
    .await?;
    let refresh = opaque_token();
    sessions::insert_refresh_token(conn, &token_hash(&refresh), &session_id, now).await?;
    pair(state, user_id, &session_id, refresh)
}

fn truncate(s: &str, max_chars: usize) -> String {
    s.chars().take(max_chars).collect()
}

/// Issues the session's next refresh token and access token, unless the
/// session has been revoked or has expired.
async fn next_pair(
    state: &AppState,
    mut tx: sqlx::Transaction<'static, sqlx::Any>,
    session_id: &str,
    now: i64,
) -> Result<TokenPair> {
    let session = sessions::by_id(&mut tx, session_id)
        .await?
        .ok_or(Error::InvalidRefreshToken)?;
    if session.revoked_at.is_some() || session.expires_at <= now {
        return Err(Error::InvalidRefreshToken);
    }
    let next = opaque_token();
    sessions::insert_refresh_token(&mut tx, &token_hash(&next), session_id, now).await?;
    let result = pair(state, &session.user_id, session_id, next)?;
    tx.commit().await.map_err(Error::internal)?;
    Ok(result)
}

/// Exchanges a refresh token for a new pair. A token that was already exchanged
/// means two parties hold it — one of them a thief — so the whole session is
/// revoked and both must log in again.
pub async fn refresh(state: &AppState, token: &str, meta: &RequestMeta) -> Result<TokenPair> {
    refresh_within(state, token, meta, 0).await
}

/// How long after rotating it a browser's refresh cookie is still taken once
/// more. A page closed or reloaded while its refresh was in flight releases
/// the tabs' refresh lock before the rotated cookie is stored, so the next
/// page sends the old cookie a moment later; that is not a thief. The cookie
/// is HttpOnly and SameSite=Strict, so no script or other site can replay it.
const BROWSER_REUSE_GRACE_MS: i64 = 10_000;

/// [`refresh`] for the browser's cookie: the cookie it rotated in the last
/// [`BROWSER_REUSE_GRACE_MS`] gets a fresh pair instead of ending the session.
pub async fn refresh_browser(
    state: &AppState,
    token: &str,
    meta: &RequestMeta,
) -> Result<TokenPair> {
    refresh_within(state, token, meta, BROWSER_REUSE_GRACE_MS).await
}

async fn refresh_within(
    state: &AppState,
    token: &str,
    meta: &RequestMeta,
    grace_ms: i64,
) -> Result<TokenPair> {
    if token.is_empty() || token.len() > 128 {
        return Err(Error::InvalidRefreshToken);
    }
    let now = state.clock.now_ms();
    let mut tx = state.store.begin_write().await?;
    match sessions::rotate_refresh_token(&mut tx, &token_hash(token), now).await? {
        RefreshLookup::Rotated { session_id } => next_pair(state, tx, &session_id, now).await,
        RefreshLookup::Reused {
            session_id,
            rotated_at,
        } if now - rotated_at < grace_ms => next_pair(state, tx, &session_id, now).await,
        RefreshLookup::Reused { session_id, .. } => {
            let session = sessions::by_id(&mut tx, &session_id).await?;
            let revoked =
                sessions::revoke(&mut tx, &session_id, "refresh_token_reuse", now).await?;
            let user_id = session.as_ref().map(|s| s.user_id.as_str());
            audit::commit_with(
                tx,
                &AuditEvent::new("auth.refresh_token_reuse", Outcome::Denied)
                    .actor(user_id, meta.ip.as_deref())
                    .target("session", &session_id)
                    .details(json!({ "session_revoked": revoked })),
                now,
            )
            .await?;
            tracing::warn!(session = %session_id, "refresh token reuse; session revoked");
            Err(Error::RefreshTokenReused)
        }
        RefreshLookup::Unknown => Err(Error::InvalidRefreshToken),
    }
}

/// Revokes the caller's session: its access and refresh tokens stop working now.
pub async fn logout(
    state: &AppState,
    user_id: &str,
    session_id: &str,
    meta: &RequestMeta,
) -> Result<()> {
    let now = state.clock.now_ms();
    let mut tx = state.store.begin_write().await?;
    sessions::revoke(&mut tx, session_id, "logout", now).await?;
    audit::commit_with(
        tx,
        &AuditEvent::new("auth.logout", Outcome::Success)
            .actor(Some(user_id), meta.ip.as_deref())
            .target("session", session_id),
        now,
    )
    .await?;
    Ok(())
}
