//! A user's own notification settings: phone number, language, time zone, quiet
//! hours and, per category, the channels to use.

use std::collections::BTreeMap;

use notifier::{
    outbox::Category,
    phone::PhoneNumber,
    recipient::{self, OutOfBand, Preference},
    templates::LOCALES,
};
use serde::{Deserialize, Serialize};
use sqlx::Row;
use utoipa::ToSchema;

use crate::{
    accounts::RequestMeta,
    audit::{self, AuditEvent, Outcome},
    error::{Error, Result},
    state::AppState,
    store::StoreError,
};

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QuietHoursView {
    /// Local time `HH:MM` in `time_zone`; may be later than `end` (overnight).
    pub start: String,
    pub end: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CategoryPreference {
    /// Out-of-band channels in order of preference (`sms`, `email`); the next is
    /// the fallback. Empty: none.
    #[schema(value_type = Vec<String>)]
    pub channels: Vec<OutOfBand>,
    /// Whether open sessions show the notice.
    pub in_app: bool,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct NotificationSettings {
    pub email: String,
    pub email_verified: bool,
    pub phone: Option<String>,
    pub locale: String,
    pub time_zone: String,
    pub quiet_hours: Option<QuietHoursView>,
    /// Keyed by `appointments`, `reminders`, `messages`. Critical alerts and
    /// account mail are not configurable.
    pub preferences: BTreeMap<String, CategoryPreference>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SettingsInput {
    /// E.164 (`+14155550100`); `null` removes it. Omitted: unchanged.
    #[serde(default, with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub phone: Option<Option<String>>,
    pub locale: Option<String>,
    /// IANA zone, e.g. `America/New_York`.
    pub time_zone: Option<String>,
    /// `null` turns quiet hours off. Omitted: unchanged.
    #[serde(default, with = "double_option")]
    #[schema(value_type = Option<QuietHoursView>)]
    pub quiet_hours: Option<Option<QuietHoursView>>,
    #[serde(default)]
    pub preferences: BTreeMap<String, CategoryPreference>,
}

/// Tells "absent" (keep) from `null` (clear).
mod double_option {
    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, T: Deserialize<'de>, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Option<T>>, D::Error> {
        Option::<T>::deserialize(d).map(Some)
    }
}

pub async fn get(state: &AppState, user_id: &str) -> Result<NotificationSettings> {
    let mut conn = state.store.conn().await?;
    let row = sqlx::query(
        "SELECT email, email_verified_at, phone, locale, time_zone, quiet_start_min, quiet_end_min \
         FROM users WHERE id = $1",
    )
    .bind(user_id)
    .fetch_optional(&mut *conn)
    .await
    .map_err(StoreError::from)?
    .ok_or(Error::NotFound("account"))?;
    let get = |e: sqlx::Error| Error::from(StoreError::from(e));
    let start: Option<i64> = row.try_get("quiet_start_min").map_err(get)?;
    let end: Option<i64> = row.try_get("quiet_end_min").map_err(get)?;
    let mut preferences = BTreeMap::new();
    for category in Category::CONFIGURABLE {
        let p = recipient::preference(&mut conn, user_id, category)
            .await
            .map_err(StoreError::from)?;
        preferences.insert(
            category.as_str().to_owned(),
            CategoryPreference {
                channels: p.channels,
                in_app: p.in_app,
            },
        );
    }
    Ok(NotificationSettings {
        email: row.try_get("email").map_err(get)?,
        email_verified: row
            .try_get::<Option<i64>, _>("email_verified_at")
            .map_err(get)?
            .is_some(),
        phone: row.try_get("phone").map_err(get)?,
        locale: row.try_get("locale").map_err(get)?,
        time_zone: row.try_get("time_zone").map_err(get)?,
        quiet_hours: match (start, end) {
            (Some(s), Some(e)) => Some(QuietHoursView {
                start: hhmm(s),
                end: hhmm(e),
            }),
            _ => None,
        },
        preferences,
    })
}

fn hhmm(min: i64) -> String {
    format!("{:02}:{:02}", min / 60, min % 60)
}

fn parse_hhmm(field: &'static str, s: &str) -> Result<i64> {
    let bad = || {
        Error::invalid(
            field,
            "invalid_quiet_hours",
            "quiet hours are HH:MM, 00:00 to 23:59",
        )
    };
    let (h, m) = s.split_once(':').ok_or_else(bad)?;
    let (h, m): (i64, i64) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
    if (0..24).contains(&h) && (0..60).contains(&m) {
        Ok(h * 60 + m)
    } else {
        Err(bad())
    }
}

/// A phone number in E.164 form (`+14155550100`), or `invalid_phone`.
pub(crate) fn parse_phone(raw: &str) -> Result<String> {
    PhoneNumber::parse(raw)
        .map(|p| p.as_str().to_owned())
        .map_err(|_| {
            Error::invalid(
                "phone",
                "invalid_phone",
                "phone must be an international number like +14155550100",
            )
        })
}

/// One of the languages the notices are written in, or `invalid_locale`.
pub(crate) fn check_locale(locale: &str) -> Result<()> {
    if LOCALES.contains(&locale) {
        Ok(())
    } else {
        Err(Error::invalid(
            "locale",
            "invalid_locale",
            format!("locale must be one of {}", LOCALES.join(", ")),
        ))
    }
}

/// An IANA time zone name, or `invalid_time_zone`.
pub(crate) fn check_time_zone(zone: &str) -> Result<()> {
    if zone.parse::<chrono_tz::Tz>().is_ok() {
        Ok(())
    } else {
        Err(Error::invalid(
            "time_zone",
            "invalid_time_zone",
            "time_zone must be an IANA zone such as Europe/Lisbon",
        ))
    }
}

/// Validates everything first, then writes it in one transaction: a request with
/// one bad field changes nothing.
pub async fn update(
    state: &AppState,
    user_id: &str,
    input: SettingsInput,
    meta: &RequestMeta,
) -> Result<NotificationSettings> {
    let phone = match &input.phone {
        Some(Some(p)) => Some(Some(parse_phone(p)?)),
        Some(None) => Some(None),
        None => None,
    };
    if let Some(locale) = &input.locale {
        check_locale(locale)?;
    }
    if let Some(zone) = &input.time_zone {
        check_time_zone(zone)?;
    }
    let quiet = match &input.quiet_hours {
        Some(Some(q)) => {
            let (s, e) = (
                parse_hhmm("quiet_hours.start", &q.start)?,
                parse_hhmm("quiet_hours.end", &q.end)?,
            );
            if s == e {
                return Err(Error::invalid(
                    "quiet_hours",
                    "invalid_quiet_hours",
                    "quiet hours must not start and end at the same time",
                ));
            }
            Some(Some((s, e)))
        }
        Some(None) => Some(None),
        None => None,
    };
    let mut preferences = Vec::new();
    for (name, p) in &input.preferences {
        let category = Category::parse(name)
            .filter(|c| Category::CONFIGURABLE.contains(c))
            .ok_or_else(|| {
                Error::invalid(
                    "preferences",
                    "invalid_category",
                    "categories are appointments, reminders and messages",
                )
            })?;
        let distinct: std::collections::HashSet<_> = p.channels.iter().collect();
        if distinct.len() != p.channels.len() {
            return Err(Error::invalid(
                "preferences",
                "invalid_channels",
                "a channel may appear once",
            ));
        }
        preferences.push((
            category,
            Preference {
                channels: p.channels.clone(),
                in_app: p.in_app,
            },
        ));
    }
    let now = state.clock.now_ms();
    let mut tx = state.store.begin_write().await?;
    let store = |e: sqlx::Error| Error::from(StoreError::from(e));
    if let Some(phone) = &phone {
        sqlx::query("UPDATE users SET phone = $2, updated_at = $3 WHERE id = $1")
            .bind(user_id)
            .bind(phone.as_deref())
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(store)?;
    }
    if let Some(locale) = &input.locale {
        sqlx::query("UPDATE users SET locale = $2, updated_at = $3 WHERE id = $1")
            .bind(user_id)
            .bind(locale)
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(store)?;
    }
    if let Some(zone) = &input.time_zone {
        sqlx::query("UPDATE users SET time_zone = $2, updated_at = $3 WHERE id = $1")
            .bind(user_id)
            .bind(zone)
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(store)?;
    }
    if let Some(quiet) = quiet {
        sqlx::query("UPDATE users SET quiet_start_min = $2, quiet_end_min = $3, updated_at = $4 WHERE id = $1")
            .bind(user_id).bind(quiet.map(|q| q.0)).bind(quiet.map(|q| q.1)).bind(now)
            .execute(&mut *tx).await.map_err(store)?;
    }
    for (category, p) in &preferences {
        recipient::set_preference(&mut tx, user_id, *category, p, now)
            .await
            .map_err(store)?;
    }
    audit::commit_with(
        tx,
        &AuditEvent::new("account.notification_settings", Outcome::Success)
            .actor(Some(user_id), meta.ip.as_deref())
            .target("user", user_id)
            .details(serde_json::json!({
                "phone_changed": phone.is_some(), "categories": preferences.len(),
            })),
        now,
    )
    .await?;
    get(state, user_id).await
}
