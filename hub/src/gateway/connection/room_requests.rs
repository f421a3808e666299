//! A socket's room requests: subscribing (checked against the membership, audited
//! as a read, recovered from an offset), publishing, edits, typing, read receipts and
//! presence (docs/protocol.md).

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use serde_json::json;

use super::{Connection, Subscription};
use crate::{
    audit::{self, AuditEvent, Outcome},
    bus::Event,
    error::Error,
    gateway::{
        feed::{RECEIPT, Subscriber, TYPING},
        protocol::{self, ProtocolError},
    },
    rooms::{self, PublishInput, Recovery},
    store::rooms as room_store,
};

/// Minimum spacing of typing notices per room and socket.
const TYPING_INTERVAL: Duration = Duration::from_secs(2);

impl Connection {
    pub(super) async fn subscribe(
        &mut self,
        room: &str,
        since: Option<protocol::Since>,
    ) -> Result<serde_json::Value, ProtocolError> {
        if self.rooms.contains_key(room) {
            return Err(ProtocolError::new(
                "already_subscribed",
                "this socket is already subscribed to the room",
            ));
        }
        if self.rooms.len() >= self.state.config.gateway.max_rooms_per_connection {
            return Err(ProtocolError::new(
                "too_many_rooms",
                "this socket has reached its subscription limit",
            ));
        }
        let room_row = self.member_room(room).await?;
        let room: Arc<str> = room.into();
        let subscriber = Subscriber {
            user_id: self.user.clone(),
            queue: self.queue(),
            killer: self.killer.clone(),
        };
        self.gateway
            .join(&self.state, &room, self.id, subscriber)
            .await
            .map_err(|e| {
                tracing::warn!(error = %e, "room feed unavailable");
                ProtocolError::new(
                    "unavailable",
                    "live updates for this room are unavailable; retry",
                )
            })?;
        let since_ref = since.as_ref().map(|s| (s.epoch.as_str(), s.offset));
        let recovery = match rooms::recover(&self.state, &room, since_ref).await {
            Ok(r) => r,
            Err(e) => {
                self.gateway.leave(&room, self.id);
                return Err(e.into());
            }
        };
        if let Err(e) = self
            .audit_subscribe(&room_row, since.as_ref(), &recovery)
            .await
        {
            self.gateway.leave(&room, self.id);
            return Err(e.into());
        }
        self.gateway
            .presence
            .arrived(&self.state, &room, &self.user)
            .await;
        let presence = self
            .gateway
            .presence
            .users(&self.state, &room)
            .await
            .unwrap_or_default();
        let (epoch, offset, recovered) = match recovery {
            Recovery::Complete {
                epoch,
                offset,
                missed,
            } => (epoch, offset, Ok(missed)),
            Recovery::Impossible {
                epoch,
                offset,
                reason,
            } => (epoch, offset, Err(reason)),
        };
        // Live events continue after `offset`, whether or not the client recovered.
        self.rooms.insert(
            room.clone(),
            Subscription {
                offset,
                last_typing: None,
            },
        );
        let mut reply = json!({
            "room": &*room, "epoch": epoch, "offset": offset, "presence": presence,
        });
        match recovered {
            Ok(missed) if since.is_some() => {
                reply["recovered"] = json!(true);
                reply["missed"] = json!(missed);
            }
            Ok(_) => {}
            Err(reason) => {
                reply["recovered"] = json!(false);
                reply["reason"] = json!(reason);
            }
        }
        Ok(reply)
    }

    /// Every live read of a room is audited like a history read: it is a read
    /// of a patient's conversation.
    async fn audit_subscribe(
        &self,
        room: &room_store::RoomRow,
        since: Option<&protocol::Since>,
        recovery: &Recovery,
    ) -> Result<(), Error> {
        let (recovered, missed) = match recovery {
            Recovery::Complete { missed, .. } => (since.is_some(), missed.len()),
            Recovery::Impossible { .. } => (false, 0),
        };
        let tx = self.state.store.begin_write().await?;
        audit::commit_with(
            tx,
            &AuditEvent::new("room.subscribe", Outcome::Success)
                .actor(Some(&self.user), None)
                .org(&room.org_id)
                .target("room", &room.id)
                .details(json!({
                    "patient_id": room.patient_id,
                    "since": since.map(|s| s.offset),
                    "recovered": recovered,
                    "missed": missed,
                    "connection": self.id,
                })),
            self.state.clock.now_ms(),
        )
        .await?;
        Ok(())
    }

    /// The room, if the caller is a member. Unknown and forbidden rooms get the
    /// same answer so room ids cannot be probed.
    async fn member_room(&self, room: &str) -> Result<room_store::RoomRow, ProtocolError> {
        if uuid::Uuid::parse_str(room).is_err() {
            return Err(room_not_found());
        }
        let mut conn = self.state.store.conn().await.map_err(Error::from)?;
        let row = room_store::by_id(&mut conn, &self.state.keyring, room)
            .await
            .map_err(Error::from)?
            .ok_or_else(room_not_found)?;
        room_store::member(&mut conn, room, &self.user)
            .await
            .map_err(Error::from)?
            .ok_or_else(room_not_found)?;
        Ok(row)
    }

    pub(super) fn unsubscribe(&mut self, room: &str) -> Result<serde_json::Value, ProtocolError> {
        let (room, _) = self.rooms.remove_entry(room).ok_or_else(not_subscribed)?;
        self.leave_feed(&room);
        Ok(json!({ "room": &*room }))
    }

    pub(super) async fn publish(
        &mut self,
        room: &str,
        client_id: String,
        body: String,
    ) -> Result<serde_json::Value, ProtocolError> {
        if uuid::Uuid::parse_str(room).is_err() {
            return Err(room_not_found());
        }
        // Malformed sends are refused before they cost the user any of their rate.
        let g = &self.state.config.gateway;
        rooms::validate_client_id(&client_id).map_err(crate::error::Error::from)?;
        rooms::validate_body(&body, g.max_body_chars).map_err(crate::error::Error::from)?;
        self.take_rate()?;
        let input = PublishInput { client_id, body };
        match rooms::publish(&self.state, &self.user, room, &input).await {
            Ok(published) => Ok(json!(published)),
            Err(Error::NotFound(_)) => {
                // No longer a member (the removal notice may have been lost on the
                // bus): stop delivering the room to this socket too.
                self.forget_room(room);
                Err(room_not_found())
            }
            Err(e) => Err(e.into()),
        }
    }

    /// An edit (`body`) or a deletion (`None`) of the user's own message. Each is
    /// a stored event like a publish, so it spends the same per-user rate.
    pub(super) async fn edit(
        &mut self,
        room: &str,
        message_id: &str,
        body: Option<&str>,
    ) -> Result<serde_json::Value, ProtocolError> {
        if let Some(body) = body {
            // Malformed edits are refused before they cost the user any of their rate.
            rooms::validate_body(body, self.state.config.gateway.max_body_chars)
                .map_err(crate::error::Error::from)?;
        }
        self.take_rate()?;
        let event = match body {
            Some(body) => {
                rooms::edit_message(&self.state, &self.user, room, message_id, body).await
            }
            None => rooms::delete_message(&self.state, &self.user, room, message_id).await,
        };
        event
            .map(|e| json!({ "event": e }))
            .map_err(ProtocolError::from)
    }

    /// Spends one unit of the user's message rate (publishes, edits, deletions).
    fn take_rate(&self) -> Result<(), ProtocolError> {
        let rate = self.state.config.gateway.messages_per_second;
        if self.gateway.allow_publish(&self.user, rate, Instant::now()) {
            Ok(())
        } else {
            Err(ProtocolError::new(
                "rate_limited",
                "too many messages; slow down",
            ))
        }
    }

    pub(super) async fn typing(&mut self, room: &str) -> Result<serde_json::Value, ProtocolError> {
        let sub = self.rooms.get_mut(room).ok_or_else(not_subscribed)?;
        let now = Instant::now();
        if sub
            .last_typing
            .is_some_and(|t| now.duration_since(t) < TYPING_INTERVAL)
        {
            return Ok(json!({}));
        }
        sub.last_typing = Some(now);
        self.announce(room, TYPING, json!({ "user_id": &*self.user }))
            .await;
        Ok(json!({}))
    }

    pub(super) async fn read(
        &mut self,
        room: &str,
        offset: i64,
    ) -> Result<serde_json::Value, ProtocolError> {
        if offset < 1 {
            return Err(ProtocolError::new(
                "invalid_request",
                "offset must be at least 1",
            ));
        }
        if uuid::Uuid::parse_str(room).is_err() {
            return Err(room_not_found());
        }
        let moved = async {
            let mut conn = self.state.store.conn().await?;
            if room_store::member(&mut conn, room, &self.user)
                .await?
                .is_none()
            {
                return Ok(None);
            }
            let moved = room_store::mark_read(&mut conn, room, &self.user, offset).await?;
            if moved {
                let now = self.state.clock.now_ms();
                crate::notifications::unread::on_read(&mut conn, room, &self.user, now).await?;
            }
            Ok::<_, Error>(Some(moved))
        }
        .await?;
        match moved {
            None => {
                self.forget_room(room);
                Err(room_not_found())
            }
            Some(moved) => {
                if moved {
                    self.announce(
                        room,
                        RECEIPT,
                        json!({ "user_id": &*self.user, "offset": offset }),
                    )
                    .await;
                }
                Ok(json!({ "room": room, "offset": offset, "moved": moved }))
            }
        }
    }

    pub(super) async fn presence(&self, room: &str) -> Result<serde_json::Value, ProtocolError> {
        if !self.rooms.contains_key(room) {
            return Err(not_subscribed());
        }
        let users = self.gateway.presence.users(&self.state, room).await?;
        Ok(json!({ "room": room, "users": users }))
    }

    async fn announce(&self, room: &str, kind: &str, payload: serde_json::Value) {
        let event = Event {
            topic: rooms::topic(room),
            kind: kind.into(),
            payload,
        };
        if let Err(e) = self.state.bus.publish(event).await {
            tracing::debug!(error = %e, kind, "live notice not published");
        }
    }
}

/// Unknown rooms and rooms the user is not in get the same answer, so room ids
/// cannot be probed.
pub(super) fn room_not_found() -> ProtocolError {
    ProtocolError::new("room_not_found", "no such room, or you are not a member")
}

pub(super) fn not_subscribed() -> ProtocolError {
    ProtocolError::new("not_subscribed", "subscribe to the room first")
}
