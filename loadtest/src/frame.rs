//! Frames of the hub's protocol v1 (`docs/protocol.md`), as far as the load
//! test needs them.
//!
//! Requests are written straight into a `String` (no intermediate JSON tree).
//! Server frames are parsed into a borrowed view that names only the fields
//! the test reads; serde skips the rest without building them, and the body
//! is borrowed from the frame unless it contains escapes.

use std::borrow::Cow;
use std::fmt::{self, Write};

use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};

/// The parts of a server frame the load test looks at.
#[derive(Debug, Deserialize)]
pub struct ServerFrame<'a> {
    /// `reply`, `error`, `event`, ... On the raw server every frame is a
    /// client's own request echoed back, so this is `publish` there.
    #[serde(rename = "type", borrow)]
    pub ty: Cow<'a, str>,
    /// A request id. Events carry a string `id` (the event id), which is not
    /// a request id and reads as `None`.
    #[serde(default)]
    pub id: RequestId,
    #[serde(default, borrow, deserialize_with = "borrowed_opt")]
    pub body: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub error: Option<ErrorBody<'a>>,
}

#[derive(Debug, Deserialize)]
pub struct ErrorBody<'a> {
    #[serde(borrow)]
    pub code: Cow<'a, str>,
}

/// A numeric request id, or nothing (absent, `null`, or a string event id).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RequestId(pub Option<u64>);

impl<'de> Deserialize<'de> for RequestId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RequestId;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a request id, null or a string")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<RequestId, E> {
                Ok(RequestId(Some(v)))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<RequestId, E> {
                Ok(RequestId(u64::try_from(v).ok()))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<RequestId, E> {
                Ok(RequestId(None))
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<RequestId, E> {
                Ok(RequestId(None))
            }
            fn visit_unit<E: de::Error>(self) -> Result<RequestId, E> {
                Ok(RequestId(None))
            }
            fn visit_none<E: de::Error>(self) -> Result<RequestId, E> {
                Ok(RequestId(None))
            }
        }
        d.deserialize_any(V)
    }
}

/// serde borrows a `Cow<str>` field only when it is the field's whole type;
/// inside an `Option` it would allocate every body. A newtype restores the
/// borrow.
fn borrowed_opt<'de: 'a, 'a, D: Deserializer<'de>>(d: D) -> Result<Option<Cow<'a, str>>, D::Error> {
    #[derive(Deserialize)]
    struct Borrowed<'a>(#[serde(borrow)] Cow<'a, str>);
    Ok(Option::<Borrowed<'a>>::deserialize(d)?.map(|b| b.0))
}

/// Parses a text frame from the server.
pub fn parse(text: &str) -> serde_json::Result<ServerFrame<'_>> {
    serde_json::from_str(text)
}

/// Writes `s` as a JSON string literal. Tokens, room ids and probe bodies
/// never need escaping, but an id typed on the command line might.
fn write_json_str(buf: &mut String, s: &str) {
    buf.push('"');
    for c in s.chars() {
        match c {
            '"' => buf.push_str("\\\""),
            '\\' => buf.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(buf, "\\u{:04x}", c as u32);
            }
            c => buf.push(c),
        }
    }
    buf.push('"');
}

/// `{"id":n,"type":"auth","token":"…"}`
pub fn auth(id: u64, token: &str) -> String {
    let mut buf = String::with_capacity(token.len() + 40);
    let _ = write!(buf, r#"{{"id":{id},"type":"auth","token":"#);
    write_json_str(&mut buf, token);
    buf.push('}');
    buf
}

/// `{"id":n,"type":"subscribe","room":"…"}`
pub fn subscribe(id: u64, room: &str) -> String {
    let mut buf = String::with_capacity(room.len() + 48);
    let _ = write!(buf, r#"{{"id":{id},"type":"subscribe","room":"#);
    write_json_str(&mut buf, room);
    buf.push('}');
    buf
}

/// `{"id":n,"type":"publish","room":"…","client_id":"lt-<conn>-<id>","body":"…"}`
///
/// The `client_id` is unique per connection and request, so the hub's
/// idempotency never merges two probes. `body` is written by `write_body`
/// straight into the frame.
pub fn publish(id: u64, room: &str, conn: usize, write_body: impl FnOnce(&mut String)) -> String {
    let mut buf = String::with_capacity(room.len() + 128);
    let _ = write!(buf, r#"{{"id":{id},"type":"publish","room":"#);
    write_json_str(&mut buf, room);
    let _ = write!(buf, r#","client_id":"lt-{conn}-{id}","body":""#);
    write_body(&mut buf);
    buf.push_str("\"}");
    buf
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe;

    #[test]
    fn requests_are_valid_json() {
        let v: serde_json::Value = serde_json::from_str(&auth(1, "a.b\"c")).unwrap();
        assert_eq!(v["type"], "auth");
        assert_eq!(v["token"], "a.b\"c");
        let v: serde_json::Value = serde_json::from_str(&subscribe(2, "room-1")).unwrap();
        assert_eq!(v["id"], 2);
        assert_eq!(v["room"], "room-1");
        let f = publish(3, "r", 9, |b| probe::write_data(b, 0, 5, 77));
        let v: serde_json::Value = serde_json::from_str(&f).unwrap();
        assert_eq!(v["type"], "publish");
        assert_eq!(v["client_id"], "lt-9-3");
        assert_eq!(v["body"], "lt1 0 5 77");
    }

    #[test]
    fn parses_reply_error_and_event() {
        let f = parse(
            r#"{"id": 1, "type": "reply", "result": {"protocol": 1, "limits": {"a": [1,2]}}}"#,
        )
        .unwrap();
        assert_eq!(f.ty, "reply");
        assert_eq!(f.id, RequestId(Some(1)));
        assert!(f.body.is_none());

        let f = parse(
            r#"{"id": null, "type": "error", "error": {"code": "malformed_json", "message": "x"}}"#,
        )
        .unwrap();
        assert_eq!(f.id, RequestId(None));
        assert_eq!(f.error.unwrap().code, "malformed_json");

        let f = parse(
            r#"{"type": "event", "room": "r", "epoch": "e", "offset": 42, "kind": "message",
                "id": "01J…", "message_id": "01J…", "sender_id": "u", "client_id": "c",
                "body": "lt1 0 12 99", "created_at": "2026-11-22T10:01:02.345Z"}"#,
        )
        .unwrap();
        assert_eq!(f.ty, "event");
        assert_eq!(f.id, RequestId(None));
        assert!(matches!(f.body, Some(Cow::Borrowed("lt1 0 12 99"))));
    }

    #[test]
    fn the_raw_echo_of_a_publish_parses_like_an_event() {
        let sent = publish(17, "raw", 0, |b| probe::write_data(b, 0, 16, 5));
        let f = parse(&sent).unwrap();
        assert_eq!(f.ty, "publish");
        assert_eq!(f.id, RequestId(Some(17)));
        assert_eq!(f.body.as_deref(), Some("lt1 0 16 5"));
    }
}
