//! Per-user room events: what a member's room list needs to stay current without
//! polling. Each goes to the user's own topic (`user.{id}`), which every node
//! forwards to that user's sockets that sent `notifications` (docs/protocol.md):
//!
//! - `room.activity`: a message arrived in one of their rooms (offset and sender
//!   only, never the body), so the list raises its unread count;
//! - `room.added`: they became a member (added by someone, or by an accepted
//!   referral);
//! - `room.removed`: they lost the room (removed, or the referral that brought
//!   them in ended).
//!
//! These are hints for the list; the room's own subscription and its `unsubscribed`
//! push remain the authority on access.

use serde_json::json;

use crate::{bus::Event, notifications::user_topic, state::AppState, store::rooms};

pub const ACTIVITY: &str = "room.activity";
pub const ADDED: &str = "room.added";
pub const REMOVED: &str = "room.removed";

async fn push(state: &AppState, user_id: &str, kind: &str, payload: serde_json::Value) {
    let event = Event {
        topic: user_topic(user_id),
        kind: kind.into(),
        payload,
    };
    if let Err(e) = state.bus.publish(event).await {
        // Lost hint: the list is right again at its next load.
        tracing::warn!(error = %e, kind, "room user event not announced");
    }
}

/// `user_id` became a member of the room.
pub async fn room_added(state: &AppState, room_id: &str, user_id: &str) {
    push(state, user_id, ADDED, json!({ "room": room_id })).await;
}

/// `user_id` is no longer a member of the room.
pub async fn room_removed(state: &AppState, room_id: &str, user_id: &str) {
    push(state, user_id, REMOVED, json!({ "room": room_id })).await;
}

/// A message at `offset` by `sender_id` was committed: every member with standing
/// hears of it on their own topic. Runs after the reply, off the publish path.
pub fn on_message(state: &AppState, room_id: &str, sender_id: &str, offset: i64) {
    let (state, room_id, sender_id) = (state.clone(), room_id.to_owned(), sender_id.to_owned());
    tokio::spawn(async move {
        let members = match state.store.conn().await {
            Ok(mut conn) => rooms::members(&mut conn, &room_id).await,
            Err(e) => Err(e),
        };
        let members = match members {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(error = %e, "room activity not announced");
                return;
            }
        };
        let payload = json!({ "room": room_id, "offset": offset, "sender_id": sender_id });
        for m in members {
            push(&state, &m.user_id, ACTIVITY, payload.clone()).await;
        }
    });
}
