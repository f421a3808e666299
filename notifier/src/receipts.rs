//! What comes back from the SMS provider: delivery receipts (Twilio's status
//! callback) and inbound messages (STOP / START). The hub's webhook routes check
//! the `X-Twilio-Signature` first ([`crate::twilio_signature`]) and then call here.

use std::sync::LazyLock;

use sqlx::AnyPool;

/// What a receipt changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReceiptOutcome {
    /// The SMS reached the handset.
    Delivered,
    /// The carrier could not deliver it: the notice goes back to the worker to
    /// fall back to the recipient's next channel (or fail visibly).
    Undelivered,
    /// An intermediate status (`queued`, `sending`, `sent`), or one we do not
    /// act on: noted if it moves the message forward, nothing to do.
    Progress,
    /// A final status for a message that already has one (receipts arrive out of
    /// order, and a final status is final): ignored, nothing changed.
    Stale,
    /// No notification has this message id (not ours, or already superseded).
    Unknown,
}

/// Where each Twilio message status sits in the message's life. A status only
/// moves forward: queued → sending → sent → one final status (`delivered`,
/// `undelivered` or `failed`). Statuses not listed (`read`, `canceled`, anything
/// new) are not tracked.
const RANKS: [(&str, i64); 8] = [
    ("accepted", 1),
    ("scheduled", 1),
    ("queued", 1),
    ("sending", 2),
    ("sent", 3),
    ("delivered", FINAL),
    ("undelivered", FINAL),
    ("failed", FINAL),
];

/// The rank of every final status: none replaces another.
const FINAL: i64 = 4;

fn rank(status: &str) -> Option<i64> {
    RANKS.iter().find(|(s, _)| *s == status).map(|(_, r)| *r)
}

/// Moves the attempt that sent `$1` to status `$2` (rank `$4`) only if its
/// current outcome ranks lower. The worker records a hand-off as `sent`: Twilio
/// accepted it. Built from [`RANKS`], so SQL and Rust agree on the order.
static ADVANCE_ATTEMPT: LazyLock<String> = LazyLock::new(|| {
    let cases: String = RANKS
        .iter()
        .map(|(status, rank)| format!("WHEN '{status}' THEN {rank} "))
        .collect();
    format!(
        "UPDATE notification_attempts SET outcome = $2, error = COALESCE($3, error) \
         WHERE provider_ref = $1 AND channel = 'sms' AND (CASE outcome {cases}ELSE 0 END) < $4"
    )
});

/// Applies a status callback for the message `sid`.
///
/// Every change is a conditional `UPDATE` that only moves the status forward,
/// so the database itself, not this process, decides which of two racing
/// receipts wins: on PostgreSQL a second writer waits for the first and then
/// re-checks the condition against the committed row, on SQLite writers run
/// one at a time. A receipt that would move the message back — `undelivered`
/// after `delivered`, `sent` after either — changes nothing, and a delivered
/// notice is never handed to the worker again.
pub async fn sms_status(
    pool: &AnyPool,
    sid: &str,
    status: &str,
    error_code: Option<&str>,
    now: i64,
) -> Result<ReceiptOutcome, sqlx::Error> {
    let Some(rank) = rank(status) else {
        return Ok(ReceiptOutcome::Progress);
    };
    let mut tx = pool.begin().await?;
    let attempt = sqlx::query(sqlx::AssertSqlSafe(ADVANCE_ATTEMPT.as_str()))
        .bind(sid)
        .bind(status)
        .bind(error_code.map(|c| format!("carrier error {c}")))
        .bind(rank)
        .execute(&mut *tx)
        .await?;
    if attempt.rows_affected() == 0 {
        let outcome = if rank < FINAL {
            ReceiptOutcome::Progress
        } else if sent_by_us(&mut tx, sid).await? {
            ReceiptOutcome::Stale
        } else {
            // Possibly faster than our own write of the message id: keep it until
            // the worker records the send (see `apply_early`). The first final
            // status kept is the one applied; a later one changes nothing.
            sqlx::query(
                "INSERT INTO sms_early_receipts (sid, status, error_code, received_at) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (sid) DO NOTHING",
            )
            .bind(sid)
            .bind(status)
            .bind(error_code)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            ReceiptOutcome::Unknown
        };
        tx.commit().await?;
        return Ok(outcome);
    }
    let outcome = match status {
        "delivered" => {
            let done = sqlx::query(
                "UPDATE notifications SET status = 'delivered', updated_at = $2 \
                 WHERE provider_ref = $1 AND channel = 'sms' AND status = 'sent'",
            )
            .bind(sid)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            if done.rows_affected() > 0 {
                ReceiptOutcome::Delivered
            } else {
                ReceiptOutcome::Stale
            }
        }
        "undelivered" | "failed" => {
            let error = format!(
                "sms {status}{}",
                error_code
                    .map(|c| format!(" (carrier error {c})"))
                    .unwrap_or_default()
            );
            // Only a notice still `sent` on this SMS goes back to the worker: never
            // a delivered one, nor one that already moved on to another channel.
            let back = sqlx::query(
                "UPDATE notifications SET status = 'pending', channel = NULL, attempts = 0, due_at = $2, \
                 updated_at = $2, last_error = $3, \
                 tried_channels = CASE WHEN tried_channels = '' THEN 'sms' ELSE tried_channels || ',sms' END \
                 WHERE provider_ref = $1 AND channel = 'sms' AND status = 'sent'",
            )
            .bind(sid)
            .bind(now)
            .bind(error)
            .execute(&mut *tx)
            .await?;
            if back.rows_affected() > 0 {
                ReceiptOutcome::Undelivered
            } else {
                ReceiptOutcome::Stale
            }
        }
        _ => ReceiptOutcome::Progress,
    };
    tx.commit().await?;
    Ok(outcome)
}

/// Whether a recorded SMS hand-off has the message id `sid`.
async fn sent_by_us(conn: &mut sqlx::AnyConnection, sid: &str) -> Result<bool, sqlx::Error> {
    let n: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM notification_attempts WHERE provider_ref = $1 AND channel = 'sms'",
    )
    .bind(sid)
    .fetch_one(conn)
    .await?;
    Ok(n > 0)
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
    fn statuses_rank_forward_and_every_final_status_ranks_alike() {
        let order = ["queued", "sending", "sent", "delivered"];
        for pair in order.windows(2) {
            assert!(rank(pair[0]) < rank(pair[1]), "{pair:?}");
        }
        for status in ["delivered", "undelivered", "failed"] {
            assert_eq!(rank(status), Some(FINAL));
        }
        assert_eq!(rank("accepted"), rank("queued"));
        assert_eq!(rank("read"), None);
    }

    #[test]
    fn keywords_are_whole_words_in_any_case() {
        assert_eq!(keyword(" stop "), InboundAction::OptedOut);
        assert_eq!(keyword("Unsubscribe"), InboundAction::OptedOut);
        assert_eq!(keyword("START"), InboundAction::OptedIn);
        assert_eq!(keyword("please stop the meds?"), InboundAction::Ignored);
    }
}
