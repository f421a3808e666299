//! The notifier worker end to end, against real servers: the outbox in SQLite or
//! PostgreSQL (migrated with the shipped migrations), email through lettre to
//! aiosmtpd, SMS through our Twilio client to the Twilio stand-in, whose signed
//! status callbacks come back to a small receiver here that checks the signature
//! and applies them with `receipts::sms_status`, as the hub's webhook does.
//!
//! Time is a manual clock: a test moves it and calls `run_once` to process one
//! batch, so due times, backoff and leases are exact and nothing sleeps. The only
//! real waits are for the stand-in's callbacks (and, in principle, the SMTP sink's
//! file), through their `wait_for_*` helpers.

use std::{
    collections::HashSet,
    path::PathBuf,
    sync::{
        Arc, Mutex,
        atomic::{AtomicI64, Ordering},
    },
    time::Duration,
};

use axum::{
    Router,
    extract::{Form, State},
    http::{HeaderMap, StatusCode},
    routing::post,
};
use chrono::TimeZone;
use chrono_tz::Tz;
use serde_json::{Value, json};
use sqlx::{AnyConnection, AnyPool, AssertSqlSafe, Connection, Executor, Row, any::AnyPoolOptions};
use tokio::net::TcpListener;

use notifier::{
    Engine, Now,
    channels::{
        BoxFuture, Channels, InAppSink,
        smtp::{SmtpConfig, SmtpMailer, SmtpSecurity},
        twilio::{TwilioClient, TwilioConfig},
    },
    delivery_error::DeliveryError,
    outbox::{self, Category, ClaimSpec, Delivery, NewNotification},
    receipts::{self, InboundAction, ReceiptOutcome},
    recipient::{self, OutOfBand, Preference},
    test_support::{
        smtp_sink::{ReceivedEmail, SinkOptions, SmtpSink},
        twilio_standin::TwilioStandIn,
    },
    twilio_signature,
    worker::{Settings, Worker},
};

const ACCOUNT_SID: &str = "AC0123456789abcdef0123456789abcdef";
const AUTH_TOKEN: &str = "worker-test-auth-token";
const SMS_FROM: &str = "+15005550006";
const PG_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";
/// Upper bound for real servers (callbacks, the SMTP sink's file); never reached when all is well.
const WAIT: Duration = Duration::from_secs(10);
const HOUR: i64 = 3_600_000;

// ---------------------------------------------------------------- database

/// A fresh, migrated database for one test: a temp SQLite file or a new
/// PostgreSQL database, removed again on drop (best effort).
struct Db {
    pool: AnyPool,
    engine: Engine,
    url: String,
    cleanup: Cleanup,
}

enum Cleanup {
    SqliteFile(PathBuf),
    PostgresDatabase(String),
}

impl Db {
    async fn sqlite() -> Db {
        sqlx::any::install_default_drivers();
        let path = std::env::temp_dir().join(format!(
            "hb-notifier-worker-{}.db",
            uuid::Uuid::now_v7().simple()
        ));
        let url = format!("sqlite://{}?mode=rwc", path.display());
        let pool = AnyPoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(10))
            // As the hub opens it: WAL, writers queue instead of failing.
            .after_connect(|conn, _| {
                Box::pin(async move {
                    conn.execute(
                        "PRAGMA journal_mode = WAL; PRAGMA busy_timeout = 10000; \
                         PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL;",
                    )
                    .await?;
                    Ok(())
                })
            })
            .connect(&url)
            .await
            .expect("open the SQLite test database");
        sqlx::migrate!("../migrations/sqlite")
            .run(&pool)
            .await
            .expect("migrate SQLite");
        Db {
            pool,
            engine: Engine::Sqlite,
            url,
            cleanup: Cleanup::SqliteFile(path),
        }
    }

    async fn postgres() -> Db {
        sqlx::any::install_default_drivers();
        let name = format!("hb_notifier_{}", uuid::Uuid::new_v4().simple());
        let mut admin = AnyConnection::connect(PG_ADMIN_URL)
            .await
            .expect("PostgreSQL at 127.0.0.1:5432 (user postgres)");
        admin
            .execute(AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .await
            .expect("create the test database");
        let _ = admin.close().await;
        let url = format!("postgres://postgres@127.0.0.1:5432/{name}");
        let db = Db {
            pool: pg_pool(&url).await,
            engine: Engine::Postgres,
            url,
            cleanup: Cleanup::PostgresDatabase(name),
        };
        sqlx::migrate!("../migrations/postgres")
            .run(&db.pool)
            .await
            .expect("migrate PostgreSQL");
        db
    }

    /// Another pool on the same database, as a second notifier process would have.
    async fn another_pool(&self) -> AnyPool {
        assert_eq!(self.engine, Engine::Postgres);
        pg_pool(&self.url).await
    }
}

async fn pg_pool(url: &str) -> AnyPool {
    AnyPoolOptions::new()
        .max_connections(8)
        .acquire_timeout(Duration::from_secs(10))
        .connect(url)
        .await
        .expect("connect to the PostgreSQL test database")
}

impl Drop for Db {
    fn drop(&mut self) {
        match &self.cleanup {
            Cleanup::SqliteFile(path) => {
                for suffix in ["", "-wal", "-shm"] {
                    let mut p = path.clone().into_os_string();
                    p.push(suffix);
                    let _ = std::fs::remove_file(p);
                }
            }
            Cleanup::PostgresDatabase(name) => {
                // Drop runs inside the test's runtime: use a private one on its own thread.
                let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                let _ = std::thread::spawn(move || {
                    let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                    else {
                        return;
                    };
                    rt.block_on(async {
                        if let Ok(mut admin) = AnyConnection::connect(PG_ADMIN_URL).await {
                            let _ = admin.execute(AssertSqlSafe(sql)).await;
                            let _ = admin.close().await;
                        }
                    });
                })
                .join();
            }
        }
    }
}

// ---------------------------------------------------------------- clock

/// The worker's `Now`, moved by hand.
#[derive(Clone)]
struct Clock(Arc<AtomicI64>);

impl Clock {
    fn at(ms: i64) -> Clock {
        Clock(Arc::new(AtomicI64::new(ms)))
    }

    fn set(&self, ms: i64) {
        self.0.store(ms, Ordering::SeqCst);
    }

    fn get(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }

    fn now(&self) -> Now {
        let clock = self.0.clone();
        Arc::new(move || clock.load(Ordering::SeqCst))
    }
}

/// `2026-03-08T14:00:00Z` as milliseconds since the epoch.
fn ms(rfc3339: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .expect("valid RFC 3339")
        .timestamp_millis()
}

/// A wall-clock time in `tz` as milliseconds since the epoch (must exist and be unique).
fn local_ms(tz: Tz, (y, mo, d): (i32, u32, u32), (h, mi): (u32, u32)) -> i64 {
    tz.with_ymd_and_hms(y, mo, d, h, mi, 0)
        .single()
        .expect("an unambiguous local time")
        .timestamp_millis()
}

/// How people in `tz` read the instant `ms`.
fn local_text(ms: i64, tz: Tz) -> String {
    tz.timestamp_millis_opt(ms)
        .single()
        .expect("valid instant")
        .format("%Y-%m-%d %H:%M %Z")
        .to_string()
}

// ---------------------------------------------------------------- rows

struct User<'a> {
    email: &'a str,
    phone: Option<&'a str>,
    time_zone: &'a str,
    /// Minutes after local midnight, start and end.
    quiet: Option<(i64, i64)>,
}

impl<'a> User<'a> {
    fn new(email: &'a str, time_zone: &'a str) -> User<'a> {
        User {
            email,
            phone: None,
            time_zone,
            quiet: None,
        }
    }
}

async fn insert_user(pool: &AnyPool, u: User<'_>) -> String {
    let id = uuid::Uuid::now_v7().to_string();
    sqlx::query(
        "INSERT INTO users (id, email, display_name, password_hash, created_at, updated_at, \
         phone, locale, time_zone, quiet_start_min, quiet_end_min) \
         VALUES ($1, $2, 'Ana Silva', 'x', 0, 0, $3, 'en', $4, $5, $6)",
    )
    .bind(&id)
    .bind(u.email)
    .bind(u.phone)
    .bind(u.time_zone)
    .bind(u.quiet.map(|q| q.0))
    .bind(u.quiet.map(|q| q.1))
    .execute(pool)
    .await
    .expect("insert user");
    id
}

fn payload(starts_at: i64) -> Value {
    json!({
        "provider": "Dr Rui Costa", "org": "Clinica Norte", "starts_at": starts_at,
        "link": "https://hub.example/web/app.html",
    })
}

fn notice(
    recipient: &str,
    key: &str,
    category: Category,
    template: &str,
    delivery: Delivery,
    due_at: i64,
    starts_at: i64,
) -> NewNotification {
    NewNotification {
        idempotency_key: key.to_owned(),
        recipient_id: recipient.to_owned(),
        org_id: Some("org-1".to_owned()),
        category,
        template: template.to_owned(),
        payload: payload(starts_at),
        subject_ref: None,
        delivery,
        due_at,
        expires_at: None,
    }
}

/// A reminder as the hub schedules it: out of band, about the appointment,
/// expiring when it begins.
fn reminder(recipient: &str, appointment: &str, starts_at: i64, due_at: i64) -> NewNotification {
    NewNotification {
        subject_ref: Some(appointment.to_owned()),
        expires_at: Some(starts_at),
        ..notice(
            recipient,
            &format!("appointment.reminder:{appointment}:{due_at}"),
            Category::Reminders,
            "appointment.reminder",
            Delivery::OutOfBand,
            due_at,
            starts_at,
        )
    }
}

/// Enqueues on a pooled connection and answers the new row's id.
async fn enqueue(pool: &AnyPool, n: &NewNotification, now: i64) -> String {
    let mut conn = pool.acquire().await.expect("connection");
    assert!(
        outbox::enqueue(&mut conn, n, now).await.expect("enqueue"),
        "a fresh key is written"
    );
    sqlx::query_scalar("SELECT id FROM notifications WHERE idempotency_key = $1")
        .bind(&n.idempotency_key)
        .fetch_one(pool)
        .await
        .expect("the enqueued row")
}

async fn set_preference(
    pool: &AnyPool,
    user: &str,
    category: Category,
    channels: Vec<OutOfBand>,
    in_app: bool,
) {
    let mut conn = pool.acquire().await.expect("connection");
    recipient::set_preference(
        &mut conn,
        user,
        category,
        &Preference { channels, in_app },
        0,
    )
    .await
    .expect("set preference");
}

/// A notification row as stored.
#[derive(Debug)]
struct Stored {
    status: String,
    channel: Option<String>,
    tried_channels: String,
    attempts: i64,
    due_at: i64,
    claimed_by: Option<String>,
    recovered_lease: i64,
    provider_ref: Option<String>,
    last_error: Option<String>,
    sent_at: Option<i64>,
}

async fn stored(pool: &AnyPool, id: &str) -> Stored {
    let row = sqlx::query(
        "SELECT status, channel, tried_channels, attempts, due_at, claimed_by, recovered_lease, \
         provider_ref, last_error, sent_at FROM notifications WHERE id = $1",
    )
    .bind(id)
    .fetch_one(pool)
    .await
    .expect("notification row");
    let get = |c: &str| row.try_get::<Option<String>, _>(c).expect(c);
    Stored {
        status: row.try_get("status").expect("status"),
        channel: get("channel"),
        tried_channels: row.try_get("tried_channels").expect("tried_channels"),
        attempts: row.try_get("attempts").expect("attempts"),
        due_at: row.try_get("due_at").expect("due_at"),
        claimed_by: get("claimed_by"),
        recovered_lease: row.try_get("recovered_lease").expect("recovered_lease"),
        provider_ref: get("provider_ref"),
        last_error: get("last_error"),
        sent_at: row.try_get("sent_at").expect("sent_at"),
    }
}

/// `notification_attempts` of one row as `"<channel> <outcome>"`, in order.
async fn attempt_log(pool: &AnyPool, id: &str) -> Vec<String> {
    sqlx::query(
        "SELECT attempt_no, channel, outcome FROM notification_attempts \
         WHERE notification_id = $1 ORDER BY attempt_no",
    )
    .bind(id)
    .fetch_all(pool)
    .await
    .expect("attempts")
    .iter()
    .enumerate()
    .map(|(i, r)| {
        let no: i64 = r.try_get("attempt_no").expect("attempt_no");
        assert_eq!(no, i as i64 + 1, "attempts are numbered 1, 2, ...");
        format!(
            "{} {}",
            r.try_get::<String, _>("channel").expect("channel"),
            r.try_get::<String, _>("outcome").expect("outcome")
        )
    })
    .collect()
}

async fn attempt_ref(pool: &AnyPool, id: &str, attempt_no: i64) -> Option<String> {
    sqlx::query_scalar(
        "SELECT provider_ref FROM notification_attempts WHERE notification_id = $1 AND attempt_no = $2",
    )
    .bind(id)
    .bind(attempt_no)
    .fetch_one(pool)
    .await
    .expect("attempt row")
}

async fn count(pool: &AnyPool, sql: &'static str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(pool).await.expect(sql)
}

// ---------------------------------------------------------------- channels

/// The in-app channel: records what would reach the user's open sessions.
#[derive(Default)]
struct RecordingInApp(Mutex<Vec<(String, Value)>>);

impl RecordingInApp {
    fn published(&self) -> Vec<(String, Value)> {
        self.0.lock().expect("not poisoned").clone()
    }
}

impl InAppSink for RecordingInApp {
    fn publish<'a>(
        &'a self,
        user_id: &'a str,
        notice: Value,
    ) -> BoxFuture<'a, Result<(), DeliveryError>> {
        Box::pin(async move {
            self.0
                .lock()
                .expect("not poisoned")
                .push((user_id.to_owned(), notice));
            Ok(())
        })
    }
}

/// The hub's status-callback endpoint in miniature: checks `X-Twilio-Signature`,
/// then applies the receipt at the manual clock's time.
#[derive(Clone)]
struct Receipts {
    url: String,
    pool: AnyPool,
    clock: Clock,
    applied: Arc<Mutex<Vec<(String, ReceiptOutcome)>>>,
}

async fn status_callback(
    State(r): State<Receipts>,
    headers: HeaderMap,
    Form(params): Form<Vec<(String, String)>>,
) -> StatusCode {
    let signature = headers
        .get("x-twilio-signature")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !twilio_signature::is_valid(AUTH_TOKEN, &r.url, &params, signature) {
        return StatusCode::FORBIDDEN;
    }
    let field = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let (Some(sid), Some(status)) = (field("MessageSid"), field("MessageStatus")) else {
        return StatusCode::BAD_REQUEST;
    };
    match receipts::sms_status(&r.pool, sid, status, field("ErrorCode"), r.clock.get()).await {
        Ok(outcome) => {
            r.applied
                .lock()
                .expect("not poisoned")
                .push((status.to_owned(), outcome));
            StatusCode::NO_CONTENT
        }
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// Real providers for one test: aiosmtpd, the Twilio stand-in with its callbacks
/// coming back here, and a recording in-app sink.
struct Rig {
    sink: SmtpSink,
    standin: TwilioStandIn,
    in_app: Arc<RecordingInApp>,
    receipts: Receipts,
    channels: Channels,
}

impl Rig {
    async fn start(pool: &AnyPool, clock: &Clock) -> Rig {
        let sink = tokio::task::block_in_place(|| SmtpSink::start(SinkOptions::default()));
        let standin = TwilioStandIn::start(ACCOUNT_SID, AUTH_TOKEN).await;
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let receipts = Receipts {
            url: format!(
                "http://{}/webhooks/twilio/status",
                listener.local_addr().expect("addr")
            ),
            pool: pool.clone(),
            clock: clock.clone(),
            applied: Arc::default(),
        };
        let app = Router::new()
            .route("/webhooks/twilio/status", post(status_callback))
            .with_state(receipts.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.expect("receiver serves") });
        let email = SmtpMailer::new(&SmtpConfig {
            host: "127.0.0.1".into(),
            port: sink.port(),
            security: SmtpSecurity::Plain,
            username: None,
            password: None,
            from: "HealthBridge <no-reply@healthbridge.test>".into(),
            timeout: Duration::from_secs(5),
        })
        .expect("SMTP config");
        let sms = TwilioClient::new(TwilioConfig {
            base_url: standin.base_url(),
            account_sid: ACCOUNT_SID.into(),
            auth_token: AUTH_TOKEN.into(),
            from: SMS_FROM.into(),
            status_callback_url: Some(receipts.url.clone()),
            timeout: Duration::from_secs(5),
        })
        .expect("Twilio config");
        let in_app = Arc::new(RecordingInApp::default());
        let channels = Channels {
            email: Arc::new(email),
            sms: Arc::new(sms),
            in_app: Some(in_app.clone()),
        };
        Rig {
            sink,
            standin,
            in_app,
            receipts,
            channels,
        }
    }

    fn worker(&self, pool: &AnyPool, engine: Engine, clock: &Clock) -> Arc<Worker> {
        Worker::new(
            pool.clone(),
            engine,
            self.channels.clone(),
            clock.now(),
            Settings {
                poll_interval: Duration::from_millis(50),
                batch_size: 50,
                concurrency: 4,
                lease_ms: 60_000,
                max_attempts: 3,
                backoff_base_ms: 1_000,
                backoff_max_ms: 60_000,
            },
        )
    }

    /// Exactly `n` emails at the sink (a send is complete when `run_once`
    /// returns, so this does not wait when all is well).
    fn emails(&self, n: usize) -> Vec<ReceivedEmail> {
        tokio::task::block_in_place(|| self.sink.wait_for_count(n, WAIT));
        let mails = self.sink.messages();
        assert_eq!(mails.len(), n, "emails at the sink");
        mails
    }

    /// Waits for `n` status callbacks in all; each was signed and accepted.
    async fn callbacks(&self, n: usize) {
        assert!(
            self.standin.wait_for_callbacks(n, WAIT).await,
            "{n} status callbacks"
        );
        let sent = self.standin.callbacks_sent();
        assert_eq!(sent.len(), n);
        assert!(
            sent.iter().all(|c| c.response_status == Some(204)),
            "every callback verified and applied: {sent:?}"
        );
    }
}

/// The decoded `text/plain` part of a message as received (lettre picks 7bit,
/// quoted-printable or base64 per part).
fn text_part(mail: &ReceivedEmail) -> String {
    let data = mail.data.replace("\r\n", "\n");
    let part = data
        .split("\n--")
        .find(|p| p.contains("Content-Type: text/plain"))
        .unwrap_or_else(|| panic!("no text/plain part: {data}"));
    let (headers, body) = part.split_once("\n\n").expect("part headers and body");
    let encoding = headers
        .lines()
        .find_map(|l| l.strip_prefix("Content-Transfer-Encoding: "))
        .unwrap_or("7bit")
        .trim();
    let bytes = match encoding {
        "quoted-printable" => {
            let mut out = Vec::new();
            let raw = body.replace("=\n", "");
            let mut bytes = raw.bytes();
            while let Some(b) = bytes.next() {
                if b == b'=' {
                    let hex: Vec<u8> = bytes.by_ref().take(2).collect();
                    let hex = std::str::from_utf8(&hex).expect("ascii");
                    out.push(u8::from_str_radix(hex, 16).expect("=XX escape"));
                } else {
                    out.push(b);
                }
            }
            out
        }
        "base64" => {
            use base64::Engine as _;
            let compact: String = body.split_whitespace().collect();
            base64::engine::general_purpose::STANDARD
                .decode(compact)
                .expect("base64 body")
        }
        _ => body.as_bytes().to_vec(),
    };
    String::from_utf8(bytes).expect("utf-8 text part")
}

async fn run(worker: &Arc<Worker>) -> usize {
    worker.clone().run_once().await.expect("run_once")
}

// ---------------------------------------------------------------- tests

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reminder_email_arrives_with_the_right_content() {
    let db = Db::sqlite().await;
    // Due 10:30 EST the day before an appointment at 10:30 EST.
    let due = ms("2026-01-19T15:30:00Z");
    let starts_at = ms("2026-01-20T15:30:00Z");
    let clock = Clock::at(due - HOUR);
    let rig = Rig::start(&db.pool, &clock).await;
    let user = insert_user(&db.pool, User::new("ana@example.org", "America/New_York")).await;
    let id = enqueue(
        &db.pool,
        &reminder(&user, "appt-1", starts_at, due),
        clock.get(),
    )
    .await;
    let worker = rig.worker(&db.pool, db.engine, &clock);

    assert_eq!(run(&worker).await, 0);
    clock.set(due - 1);
    assert_eq!(run(&worker).await, 0);
    assert_eq!(rig.sink.count(), 0);
    assert_eq!(stored(&db.pool, &id).await.status, "pending");

    clock.set(due);
    assert_eq!(run(&worker).await, 1);
    let mails = rig.emails(1);
    let mail = &mails[0];
    assert_eq!(mail.rcpt_tos, ["ana@example.org"]);
    assert_eq!(mail.message_id, format!("<{id}@healthbridge>"));
    assert!(
        mail.data.contains("Subject: Appointment reminder\r\n"),
        "{}",
        mail.data
    );
    assert_eq!(
        text_part(mail).lines().next(),
        Some(
            "Reminder: you have an appointment with Dr Rui Costa at Clinica Norte on 2026-01-20 10:30 EST."
        )
    );
    let row = stored(&db.pool, &id).await;
    assert_eq!(row.status, "sent");
    assert_eq!(row.channel.as_deref(), Some("email"));
    assert_eq!((row.attempts, row.sent_at), (1, Some(due)));
    assert_eq!(row.provider_ref, Some(format!("<{id}@healthbridge>")));
    assert_eq!(attempt_log(&db.pool, &id).await, ["email sent"]);
    assert_eq!(rig.standin.attempts(), 0, "no phone: no SMS tried");
    assert_eq!(run(&worker).await, 0, "sent once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dst_reminder_times() {
    let db = Db::sqlite().await;
    let ny_zone: Tz = chrono_tz::America::New_York;
    let london_zone: Tz = chrono_tz::Europe::London;
    // 10:00 EDT on the day New York springs forward (02:00 EST -> 03:00 EDT, 07:00Z),
    // and 10:00 GMT on the day London falls back (02:00 BST -> 01:00 GMT, 01:00Z).
    let ny_start = ms("2026-03-08T14:00:00Z");
    let london_start = ms("2026-10-25T10:00:00Z");
    assert_eq!(local_text(ny_start, ny_zone), "2026-03-08 10:00 EDT");
    assert_eq!(
        local_text(london_start, london_zone),
        "2026-10-25 10:00 GMT"
    );
    let clock = Clock::at(ny_start - 30 * HOUR);
    let rig = Rig::start(&db.pool, &clock).await;
    let ny = insert_user(&db.pool, User::new("ny@example.org", "America/New_York")).await;
    let london = insert_user(&db.pool, User::new("london@example.org", "Europe/London")).await;

    // (id, due, recipient, the time the mail must show)
    let mut reminders = Vec::new();
    for (user, email, appt, starts_at, shown) in [
        (
            &ny,
            "ny@example.org",
            "appt-ny",
            ny_start,
            "2026-03-08 10:00 EDT",
        ),
        (
            &london,
            "london@example.org",
            "appt-ldn",
            london_start,
            "2026-10-25 10:00 GMT",
        ),
    ] {
        for offset_min in [24 * 60, 60] {
            // Elapsed time before the appointment, as the hub computes it.
            let due = starts_at - offset_min * 60_000;
            let id = enqueue(&db.pool, &reminder(user, appt, starts_at, due), clock.get()).await;
            reminders.push((id, due, email, shown));
        }
    }
    // 24 h before is 09:00 EST (a 23-hour day) and 11:00 BST (a 25-hour day).
    assert_eq!(local_text(reminders[0].1, ny_zone), "2026-03-07 09:00 EST");
    assert_eq!(local_text(reminders[1].1, ny_zone), "2026-03-08 09:00 EDT");
    assert_eq!(
        local_text(reminders[2].1, london_zone),
        "2026-10-24 11:00 BST"
    );
    assert_eq!(
        local_text(reminders[3].1, london_zone),
        "2026-10-25 09:00 GMT"
    );

    // Steps: hourly across each appointment's last 26 hours, both DST changes
    // to the millisecond, and every due instant and the millisecond before it.
    let mut steps: Vec<i64> = Vec::new();
    for start in [ny_start, london_start] {
        steps.extend((0..=26).map(|h| start - 26 * HOUR + h * HOUR + 17 * 60_000));
    }
    for change in [ms("2026-03-08T07:00:00Z"), ms("2026-10-25T01:00:00Z")] {
        steps.extend([change - 1, change, change + 1]);
    }
    for (_, due, _, _) in &reminders {
        steps.extend([due - 1, *due]);
    }
    steps.sort_unstable();
    steps.dedup();

    let worker = rig.worker(&db.pool, db.engine, &clock);
    let mut sent_so_far = 0;
    for &now in &steps {
        clock.set(now);
        let due_now = reminders.iter().filter(|r| r.1 <= now).count();
        assert_eq!(run(&worker).await, due_now - sent_so_far, "at {now}");
        sent_so_far = due_now;
        for (id, due, _, _) in &reminders {
            let row = stored(&db.pool, id).await;
            if *due <= now {
                assert_eq!(
                    (row.status.as_str(), row.sent_at),
                    ("sent", Some(*due)),
                    "at {now}"
                );
            } else {
                assert_eq!(row.status, "pending", "{id} not before {due}, now {now}");
            }
        }
        assert_eq!(rig.sink.count(), sent_so_far);
    }
    assert_eq!(sent_so_far, 4);
    let mails = rig.emails(4);
    for (id, _, email, shown) in &reminders {
        let mail = mails
            .iter()
            .find(|m| m.message_id == format!("<{id}@healthbridge>"))
            .expect("each reminder mailed");
        assert_eq!(mail.rcpt_tos, [*email]);
        let text = text_part(mail);
        assert!(text.contains(&format!(" on {shown}.\n")), "{shown}: {text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sms_sent_retried_fallen_back_and_receipt_recorded() {
    let db = Db::sqlite().await;
    let t0 = ms("2026-02-02T15:00:00Z");
    let starts_at = t0 + 24 * HOUR;
    let clock = Clock::at(t0);
    let rig = Rig::start(&db.pool, &clock).await;
    let worker = rig.worker(&db.pool, db.engine, &clock);
    let with_phone = |email, phone| User {
        phone: Some(phone),
        ..User::new(email, "America/New_York")
    };

    // 1. Two transient failures (HTTP 500), backoff, then accepted and delivered.
    let user = insert_user(&db.pool, with_phone("sms1@example.org", "+14155550101")).await;
    rig.standin.fail_next(2, 500);
    let id = enqueue(&db.pool, &reminder(&user, "appt-1", starts_at, t0), t0).await;
    assert_eq!(run(&worker).await, 1);
    let row = stored(&db.pool, &id).await;
    assert_eq!(
        (row.status.as_str(), row.channel.as_deref(), row.attempts),
        ("pending", Some("sms"), 1)
    );
    // First retry: base 1 s, jittered into [0.5 s, 1 s].
    assert!(
        (t0 + 500..=t0 + 1_000).contains(&row.due_at),
        "retry at {}",
        row.due_at - t0
    );
    assert!(
        row.last_error
            .as_deref()
            .is_some_and(|e| e.contains("HTTP 500")),
        "{row:?}"
    );
    assert_eq!(attempt_log(&db.pool, &id).await, ["sms retry"]);

    clock.set(row.due_at - 1);
    assert_eq!(run(&worker).await, 0, "not before the backoff ends");
    let t1 = row.due_at;
    clock.set(t1);
    assert_eq!(run(&worker).await, 1);
    let row = stored(&db.pool, &id).await;
    assert_eq!((row.status.as_str(), row.attempts), ("pending", 2));
    // Second retry: 2 s, jittered into [1 s, 2 s].
    assert!(
        (t1 + 1_000..=t1 + 2_000).contains(&row.due_at),
        "retry at {}",
        row.due_at - t1
    );
    assert_eq!(attempt_log(&db.pool, &id).await, ["sms retry", "sms retry"]);

    clock.set(row.due_at);
    assert_eq!(run(&worker).await, 1);
    assert_eq!((rig.standin.attempts(), rig.standin.count()), (3, 1));
    let sms = &rig.standin.messages()[0];
    assert_eq!(sms.to, "+14155550101");
    assert!(
        sms.body
            .starts_with("Reminder: you have an appointment with Dr Rui Costa"),
        "{}",
        sms.body
    );
    let row = stored(&db.pool, &id).await;
    assert_eq!(
        (row.status.as_str(), row.channel.as_deref(), row.attempts),
        ("sent", Some("sms"), 3)
    );
    assert_eq!(row.provider_ref.as_deref(), Some(sms.sid.as_str()));
    rig.callbacks(2).await;
    assert_eq!(stored(&db.pool, &id).await.status, "delivered");
    assert_eq!(
        attempt_log(&db.pool, &id).await,
        ["sms retry", "sms retry", "sms delivered"]
    );
    assert_eq!(
        attempt_ref(&db.pool, &id, 3).await.as_deref(),
        Some(sms.sid.as_str())
    );
    assert_eq!(
        *rig.receipts.applied.lock().unwrap(),
        [
            ("sent".to_owned(), ReceiptOutcome::Progress),
            ("delivered".to_owned(), ReceiptOutcome::Delivered)
        ]
    );
    assert_eq!(rig.sink.count(), 0);

    // 2. The number is refused for good: fall back to email on the next run.
    let user = insert_user(&db.pool, with_phone("sms2@example.org", "+14155550102")).await;
    rig.standin.reject_number("+14155550102", 21211);
    let now = clock.get();
    let id = enqueue(&db.pool, &reminder(&user, "appt-2", starts_at, now), now).await;
    assert_eq!(run(&worker).await, 1);
    let row = stored(&db.pool, &id).await;
    assert_eq!(
        (
            row.status.as_str(),
            row.channel.as_deref(),
            row.tried_channels.as_str(),
            row.attempts,
            row.due_at
        ),
        ("pending", None, "sms", 0, now)
    );
    assert!(
        row.last_error
            .as_deref()
            .is_some_and(|e| e.contains("21211")),
        "{row:?}"
    );
    assert_eq!(run(&worker).await, 1, "falls back at once, same instant");
    let mails = rig.emails(1);
    assert_eq!(mails[0].rcpt_tos, ["sms2@example.org"]);
    assert_eq!(mails[0].message_id, format!("<{id}@healthbridge>"));
    let row = stored(&db.pool, &id).await;
    assert_eq!(
        (
            row.status.as_str(),
            row.channel.as_deref(),
            row.tried_channels.as_str()
        ),
        ("sent", Some("email"), "sms")
    );
    assert_eq!(
        attempt_log(&db.pool, &id).await,
        ["sms fall_back", "email sent"]
    );
    assert_eq!(rig.standin.count(), 1, "the refused SMS was not accepted");

    // 3. Accepted but undeliverable: the receipt sends it back for email.
    let user = insert_user(&db.pool, with_phone("sms3@example.org", "+14155550103")).await;
    rig.standin.undeliverable("+14155550103");
    clock.set(clock.get() + 60_000);
    let now = clock.get();
    let id = enqueue(&db.pool, &reminder(&user, "appt-3", starts_at, now), now).await;
    assert_eq!(run(&worker).await, 1);
    let sid = rig.standin.messages()[1].sid.clone();
    let row = stored(&db.pool, &id).await;
    assert_eq!(
        (row.status.as_str(), row.provider_ref.as_deref()),
        ("sent", Some(sid.as_str()))
    );
    rig.callbacks(4).await;
    let row = stored(&db.pool, &id).await;
    assert_eq!(
        (
            row.status.as_str(),
            row.channel.as_deref(),
            row.tried_channels.as_str(),
            row.due_at
        ),
        ("pending", None, "sms", now)
    );
    assert_eq!(
        row.last_error.as_deref(),
        Some("sms undelivered (carrier error 30005)")
    );
    assert_eq!(attempt_log(&db.pool, &id).await, ["sms undelivered"]);
    assert_eq!(run(&worker).await, 1);
    let mails = rig.emails(2);
    assert_eq!(mails[1].rcpt_tos, ["sms3@example.org"]);
    let row = stored(&db.pool, &id).await;
    assert_eq!(
        (
            row.status.as_str(),
            row.channel.as_deref(),
            row.tried_channels.as_str()
        ),
        ("sent", Some("email"), "sms")
    );
    assert_eq!(
        attempt_log(&db.pool, &id).await,
        ["sms undelivered", "email sent"]
    );
    assert_eq!(rig.standin.count(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_opts_out_and_start_opts_back_in() {
    let db = Db::sqlite().await;
    let t0 = ms("2026-05-04T14:00:00Z");
    let clock = Clock::at(t0);
    let rig = Rig::start(&db.pool, &clock).await;
    let worker = rig.worker(&db.pool, db.engine, &clock);
    let phone = "+14155550104";
    let user = insert_user(
        &db.pool,
        User {
            phone: Some(phone),
            ..User::new("stop@example.org", "America/New_York")
        },
    )
    .await;

    assert_eq!(
        receipts::sms_inbound(&db.pool, phone, "STOP", t0)
            .await
            .unwrap(),
        InboundAction::OptedOut
    );
    let id = enqueue(&db.pool, &reminder(&user, "appt-1", t0 + 24 * HOUR, t0), t0).await;
    assert_eq!(run(&worker).await, 1);
    let row = stored(&db.pool, &id).await;
    assert_eq!(
        (
            row.status.as_str(),
            row.channel.as_deref(),
            row.tried_channels.as_str()
        ),
        ("sent", Some("email"), ""),
        "SMS skipped, not failed"
    );
    assert_eq!(rig.emails(1)[0].rcpt_tos, ["stop@example.org"]);
    assert_eq!(rig.standin.attempts(), 0);

    assert_eq!(
        receipts::sms_inbound(&db.pool, phone, "START", t0)
            .await
            .unwrap(),
        InboundAction::OptedIn
    );
    let id = enqueue(&db.pool, &reminder(&user, "appt-2", t0 + 24 * HOUR, t0), t0).await;
    assert_eq!(run(&worker).await, 1);
    let row = stored(&db.pool, &id).await;
    assert_eq!(
        (row.status.as_str(), row.channel.as_deref()),
        ("sent", Some("sms"))
    );
    assert_eq!(rig.standin.count(), 1);
    assert_eq!(rig.standin.messages()[0].to, phone);
    assert_eq!(rig.sink.count(), 1, "no second email");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quiet_hours_defer_non_urgent_but_not_critical() {
    let db = Db::sqlite().await;
    let ny: Tz = chrono_tz::America::New_York;
    // 23:00 EST on 15 January; quiet 22:00-07:00 ends at 07:00 EST on the 16th.
    let late = local_ms(ny, (2026, 1, 15), (23, 0));
    let morning = local_ms(ny, (2026, 1, 16), (7, 0));
    assert_eq!(morning, ms("2026-01-16T12:00:00Z"));
    let clock = Clock::at(late);
    let rig = Rig::start(&db.pool, &clock).await;
    let worker = rig.worker(&db.pool, db.engine, &clock);
    let user = insert_user(
        &db.pool,
        User {
            quiet: Some((22 * 60, 7 * 60)),
            ..User::new("night@example.org", "America/New_York")
        },
    )
    .await;
    // Nothing chosen for any category: critical alerts still go out.
    for category in Category::CONFIGURABLE {
        set_preference(&db.pool, &user, category, vec![], false).await;
    }
    let booked = enqueue(
        &db.pool,
        &notice(
            &user,
            "booked-1",
            Category::Appointments,
            "appointment.booked",
            Delivery::OutOfBand,
            late,
            late + 48 * HOUR,
        ),
        late,
    )
    .await;
    let critical = enqueue(
        &db.pool,
        &notice(
            &user,
            "critical-1",
            Category::Critical,
            "critical.alert",
            Delivery::OutOfBand,
            late,
            0,
        ),
        late,
    )
    .await;

    assert_eq!(run(&worker).await, 2);
    let row = stored(&db.pool, &booked).await;
    assert_eq!(
        (
            row.status.as_str(),
            row.due_at,
            row.attempts,
            row.channel.as_deref()
        ),
        ("pending", morning, 0, None)
    );
    assert!(attempt_log(&db.pool, &booked).await.is_empty());
    let row = stored(&db.pool, &critical).await;
    assert_eq!(
        (row.status.as_str(), row.channel.as_deref()),
        ("sent", Some("email"))
    );
    let mails = rig.emails(1);
    assert_eq!(mails[0].message_id, format!("<{critical}@healthbridge>"));
    assert!(
        mails[0]
            .data
            .contains("Subject: Urgent: your care team needs to reach you")
    );

    // The deferred notice goes out when quiet hours end (once email is chosen again).
    set_preference(
        &db.pool,
        &user,
        Category::Appointments,
        vec![OutOfBand::Email],
        true,
    )
    .await;
    clock.set(morning - 1);
    assert_eq!(run(&worker).await, 0);
    clock.set(morning);
    assert_eq!(run(&worker).await, 1);
    let row = stored(&db.pool, &booked).await;
    assert_eq!(
        (row.status.as_str(), row.attempts, row.sent_at),
        ("sent", 1, Some(morning))
    );
    assert_eq!(
        rig.emails(2)[1].message_id,
        format!("<{booked}@healthbridge>")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preferences_silence_a_category() {
    let db = Db::sqlite().await;
    let t0 = ms("2026-06-01T15:00:00Z");
    let clock = Clock::at(t0);
    let rig = Rig::start(&db.pool, &clock).await;
    let worker = rig.worker(&db.pool, db.engine, &clock);
    let user = insert_user(
        &db.pool,
        User {
            phone: Some("+14155550106"),
            ..User::new("quiet@example.org", "Europe/Lisbon")
        },
    )
    .await;
    set_preference(&db.pool, &user, Category::Appointments, vec![], false).await;
    let id = enqueue(
        &db.pool,
        &notice(
            &user,
            "booked-1",
            Category::Appointments,
            "appointment.booked",
            Delivery::OutOfBand,
            t0,
            t0 + 48 * HOUR,
        ),
        t0,
    )
    .await;
    assert_eq!(run(&worker).await, 1);
    let row = stored(&db.pool, &id).await;
    assert_eq!(row.status, "suppressed");
    assert_eq!(
        row.last_error.as_deref(),
        Some("no channel chosen or able to reach the recipient")
    );
    assert!(attempt_log(&db.pool, &id).await.is_empty());
    assert_eq!((rig.sink.count(), rig.standin.attempts()), (0, 0));
    assert!(rig.in_app.published().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_and_withdrawn_are_never_sent() {
    let db = Db::sqlite().await;
    let t0 = ms("2026-07-01T15:00:00Z");
    let clock = Clock::at(t0);
    let rig = Rig::start(&db.pool, &clock).await;
    let worker = rig.worker(&db.pool, db.engine, &clock);
    let user = insert_user(&db.pool, User::new("late@example.org", "UTC")).await;
    // The appointment began an hour ago; its reminder was due two hours ago.
    let expired = enqueue(
        &db.pool,
        &reminder(&user, "appt-past", t0 - HOUR, t0 - 2 * HOUR),
        t0 - 3 * HOUR,
    )
    .await;
    // A cancelled appointment's reminder, withdrawn in the cancelling transaction.
    let withdrawn = enqueue(
        &db.pool,
        &reminder(&user, "appt-cancelled", t0 + 2 * HOUR, t0),
        t0 - HOUR,
    )
    .await;
    {
        let mut conn = db.pool.acquire().await.unwrap();
        let n = outbox::withdraw(
            &mut conn,
            "appt-cancelled",
            "appointment.reminder",
            "cancelled",
            t0,
        )
        .await
        .unwrap();
        assert_eq!(n, 1);
    }

    assert_eq!(run(&worker).await, 1, "only the expired one is claimed");
    let row = stored(&db.pool, &expired).await;
    assert_eq!(
        (row.status.as_str(), row.last_error.as_deref()),
        ("suppressed", Some("expired before it could be sent"))
    );
    let row = stored(&db.pool, &withdrawn).await;
    assert_eq!(
        (
            row.status.as_str(),
            row.last_error.as_deref(),
            row.attempts,
            row.claimed_by
        ),
        ("cancelled", Some("cancelled"), 0, None)
    );
    clock.set(t0 + 24 * HOUR);
    assert_eq!(run(&worker).await, 0);
    assert_eq!(stored(&db.pool, &withdrawn).await.status, "cancelled");
    assert!(attempt_log(&db.pool, &expired).await.is_empty());
    assert!(attempt_log(&db.pool, &withdrawn).await.is_empty());
    assert_eq!((rig.sink.count(), rig.standin.attempts()), (0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idempotency_key_dedupes_enqueue() {
    let db = Db::sqlite().await;
    let t0 = ms("2026-07-01T15:00:00Z");
    let user = insert_user(&db.pool, User::new("twice@example.org", "UTC")).await;
    let first = reminder(&user, "appt-1", t0 + 24 * HOUR, t0);
    let again = NewNotification {
        due_at: t0 + HOUR,
        payload: json!({}),
        ..first.clone()
    };
    let mut conn = db.pool.acquire().await.unwrap();
    assert!(outbox::enqueue(&mut conn, &first, t0).await.unwrap());
    assert!(!outbox::enqueue(&mut conn, &again, t0 + 1).await.unwrap());
    drop(conn);
    assert_eq!(
        count(&db.pool, "SELECT COUNT(*) FROM notifications").await,
        1
    );
    let (due_at, created_at): (i64, i64) =
        sqlx::query_as("SELECT due_at, created_at FROM notifications")
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!((due_at, created_at), (t0, t0), "the first write stands");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workers_on_postgres_share_1000_without_duplicates() {
    const N: usize = 1000;
    let db = Db::postgres().await;
    let t0 = ms("2026-04-01T12:00:00Z");
    let clock = Clock::at(t0);
    let rig = Rig::start(&db.pool, &clock).await;
    let mut users = Vec::new();
    for i in 0..10 {
        let email = format!("patient{i}@example.org");
        users.push(insert_user(&db.pool, User::new(&email, "America/Sao_Paulo")).await);
    }
    let mut tx = db.pool.begin().await.unwrap();
    for i in 0..N {
        let n = notice(
            &users[i % users.len()],
            &format!("booked-{i}"),
            Category::Appointments,
            "appointment.booked",
            Delivery::Email,
            t0 - i as i64,
            t0 + 48 * HOUR,
        );
        assert!(outbox::enqueue(&mut tx, &n, t0 - HOUR).await.unwrap());
    }
    tx.commit().await.unwrap();

    let a = rig.worker(&db.pool, db.engine, &clock);
    let b = rig.worker(&db.another_pool().await, db.engine, &clock);
    let drain = |w: Arc<Worker>| {
        tokio::spawn(async move {
            let mut total = 0;
            loop {
                match w.clone().run_once().await.expect("run_once") {
                    0 => break total,
                    n => total += n,
                }
            }
        })
    };
    let started = std::time::Instant::now();
    let (ta, tb) = (drain(a.clone()), drain(b.clone()));
    let (na, nb) = (ta.await.unwrap(), tb.await.unwrap());
    eprintln!(
        "worker A took {na}, worker B {nb}, in {:?}",
        started.elapsed()
    );
    assert_eq!(na + nb, N, "every row claimed exactly once");
    assert!(na > 0 && nb > 0, "both workers took a share: {na} / {nb}");

    let mails = rig.emails(N);
    let ids: HashSet<&str> = mails.iter().map(|m| m.message_id.as_str()).collect();
    assert_eq!(ids.len(), N, "no duplicate Message-ID");
    let expected: HashSet<String> = sqlx::query_scalar::<_, String>("SELECT id FROM notifications")
        .fetch_all(&db.pool)
        .await
        .unwrap()
        .into_iter()
        .map(|id| format!("<{id}@healthbridge>"))
        .collect();
    assert_eq!(
        ids,
        expected.iter().map(String::as_str).collect::<HashSet<_>>()
    );
    assert_eq!(
        outbox::count_by_status(&db.pool).await.unwrap(),
        [("sent".to_owned(), N as i64)]
    );
    let workers: HashSet<String> =
        sqlx::query_scalar::<_, String>("SELECT DISTINCT claimed_by FROM notifications")
            .fetch_all(&db.pool)
            .await
            .unwrap()
            .into_iter()
            .collect();
    assert_eq!(
        workers,
        HashSet::from([a.id().to_owned(), b.id().to_owned()])
    );
    assert_eq!(
        count(&db.pool, "SELECT COUNT(*) FROM notification_attempts WHERE channel = 'email' AND outcome = 'sent'").await,
        N as i64
    );
    assert_eq!(
        count(&db.pool, "SELECT COUNT(*) FROM notification_attempts").await,
        N as i64
    );
    assert_eq!(
        count(
            &db.pool,
            "SELECT COUNT(*) FROM notifications WHERE attempts <> 1"
        )
        .await,
        0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lease_expiry_hands_work_to_another_worker() {
    let db = Db::sqlite().await;
    let t0 = ms("2026-08-03T09:00:00Z");
    let clock = Clock::at(t0);
    let rig = Rig::start(&db.pool, &clock).await;
    let user = insert_user(&db.pool, User::new("lease@example.org", "UTC")).await;
    let id = enqueue(
        &db.pool,
        &notice(
            &user,
            "booked-1",
            Category::Appointments,
            "appointment.booked",
            Delivery::OutOfBand,
            t0,
            t0 + 48 * HOUR,
        ),
        t0,
    )
    .await;

    // Worker "dead" claims and crashes before recording anything.
    let spec = ClaimSpec {
        worker_id: "dead",
        now: t0,
        lease_ms: 60_000,
        limit: 50,
        in_app: true,
    };
    let taken = outbox::claim(&db.pool, db.engine, spec).await.unwrap();
    assert_eq!(taken.len(), 1);
    assert!(!taken[0].recovered_lease);
    let row = stored(&db.pool, &id).await;
    assert_eq!(
        (row.status.as_str(), row.claimed_by.as_deref(), row.attempts),
        ("sending", Some("dead"), 1)
    );

    let b = rig.worker(&db.pool, db.engine, &clock);
    clock.set(t0 + 60_000 - 1);
    assert_eq!(run(&b).await, 0, "the lease still holds");
    clock.set(t0 + 60_000);
    assert_eq!(run(&b).await, 1);
    let row = stored(&db.pool, &id).await;
    assert_eq!(
        (
            row.status.as_str(),
            row.claimed_by.as_deref(),
            row.recovered_lease,
            row.attempts
        ),
        ("sent", Some(b.id()), 1, 2)
    );
    assert_eq!(row.channel.as_deref(), Some("email"));
    assert_eq!(rig.emails(1)[0].message_id, format!("<{id}@healthbridge>"));
    assert_eq!(attempt_log(&db.pool, &id).await, ["email sent"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_app_notice_published() {
    let db = Db::sqlite().await;
    let t0 = ms("2026-01-10T12:00:00Z");
    let starts_at = ms("2026-01-12T14:00:00Z");
    let clock = Clock::at(t0);
    let rig = Rig::start(&db.pool, &clock).await;
    let worker = rig.worker(&db.pool, db.engine, &clock);
    let user = insert_user(&db.pool, User::new("inapp@example.org", "Europe/Lisbon")).await;
    let id = enqueue(
        &db.pool,
        &notice(
            &user,
            "booked-1:in_app",
            Category::Appointments,
            "appointment.booked",
            Delivery::InApp,
            t0,
            starts_at,
        ),
        t0,
    )
    .await;
    assert_eq!(run(&worker).await, 1);
    let published = rig.in_app.published();
    assert_eq!(published.len(), 1);
    let (to, n) = &published[0];
    assert_eq!(to, &user);
    assert_eq!(n["id"], id.as_str());
    assert_eq!(n["category"], "appointments");
    assert_eq!(n["title"], "Appointment confirmed");
    assert_eq!(
        n["body"],
        "Hello Ana Silva, your appointment with Dr Rui Costa at Clinica Norte is confirmed for 2026-01-12 14:00 WET."
    );
    let row = stored(&db.pool, &id).await;
    assert_eq!(
        (row.status.as_str(), row.channel.as_deref()),
        ("sent", Some("in_app"))
    );
    assert_eq!(attempt_log(&db.pool, &id).await, ["in_app sent"]);

    set_preference(
        &db.pool,
        &user,
        Category::Appointments,
        vec![OutOfBand::Email],
        false,
    )
    .await;
    let id = enqueue(
        &db.pool,
        &notice(
            &user,
            "booked-2:in_app",
            Category::Appointments,
            "appointment.booked",
            Delivery::InApp,
            t0,
            starts_at,
        ),
        t0,
    )
    .await;
    assert_eq!(run(&worker).await, 1);
    let row = stored(&db.pool, &id).await;
    assert_eq!(
        (row.status.as_str(), row.last_error.as_deref()),
        ("suppressed", Some("in-app notices turned off"))
    );
    assert_eq!(rig.in_app.published().len(), 1);
    assert_eq!((rig.sink.count(), rig.standin.attempts()), (0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reminder_withdrawn_while_claimed_is_not_sent_by_the_worker_that_takes_over() {
    let db = Db::sqlite().await;
    let t0 = ms("2026-08-03T09:00:00Z");
    let clock = Clock::at(t0);
    let rig = Rig::start(&db.pool, &clock).await;
    let user = insert_user(&db.pool, User::new("withdrawn@example.org", "UTC")).await;
    let starts = t0 + 48 * HOUR;
    let id = enqueue(&db.pool, &reminder(&user, "appt-9", starts, t0), t0).await;
    // A worker claims the reminder and dies; meanwhile the appointment is cancelled.
    let spec = ClaimSpec {
        worker_id: "dead",
        now: t0,
        lease_ms: 60_000,
        limit: 50,
        in_app: true,
    };
    assert_eq!(
        outbox::claim(&db.pool, db.engine, spec)
            .await
            .unwrap()
            .len(),
        1
    );
    let mut conn = db.pool.acquire().await.unwrap();
    let withdrawn = outbox::withdraw(
        &mut conn,
        "appt-9",
        "appointment.reminder",
        "cancelled",
        t0 + 1_000,
    )
    .await
    .unwrap();
    drop(conn);
    assert_eq!(withdrawn, 1);
    // The next worker takes the row over after the lease and suppresses it.
    let b = rig.worker(&db.pool, db.engine, &clock);
    clock.set(t0 + 60_000);
    assert_eq!(run(&b).await, 1);
    let row = stored(&db.pool, &id).await;
    assert_eq!(row.status, "suppressed");
    assert_eq!(
        rig.sink.count(),
        0,
        "nothing was sent for the cancelled appointment"
    );
}
