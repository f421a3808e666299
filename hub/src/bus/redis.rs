//! The multi-node bus: Redis pub/sub between hub nodes.
//!
//! Every node keeps two long-lived connections to Redis:
//!
//! - **the subscriber connection**, one per process, which carries every topic
//!   this node listens to. The first local subscriber of a topic makes it
//!   `SUBSCRIBE`; later ones share the topic's broadcast sender; a periodic sweep
//!   `UNSUBSCRIBE`s topics whose receivers are all gone. It speaks RESP3, so the
//!   same connection also answers `PING` for `/readyz` while subscribed.
//! - **the publisher connection**, owned by one task that drains a bounded queue
//!   and sends whatever is waiting as one pipeline of `PUBLISH` commands, so a
//!   burst of events costs one round trip instead of one each.
//!
//! A node hears its own events back from Redis rather than short-circuiting
//! them, so every node sees one order: Redis's.
//!
//! Both connections reconnect on their own (100 ms doubling to 2 s). Events in
//! flight while a connection is down may be lost or, for a pipeline that failed
//! half-way and is sent again, duplicated; either way the disruption counter
//! moves, and subscribers that keep a position catch up from the database.

use std::{
    collections::{HashMap, HashSet, VecDeque},
    fmt,
    sync::{
        Arc, Mutex, MutexGuard,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use redis::{
    AsyncConnectionConfig, Client, IntoConnectionInfo, Msg, ProtocolVersion, PushInfo, PushKind,
    aio::MultiplexedConnection,
};
use tokio::sync::{broadcast, mpsc, oneshot, watch};

use super::{BoxFuture, BusError, Event, EventBus};

/// Prefix of every Redis channel the hub uses, so the hub can share a Redis
/// with other software (and `PSUBSCRIBE hb:*` shows all hub traffic).
const CHANNEL_PREFIX: &str = "hb:";

/// Per-topic capacity: how far a local subscriber may fall behind before it
/// lags. Same as the in-process bus, so both behave alike under load.
const TOPIC_CAPACITY: usize = 1024;

/// Events `publish` may queue before it refuses with `Unavailable`. Large enough
/// to ride out a 2 s reconnect pause at a high event rate; bounded so a dead
/// Redis cannot eat the node's memory.
const QUEUE_CAPACITY: usize = 65_536;

/// Most `PUBLISH` commands sent in one pipeline.
const BATCH: usize = 1024;

/// Most events the publisher keeps for retry while Redis is unreachable (on
/// top of what waits in the queue); beyond this the oldest are dropped, since
/// the newest are the ones a catching-up subscriber cannot yet know about.
const MAX_PENDING: usize = 16_384;

/// Reconnect back-off: the first retry waits this long...
const BACKOFF_MIN: Duration = Duration::from_millis(100);
/// ...and each further one twice as long, up to this.
const BACKOFF_MAX: Duration = Duration::from_secs(2);

/// How long a connection attempt may take before it counts as failed.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// How long a command (SUBSCRIBE, a PUBLISH pipeline) may wait for its reply;
/// past this the connection is presumed dead and replaced.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(5);

/// `/readyz` must answer quickly, so its PING gets less time than commands.
const PING_TIMEOUT: Duration = Duration::from_secs(1);

/// How often the subscriber drops topics nobody listens to and PINGs Redis, so
/// a connection that died without a word (a cut network) is noticed too.
const SWEEP_EVERY: Duration = Duration::from_secs(10);

/// Maximum channels per SUBSCRIBE/UNSUBSCRIBE command, so re-subscribing a busy
/// node after a reconnect does not build one enormous command.
const CHANNELS_PER_COMMAND: usize = 1000;

/// The Redis pub/sub bus. Cheap to share behind an `Arc`; dropping it stops its
/// tasks and closes its connections.
pub struct RedisBus {
    shared: Arc<Shared>,
    /// To the subscriber task: topics that need a SUBSCRIBE before their first
    /// receiver is handed out.
    subscribe_requests: mpsc::UnboundedSender<SubscribeRequest>,
    /// To the publisher task.
    outgoing: mpsc::Sender<Outgoing>,
}

/// State shared by the bus handle and its two tasks.
struct Shared {
    /// Topic → local broadcast sender. A std mutex: it is held only to look up,
    /// insert or sweep senders, never across an await. Senders live here across
    /// reconnects, so receivers handed out earlier keep working.
    topics: Mutex<HashMap<String, broadcast::Sender<Arc<Event>>>>,
    disruptions: watch::Sender<u64>,
    /// The subscriber connection while it is up, for `ping`. `None` while the
    /// subscriber is reconnecting, so `/readyz` fails without waiting.
    live: Mutex<Option<MultiplexedConnection>>,
    /// False from a failed PUBLISH pipeline until one succeeds again.
    publisher_up: AtomicBool,
}

/// A subscribe() waiting for its topic's SUBSCRIBE to be confirmed, so that
/// "events published from now on" holds when it returns.
struct SubscribeRequest {
    topic: String,
    done: oneshot::Sender<Result<(), BusError>>,
}

/// An event already encoded for Redis.
struct Outgoing {
    channel: String,
    payload: Vec<u8>,
}

impl RedisBus {
    /// Connects to Redis at `url` (`redis://[user:password@]host:port[/db]`) and
    /// starts the subscriber and publisher tasks. Fails if Redis cannot be
    /// reached now, so a misconfigured node stops at startup instead of running
    /// deaf; later outages are ridden out by reconnecting.
    ///
    /// Needs Redis 6 or newer (RESP3). `rediss://` is refused: this build has no
    /// TLS for Redis.
    pub async fn connect(url: &str) -> Result<Self, BusError> {
        Self::connect_with(url, SWEEP_EVERY).await
    }

    async fn connect_with(url: &str, sweep_every: Duration) -> Result<Self, BusError> {
        if url.starts_with("rediss://") {
            // Said plainly, rather than as the crate's "invalid URL".
            return Err(BusError::Unavailable(
                "rediss:// (Redis over TLS) is not supported by this build".into(),
            ));
        }
        // The URL may hold a password: never put it or its parse error in a message.
        let info = url
            .into_connection_info()
            .map_err(|_| BusError::Unavailable("invalid Redis URL".into()))?;
        // RESP3 lets one multiplexed connection both receive pushed messages and
        // answer ordinary commands (PING), whatever the URL asked for.
        let settings = info
            .redis_settings()
            .clone()
            .set_protocol(ProtocolVersion::RESP3);
        let client = Client::open(info.set_redis_settings(settings))
            .map_err(|e| unavailable("cannot use Redis URL", &e))?;

        let subscriber = open_subscriber(&client).await?;
        let publisher = open_publisher(&client).await?;

        let shared = Arc::new(Shared::new());
        shared.set_live(Some(subscriber.conn.clone()));
        let (subscribe_requests, requests) = mpsc::unbounded_channel();
        let (outgoing, queue) = mpsc::channel(QUEUE_CAPACITY);

        tokio::spawn(
            SubscriberTask {
                client: client.clone(),
                shared: shared.clone(),
                requests,
                subscribed: HashSet::new(),
                sweep_every,
            }
            .run(subscriber),
        );
        tokio::spawn(run_publisher(
            client,
            shared.clone(),
            queue,
            Some(publisher),
        ));

        Ok(Self {
            shared,
            subscribe_requests,
            outgoing,
        })
    }
}

impl fmt::Debug for RedisBus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisBus")
            .field("topics", &self.shared.topics().len())
            .field("disruptions", &*self.shared.disruptions.borrow())
            .finish_non_exhaustive()
    }
}

impl Shared {
    fn new() -> Self {
        Self {
            topics: Mutex::default(),
            disruptions: watch::Sender::new(0),
            live: Mutex::new(None),
            publisher_up: AtomicBool::new(true),
        }
    }

    fn topics(&self) -> MutexGuard<'_, HashMap<String, broadcast::Sender<Arc<Event>>>> {
        // A panic while holding this lock cannot leave the map inconsistent.
        self.topics.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn set_live(&self, conn: Option<MultiplexedConnection>) {
        *self.live.lock().unwrap_or_else(|p| p.into_inner()) = conn;
    }

    fn live(&self) -> Option<MultiplexedConnection> {
        self.live.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn disrupted(&self) {
        self.disruptions.send_modify(|n| *n += 1);
    }
}

impl EventBus for RedisBus {
    fn name(&self) -> &'static str {
        "redis"
    }

    /// Enqueues the event for the publisher task and returns: `Ok` means
    /// "queued", not "delivered". A full queue (Redis down for a while, or
    /// slower than the node's event rate) answers `Unavailable`.
    fn publish(&self, event: Event) -> BoxFuture<'_, Result<(), BusError>> {
        let result = serde_json::to_vec(&event)
            .map_err(|_| BusError::Unavailable("event could not be encoded".into()))
            .and_then(|payload| {
                let outgoing = Outgoing {
                    channel: channel_of(&event.topic),
                    payload,
                };
                self.outgoing.try_send(outgoing).map_err(|e| match e {
                    mpsc::error::TrySendError::Full(_) => {
                        BusError::Unavailable("Redis publish queue is full".into())
                    }
                    mpsc::error::TrySendError::Closed(_) => {
                        BusError::Unavailable("Redis publisher has stopped".into())
                    }
                })
            });
        Box::pin(async move { result })
    }

    /// Returns once Redis has confirmed the topic's SUBSCRIBE (at once if this
    /// node already listens to it), so nothing published after the call returns
    /// is missed. Fails with `Unavailable` while the subscriber connection is
    /// down.
    fn subscribe(
        &self,
        topic: &str,
    ) -> BoxFuture<'_, Result<broadcast::Receiver<Arc<Event>>, BusError>> {
        let receiver = self
            .shared
            .topics()
            .entry(topic.to_owned())
            .or_insert_with(|| broadcast::channel(TOPIC_CAPACITY).0)
            .subscribe();
        let (done, confirmed) = oneshot::channel();
        let sent = self.subscribe_requests.send(SubscribeRequest {
            topic: topic.to_owned(),
            done,
        });
        Box::pin(async move {
            if sent.is_err() {
                return Err(BusError::Unavailable("Redis subscriber has stopped".into()));
            }
            match confirmed.await {
                Ok(Ok(())) => Ok(receiver),
                Ok(Err(e)) => Err(e),
                Err(_) => Err(BusError::Unavailable("Redis subscriber has stopped".into())),
            }
        })
    }

    /// PINGs Redis over the subscriber connection: the one whose loss would make
    /// this node deaf. Also fails while the publisher is failing.
    fn ping(&self) -> BoxFuture<'_, Result<(), BusError>> {
        let live = self.shared.live();
        let publisher_up = self.shared.publisher_up.load(Ordering::Relaxed);
        Box::pin(async move {
            let Some(mut conn) = live else {
                return Err(BusError::Unavailable("reconnecting to Redis".into()));
            };
            if !publisher_up {
                return Err(BusError::Unavailable("Redis publisher is failing".into()));
            }
            match tokio::time::timeout(
                PING_TIMEOUT,
                redis::cmd("PING").query_async::<()>(&mut conn),
            )
            .await
            {
                Ok(Ok(())) => Ok(()),
                Ok(Err(e)) => Err(unavailable("Redis PING failed", &e)),
                Err(_) => Err(BusError::Unavailable("Redis PING timed out".into())),
            }
        })
    }

    /// Moves after every reconnect of either connection (once the subscriber has
    /// re-subscribed, so a catch-up started then misses nothing) and whenever
    /// the publisher dropped queued events.
    fn disruptions(&self) -> watch::Receiver<u64> {
        self.shared.disruptions.subscribe()
    }
}

fn channel_of(topic: &str) -> String {
    format!("{CHANNEL_PREFIX}{topic}")
}

fn unavailable(what: &str, error: &redis::RedisError) -> BusError {
    BusError::Unavailable(format!("{what}: {error}"))
}

/// 100 ms doubling to 2 s; reset after a success.
#[derive(Debug)]
struct Backoff(Duration);

impl Backoff {
    fn new() -> Self {
        Self(BACKOFF_MIN)
    }

    fn next(&mut self) -> Duration {
        let delay = self.0;
        self.0 = (self.0 * 2).min(BACKOFF_MAX);
        delay
    }

    fn reset(&mut self) {
        self.0 = BACKOFF_MIN;
    }
}

// ---------------------------------------------------------------------------
// Subscriber

/// A subscriber connection and the messages Redis pushes on it.
struct SubscriberConn {
    conn: MultiplexedConnection,
    pushes: mpsc::UnboundedReceiver<PushInfo>,
}

async fn open_subscriber(client: &Client) -> Result<SubscriberConn, BusError> {
    let (sender, pushes) = mpsc::unbounded_channel();
    let config = AsyncConnectionConfig::new()
        .set_connection_timeout(Some(CONNECT_TIMEOUT))
        .set_response_timeout(Some(COMMAND_TIMEOUT))
        .set_push_sender(sender);
    let conn = client
        .get_multiplexed_async_connection_with_config(&config)
        .await
        .map_err(|e| unavailable("cannot connect to Redis", &e))?;
    Ok(SubscriberConn { conn, pushes })
}

/// Why the subscriber stopped serving a connection.
enum Stop {
    /// The bus was dropped: end the task.
    BusDropped,
    /// The connection failed: reconnect.
    Lost(String),
}

/// The task that owns the subscriber connection. It alone sends SUBSCRIBE and
/// UNSUBSCRIBE, so the set of channels Redis has for this node and `subscribed`
/// cannot drift apart through races between callers, the sweep and reconnects.
struct SubscriberTask {
    client: Client,
    shared: Arc<Shared>,
    requests: mpsc::UnboundedReceiver<SubscribeRequest>,
    /// Topics SUBSCRIBEd on the current connection.
    subscribed: HashSet<String>,
    sweep_every: Duration,
}

impl SubscriberTask {
    async fn run(mut self, first: SubscriberConn) {
        let mut sub = first;
        let mut backoff = Backoff::new();
        loop {
            self.shared.set_live(Some(sub.conn.clone()));
            let stop = self.serve(&mut sub).await;
            self.shared.set_live(None);
            self.subscribed.clear();
            match stop {
                Stop::BusDropped => return,
                Stop::Lost(error) => {
                    tracing::warn!(%error, "event bus: Redis subscriber connection lost");
                }
            }
            sub = loop {
                // Wait before every attempt, even the first, so a Redis that
                // accepts and drops connections at once is not hammered.
                if !self.pause(backoff.next()).await {
                    return;
                }
                match self.reconnect().await {
                    Ok(sub) => break sub,
                    Err(error) => {
                        tracing::warn!(%error, "event bus: Redis subscriber cannot reconnect");
                    }
                }
            };
            backoff.reset();
            // Only now, with every live topic SUBSCRIBEd again, may subscribers
            // catch up: anything published later comes through Redis.
            self.shared.disrupted();
            tracing::info!(
                topics = self.subscribed.len(),
                "event bus: Redis subscriber reconnected"
            );
        }
    }

    /// Opens a new connection and SUBSCRIBEs every topic that still has
    /// receivers. Topics without any are forgotten here rather than carried over.
    async fn reconnect(&mut self) -> Result<SubscriberConn, String> {
        let mut sub = open_subscriber(&self.client)
            .await
            .map_err(|e| e.to_string())?;
        let live: Vec<String> = {
            let mut topics = self.shared.topics();
            topics.retain(|_, sender| sender.receiver_count() > 0);
            topics.keys().cloned().collect()
        };
        self.subscribed.clear();
        for chunk in live.chunks(CHANNELS_PER_COMMAND) {
            let channels: Vec<String> = chunk.iter().map(|t| channel_of(t)).collect();
            sub.conn
                .subscribe(&channels)
                .await
                .map_err(|e| format!("re-SUBSCRIBE failed: {e}"))?;
            self.subscribed.extend(chunk.iter().cloned());
        }
        Ok(sub)
    }

    /// Waits `delay` before the next connection attempt, refusing subscribe
    /// requests meanwhile so callers do not hang. False when the bus is gone.
    async fn pause(&mut self, delay: Duration) -> bool {
        let sleep = tokio::time::sleep(delay);
        tokio::pin!(sleep);
        loop {
            tokio::select! {
                () = &mut sleep => return true,
                request = self.requests.recv() => match request {
                    Some(request) => {
                        let _ = request
                            .done
                            .send(Err(BusError::Unavailable("reconnecting to Redis".into())));
                    }
                    None => return false,
                },
            }
        }
    }

    async fn serve(&mut self, sub: &mut SubscriberConn) -> Stop {
        let mut sweep = tokio::time::interval(self.sweep_every);
        sweep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        sweep.tick().await; // The first tick is immediate; nothing to sweep yet.
        loop {
            tokio::select! {
                push = sub.pushes.recv() => match push {
                    Some(push) if push.kind != PushKind::Disconnection => self.deliver(push),
                    _ => return Stop::Lost("connection closed".into()),
                },
                request = self.requests.recv() => {
                    let Some(request) = request else {
                        return Stop::BusDropped;
                    };
                    if let Err(error) = self.handle_requests(&mut sub.conn, request).await {
                        return Stop::Lost(error);
                    }
                }
                _ = sweep.tick() => {
                    if let Err(error) = self.sweep(&mut sub.conn).await {
                        return Stop::Lost(error);
                    }
                }
            }
        }
    }

    /// Sends a message from Redis to the topic's local receivers.
    fn deliver(&self, push: PushInfo) {
        // Subscribe/unsubscribe confirmations also arrive here; only messages matter.
        let Some(msg) = Msg::from_push_info(push) else {
            return;
        };
        let Some(topic) = msg.get_channel_name().strip_prefix(CHANNEL_PREFIX) else {
            return;
        };
        let Some(sender) = self.shared.topics().get(topic).cloned() else {
            return; // Swept a moment ago; its UNSUBSCRIBE is on its way.
        };
        match serde_json::from_slice::<Event>(msg.get_payload_bytes()) {
            Ok(event) if event.topic == topic => {
                // No receivers left: the sweep will UNSUBSCRIBE.
                let _ = sender.send(Arc::new(event));
            }
            // Never log the payload: it may hold PHI.
            Ok(_) => tracing::warn!(
                "event bus: dropped a Redis message whose topic does not match its channel"
            ),
            Err(error) => tracing::warn!(
                error_category = ?error.classify(),
                "event bus: dropped a Redis message that is not an event"
            ),
        }
    }

    /// SUBSCRIBEs the topics of `first` and of every other request already
    /// waiting, in one command, then answers them all.
    async fn handle_requests(
        &mut self,
        conn: &mut MultiplexedConnection,
        first: SubscribeRequest,
    ) -> Result<(), String> {
        let mut batch = vec![first];
        while batch.len() < CHANNELS_PER_COMMAND {
            match self.requests.try_recv() {
                Ok(request) => batch.push(request),
                Err(_) => break,
            }
        }
        let mut new: Vec<&str> = batch
            .iter()
            .map(|r| r.topic.as_str())
            .filter(|t| !self.subscribed.contains(*t))
            .collect();
        new.sort_unstable();
        new.dedup();
        let result = if new.is_empty() {
            Ok(())
        } else {
            let channels: Vec<String> = new.iter().map(|t| channel_of(t)).collect();
            conn.subscribe(&channels)
                .await
                .map_err(|e| format!("SUBSCRIBE failed: {e}"))
        };
        if result.is_ok() {
            self.subscribed.extend(new.iter().map(|t| (*t).to_owned()));
        }
        for request in batch {
            let answer = match &result {
                Ok(()) => Ok(()),
                Err(_) => Err(BusError::Unavailable("reconnecting to Redis".into())),
            };
            // The caller may have given up waiting; nothing to do then.
            let _ = request.done.send(answer);
        }
        result
    }

    /// UNSUBSCRIBEs topics whose receivers are all gone, then PINGs so a
    /// connection that died silently is replaced.
    async fn sweep(&mut self, conn: &mut MultiplexedConnection) -> Result<(), String> {
        let unused: Vec<String> = {
            let mut topics = self.shared.topics();
            let unused: Vec<String> = topics
                .iter()
                .filter(|(_, sender)| sender.receiver_count() == 0)
                .map(|(topic, _)| topic.clone())
                .collect();
            for topic in &unused {
                topics.remove(topic);
            }
            unused
        };
        // A topic removed above and subscribed again before this UNSUBSCRIBE goes
        // out is fine: its request is handled after this, finds it missing from
        // `subscribed`, and SUBSCRIBEs it anew.
        let unused: Vec<String> = unused
            .into_iter()
            .filter(|t| self.subscribed.contains(t))
            .collect();
        for chunk in unused.chunks(CHANNELS_PER_COMMAND) {
            let channels: Vec<String> = chunk.iter().map(|t| channel_of(t)).collect();
            conn.unsubscribe(&channels)
                .await
                .map_err(|e| format!("UNSUBSCRIBE failed: {e}"))?;
            for topic in chunk {
                self.subscribed.remove(topic);
            }
        }
        if !unused.is_empty() {
            tracing::debug!(
                count = unused.len(),
                "event bus: unsubscribed unused topics"
            );
        }
        redis::cmd("PING")
            .query_async::<()>(conn)
            .await
            .map_err(|e| format!("PING failed: {e}"))
    }
}

// ---------------------------------------------------------------------------
// Publisher

async fn open_publisher(client: &Client) -> Result<MultiplexedConnection, BusError> {
    let config = AsyncConnectionConfig::new()
        .set_connection_timeout(Some(CONNECT_TIMEOUT))
        .set_response_timeout(Some(COMMAND_TIMEOUT));
    client
        .get_multiplexed_async_connection_with_config(&config)
        .await
        .map_err(|e| unavailable("cannot connect to Redis", &e))
}

/// Drains the queue in pipelines of up to `BATCH` PUBLISHes. One task and one
/// connection, so events leave in the order `publish` queued them. A batch that
/// fails is kept and sent again after reconnecting.
async fn run_publisher(
    client: Client,
    shared: Arc<Shared>,
    mut queue: mpsc::Receiver<Outgoing>,
    mut conn: Option<MultiplexedConnection>,
) {
    let mut pending: VecDeque<Outgoing> = VecDeque::new();
    let mut backoff = Backoff::new();
    // Whether a send failed since the last one that went through.
    let mut failing = false;
    loop {
        if pending.is_empty() {
            match queue.recv().await {
                Some(outgoing) => pending.push_back(outgoing),
                None => return, // Bus dropped and everything sent.
            }
        }
        if failing {
            // Take everything so `publish` keeps working while Redis is down,
            // and keep only the newest.
            while let Ok(outgoing) = queue.try_recv() {
                pending.push_back(outgoing);
            }
            let excess = pending.len().saturating_sub(MAX_PENDING);
            if excess > 0 {
                pending.drain(..excess);
                shared.disrupted();
                tracing::warn!(
                    dropped = excess,
                    "event bus: Redis unreachable, dropped the oldest queued events"
                );
            }
        } else {
            while pending.len() < BATCH {
                match queue.try_recv() {
                    Ok(outgoing) => pending.push_back(outgoing),
                    Err(_) => break,
                }
            }
        }

        let result = match &mut conn {
            Some(c) => send_batch(c, &pending).await,
            None => match open_publisher(&client).await {
                Ok(c) => send_batch(conn.insert(c), &pending).await,
                Err(e) => Err(e.to_string()),
            },
        };
        match result {
            Ok(sent) => {
                pending.drain(..sent);
                backoff.reset();
                if failing {
                    failing = false;
                    shared.publisher_up.store(true, Ordering::Relaxed);
                    // The failed pipeline may have been applied in part, so its
                    // events may now arrive twice, or after later ones from
                    // other nodes.
                    shared.disrupted();
                    tracing::info!("event bus: Redis publisher reconnected");
                }
            }
            Err(error) => {
                conn = None;
                failing = true;
                shared.publisher_up.store(false, Ordering::Relaxed);
                if queue.is_closed() {
                    // The bus is gone; nobody would ever stop the retries.
                    tracing::warn!(
                        %error,
                        dropped = pending.len(),
                        "event bus: Redis publisher stopped with events unsent"
                    );
                    return;
                }
                let delay = backoff.next();
                tracing::warn!(
                    %error,
                    pending = pending.len(),
                    ?delay,
                    "event bus: Redis publish failed, will retry"
                );
                tokio::time::sleep(delay).await;
            }
        }
    }
}

/// Sends the first `BATCH` pending events as one pipeline; returns how many.
async fn send_batch(
    conn: &mut MultiplexedConnection,
    pending: &VecDeque<Outgoing>,
) -> Result<usize, String> {
    let count = pending.len().min(BATCH);
    let mut pipe = redis::pipe();
    for outgoing in pending.iter().take(count) {
        pipe.publish(&outgoing.channel, &outgoing.payload[..])
            .ignore();
    }
    pipe.query_async::<()>(conn)
        .await
        .map_err(|e| format!("PUBLISH pipeline failed: {e}"))?;
    Ok(count)
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use tokio::sync::broadcast::error::RecvError;

    use super::*;

    /// The restart test kills every client connection on the server, which
    /// would break the other tests' connections mid-run: Redis tests in this
    /// process take turns.
    static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

    /// Redis for tests, from `HUB_TEST_REDIS_URL`. Without it the test is
    /// skipped, unless `HUB_TEST_REQUIRE_SERVICES=1` says the run must cover it.
    fn redis_url() -> Option<String> {
        match std::env::var("HUB_TEST_REDIS_URL") {
            Ok(url) => Some(url),
            Err(_) if std::env::var("HUB_TEST_REQUIRE_SERVICES").as_deref() == Ok("1") => {
                panic!("HUB_TEST_REQUIRE_SERVICES=1 but HUB_TEST_REDIS_URL is not set")
            }
            Err(_) => {
                eprintln!("skipped: HUB_TEST_REDIS_URL is not set");
                None
            }
        }
    }

    fn unique_topic(kind: &str) -> String {
        format!("test.{kind}.{}", uuid::Uuid::new_v4())
    }

    fn event(topic: &str, n: i64) -> Event {
        Event {
            topic: topic.into(),
            kind: "test".into(),
            payload: serde_json::json!({ "n": n }),
        }
    }

    async fn admin(url: &str) -> MultiplexedConnection {
        Client::open(url)
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap()
    }

    async fn subscribers_of(admin: &mut MultiplexedConnection, topic: &str) -> i64 {
        let (_, count): (String, i64) = redis::cmd("PUBSUB")
            .arg("NUMSUB")
            .arg(channel_of(topic))
            .query_async(admin)
            .await
            .unwrap();
        count
    }

    async fn recv(rx: &mut broadcast::Receiver<Arc<Event>>) -> Arc<Event> {
        match tokio::time::timeout(Duration::from_secs(10), rx.recv()).await {
            Ok(Ok(event)) => event,
            Ok(Err(RecvError::Lagged(n))) => panic!("receiver lagged by {n}"),
            Ok(Err(RecvError::Closed)) => panic!("topic closed"),
            Err(_) => panic!("no event within 10 s"),
        }
    }

    #[tokio::test]
    async fn events_cross_nodes_in_order() {
        let Some(url) = redis_url() else { return };
        let _turn = SERIAL.lock().await;
        let a = RedisBus::connect(&url).await.unwrap();
        let b = RedisBus::connect(&url).await.unwrap();
        let topic = unique_topic("order");
        let mut on_b = b.subscribe(&topic).await.unwrap();
        // The publishing node hears its own events through Redis too.
        let mut on_a = a.subscribe(&topic).await.unwrap();
        let mut other = b.subscribe(&unique_topic("other")).await.unwrap();

        for n in 0..1000 {
            a.publish(event(&topic, n)).await.unwrap();
        }
        for n in 0..1000 {
            assert_eq!(*recv(&mut on_b).await, event(&topic, n));
            assert_eq!(*recv(&mut on_a).await, event(&topic, n));
        }
        assert!(other.try_recv().is_err());
        a.ping().await.unwrap();
        b.ping().await.unwrap();
    }

    #[tokio::test]
    async fn topics_are_unsubscribed_once_their_receivers_are_gone() {
        let Some(url) = redis_url() else { return };
        let _turn = SERIAL.lock().await;
        let mut admin = admin(&url).await;
        let bus = RedisBus::connect_with(&url, Duration::from_millis(50))
            .await
            .unwrap();
        let topic = unique_topic("sweep");

        let first = bus.subscribe(&topic).await.unwrap();
        let second = bus.subscribe(&topic).await.unwrap();
        // Two receivers, one Redis subscription.
        assert_eq!(subscribers_of(&mut admin, &topic).await, 1);

        drop(first);
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(subscribers_of(&mut admin, &topic).await, 1);

        drop(second);
        let deadline = Instant::now() + Duration::from_secs(5);
        while subscribers_of(&mut admin, &topic).await != 0 {
            assert!(
                Instant::now() < deadline,
                "topic still subscribed after 5 s"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(bus.shared.topics().is_empty());

        // A later subscriber of the same topic SUBSCRIBEs it again.
        let mut again = bus.subscribe(&topic).await.unwrap();
        assert_eq!(subscribers_of(&mut admin, &topic).await, 1);
        bus.publish(event(&topic, 7)).await.unwrap();
        assert_eq!(*recv(&mut again).await, event(&topic, 7));
    }

    #[tokio::test]
    async fn subscribers_survive_a_redis_restart() {
        let Some(url) = redis_url() else { return };
        let _turn = SERIAL.lock().await;
        let mut admin = admin(&url).await;
        let a = RedisBus::connect(&url).await.unwrap();
        let b = RedisBus::connect(&url).await.unwrap();
        let topic = unique_topic("restart");
        let mut rx = b.subscribe(&topic).await.unwrap();
        let mut b_disruptions = b.disruptions();
        let a_disruptions = a.disruptions();
        let (a_before, b_before) = (*a_disruptions.borrow(), *b_disruptions.borrow());

        // What a restart does to clients, without stopping the shared server:
        // every connection but this one is closed.
        for kind in ["pubsub", "normal"] {
            redis::cmd("CLIENT")
                .arg("KILL")
                .arg("TYPE")
                .arg(kind)
                .query_async::<()>(&mut admin)
                .await
                .unwrap();
        }

        // B announces the disruption once it has re-subscribed...
        tokio::time::timeout(Duration::from_secs(10), b_disruptions.changed())
            .await
            .expect("b's disruption counter did not move within 10 s")
            .unwrap();
        assert!(*b_disruptions.borrow() > b_before);

        // ...so an event published after that arrives on the old receiver. A's
        // publisher finds its connection dead, reconnects and sends it anyway.
        a.publish(event(&topic, 1)).await.unwrap();
        assert_eq!(*recv(&mut rx).await, event(&topic, 1));
        assert!(*a_disruptions.borrow() > a_before);

        let deadline = Instant::now() + Duration::from_secs(5);
        while a.ping().await.is_err() || b.ping().await.is_err() {
            assert!(Instant::now() < deadline, "ping still failing after 5 s");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    #[tokio::test]
    async fn publisher_keeps_only_the_newest_events_while_redis_is_down() {
        // Port 1 on loopback: nothing listens, every attempt is refused at once.
        let client = Client::open("redis://127.0.0.1:1").unwrap();
        let shared = Arc::new(Shared::new());
        let mut disruptions = shared.disruptions.subscribe();
        let (outgoing, queue) = mpsc::channel(QUEUE_CAPACITY);
        for n in 0..MAX_PENDING + 10 {
            let queued = outgoing.try_send(Outgoing {
                channel: channel_of("t"),
                payload: n.to_le_bytes().to_vec(),
            });
            assert!(queued.is_ok());
        }
        let publisher = tokio::spawn(run_publisher(client, shared.clone(), queue, None));

        // The first attempt fails; the retry finds more than MAX_PENDING waiting,
        // drops the oldest ten and says so.
        tokio::time::timeout(Duration::from_secs(10), disruptions.changed())
            .await
            .expect("no disruption within 10 s")
            .unwrap();
        assert!(!shared.publisher_up.load(Ordering::Relaxed));
        // The queue was drained: publish() would be accepted again.
        assert_eq!(outgoing.capacity(), QUEUE_CAPACITY);

        // Dropping the bus's sender stops the retries.
        drop(outgoing);
        tokio::time::timeout(Duration::from_secs(10), publisher)
            .await
            .expect("publisher still retrying 10 s after the bus was dropped")
            .unwrap();
    }

    #[tokio::test]
    async fn connect_fails_when_redis_is_unreachable() {
        // Port 1 on loopback: nothing listens, the connection is refused at once.
        let error = RedisBus::connect("redis://127.0.0.1:1").await.unwrap_err();
        assert!(matches!(error, BusError::Unavailable(_)));
        assert!(RedisBus::connect("not a url").await.is_err());
        let Err(BusError::Unavailable(tls)) = RedisBus::connect("rediss://127.0.0.1:1").await
        else {
            panic!("rediss:// accepted");
        };
        assert!(tls.contains("TLS"), "{tls}");
    }
}
