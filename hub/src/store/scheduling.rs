//! Appointment types, providers' weekly hours and exceptions, appointments and
//! the slot claims that make double booking impossible.

use super::{Conn, StoreError, sealed};
use crate::crypto::Keyring;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TypeRow {
    pub id: String,
    pub org_id: String,
    pub name: String,
    pub duration_min: i64,
    pub mode: String,
    pub created_at: i64,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct WindowRow {
    pub weekday: i64,
    pub start_min: i64,
    pub end_min: i64,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AppointmentRow {
    pub id: String,
    pub org_id: String,
    pub provider_id: String,
    pub patient_id: String,
    pub type_id: String,
    pub starts_at: i64,
    pub ends_at: i64,
    pub status: String,
    pub reason: Option<String>,
    pub booked_by: String,
    pub booked_at: i64,
    pub cancelled_by: Option<String>,
    pub cancelled_at: Option<i64>,
    pub cancel_reason: Option<String>,
    pub rescheduled_from: Option<String>,
}

const APPOINTMENT_COLUMNS: &str = "id, org_id, provider_id, patient_id, type_id, starts_at, ends_at, status, \
     reason, booked_by, booked_at, cancelled_by, cancelled_at, cancel_reason, rescheduled_from";

/// Decrypts the reasons of an appointment read from the database.
pub(super) fn open_appointment(
    keyring: &Keyring,
    mut a: AppointmentRow,
) -> Result<AppointmentRow, StoreError> {
    a.reason = sealed::APPOINTMENT_REASON.open_opt(keyring, &a.id, a.reason)?;
    a.cancel_reason =
        sealed::APPOINTMENT_CANCEL_REASON.open_opt(keyring, &a.id, a.cancel_reason)?;
    Ok(a)
}

/// The claim granule: appointments start and end on this grid.
pub const GRANULE_MS: i64 = 5 * 60 * 1000;

pub async fn insert_type(conn: &mut Conn, t: &TypeRow) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO appointment_types (id, org_id, name, duration_min, mode, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&t.id)
    .bind(&t.org_id)
    .bind(&t.name)
    .bind(t.duration_min)
    .bind(&t.mode)
    .bind(t.created_at)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn types(conn: &mut Conn, org_id: &str) -> Result<Vec<TypeRow>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT id, org_id, name, duration_min, mode, created_at FROM appointment_types \
         WHERE org_id = $1 ORDER BY name",
    )
    .bind(org_id)
    .fetch_all(conn)
    .await?)
}

pub async fn type_by_id(
    conn: &mut Conn,
    org_id: &str,
    id: &str,
) -> Result<Option<TypeRow>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT id, org_id, name, duration_min, mode, created_at FROM appointment_types \
         WHERE org_id = $1 AND id = $2",
    )
    .bind(org_id)
    .bind(id)
    .fetch_optional(conn)
    .await?)
}

/// Replaces a provider's weekly hours (and zone) in an organization.
pub async fn replace_schedule(
    conn: &mut Conn,
    provider_id: &str,
    org_id: &str,
    time_zone: &str,
    windows: &[WindowRow],
    now: i64,
) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM availability_windows WHERE provider_id = $1 AND org_id = $2")
        .bind(provider_id)
        .bind(org_id)
        .execute(&mut *conn)
        .await?;
    sqlx::query(
        "INSERT INTO provider_schedules (provider_id, org_id, time_zone, updated_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (provider_id, org_id) DO UPDATE SET time_zone = excluded.time_zone, updated_at = excluded.updated_at",
    )
    .bind(provider_id)
    .bind(org_id)
    .bind(time_zone)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    for w in windows {
        sqlx::query(
            "INSERT INTO availability_windows (provider_id, org_id, weekday, start_min, end_min) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(provider_id)
        .bind(org_id)
        .bind(w.weekday)
        .bind(w.start_min)
        .bind(w.end_min)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// A provider's zone and weekly windows in an organization; `None` if never set.
pub async fn schedule(
    conn: &mut Conn,
    provider_id: &str,
    org_id: &str,
) -> Result<Option<(String, Vec<WindowRow>)>, StoreError> {
    let zone: Option<(String,)> = sqlx::query_as(
        "SELECT time_zone FROM provider_schedules WHERE provider_id = $1 AND org_id = $2",
    )
    .bind(provider_id)
    .bind(org_id)
    .fetch_optional(&mut *conn)
    .await?;
    let Some((zone,)) = zone else { return Ok(None) };
    let windows = sqlx::query_as(
        "SELECT weekday, start_min, end_min FROM availability_windows \
         WHERE provider_id = $1 AND org_id = $2 ORDER BY weekday, start_min",
    )
    .bind(provider_id)
    .bind(org_id)
    .fetch_all(conn)
    .await?;
    Ok(Some((zone, windows)))
}

/// Leave or a holiday: no appointments in `[starts_at, ends_at)`.
pub struct NewException<'a> {
    pub id: &'a str,
    pub provider_id: &'a str,
    pub org_id: &'a str,
    pub starts_at: i64,
    pub ends_at: i64,
    pub reason: &'a str,
    pub created_by: &'a str,
    pub now: i64,
}

/// Inserts an exception; its reason is sealed (leave reasons can be medical).
pub async fn insert_exception(
    conn: &mut Conn,
    keyring: &Keyring,
    e: &NewException<'_>,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO availability_exceptions (id, provider_id, org_id, starts_at, ends_at, reason, created_by, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(e.id)
    .bind(e.provider_id)
    .bind(e.org_id)
    .bind(e.starts_at)
    .bind(e.ends_at)
    .bind(sealed::EXCEPTION_REASON.seal(keyring, e.id, e.reason))
    .bind(e.created_by)
    .bind(e.now)
    .execute(conn)
    .await?;
    Ok(())
}

/// Intervals in which the provider is not bookable (exceptions of any
/// organization, booked appointments anywhere) overlapping `[from, to)`.
pub async fn busy(
    conn: &mut Conn,
    provider_id: &str,
    from: i64,
    to: i64,
) -> Result<Vec<(i64, i64)>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT starts_at, ends_at FROM availability_exceptions \
           WHERE provider_id = $1 AND starts_at < $3 AND ends_at > $2 \
         UNION ALL \
         SELECT starts_at, ends_at FROM appointments \
           WHERE provider_id = $1 AND status = 'booked' AND starts_at < $3 AND ends_at > $2 \
         ORDER BY 1",
    )
    .bind(provider_id)
    .bind(from)
    .bind(to)
    .fetch_all(conn)
    .await?)
}

/// Inserts a booked appointment; its reason is sealed.
pub async fn insert_appointment(
    conn: &mut Conn,
    keyring: &Keyring,
    a: &AppointmentRow,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO appointments (id, org_id, provider_id, patient_id, type_id, starts_at, ends_at, status, \
           reason, booked_by, booked_at, rescheduled_from) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, 'booked', $8, $9, $10, $11)",
    )
    .bind(&a.id)
    .bind(&a.org_id)
    .bind(&a.provider_id)
    .bind(&a.patient_id)
    .bind(&a.type_id)
    .bind(a.starts_at)
    .bind(a.ends_at)
    .bind(sealed::APPOINTMENT_REASON.seal_opt(keyring, &a.id, a.reason.as_deref()))
    .bind(&a.booked_by)
    .bind(a.booked_at)
    .bind(&a.rescheduled_from)
    .execute(conn)
    .await?;
    Ok(())
}

/// Claims every granule of `[start, end)` for the provider. A granule already
/// claimed fails with a unique violation: the slot is taken.
pub async fn claim(
    conn: &mut Conn,
    provider_id: &str,
    appointment_id: &str,
    start: i64,
    end: i64,
) -> Result<(), StoreError> {
    let mut granule = start;
    while granule < end {
        sqlx::query(
            "INSERT INTO slot_claims (provider_id, granule, appointment_id) VALUES ($1, $2, $3)",
        )
        .bind(provider_id)
        .bind(granule)
        .bind(appointment_id)
        .execute(&mut *conn)
        .await?;
        granule += GRANULE_MS;
    }
    Ok(())
}

pub async fn release(conn: &mut Conn, appointment_id: &str) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM slot_claims WHERE appointment_id = $1")
        .bind(appointment_id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Marks a booked appointment cancelled, with its reason sealed; false if it was not booked.
pub async fn cancel(
    conn: &mut Conn,
    keyring: &Keyring,
    id: &str,
    by: &str,
    reason: &str,
    now: i64,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "UPDATE appointments SET status = 'cancelled', cancelled_by = $2, cancelled_at = $3, cancel_reason = $4 \
         WHERE id = $1 AND status = 'booked'",
    )
    .bind(id)
    .bind(by)
    .bind(now)
    .bind(sealed::APPOINTMENT_CANCEL_REASON.seal(keyring, id, reason))
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn appointment(
    conn: &mut Conn,
    keyring: &Keyring,
    org_id: &str,
    id: &str,
) -> Result<Option<AppointmentRow>, StoreError> {
    let sql = sqlx::AssertSqlSafe(format!(
        "SELECT {APPOINTMENT_COLUMNS} FROM appointments WHERE org_id = $1 AND id = $2"
    ));
    let row: Option<AppointmentRow> = sqlx::query_as(sql)
        .bind(org_id)
        .bind(id)
        .fetch_optional(conn)
        .await?;
    row.map(|a| open_appointment(keyring, a)).transpose()
}

/// A user's appointments as patient or provider, from `from` on, by start.
pub async fn for_user(
    conn: &mut Conn,
    keyring: &Keyring,
    user_id: &str,
    from: i64,
) -> Result<Vec<AppointmentRow>, StoreError> {
    let sql = sqlx::AssertSqlSafe(format!(
        "SELECT {APPOINTMENT_COLUMNS} FROM appointments \
         WHERE (patient_id = $1 OR provider_id = $1) AND ends_at > $2 ORDER BY starts_at, id"
    ));
    let rows: Vec<AppointmentRow> = sqlx::query_as(sql)
        .bind(user_id)
        .bind(from)
        .fetch_all(conn)
        .await?;
    rows.into_iter()
        .map(|a| open_appointment(keyring, a))
        .collect()
}

/// Sets (or rotates) a user's calendar feed secret, stored hashed.
pub async fn set_feed(
    conn: &mut Conn,
    user_id: &str,
    token_hash: &str,
    now: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO calendar_feeds (user_id, token_hash, created_at) VALUES ($1, $2, $3) \
         ON CONFLICT (user_id) DO UPDATE SET token_hash = excluded.token_hash, created_at = excluded.created_at",
    )
    .bind(user_id)
    .bind(token_hash)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// Revokes a user's feed; false if there was none.
pub async fn delete_feed(conn: &mut Conn, user_id: &str) -> Result<bool, StoreError> {
    let done = sqlx::query("DELETE FROM calendar_feeds WHERE user_id = $1")
        .bind(user_id)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// The user whose feed secret hashes to `token_hash`.
pub async fn feed_owner(conn: &mut Conn, token_hash: &str) -> Result<Option<String>, StoreError> {
    let row: Option<(String,)> =
        sqlx::query_as("SELECT user_id FROM calendar_feeds WHERE token_hash = $1")
            .bind(token_hash)
            .fetch_optional(conn)
            .await?;
    Ok(row.map(|(u,)| u))
}

/// An appointment with the names a calendar shows.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct FeedRow {
    #[sqlx(flatten)]
    pub appointment: AppointmentRow,
    pub type_name: String,
    pub org_name: String,
}

/// A user's appointments (as patient or provider) ending after `from`. A calendar
/// never shows reasons, so they are not read (`None`), not even sealed.
pub async fn feed_rows(
    conn: &mut Conn,
    user_id: &str,
    from: i64,
) -> Result<Vec<FeedRow>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT a.id, a.org_id, a.provider_id, a.patient_id, a.type_id, a.starts_at, a.ends_at, a.status, \
           CAST(NULL AS TEXT) AS reason, a.booked_by, a.booked_at, a.cancelled_by, a.cancelled_at, \
           CAST(NULL AS TEXT) AS cancel_reason, a.rescheduled_from, t.name AS type_name, o.name AS org_name \
         FROM appointments a JOIN appointment_types t ON t.id = a.type_id \
           JOIN organizations o ON o.id = a.org_id \
         WHERE (a.patient_id = $1 OR a.provider_id = $1) AND a.ends_at > $2 \
         ORDER BY a.starts_at, a.id LIMIT 2000",
    )
    .bind(user_id)
    .bind(from)
    .fetch_all(conn)
    .await?)
}

/// One stored exception (leave, holiday), its reason still sealed.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ExceptionRow {
    pub id: String,
    pub starts_at: i64,
    pub ends_at: i64,
    pub reason: String,
}

/// The provider's exceptions in the organization that end after `from`, soonest first.
pub async fn exceptions(
    conn: &mut Conn,
    keyring: &Keyring,
    provider_id: &str,
    org_id: &str,
    from: i64,
) -> Result<Vec<ExceptionRow>, StoreError> {
    let rows: Vec<ExceptionRow> = sqlx::query_as(
        "SELECT id, starts_at, ends_at, reason FROM availability_exceptions \
         WHERE provider_id = $1 AND org_id = $2 AND ends_at > $3 ORDER BY starts_at, id LIMIT 500",
    )
    .bind(provider_id)
    .bind(org_id)
    .bind(from)
    .fetch_all(conn)
    .await?;
    rows.into_iter()
        .map(|mut r| {
            r.reason = sealed::EXCEPTION_REASON.open(keyring, &r.id, r.reason)?;
            Ok(r)
        })
        .collect()
}

/// Deletes one of the provider's exceptions in the organization; false if none.
pub async fn delete_exception(
    conn: &mut Conn,
    id: &str,
    provider_id: &str,
    org_id: &str,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "DELETE FROM availability_exceptions WHERE id = $1 AND provider_id = $2 AND org_id = $3",
    )
    .bind(id)
    .bind(provider_id)
    .bind(org_id)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}
