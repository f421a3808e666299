//! Per-organization notification settings: when reminders go out.

use serde::{Deserialize, Serialize};
use sqlx::Row;
use utoipa::ToSchema;

use crate::{
    error::{Error, Result},
    store::{Conn, StoreError},
};

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrgNotificationSettings {
    /// Minutes before an appointment at which reminders go out, e.g. `[1440, 60]`.
    /// One to five offsets between 5 minutes and 30 days.
    pub reminder_offsets_min: Vec<u32>,
}

impl OrgNotificationSettings {
    pub fn validate(&self) -> Result<()> {
        let ok = !self.reminder_offsets_min.is_empty()
            && self.reminder_offsets_min.len() <= 5
            && self
                .reminder_offsets_min
                .iter()
                .all(|m| (5..=30 * 24 * 60).contains(m));
        if ok {
            Ok(())
        } else {
            Err(Error::invalid(
                "reminder_offsets_min",
                "invalid_reminder_offsets",
                "give 1 to 5 offsets, each between 5 and 43200 minutes",
            ))
        }
    }
}

/// The organization's reminder offsets, or `default` when it has not set any.
pub async fn reminder_offsets(conn: &mut Conn, org_id: &str, default: &[u32]) -> Result<Vec<u32>> {
    let row =
        sqlx::query("SELECT reminder_offsets_min FROM org_notification_settings WHERE org_id = $1")
            .bind(org_id)
            .fetch_optional(&mut *conn)
            .await
            .map_err(StoreError::from)?;
    let Some(row) = row else {
        return Ok(default.to_vec());
    };
    let text: String = row
        .try_get("reminder_offsets_min")
        .map_err(StoreError::from)?;
    let offsets: Vec<u32> = text
        .split(',')
        .filter_map(|p| p.trim().parse().ok())
        .collect();
    Ok(if offsets.is_empty() {
        default.to_vec()
    } else {
        offsets
    })
}

pub async fn set_reminder_offsets(
    conn: &mut Conn,
    org_id: &str,
    offsets: &[u32],
    now: i64,
) -> Result<()> {
    let text: Vec<String> = offsets.iter().map(u32::to_string).collect();
    sqlx::query(
        "INSERT INTO org_notification_settings (org_id, reminder_offsets_min, updated_at) VALUES ($1, $2, $3) \
         ON CONFLICT (org_id) DO UPDATE SET reminder_offsets_min = excluded.reminder_offsets_min, \
         updated_at = excluded.updated_at",
    )
    .bind(org_id)
    .bind(text.join(","))
    .bind(now)
    .execute(&mut *conn)
    .await
    .map_err(StoreError::from)?;
    Ok(())
}
