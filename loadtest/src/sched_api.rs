//! The hub's scheduling API as the scheduling benchmarks use it (shapes in
//! `docs/api.md#scheduling`), and the clinic they set up through it:
//!
//! - `POST /orgs {"name"}` (platform admin) → `{"id"}`
//! - `POST /orgs/{org}/invites {"email","role"}`, `POST /invites/accept` (creates the
//!   account and its membership), `POST /auth/login`
//! - `POST /orgs/{org}/appointment-types {"name","duration_min","mode"}` (org admin) → `{"id"}`
//! - `PUT /orgs/{org}/providers/{id}/availability {"time_zone","windows"}` (org admin)
//! - `GET /orgs/{org}/slots?provider_id&type_id&from&to` → `{"slots":[{"starts_at"}]}` (≤ 62 days)
//! - `POST /orgs/{org}/appointments {"provider_id","type_id","starts_at","patient_id"?}` →
//!   201 `{"id"}`, or 409 `{"error":{"code":"slot_taken"}}`

use std::time::Duration;

use anyhow::Context;
use futures_util::{StreamExt, TryStreamExt, stream};
use rand::Rng;
use rand::distributions::Alphanumeric;
use reqwest::{Method, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::hub_setup::Admin;
use crate::sched_plan::{DAY_MS, rfc3339};

/// Registrations and logins in flight (argon2 keeps a core busy for each).
const ARGON_CONCURRENCY: usize = 2;

/// The longest window one slot search may cover is 62 days; stay under it.
const ENUMERATE_DAYS: i64 = 60;

#[derive(Clone)]
pub struct Api {
    pub http: reqwest::Client,
    pub base: String,
}

/// A reply: status and body as JSON (`Null` when empty or not JSON).
pub struct Reply {
    pub status: StatusCode,
    pub body: Value,
}

impl Reply {
    /// The hub's stable error code, if this is an error.
    pub fn error_code(&self) -> Option<&str> {
        self.body
            .get("error")
            .and_then(|e| e.get("code"))
            .and_then(Value::as_str)
    }
}

impl Api {
    pub fn new(base: &str, pool_size: usize) -> anyhow::Result<Self> {
        Ok(Self {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(60))
                .pool_max_idle_per_host(pool_size.max(1))
                .tcp_nodelay(true)
                .build()?,
            base: base.trim_end_matches('/').to_string(),
        })
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}/api/v1{path}", self.base)
    }

    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> anyhow::Result<Reply> {
        let mut req = self.http.request(method.clone(), self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req
            .send()
            .await
            .with_context(|| format!("{method} {path}"))?;
        let status = resp.status();
        let bytes = resp.bytes().await?;
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Ok(Reply { status, body })
    }

    /// A call that must succeed (2xx); its body.
    pub async fn ok(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> anyhow::Result<Value> {
        let r = self.call(method.clone(), path, token, body).await?;
        anyhow::ensure!(
            r.status.is_success(),
            "{method} {path}: {}: {}",
            r.status,
            r.body
        );
        Ok(r.body)
    }

    pub async fn login(&self, email: &str, password: &str) -> anyhow::Result<String> {
        #[derive(Deserialize)]
        struct Tokens {
            access_token: String,
        }
        let v = self
            .ok(
                Method::POST,
                "/auth/login",
                None,
                Some(json!({ "email": email, "password": password })),
            )
            .await?;
        Ok(serde_json::from_value::<Tokens>(v)?.access_token)
    }
}

pub fn random_alnum(n: usize) -> String {
    rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(n)
        .map(char::from)
        .collect()
}

/// A member created for the benchmark.
#[derive(Debug, Clone)]
pub struct Member {
    pub id: String,
    /// Access token (valid 15 minutes); empty for members that never log in.
    pub token: String,
}

/// What the scheduling benchmarks work on.
pub struct Clinic {
    pub run: String,
    pub org_id: String,
    pub admin: Member,
    pub providers: Vec<Member>,
    pub patients: Vec<Member>,
    pub type_id: String,
}

/// Weekly hours the benchmarks give every provider.
pub const TIME_ZONE: &str = "America/New_York";
pub const HOURS: (&str, &str) = ("08:00", "18:00");
pub const WEEKDAYS: [&str; 5] = ["mon", "tue", "wed", "thu", "fri"];
pub const DURATION_MIN: u32 = 30;

/// Creates an organization with an org admin, `providers` clinicians with
/// Mon–Fri 08:00–18:00 hours in New York, a 30-minute appointment type, and
/// `patients` patients, logged in.
pub async fn prepare_clinic(
    api: &Api,
    platform_admin: &Admin,
    providers: usize,
    patients: usize,
) -> anyhow::Result<Clinic> {
    let run = random_alnum(8).to_lowercase();
    let root = api
        .login(&platform_admin.email, &platform_admin.password)
        .await
        .context("logging in as the platform admin")?;
    let org = api
        .ok(
            Method::POST,
            "/orgs",
            Some(&root),
            Some(json!({ "name": format!("sched {run}") })),
        )
        .await
        .context("creating the organization")?;
    let org_id = org["id"].as_str().context("organization id")?.to_owned();
    eprintln!(
        "sched setup: organization {org_id} (run {run}); registering 1 admin, {providers} \
         provider(s), {patients} patient(s)"
    );
    let mut wanted: Vec<(String, &str, bool)> = vec![(format!("adm-{run}"), "admin", true)];
    wanted.extend((0..providers).map(|k| (format!("dr{k}-{run}"), "clinician", false)));
    wanted.extend((0..patients).map(|k| (format!("pt{k}-{run}"), "patient", true)));
    let members: Vec<Member> = stream::iter(wanted)
        .map(|(local, role, login)| {
            let (api, root, org_id) = (api, &root, &org_id);
            async move {
                let email = format!("{local}@sched.example.org");
                let password = random_alnum(24);
                // Joining is accepting the organization's invite (which also
                // creates the account).
                let invite = api
                    .ok(
                        Method::POST,
                        &format!("/orgs/{org_id}/invites"),
                        Some(root),
                        Some(json!({ "email": email, "role": role })),
                    )
                    .await?;
                let r = api
                    .ok(
                        Method::POST,
                        "/invites/accept",
                        None,
                        Some(json!({ "token": invite["token"], "password": password,
                                      "display_name": format!("Bench {local}") })),
                    )
                    .await?;
                let id = r["user_id"].as_str().context("user_id")?.to_owned();
                let token = if login {
                    api.login(&email, &password).await?
                } else {
                    String::new()
                };
                anyhow::Ok(Member { id, token })
            }
        })
        .buffered(ARGON_CONCURRENCY)
        .try_collect()
        .await?;
    let admin = members[0].clone();
    let provider_members = members[1..=providers].to_vec();
    let patient_members = members[providers + 1..].to_vec();

    let t = api
        .ok(
            Method::POST,
            &format!("/orgs/{org_id}/appointment-types"),
            Some(&admin.token),
            Some(json!({ "name": "Follow-up", "duration_min": DURATION_MIN, "mode": "in_person" })),
        )
        .await
        .context("creating the appointment type")?;
    let type_id = t["id"].as_str().context("type id")?.to_owned();
    let windows: Vec<Value> = WEEKDAYS
        .iter()
        .map(|d| json!({ "weekday": d, "start": HOURS.0, "end": HOURS.1 }))
        .collect();
    for p in &provider_members {
        api.ok(
            Method::PUT,
            &format!("/orgs/{org_id}/providers/{}/availability", p.id),
            Some(&admin.token),
            Some(json!({ "time_zone": TIME_ZONE, "windows": windows })),
        )
        .await
        .context("setting weekly hours")?;
    }
    Ok(Clinic {
        run,
        org_id,
        admin,
        providers: provider_members,
        patients: patient_members,
        type_id,
    })
}

/// The path of a slot search.
pub fn slots_path(c: &Clinic, provider: &str, from_ms: i64, to_ms: i64) -> String {
    format!(
        "/orgs/{}/slots?provider_id={provider}&type_id={}&from={}&to={}",
        c.org_id,
        c.type_id,
        rfc3339(from_ms),
        rfc3339(to_ms)
    )
}

/// Every free slot start of `provider` in `[from, to)`, in order.
pub async fn free_slots(
    api: &Api,
    c: &Clinic,
    provider: &str,
    from_ms: i64,
    to_ms: i64,
) -> anyhow::Result<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    let mut at = from_ms;
    while at < to_ms {
        let end = (at + ENUMERATE_DAYS * DAY_MS).min(to_ms);
        let list = api
            .ok(
                Method::GET,
                &slots_path(c, provider, at, end),
                Some(&c.admin.token),
                None,
            )
            .await?;
        for s in list["slots"].as_array().context("slots")? {
            let start = s["starts_at"].as_str().context("starts_at")?;
            if out.last().map(String::as_str) != Some(start) {
                out.push(start.to_owned());
            }
        }
        at = end;
    }
    Ok(out)
}

/// The body of a booking.
pub fn book_body(c: &Clinic, provider: &str, starts_at: &str, patient: Option<&str>) -> Value {
    let mut b = json!({ "provider_id": provider, "type_id": c.type_id, "starts_at": starts_at });
    if let Some(p) = patient {
        b["patient_id"] = json!(p);
    }
    b
}
