//! Who a notice is for: how to reach them, in which language and zone, when not
//! to disturb them, and which channels they chose per category.

use chrono_tz::Tz;
use sqlx::{AnyConnection, Row};

use crate::{outbox::Category, quiet_hours::QuietHours};

/// A recipient as the worker needs them, read at send time so a changed phone
/// number, preference or opt-out applies to notices already queued.
#[derive(Debug, Clone)]
pub struct Recipient {
    pub id: String,
    pub email: String,
    pub email_verified: bool,
    pub display_name: String,
    pub phone: Option<String>,
    pub locale: String,
    pub time_zone: Tz,
    pub quiet_hours: Option<QuietHours>,
    pub active: bool,
    pub sms_opted_out: bool,
}

pub async fn load(
    conn: &mut AnyConnection,
    user_id: &str,
) -> Result<Option<Recipient>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT u.id, u.email, u.email_verified_at, u.display_name, u.phone, u.locale, u.time_zone, \
         u.quiet_start_min, u.quiet_end_min, u.status, \
         (SELECT COUNT(*) FROM sms_opt_outs o WHERE o.phone = u.phone) AS opted_out \
         FROM users u WHERE u.id = $1",
    )
    .bind(user_id)
    .fetch_optional(conn)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let zone: String = row.try_get("time_zone")?;
    let start: Option<i64> = row.try_get("quiet_start_min")?;
    let end: Option<i64> = row.try_get("quiet_end_min")?;
    Ok(Some(Recipient {
        id: row.try_get("id")?,
        email: row.try_get("email")?,
        email_verified: row
            .try_get::<Option<i64>, _>("email_verified_at")?
            .is_some(),
        display_name: row.try_get("display_name")?,
        phone: row.try_get("phone")?,
        locale: row.try_get("locale")?,
        time_zone: zone.parse().unwrap_or(Tz::UTC),
        quiet_hours: match (start, end) {
            (Some(s), Some(e)) => Some(QuietHours {
                start_min: u32::try_from(s).unwrap_or(0),
                end_min: u32::try_from(e).unwrap_or(0),
            }),
            _ => None,
        },
        active: row.try_get::<String, _>("status")? == "active",
        sms_opted_out: row.try_get::<i64, _>("opted_out")? > 0,
    }))
}

/// Someone reached only by an email address (an invitee without an account):
/// written to in `locale`, greeted by no name, never quiet, never by SMS.
pub fn addressed(address: &str, locale: &str) -> Recipient {
    Recipient {
        id: String::new(),
        email: address.to_owned(),
        email_verified: false,
        display_name: String::new(),
        phone: None,
        locale: locale.to_owned(),
        time_zone: Tz::UTC,
        quiet_hours: None,
        active: true,
        sms_opted_out: false,
    }
}

/// An out-of-band channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OutOfBand {
    Sms,
    Email,
}

impl OutOfBand {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sms => "sms",
            Self::Email => "email",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "sms" => Some(Self::Sms),
            "email" => Some(Self::Email),
            _ => None,
        }
    }
}

/// A user's choice for one category.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Preference {
    /// Tried in this order; the next is the fallback when one fails.
    pub channels: Vec<OutOfBand>,
    /// Whether open sessions show the notice.
    pub in_app: bool,
}

/// What a user gets before choosing: reminders by SMS falling back to email,
/// everything else by email, and in-app notices everywhere.
pub fn default_preference(category: Category) -> Preference {
    let channels = match category {
        Category::Reminders | Category::Critical => vec![OutOfBand::Sms, OutOfBand::Email],
        _ => vec![OutOfBand::Email],
    };
    Preference {
        channels,
        in_app: true,
    }
}

pub async fn preference(
    conn: &mut AnyConnection,
    user_id: &str,
    category: Category,
) -> Result<Preference, sqlx::Error> {
    if !Category::CONFIGURABLE.contains(&category) {
        return Ok(default_preference(category));
    }
    let row = sqlx::query(
        "SELECT channels, in_app FROM notification_preferences WHERE user_id = $1 AND category = $2",
    )
    .bind(user_id)
    .bind(category.as_str())
    .fetch_optional(conn)
    .await?;
    Ok(match row {
        Some(row) => Preference {
            channels: row
                .try_get::<String, _>("channels")?
                .split(',')
                .filter_map(OutOfBand::parse)
                .collect(),
            in_app: row.try_get::<i64, _>("in_app")? == 1,
        },
        None => default_preference(category),
    })
}

pub async fn set_preference(
    conn: &mut AnyConnection,
    user_id: &str,
    category: Category,
    preference: &Preference,
    now: i64,
) -> Result<(), sqlx::Error> {
    let channels: Vec<&str> = preference.channels.iter().map(|c| c.as_str()).collect();
    sqlx::query(
        "INSERT INTO notification_preferences (user_id, category, channels, in_app, updated_at) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (user_id, category) DO UPDATE SET \
         channels = excluded.channels, in_app = excluded.in_app, updated_at = excluded.updated_at",
    )
    .bind(user_id)
    .bind(category.as_str())
    .bind(channels.join(","))
    .bind(i64::from(preference.in_app))
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// The out-of-band channels to try for a notice, in order, given the
/// recipient's choice and what can reach them now.
///
/// Account mail goes to the address being verified or reset and nowhere else.
/// Critical alerts cannot be silenced: the user's order comes first, then every
/// other channel that can reach them.
pub fn channel_order(
    category: Category,
    preference: &Preference,
    recipient: &Recipient,
) -> Vec<OutOfBand> {
    let mut order = match category {
        Category::Account => vec![OutOfBand::Email],
        Category::Critical => {
            let mut order = preference.channels.clone();
            for c in [OutOfBand::Sms, OutOfBand::Email] {
                if !order.contains(&c) {
                    order.push(c);
                }
            }
            order
        }
        _ => preference.channels.clone(),
    };
    order.retain(|c| match c {
        OutOfBand::Sms => recipient.phone.is_some() && !recipient.sms_opted_out,
        OutOfBand::Email => !recipient.email.is_empty(),
    });
    order
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recipient(phone: Option<&str>, opted_out: bool) -> Recipient {
        Recipient {
            id: "u".into(),
            email: "a@b.example".into(),
            email_verified: true,
            display_name: "A".into(),
            phone: phone.map(str::to_owned),
            locale: "en".into(),
            time_zone: Tz::UTC,
            quiet_hours: None,
            active: true,
            sms_opted_out: opted_out,
        }
    }

    #[test]
    fn reminders_default_to_sms_then_email() {
        let p = default_preference(Category::Reminders);
        let r = recipient(Some("+14155550100"), false);
        assert_eq!(
            channel_order(Category::Reminders, &p, &r),
            vec![OutOfBand::Sms, OutOfBand::Email]
        );
    }

    #[test]
    fn no_phone_or_opted_out_skips_sms() {
        let p = default_preference(Category::Reminders);
        assert_eq!(
            channel_order(Category::Reminders, &p, &recipient(None, false)),
            vec![OutOfBand::Email]
        );
        assert_eq!(
            channel_order(
                Category::Reminders,
                &p,
                &recipient(Some("+14155550100"), true)
            ),
            vec![OutOfBand::Email]
        );
    }

    #[test]
    fn silenced_category_sends_nothing_but_critical_still_goes_out() {
        let silent = Preference {
            channels: vec![],
            in_app: false,
        };
        let r = recipient(Some("+14155550100"), false);
        assert!(channel_order(Category::Appointments, &silent, &r).is_empty());
        assert_eq!(
            channel_order(Category::Critical, &silent, &r),
            vec![OutOfBand::Sms, OutOfBand::Email]
        );
        assert_eq!(
            channel_order(Category::Account, &silent, &r),
            vec![OutOfBand::Email]
        );
    }
}
