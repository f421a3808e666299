//! Throttling and auditing of failed attempts to prove who one is, shared by
//! login and by the account changes that re-check a password or second factor
//! (so a stolen access token cannot be used to guess them without limit).

use serde_json::json;

use super::RequestMeta;
use crate::{
    audit::{self, AuditEvent, Outcome},
    auth::lockout::{self, Gate, Limits},
    error::{Error, Result},
    state::AppState,
    store::{Conn, throttle},
};

/// The throttle key of an account.
pub(super) fn account_key(user_id: &str) -> String {
    format!("account:{user_id}")
}

/// Re-checks of a signed-in user's password or code share the account's
/// login throttle: refuses while it is slowed or locked.
pub(super) async fn check_account(state: &AppState, user_id: &str) -> Result<()> {
    let mut conn = state.store.conn().await?;
    let limits = Limits::account(&state.config.auth.lockout);
    check_gate(&mut conn, &account_key(user_id), limits, state, true).await
}

/// Records a failed re-check of a signed-in user's password or code.
pub(super) async fn account_failure(
    state: &AppState,
    meta: &RequestMeta,
    action: &'static str,
    user_id: &str,
    reason: &str,
) -> Result<()> {
    let key = account_key(user_id);
    record_failure(
        state,
        meta,
        action,
        Some(user_id),
        Outcome::Failure,
        reason,
        &[Some(&key)],
    )
    .await
}

/// Refuses the attempt while `key` is slowed or locked.
pub(super) async fn check_gate(
    conn: &mut Conn,
    key: &str,
    limits: Limits,
    state: &AppState,
    is_account: bool,
) -> Result<()> {
    let row = throttle::get(conn, key).await?;
    let cfg = &state.config.auth.lockout;
    match lockout::gate(row.as_ref(), state.clock.now_ms(), limits, cfg) {
        Gate::Open => Ok(()),
        Gate::Wait(secs) => Err(Error::TooManyAttempts {
            retry_after_secs: secs,
        }),
        Gate::Locked(secs) if is_account => Err(Error::AccountLocked {
            retry_after_secs: secs,
        }),
        Gate::Locked(secs) => Err(Error::TooManyAttempts {
            retry_after_secs: secs,
        }),
    }
}

/// Audits a refused attempt at proving who one is (login, password change, MFA
/// change) and counts it against each throttle key, in one transaction.
pub(super) async fn record_failure(
    state: &AppState,
    meta: &RequestMeta,
    action: &'static str,
    user_id: Option<&str>,
    outcome: Outcome,
    reason: &str,
    throttle_keys: &[Option<&str>],
) -> Result<()> {
    let cfg = &state.config.auth.lockout;
    let now = state.clock.now_ms();
    let mut tx = state.store.begin_write().await?;
    for key in throttle_keys.iter().flatten() {
        let limits = if key.starts_with("ip:") {
            Limits::ip(cfg)
        } else {
            Limits::account(cfg)
        };
        let row = throttle::get(&mut tx, key).await?;
        let next = lockout::after_failure(row, now, limits, cfg);
        throttle::put(&mut tx, key, &next).await?;
    }
    let mut event = AuditEvent::new(action, outcome)
        .actor(user_id, meta.ip.as_deref())
        .details(json!({ "reason": reason }));
    if let Some(id) = user_id {
        event = event.target("user", id);
    }
    audit::append(&mut tx, &event, now).await?;
    tx.commit().await.map_err(Error::internal)?;
    Ok(())
}
