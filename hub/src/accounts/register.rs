//! Self-registration, open to patients only. Staff join through an organization's
//! invite or are added by its admin.

use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;

use super::{RequestMeta, credentials::hash_password};
use crate::{
    audit::{self, AuditEvent, Outcome},
    domain::{DisplayName, EmailAddress, Password},
    error::Result,
    notifications,
    state::AppState,
    store::{StoreError, users},
};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterInput {
    #[schema(example = "ana@example.org")]
    pub email: String,
    /// At least 12 characters, not a common password.
    #[schema(example = "a long passphrase nobody guesses")]
    pub password: String,
    #[schema(example = "Ana Silva")]
    pub display_name: String,
}

/// Creates the account and returns the new user's id.
///
/// The answer does not tell whether the address already has an account: for one
/// that has, nothing is created, the owner is told by email that someone tried,
/// and the caller gets a fresh id that names no account. Both paths hash the
/// password first, so they also take about as long.
pub async fn register(
    state: &AppState,
    input: RegisterInput,
    meta: &RequestMeta,
) -> Result<String> {
    let email = EmailAddress::parse(&input.email)?;
    let display_name = DisplayName::parse(&input.display_name)?;
    let password = Password::parse_new(&input.password, Some(&email))?;
    let hash = hash_password(password.expose()).await?;
    let id = uuid::Uuid::now_v7().to_string();
    let now = state.clock.now_ms();
    let mut tx = state.store.begin_write().await?;
    let inserted = users::insert(
        &mut tx,
        &users::NewUser {
            id: &id,
            email: email.as_str(),
            display_name: display_name.as_str(),
            password_hash: &hash,
            platform_admin: false,
            now,
        },
    )
    .await;
    match inserted {
        Ok(()) => {}
        Err(StoreError::UniqueViolation(_)) => {
            drop(tx);
            notifications::account_tokens::tell_owner_of_attempt(state, &email, meta).await?;
            return Ok(id);
        }
        Err(e) => return Err(e.into()),
    }
    notifications::account_tokens::queue_verification(&mut tx, state, &id, now).await?;
    audit::commit_with(
        tx,
        &AuditEvent::new("account.register", Outcome::Success)
            .actor(Some(&id), meta.ip.as_deref())
            .target("user", &id)
            .details(json!({ "self_registered": true })),
        now,
    )
    .await?;
    state.notifications.wake();
    Ok(id)
}
