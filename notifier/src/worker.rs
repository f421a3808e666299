//! The worker: claims due notifications, decides the channel, renders, hands over,
//! and records what happened.
//!
//! One row at a time it answers: is this still worth sending (not expired, not
//! withdrawn, the recipient still active)? Is it quiet time where the recipient
//! is? Which channel comes next in their order? Did the hand-off work, and if
//! not, retry later, fall back, or give up and show admins?

use std::{sync::Arc, time::Duration};

use serde_json::json;
use sqlx::AnyPool;
use tokio::{
    sync::{Notify, Semaphore, watch},
    task::JoinSet,
};

use crate::{
    Engine, Now,
    channels::{Channels, OutgoingEmail},
    config::NotifierConfig,
    delivery_error::DeliveryError,
    outbox::{self, Category, ClaimSpec, Claimed, Delivery, Outcome},
    phone::PhoneNumber,
    recipient::{self, OutOfBand, Recipient},
    retry,
    templates::{self, Audience, Rendered},
};

/// Timing and limits, from [`NotifierConfig`].
#[derive(Debug, Clone)]
pub struct Settings {
    pub poll_interval: Duration,
    pub batch_size: u32,
    pub concurrency: usize,
    pub lease_ms: i64,
    pub max_attempts: u32,
    pub backoff_base_ms: u64,
    pub backoff_max_ms: u64,
}

impl From<&NotifierConfig> for Settings {
    fn from(c: &NotifierConfig) -> Self {
        Self {
            poll_interval: Duration::from_millis(c.poll_interval_ms),
            batch_size: c.batch_size,
            concurrency: c.concurrency,
            lease_ms: i64::try_from(c.lease_secs.saturating_mul(1000)).unwrap_or(i64::MAX),
            max_attempts: c.max_attempts,
            backoff_base_ms: c.backoff_base_secs.saturating_mul(1000),
            backoff_max_ms: c.backoff_max_secs.saturating_mul(1000),
        }
    }
}

pub struct Worker {
    pool: AnyPool,
    engine: Engine,
    channels: Channels,
    now: Now,
    settings: Settings,
    id: String,
    wake: Arc<Notify>,
}

impl Worker {
    pub fn new(
        pool: AnyPool,
        engine: Engine,
        channels: Channels,
        now: Now,
        settings: Settings,
    ) -> Arc<Self> {
        Arc::new(Self {
            pool,
            engine,
            channels,
            now,
            settings,
            id: format!("notifier-{}", uuid::Uuid::now_v7()),
            wake: Arc::new(Notify::new()),
        })
    }

    /// This worker's id, recorded on the rows it claims.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Wakes an idle worker at once (the hub calls this after enqueueing), so a
    /// notice does not wait for the next poll.
    pub fn waker(&self) -> Arc<Notify> {
        self.wake.clone()
    }

    /// Works until `shutdown` turns true, then finishes the rows in hand.
    pub async fn run(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        tracing::info!(worker = %self.id, engine = ?self.engine, "notifier worker started");
        // A pipeline rather than batch by batch: whenever a hand-off finishes, its
        // slot is refilled with a fresh claim, so one slow provider call does not
        // hold up the rest, and rows are claimed only when they can start at once.
        let permits = Arc::new(Semaphore::new(self.settings.concurrency));
        let mut tasks = JoinSet::new();
        while !*shutdown.borrow() {
            while tasks.try_join_next().is_some() {}
            let free = permits.available_permits();
            if free == 0 {
                tokio::select! {
                    _ = tasks.join_next() => {}
                    _ = shutdown.changed() => {}
                }
                continue;
            }
            let limit = self
                .settings
                .batch_size
                .min(u32::try_from(free).unwrap_or(u32::MAX));
            match self.claim(limit).await {
                Ok(rows) if !rows.is_empty() => {
                    for row in rows {
                        let Ok(permit) = permits.clone().try_acquire_owned() else {
                            break;
                        };
                        let me = self.clone();
                        tasks.spawn(async move {
                            me.process(row).await;
                            drop(permit);
                        });
                    }
                    continue;
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "notifier could not claim work; retrying"),
            }
            tokio::select! {
                () = tokio::time::sleep(self.settings.poll_interval) => {}
                () = self.wake.notified() => {}
                _ = shutdown.changed() => {}
                Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
            }
        }
        // Finish and record the hand-offs in flight; claim nothing more.
        while tasks.join_next().await.is_some() {}
        tracing::info!(worker = %self.id, "notifier worker stopped");
    }

    async fn claim(&self, limit: u32) -> Result<Vec<Claimed>, sqlx::Error> {
        let spec = ClaimSpec {
            worker_id: &self.id,
            now: (self.now)(),
            lease_ms: self.settings.lease_ms,
            limit,
            in_app: self.channels.in_app.is_some(),
        };
        outbox::claim(&self.pool, self.engine, spec).await
    }

    /// Claims one batch and processes all of it; returns how many rows it took.
    /// Tests drive the worker with this, batch by batch, under a manual clock.
    pub async fn run_once(self: Arc<Self>) -> Result<usize, sqlx::Error> {
        let rows = self.claim(self.settings.batch_size).await?;
        let n = rows.len();
        let permits = Arc::new(Semaphore::new(self.settings.concurrency));
        let mut tasks = JoinSet::new();
        for row in rows {
            let Ok(permit) = permits.clone().acquire_owned().await else {
                break;
            };
            let me = self.clone();
            tasks.spawn(async move {
                me.process(row).await;
                drop(permit);
            });
        }
        while tasks.join_next().await.is_some() {}
        Ok(n)
    }

    async fn process(&self, row: Claimed) {
        // A row still waiting its turn late in the lease is handed back rather
        // than sent: another worker may take it over when the lease ends, and two
        // hand-offs of one notice must not overlap. Half the lease leaves room for one send (the
        // configuration keeps provider timeouts under a third of the lease).
        let now = (self.now)();
        if now >= row.claimed_at + self.settings.lease_ms / 2 {
            tracing::debug!(notification = %row.id, "lease half spent before its turn; released");
            let release = Outcome::Defer { until: now };
            if let Err(e) = outbox::record(&self.pool, &row, &self.id, release, now).await {
                tracing::warn!(notification = %row.id, error = %e, "could not release; it is retried after its lease");
            }
            return;
        }
        let outcome = self.decide(&row).await;
        let now = (self.now)();
        let result = match &outcome {
            Ok(step) => outbox::record(&self.pool, &row, &self.id, step.as_outcome(), now).await,
            Err(e) => {
                tracing::warn!(notification = %row.id, error = %e, "notification not processed; it will be retried after its lease");
                return;
            }
        };
        match result {
            Ok(true) => {
                if let Ok(Step::Sent("sms", Some(sid))) = &outcome
                    && let Err(e) = crate::receipts::apply_early(&self.pool, sid, now).await
                {
                    tracing::warn!(error = %e, "early delivery receipt not applied");
                }
            }
            Ok(false) => {
                tracing::warn!(notification = %row.id, "lease lost before recording; another worker owns the row")
            }
            Err(e) => {
                tracing::warn!(notification = %row.id, error = %e, "outcome not recorded; the row is retried after its lease")
            }
        }
    }

    async fn decide(&self, row: &Claimed) -> Result<Step, sqlx::Error> {
        let now = (self.now)();
        if row.expires_at.is_some_and(|t| now >= t) {
            return Ok(Step::Suppressed("expired before it could be sent".into()));
        }
        let mut conn = self.pool.acquire().await?;
        let r = match &row.to_address {
            Some((address, locale)) => recipient::addressed(address, locale),
            None => match recipient::load(&mut conn, &row.recipient_id).await? {
                Some(r) => r,
                None => return Ok(Step::Suppressed("recipient no longer exists".into())),
            },
        };
        if !r.active && row.category != Category::Account {
            return Ok(Step::Suppressed("recipient account disabled".into()));
        }
        let preference = recipient::preference(&mut conn, &r.id, row.category).await?;
        drop(conn);
        let audience = Audience {
            name: &r.display_name,
            locale: &r.locale,
            time_zone: r.time_zone,
        };
        let rendered = match templates::render(&row.template, &row.payload, &audience) {
            Ok(rendered) => rendered,
            Err(e) => return Ok(Step::Failed(None, e.to_string())),
        };
        if row.delivery == Delivery::InApp {
            if !preference.in_app && row.category != Category::Critical {
                return Ok(Step::Suppressed("in-app notices turned off".into()));
            }
            return Ok(self.in_app(row, &rendered).await);
        }
        let respects_quiet = matches!(
            row.category,
            Category::Appointments | Category::Reminders | Category::Messages
        );
        if respects_quiet
            && let Some(until) = r.quiet_hours.and_then(|q| q.ends_after(now, r.time_zone))
        {
            if row.expires_at.is_some_and(|t| until >= t) {
                return Ok(Step::Suppressed(
                    "quiet hours last until it no longer applies".into(),
                ));
            }
            return Ok(Step::Defer(until));
        }
        // Last look before anything leaves: a cancel or a read may have withdrawn
        // the notice since it was claimed.
        if !outbox::still_wanted(&self.pool, row, &self.id, now).await? {
            return Ok(Step::Suppressed(
                "withdrawn or expired after it was claimed".into(),
            ));
        }
        let order = match row.delivery {
            Delivery::Email => recipient::channel_order(Category::Account, &preference, &r),
            _ => recipient::channel_order(row.category, &preference, &r),
        };
        let remaining: Vec<OutOfBand> = order
            .into_iter()
            .filter(|c| !row.tried_channels.iter().any(|t| t == c.as_str()))
            .collect();
        let Some(&channel) = remaining.first() else {
            return Ok(if row.tried_channels.is_empty() {
                Step::Suppressed("no channel chosen or able to reach the recipient".into())
            } else {
                Step::Failed(None, "every allowed channel failed".into())
            });
        };
        let result = match channel {
            OutOfBand::Sms => self.sms(row, &r, &rendered).await,
            OutOfBand::Email => self.email(row, &r, &rendered).await,
        };
        let channel = channel.as_str();
        Ok(match result {
            Ok(provider_ref) => Step::Sent(channel, provider_ref),
            Err(DeliveryError::Transient(e))
                if u32::try_from(row.attempts).unwrap_or(u32::MAX) < self.settings.max_attempts =>
            {
                let attempt = u32::try_from(row.attempts).unwrap_or(1);
                let delay = retry::backoff_ms(
                    attempt,
                    self.settings.backoff_base_ms,
                    self.settings.backoff_max_ms,
                    &mut rand::thread_rng(),
                );
                Step::Retry(
                    channel,
                    now + i64::try_from(delay).unwrap_or(i64::MAX / 2),
                    e,
                )
            }
            Err(e) if remaining.len() > 1 => Step::FallBack(channel, e.to_string()),
            Err(e) => Step::Failed(Some(channel), e.to_string()),
        })
    }

    async fn in_app(&self, row: &Claimed, rendered: &Rendered) -> Step {
        let Some(sink) = &self.channels.in_app else {
            return Step::Failed(Some("in_app"), "this worker cannot reach sockets".into());
        };
        let notice = json!({
            "id": row.id, "category": row.category.as_str(), "template": row.template,
            "title": rendered.subject, "body": rendered.text.lines().next().unwrap_or(""),
            "created_at": row.created_at,
        });
        match sink.publish(&row.recipient_id, notice).await {
            Ok(()) => Step::Sent("in_app", None),
            Err(DeliveryError::Transient(e))
                if u32::try_from(row.attempts).unwrap_or(u32::MAX) < self.settings.max_attempts =>
            {
                Step::Retry("in_app", (self.now)() + 1000, e)
            }
            Err(e) => Step::Failed(Some("in_app"), e.to_string()),
        }
    }

    async fn sms(
        &self,
        row: &Claimed,
        r: &Recipient,
        rendered: &Rendered,
    ) -> Result<Option<String>, DeliveryError> {
        let phone = r.phone.as_deref().unwrap_or_default();
        let phone = PhoneNumber::parse(phone).map_err(|_| {
            DeliveryError::Permanent("the recipient's phone number is not valid".into())
        })?;
        if row.recovered_lease
            && let Some(sid) = self.already_sent(&phone, &rendered.sms).await?
        {
            tracing::info!(notification = %row.id, "found the SMS a dead worker sent; not sending it again");
            return Ok(Some(sid));
        }
        self.channels
            .sms
            .send(&phone, &rendered.sms)
            .await
            .map(Some)
    }

    /// After a worker died holding this row, asks the provider whether the
    /// message went out before the crash: a message with the same text to the
    /// same number whose id no other notification has claimed.
    async fn already_sent(
        &self,
        phone: &PhoneNumber,
        body: &str,
    ) -> Result<Option<String>, DeliveryError> {
        for sid in self.channels.sms.find_sent(phone, body).await? {
            let taken = outbox::provider_ref_taken(&self.pool, &sid)
                .await
                .map_err(|e| DeliveryError::Transient(format!("database: {e}")))?;
            if !taken {
                return Ok(Some(sid));
            }
        }
        Ok(None)
    }
    async fn email(
        &self,
        row: &Claimed,
        r: &Recipient,
        rendered: &Rendered,
    ) -> Result<Option<String>, DeliveryError> {
        let email = OutgoingEmail {
            to: &r.email,
            subject: &rendered.subject,
            text: &rendered.text,
            html: &rendered.html,
            message_id: &row.id,
        };
        self.channels.email.send(&email).await
    }
}

/// What to record for a row.
enum Step {
    Sent(&'static str, Option<String>),
    Retry(&'static str, i64, String),
    FallBack(&'static str, String),
    Failed(Option<&'static str>, String),
    Suppressed(String),
    Defer(i64),
}

impl Step {
    fn as_outcome(&self) -> Outcome<'_> {
        match self {
            Step::Sent(channel, provider_ref) => Outcome::Sent {
                channel,
                provider_ref: provider_ref.as_deref(),
            },
            Step::Retry(channel, retry_at, error) => Outcome::Retry {
                channel,
                retry_at: *retry_at,
                error,
            },
            Step::FallBack(channel, error) => Outcome::FallBack { channel, error },
            Step::Failed(channel, error) => Outcome::Failed {
                channel: *channel,
                error,
            },
            Step::Suppressed(reason) => Outcome::Suppressed { reason },
            Step::Defer(until) => Outcome::Defer { until: *until },
        }
    }
}
