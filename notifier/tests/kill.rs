//! Whole-process faults for the `notifier` binary, against real servers: the
//! outbox in a fresh PostgreSQL database, email to aiosmtpd, SMS to the Twilio
//! stand-in, and the real binary started, killed and restarted as an operator's
//! supervisor would.
//!
//! The guarantee under test is the outbox's (docs/notifications.md): every
//! committed notice goes out at least once. A `kill -9` can only repeat the email
//! hand-offs that were in flight (at most `concurrency` of them) — rows the worker
//! had already recorded are never sent again, and an SMS taken over from the dead
//! worker is first looked up at Twilio, so SMS is never repeated. A SIGTERM
//! finishes the rows in hand, so it duplicates nothing and strands nothing.

use std::{
    collections::HashMap,
    fs::File,
    process::{Child, Command, ExitStatus, Stdio},
    time::{Duration, Instant},
};

use serde_json::json;
use sqlx::{AnyConnection, AnyPool, AssertSqlSafe, Connection, Executor, Row, any::AnyPoolOptions};

use notifier::{
    outbox::{self, Category, Delivery, NewNotification},
    test_support::{
        smtp_sink::{SinkOptions, SmtpSink, TempDir},
        twilio_standin::TwilioStandIn,
    },
};

const PG_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";
const ACCOUNT_SID: &str = "AC0123456789abcdef0123456789abcdef";
const AUTH_TOKEN: &str = "kill-test-auth-token";
const SMS_FROM: &str = "+15005550006";
/// The notifier's `concurrency`: the most hand-offs a dead worker can leave unrecorded.
const CONCURRENCY: usize = 8;
/// Generous: CI is shared and has two cores.
const TIMEOUT: Duration = Duration::from_secs(120);
const POLL: Duration = Duration::from_millis(100);

// ---------------------------------------------------------------- database

/// A fresh, migrated PostgreSQL database, dropped again on drop (best effort).
struct Db {
    pool: AnyPool,
    url: String,
    name: String,
}

impl Db {
    async fn create() -> Db {
        sqlx::any::install_default_drivers();
        let name = format!("hb_kill_{}", uuid::Uuid::new_v4().simple());
        let mut admin = AnyConnection::connect(PG_ADMIN_URL)
            .await
            .expect("PostgreSQL at 127.0.0.1:5432 (user postgres)");
        admin
            .execute(AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .await
            .expect("create the test database");
        let _ = admin.close().await;
        let url = format!("postgres://postgres@127.0.0.1:5432/{name}");
        let pool = AnyPoolOptions::new()
            .max_connections(4)
            .acquire_timeout(Duration::from_secs(30))
            .connect(&url)
            .await
            .expect("connect to the test database");
        sqlx::migrate!("../migrations/postgres")
            .run(&pool)
            .await
            .expect("migrate PostgreSQL");
        Db { pool, url, name }
    }

    /// Rows per status, e.g. `status("sending")`.
    async fn status(&self, status: &str) -> usize {
        let counts = outbox::count_by_status(&self.pool)
            .await
            .expect("count by status");
        counts
            .iter()
            .find(|(s, _)| s == status)
            .map_or(0, |(_, n)| usize::try_from(*n).unwrap_or(0))
    }

    /// Every row is `sent` or `delivered`.
    async fn all_terminal(&self, total: usize) -> bool {
        self.status("sent").await + self.status("delivered").await == total
    }

    async fn rows(&self) -> Vec<Stored> {
        sqlx::query("SELECT id, status, channel, provider_ref, recovered_lease FROM notifications")
            .fetch_all(&self.pool)
            .await
            .expect("read notifications")
            .iter()
            .map(|r| Stored {
                id: r.get("id"),
                status: r.get("status"),
                channel: r.get("channel"),
                provider_ref: r.get("provider_ref"),
                recovered: r.get::<i64, _>("recovered_lease") == 1,
            })
            .collect()
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        // Drop runs inside the test's runtime: use a private one on its own thread.
        let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
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

#[derive(Debug)]
struct Stored {
    id: String,
    status: String,
    channel: Option<String>,
    provider_ref: Option<String>,
    recovered: bool,
}

// ---------------------------------------------------------------- fixture

/// Where a notice must arrive.
#[derive(Debug, Clone)]
enum Expect {
    Email {
        to: String,
    },
    /// `tag` is unique per notice and shown in the SMS body.
    Sms {
        to: String,
        tag: String,
    },
}

/// The database with its notices enqueued, and the servers they go to.
struct Fixture {
    db: Db,
    smtp: SmtpSink,
    twilio: TwilioStandIn,
    dir: TempDir,
    /// Notification id → where it must arrive.
    expected: HashMap<String, Expect>,
}

impl Fixture {
    /// 20 email-only users get `emails` booking notices; 20 users with a phone
    /// get `sms` reminders (their default for reminders is SMS first). The two
    /// kinds are interleaved evenly and due one millisecond apart, so every batch
    /// the worker claims mixes email and SMS.
    async fn new(emails: usize, sms: usize) -> Fixture {
        let smtp = SmtpSink::start(SinkOptions::default());
        let twilio = TwilioStandIn::start(ACCOUNT_SID, AUTH_TOKEN).await;
        let db = Db::create().await;
        let now = chrono::Utc::now().timestamp_millis();
        let mut mail_users = Vec::new();
        let mut phone_users = Vec::new();
        for i in 0..20 {
            let email = format!("mail{i}@example.org");
            mail_users.push((insert_user(&db.pool, &email, None).await, email));
            let phone = format!("+1415555{:04}", 1000 + i);
            let email = format!("phone{i}@example.org");
            phone_users.push((insert_user(&db.pool, &email, Some(&phone)).await, phone));
        }

        let mut planned = Vec::new();
        let mut tx = db.pool.begin().await.expect("begin");
        let total = emails + sms;
        for i in 0..total {
            let key = format!("kill-{i:04}");
            // Notice i is an SMS when the running share of SMS passes a whole number.
            let is_sms = (i + 1) * sms / total > i * sms / total;
            let (user, template, category, expect) = if !is_sms {
                let (user, email) = &mail_users[i % mail_users.len()];
                let expect = Expect::Email { to: email.clone() };
                (user, "appointment.booked", Category::Appointments, expect)
            } else {
                let (user, phone) = &phone_users[i % phone_users.len()];
                let expect = Expect::Sms {
                    to: phone.clone(),
                    tag: format!("ref-{key}"),
                };
                (user, "appointment.reminder", Category::Reminders, expect)
            };
            let n = NewNotification {
                idempotency_key: key.clone(),
                recipient_id: user.clone(),
                org_id: None,
                category,
                template: template.to_owned(),
                // The provider's "name" carries the tag, so an SMS body names its notice.
                payload: json!({
                    "provider": format!("ref-{key}"),
                    "org": "Clinica Norte",
                    "starts_at": now + 48 * 3_600_000,
                }),
                subject_ref: Some(format!("appointment-{i}")),
                delivery: Delivery::OutOfBand,
                due_at: now - (total - i) as i64,
                expires_at: None,
            };
            assert!(outbox::enqueue(&mut tx, &n, now).await.expect("enqueue"));
            planned.push((key, expect));
        }
        tx.commit().await.expect("commit the notices");

        let ids: HashMap<String, String> =
            sqlx::query_as::<_, (String, String)>("SELECT idempotency_key, id FROM notifications")
                .fetch_all(&db.pool)
                .await
                .expect("read ids")
                .into_iter()
                .collect();
        let expected = planned
            .into_iter()
            .map(|(key, expect)| (ids[&key].clone(), expect))
            .collect();
        Fixture {
            db,
            smtp,
            twilio,
            dir: TempDir::new("notifier-kill"),
            expected,
        }
    }

    /// Messages both servers accepted so far.
    fn received_total(&self) -> usize {
        self.smtp.count() + self.twilio.count()
    }

    /// Notification id → how many times it arrived where it should. Panics on a
    /// message no notice explains (wrong recipient, unknown id or tag).
    fn received(&self) -> HashMap<String, usize> {
        let mut by_tag = HashMap::new();
        for (id, expect) in &self.expected {
            if let Expect::Sms { tag, .. } = expect {
                by_tag.insert(tag.as_str(), id.as_str());
            }
        }
        let mut seen: HashMap<String, usize> = HashMap::new();
        for mail in self.smtp.messages() {
            let id = mail
                .message_id
                .strip_prefix('<')
                .and_then(|m| m.strip_suffix("@healthbridge>"))
                .unwrap_or_else(|| panic!("unexpected Message-ID {:?}", mail.message_id));
            match self.expected.get(id) {
                Some(Expect::Email { to }) => {
                    assert_eq!(mail.rcpt_tos, std::slice::from_ref(to), "{id}")
                }
                other => panic!("email {id} was not expected (expected {other:?})"),
            }
            *seen.entry(id.to_owned()).or_default() += 1;
        }
        for sms in self.twilio.messages() {
            let id = sms
                .body
                .split_whitespace()
                .find_map(|word| by_tag.get(word))
                .unwrap_or_else(|| panic!("SMS names no notice: {:?}", sms.body));
            let Some(Expect::Sms { to, .. }) = self.expected.get(*id) else {
                unreachable!("by_tag holds SMS notices only");
            };
            assert_eq!(&sms.to, to, "{id}");
            *seen.entry((*id).to_owned()).or_default() += 1;
        }
        seen
    }

    /// Starts the real `notifier` binary on this fixture; `name` labels its log.
    fn spawn(&self, name: &str) -> Notifier {
        let log_path = self.dir.0.join(format!("{name}.log"));
        let log = File::create(&log_path).expect("create the notifier log");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_notifier"));
        // Only our settings: nothing from the developer's or CI's environment.
        for (key, _) in std::env::vars() {
            if key.starts_with("HUB_") {
                cmd.env_remove(key);
            }
        }
        let settings = [
            ("HUB_DATABASE_URL", self.db.url.clone()),
            ("HUB_DATA_DIR", self.dir.0.display().to_string()),
            ("HUB_LOG__LEVEL", "warn".to_owned()),
            ("HUB_NOTIFIER__EMAIL__HOST", "127.0.0.1".to_owned()),
            ("HUB_NOTIFIER__EMAIL__PORT", self.smtp.port().to_string()),
            ("HUB_NOTIFIER__EMAIL__SECURITY", "plain".to_owned()),
            ("HUB_NOTIFIER__EMAIL__FROM", "hb@example.org".to_owned()),
            // Short timeouts so a 5 s lease is valid (a lease must outlast three of them).
            ("HUB_NOTIFIER__EMAIL__TIMEOUT_SECS", "1".to_owned()),
            ("HUB_NOTIFIER__SMS__BASE_URL", self.twilio.base_url()),
            ("HUB_NOTIFIER__SMS__ACCOUNT_SID", ACCOUNT_SID.to_owned()),
            ("HUB_NOTIFIER__SMS__AUTH_TOKEN", AUTH_TOKEN.to_owned()),
            ("HUB_NOTIFIER__SMS__FROM", SMS_FROM.to_owned()),
            ("HUB_NOTIFIER__SMS__TIMEOUT_SECS", "1".to_owned()),
            ("HUB_NOTIFIER__CONCURRENCY", CONCURRENCY.to_string()),
            ("HUB_NOTIFIER__BATCH_SIZE", "50".to_owned()),
            ("HUB_NOTIFIER__LEASE_SECS", "5".to_owned()),
            ("HUB_NOTIFIER__POLL_INTERVAL_MS", "100".to_owned()),
        ];
        let child = cmd
            .envs(settings)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("clone the log handle"))
            .stderr(log)
            .spawn()
            .expect("start the notifier binary");
        Notifier {
            child,
            log: log_path,
        }
    }
}

async fn insert_user(pool: &AnyPool, email: &str, phone: Option<&str>) -> String {
    let id = uuid::Uuid::now_v7().to_string();
    sqlx::query(
        "INSERT INTO users (id, email, display_name, password_hash, created_at, updated_at, phone) \
         VALUES ($1, $2, 'Ana Silva', 'x', 0, 0, $3)",
    )
    .bind(&id)
    .bind(email)
    .bind(phone)
    .execute(pool)
    .await
    .expect("insert user");
    id
}

// ---------------------------------------------------------------- process

/// A running `notifier` process; SIGKILLed on drop if a test fails with it alive.
struct Notifier {
    child: Child,
    log: std::path::PathBuf,
}

impl Notifier {
    /// Fails the test, with the process's log, if it has exited.
    fn assert_running(&mut self) {
        if let Ok(Some(status)) = self.child.try_wait() {
            panic!("notifier exited early with {status}\n{}", self.log());
        }
    }

    fn log(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        format!("--- notifier log ---\n{text}")
    }

    /// `kill -9`, and reaps it.
    fn kill(mut self) {
        self.child.kill().expect("SIGKILL the notifier");
        self.child.wait().expect("reap the notifier");
    }

    /// SIGTERM, then waits for the process to finish the rows in hand and exit.
    async fn terminate(mut self) -> ExitStatus {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("run kill -TERM");
        assert!(status.success(), "kill -TERM failed");
        let deadline = Instant::now() + TIMEOUT;
        loop {
            if let Some(status) = self.child.try_wait().expect("poll the notifier") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "notifier still running {TIMEOUT:?} after SIGTERM\n{}",
                self.log()
            );
            tokio::time::sleep(POLL).await;
        }
    }
}

impl Drop for Notifier {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Polls `done` every 100 ms until it holds; panics with `what` (and the
/// process's log) after [`TIMEOUT`].
async fn wait_until<F, Fut>(what: &str, notifier: &mut Notifier, mut done: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + TIMEOUT;
    while !done().await {
        notifier.assert_running();
        assert!(
            Instant::now() < deadline,
            "timed out after {TIMEOUT:?} waiting for {what}\n{}",
            notifier.log()
        );
        tokio::time::sleep(POLL).await;
    }
}

/// What the servers received once they have finished writing what they accepted
/// (the SMTP sink logs each message before answering; unchanged for a second).
async fn settled_count(fx: &Fixture) -> usize {
    let mut last = fx.received_total();
    for _ in 0..30 {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let now = fx.received_total();
        if now == last {
            return now;
        }
        last = now;
    }
    panic!("the servers kept receiving for 30 s after the notifier was killed");
}

/// Every notice arrived at least once and every row ended `sent` or `delivered`
/// on the channel its recipient chose, with the provider's reference recorded.
/// Returns the ids that arrived more than once.
async fn assert_all_delivered(fx: &Fixture) -> Vec<String> {
    let received = fx.received();
    let missing: Vec<&String> = fx
        .expected
        .keys()
        .filter(|id| !received.contains_key(*id))
        .collect();
    assert!(
        missing.is_empty(),
        "{} notices never arrived, e.g. {:?}",
        missing.len(),
        &missing[..missing.len().min(5)]
    );
    let sids: HashMap<String, String> = fx
        .twilio
        .messages()
        .into_iter()
        .map(|m| (m.sid, m.body))
        .collect();
    let rows = fx.db.rows().await;
    assert_eq!(rows.len(), fx.expected.len());
    for row in &rows {
        assert!(
            row.status == "sent" || row.status == "delivered",
            "{row:?} did not finish"
        );
        match &fx.expected[&row.id] {
            Expect::Email { .. } => {
                assert_eq!(row.channel.as_deref(), Some("email"), "{row:?}");
                let message_id = format!("<{}@healthbridge>", row.id);
                assert_eq!(row.provider_ref.as_deref(), Some(&*message_id), "{row:?}");
            }
            Expect::Sms { tag, .. } => {
                assert_eq!(row.channel.as_deref(), Some("sms"), "{row:?}");
                let body = row.provider_ref.as_ref().and_then(|sid| sids.get(sid));
                assert!(
                    body.is_some_and(|b| b.split_whitespace().any(|w| w == tag)),
                    "{row:?}: the recorded SID is not an SMS for this notice"
                );
            }
        }
    }
    let mut duplicates: Vec<String> = received
        .into_iter()
        .filter(|(_, n)| *n > 1)
        .map(|(id, _)| id)
        .collect();
    duplicates.sort();
    duplicates
}

// ---------------------------------------------------------------- tests

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_mid_batch_then_restart_delivers_everything() {
    const EMAILS: usize = 700;
    const SMS: usize = 300;
    let started = Instant::now();
    let fx = Fixture::new(EMAILS, SMS).await;

    let mut first = fx.spawn("first");
    // Kill once a few hundred went out, at a moment the worker holds a batch
    // (batches are 50 rows: 275 is halfway through the sixth).
    wait_until("275 messages with a batch in hand", &mut first, || async {
        fx.received_total() >= 275 && fx.db.status("sending").await > 0
    })
    .await;
    first.kill();
    let received_at_kill = settled_count(&fx).await;
    let recorded_at_kill = fx.db.status("sent").await;
    let claimed_at_kill = fx.db.status("sending").await;
    let unrecorded = received_at_kill
        .checked_sub(recorded_at_kill)
        .expect("a row is recorded sent only after its hand-off");
    eprintln!(
        "killed after {:?}: {received_at_kill} received, {recorded_at_kill} recorded sent, \
         {claimed_at_kill} still claimed by the dead worker, {unrecorded} handed over but unrecorded",
        started.elapsed()
    );
    assert!(
        claimed_at_kill > 0,
        "the kill did not land mid-batch: no row was left claimed by the dead worker"
    );

    let mut second = fx.spawn("second");
    let total = EMAILS + SMS;
    wait_until("every row sent or delivered", &mut second, || {
        fx.db.all_terminal(total)
    })
    .await;
    let status = second.terminate().await;
    assert!(status.success(), "second notifier exited with {status}");

    let duplicates = assert_all_delivered(&fx).await;
    let rows = fx.db.rows().await;
    let recovered: HashMap<&str, bool> =
        rows.iter().map(|r| (r.id.as_str(), r.recovered)).collect();
    let recovered_count = rows.iter().filter(|r| r.recovered).count();
    let sms_duplicates = duplicates
        .iter()
        .filter(|id| matches!(fx.expected[*id], Expect::Sms { .. }))
        .count();
    eprintln!(
        "done after {:?}: {} duplicates of {total} ({sms_duplicates} SMS; {recovered_count} rows \
         recovered from the dead worker): {duplicates:?}",
        started.elapsed(),
        duplicates.len(),
    );
    assert!(
        recovered_count > 0,
        "no row was recovered from the dead worker: the kill did not land mid-batch"
    );
    for id in &duplicates {
        assert!(
            recovered[id.as_str()],
            "{id} arrived twice but was not taken over from the dead worker: \
             a recorded row was sent again"
        );
    }
    assert!(
        duplicates.len() <= CONCURRENCY,
        "{} duplicates: more than the {CONCURRENCY} hand-offs a worker has in flight",
        duplicates.len()
    );
    assert!(
        duplicates.len() <= unrecorded,
        "every duplicate is a hand-off the dead worker made but did not record"
    );
    // Twilio can list what it accepted, so a taken-over SMS is looked up before
    // it is sent again: SMS is never repeated. SMTP cannot be asked.
    assert_eq!(sms_duplicates, 0, "an SMS was sent twice: {duplicates:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_stop_finishes_in_flight_and_sends_nothing_twice() {
    const EMAILS: usize = 300;
    let started = Instant::now();
    let fx = Fixture::new(EMAILS, 0).await;

    let mut first = fx.spawn("first");
    wait_until("60+ messages with a batch in hand", &mut first, || async {
        fx.received_total() >= 60 && fx.db.status("sending").await > 0
    })
    .await;
    let status = first.terminate().await;
    assert!(status.success(), "notifier exited with {status} on SIGTERM");
    let (sent, pending) = (fx.db.status("sent").await, fx.db.status("pending").await);
    eprintln!(
        "stopped after {:?}: {sent} sent, {pending} pending",
        started.elapsed()
    );
    assert_eq!(
        sent + pending,
        EMAILS,
        "after SIGTERM every row is sent or pending, none left claimed"
    );
    assert!(
        pending > 0,
        "the stop came too late to test anything: nothing was left pending"
    );
    assert_eq!(
        fx.received_total(),
        sent,
        "every hand-off before the stop was recorded"
    );

    let mut second = fx.spawn("second");
    wait_until("every row sent", &mut second, || fx.db.all_terminal(EMAILS)).await;
    let status = second.terminate().await;
    assert!(status.success(), "second notifier exited with {status}");

    let duplicates = assert_all_delivered(&fx).await;
    eprintln!(
        "done after {:?}: {} duplicates",
        started.elapsed(),
        duplicates.len()
    );
    assert!(duplicates.is_empty(), "sent twice: {duplicates:?}");
    let recovered = fx.db.rows().await.iter().filter(|r| r.recovered).count();
    assert_eq!(recovered, 0, "a graceful stop leaves no lease to recover");
}
