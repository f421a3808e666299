//! A WebSocket client of the live protocol (docs/protocol.md) for tests: it
//! speaks only what the document specifies.

use std::{collections::VecDeque, time::Duration};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::{
    MaybeTlsStream, WebSocketStream,
    tungstenite::{Message, protocol::CloseFrame},
};

pub type Stream = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// How long a test waits for any one frame.
pub const WAIT: Duration = Duration::from_secs(10);

pub struct Ws {
    pub stream: Stream,
    next_id: u64,
    /// Pushes received while waiting for a reply.
    pushes: VecDeque<Value>,
    pub welcome: Value,
    /// The close code once the server closed (inner `None`: closed without one).
    closed: Option<Option<u16>>,
}

/// `ws://host:port/ws` for an `http://host:port` base.
pub fn ws_url(base: &str) -> String {
    format!("{}/ws", base.replacen("http", "ws", 1))
}

/// Opens a socket without authenticating.
pub async fn open(base: &str) -> Stream {
    let (stream, _) = tokio_tungstenite::connect_async(ws_url(base))
        .await
        .expect("websocket connects");
    stream
}

impl Ws {
    /// Connects and authenticates; panics if the hub refuses.
    pub async fn connect(base: &str, token: &str) -> Self {
        Self::try_connect(base, token).await.expect("auth accepted")
    }

    pub async fn try_connect(base: &str, token: &str) -> Result<Self, Option<u16>> {
        let stream = tokio_tungstenite::connect_async(ws_url(base))
            .await
            .map_err(|_| None)?
            .0;
        let mut ws = Self {
            stream,
            next_id: 1,
            pushes: VecDeque::new(),
            welcome: Value::Null,
            closed: None,
        };
        match ws.request("auth", json!({ "token": token })).await {
            Ok(welcome) => {
                ws.welcome = welcome;
                Ok(ws)
            }
            Err(_) => Err(ws.close_code().await),
        }
    }

    pub async fn send_text(&mut self, text: String) {
        self.stream
            .send(Message::Text(text.into()))
            .await
            .expect("send");
    }

    /// Sends a request and waits for its reply (`Ok(result)`) or error
    /// (`Err(error object)`); pushes meanwhile are kept for `next_push`.
    pub async fn request(&mut self, kind: &str, fields: Value) -> Result<Value, Value> {
        let id = self.next_id;
        self.next_id += 1;
        let mut frame = fields;
        frame["id"] = json!(id);
        frame["type"] = json!(kind);
        if self
            .stream
            .send(Message::Text(frame.to_string().into()))
            .await
            .is_err()
        {
            self.closed = Some(None);
            return Err(json!({ "code": "closed" }));
        }
        loop {
            let Some(frame) = self.next_frame().await else {
                return Err(json!({ "code": "closed" }));
            };
            match frame["type"].as_str() {
                Some("reply") if frame["id"] == id => return Ok(frame["result"].clone()),
                Some("error") if frame["id"] == id => return Err(frame["error"].clone()),
                Some("reply" | "error") => panic!("answer to another request: {frame}"),
                _ => self.pushes.push_back(frame),
            }
        }
    }

    pub async fn ok(&mut self, kind: &str, fields: Value) -> Value {
        match self.request(kind, fields).await {
            Ok(v) => v,
            Err(e) => panic!("{kind} failed: {e}"),
        }
    }

    /// The next JSON frame from the server (waits up to `WAIT`); `None` once closed.
    pub async fn next_frame(&mut self) -> Option<Value> {
        self.next_frame_within(WAIT)
            .await
            .expect("a frame within the wait")
    }

    /// Pushes that arrived while waiting for replies.
    pub fn take_pushes(&mut self) -> Vec<Value> {
        self.pushes.drain(..).collect()
    }

    /// The next frame within `wait`: `Err` on timeout, `Ok(None)` once closed.
    pub async fn next_frame_within(&mut self, wait: Duration) -> Result<Option<Value>, ()> {
        if self.closed.is_some() {
            return Ok(None);
        }
        loop {
            let Some(msg) = tokio::time::timeout(wait, self.stream.next())
                .await
                .map_err(|_| ())?
            else {
                self.closed = Some(None);
                return Ok(None);
            };
            match msg {
                Ok(Message::Text(t)) => {
                    return Ok(Some(serde_json::from_str(&t).expect("JSON frame")));
                }
                Ok(Message::Close(frame)) => {
                    self.closed = Some(frame.map(|f| u16::from(f.code)));
                    return Ok(None);
                }
                Err(_) => {
                    self.closed = Some(None);
                    return Ok(None);
                }
                Ok(_) => continue,
            }
        }
    }

    /// The next push (not a reply).
    pub async fn next_push(&mut self) -> Option<Value> {
        if let Some(p) = self.pushes.pop_front() {
            return Some(p);
        }
        self.next_frame().await
    }

    /// The next push of `kind`, skipping others.
    pub async fn next_of(&mut self, kind: &str) -> Value {
        loop {
            let push = self.next_push().await.expect("socket open");
            if push["type"] == kind {
                return push;
            }
        }
    }

    /// Waits for the close frame and returns its code.
    pub async fn close_code(&mut self) -> Option<u16> {
        if let Some(code) = self.closed {
            return code;
        }
        close_code(&mut self.stream).await
    }
}

/// Reads until the server closes; returns the close code it sent.
pub async fn close_code(stream: &mut Stream) -> Option<u16> {
    loop {
        match tokio::time::timeout(WAIT, stream.next()).await {
            Err(_) => panic!("server did not close the socket"),
            Ok(None) | Ok(Some(Err(_))) => return None,
            Ok(Some(Ok(Message::Close(frame)))) => {
                return frame.map(|f: CloseFrame| u16::from(f.code));
            }
            Ok(Some(Ok(_))) => continue,
        }
    }
}
