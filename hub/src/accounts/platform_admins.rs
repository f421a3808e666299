//! Who operates the installation: granting and revoking the platform-admin flag.
//!
//! The flag is read from the database on every request (`authenticate`), so a
//! grant or a revocation takes effect on the account's next request. At least
//! one active platform admin always remains (`last_platform_admin`), or nobody
//! could create organizations or re-enable accounts.

use serde::Serialize;
use utoipa::ToSchema;

use super::{Principal, RequestMeta};
use crate::{
    audit::{self, AuditEvent, Outcome},
    domain::EmailAddress,
    error::{Error, Result},
    state::AppState,
    store::users,
};

#[derive(Debug, Serialize, ToSchema)]
pub struct PlatformAdminView {
    pub user_id: String,
    pub display_name: String,
    pub email: String,
    /// `active` or `disabled`.
    pub status: String,
}

pub async fn list(state: &AppState) -> Result<Vec<PlatformAdminView>> {
    let mut conn = state.store.conn().await?;
    Ok(users::platform_admins(&mut conn)
        .await?
        .into_iter()
        .map(|u| PlatformAdminView {
            user_id: u.id,
            display_name: u.display_name,
            email: u.email,
            status: u.status,
        })
        .collect())
}

/// Makes the account with `email` a platform admin (it must exist: the person
/// registers or accepts an invite first). Granting twice changes nothing.
pub async fn grant(
    state: &AppState,
    caller: &Principal,
    email: &str,
    meta: &RequestMeta,
) -> Result<PlatformAdminView> {
    let email = EmailAddress::parse(email)?;
    let now = state.clock.now_ms();
    let mut tx = state.store.begin_write().await?;
    let user = users::by_email(&mut tx, email.as_str())
        .await?
        .ok_or(Error::NotFound("user"))?;
    let view = PlatformAdminView {
        user_id: user.id.clone(),
        display_name: user.display_name.clone(),
        email: user.email.clone(),
        status: user.status.clone(),
    };
    if user.is_platform_admin() {
        return Ok(view);
    }
    users::set_platform_admin(&mut tx, &user.id, true, now).await?;
    audit::commit_with(
        tx,
        &AuditEvent::new("platform_admin.grant", Outcome::Success)
            .actor(Some(&caller.user_id), meta.ip.as_deref())
            .target("user", &user.id),
        now,
    )
    .await?;
    Ok(view)
}

/// Takes the flag away; refuses the last active platform admin (oneself
/// included, which otherwise is allowed: someone else remains).
pub async fn revoke(
    state: &AppState,
    caller: &Principal,
    user_id: &str,
    meta: &RequestMeta,
) -> Result<()> {
    uuid::Uuid::parse_str(user_id).map_err(|_| Error::NotFound("platform admin"))?;
    let now = state.clock.now_ms();
    let mut tx = state.store.begin_write().await?;
    let user = users::by_id(&mut tx, user_id)
        .await?
        .filter(users::UserRow::is_platform_admin)
        .ok_or(Error::NotFound("platform admin"))?;
    if user.is_active() && users::count_active_platform_admins(&mut tx).await? <= 1 {
        return Err(Error::conflict(
            "last_platform_admin",
            "the installation must keep at least one active platform admin",
        ));
    }
    users::set_platform_admin(&mut tx, user_id, false, now).await?;
    audit::commit_with(
        tx,
        &AuditEvent::new("platform_admin.revoke", Outcome::Success)
            .actor(Some(&caller.user_id), meta.ip.as_deref())
            .target("user", user_id),
        now,
    )
    .await?;
    Ok(())
}
