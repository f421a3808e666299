//! The single-node bus: a tokio broadcast channel per topic.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use tokio::sync::{broadcast, watch};

use super::{BoxFuture, BusError, Event, EventBus};

/// Per-topic capacity: how far a subscriber may fall behind before it lags.
const CAPACITY: usize = 1024;

#[derive(Debug, Default)]
pub struct InProcessBus {
    /// Topic → sender. A std mutex: it is held only to look up or insert a sender,
    /// never across an await.
    topics: Mutex<HashMap<String, broadcast::Sender<Arc<Event>>>>,
    disruptions: watch::Sender<u64>,
}

impl InProcessBus {
    pub fn new() -> Self {
        Self::default()
    }

    fn topics(&self) -> std::sync::MutexGuard<'_, HashMap<String, broadcast::Sender<Arc<Event>>>> {
        // A panic while holding this lock cannot leave the map inconsistent.
        self.topics.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl EventBus for InProcessBus {
    fn name(&self) -> &'static str {
        "in-process"
    }

    fn publish(&self, event: Event) -> BoxFuture<'_, Result<(), BusError>> {
        let mut topics = self.topics();
        if let Some(sender) = topics.get(&event.topic)
            && sender.send(Arc::new(event.clone())).is_err()
        {
            // Nobody listens any more: forget the topic so the map stays small.
            topics.remove(&event.topic);
        }
        Box::pin(async { Ok(()) })
    }

    fn subscribe(
        &self,
        topic: &str,
    ) -> BoxFuture<'_, Result<broadcast::Receiver<Arc<Event>>, BusError>> {
        let receiver = self
            .topics()
            .entry(topic.to_owned())
            .or_insert_with(|| broadcast::channel(CAPACITY).0)
            .subscribe();
        Box::pin(async move { Ok(receiver) })
    }

    fn ping(&self) -> BoxFuture<'_, Result<(), BusError>> {
        Box::pin(async { Ok(()) })
    }

    fn disruptions(&self) -> watch::Receiver<u64> {
        // Nothing is ever lost in process except by a lagging receiver, which
        // sees `RecvError::Lagged` itself.
        self.disruptions.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(topic: &str, n: i64) -> Event {
        Event {
            topic: topic.into(),
            kind: "test".into(),
            payload: serde_json::json!(n),
        }
    }

    #[tokio::test]
    async fn subscribers_get_their_topic_only() {
        let bus = InProcessBus::new();
        let mut a = bus.subscribe("a").await.unwrap();
        let mut b = bus.subscribe("b").await.unwrap();
        bus.publish(event("a", 1)).await.unwrap();
        bus.publish(event("b", 2)).await.unwrap();
        assert_eq!(a.recv().await.unwrap().payload, 1);
        assert_eq!(b.recv().await.unwrap().payload, 2);
        assert!(a.try_recv().is_err());
    }

    #[tokio::test]
    async fn abandoned_topics_are_dropped() {
        let bus = InProcessBus::new();
        drop(bus.subscribe("gone").await.unwrap());
        bus.publish(event("gone", 1)).await.unwrap();
        assert!(bus.topics().is_empty());
    }
}
