//! The in-app notice that tells a referred organization's admins a case was
//! referred to them (and waits for their answer), queued in the referral's transaction. It names the
//! referring organization only: no patient, no clinical detail.

use notifier::outbox::{self, Category, Delivery, NewNotification};
use serde_json::json;

use crate::{
    error::Result,
    store::{Conn, StoreError, orgs},
};

pub const TEMPLATE: &str = "room.referral";

/// Queues the notice for every admin of `to_org_id`, about referral `referral_id`.
pub async fn queue(
    conn: &mut Conn,
    referral_id: &str,
    from_org_id: &str,
    to_org_id: &str,
    now: i64,
) -> Result<()> {
    let from = orgs::by_id(conn, from_org_id)
        .await?
        .map(|o| o.name)
        .unwrap_or_default();
    let admins: Vec<String> = orgs::members(conn, to_org_id)
        .await?
        .into_iter()
        .filter(|m| m.role == "admin")
        .map(|m| m.user_id)
        .collect();
    for admin in admins {
        outbox::enqueue(
            conn,
            &NewNotification {
                idempotency_key: format!("{TEMPLATE}:{referral_id}:{admin}"),
                recipient_id: admin,
                org_id: Some(to_org_id.to_owned()),
                category: Category::Messages,
                template: TEMPLATE.into(),
                payload: json!({ "org": from }),
                subject_ref: Some(referral_id.to_owned()),
                delivery: Delivery::InApp,
                due_at: now,
                expires_at: None,
            },
            now,
        )
        .await
        .map_err(StoreError::from)?;
    }
    Ok(())
}
