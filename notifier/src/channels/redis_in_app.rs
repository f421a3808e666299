//! In-app delivery from a separate `notifier` process: publishes on the hubs'
//! Redis bus, in the hub's wire format (`hb:<topic>` channel, JSON event), so
//! every hub node forwards the notice to the recipient's open sockets.

use redis::aio::MultiplexedConnection;
use serde_json::json;

use super::{BoxFuture, InAppSink};
use crate::delivery_error::DeliveryError;

/// Must match the hub's `bus::redis` channel prefix.
const CHANNEL_PREFIX: &str = "hb:";

pub struct RedisInApp {
    conn: MultiplexedConnection,
}

impl RedisInApp {
    pub async fn connect(url: &str) -> Result<Self, String> {
        let client = redis::Client::open(url).map_err(|e| format!("redis_url: {e}"))?;
        let conn = client
            .get_multiplexed_async_connection()
            .await
            .map_err(|e| format!("cannot connect to Redis: {e}"))?;
        Ok(Self { conn })
    }
}

/// The bus event a hub node forwards to the user's sockets.
pub fn notice_event(user_id: &str, notice: serde_json::Value) -> (String, serde_json::Value) {
    let topic = format!("user.{user_id}");
    let event = json!({ "topic": topic, "kind": "notification", "payload": notice });
    (topic, event)
}

impl InAppSink for RedisInApp {
    fn publish<'a>(
        &'a self,
        user_id: &'a str,
        notice: serde_json::Value,
    ) -> BoxFuture<'a, Result<(), DeliveryError>> {
        Box::pin(async move {
            let (topic, event) = notice_event(user_id, notice);
            let mut conn = self.conn.clone();
            redis::cmd("PUBLISH")
                .arg(format!("{CHANNEL_PREFIX}{topic}"))
                .arg(event.to_string())
                .query_async::<i64>(&mut conn)
                .await
                .map(|_| ())
                .map_err(|e| DeliveryError::Transient(format!("redis publish: {e}")))
        })
    }
}
