//! Creating accounts and granting roles from the operator's command line.

use anyhow::bail;
use serde_json::json;

use crate::{
    audit::{self, AuditEvent, Outcome},
    auth::password,
    clock::{Clock, SystemClock},
    domain::{DisplayName, EmailAddress, OrgName, Password, Role},
    store::{Store, StoreError, orgs, users},
};

/// Creates the account if needed and grants the role; returns the user id and
/// whether the account was created. `admin` without an organization makes a
/// platform admin. Audited as an action of the operator (no actor id). Used by
/// `hub user create` to bootstrap the first admin.
pub async fn grant_role(
    store: &Store,
    email: &EmailAddress,
    name: &DisplayName,
    password: &Password,
    role: Role,
    org: Option<&OrgName>,
) -> anyhow::Result<(String, bool)> {
    let hash = password::hash(password.expose()).map_err(|e| anyhow::anyhow!("hashing: {e}"))?;
    let now = SystemClock.now_ms();
    let mut tx = store.begin_write().await?;
    let existing = users::by_email(&mut tx, email.as_str()).await?;
    let (user_id, created) = match existing {
        Some(user) => (user.id, false),
        None => {
            let id = uuid::Uuid::now_v7().to_string();
            users::insert(
                &mut tx,
                &users::NewUser {
                    id: &id,
                    email: email.as_str(),
                    display_name: name.as_str(),
                    password_hash: &hash,
                    platform_admin: false,
                    now,
                },
            )
            .await?;
            (id, true)
        }
    };
    let mut event = AuditEvent::new("account.create_cli", Outcome::Success)
        .target("user", &user_id)
        .details(
            json!({ "role": role.as_str(), "created": created, "org": org.map(|o| o.as_str()) }),
        );
    match org {
        None => users::set_platform_admin(&mut tx, &user_id, true, now).await?,
        Some(org_name) => {
            let org_id = match orgs::by_name(&mut tx, org_name.as_str()).await? {
                Some(o) => o.id,
                None => {
                    let id = uuid::Uuid::now_v7().to_string();
                    match orgs::insert(&mut tx, &id, org_name.as_str(), None, now).await {
                        Ok(()) => id,
                        Err(StoreError::UniqueViolation(_)) => bail!("organization name taken"),
                        Err(e) => return Err(e.into()),
                    }
                }
            };
            orgs::upsert_membership(&mut tx, &org_id, &user_id, role.as_str(), now).await?;
            event = event.org(&org_id);
        }
    }
    audit::append(&mut tx, &event, now).await?;
    tx.commit().await?;
    Ok((user_id, created))
}
