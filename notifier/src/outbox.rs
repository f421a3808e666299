//! The durable outbox: writing notifications in the caller's transaction, claiming
//! due ones under a lease, and recording each outcome.
//!
//! Queries use `$n` placeholders and portable types so one text serves SQLite and
//! PostgreSQL through sqlx's `Any` driver, like the hub's store.

use serde::{Deserialize, Serialize};
use sqlx::{AnyConnection, AnyPool, Row, any::AnyRow};

use crate::Engine;

/// What a notice is about; preferences are kept per category.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    /// Booked, moved, cancelled.
    Appointments,
    /// Before an appointment.
    Reminders,
    /// A message arrived while the recipient was away.
    Messages,
    /// Email verification and password reset: always email, never silenced.
    Account,
    /// Critical alerts: preferences and quiet hours cannot silence them.
    Critical,
}

impl Category {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Appointments => "appointments",
            Self::Reminders => "reminders",
            Self::Messages => "messages",
            Self::Account => "account",
            Self::Critical => "critical",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "appointments" => Self::Appointments,
            "reminders" => Self::Reminders,
            "messages" => Self::Messages,
            "account" => Self::Account,
            "critical" => Self::Critical,
            _ => return None,
        })
    }

    /// Categories whose channels a user may choose.
    pub const CONFIGURABLE: [Category; 3] = [Self::Appointments, Self::Reminders, Self::Messages];
}

/// How a row travels: to open sockets, or out of band (SMS or email by the
/// recipient's preference, with fallback), or to the email address only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    InApp,
    OutOfBand,
    Email,
}

impl Delivery {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InApp => "in_app",
            Self::OutOfBand => "out_of_band",
            Self::Email => "email",
        }
    }

    fn parse(s: &str) -> Self {
        match s {
            "in_app" => Self::InApp,
            "email" => Self::Email,
            _ => Self::OutOfBand,
        }
    }
}

/// A notification to write in the caller's transaction.
#[derive(Debug, Clone)]
pub struct NewNotification {
    /// Unique per notice: enqueueing the same key twice stores one row.
    pub idempotency_key: String,
    pub recipient_id: String,
    pub org_id: Option<String>,
    pub category: Category,
    /// Template name, e.g. `appointment.reminder` (see [`crate::templates`]).
    pub template: String,
    /// Values the template shows. Keep clinical detail out: SMS and email leave
    /// the system.
    pub payload: serde_json::Value,
    pub subject_ref: Option<String>,
    pub delivery: Delivery,
    pub due_at: i64,
    pub expires_at: Option<i64>,
}

/// Writes the notification unless one with the same key exists; true if written.
pub async fn enqueue(
    conn: &mut AnyConnection,
    n: &NewNotification,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let channel = match n.delivery {
        Delivery::InApp => Some("in_app"),
        _ => None,
    };
    let done = sqlx::query(
        "INSERT INTO notifications (id, idempotency_key, recipient_id, org_id, category, template, \
         payload, subject_ref, delivery, channel, due_at, expires_at, status, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, 'pending', $13, $13) \
         ON CONFLICT (idempotency_key) DO NOTHING",
    )
    .bind(uuid::Uuid::now_v7().to_string())
    .bind(&n.idempotency_key)
    .bind(&n.recipient_id)
    .bind(n.org_id.as_deref())
    .bind(n.category.as_str())
    .bind(&n.template)
    .bind(n.payload.to_string())
    .bind(n.subject_ref.as_deref())
    .bind(n.delivery.as_str())
    .bind(channel)
    .bind(n.due_at)
    .bind(n.expires_at)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// An email to an address that has no account yet (an organization's invite):
/// the notifier writes it in `locale` and sends it to `address` only.
#[derive(Debug, Clone)]
pub struct AddressedEmail {
    /// Unique per notice: enqueueing the same key twice stores one row.
    pub idempotency_key: String,
    pub address: String,
    /// One of [`crate::templates::LOCALES`]; anything else renders in English.
    pub locale: String,
    pub org_id: Option<String>,
    /// Always account mail: email only, never silenced, its payload (a link that
    /// is a credential) erased once handed over.
    pub template: String,
    pub payload: serde_json::Value,
    pub subject_ref: Option<String>,
    pub due_at: i64,
    pub expires_at: Option<i64>,
}

/// Writes the email unless one with the same key exists; true if written.
pub async fn enqueue_addressed(
    conn: &mut AnyConnection,
    n: &AddressedEmail,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "INSERT INTO notifications (id, idempotency_key, to_address, to_locale, org_id, category, \
         template, payload, subject_ref, delivery, due_at, expires_at, status, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, 'account', $6, $7, $8, 'email', $9, $10, 'pending', $11, $11) \
         ON CONFLICT (idempotency_key) DO NOTHING",
    )
    .bind(uuid::Uuid::now_v7().to_string())
    .bind(&n.idempotency_key)
    .bind(&n.address)
    .bind(&n.locale)
    .bind(n.org_id.as_deref())
    .bind(&n.template)
    .bind(n.payload.to_string())
    .bind(n.subject_ref.as_deref())
    .bind(n.due_at)
    .bind(n.expires_at)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Withdraws every notice about `subject_ref` that has not gone out yet (a
/// cancelled or moved appointment's reminders), in the caller's transaction.
///
/// A pending row is cancelled. A row a worker holds right now is made to expire
/// instead: the worker checks just before the hand-off and suppresses it, and if
/// the hand-off already happened the row still records the truth (`sent`).
/// Returns how many rows were withdrawn.
pub async fn withdraw(
    conn: &mut AnyConnection,
    subject_ref: &str,
    template: &str,
    reason: &str,
    now: i64,
) -> Result<u64, sqlx::Error> {
    let pending = sqlx::query(
        "UPDATE notifications SET status = 'cancelled', last_error = $3, updated_at = $4 \
         WHERE subject_ref = $1 AND template = $2 AND status = 'pending'",
    )
    .bind(subject_ref)
    .bind(template)
    .bind(reason)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    let in_hand = sqlx::query(
        "UPDATE notifications SET expires_at = $3, updated_at = $3 \
         WHERE subject_ref = $1 AND template = $2 AND status = 'sending'",
    )
    .bind(subject_ref)
    .bind(template)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(pending.rows_affected() + in_hand.rows_affected())
}

/// Whether a claimed row may still go out: this worker still holds it and it
/// has not expired (or been withdrawn) since the claim. Checked right before
/// the hand-off.
pub async fn still_wanted(
    pool: &AnyPool,
    row: &Claimed,
    worker_id: &str,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let n: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM notifications WHERE id = $1 AND claimed_by = $2 AND status = 'sending' \
         AND (expires_at IS NULL OR expires_at > $3)",
    )
    .bind(&row.id)
    .bind(worker_id)
    .bind(now)
    .fetch_one(pool)
    .await?;
    Ok(n == 1)
}

/// A row a worker holds under lease.
#[derive(Debug, Clone)]
pub struct Claimed {
    pub id: String,
    pub idempotency_key: String,
    /// The user the notice is for; empty for a row addressed to `to_address`.
    pub recipient_id: String,
    /// For mail to an address without an account: the address and its language.
    pub to_address: Option<(String, String)>,
    pub org_id: Option<String>,
    pub category: Category,
    pub template: String,
    pub payload: serde_json::Value,
    pub delivery: Delivery,
    pub channel: Option<String>,
    pub tried_channels: Vec<String>,
    pub attempts: i64,
    pub due_at: i64,
    pub expires_at: Option<i64>,
    pub created_at: i64,
    /// The previous holder's lease ran out: it may have handed this over already.
    pub recovered_lease: bool,
    /// When this worker claimed it; its lease ends `lease_ms` later.
    pub claimed_at: i64,
}

fn claimed(row: &AnyRow) -> Result<Claimed, sqlx::Error> {
    let payload: String = row.try_get("payload")?;
    let category: String = row.try_get("category")?;
    let tried: String = row.try_get("tried_channels")?;
    Ok(Claimed {
        id: row.try_get("id")?,
        idempotency_key: row.try_get("idempotency_key")?,
        recipient_id: row
            .try_get::<Option<String>, _>("recipient_id")?
            .unwrap_or_default(),
        to_address: row
            .try_get::<Option<String>, _>("to_address")?
            .map(|address| {
                let locale = row.try_get::<Option<String>, _>("to_locale");
                (address, locale.ok().flatten().unwrap_or_default())
            }),
        org_id: row.try_get("org_id")?,
        category: Category::parse(&category).unwrap_or(Category::Critical),
        template: row.try_get("template")?,
        payload: serde_json::from_str(&payload).unwrap_or(serde_json::Value::Null),
        delivery: Delivery::parse(&row.try_get::<String, _>("delivery")?),
        channel: row.try_get("channel")?,
        tried_channels: tried
            .split(',')
            .filter(|c| !c.is_empty())
            .map(str::to_owned)
            .collect(),
        attempts: row.try_get("attempts")?,
        due_at: row.try_get("due_at")?,
        expires_at: row.try_get("expires_at")?,
        created_at: row.try_get("created_at")?,
        recovered_lease: row.try_get::<i64, _>("recovered_lease")? == 1,
        claimed_at: 0,
    })
}

/// Which rows a worker may take.
#[derive(Debug, Clone, Copy)]
pub struct ClaimSpec<'a> {
    pub worker_id: &'a str,
    pub now: i64,
    pub lease_ms: i64,
    pub limit: u32,
    /// False for a worker that cannot reach sockets (a `notifier` process
    /// without Redis): in-app rows are left to one that can.
    pub in_app: bool,
}

/// Claims up to `limit` due rows (and rows whose lease ran out), oldest due first.
///
/// On PostgreSQL the inner `SELECT … FOR UPDATE SKIP LOCKED` lets concurrent
/// workers each take different rows without waiting on each other. SQLite has one
/// writer at a time, so the same statement is already exclusive there.
pub async fn claim(
    pool: &AnyPool,
    engine: Engine,
    spec: ClaimSpec<'_>,
) -> Result<Vec<Claimed>, sqlx::Error> {
    let sql = match engine {
        Engine::Postgres => CLAIM_POSTGRES,
        Engine::Sqlite => CLAIM_SQLITE,
    };
    let rows = sqlx::query(sql)
        .bind(spec.worker_id)
        .bind(spec.now + spec.lease_ms)
        .bind(spec.now)
        .bind(i64::from(spec.limit))
        .bind(i64::from(spec.in_app))
        .fetch_all(pool)
        .await?;
    rows.iter()
        .map(|r| {
            claimed(r).map(|c| Claimed {
                claimed_at: spec.now,
                ..c
            })
        })
        .collect()
}

macro_rules! claim_sql {
    ($lock:literal) => {
        concat!(
            "UPDATE notifications SET status = 'sending', claimed_by = $1, claimed_at = $3, \
             lease_until = $2, attempts = attempts + 1, updated_at = $3, \
             recovered_lease = CASE WHEN status = 'sending' THEN 1 ELSE 0 END \
             WHERE id IN (SELECT id FROM notifications \
               WHERE ((status = 'pending' AND due_at <= $3) OR (status = 'sending' AND lease_until <= $3)) \
               AND ($5 = 1 OR delivery <> 'in_app') \
               ORDER BY due_at LIMIT $4 ",
            $lock,
            ") RETURNING id, idempotency_key, recipient_id, to_address, to_locale, org_id, category, template, payload, \
             delivery, channel, tried_channels, attempts, due_at, expires_at, created_at, recovered_lease"
        )
    };
}

const CLAIM_POSTGRES: &str = claim_sql!("FOR UPDATE SKIP LOCKED");
const CLAIM_SQLITE: &str = claim_sql!("");

/// The outcome a worker records for a claimed row. Every update is conditional
/// on the worker still holding the lease, so a worker that stalled past its lease
/// cannot overwrite the outcome of the one that took over.
pub enum Outcome<'a> {
    /// Handed to the provider (or published in-app).
    Sent {
        channel: &'a str,
        provider_ref: Option<&'a str>,
    },
    /// Try again on the same channel at `retry_at`.
    Retry {
        channel: &'a str,
        retry_at: i64,
        error: &'a str,
    },
    /// Give up on `channel` and try the next one now.
    FallBack { channel: &'a str, error: &'a str },
    /// Nothing more to try: admins see it.
    Failed {
        channel: Option<&'a str>,
        error: &'a str,
    },
    /// Not sent on purpose (withdrawn, expired, preferences): not a failure.
    Suppressed { reason: &'a str },
    /// Quiet hours: wait until `until` without spending an attempt.
    Defer { until: i64 },
}

/// Ends a row that will not be sent (`failed` or `suppressed`), keeping the
/// channel last tried unless one is given, and erasing account-mail and visit links
/// (credentials: once handed over or given up, the outbox need not keep them).
async fn finish(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    row: &Claimed,
    worker_id: &str,
    status: &str,
    channel: Option<&str>,
    error: &str,
    now: i64,
) -> Result<sqlx::any::AnyQueryResult, sqlx::Error> {
    sqlx::query(
        "UPDATE notifications SET status = $3, channel = COALESCE($4, channel), \
         last_error = $5, updated_at = $6, lease_until = NULL, \
         payload = CASE WHEN category = 'account' OR template = 'visit.link' THEN '{}' ELSE payload END \
         WHERE id = $1 AND claimed_by = $2 AND status = 'sending'",
    )
    .bind(&row.id)
    .bind(worker_id)
    .bind(status)
    .bind(channel)
    .bind(error)
    .bind(now)
    .execute(&mut **tx)
    .await
}

/// Records the outcome; false if the lease was lost (another worker owns the row).
pub async fn record(
    pool: &AnyPool,
    row: &Claimed,
    worker_id: &str,
    outcome: Outcome<'_>,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let (attempt_channel, attempt_outcome, attempt_ref, attempt_error) = match &outcome {
        Outcome::Sent {
            channel,
            provider_ref,
        } => (Some(*channel), "sent", *provider_ref, None),
        Outcome::Retry { channel, error, .. } => (Some(*channel), "retry", None, Some(*error)),
        Outcome::FallBack { channel, error } => (Some(*channel), "fall_back", None, Some(*error)),
        Outcome::Failed { channel, error } => (*channel, "failed", None, Some(*error)),
        Outcome::Suppressed { .. } | Outcome::Defer { .. } => (None, "", None, None),
    };
    let updated = match outcome {
        Outcome::Sent {
            channel,
            provider_ref,
        } => {
            sqlx::query(
                "UPDATE notifications SET status = 'sent', channel = $3, provider_ref = $4, \
                 sent_at = $5, updated_at = $5, lease_until = NULL, last_error = NULL, \
                 payload = CASE WHEN category = 'account' OR template = 'visit.link' THEN '{}' ELSE payload END \
                 WHERE id = $1 AND claimed_by = $2 AND status = 'sending'",
            )
            .bind(&row.id)
            .bind(worker_id)
            .bind(channel)
            .bind(provider_ref)
            .bind(now)
            .execute(&mut *tx)
            .await?
        }
        Outcome::Retry {
            channel,
            retry_at,
            error,
        } => {
            sqlx::query(
                "UPDATE notifications SET status = 'pending', channel = $3, due_at = $4, \
                 last_error = $5, updated_at = $6, lease_until = NULL \
                 WHERE id = $1 AND claimed_by = $2 AND status = 'sending'",
            )
            .bind(&row.id)
            .bind(worker_id)
            .bind(channel)
            .bind(retry_at)
            .bind(error)
            .bind(now)
            .execute(&mut *tx)
            .await?
        }
        Outcome::FallBack { channel, error } => {
            let mut tried = row.tried_channels.clone();
            tried.push(channel.to_owned());
            sqlx::query(
                "UPDATE notifications SET status = 'pending', channel = NULL, tried_channels = $3, \
                 attempts = 0, due_at = $4, last_error = $5, updated_at = $4, lease_until = NULL \
                 WHERE id = $1 AND claimed_by = $2 AND status = 'sending'",
            )
            .bind(&row.id)
            .bind(worker_id)
            .bind(tried.join(","))
            .bind(now)
            .bind(error)
            .execute(&mut *tx)
            .await?
        }
        // Both end the row without sending: only the status differs.
        Outcome::Failed { channel, error } => {
            finish(&mut tx, row, worker_id, "failed", channel, error, now).await?
        }
        Outcome::Suppressed { reason } => {
            finish(&mut tx, row, worker_id, "suppressed", None, reason, now).await?
        }
        Outcome::Defer { until } => sqlx::query(
            "UPDATE notifications SET status = 'pending', due_at = $3, attempts = attempts - 1, \
                 updated_at = $4, lease_until = NULL \
                 WHERE id = $1 AND claimed_by = $2 AND status = 'sending'",
        )
        .bind(&row.id)
        .bind(worker_id)
        .bind(until)
        .bind(now)
        .execute(&mut *tx)
        .await?,
    };
    if updated.rows_affected() == 0 {
        tx.rollback().await?;
        return Ok(false);
    }
    if let Some(channel) = attempt_channel {
        sqlx::query(
            "INSERT INTO notification_attempts (notification_id, attempt_no, channel, outcome, \
             provider_ref, error, at) \
             SELECT $1, COALESCE(MAX(attempt_no), 0) + 1, $2, $3, $4, $5, $6 \
             FROM notification_attempts WHERE notification_id = $1",
        )
        .bind(&row.id)
        .bind(channel)
        .bind(attempt_outcome)
        .bind(attempt_ref)
        .bind(attempt_error)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(true)
}

/// Provider references already recorded (SMS reconciliation must not adopt one
/// message for two notifications).
pub async fn provider_ref_taken(pool: &AnyPool, provider_ref: &str) -> Result<bool, sqlx::Error> {
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM notifications WHERE provider_ref = $1")
        .bind(provider_ref)
        .fetch_one(pool)
        .await?;
    Ok(n > 0)
}

/// A notification as admins and its recipient see it.
#[derive(Debug, Clone, Serialize)]
pub struct NotificationSummary {
    pub id: String,
    pub recipient_id: String,
    pub org_id: Option<String>,
    pub category: String,
    pub template: String,
    pub delivery: String,
    pub channel: Option<String>,
    pub status: String,
    pub attempts: i64,
    pub due_at: i64,
    pub sent_at: Option<i64>,
    pub last_error: Option<String>,
    pub created_at: i64,
}

/// A row mailed to an address without an account has no recipient: it shows as "".
const SUMMARY_COLUMNS: &str = "id, COALESCE(recipient_id, '') AS recipient_id, org_id, category, template, delivery, channel, status, \
     attempts, due_at, sent_at, last_error, created_at";

fn summary(row: &AnyRow) -> Result<NotificationSummary, sqlx::Error> {
    Ok(NotificationSummary {
        id: row.try_get("id")?,
        recipient_id: row.try_get("recipient_id")?,
        org_id: row.try_get("org_id")?,
        category: row.try_get("category")?,
        template: row.try_get("template")?,
        delivery: row.try_get("delivery")?,
        channel: row.try_get("channel")?,
        status: row.try_get("status")?,
        attempts: row.try_get("attempts")?,
        due_at: row.try_get("due_at")?,
        sent_at: row.try_get("sent_at")?,
        last_error: row.try_get("last_error")?,
        created_at: row.try_get("created_at")?,
    })
}

/// An organization's notifications in one status (admins: `failed`), newest first.
pub async fn for_org(
    conn: &mut AnyConnection,
    org_id: &str,
    status: &str,
    limit: i64,
) -> Result<Vec<NotificationSummary>, sqlx::Error> {
    let sql = sqlx::AssertSqlSafe(format!(
        "SELECT {SUMMARY_COLUMNS} FROM notifications WHERE org_id = $1 AND status = $2 \
         ORDER BY created_at DESC LIMIT $3"
    ));
    let rows = sqlx::query(sql)
        .bind(org_id)
        .bind(status)
        .bind(limit)
        .fetch_all(conn)
        .await?;
    rows.iter().map(summary).collect()
}

/// A user's own notifications, newest first.
pub async fn for_recipient(
    conn: &mut AnyConnection,
    user_id: &str,
    limit: i64,
) -> Result<Vec<NotificationSummary>, sqlx::Error> {
    let sql = sqlx::AssertSqlSafe(format!(
        "SELECT {SUMMARY_COLUMNS} FROM notifications WHERE recipient_id = $1 \
         ORDER BY created_at DESC LIMIT $2"
    ));
    let rows = sqlx::query(sql)
        .bind(user_id)
        .bind(limit)
        .fetch_all(conn)
        .await?;
    rows.iter().map(summary).collect()
}

/// A user's own notifications with what each was about (its payload, erased
/// once account mail and visit links are handed over), newest first: the hub
/// renders their text for the reader.
pub async fn for_recipient_with_payload(
    conn: &mut AnyConnection,
    user_id: &str,
    limit: i64,
) -> Result<Vec<(NotificationSummary, serde_json::Value)>, sqlx::Error> {
    let sql = sqlx::AssertSqlSafe(format!(
        "SELECT {SUMMARY_COLUMNS}, payload FROM notifications WHERE recipient_id = $1 \
         ORDER BY created_at DESC LIMIT $2"
    ));
    let rows = sqlx::query(sql)
        .bind(user_id)
        .bind(limit)
        .fetch_all(conn)
        .await?;
    rows.iter()
        .map(|r| {
            let payload: String = r.try_get("payload")?;
            let payload = serde_json::from_str(&payload).unwrap_or(serde_json::Value::Null);
            Ok((summary(r)?, payload))
        })
        .collect()
}

/// Counts by status (metrics, tests, benchmarks).
pub async fn count_by_status(pool: &AnyPool) -> Result<Vec<(String, i64)>, sqlx::Error> {
    let rows = sqlx::query("SELECT status, COUNT(*) AS n FROM notifications GROUP BY status")
        .fetch_all(pool)
        .await?;
    rows.iter()
        .map(|r| Ok((r.try_get("status")?, r.try_get("n")?)))
        .collect()
}
