//! `book-contention`: booking throughput when every slot is wanted by several
//! patients at the same moment, beside the same number of bookings without
//! contention, in the same run against the same hub.
//!
//! Setup over the API (`sched_api`): an organization, two providers with the
//! same hours, a 30-minute type, `--patients` patients logged in. The first
//! `--slots` free slots of each provider are the targets.
//!
//! - Baseline (second provider): slot k goes to patient k mod P alone; each
//!   patient books its slots one after the other, P requests in flight.
//! - Contended (first provider): patients form P / `--contention` groups;
//!   group g owns slots g, g + groups, …; for each of its slots all members
//!   meet at a barrier and then book it at once, so every slot is attempted
//!   by exactly `--contention` clients at the same moment. One must get 201,
//!   the rest 409 `slot_taken`.
//!
//! Afterwards the database is checked (with `--database-url`): booked
//! appointments = distinct start times = slots, no two booked appointments
//! of the provider overlap, every claim belongs to a booked appointment and
//! lies inside it, and every appointment id a client got back exists.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use hdrhistogram::Histogram;
use reqwest::Method;
use serde::Serialize;
use sqlx::PgConnection;
use tokio::sync::Barrier;

use crate::cli::BookArgs;
use crate::cpu::{CpuReport, Probe, Watch};
use crate::hub_setup::Admin;
use crate::pg;
use crate::pgwait::{self, WaitReport};
use crate::sched_api::{self, Api, Clinic};
use crate::sched_plan::{self, DAY_MS};
use crate::stats::{Summary, new_histogram};

#[derive(Debug, Serialize)]
pub struct BookReport {
    pub scenario: &'static str,
    pub url: String,
    pub patients: usize,
    pub contention: usize,
    pub slots: usize,
    pub contended: BookPhase,
    pub baseline_uncontended: BookPhase,
    /// Successful bookings per second, contended ÷ uncontended.
    pub bookings_per_sec_ratio: Option<f64>,
    /// No double booking and every slot booked exactly once, in both phases.
    pub ok: bool,
}

#[derive(Debug, Serialize)]
pub struct BookPhase {
    pub provider_id: String,
    /// Clients attempting each slot at once.
    pub contention: usize,
    pub attempts: u64,
    pub booked: u64,
    /// 409 `slot_taken`.
    pub conflicts: u64,
    pub errors: u64,
    pub errors_by_code: BTreeMap<String, u64>,
    pub secs: f64,
    pub attempts_per_sec: f64,
    pub bookings_per_sec: f64,
    pub conflicts_per_sec: f64,
    pub latency_ms: Option<Summary>,
    pub latency_booked_ms: Option<Summary>,
    pub latency_conflict_ms: Option<Summary>,
    /// Slots with exactly one 201, with more than one, with none (client side).
    pub slots_booked_once: usize,
    pub slots_booked_twice_or_more: usize,
    pub slots_not_booked: usize,
    pub verify: Option<Verify>,
    pub cpu: CpuReport,
    pub cpu_ms_per_attempt: BTreeMap<String, f64>,
    /// What PostgreSQL's backends were doing (with `--database-url`).
    pub pg_activity: Option<WaitReport>,
}

#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct Verify {
    pub appointments: i64,
    pub distinct_starts: i64,
    pub overlapping_pairs: i64,
    pub claims: i64,
    pub claims_expected: i64,
    /// Claims whose appointment is missing, not booked, or does not cover them.
    pub stray_claims: i64,
    /// Appointment ids returned to clients that are booked in the database.
    pub client_ids_found: i64,
    pub ok: bool,
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// What one client saw.
struct ClientTally {
    all: Histogram<u64>,
    booked: Histogram<u64>,
    conflict: Histogram<u64>,
    errors: BTreeMap<String, u64>,
    /// (slot index, appointment id) for every 201.
    wins: Vec<(usize, String)>,
    attempts: u64,
}

impl ClientTally {
    fn new() -> Self {
        Self {
            all: new_histogram(),
            booked: new_histogram(),
            conflict: new_histogram(),
            errors: BTreeMap::new(),
            wins: Vec::new(),
            attempts: 0,
        }
    }

    fn absorb(&mut self, o: ClientTally) {
        let _ = self.all.add(&o.all);
        let _ = self.booked.add(&o.booked);
        let _ = self.conflict.add(&o.conflict);
        for (k, v) in o.errors {
            *self.errors.entry(k).or_default() += v;
        }
        self.wins.extend(o.wins);
        self.attempts += o.attempts;
    }
}

async fn book_one(
    api: &Api,
    clinic: &Clinic,
    token: &str,
    provider: &str,
    slot: usize,
    starts_at: &str,
    t: &mut ClientTally,
) {
    let path = format!("/orgs/{}/appointments", clinic.org_id);
    let body = sched_api::book_body(clinic, provider, starts_at, None);
    let started = Instant::now();
    let r = api.call(Method::POST, &path, Some(token), Some(body)).await;
    let us = (started.elapsed().as_micros() as u64).clamp(1, 60_000_000);
    t.attempts += 1;
    t.all.saturating_record(us);
    match r {
        Ok(r) if r.status.as_u16() == 201 => {
            t.booked.saturating_record(us);
            let id = r.body["id"].as_str().unwrap_or_default().to_owned();
            t.wins.push((slot, id));
        }
        Ok(r) if r.status.as_u16() == 409 && r.error_code() == Some("slot_taken") => {
            t.conflict.saturating_record(us);
        }
        Ok(r) => {
            let code = format!("{} {}", r.status.as_u16(), r.error_code().unwrap_or(""));
            *t.errors.entry(code).or_default() += 1;
        }
        Err(e) => *t.errors.entry(format!("transport: {e:#}")).or_default() += 1,
    }
}

/// Who books which slot, and whether they meet at a barrier first.
struct Assignment {
    patient: usize,
    slots: Vec<usize>,
    barrier: Option<Arc<Barrier>>,
}

async fn run_phase(
    api: &Api,
    clinic: &Arc<Clinic>,
    provider: &str,
    starts: &Arc<Vec<String>>,
    plan: Vec<Assignment>,
    contention: usize,
    args: &BookArgs,
) -> anyhow::Result<(BookPhase, Vec<String>)> {
    warm_up(api, clinic).await;
    let sampler = pgwait::maybe_start(args.database_url.as_deref()).await;
    let mut pids: Vec<(String, u32)> = args
        .hub_pid
        .map(|p| ("hub".to_owned(), p))
        .into_iter()
        .collect();
    pids.extend(pgwait::watched(&sampler));
    let probe = Probe::start(Watch::standard(pids));
    let t0 = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for a in plan {
        let (api, clinic, starts) = (api.clone(), clinic.clone(), starts.clone());
        let provider = provider.to_owned();
        tasks.spawn(async move {
            let token = clinic.patients[a.patient].token.clone();
            let mut t = ClientTally::new();
            for slot in a.slots {
                if let Some(b) = &a.barrier {
                    b.wait().await;
                }
                book_one(
                    &api,
                    &clinic,
                    &token,
                    &provider,
                    slot,
                    &starts[slot],
                    &mut t,
                )
                .await;
            }
            t
        });
    }
    let mut total = ClientTally::new();
    while let Some(t) = tasks.join_next().await {
        total.absorb(t.context("a booking client panicked")?);
    }
    let secs = t0.elapsed().as_secs_f64();
    let cpu = probe.finish();
    let pg_activity = pgwait::maybe_finish(sampler).await;

    let mut per_slot = vec![0usize; starts.len()];
    for (slot, _) in &total.wins {
        per_slot[*slot] += 1;
    }
    let booked = total.wins.len() as u64;
    let conflicts = total.conflict.len();
    let rate = |n: u64| round3(n as f64 / secs.max(1e-9));
    let cpu_ms = cpu
        .cpu_secs
        .iter()
        .map(|(k, v)| (k.clone(), round3(v * 1000.0 / total.attempts.max(1) as f64)))
        .collect();
    let ids = total.wins.iter().map(|(_, id)| id.clone()).collect();
    Ok((
        BookPhase {
            provider_id: provider.to_owned(),
            contention,
            attempts: total.attempts,
            booked,
            conflicts,
            errors: total.errors.values().sum(),
            errors_by_code: total.errors,
            secs: round3(secs),
            attempts_per_sec: rate(total.attempts),
            bookings_per_sec: rate(booked),
            conflicts_per_sec: rate(conflicts),
            latency_ms: Summary::of(&total.all),
            latency_booked_ms: Summary::of(&total.booked),
            latency_conflict_ms: Summary::of(&total.conflict),
            slots_booked_once: per_slot.iter().filter(|&&n| n == 1).count(),
            slots_booked_twice_or_more: per_slot.iter().filter(|&&n| n > 1).count(),
            slots_not_booked: per_slot.iter().filter(|&&n| n == 0).count(),
            verify: None,
            cpu,
            cpu_ms_per_attempt: cpu_ms,
            pg_activity,
        },
        ids,
    ))
}

/// One request per patient at once, so the HTTP connections the phase uses
/// are open before its clock starts.
async fn warm_up(api: &Api, clinic: &Clinic) {
    let calls = clinic
        .patients
        .iter()
        .map(|p| api.call(Method::GET, "/appointments", Some(&p.token), None));
    let _ = futures_util::future::join_all(calls).await;
}

/// The database's view of one provider after a phase.
async fn verify(
    db: &mut PgConnection,
    provider: &str,
    slots: usize,
    granules_per_slot: i64,
    client_ids: &[String],
) -> anyhow::Result<Verify> {
    /// A count about `provider` ($1).
    async fn count(
        db: &mut PgConnection,
        sql: &'static str,
        provider: &str,
    ) -> anyhow::Result<i64> {
        Ok(sqlx::query_scalar(sql).bind(provider).fetch_one(db).await?)
    }
    let appointments = count(
        db,
        "SELECT count(*) FROM appointments WHERE provider_id = $1 AND status = 'booked'",
        provider,
    )
    .await?;
    let distinct_starts = count(
        db,
        "SELECT count(DISTINCT starts_at) FROM appointments \
         WHERE provider_id = $1 AND status = 'booked'",
        provider,
    )
    .await?;
    let overlapping_pairs = count(
        db,
        "SELECT count(*) FROM appointments a JOIN appointments b \
         ON b.provider_id = a.provider_id AND a.id < b.id \
         AND a.starts_at < b.ends_at AND b.starts_at < a.ends_at \
         WHERE a.provider_id = $1 AND a.status = 'booked' AND b.status = 'booked'",
        provider,
    )
    .await?;
    let claims = count(
        db,
        "SELECT count(*) FROM slot_claims WHERE provider_id = $1",
        provider,
    )
    .await?;
    let stray_claims = count(
        db,
        "SELECT count(*) FROM slot_claims c LEFT JOIN appointments a ON a.id = c.appointment_id \
         WHERE c.provider_id = $1 AND (a.id IS NULL OR a.status <> 'booked' \
         OR a.provider_id <> c.provider_id OR c.granule < a.starts_at OR c.granule >= a.ends_at)",
        provider,
    )
    .await?;
    let client_ids_found: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM appointments WHERE provider_id = $1 AND status = 'booked' \
         AND id = ANY($2::text[])",
    )
    .bind(provider)
    .bind(client_ids)
    .fetch_one(&mut *db)
    .await?;
    let claims_expected = appointments * granules_per_slot;
    let ok = appointments == slots as i64
        && distinct_starts == appointments
        && overlapping_pairs == 0
        && claims == claims_expected
        && stray_claims == 0
        && client_ids_found == client_ids.len() as i64;
    Ok(Verify {
        appointments,
        distinct_starts,
        overlapping_pairs,
        claims,
        claims_expected,
        stray_claims,
        client_ids_found,
        ok,
    })
}

/// The first `n` free slot starts of `provider` from `start_ms` on.
async fn first_slots(
    api: &Api,
    clinic: &Clinic,
    provider: &str,
    start_ms: i64,
    n: usize,
) -> anyhow::Result<Vec<String>> {
    let mut out = Vec::new();
    let mut at = start_ms;
    while out.len() < n {
        anyhow::ensure!(at < start_ms + 3 * 366 * DAY_MS, "not enough free slots");
        let chunk = sched_api::free_slots(api, clinic, provider, at, at + 60 * DAY_MS).await?;
        out.extend(chunk);
        at += 60 * DAY_MS;
    }
    out.truncate(n);
    Ok(out)
}

pub async fn run(args: &BookArgs) -> anyhow::Result<BookReport> {
    anyhow::ensure!(args.slots > 0, "--slots must be at least 1");
    let groups = sched_plan::contention_groups(args.patients, args.contention, args.slots)?;
    let admin = Admin {
        email: args
            .admin_email
            .clone()
            .context("--admin-email is required")?,
        password: args
            .admin_password
            .clone()
            .context("--admin-password is required")?,
    };
    let api = Api::new(&args.url, args.patients)?;
    let clinic = Arc::new(sched_api::prepare_clinic(&api, &admin, 2, args.patients).await?);
    let (contended_p, baseline_p) = (
        clinic.providers[0].id.clone(),
        clinic.providers[1].id.clone(),
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_millis() as i64;
    let start = sched_plan::next_midnight(now) + DAY_MS;
    let starts_c = Arc::new(first_slots(&api, &clinic, &contended_p, start, args.slots).await?);
    let starts_b = Arc::new(first_slots(&api, &clinic, &baseline_p, start, args.slots).await?);

    eprintln!(
        "book-contention: baseline, {} bookings by {} patients, no contention",
        args.slots, args.patients
    );
    let plan_b = sched_plan::spread_slots(args.patients, args.slots)
        .into_iter()
        .enumerate()
        .map(|(patient, slots)| Assignment {
            patient,
            slots,
            barrier: None,
        })
        .collect();
    let (mut baseline, ids_b) =
        run_phase(&api, &clinic, &baseline_p, &starts_b, plan_b, 1, args).await?;

    eprintln!(
        "book-contention: contended, {} slots each attempted by {} patients at once ({} attempts)",
        args.slots,
        args.contention,
        args.slots * args.contention
    );
    let mut plan_c = Vec::new();
    for g in groups {
        let barrier = Arc::new(Barrier::new(g.members.len()));
        for &m in &g.members {
            plan_c.push(Assignment {
                patient: m,
                slots: g.slots.clone(),
                barrier: Some(barrier.clone()),
            });
        }
    }
    let (mut contended, ids_c) = run_phase(
        &api,
        &clinic,
        &contended_p,
        &starts_c,
        plan_c,
        args.contention,
        args,
    )
    .await?;

    if let Some(url) = &args.database_url {
        let mut db = pg::connect(url).await?;
        let granules = i64::from(sched_api::DURATION_MIN / 5);
        baseline.verify = Some(verify(&mut db, &baseline_p, args.slots, granules, &ids_b).await?);
        contended.verify = Some(verify(&mut db, &contended_p, args.slots, granules, &ids_c).await?);
        pg::close(db).await;
    }
    let phase_ok = |p: &BookPhase| {
        p.slots_booked_once == args.slots
            && p.slots_booked_twice_or_more == 0
            && p.verify.as_ref().is_none_or(|v| v.ok)
    };
    let ok = phase_ok(&baseline) && phase_ok(&contended);
    Ok(BookReport {
        scenario: "book-contention",
        url: args.url.clone(),
        patients: args.patients,
        contention: args.contention,
        slots: args.slots,
        bookings_per_sec_ratio: (baseline.bookings_per_sec > 0.0)
            .then(|| round3(contended.bookings_per_sec / baseline.bookings_per_sec)),
        contended,
        baseline_uncontended: baseline,
        ok,
    })
}
