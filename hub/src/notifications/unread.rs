//! "You have new messages": a member who is away when a message arrives hears
//! about it once, later, without its content — unless they read it first.
//!
//! The notice is written in the message's own transaction, due after
//! `notifier.unread_delay_secs`, at most one per member and room per hour
//! (the idempotency key), and withdrawn when the member reads the room.

use notifier::outbox::{self, Category, Delivery, NewNotification};
use serde_json::json;

use crate::{
    error::Result,
    store::{Conn, StoreError},
};

const TEMPLATE: &str = "message.unread";
const HOUR_MS: i64 = 3_600_000;

fn subject(room_id: &str, user_id: &str) -> String {
    format!("{room_id}:{user_id}")
}

/// Queues the notice for every member of the room, but the sender, who has no
/// socket in it now.
pub async fn on_message(
    conn: &mut Conn,
    room_id: &str,
    sender_id: &str,
    public_url: &str,
    delay_ms: i64,
    now: i64,
) -> Result<()> {
    // Only members who still hold a role in a taking-part organization hear of it.
    let sql = sqlx::AssertSqlSafe(format!(
        "SELECT m.user_id, r.org_id, o.name FROM room_members m \
         JOIN rooms r ON r.id = m.room_id JOIN organizations o ON o.id = r.org_id \
         WHERE m.room_id = $1 AND m.user_id <> $2 AND {} \
           AND NOT EXISTS (SELECT 1 FROM room_presence p WHERE p.room_id = m.room_id AND p.user_id = m.user_id)",
        crate::store::rooms::HAS_STANDING
    ));
    let away: Vec<(String, String, String)> = sqlx::query_as(sql)
        .bind(room_id)
        .bind(sender_id)
        .fetch_all(&mut *conn)
        .await
        .map_err(StoreError::from)?;
    for (user_id, org_id, org_name) in away {
        outbox::enqueue(
            conn,
            &NewNotification {
                idempotency_key: format!("{TEMPLATE}:{room_id}:{user_id}:{}", now / HOUR_MS),
                recipient_id: user_id.clone(),
                org_id: Some(org_id),
                category: Category::Messages,
                template: TEMPLATE.into(),
                payload: json!({ "org": org_name, "link": super::links::console(public_url) }),
                subject_ref: Some(subject(room_id, &user_id)),
                delivery: Delivery::OutOfBand,
                due_at: now + delay_ms,
                expires_at: None,
            },
            now,
        )
        .await
        .map_err(StoreError::from)?;
    }
    Ok(())
}

/// The member read the room: any notice still waiting is no longer needed.
pub async fn on_read(conn: &mut Conn, room_id: &str, user_id: &str, now: i64) -> Result<()> {
    outbox::withdraw(conn, &subject(room_id, user_id), TEMPLATE, "read", now)
        .await
        .map_err(StoreError::from)?;
    Ok(())
}
