//! The caller's own notifications with their text (`GET /me/notifications`):
//! rendered for the reader now, in their language and time zone, exactly as the
//! notifier words them, so a page shows "Appointment confirmed", never an event
//! name.
//!
//! Every item gets its `title` (a template's subject carries no detail). Only
//! in-app notices get a `body`: the text of an email or SMS may hold a
//! credential (a verification or visit link) until it is handed over, and a
//! session is not the mailbox.

use notifier::{
    outbox::{self, Delivery, NotificationSummary},
    recipient,
    templates::{self, Audience},
};
use serde_json::Value;

use crate::{
    error::{Error, Result},
    state::AppState,
    store::StoreError,
};

/// Most notifications one answer holds.
const LIMIT: i64 = 100;

/// One notification and its text.
pub struct InboxItem {
    pub summary: NotificationSummary,
    pub title: String,
    pub body: Option<String>,
}

/// The caller's latest notifications, newest first, with their text.
pub async fn for_user(state: &AppState, user_id: &str) -> Result<Vec<InboxItem>> {
    let mut conn = state.store.conn().await?;
    let rows = outbox::for_recipient_with_payload(&mut conn, user_id, LIMIT)
        .await
        .map_err(StoreError::from)?;
    let reader = recipient::load(&mut conn, user_id)
        .await
        .map_err(StoreError::from)?
        .ok_or(Error::Unauthenticated)?;
    let audience = Audience {
        name: &reader.display_name,
        locale: &reader.locale,
        time_zone: reader.time_zone,
    };
    Ok(rows
        .into_iter()
        .map(|(summary, payload)| text_of(summary, &payload, &audience))
        .collect())
}

fn text_of(summary: NotificationSummary, payload: &Value, audience: &Audience<'_>) -> InboxItem {
    let in_app = summary.delivery == Delivery::InApp.as_str();
    match templates::render(&summary.template, payload, audience) {
        Ok(rendered) => InboxItem {
            title: rendered.subject,
            body: in_app.then(|| rendered.text.lines().next().unwrap_or("").to_owned()),
            summary,
        },
        // A template this build no longer knows: say what kind of notice it was.
        Err(_) => InboxItem {
            title: fallback_title(&summary.category).to_owned(),
            body: None,
            summary,
        },
    }
}

fn fallback_title(category: &str) -> &'static str {
    match category {
        "appointments" => "Appointment update",
        "reminders" => "Appointment reminder",
        "messages" => "New message",
        "critical" => "Urgent alert",
        "account" => "Account notice",
        _ => "Notice",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(template: &str, delivery: &str) -> NotificationSummary {
        NotificationSummary {
            id: "n1".into(),
            recipient_id: "u1".into(),
            org_id: None,
            category: "appointments".into(),
            template: template.into(),
            delivery: delivery.into(),
            channel: None,
            status: "sent".into(),
            attempts: 1,
            due_at: 0,
            sent_at: None,
            last_error: None,
            created_at: 0,
        }
    }

    const AUDIENCE: Audience<'static> = Audience {
        name: "Ana",
        locale: "en",
        time_zone: chrono_tz::UTC,
    };

    #[test]
    fn in_app_notices_get_their_words_and_others_only_a_title() {
        let payload =
            serde_json::json!({"provider": "Dr Ruiz", "type": "Follow-up", "starts_at": 0});
        let item = text_of(summary("appointment.booked", "in_app"), &payload, &AUDIENCE);
        assert!(!item.title.is_empty() && item.title != "appointment.booked");
        let body = item.body.expect("in-app body");
        assert!(body.contains("Dr Ruiz"), "{body}");
        let mail = text_of(
            summary("appointment.booked", "out_of_band"),
            &payload,
            &AUDIENCE,
        );
        assert_eq!(mail.title, item.title);
        assert!(mail.body.is_none());
    }

    #[test]
    fn an_unknown_template_gets_a_plain_title() {
        let item = text_of(summary("gone.template", "in_app"), &Value::Null, &AUDIENCE);
        assert_eq!(item.title, "Appointment update");
        assert!(item.body.is_none());
    }
}
