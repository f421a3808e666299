//! Reads for the patient portal: an organization's bookable providers, and a
//! person's appointments with the names a list shows (provider, type,
//! organization) and the video visit an appointment has.

use super::{
    Conn, StoreError,
    scheduling::{AppointmentRow, open_appointment},
};
use crate::crypto::Keyring;

/// A provider patients can book: a clinician or admin of the organization,
/// still active, with weekly hours there.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ProviderRow {
    pub user_id: String,
    pub display_name: String,
    pub time_zone: String,
}

pub async fn bookable_providers(
    conn: &mut Conn,
    org_id: &str,
) -> Result<Vec<ProviderRow>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT s.provider_id AS user_id, u.display_name, s.time_zone \
         FROM provider_schedules s \
           JOIN users u ON u.id = s.provider_id \
           JOIN memberships m ON m.org_id = s.org_id AND m.user_id = s.provider_id \
         WHERE s.org_id = $1 AND m.role IN ('clinician', 'admin') AND u.status = 'active' \
           AND EXISTS (SELECT 1 FROM availability_windows w \
                       WHERE w.provider_id = s.provider_id AND w.org_id = s.org_id) \
         ORDER BY u.display_name, s.provider_id LIMIT 500",
    )
    .bind(org_id)
    .fetch_all(conn)
    .await?)
}

/// An appointment with what a list of them shows.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ListedAppointment {
    #[sqlx(flatten)]
    pub appointment: AppointmentRow,
    pub type_name: String,
    pub mode: String,
    pub org_name: String,
    pub provider_name: String,
    pub patient_name: String,
    pub visit_id: Option<String>,
    pub visit_state: Option<String>,
}

/// `user_id`'s appointments (as patient or provider) ending after `from` and
/// starting before `to`, earliest first, reasons opened.
pub async fn appointments_of(
    conn: &mut Conn,
    keyring: &Keyring,
    user_id: &str,
    from: i64,
    to: i64,
) -> Result<Vec<ListedAppointment>, StoreError> {
    let rows: Vec<ListedAppointment> = sqlx::query_as(
        "SELECT a.id, a.org_id, a.provider_id, a.patient_id, a.type_id, a.starts_at, a.ends_at, a.status, \
           a.reason, a.booked_by, a.booked_at, a.cancelled_by, a.cancelled_at, \
           a.cancel_reason, a.rescheduled_from, \
           t.name AS type_name, t.mode, o.name AS org_name, u.display_name AS provider_name, \
           pu.display_name AS patient_name, v.id AS visit_id, v.state AS visit_state \
         FROM appointments a \
           JOIN appointment_types t ON t.id = a.type_id \
           JOIN organizations o ON o.id = a.org_id \
           JOIN users u ON u.id = a.provider_id \
           JOIN users pu ON pu.id = a.patient_id \
           LEFT JOIN visits v ON v.appointment_id = a.id \
         WHERE (a.patient_id = $1 OR a.provider_id = $1) AND a.ends_at > $2 AND a.starts_at < $3 \
         ORDER BY a.starts_at, a.id LIMIT 1000",
    )
    .bind(user_id)
    .bind(from)
    .bind(to)
    .fetch_all(conn)
    .await?;
    rows.into_iter()
        .map(|mut r| {
            r.appointment = open_appointment(keyring, r.appointment)?;
            Ok(r)
        })
        .collect()
}
