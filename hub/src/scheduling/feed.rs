//! The secret calendar-feed URL: created or rotated by its user, revocable, and
//! read by calendar apps without a login (that is what the secret is for).

use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;

use super::ical::{FeedEvent, render};
use crate::{
    accounts::{Principal, RequestMeta},
    audit::{self, AuditEvent, Outcome},
    auth::tokens::{opaque_token, token_hash},
    error::{Error, Result},
    state::AppState,
    store::scheduling as store,
};

/// How far back the feed reaches.
const FEED_HISTORY_MS: i64 = 30 * 86_400_000;

#[derive(Debug, Serialize, ToSchema)]
pub struct FeedLink {
    /// Subscribe to this URL in a calendar app. It is a secret: anyone holding it
    /// sees the appointments' times. Rotating it invalidates the old one.
    pub url: String,
}

/// Creates the user's feed URL, or replaces it (the old one stops working).
pub async fn rotate_feed(
    state: &AppState,
    caller: &Principal,
    meta: &RequestMeta,
) -> Result<FeedLink> {
    let token = opaque_token();
    let now = state.clock.now_ms();
    let mut tx = state.store.begin_write().await?;
    store::set_feed(&mut tx, &caller.user_id, &token_hash(&token), now).await?;
    audit::commit_with(
        tx,
        &AuditEvent::new("calendar_feed.rotate", Outcome::Success)
            .actor(Some(&caller.user_id), meta.ip.as_deref())
            .target("user", &caller.user_id),
        now,
    )
    .await?;
    let base = state.config.effective_public_url();
    Ok(FeedLink {
        url: format!("{}/calendar/{token}.ics", base.trim_end_matches('/')),
    })
}

pub async fn revoke_feed(state: &AppState, caller: &Principal, meta: &RequestMeta) -> Result<()> {
    let now = state.clock.now_ms();
    let mut tx = state.store.begin_write().await?;
    if !store::delete_feed(&mut tx, &caller.user_id).await? {
        return Err(Error::NotFound("calendar feed"));
    }
    audit::commit_with(
        tx,
        &AuditEvent::new("calendar_feed.revoke", Outcome::Success)
            .actor(Some(&caller.user_id), meta.ip.as_deref())
            .target("user", &caller.user_id),
        now,
    )
    .await?;
    Ok(())
}

/// The feed behind a secret (the `.ics` suffix optional); `NotFound` for an
/// unknown or revoked secret. Each read is audited against the feed's owner.
pub async fn calendar_feed(state: &AppState, secret: &str, meta: &RequestMeta) -> Result<String> {
    let secret = secret.strip_suffix(".ics").unwrap_or(secret);
    if secret.len() != 43
        || !secret
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(Error::NotFound("calendar feed"));
    }
    let now = state.clock.now_ms();
    let mut conn = state.store.conn().await?;
    let owner = store::feed_owner(&mut conn, &token_hash(secret))
        .await?
        .ok_or(Error::NotFound("calendar feed"))?;
    let rows = store::feed_rows(&mut conn, &owner, now - FEED_HISTORY_MS).await?;
    drop(conn);
    let events: Vec<FeedEvent<'_>> = rows
        .iter()
        .map(|r| FeedEvent {
            appointment: &r.appointment,
            type_name: &r.type_name,
            org_name: &r.org_name,
        })
        .collect();
    let host = state
        .config
        .effective_public_url()
        .split("://")
        .nth(1)
        .unwrap_or("healthbridge")
        .trim_end_matches('/')
        .to_owned();
    let body = render(&events, now, &host);
    let tx = state.store.begin_write().await?;
    audit::commit_with(
        tx,
        &AuditEvent::new("calendar_feed.read", Outcome::Success)
            .actor(None, meta.ip.as_deref())
            .target("user", &owner)
            .details(json!({ "events": events.len() })),
        now,
    )
    .await?;
    Ok(body)
}
