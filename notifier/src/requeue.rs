//! Sending a failed notification again, on an organization admin's request
//! (after fixing what made it fail: a wrong address, a provider outage).
//!
//! The row goes back to `pending`, due now, with its attempts and fallbacks
//! reset, so the worker treats it as new. Rows whose content was wiped after the
//! hand-off cannot be sent again: account mail and visit links carry one-time
//! secrets that are not kept once the row ended (see `outbox::record`).

use sqlx::{AnyConnection, Row};

/// What asking to send a notification again did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Requeue {
    /// Pending again; the worker picks it up on its next pass.
    Requeued,
    /// No such notification in this organization.
    NotFound,
    /// It did not fail (pending, sent, cancelled, …): nothing to retry.
    NotFailed,
    /// Its moment passed (a reminder for an appointment that began).
    Expired,
    /// It carried a one-time link that is no longer stored.
    ContentGone,
}

/// Puts a `failed` (or `undelivered`) notification of `org_id` back in the queue.
pub async fn requeue_failed(
    conn: &mut AnyConnection,
    org_id: &str,
    id: &str,
    now: i64,
) -> Result<Requeue, sqlx::Error> {
    let Some(row) = sqlx::query(
        "SELECT status, expires_at, payload, category, template FROM notifications \
         WHERE id = $1 AND org_id = $2",
    )
    .bind(id)
    .bind(org_id)
    .fetch_optional(&mut *conn)
    .await?
    else {
        return Ok(Requeue::NotFound);
    };
    let status: String = row.try_get("status")?;
    if status != "failed" && status != "undelivered" {
        return Ok(Requeue::NotFailed);
    }
    let expires_at: Option<i64> = row.try_get("expires_at")?;
    if expires_at.is_some_and(|e| e <= now) {
        return Ok(Requeue::Expired);
    }
    let category: String = row.try_get("category")?;
    let template: String = row.try_get("template")?;
    let payload: String = row.try_get("payload")?;
    if (category == "account" || template == "visit.link") && payload == "{}" {
        return Ok(Requeue::ContentGone);
    }
    let done = sqlx::query(
        "UPDATE notifications SET status = 'pending', attempts = 0, due_at = $3, channel = NULL, \
         tried_channels = '', last_error = NULL, claimed_by = NULL, lease_until = NULL, \
         updated_at = $3 WHERE id = $1 AND org_id = $2 AND status IN ('failed', 'undelivered')",
    )
    .bind(id)
    .bind(org_id)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(if done.rows_affected() == 1 {
        Requeue::Requeued
    } else {
        Requeue::NotFailed
    })
}
