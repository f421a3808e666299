//! A person's own profile: the name others see, and the phone number, time zone
//! and language the notices use. `PATCH /api/v1/me` changes any of them; the
//! same phone, locale and zone rules apply as in the notification settings,
//! which edit the same columns.

use serde::Deserialize;
use serde_json::json;
use sqlx::Row;
use utoipa::ToSchema;

use super::RequestMeta;
use crate::{
    audit::{self, AuditEvent, Outcome},
    domain::DisplayName,
    error::{Error, Result},
    notifications::contact::{check_locale, check_time_zone, parse_phone},
    state::AppState,
    store::{Conn, StoreError},
};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProfileInput {
    /// 1 to 100 characters. Omitted: unchanged.
    pub display_name: Option<String>,
    /// E.164 (`+14155550100`); `null` removes it. Omitted: unchanged.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub phone: Option<Option<String>>,
    /// IANA zone, e.g. `Europe/Lisbon`.
    pub time_zone: Option<String>,
    /// `en`, `es` or `pt`.
    pub locale: Option<String>,
}

/// Tells "absent" (keep) from `null` (clear).
fn present<'de, T: Deserialize<'de>, D: serde::Deserializer<'de>>(
    d: D,
) -> std::result::Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// The contact fields `GET /me` shows next to the account.
pub struct Contact {
    pub phone: Option<String>,
    pub time_zone: String,
    pub locale: String,
}

pub async fn contact(conn: &mut Conn, user_id: &str) -> Result<Contact> {
    let row = sqlx::query("SELECT phone, time_zone, locale FROM users WHERE id = $1")
        .bind(user_id)
        .fetch_optional(&mut *conn)
        .await
        .map_err(StoreError::from)?
        .ok_or(Error::Unauthenticated)?;
    let get = |e: sqlx::Error| Error::from(StoreError::from(e));
    Ok(Contact {
        phone: row.try_get("phone").map_err(get)?,
        time_zone: row.try_get("time_zone").map_err(get)?,
        locale: row.try_get("locale").map_err(get)?,
    })
}

/// Checks every field first and then writes them in one transaction with the
/// audit row: one bad field changes nothing. The audit row names the fields
/// that changed, never their values.
pub async fn update(
    state: &AppState,
    user_id: &str,
    input: ProfileInput,
    meta: &RequestMeta,
) -> Result<()> {
    let name = input
        .display_name
        .as_deref()
        .map(DisplayName::parse)
        .transpose()?;
    let phone = match &input.phone {
        Some(Some(raw)) => Some(Some(parse_phone(raw)?)),
        Some(None) => Some(None),
        None => None,
    };
    if let Some(zone) = &input.time_zone {
        check_time_zone(zone)?;
    }
    if let Some(locale) = &input.locale {
        check_locale(locale)?;
    }
    let mut changed: Vec<&str> = Vec::new();
    let now = state.clock.now_ms();
    let mut tx = state.store.begin_write().await?;
    if let Some(name) = &name {
        set(
            &mut tx,
            user_id,
            Column::DisplayName,
            Some(name.as_str()),
            now,
        )
        .await?;
        changed.push("display_name");
    }
    if let Some(phone) = &phone {
        set(&mut tx, user_id, Column::Phone, phone.as_deref(), now).await?;
        changed.push("phone");
    }
    if let Some(zone) = &input.time_zone {
        set(&mut tx, user_id, Column::TimeZone, Some(zone), now).await?;
        changed.push("time_zone");
    }
    if let Some(locale) = &input.locale {
        set(&mut tx, user_id, Column::Locale, Some(locale), now).await?;
        changed.push("locale");
    }
    audit::commit_with(
        tx,
        &AuditEvent::new("account.profile_updated", Outcome::Success)
            .actor(Some(user_id), meta.ip.as_deref())
            .target("user", user_id)
            .details(json!({ "fields": changed })),
        now,
    )
    .await?;
    Ok(())
}

/// The profile columns [`set`] may write, each with its statement.
#[derive(Clone, Copy)]
enum Column {
    DisplayName,
    Phone,
    TimeZone,
    Locale,
}

/// Writes one profile column.
async fn set(
    conn: &mut Conn,
    user_id: &str,
    column: Column,
    value: Option<&str>,
    now: i64,
) -> Result<()> {
    let sql = match column {
        Column::DisplayName => "UPDATE users SET display_name = $2, updated_at = $3 WHERE id = $1",
        Column::Phone => "UPDATE users SET phone = $2, updated_at = $3 WHERE id = $1",
        Column::TimeZone => "UPDATE users SET time_zone = $2, updated_at = $3 WHERE id = $1",
        Column::Locale => "UPDATE users SET locale = $2, updated_at = $3 WHERE id = $1",
    };
    sqlx::query(sql)
        .bind(user_id)
        .bind(value)
        .bind(now)
        .execute(conn)
        .await
        .map_err(StoreError::from)?;
    Ok(())
}
