//! The wire format of `/ws` (docs/protocol.md): requests, replies, errors,
//! pushes and close codes. Parsing is strict and every failure has a stable code.

use axum::extract::ws::Utf8Bytes;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// The protocol version announced in the auth reply.
pub const PROTOCOL_VERSION: u32 = 1;
/// The WebSocket subprotocol name clients offer.
pub const SUBPROTOCOL: &str = "healthbridge.v1";

/// Close codes (docs/protocol.md, "Close codes").
pub mod close {
    pub const GOING_AWAY: u16 = 1001;
    pub const TOO_BIG: u16 = 1009;
    pub const UNAUTHENTICATED: u16 = 4001;
    pub const TOKEN_EXPIRED: u16 = 4002;
    pub const SESSION_REVOKED: u16 = 4003;
    pub const SLOW_CONSUMER: u16 = 4004;
    pub const IDLE: u16 = 4005;
    pub const FLOOD: u16 = 4006;
    /// The user already holds `gateway.max_sockets_per_user` sockets on this node.
    pub const TOO_MANY_SOCKETS: u16 = 4007;
}

/// A request id: a non-negative integer up to 2^53 so JavaScript keeps it exact.
pub type RequestId = u64;
const MAX_ID: u64 = 1 << 53;

/// A request refused before or while it was handled: answered with an `error`
/// frame, changing nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtocolError {
    pub code: &'static str,
    pub message: String,
}

impl ProtocolError {
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

impl From<crate::error::Error> for ProtocolError {
    fn from(e: crate::error::Error) -> Self {
        use crate::error::Error;
        match e {
            Error::NotFound("room") => {
                ProtocolError::new("room_not_found", "no such room, or you are not a member")
            }
            Error::Internal(cause) => {
                tracing::error!(error = ?cause, "request failed");
                ProtocolError::new("unavailable", "the server could not complete this; retry")
            }
            other => ProtocolError::new(other.code(), other.to_string()),
        }
    }
}

/// A parsed request.
#[derive(Debug, Clone, PartialEq)]
pub enum Request {
    Auth {
        token: String,
    },
    Refresh {
        token: String,
    },
    Subscribe {
        room: String,
        since: Option<Since>,
    },
    Unsubscribe {
        room: String,
    },
    Publish {
        room: String,
        client_id: String,
        body: String,
    },
    Edit {
        room: String,
        message_id: String,
        body: String,
    },
    Delete {
        room: String,
        message_id: String,
    },
    Typing {
        room: String,
    },
    Read {
        room: String,
        offset: i64,
    },
    Presence {
        room: String,
    },
    /// Start receiving this user's personal events: notices and appointment
    /// changes (`user_event` pushes).
    Notifications,
    /// Start (or re-scope) the live monitor: a snapshot every 2 s for one
    /// organization, or everything for a platform admin (`org` absent).
    Monitor {
        org: Option<String>,
    },
    /// Stop the live monitor on this socket.
    MonitorStop,
    /// A video visit request (docs/visits.md).
    Visit(super::visit_protocol::VisitRequest),
    Ping,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Since {
    pub epoch: String,
    pub offset: i64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenFields {
    #[serde(rename = "id")]
    _id: Value,
    #[serde(rename = "type")]
    _type: Value,
    token: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MonitorFields {
    #[serde(rename = "id")]
    _id: Value,
    #[serde(rename = "type")]
    _type: Value,
    org: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RoomFields {
    #[serde(rename = "id")]
    _id: Value,
    #[serde(rename = "type")]
    _type: Value,
    room: String,
    since: Option<Since>,
    client_id: Option<String>,
    body: Option<String>,
    message_id: Option<String>,
    offset: Option<i64>,
}

/// Parses one text frame into its id and request. The id is returned even when
/// the rest is invalid, so the error can answer it.
pub fn parse(text: &str) -> (Option<RequestId>, Result<Request, ProtocolError>) {
    let value: Value = match serde_json::from_str(text) {
        Ok(v @ Value::Object(_)) => v,
        _ => {
            return (
                None,
                Err(ProtocolError::new(
                    "malformed_json",
                    "a frame must be one JSON object",
                )),
            );
        }
    };
    let id = match value.get("id") {
        Some(Value::Number(n)) => match n.as_u64().filter(|&n| n <= MAX_ID) {
            Some(id) => Some(id),
            None => return (None, Err(invalid("id must be an integer from 0 to 2^53"))),
        },
        None => return (None, Err(invalid("id is required"))),
        Some(_) => return (None, Err(invalid("id must be an integer from 0 to 2^53"))),
    };
    let kind = match value.get("type") {
        Some(Value::String(s)) => s.clone(),
        _ => return (id, Err(invalid("type is required and must be a string"))),
    };
    let request = match kind.as_str() {
        "auth" | "refresh" => crate::error_text::from_json_value::<TokenFields>(value)
            .map_err(shape)
            .map(|f| {
                if kind == "auth" {
                    Request::Auth { token: f.token }
                } else {
                    Request::Refresh { token: f.token }
                }
            }),
        "ping" => match value.as_object().map(|o| o.len()) {
            Some(2) => Ok(Request::Ping),
            _ => Err(invalid("ping takes no fields")),
        },
        "notifications" => match value.as_object().map(|o| o.len()) {
            Some(2) => Ok(Request::Notifications),
            _ => Err(invalid("notifications takes no fields")),
        },
        "monitor" => crate::error_text::from_json_value::<MonitorFields>(value)
            .map_err(shape)
            .map(|f| Request::Monitor { org: f.org }),
        "monitor_stop" => match value.as_object().map(|o| o.len()) {
            Some(2) => Ok(Request::MonitorStop),
            _ => Err(invalid("monitor_stop takes no fields")),
        },
        "subscribe" | "unsubscribe" | "publish" | "edit" | "delete" | "typing" | "read"
        | "presence" => crate::error_text::from_json_value::<RoomFields>(value)
            .map_err(shape)
            .and_then(|f| room_request(&kind, f)),
        k if k.starts_with("visit_") => super::visit_protocol::parse(k, value).map(Request::Visit),
        _ => Err(ProtocolError::new("unknown_type", "unknown request type")),
    };
    (id, request)
}

fn room_request(kind: &str, f: RoomFields) -> Result<Request, ProtocolError> {
    let need =
        |v: Option<String>, name: &str| v.ok_or_else(|| invalid(&format!("{name} is required")));
    let extra = |present: bool| {
        if present {
            Err(invalid("unexpected field for this request type"))
        } else {
            Ok(())
        }
    };
    let room = f.room;
    match kind {
        "subscribe" => {
            extra(
                f.client_id.is_some()
                    || f.body.is_some()
                    || f.message_id.is_some()
                    || f.offset.is_some(),
            )?;
            // An offset is a count of events; a negative one is no position at
            // all, so it is a malformed request rather than a recovery to refuse.
            if f.since.as_ref().is_some_and(|s| s.offset < 0) {
                return Err(invalid("since.offset must be 0 or more"));
            }
            Ok(Request::Subscribe {
                room,
                since: f.since,
            })
        }
        "publish" => {
            extra(f.since.is_some() || f.message_id.is_some() || f.offset.is_some())?;
            Ok(Request::Publish {
                room,
                client_id: f.client_id.ok_or_else(|| {
                    ProtocolError::new("invalid_client_id", "client_id is required")
                })?,
                body: need(f.body, "body")?,
            })
        }
        "edit" => {
            extra(f.since.is_some() || f.client_id.is_some() || f.offset.is_some())?;
            Ok(Request::Edit {
                room,
                message_id: need(f.message_id, "message_id")?,
                body: need(f.body, "body")?,
            })
        }
        "delete" => {
            extra(
                f.since.is_some()
                    || f.client_id.is_some()
                    || f.offset.is_some()
                    || f.body.is_some(),
            )?;
            Ok(Request::Delete {
                room,
                message_id: need(f.message_id, "message_id")?,
            })
        }
        "read" => {
            extra(
                f.since.is_some()
                    || f.client_id.is_some()
                    || f.body.is_some()
                    || f.message_id.is_some(),
            )?;
            let offset = f.offset.ok_or_else(|| invalid("offset is required"))?;
            Ok(Request::Read { room, offset })
        }
        _ => {
            extra(
                f.since.is_some()
                    || f.client_id.is_some()
                    || f.body.is_some()
                    || f.message_id.is_some()
                    || f.offset.is_some(),
            )?;
            Ok(match kind {
                "unsubscribe" => Request::Unsubscribe { room },
                "typing" => Request::Typing { room },
                _ => Request::Presence { room },
            })
        }
    }
}

fn invalid(message: &str) -> ProtocolError {
    ProtocolError::new("invalid_request", message)
}

/// serde's own message can quote the rejected value (a token, a body); this
/// one names the field and the expectation only (`error_text`).
fn shape(message: String) -> ProtocolError {
    invalid(&message)
}

pub fn reply(id: RequestId, result: impl Serialize) -> Utf8Bytes {
    json!({ "id": id, "type": "reply", "result": result })
        .to_string()
        .into()
}

pub fn error(id: Option<RequestId>, e: &ProtocolError) -> Utf8Bytes {
    json!({ "id": id, "type": "error", "error": { "code": e.code, "message": e.message } })
        .to_string()
        .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_request_type() {
        let (id, r) = parse(r#"{"id":1,"type":"auth","token":"t"}"#);
        assert_eq!((id, r), (Some(1), Ok(Request::Auth { token: "t".into() })));
        let (_, r) =
            parse(r#"{"id":2,"type":"subscribe","room":"r","since":{"epoch":"e","offset":4}}"#);
        assert_eq!(
            r,
            Ok(Request::Subscribe {
                room: "r".into(),
                since: Some(Since {
                    epoch: "e".into(),
                    offset: 4
                })
            })
        );
        let (_, r) = parse(r#"{"id":3,"type":"publish","room":"r","client_id":"c1","body":"hi"}"#);
        assert!(matches!(r, Ok(Request::Publish { .. })));
        let (_, r) = parse(r#"{"id":4,"type":"read","room":"r","offset":9}"#);
        assert_eq!(
            r,
            Ok(Request::Read {
                room: "r".into(),
                offset: 9
            })
        );
        assert_eq!(parse(r#"{"id":5,"type":"ping"}"#).1, Ok(Request::Ping));
    }

    #[test]
    fn bad_frames_get_stable_codes() {
        assert_eq!(parse("nope").1.unwrap_err().code, "malformed_json");
        assert_eq!(parse("[1]").1.unwrap_err().code, "malformed_json");
        assert_eq!(
            parse(r#"{"type":"ping"}"#).1.unwrap_err().code,
            "invalid_request"
        );
        assert_eq!(
            parse(r#"{"id":-1,"type":"ping"}"#).1.unwrap_err().code,
            "invalid_request"
        );
        let (id, r) = parse(r#"{"id":7,"type":"launch"}"#);
        assert_eq!((id, r.unwrap_err().code), (Some(7), "unknown_type"));
        let (id, r) = parse(r#"{"id":8,"type":"publish","room":"r","body":"x"}"#);
        assert_eq!((id, r.unwrap_err().code), (Some(8), "invalid_client_id"));
        assert_eq!(
            parse(r#"{"id":9,"type":"subscribe","room":5}"#)
                .1
                .unwrap_err()
                .code,
            "invalid_request"
        );
        assert_eq!(
            parse(r#"{"id":9,"type":"subscribe","room":"r","extra":1}"#)
                .1
                .unwrap_err()
                .code,
            "invalid_request"
        );
        assert_eq!(
            parse(r#"{"id":9,"type":"subscribe","room":"r","since":{"epoch":"e","offset":-1}}"#)
                .1
                .unwrap_err()
                .code,
            "invalid_request"
        );
        assert_eq!(
            parse(r#"{"id":9,"type":"typing","room":"r","body":"x"}"#)
                .1
                .unwrap_err()
                .code,
            "invalid_request"
        );
    }

    #[test]
    fn frames_have_the_documented_shape() {
        let r: Value = serde_json::from_str(&reply(3, json!({"a": 1}))).unwrap();
        assert_eq!(r, json!({"id": 3, "type": "reply", "result": {"a": 1}}));
        let e: Value =
            serde_json::from_str(&error(None, &ProtocolError::new("malformed_json", "m"))).unwrap();
        assert_eq!(e["id"], Value::Null);
        assert_eq!(e["error"]["code"], "malformed_json");
    }
}
