//! What comes back from the SMS provider: delivery receipts (Twilio's status
//! callback) and inbound messages (STOP / START). The hub's webhook routes check
//! the `X-Twilio-Signature` first ([`crate::twilio_signature`]) and then call here.

use sqlx::AnyPool;

/// What a receipt changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReceiptOutcome {
    /// The SMS reached the handset.
    Delivered,
    /// The carrier could not deliver it: the notice goes back to the worker to
    /// fall back to the recipient's next channel (or fail visibly).
    Undelivered,
    /// An intermediate status (`queued`, `sent`): noted, nothing to do.
    Progress,
    /// No notification has this message id (not ours, or already superseded).
    Unknown,
}

/// Applies a status callback for the message `sid`.
pub async fn sms_status(
    pool: &AnyPool,
    sid: &str,
    status: &str,
    error_code: Option<&str>,
    now: i64,
) -> Result<ReceiptOutcome, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let attempt = sqlx::query(
        "UPDATE notification_attempts SET outcome = $2, error = COALESCE($3, error) \
         WHERE provider_ref = $1 AND channel = 'sms' AND outcome NOT IN ('delivered', 'undelivered', 'failed')",
    )
    .bind(sid)
    .bind(status)
    .bind(error_code.map(|c| format!("carrier error {c}")))
    .execute(&mut *tx)
    .await?;
    let outcome = match status {
        "delivered" => {
            sqlx::query(
                "UPDATE notifications SET status = 'delivered', updated_at = $2 \
                 WHERE provider_ref = $1 AND channel = 'sms' AND status = 'sent'",
            )
            .bind(sid)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            ReceiptOutcome::Delivered
        }
        "undelivered" | "failed" => {
            let error = format!(
                "sms {status}{}",
                error_code
                    .map(|c| format!(" (carrier error {c})"))
                    .unwrap_or_default()
            );
            sqlx::query(
                "UPDATE notifications SET status = 'pending', channel = NULL, attempts = 0, due_at = $2, \
                 updated_at = $2, last_error = $3, \
                 tried_channels = CASE WHEN tried_channels = '' THEN 'sms' ELSE tried_channels || ',sms' END \
                 WHERE provider_ref = $1 AND channel = 'sms' AND status IN ('sent', 'delivered')",
            )
            .bind(sid)
            .bind(now)
            .bind(error)
            .execute(&mut *tx)
            .await?;
            ReceiptOutcome::Undelivered
        }
        _ => ReceiptOutcome::Progress,
    };
    let unknown = attempt.rows_affected() == 0 && outcome != ReceiptOutcome::Progress;
    if unknown {
        // Possibly faster than our own write of the message id: keep it until the
        // worker records the send (see `apply_early`).
        sqlx::query(
            "INSERT INTO sms_early_receipts (sid, status, error_code, received_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (sid) DO UPDATE SET status = excluded.status, error_code = excluded.error_code",
        )
        .bind(sid)
        .bind(status)
        .bind(error_code)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(if unknown {
        ReceiptOutcome::Unknown
    } else {
        outcome
    })
}

/// Applies a receipt that arrived before the send of `sid` was recorded, if
/// any. The worker calls this right after recording an SMS as sent.
pub async fn apply_early(
    pool: &AnyPool,
    sid: &str,
    now: i64,
) -> Result<Option<ReceiptOutcome>, sqlx::Error> {
    let early: Option<(String, Option<String>)> = sqlx::query_as(
        "DELETE FROM sms_early_receipts WHERE sid = $1 RETURNING status, error_code",
    )
    .bind(sid)
    .fetch_optional(pool)
    .await?;
    match early {
        Some((status, code)) => Box::pin(sms_status(pool, sid, &status, code.as_deref(), now))
            .await
            .map(Some),
        None => Ok(None),
    }
}

/// What an inbound SMS asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InboundAction {
    OptedOut,
    OptedIn,
    /// Anything else: not read (this channel is not for conversation).
    Ignored,
}

/// The carrier-standard keywords, matched on the whole trimmed message.
pub fn keyword(body: &str) -> InboundAction {
    match body.trim().to_ascii_uppercase().as_str() {
        "STOP" | "STOPALL" | "UNSUBSCRIBE" | "CANCEL" | "END" | "QUIT" | "OPTOUT" => {
            InboundAction::OptedOut
        }
        "START" | "UNSTOP" | "YES" => InboundAction::OptedIn,
        _ => InboundAction::Ignored,
    }
}

/// Applies an inbound SMS from `from` (already a valid E.164 number).
pub async fn sms_inbound(
    pool: &AnyPool,
    from: &str,
    body: &str,
    now: i64,
) -> Result<InboundAction, sqlx::Error> {
    let action = keyword(body);
    match action {
        InboundAction::OptedOut => {
            sqlx::query(
                "INSERT INTO sms_opt_outs (phone, opted_out_at) VALUES ($1, $2) \
                 ON CONFLICT (phone) DO NOTHING",
            )
            .bind(from)
            .bind(now)
            .execute(pool)
            .await?;
        }
        InboundAction::OptedIn => {
            sqlx::query("DELETE FROM sms_opt_outs WHERE phone = $1")
                .bind(from)
                .execute(pool)
                .await?;
        }
        InboundAction::Ignored => {}
    }
    Ok(action)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keywords_are_whole_words_in_any_case() {
        assert_eq!(keyword(" stop "), InboundAction::OptedOut);
        assert_eq!(keyword("Unsubscribe"), InboundAction::OptedOut);
        assert_eq!(keyword("START"), InboundAction::OptedIn);
        assert_eq!(keyword("please stop the meds?"), InboundAction::Ignored);
    }
}
