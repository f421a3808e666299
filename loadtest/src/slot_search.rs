//! `slot-search`: free-slot search latency for a provider with a year of
//! appointments, beside the same searches for a provider with the same hours
//! and no appointments (the baseline), in the same run against the same hub.
//!
//! Setup over the API (`sched_api`): an organization, two providers with
//! Mon–Fri 08:00–18:00 hours (America/New_York), a 30-minute type. Every free
//! slot of the next `--days` days is listed through the slot search itself,
//! and `--fill` of them (chosen with `--seed`) are booked for the first
//! provider through `POST /appointments` with `--fill-concurrency` requests in
//! flight. Then the same `--searches` windows (7 or 31 days, random start in
//! the year) are searched for each provider with `--concurrency` in flight
//! (repeatable: one run of both providers per value).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use anyhow::Context;
use futures_util::{StreamExt, stream};
use hdrhistogram::Histogram;
use reqwest::Method;
use serde::Serialize;

use crate::cli::SlotSearchArgs;
use crate::cpu::{CpuReport, Probe, Watch};
use crate::hub_setup::Admin;
use crate::pg;
use crate::pgwait::{self, WaitReport};
use crate::sched_api::{self, Api, Clinic};
use crate::sched_plan::{self, DAY_MS, Window};
use crate::stats::{Summary, new_histogram};

#[derive(Debug, Serialize)]
pub struct SlotSearchReport {
    pub scenario: &'static str,
    pub url: String,
    pub setup: SearchSetup,
    pub searches_per_provider: usize,
    pub window_days: Vec<i64>,
    /// One entry per `--concurrency`.
    pub runs: Vec<SearchRun>,
}

#[derive(Debug, Serialize)]
pub struct SearchRun {
    /// Searches in flight.
    pub concurrency: usize,
    /// The provider with a year of appointments.
    pub loaded: SearchPhase,
    /// Same hours, no appointments.
    pub baseline_empty: SearchPhase,
    /// loaded p99 ÷ empty p99.
    pub p99_ratio: Option<f64>,
}

#[derive(Debug, Serialize)]
pub struct SearchSetup {
    pub hours: String,
    pub appointment_minutes: u32,
    pub from: String,
    pub to: String,
    pub slots_in_range: usize,
    pub booked: usize,
    pub fill_ratio: f64,
    pub fill_method: String,
    pub fill_secs: f64,
    pub fill_bookings_per_sec: f64,
    pub fill_errors: BTreeMap<String, u64>,
    /// Booked appointments of the loaded provider, counted in the database
    /// (`null` without `--database-url`).
    pub db_appointments: Option<i64>,
}

#[derive(Debug, Serialize)]
pub struct SearchPhase {
    pub provider_id: String,
    pub requests: u64,
    pub errors: u64,
    pub errors_by_status: BTreeMap<String, u64>,
    pub secs: f64,
    pub requests_per_sec: f64,
    pub latency_ms: Option<Summary>,
    /// The same, per window length in days.
    pub latency_ms_by_days: BTreeMap<String, Option<Summary>>,
    pub slots_returned_mean: f64,
    pub cpu: CpuReport,
    pub cpu_ms_per_request: BTreeMap<String, f64>,
    /// What PostgreSQL's backends were doing (with `--database-url`).
    pub pg_activity: Option<WaitReport>,
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

struct Tally {
    all: Histogram<u64>,
    by_days: BTreeMap<i64, Histogram<u64>>,
    errors: BTreeMap<String, u64>,
    slots: u64,
    ok: u64,
}

impl Tally {
    fn new() -> Self {
        Self {
            all: new_histogram(),
            by_days: BTreeMap::new(),
            errors: BTreeMap::new(),
            slots: 0,
            ok: 0,
        }
    }

    fn absorb(&mut self, other: Tally) {
        let _ = self.all.add(&other.all);
        for (d, h) in other.by_days {
            let _ = self.by_days.entry(d).or_insert_with(new_histogram).add(&h);
        }
        for (k, v) in other.errors {
            *self.errors.entry(k).or_default() += v;
        }
        self.slots += other.slots;
        self.ok += other.ok;
    }
}

fn record_us(h: &mut Histogram<u64>, us: u64) {
    h.saturating_record(us.clamp(1, 60_000_000));
}

/// Runs `windows` as slot searches for `provider`, `concurrency` in flight.
async fn searches(
    api: &Api,
    clinic: &Arc<Clinic>,
    token: &str,
    provider: &str,
    windows: &Arc<Vec<Window>>,
    concurrency: usize,
) -> Tally {
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..concurrency.max(1) {
        let (api, clinic, windows, next) =
            (api.clone(), clinic.clone(), windows.clone(), next.clone());
        let (token, provider) = (token.to_owned(), provider.to_owned());
        tasks.spawn(async move {
            let mut t = Tally::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(w) = windows.get(i) else { break };
                let path = sched_api::slots_path(&clinic, &provider, w.from_ms, w.to_ms);
                let started = Instant::now();
                let result = async {
                    let resp = api
                        .http
                        .get(api.url(&path))
                        .bearer_auth(&token)
                        .send()
                        .await?;
                    let status = resp.status();
                    let body = resp.bytes().await?;
                    anyhow::Ok((status, body))
                }
                .await;
                let us = started.elapsed().as_micros() as u64;
                match result {
                    Ok((status, body)) if status.is_success() => {
                        t.ok += 1;
                        record_us(&mut t.all, us);
                        record_us(t.by_days.entry(w.days).or_insert_with(new_histogram), us);
                        let v: serde_json::Value =
                            serde_json::from_slice(&body).unwrap_or_default();
                        t.slots += v["slots"].as_array().map_or(0, |a| a.len() as u64);
                    }
                    Ok((status, _)) => {
                        *t.errors.entry(status.as_u16().to_string()).or_default() += 1
                    }
                    Err(e) => {
                        *t.errors.entry(format!("transport: {e}")).or_default() += 1;
                    }
                }
            }
            t
        });
    }
    let mut total = Tally::new();
    while let Some(t) = tasks.join_next().await {
        if let Ok(t) = t {
            total.absorb(t);
        }
    }
    total
}

async fn phase(
    api: &Api,
    clinic: &Arc<Clinic>,
    provider: &str,
    windows: &Arc<Vec<Window>>,
    warmup: &Arc<Vec<Window>>,
    concurrency: usize,
    args: &SlotSearchArgs,
) -> SearchPhase {
    let token = clinic.patients[0].token.clone();
    let _ = searches(api, clinic, &token, provider, warmup, concurrency).await;
    let sampler = pgwait::maybe_start(args.database_url.as_deref()).await;
    let mut pids: Vec<(String, u32)> = args
        .hub_pid
        .map(|p| ("hub".to_owned(), p))
        .into_iter()
        .collect();
    pids.extend(pgwait::watched(&sampler));
    let probe = Probe::start(Watch::standard(pids));
    let t = Instant::now();
    let tally = searches(api, clinic, &token, provider, windows, concurrency).await;
    let secs = t.elapsed().as_secs_f64();
    let cpu = probe.finish();
    let pg_activity = pgwait::maybe_finish(sampler).await;
    let requests = windows.len() as u64;
    let cpu_ms = cpu
        .cpu_secs
        .iter()
        .map(|(k, v)| (k.clone(), round3(v * 1000.0 / requests.max(1) as f64)))
        .collect();
    SearchPhase {
        provider_id: provider.to_owned(),
        requests,
        errors: tally.errors.values().sum(),
        errors_by_status: tally.errors,
        secs: round3(secs),
        requests_per_sec: round3(tally.ok as f64 / secs.max(1e-9)),
        latency_ms: Summary::of(&tally.all),
        latency_ms_by_days: tally
            .by_days
            .iter()
            .map(|(d, h)| (format!("{d}d"), Summary::of(h)))
            .collect(),
        slots_returned_mean: round3(tally.slots as f64 / tally.ok.max(1) as f64),
        cpu,
        cpu_ms_per_request: cpu_ms,
        pg_activity,
    }
}

pub async fn run(args: &SlotSearchArgs) -> anyhow::Result<SlotSearchReport> {
    anyhow::ensure!(
        !args.concurrency.is_empty() && args.concurrency.iter().all(|&c| c > 0),
        "--concurrency must be at least 1"
    );
    anyhow::ensure!(
        (0.0..=1.0).contains(&args.fill) && args.days >= 31 && args.searches > 0,
        "--fill must be within 0..1, --days at least 31, --searches at least 1"
    );
    anyhow::ensure!(
        args.window_days
            .iter()
            .all(|&d| (1..=62).contains(&d) && d <= args.days),
        "--window-days must be 1..=62 and at most --days"
    );
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
    let most = args.concurrency.iter().copied().max().unwrap_or(1);
    let api = Api::new(&args.url, most.max(args.fill_concurrency))?;
    let clinic = Arc::new(sched_api::prepare_clinic(&api, &admin, 2, args.patients.max(1)).await?);
    let (loaded, empty) = (
        clinic.providers[0].id.clone(),
        clinic.providers[1].id.clone(),
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_millis() as i64;
    let start = sched_plan::next_midnight(now);
    let end = start + args.days * DAY_MS;
    let slots = sched_api::free_slots(&api, &clinic, &loaded, start, end).await?;
    let slots_empty = sched_api::free_slots(&api, &clinic, &empty, start, end).await?;
    anyhow::ensure!(
        slots == slots_empty,
        "the two providers do not have the same free slots before booking"
    );
    let chosen = sched_plan::choose_fill(slots.len(), args.fill, args.seed);
    eprintln!(
        "slot-search: {} slots in {} days; booking {} of them ({}%) over the API, {} in flight",
        slots.len(),
        args.days,
        chosen.len(),
        args.fill * 100.0,
        args.fill_concurrency
    );

    let t = Instant::now();
    let path = format!("/orgs/{}/appointments", clinic.org_id);
    let outcomes: Vec<anyhow::Result<Option<String>>> = stream::iter(chosen.iter().enumerate())
        .map(|(k, &i)| {
            let (api, clinic, path, loaded, slots) = (&api, &clinic, &path, &loaded, &slots);
            async move {
                let patient = &clinic.patients[k % clinic.patients.len()].id;
                let body = sched_api::book_body(clinic, loaded, &slots[i], Some(patient));
                let r = api
                    .call(Method::POST, path, Some(&clinic.admin.token), Some(body))
                    .await?;
                Ok(if r.status.as_u16() == 201 {
                    None
                } else {
                    Some(format!(
                        "{} {}",
                        r.status.as_u16(),
                        r.error_code().unwrap_or("")
                    ))
                })
            }
        })
        .buffer_unordered(args.fill_concurrency.max(1))
        .collect()
        .await;
    let fill_secs = t.elapsed().as_secs_f64();
    let mut fill_errors: BTreeMap<String, u64> = BTreeMap::new();
    let mut booked = 0usize;
    for o in outcomes {
        match o {
            Ok(None) => booked += 1,
            Ok(Some(code)) => *fill_errors.entry(code).or_default() += 1,
            Err(e) => *fill_errors.entry(format!("transport: {e}")).or_default() += 1,
        }
    }
    eprintln!(
        "slot-search: booked {booked} in {fill_secs:.1} s ({:.0}/s); errors {fill_errors:?}",
        booked as f64 / fill_secs
    );
    let db_appointments = match &args.database_url {
        Some(url) => {
            let mut db = pg::connect(url).await?;
            // Let autovacuum's statistics catch up, as they would on a live system.
            sqlx::raw_sql("ANALYZE appointments")
                .execute(&mut db)
                .await?;
            sqlx::raw_sql("ANALYZE slot_claims")
                .execute(&mut db)
                .await?;
            let n: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM appointments WHERE provider_id = $1 AND status = 'booked'",
            )
            .bind(&loaded)
            .fetch_one(&mut db)
            .await?;
            pg::close(db).await;
            Some(n)
        }
        None => None,
    };

    let windows = Arc::new(sched_plan::search_windows(
        args.searches,
        start,
        args.days,
        &args.window_days,
        args.seed.wrapping_add(1),
    ));
    let warmup = Arc::new(sched_plan::search_windows(
        args.warmup,
        start,
        args.days,
        &args.window_days,
        args.seed.wrapping_add(2),
    ));
    let mut runs = Vec::new();
    for &c in &args.concurrency {
        eprintln!(
            "slot-search: {} searches per provider, {c} in flight (after {} warm-up searches)",
            args.searches, args.warmup
        );
        let loaded_phase = phase(&api, &clinic, &loaded, &windows, &warmup, c, args).await;
        let empty_phase = phase(&api, &clinic, &empty, &windows, &warmup, c, args).await;
        let p99_ratio = match (&loaded_phase.latency_ms, &empty_phase.latency_ms) {
            (Some(a), Some(b)) if b.p99 > 0.0 => Some(round3(a.p99 / b.p99)),
            _ => None,
        };
        runs.push(SearchRun {
            concurrency: c,
            loaded: loaded_phase,
            baseline_empty: empty_phase,
            p99_ratio,
        });
    }
    Ok(SlotSearchReport {
        scenario: "slot-search",
        url: args.url.clone(),
        setup: SearchSetup {
            hours: format!(
                "{}, {}–{}, {}",
                sched_api::WEEKDAYS.join(" "),
                sched_api::HOURS.0,
                sched_api::HOURS.1,
                sched_api::TIME_ZONE
            ),
            appointment_minutes: sched_api::DURATION_MIN,
            from: sched_plan::rfc3339(start),
            to: sched_plan::rfc3339(end),
            slots_in_range: slots.len(),
            booked,
            fill_ratio: round3(booked as f64 / slots.len().max(1) as f64),
            fill_method: format!(
                "API: POST /orgs/{{org}}/appointments as the org admin, {} in flight",
                args.fill_concurrency
            ),
            fill_secs: round3(fill_secs),
            fill_bookings_per_sec: round3(booked as f64 / fill_secs.max(1e-9)),
            fill_errors,
            db_appointments,
        },
        searches_per_provider: args.searches,
        window_days: args.window_days.clone(),
        runs,
    })
}
