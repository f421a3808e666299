//! Notices about appointments, written in the booking's own transaction: the
//! patient hears about every change (and the provider's console sees it), and
//! reminders are scheduled, moved and withdrawn with the appointment.

use notifier::outbox::{self, Category, Delivery, NewNotification};
use serde_json::json;

use super::settings;
use crate::{
    error::Result,
    store::{
        Conn, StoreError, orgs,
        scheduling::{self, AppointmentRow},
        users,
    },
};

const REMINDER: &str = "appointment.reminder";

/// What happened to the appointment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Booked,
    Rescheduled,
    Cancelled,
}

impl Change {
    fn template(self) -> &'static str {
        match self {
            Change::Booked => "appointment.booked",
            Change::Rescheduled => "appointment.rescheduled",
            Change::Cancelled => "appointment.cancelled",
        }
    }
}

/// Queues the notices for a change of `row` in the caller's transaction:
/// the patient's (out of band and in-app), the provider's (in-app, in the
/// provider's own template: it names the patient and the type), and the
/// reminders — withdrawn for a cancelled or moved appointment, scheduled for a
/// booked one. `previous` is the appointment a reschedule replaced.
pub async fn on_change(
    conn: &mut Conn,
    change: Change,
    row: &AppointmentRow,
    previous: Option<&str>,
    default_offsets: &[u32],
    now: i64,
) -> Result<()> {
    for id in [Some(row.id.as_str()), previous].into_iter().flatten() {
        if change != Change::Booked {
            outbox::withdraw(conn, id, REMINDER, change.template(), now)
                .await
                .map_err(StoreError::from)?;
        }
    }
    let payload = payload(conn, row).await?;
    let provider_payload = provider_payload(conn, row, &payload).await?;
    let provider_template = format!("{}.provider", change.template());
    let notices = [
        (
            row.patient_id.as_str(),
            Delivery::OutOfBand,
            change.template(),
            &payload,
        ),
        (
            row.patient_id.as_str(),
            Delivery::InApp,
            change.template(),
            &payload,
        ),
        (
            row.provider_id.as_str(),
            Delivery::InApp,
            provider_template.as_str(),
            &provider_payload,
        ),
    ];
    for (recipient, delivery, template, payload) in notices {
        enqueue(
            conn,
            NewNotification {
                idempotency_key: format!(
                    "{}:{}:{recipient}:{}",
                    change.template(),
                    row.id,
                    delivery.as_str()
                ),
                recipient_id: recipient.to_owned(),
                org_id: Some(row.org_id.clone()),
                category: Category::Appointments,
                template: template.to_owned(),
                payload: payload.clone(),
                subject_ref: Some(row.id.clone()),
                delivery,
                due_at: now,
                expires_at: None,
            },
            now,
        )
        .await?;
    }
    if change != Change::Cancelled {
        let offsets = settings::reminder_offsets(conn, &row.org_id, default_offsets).await?;
        schedule_reminders(conn, row, &offsets, &payload, now).await?;
    }
    Ok(())
}

/// One reminder per offset that is still in the future; each expires when the
/// appointment begins, so a late worker never reminds about the past.
async fn schedule_reminders(
    conn: &mut Conn,
    row: &AppointmentRow,
    offsets: &[u32],
    payload: &serde_json::Value,
    now: i64,
) -> Result<()> {
    for &offset in offsets {
        let due_at = reminder_due(row.starts_at, offset);
        if due_at <= now {
            continue;
        }
        enqueue(
            conn,
            NewNotification {
                idempotency_key: format!("{REMINDER}:{}:{offset}", row.id),
                recipient_id: row.patient_id.clone(),
                org_id: Some(row.org_id.clone()),
                category: Category::Reminders,
                template: REMINDER.to_owned(),
                payload: payload.clone(),
                subject_ref: Some(row.id.clone()),
                delivery: Delivery::OutOfBand,
                due_at,
                expires_at: Some(row.starts_at),
            },
            now,
        )
        .await?;
    }
    Ok(())
}

/// When a reminder `offset_min` minutes before `starts_at` is due. Offsets are
/// elapsed time, not wall-clock time: "one hour before" across a daylight-saving
/// change is still sixty minutes before.
pub fn reminder_due(starts_at: i64, offset_min: u32) -> i64 {
    starts_at - i64::from(offset_min) * 60_000
}

async fn enqueue(conn: &mut Conn, n: NewNotification, now: i64) -> Result<()> {
    outbox::enqueue(conn, &n, now)
        .await
        .map_err(StoreError::from)?;
    Ok(())
}

/// Queues the patient's link to a video appointment's visit (by their chosen channel).
/// The link is a credential: the outbox erases it once the notice is handed over, and it
/// is never shown in-app (in-app lists are kept).
pub async fn visit_link(conn: &mut Conn, row: &AppointmentRow, link: &str, now: i64) -> Result<()> {
    let mut payload = payload(conn, row).await?;
    payload["link"] = json!(link);
    enqueue(
        conn,
        NewNotification {
            idempotency_key: format!("visit.link:{}", row.id),
            recipient_id: row.patient_id.clone(),
            org_id: Some(row.org_id.clone()),
            category: Category::Appointments,
            template: "visit.link".to_owned(),
            payload,
            subject_ref: Some(row.id.clone()),
            delivery: Delivery::OutOfBand,
            due_at: now,
            expires_at: Some(row.ends_at),
        },
        now,
    )
    .await
}

/// What the patient's templates show: who, where and when. No reason, no
/// clinical detail: these leave the system by SMS and email.
async fn payload(conn: &mut Conn, row: &AppointmentRow) -> Result<serde_json::Value> {
    let provider = users::by_id(conn, &row.provider_id)
        .await?
        .map(|u| u.display_name);
    let org = orgs::by_id(conn, &row.org_id).await?.map(|o| o.name);
    Ok(json!({
        "appointment_id": row.id,
        "provider": provider.unwrap_or_default(),
        "org": org.unwrap_or_default(),
        "starts_at": row.starts_at,
    }))
}

/// What the provider's templates show besides: the patient's name and the
/// appointment type's. Provider notices are in-app only; the reason stays out.
async fn provider_payload(
    conn: &mut Conn,
    row: &AppointmentRow,
    patient_payload: &serde_json::Value,
) -> Result<serde_json::Value> {
    let patient = users::by_id(conn, &row.patient_id)
        .await?
        .map(|u| u.display_name);
    let kind = scheduling::type_by_id(conn, &row.org_id, &row.type_id)
        .await?
        .map(|t| t.name);
    let mut payload = patient_payload.clone();
    payload["patient"] = json!(patient.unwrap_or_default());
    payload["type"] = json!(kind.unwrap_or_default());
    Ok(payload)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reminder_offsets_are_elapsed_time_across_dst() {
        // 2026-03-08 10:00 EDT (14:00Z), the morning New York springs forward.
        let starts = 1_772_978_400_000;
        // 24 h before is 14:00Z on the 7th = 09:00 EST: the wall clock says 25 h.
        assert_eq!(reminder_due(starts, 24 * 60), 1_772_892_000_000);
        assert_eq!(reminder_due(starts, 60), starts - 3_600_000);
    }
}
