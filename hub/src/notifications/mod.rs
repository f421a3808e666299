//! The hub's side of notifications: it embeds the notifier library, runs its
//! worker inside `hub serve` (unless `notifier.in_process = false`), delivers
//! in-app notices through the event bus, and writes notices into the outbox in
//! the same transactions as the changes that cause them.

pub mod account_tokens;
pub mod alerts;
pub mod appointments;
pub mod contact;
pub mod inbox;
pub mod invites;
pub mod links;
pub mod referrals;
pub mod retry;
pub mod settings;
pub mod unread;

use std::sync::Arc;

use notifier::{
    Engine,
    channels::{BoxFuture, Channels, InAppSink},
    delivery_error::DeliveryError,
    worker::{Settings, Worker},
};
use tokio::sync::{Notify, watch};

use crate::{
    bus::{Event, EventBus},
    clock::Clock,
    config::Config,
    store::{Dialect, Store},
};

/// The node's notifier: a worker when it runs in-process, and the waker that
/// tells it a notice was just queued.
pub struct Notifications {
    wake: Arc<Notify>,
    worker: Option<Arc<Worker>>,
}

impl Notifications {
    /// Builds the channels from configuration (so a bad SMTP or Twilio setting
    /// stops startup) and, when configured, the in-process worker.
    pub fn build(
        config: &Config,
        store: &Store,
        bus: Arc<dyn EventBus>,
        clock: Arc<dyn Clock>,
    ) -> anyhow::Result<Self> {
        if !config.notifier.in_process {
            tracing::info!(
                "notifier.in_process = false: notifications are sent by separate notifier processes"
            );
            return Ok(Self {
                wake: Arc::new(Notify::new()),
                worker: None,
            });
        }
        let sink_dir = config
            .notifier
            .sink_dir
            .clone()
            .unwrap_or_else(|| config.data_dir.join("notifications"));
        let callback = format!(
            "{}/api/v1/webhooks/twilio/status",
            config.effective_public_url()
        );
        let in_app: Arc<dyn InAppSink> = Arc::new(BusInApp(bus));
        let channels =
            Channels::from_config(&config.notifier, &sink_dir, Some(callback), Some(in_app))
                .map_err(|e| anyhow::anyhow!("notifier: {e}"))?;
        let engine = match store.dialect() {
            Dialect::Sqlite => Engine::Sqlite,
            Dialect::Postgres => Engine::Postgres,
        };
        let now: notifier::Now = Arc::new(move || clock.now_ms());
        let worker = Worker::new(
            store.pool().clone(),
            engine,
            channels,
            now,
            Settings::from(&config.notifier),
        );
        Ok(Self {
            wake: worker.waker(),
            worker: Some(worker),
        })
    }

    /// Tells the local worker to look now rather than at its next poll.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Starts the in-process worker, if this node runs one.
    pub fn spawn(&self, shutdown: watch::Receiver<bool>) -> Option<tokio::task::JoinHandle<()>> {
        self.worker.clone().map(|w| tokio::spawn(w.run(shutdown)))
    }

    /// The in-process worker (tests drive it batch by batch with a manual clock).
    pub fn worker(&self) -> Option<&Arc<Worker>> {
        self.worker.as_ref()
    }
}

/// In-app delivery: a `notification` event on the user's topic, which every
/// node's gateway forwards to that user's sockets that asked for notices.
struct BusInApp(Arc<dyn EventBus>);

impl InAppSink for BusInApp {
    fn publish<'a>(
        &'a self,
        user_id: &'a str,
        notice: serde_json::Value,
    ) -> BoxFuture<'a, Result<(), DeliveryError>> {
        Box::pin(async move {
            self.0
                .publish(Event {
                    topic: user_topic(user_id),
                    kind: "notification".into(),
                    payload: notice,
                })
                .await
                .map_err(|e| DeliveryError::Transient(e.to_string()))
        })
    }
}

/// The bus topic of one user's personal events (notices, appointment changes).
pub fn user_topic(user_id: &str) -> String {
    format!("user.{user_id}")
}
