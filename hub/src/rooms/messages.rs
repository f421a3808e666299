//! Messages: publish (idempotent by client id), edit and delete as new stream
//! events, and history pages with each message in its current state.

use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};

use super::{
    RoomContext,
    stream::{BUS_KIND, StreamEvent, seal_body, stream_event, to_bus_payload},
    topic,
};
use crate::{
    accounts::{Principal, RequestMeta},
    audit::{self, AuditEvent, Outcome},
    bus::Event,
    clock::rfc3339,
    domain::ValidationError,
    error::{Error, Result},
    state::AppState,
    store::rooms::{self, EventRow},
};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PublishInput {
    /// Chosen by the client; a retry with the same id lands once.
    #[schema(example = "c-7f3a9d")]
    pub client_id: String,
    pub body: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EditInput {
    pub body: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Published {
    /// The client id was already used: `event` is the message stored then.
    pub duplicate: bool,
    pub event: StreamEvent,
}

/// Checks a client id: 1–64 characters of `[A-Za-z0-9_.:-]`.
pub fn validate_client_id(client_id: &str) -> Result<(), ValidationError> {
    let ok = (1..=64).contains(&client_id.len())
        && client_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b':' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(ValidationError::new(
            "client_id",
            "invalid_client_id",
            "client_id must be 1-64 characters of letters, digits and _ . : -",
        ))
    }
}

/// Checks a body: not blank, at most `max_chars` characters.
pub fn validate_body(body: &str, max_chars: usize) -> Result<(), ValidationError> {
    if body.trim().is_empty() || body.chars().count() > max_chars {
        return Err(ValidationError::new(
            "body",
            "invalid_body",
            format!("body must hold 1 to {max_chars} characters"),
        ));
    }
    Ok(())
}

/// Stores a message and announces it. The offset is taken in the same
/// transaction as the insert; a retried `client_id` returns the stored message.
pub async fn publish(
    state: &AppState,
    sender_id: &str,
    room_id: &str,
    input: &PublishInput,
) -> Result<Published> {
    validate_client_id(&input.client_id)?;
    validate_body(&input.body, state.config.gateway.max_body_chars)?;
    let now = state.clock.now_ms();
    let id = uuid::Uuid::now_v7().to_string();
    // Sealed before the transaction: the room's row lock is held only for SQL.
    let sealed = seal_body(&state.keyring, room_id, &id, &input.body);
    let mut tx = state.store.begin_write().await?;
    // Taking the offset locks the room's row, so a concurrent retry with the
    // same client id waits here, then finds the first attempt's row.
    let (seq, epoch) = rooms::next_seq_for_member(&mut tx, room_id, sender_id)
        .await?
        .ok_or(Error::NotFound("room"))?;
    let row = EventRow {
        room_id: room_id.to_owned(),
        seq,
        id: id.clone(),
        kind: "message".into(),
        message_id: id,
        sender_id: sender_id.to_owned(),
        client_id: Some(input.client_id.clone()),
        key_id: Some(sealed.key_id),
        body: Some(sealed.ciphertext),
        created_at: now,
    };
    if !rooms::insert_event_once(&mut tx, &row).await? {
        // A retry: give back the offset (rollback) and return the original.
        tx.rollback().await.map_err(Error::internal)?;
        let mut conn = state.store.conn().await?;
        let existing = rooms::event_by_client_id(&mut conn, room_id, sender_id, &input.client_id)
            .await?
            .ok_or_else(|| Error::internal(anyhow::anyhow!("duplicate vanished")))?;
        return Ok(Published {
            duplicate: true,
            event: stream_event(&state.keyring, &epoch, &existing)?,
        });
    }
    crate::notifications::unread::on_message(
        &mut tx,
        room_id,
        sender_id,
        &state.config.effective_public_url(),
        i64::try_from(state.config.notifier.unread_delay_secs.saturating_mul(1000))
            .unwrap_or(i64::MAX / 2),
        now,
    )
    .await?;
    tx.commit().await.map_err(Error::internal)?;
    announce(state, &epoch, &row).await;
    super::activity::on_message(state, room_id, sender_id, seq);
    Ok(Published {
        duplicate: false,
        event: stream_event(&state.keyring, &epoch, &row)?,
    })
}

/// Records a new body for the sender's own message.
pub async fn edit_message(
    state: &AppState,
    sender_id: &str,
    room_id: &str,
    message_id: &str,
    body: &str,
) -> Result<StreamEvent> {
    validate_body(body, state.config.gateway.max_body_chars)?;
    change(state, sender_id, room_id, message_id, Some(body)).await
}

/// Records the deletion of the sender's own message; the original stays stored.
pub async fn delete_message(
    state: &AppState,
    sender_id: &str,
    room_id: &str,
    message_id: &str,
) -> Result<StreamEvent> {
    change(state, sender_id, room_id, message_id, None).await
}

async fn change(
    state: &AppState,
    sender_id: &str,
    room_id: &str,
    message_id: &str,
    body: Option<&str>,
) -> Result<StreamEvent> {
    let now = state.clock.now_ms();
    let mut tx = state.store.begin_write().await?;
    let (seq, epoch) = rooms::next_seq_for_member(&mut tx, room_id, sender_id)
        .await?
        .ok_or(Error::NotFound("room"))?;
    let original = rooms::message(&mut tx, room_id, message_id)
        .await?
        .ok_or_else(message_not_found)?;
    if original.sender_id != sender_id {
        return Err(Error::conflict(
            "not_author",
            "only the author may change a message",
        ));
    }
    if rooms::is_deleted(&mut tx, room_id, message_id).await? {
        return Err(message_not_found());
    }
    let id = uuid::Uuid::now_v7().to_string();
    let (key_id, sealed) = match body {
        Some(body) => {
            let s = seal_body(&state.keyring, room_id, &id, body);
            (Some(s.key_id), Some(s.ciphertext))
        }
        None => (None, None),
    };
    let row = EventRow {
        room_id: room_id.to_owned(),
        seq,
        id,
        kind: if body.is_some() { "edit" } else { "delete" }.into(),
        message_id: message_id.to_owned(),
        sender_id: sender_id.to_owned(),
        client_id: None,
        key_id,
        body: sealed,
        created_at: now,
    };
    rooms::insert_event_once(&mut tx, &row).await?;
    tx.commit().await.map_err(Error::internal)?;
    announce(state, &epoch, &row).await;
    stream_event(&state.keyring, &epoch, &row)
}

fn message_not_found() -> Error {
    Error::Gone {
        code: "message_not_found",
        message: "no such message in this room".into(),
    }
}

/// Tells every node about a committed event. A failure here loses nothing:
/// nodes notice the gap at the next event or bus disruption and read the
/// database.
async fn announce(state: &AppState, epoch: &str, row: &EventRow) {
    let event = Event {
        topic: topic(&row.room_id),
        kind: BUS_KIND.into(),
        payload: to_bus_payload(epoch, row),
    };
    if let Err(e) = state.bus.publish(event).await {
        tracing::warn!(error = %e, room_id = %row.room_id, "room event not announced");
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct HistoryQuery {
    /// Return messages below this offset (exclusive); omit for the newest.
    pub before: Option<i64>,
    /// Page size, 1–100 (default 50).
    pub limit: Option<i64>,
}

/// A message in its current state.
#[derive(Debug, Serialize, ToSchema)]
pub struct MessageView {
    pub id: String,
    pub offset: i64,
    pub sender_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// The latest body; null once deleted.
    pub body: Option<String>,
    pub deleted: bool,
    pub edited_at: Option<String>,
    pub created_at: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct HistoryPage {
    pub epoch: String,
    /// Offset of the newest event in the stream.
    pub offset: i64,
    /// Newest first.
    pub messages: Vec<MessageView>,
    /// Pass as `before` for the next (older) page; null at the beginning.
    pub next_before: Option<i64>,
}

/// A page of history, newest first, each message with edits and deletion
/// applied. Every read is audited: these are a patient's conversations.
pub async fn history(
    state: &AppState,
    caller: &Principal,
    ctx: &RoomContext,
    query: HistoryQuery,
    meta: &RequestMeta,
) -> Result<HistoryPage> {
    let limit = query.limit.unwrap_or(50);
    if !(1..=100).contains(&limit) {
        return Err(
            ValidationError::new("limit", "invalid_limit", "limit must be 1 to 100").into(),
        );
    }
    if query.before.is_some_and(|b| b < 1) {
        return Err(
            ValidationError::new("before", "invalid_cursor", "before must be at least 1").into(),
        );
    }
    let room_id = &ctx.room.id;
    let mut conn = state.store.conn().await?;
    let (offset, epoch) = rooms::position(&mut conn, room_id)
        .await?
        .ok_or(Error::NotFound("room"))?;
    let before = query.before.unwrap_or(offset + 1);
    let rows = rooms::messages_before(&mut conn, room_id, before, limit).await?;
    let changes = match rows.last() {
        Some(oldest) => rooms::changes_since(&mut conn, room_id, oldest.seq).await?,
        None => Vec::new(),
    };
    drop(conn);
    let mut messages = Vec::with_capacity(rows.len());
    for row in &rows {
        let mut body = stream_event(&state.keyring, &epoch, row)?.body;
        let (mut deleted, mut edited_at) = (false, None);
        for change in changes.iter().filter(|c| c.message_id == row.id) {
            if change.kind == "delete" {
                deleted = true;
                body = None;
            } else if !deleted {
                body = stream_event(&state.keyring, &epoch, change)?.body;
                edited_at = Some(rfc3339(change.created_at));
            }
        }
        messages.push(MessageView {
            id: row.id.clone(),
            offset: row.seq,
            sender_id: row.sender_id.clone(),
            client_id: row.client_id.clone(),
            body,
            deleted,
            edited_at,
            created_at: rfc3339(row.created_at),
        });
    }
    let next_before = (rows.len() as i64 == limit)
        .then(|| rows.last().map(|r| r.seq))
        .flatten()
        .filter(|&s| s > 1);
    let tx = state.store.begin_write().await?;
    audit::commit_with(
        tx,
        &AuditEvent::new("room.messages.read", Outcome::Success)
            .actor(Some(&caller.user_id), meta.ip.as_deref())
            .org(&ctx.room.org_id)
            .target("room", room_id)
            .details(json!({
                "patient_id": ctx.room.patient_id,
                "messages": messages.len(),
                "before": before,
            })),
        state.clock.now_ms(),
    )
    .await?;
    Ok(HistoryPage {
        epoch,
        offset,
        messages,
        next_before,
    })
}
