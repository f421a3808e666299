//! `notify-throughput`: notifications per second from the outbox to a real
//! SMTP server, with K `notifier` processes on PostgreSQL, beside the SMTP
//! server's own ceiling measured in the same run.
//!
//! 1. A fresh database (created through `--pg-admin-url`, dropped at the end)
//!    or `--database-url`; `hub migrate` brings it to the current schema.
//! 2. N users and N due `appointment.booked` email notifications are written
//!    with SQL in batches of 1,000 rows, then `VACUUM ANALYZE` and `CHECKPOINT`
//!    so neither runs inside the measurement.
//! 3. Ceiling: for each `--baseline-connections` C, a fresh SMTP sink and a
//!    plain SMTP loop sending N messages over C connections (no database).
//! 4. A fresh sink, then K `notifier` processes; the clock runs from their
//!    start until every row is `sent` (polled every 100 ms). The sink must hold
//!    N messages with N distinct Message-IDs, one per notification.
//!
//! CPU of the notifiers, the sink, PostgreSQL (every `postgres` process) and
//! the load tool is read from `/proc` over each phase.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use rand::Rng;
use serde::Serialize;
use sqlx::{Connection, PgConnection};

use crate::cli::NotifyArgs;
use crate::cpu::{CpuReport, Probe, Watch};
use crate::pg;
use crate::pgwait::{self, WaitReport};
use crate::smtp::{self, Sink, SmtpClient, Writes};

const INSERT_BATCH: usize = 1000;
const FROM: &str = "no-reply@bench.example.org";

#[derive(Debug, Serialize)]
pub struct NotifyReport {
    pub scenario: &'static str,
    pub database: String,
    pub database_created: bool,
    pub notifications: usize,
    pub setup: Setup,
    pub notifier: NotifierRun,
    /// The SMTP sink's ceiling: the same N messages from a plain SMTP loop.
    pub ceiling: Vec<CeilingRun>,
    /// notifier notifications/s ÷ the best ceiling messages/s.
    pub notifier_vs_ceiling: Option<f64>,
    /// Every row sent, and the sink holds exactly one message per row.
    pub ok: bool,
}

#[derive(Debug, Serialize)]
pub struct Setup {
    pub insert_secs: f64,
    pub rows_per_sec: f64,
}

#[derive(Debug, Serialize)]
pub struct NotifierRun {
    pub processes: usize,
    pub concurrency: usize,
    pub batch_size: u32,
    pub poll_interval_ms: u64,
    /// From starting the notifier processes until every row was `sent`
    /// (seen by a poll every 100 ms).
    pub wall_secs: f64,
    pub notifications_per_sec: f64,
    /// From the first claim to the last `sent_at`, from the rows themselves.
    pub db_window_secs: f64,
    pub db_per_sec: f64,
    /// Rate between 10 % and 90 % of the rows sent: start-up and tail excluded.
    pub steady_per_sec: Option<f64>,
    pub sent: i64,
    /// failed, suppressed or cancelled: should be 0.
    pub not_sent: i64,
    /// Rows sent by each worker process (claimed_by).
    pub per_worker: Vec<i64>,
    /// Rows claimed more than once (attempts > 1) and taken over after a lease ran out.
    pub retried_rows: i64,
    pub recovered_leases: i64,
    pub attempt_rows: i64,
    pub sink: SinkCheck,
    pub cpu: CpuReport,
    /// What PostgreSQL's backends were doing (sampled every 20 ms).
    pub pg_activity: Option<WaitReport>,
    /// CPU milliseconds per notification, by process group.
    pub cpu_ms_per_notification: BTreeMap<String, f64>,
}

#[derive(Debug, Serialize)]
pub struct SinkCheck {
    pub messages: u64,
    pub distinct_message_ids: usize,
    /// Notifications whose `<id@healthbridge>` the sink never got.
    pub missing: usize,
    /// Message-IDs at the sink that match no notification.
    pub unexpected: usize,
    pub duplicates: u64,
}

#[derive(Debug, Serialize)]
pub struct CeilingRun {
    pub connections: usize,
    /// How the message was written (see `smtp::Writes`).
    pub writes: Writes,
    pub messages: usize,
    pub secs: f64,
    pub messages_per_sec: f64,
    pub received: u64,
    pub distinct_message_ids: usize,
    pub errors: u64,
    pub cpu: CpuReport,
    pub cpu_ms_per_message: BTreeMap<String, f64>,
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

fn per_sec(n: f64, secs: f64) -> f64 {
    if secs > 0.0 { round3(n / secs) } else { 0.0 }
}

fn per_item_ms(cpu: &CpuReport, n: usize) -> BTreeMap<String, f64> {
    cpu.cpu_secs
        .iter()
        .map(|(k, v)| (k.clone(), round3(v * 1000.0 / n.max(1) as f64)))
        .collect()
}

/// A random UUID (version 4 layout) without pulling in a UUID crate.
pub fn uuid4(rng: &mut impl Rng) -> String {
    let mut b: [u8; 16] = rng.r#gen();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// The columns of one batch of users and their notifications, bound as
/// arrays and expanded with `UNNEST` (see [`insert_batch`]).
#[derive(Debug, Default, PartialEq)]
pub struct Batch {
    pub user_ids: Vec<String>,
    pub emails: Vec<String>,
    pub names: Vec<String>,
    pub note_ids: Vec<String>,
    pub idempotency_keys: Vec<String>,
    pub payloads: Vec<String>,
}

/// Users and due `appointment.booked` email notifications for rows `range`.
pub fn batch(
    run: &str,
    range: std::ops::Range<usize>,
    now: i64,
    ids: &[(String, String)],
) -> Batch {
    let mut b = Batch::default();
    for i in range {
        let (user_id, note_id) = &ids[i];
        b.user_ids.push(user_id.clone());
        b.emails.push(format!("n{i}-{run}@bench.example.org"));
        b.names.push(format!("Bench Patient {i}"));
        b.note_ids.push(note_id.clone());
        b.idempotency_keys.push(format!("bench-{run}-{i}"));
        let payload = serde_json::json!({
            "provider": "Dr. Bench Provider", "org": "Bench Clinic",
            "starts_at": now + 7 * 86_400_000 + (i as i64 % 500) * 1_800_000,
        });
        b.payloads.push(payload.to_string());
    }
    b
}

/// Writes one [`Batch`] in one transaction: a multi-row INSERT per table.
async fn insert_batch(db: &mut PgConnection, b: &Batch, org: &str, now: i64) -> anyhow::Result<()> {
    let mut tx = db.begin().await?;
    sqlx::query(
        "INSERT INTO users (id, email, display_name, password_hash, created_at, updated_at) \
         SELECT id, email, name, 'x', $4::bigint, $4::bigint \
         FROM UNNEST($1::text[], $2::text[], $3::text[]) AS u(id, email, name)",
    )
    .bind(&b.user_ids)
    .bind(&b.emails)
    .bind(&b.names)
    .bind(now)
    .execute(&mut *tx)
    .await
    .context("inserting users")?;
    sqlx::query(
        "INSERT INTO notifications (id, idempotency_key, recipient_id, org_id, category, template, \
         payload, subject_ref, delivery, due_at, status, created_at, updated_at) \
         SELECT id, key, recipient, $5::text, 'appointments', 'appointment.booked', payload, NULL, \
         'out_of_band', $6::bigint, 'pending', $6::bigint, $6::bigint \
         FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[]) \
         AS n(id, key, recipient, payload)",
    )
    .bind(&b.note_ids)
    .bind(&b.idempotency_keys)
    .bind(&b.user_ids)
    .bind(&b.payloads)
    .bind(org)
    .bind(now)
    .execute(&mut *tx)
    .await
    .context("inserting notifications")?;
    tx.commit().await?;
    Ok(())
}

fn org_tag(run: &str) -> String {
    format!("bench-{run}")
}

/// Runs `hub migrate` against `url`.
async fn migrate(hub_bin: &Path, url: &str, dir: &Path) -> anyhow::Result<()> {
    let out = hub_command(hub_bin)
        .arg("migrate")
        .env("HUB_DATABASE_URL", url)
        .env("HUB_DATA_DIR", dir.join("hub"))
        .env("HUB_LOG__LEVEL", "warn")
        .output()
        .await
        .with_context(|| format!("running {} migrate", hub_bin.display()))?;
    if !out.status.success() {
        bail!(
            "hub migrate failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// A command for a hub-family binary without inherited `HUB_` variables.
fn hub_command(bin: &Path) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(bin);
    for (k, _) in std::env::vars() {
        if k.starts_with("HUB_") {
            cmd.env_remove(k);
        }
    }
    cmd.kill_on_drop(true);
    cmd
}

async fn terminate(child: &mut tokio::process::Child) {
    if let Some(pid) = child.id() {
        // SAFETY: signalling our own child by its pid.
        unsafe {
            libc::kill(pid as libc::pid_t, libc::SIGTERM);
        }
    }
    if tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .is_err()
    {
        let _ = child.kill().await;
    }
}

pub async fn run(args: &NotifyArgs) -> anyhow::Result<NotifyReport> {
    anyhow::ensure!(args.notifications > 0, "--notifications must be at least 1");
    anyhow::ensure!(args.processes > 0, "--processes must be at least 1");
    let run_id = crate::sched_api::random_alnum(8).to_lowercase();
    let dir = args
        .work_dir
        .clone()
        .unwrap_or_else(|| std::env::temp_dir().join(format!("hb-notify-{run_id}")));
    std::fs::create_dir_all(&dir)?;
    let dir = std::fs::canonicalize(&dir)?;

    // 1. The database.
    let (url, created) = match &args.database_url {
        Some(u) => (u.clone(), None),
        None => {
            let name = format!("hb_notify_{run_id}");
            let url = pg::with_database(&args.pg_admin_url, &name)?;
            pg::create_database(&args.pg_admin_url, &name).await?;
            (url, Some(name))
        }
    };
    let result = measure(args, &run_id, &dir, &url, created.is_some()).await;
    if let Some(name) = created
        && !args.keep_database
    {
        pg::drop_database(&args.pg_admin_url, &name).await?;
    }
    result
}

async fn measure(
    args: &NotifyArgs,
    run_id: &str,
    dir: &Path,
    url: &str,
    created: bool,
) -> anyhow::Result<NotifyReport> {
    let n = args.notifications;
    eprintln!("notify: migrating {}", pg::masked(url));
    migrate(&args.hub_bin, url, dir).await?;
    let mut db = pg::connect(url).await?;

    // 2. Rows.
    let now = now_ms();
    let mut rng = rand::thread_rng();
    let ids: Vec<(String, String)> = (0..n).map(|_| (uuid4(&mut rng), uuid4(&mut rng))).collect();
    let t = Instant::now();
    let mut start = 0;
    while start < n {
        let end = (start + INSERT_BATCH).min(n);
        let b = batch(run_id, start..end, now, &ids);
        insert_batch(&mut db, &b, &org_tag(run_id), now).await?;
        start = end;
    }
    let insert_secs = t.elapsed().as_secs_f64();
    for sql in [
        "VACUUM ANALYZE users",
        "VACUUM ANALYZE notifications",
        "CHECKPOINT",
    ] {
        sqlx::raw_sql(sql).execute(&mut db).await.context(sql)?;
    }
    eprintln!("notify: {n} users and notifications written in {insert_secs:.2} s");

    // 3. The sink's ceiling.
    let conns = if args.baseline_connections.is_empty() {
        let mut v = vec![1, args.processes * args.concurrency];
        v.dedup();
        v
    } else {
        args.baseline_connections.clone()
    };
    let mut ceiling = Vec::new();
    if !args.skip_baseline {
        for &c in &conns {
            ceiling.push(ceiling_run(args, run_id, dir, c, Writes::OneWrite).await?);
        }
        // One stalled write per message makes this slow: only the largest count.
        if args.lettre_like_ceiling
            && let Some(&c) = conns.iter().max()
        {
            ceiling.push(ceiling_run(args, run_id, dir, c, Writes::LettreLike).await?);
        }
    }

    // 4. The notifiers.
    let notifier = notifier_run(args, &mut db, run_id, dir, url, &ids).await?;
    pg::close(db).await;

    let best = ceiling
        .iter()
        .filter(|c| c.writes == Writes::OneWrite)
        .map(|c| c.messages_per_sec)
        .fold(0.0f64, f64::max);
    let ok = notifier.sent == n as i64
        && notifier.sink.missing == 0
        && notifier.sink.unexpected == 0
        && notifier.sink.duplicates == 0
        && ceiling
            .iter()
            .all(|c| c.received == n as u64 && c.distinct_message_ids == n);
    Ok(NotifyReport {
        scenario: "notify-throughput",
        database: pg::masked(url),
        database_created: created,
        notifications: n,
        setup: Setup {
            insert_secs: round3(insert_secs),
            rows_per_sec: per_sec(n as f64, insert_secs),
        },
        notifier_vs_ceiling: (best > 0.0).then(|| round3(notifier.notifications_per_sec / best)),
        notifier,
        ceiling,
        ok,
    })
}

async fn ceiling_run(
    args: &NotifyArgs,
    run_id: &str,
    dir: &Path,
    connections: usize,
    writes: Writes,
) -> anyhow::Result<CeilingRun> {
    let n = args.notifications;
    let sink = Sink::start(
        &args.python,
        &args.sink_script,
        dir,
        &format!("ceiling-c{connections}-{writes:?}"),
    )
    .await?;
    eprintln!("notify: ceiling, {n} messages over {connections} SMTP connection(s), {writes:?}");
    let addr = sink.addr();
    let probe = Probe::start(Watch::standard(vec![("smtp_sink".into(), sink.pid())]));
    let next = Arc::new(AtomicUsize::new(0));
    let errors = Arc::new(AtomicUsize::new(0));
    let t = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..connections.max(1) {
        let (next, errors, addr) = (next.clone(), errors.clone(), addr.clone());
        let run_id = run_id.to_owned();
        tasks.spawn(async move {
            let mut client = match SmtpClient::connect(&addr, writes).await {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("notify: ceiling connection failed: {e:#}");
                    errors.fetch_add(1, Ordering::Relaxed);
                    return;
                }
            };
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    break;
                }
                let to = format!("n{i}-{run_id}@bench.example.org");
                let id = format!("ceiling-{run_id}-c{connections}-{i}@loadtest");
                let data = smtp::dot_stuff(&smtp::bench_message(FROM, &to, &id));
                if let Err(e) = client.send(FROM, &to, &data).await {
                    eprintln!("notify: ceiling send failed: {e:#}");
                    errors.fetch_add(1, Ordering::Relaxed);
                    return;
                }
            }
            client.quit().await;
        });
    }
    while tasks.join_next().await.is_some() {}
    let secs = t.elapsed().as_secs_f64();
    let cpu = probe.finish();
    wait_for_lines(&sink.out, n as u64, Duration::from_secs(5)).await;
    let out = sink.out.clone();
    sink.stop().await;
    let received = smtp::read_received(&out)?;
    Ok(CeilingRun {
        connections,
        writes,
        messages: n,
        secs: round3(secs),
        messages_per_sec: per_sec(received.messages as f64, secs),
        received: received.messages,
        distinct_message_ids: received.message_ids.len(),
        errors: errors.load(Ordering::Relaxed) as u64,
        cpu_ms_per_message: per_item_ms(&cpu, n),
        cpu,
    })
}

async fn wait_for_lines(path: &Path, n: u64, patience: Duration) {
    let deadline = Instant::now() + patience;
    while smtp::count_lines(path) < n && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Seconds after `t0` at which `fraction` of `total` was reached, from the
/// poll samples `(secs, done)`, interpolated between the two samples around it.
pub fn time_at(samples: &[(f64, i64)], total: i64, fraction: f64) -> Option<f64> {
    let target = total as f64 * fraction;
    let mut prev = (0.0, 0i64);
    for &(t, done) in samples {
        if done as f64 >= target {
            let (t0, d0) = prev;
            if done == d0 {
                return Some(t);
            }
            return Some(t0 + (t - t0) * (target - d0 as f64) / (done - d0) as f64);
        }
        prev = (t, done);
    }
    None
}

async fn notifier_run(
    args: &NotifyArgs,
    db: &mut PgConnection,
    run_id: &str,
    dir: &Path,
    url: &str,
    ids: &[(String, String)],
) -> anyhow::Result<NotifierRun> {
    let n = args.notifications as i64;
    let org = org_tag(run_id);
    let sink = Sink::start(
        &args.python,
        &args.sink_script,
        dir,
        &format!("notifier-k{}", args.processes),
    )
    .await?;
    eprintln!(
        "notify: {} notifier process(es), concurrency {}, batch {}",
        args.processes, args.concurrency, args.batch_size
    );
    let sampler = pgwait::maybe_start(Some(url)).await;
    let mut pids = vec![("smtp_sink".to_owned(), sink.pid())];
    pids.extend(pgwait::watched(&sampler));
    let mut probe = Probe::start(Watch::standard(pids));
    let t0 = Instant::now();
    let mut children = Vec::new();
    for k in 0..args.processes {
        let data_dir: PathBuf = dir.join(format!("notifier-{k}"));
        std::fs::create_dir_all(&data_dir)?;
        let log = std::fs::File::create(dir.join(format!("notifier-{k}.log")))?;
        let child = hub_command(&args.notifier_bin)
            .env("HUB_DATABASE_URL", url)
            .env("HUB_DATA_DIR", &data_dir)
            .env("HUB_NOTIFIER__EMAIL__HOST", "127.0.0.1")
            .env("HUB_NOTIFIER__EMAIL__PORT", sink.port.to_string())
            .env("HUB_NOTIFIER__EMAIL__SECURITY", "plain")
            .env("HUB_NOTIFIER__EMAIL__FROM", FROM)
            .env("HUB_NOTIFIER__CONCURRENCY", args.concurrency.to_string())
            .env("HUB_NOTIFIER__BATCH_SIZE", args.batch_size.to_string())
            .env(
                "HUB_NOTIFIER__POLL_INTERVAL_MS",
                args.poll_interval_ms.to_string(),
            )
            .env("HUB_LOG__LEVEL", "warn")
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {}", args.notifier_bin.display()))?;
        probe.add_pid("notifier", child.id().unwrap_or(0));
        children.push(child);
    }
    let deadline = t0 + Duration::from_secs(args.timeout_secs);
    let mut samples = Vec::new();
    let (sent, not_sent) = loop {
        let (sent, other): (i64, i64) = sqlx::query_as(
            "SELECT count(*) FILTER (WHERE status = 'sent'), \
             count(*) FILTER (WHERE status IN ('failed', 'suppressed', 'cancelled')) \
             FROM notifications WHERE org_id = $1",
        )
        .bind(&org)
        .fetch_one(&mut *db)
        .await?;
        samples.push((t0.elapsed().as_secs_f64(), sent));
        if sent + other >= n {
            break (sent, other);
        }
        for c in children.iter_mut() {
            if let Ok(Some(status)) = c.try_wait() {
                bail!(
                    "a notifier exited early ({status}); see its log in {}",
                    dir.display()
                );
            }
        }
        if Instant::now() > deadline {
            bail!("timed out with {sent} of {n} sent");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let wall = t0.elapsed().as_secs_f64();
    let cpu = probe.finish();
    let pg_activity = pgwait::maybe_finish(sampler).await;
    for c in children.iter_mut() {
        terminate(c).await;
    }
    wait_for_lines(&sink.out, n as u64, Duration::from_secs(5)).await;
    let out = sink.out.clone();
    sink.stop().await;

    // sum(bigint) is numeric: cast back so it decodes as i64.
    let (first_claim, last_sent, retried_rows, recovered_leases): (
        Option<i64>,
        Option<i64>,
        i64,
        i64,
    ) = sqlx::query_as(
        "SELECT min(claimed_at), max(sent_at), count(*) FILTER (WHERE attempts > 1), \
         coalesce(sum(recovered_lease), 0)::bigint FROM notifications WHERE org_id = $1",
    )
    .bind(&org)
    .fetch_one(&mut *db)
    .await?;
    let db_window = (last_sent.unwrap_or(0) - first_claim.unwrap_or(0)) as f64 / 1000.0;
    let per_worker: Vec<i64> = sqlx::query_scalar(
        "SELECT count(*) FROM notifications WHERE org_id = $1 AND status = 'sent' \
         GROUP BY claimed_by ORDER BY 1 DESC",
    )
    .bind(&org)
    .fetch_all(&mut *db)
    .await?;
    let attempt_rows: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM notification_attempts a JOIN notifications n \
         ON n.id = a.notification_id WHERE n.org_id = $1",
    )
    .bind(&org)
    .fetch_one(&mut *db)
    .await?;

    let received = smtp::read_received(&out)?;
    let expected: HashSet<String> = ids
        .iter()
        .map(|(_, id)| format!("<{id}@healthbridge>"))
        .collect();
    let missing = expected.difference(&received.message_ids).count();
    let unexpected = received.message_ids.difference(&expected).count();
    let t10 = time_at(&samples, n, 0.1);
    let t90 = time_at(&samples, n, 0.9);
    Ok(NotifierRun {
        processes: args.processes,
        concurrency: args.concurrency,
        batch_size: args.batch_size,
        poll_interval_ms: args.poll_interval_ms,
        wall_secs: round3(wall),
        notifications_per_sec: per_sec(sent as f64, wall),
        db_window_secs: round3(db_window),
        db_per_sec: per_sec(sent as f64, db_window),
        steady_per_sec: match (t10, t90) {
            (Some(a), Some(b)) if b > a => Some(per_sec(0.8 * n as f64, b - a)),
            _ => None,
        },
        sent,
        not_sent,
        per_worker,
        retried_rows,
        recovered_leases,
        attempt_rows,
        sink: SinkCheck {
            messages: received.messages,
            distinct_message_ids: received.message_ids.len(),
            missing,
            unexpected,
            duplicates: received
                .messages
                .saturating_sub(received.message_ids.len() as u64),
        },
        cpu_ms_per_notification: per_item_ms(&cpu, n as usize),
        cpu,
        pg_activity,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids_look_like_uuids() {
        let mut rng = rand::thread_rng();
        let u = uuid4(&mut rng);
        assert_eq!(u.len(), 36);
        assert_eq!(u.as_bytes()[14], b'4');
        assert!(u.chars().all(|c| c == '-' || c.is_ascii_hexdigit()));
        assert_ne!(u, uuid4(&mut rng));
    }

    #[test]
    fn batch_has_one_row_per_notification() {
        let ids: Vec<(String, String)> =
            (0..3).map(|i| (format!("u{i}"), format!("n{i}"))).collect();
        let b = batch("r1", 1..3, 1000, &ids);
        assert_eq!(b.user_ids, ["u1", "u2"]);
        assert_eq!(b.note_ids, ["n1", "n2"]);
        assert_eq!(
            b.emails,
            ["n1-r1@bench.example.org", "n2-r1@bench.example.org"]
        );
        assert_eq!(b.names, ["Bench Patient 1", "Bench Patient 2"]);
        assert_eq!(b.idempotency_keys, ["bench-r1-1", "bench-r1-2"]);
        assert_eq!(b.payloads.len(), 2);
        let p: serde_json::Value = serde_json::from_str(&b.payloads[1]).unwrap();
        assert_eq!(p["starts_at"], 1000 + 7 * 86_400_000 + 2 * 1_800_000);
        assert_eq!(p["provider"], "Dr. Bench Provider");
        assert_eq!(batch("r1", 0..0, 1000, &ids), Batch::default());
    }

    #[test]
    fn time_at_interpolates() {
        let s = [(0.1, 0), (1.0, 100), (2.0, 300), (3.0, 1000)];
        assert_eq!(time_at(&s, 1000, 0.1), Some(1.0));
        assert_eq!(time_at(&s, 1000, 0.2), Some(1.5));
        assert_eq!(time_at(&s, 1000, 1.0), Some(3.0));
        assert_eq!(time_at(&s[..2], 1000, 0.5), None);
    }
}
