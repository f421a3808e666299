//! Where an account is signed in: the list of its live sessions, signing one
//! of them out, and signing out everywhere. The list shows what a person needs
//! to recognise a device (when it signed in, when it was last used, which
//! browser on which system), never a token or an address.

use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;

use super::RequestMeta;
use crate::{
    audit::{self, AuditEvent, Outcome},
    clock::rfc3339,
    error::{Error, Result},
    state::AppState,
    store::sessions,
};

/// One signed-in session of the caller.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionView {
    pub id: String,
    /// When it signed in (RFC 3339).
    pub created_at: String,
    /// When it last got fresh tokens (sign-in or refresh), RFC 3339.
    pub last_used_at: String,
    /// "Chrome on Linux", "Firefox on Windows", "Safari on iOS", "Other device".
    pub device: String,
    /// The session making this request.
    pub current: bool,
}

/// The caller's live sessions, newest first.
pub async fn list(state: &AppState, user_id: &str, current: &str) -> Result<Vec<SessionView>> {
    let now = state.clock.now_ms();
    let mut conn = state.store.conn().await?;
    let rows = sessions::live_for_user(&mut conn, user_id, now).await?;
    Ok(rows
        .into_iter()
        .map(|s| SessionView {
            current: s.id == current,
            created_at: rfc3339(s.created_at),
            last_used_at: rfc3339(s.last_used_at.unwrap_or(s.created_at)),
            device: device(s.user_agent.as_deref()),
            id: s.id,
        })
        .collect())
}

/// Signs out one of the caller's own sessions. Another account's session, or
/// one already ended, is `not_found`: the answer never tells whose it is.
pub async fn sign_out(
    state: &AppState,
    user_id: &str,
    session_id: &str,
    meta: &RequestMeta,
) -> Result<()> {
    let now = state.clock.now_ms();
    let mut tx = state.store.begin_write().await?;
    let owned = sessions::by_id(&mut tx, session_id)
        .await?
        .filter(|s| s.user_id == user_id && s.revoked_at.is_none() && s.expires_at > now);
    if owned.is_none() {
        return Err(Error::NotFound("session"));
    }
    sessions::revoke(&mut tx, session_id, "signed_out_by_owner", now).await?;
    audit::commit_with(
        tx,
        &AuditEvent::new("auth.session_signed_out", Outcome::Success)
            .actor(Some(user_id), meta.ip.as_deref())
            .target("session", session_id),
        now,
    )
    .await?;
    Ok(())
}

/// Ends every session of the caller, this one included; returns how many.
pub async fn sign_out_everywhere(
    state: &AppState,
    user_id: &str,
    meta: &RequestMeta,
) -> Result<u64> {
    let now = state.clock.now_ms();
    let mut tx = state.store.begin_write().await?;
    let revoked =
        sessions::revoke_all_for_user(&mut tx, user_id, None, "signed_out_everywhere", now).await?;
    audit::commit_with(
        tx,
        &AuditEvent::new("auth.logout_everywhere", Outcome::Success)
            .actor(Some(user_id), meta.ip.as_deref())
            .target("user", user_id)
            .details(json!({ "sessions_revoked": revoked })),
        now,
    )
    .await?;
    Ok(revoked)
}

/// A short, recognisable name for the device behind a `User-Agent`. Order
/// matters: Edge and Opera say "Chrome" too, Chrome says "Safari", Android
/// says "Linux" and iOS says "Mac OS X".
pub fn device(user_agent: Option<&str>) -> String {
    let ua = user_agent.unwrap_or_default();
    let browser = [
        ("Edg/", "Edge"),
        ("OPR/", "Opera"),
        ("Firefox/", "Firefox"),
        ("Chrome/", "Chrome"),
        ("Chromium/", "Chromium"),
        ("Safari/", "Safari"),
    ]
    .into_iter()
    .find(|(mark, _)| ua.contains(mark))
    .map(|(_, name)| name);
    let system = [
        ("Android", "Android"),
        ("iPhone", "iOS"),
        ("iPad", "iPadOS"),
        ("Windows", "Windows"),
        ("Mac OS X", "macOS"),
        ("CrOS", "ChromeOS"),
        ("Linux", "Linux"),
    ]
    .into_iter()
    .find(|(mark, _)| ua.contains(mark))
    .map(|(_, name)| name);
    match (browser, system) {
        (Some(b), Some(s)) => format!("{b} on {s}"),
        (Some(b), None) => b.to_owned(),
        (None, Some(s)) => format!("App on {s}"),
        (None, None) => "Other device".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::device;

    #[test]
    fn names_common_browsers_and_systems() {
        let chrome_linux = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";
        assert_eq!(device(Some(chrome_linux)), "Chrome on Linux");
        let iphone = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1";
        assert_eq!(device(Some(iphone)), "Safari on iOS");
        let edge = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36 Edg/131.0";
        assert_eq!(device(Some(edge)), "Edge on Windows");
        let firefox_android =
            "Mozilla/5.0 (Android 14; Mobile; rv:133.0) Gecko/133.0 Firefox/133.0";
        assert_eq!(device(Some(firefox_android)), "Firefox on Android");
        assert_eq!(device(Some("reqwest/0.12")), "Other device");
        assert_eq!(device(None), "Other device");
    }
}
