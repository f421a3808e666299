//! An organization admin sends a failed notification again (the admin console's
//! "Retry"). The requeue and its audit row commit together; the worker is woken
//! so the attempt starts now rather than at its next poll.

use notifier::requeue::{Requeue, requeue_failed};
use serde_json::json;

use crate::{
    accounts::{Principal, RequestMeta},
    audit::{self, AuditEvent, Outcome},
    error::{Error, Result},
    state::AppState,
    store::StoreError,
};

pub async fn retry(
    state: &AppState,
    caller: &Principal,
    org_id: &str,
    notification_id: &str,
    meta: &RequestMeta,
) -> Result<()> {
    if uuid::Uuid::parse_str(notification_id).is_err() {
        return Err(Error::NotFound("notification"));
    }
    let now = state.clock.now_ms();
    let mut tx = state.store.begin_write().await?;
    let outcome = requeue_failed(&mut tx, org_id, notification_id, now)
        .await
        .map_err(StoreError::from)?;
    match outcome {
        Requeue::Requeued => {}
        Requeue::NotFound => return Err(Error::NotFound("notification")),
        Requeue::NotFailed => {
            return Err(Error::conflict(
                "notification_not_failed",
                "only a failed notification can be sent again",
            ));
        }
        Requeue::Expired => {
            return Err(Error::Gone {
                code: "notification_expired",
                message: "this notification's moment has passed".into(),
            });
        }
        Requeue::ContentGone => {
            return Err(Error::Gone {
                code: "notification_content_gone",
                message: "this notification carried a one-time link that is no longer kept; send a new one".into(),
            });
        }
    }
    audit::commit_with(
        tx,
        &AuditEvent::new("notification.retry", Outcome::Success)
            .actor(Some(&caller.user_id), meta.ip.as_deref())
            .org(org_id)
            .target("notification", notification_id)
            .details(json!({})),
        now,
    )
    .await?;
    state.notifications.wake();
    Ok(())
}
