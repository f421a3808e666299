//! A client that does what docs/protocol.md tells clients to do when things
//! fail: reconnect to another node, resubscribe with its `(epoch, offset)`,
//! retry a publish with the same `client_id`. Tests use it to check that,
//! whatever fails, every client ends with every message exactly once, in order.

use std::{collections::HashSet, time::Duration};

use serde_json::{Value, json};

use super::ws::Ws;

pub struct Peer {
    pub name: String,
    nodes: Vec<String>,
    node: usize,
    token: String,
    room: String,
    ws: Option<Ws>,
    epoch: Option<String>,
    /// Highest offset applied.
    pub offset: i64,
    /// Client ids of the messages received, in stream order.
    pub received: Vec<String>,
    pub reconnects: usize,
    pub duplicates_ignored: usize,
}

impl Peer {
    pub fn new(name: &str, nodes: Vec<String>, node: usize, token: &str, room: &str) -> Self {
        Self {
            name: name.to_owned(),
            nodes,
            node,
            token: token.to_owned(),
            room: room.to_owned(),
            ws: None,
            epoch: None,
            offset: 0,
            received: Vec::new(),
            reconnects: 0,
            duplicates_ignored: 0,
        }
    }

    /// Applies one stream event; a gap is a test failure, a repeat is ignored.
    fn apply(&mut self, event: &Value) {
        let offset = event["offset"].as_i64().expect("offset");
        if offset <= self.offset {
            self.duplicates_ignored += 1;
            return;
        }
        assert_eq!(
            offset,
            self.offset + 1,
            "{}: gap in the stream: {event}",
            self.name
        );
        self.offset = offset;
        if event["kind"] == "message" {
            self.received
                .push(event["client_id"].as_str().unwrap_or_default().to_owned());
        }
    }

    fn apply_pushes(&mut self, pushes: Vec<Value>) {
        for p in pushes {
            match p["type"].as_str() {
                Some("event") => self.apply(&p),
                Some("resync") => panic!("{}: server asked to resync: {p}", self.name),
                _ => {}
            }
        }
    }

    /// Connects (moving to the next node on failure) and subscribes, recovering
    /// what was missed since the last applied offset.
    async fn ensure_connected(&mut self) {
        let mut attempts = 0;
        while self.ws.is_none() {
            attempts += 1;
            assert!(attempts < 200, "{}: could not reconnect", self.name);
            let base = self.nodes[self.node].clone();
            let Ok(mut ws) = Ws::try_connect(&base, &self.token).await else {
                self.node = (self.node + 1) % self.nodes.len();
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            };
            let mut fields = json!({ "room": self.room });
            if let Some(epoch) = &self.epoch {
                fields["since"] = json!({ "epoch": epoch, "offset": self.offset });
            }
            match ws.request("subscribe", fields).await {
                Ok(reply) => {
                    let pushes = ws.take_pushes();
                    if self.epoch.is_some() {
                        assert_eq!(reply["recovered"], true, "{}: {reply}", self.name);
                        for event in reply["missed"].as_array().expect("missed") {
                            self.apply(event);
                        }
                        self.reconnects += 1;
                    } else {
                        self.offset = reply["offset"].as_i64().expect("offset");
                    }
                    self.epoch = Some(reply["epoch"].as_str().expect("epoch").to_owned());
                    self.apply_pushes(pushes);
                    self.ws = Some(ws);
                }
                Err(e) if e["code"] == "unavailable" || e["code"] == "closed" => {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(e) => panic!("{}: subscribe refused: {e}", self.name),
            }
        }
    }

    pub async fn connect(&mut self) {
        self.ensure_connected().await;
    }

    /// Publishes until the hub confirms, retrying with the same client id on
    /// another node if the socket dies: the message lands exactly once.
    pub async fn publish(&mut self, client_id: &str, body: &str) {
        loop {
            self.ensure_connected().await;
            let ws = self.ws.as_mut().expect("connected");
            let answer = ws
                .request(
                    "publish",
                    json!({ "room": self.room, "client_id": client_id, "body": body }),
                )
                .await;
            let pushes = ws.take_pushes();
            self.apply_pushes(pushes);
            match answer {
                Ok(_) => return,
                Err(e) if e["code"] == "closed" => self.ws = None,
                Err(e) if e["code"] == "unavailable" => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => panic!("{}: publish refused: {e}", self.name),
            }
        }
    }

    /// Reads until the stream reaches `offset` (reconnecting as needed).
    pub async fn pump_until(&mut self, offset: i64, limit: Duration) {
        let started = std::time::Instant::now();
        while self.offset < offset {
            assert!(
                started.elapsed() < limit,
                "{}: stuck at offset {} of {offset}",
                self.name,
                self.offset
            );
            self.ensure_connected().await;
            let ws = self.ws.as_mut().expect("connected");
            match ws.next_frame_within(Duration::from_millis(500)).await {
                Ok(Some(frame)) => self.apply_pushes(vec![frame]),
                Ok(None) => self.ws = None,
                Err(()) => {}
            }
        }
    }

    /// Every expected client id exactly once.
    pub fn assert_exactly_once(&self, expected: &HashSet<String>) {
        let got: HashSet<&String> = self.received.iter().collect();
        assert_eq!(
            got.len(),
            self.received.len(),
            "{}: a message arrived twice",
            self.name
        );
        assert_eq!(
            self.received.len(),
            expected.len(),
            "{}: received {} of {}",
            self.name,
            self.received.len(),
            expected.len()
        );
        assert!(
            self.received.iter().all(|c| expected.contains(c)),
            "{}: unexpected message",
            self.name
        );
    }
}
