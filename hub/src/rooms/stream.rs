//! A room's stream as clients see it: events with `(epoch, offset)`, their
//! encryption at rest, their form on the bus, and recovery of missed events.

use base64::{Engine, engine::general_purpose::STANDARD as BASE64};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{
    clock::rfc3339,
    crypto::{Keyring, Sealed},
    error::{Error, Result},
    state::AppState,
    store::rooms::{self, EventRow},
};

/// One event of a room's stream, as pushed to clients (`"type": "event"`).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct StreamEvent {
    #[serde(rename = "type")]
    #[schema(example = "event")]
    pub frame_type: String,
    pub room: String,
    pub epoch: String,
    pub offset: i64,
    /// `message`, `edit` or `delete`.
    pub kind: String,
    pub id: String,
    pub message_id: String,
    pub sender_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    pub created_at: String,
}

/// The associated data binding a sealed body to its room and event: a body
/// copied into another row or room fails to decrypt.
pub(crate) fn body_aad(room_id: &str, event_id: &str) -> Vec<u8> {
    format!("room_event:{room_id}:{event_id}").into_bytes()
}

pub(crate) fn seal_body(keyring: &Keyring, room_id: &str, event_id: &str, body: &str) -> Sealed {
    keyring.encrypt(body.as_bytes(), &body_aad(room_id, event_id))
}

/// Decrypts a stored event into its client form.
pub fn stream_event(keyring: &Keyring, epoch: &str, row: &EventRow) -> Result<StreamEvent> {
    let body = match (&row.key_id, &row.body) {
        (Some(key_id), Some(ciphertext)) => {
            let sealed = Sealed {
                key_id: key_id.clone(),
                ciphertext: ciphertext.clone(),
            };
            let plain = keyring
                .decrypt(&sealed, &body_aad(&row.room_id, &row.id))
                .map_err(|e| Error::internal(anyhow::anyhow!("event {}: {e}", row.id)))?;
            Some(String::from_utf8(plain).map_err(Error::internal)?)
        }
        _ => None,
    };
    Ok(StreamEvent {
        frame_type: "event".into(),
        room: row.room_id.clone(),
        epoch: epoch.to_owned(),
        offset: row.seq,
        kind: row.kind.clone(),
        id: row.id.clone(),
        message_id: row.message_id.clone(),
        sender_id: row.sender_id.clone(),
        client_id: row.client_id.clone(),
        body,
        created_at: rfc3339(row.created_at),
    })
}

/// An event as it travels on the bus: the stored row, body still sealed, so
/// PHI never crosses Redis in the clear. Each node decrypts once for all its
/// subscribers.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct BusEvent {
    epoch: String,
    seq: i64,
    id: String,
    kind: String,
    message_id: String,
    sender_id: String,
    client_id: Option<String>,
    key_id: Option<String>,
    body: Option<String>,
    created_at: i64,
}

/// The bus kind of stream events on a room's topic.
pub const BUS_KIND: &str = "room.event";

pub fn to_bus_payload(epoch: &str, row: &EventRow) -> serde_json::Value {
    serde_json::to_value(BusEvent {
        epoch: epoch.to_owned(),
        seq: row.seq,
        id: row.id.clone(),
        kind: row.kind.clone(),
        message_id: row.message_id.clone(),
        sender_id: row.sender_id.clone(),
        client_id: row.client_id.clone(),
        key_id: row.key_id.clone(),
        body: row.body.as_ref().map(|b| BASE64.encode(b)),
        created_at: row.created_at,
    })
    .unwrap_or_default()
}

/// Reads a bus payload back into `(epoch, row)`; `None` if it is malformed.
pub fn decode_bus_event(room_id: &str, payload: &serde_json::Value) -> Option<(String, EventRow)> {
    let e: BusEvent = serde_json::from_value(payload.clone()).ok()?;
    let body = match e.body {
        Some(b) => Some(BASE64.decode(b).ok()?),
        None => None,
    };
    Some((
        e.epoch,
        EventRow {
            room_id: room_id.to_owned(),
            seq: e.seq,
            id: e.id,
            kind: e.kind,
            message_id: e.message_id,
            sender_id: e.sender_id,
            client_id: e.client_id,
            key_id: e.key_id,
            body,
            created_at: e.created_at,
        },
    ))
}

/// The outcome of a recovering subscribe.
#[derive(Debug)]
pub enum Recovery {
    /// Every event after the client's offset, in order, up to `offset`.
    Complete {
        epoch: String,
        offset: i64,
        missed: Vec<StreamEvent>,
    },
    /// The server will not send a partial set; the client reloads history and
    /// continues from `(epoch, offset)`.
    Impossible {
        epoch: String,
        offset: i64,
        reason: &'static str,
    },
}

/// Everything after `(since_epoch, since_offset)` up to the room's current
/// position, or an explicit refusal. All or nothing: the events are counted
/// against the offsets before they are returned.
pub async fn recover(
    state: &AppState,
    room_id: &str,
    since: Option<(&str, i64)>,
) -> Result<Recovery> {
    let mut conn = state.store.conn().await?;
    let (offset, epoch) = rooms::position(&mut conn, room_id)
        .await?
        .ok_or(Error::NotFound("room"))?;
    let Some((since_epoch, since_offset)) = since else {
        return Ok(Recovery::Complete {
            epoch,
            offset,
            missed: Vec::new(),
        });
    };
    let impossible = |reason| Recovery::Impossible {
        epoch: epoch.clone(),
        offset,
        reason,
    };
    if since_epoch != epoch {
        return Ok(impossible("epoch_changed"));
    }
    // Same epoch but a position this room never reached (the gateway refuses
    // negative offsets before this): the client's state is not from this
    // stream, so it must reload rather than wait for events it thinks it has.
    if since_offset < 0 || since_offset > offset {
        return Ok(impossible("ahead_of_stream"));
    }
    let max = state.config.gateway.max_recovery_events as i64;
    if offset - since_offset > max {
        return Ok(impossible("too_far_behind"));
    }
    let rows = rooms::events_between(&mut conn, room_id, since_offset, offset, max).await?;
    let contiguous = rows.len() as i64 == offset - since_offset
        && rows
            .iter()
            .zip(since_offset + 1..)
            .all(|(row, want)| row.seq == want);
    if !contiguous {
        tracing::error!(room_id, since_offset, offset, "room stream has a hole");
        return Ok(impossible("too_far_behind"));
    }
    let missed = rows
        .iter()
        .map(|row| stream_event(&state.keyring, &epoch, row))
        .collect::<Result<Vec<_>>>()?;
    Ok(Recovery::Complete {
        epoch,
        offset,
        missed,
    })
}
