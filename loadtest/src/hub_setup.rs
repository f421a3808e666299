//! Preparing the hub for a scenario over its REST API (`/api/v1`): an
//! organization, users in it, their access tokens, and rooms.
//!
//! Every request shape the load test depends on is in this one module, so a
//! change in the API is a change here. Shapes (see `docs/api.md`):
//! - `POST /auth/login {"email","password"}` → `{"access_token",…}`
//! - `POST /orgs {"name"}` → `{"id",…}` (platform admin)
//! - `POST /orgs/{org}/invites {"email","role"}` → `{"token",…}` (platform admin)
//! - `POST /invites/accept {"token","password","display_name"}` → `{"user_id",…}`
//!   (creates the account and its membership)
//! - `POST /orgs/{org}/rooms {"kind":"case","title","member_ids"}` → `{"id",…}`
//!   (the caller becomes a member too)
//!
//! Creating an account hashes the password with argon2 (deliberately slow), so a run
//! uses few users and many connections per user: one access token may open up
//! to `gateway.max_sockets_per_user` sockets (the benchmark scripts raise it to
//! 10,000 with `HUB_GATEWAY__MAX_SOCKETS_PER_USER`).

use anyhow::Context;
use futures_util::{StreamExt, TryStreamExt, stream};
use rand::Rng;
use rand::distributions::Alphanumeric;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

/// Registrations and logins in flight at once: argon2 keeps a core busy for
/// each, so more would only queue inside the hub.
const CONCURRENCY: usize = 2;

/// The platform admin that creates the organization and adds the users.
pub struct Admin {
    pub email: String,
    pub password: String,
}

/// What the scenario needs from the setup.
#[derive(Debug)]
pub struct Prepared {
    pub org_id: String,
    pub user_ids: Vec<String>,
    /// One access token per user (valid 15 minutes).
    pub tokens: Vec<String>,
    pub room_ids: Vec<String>,
}

#[derive(Deserialize)]
struct Tokens {
    access_token: String,
}

#[derive(Deserialize)]
struct Created {
    id: String,
}

struct Api {
    http: reqwest::Client,
    base: String,
}

impl Api {
    async fn post<T: DeserializeOwned>(
        &self,
        path: &str,
        token: Option<&str>,
        body: Value,
    ) -> anyhow::Result<T> {
        let mut req = self
            .http
            .post(format!("{}/api/v1{path}", self.base))
            .json(&body);
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        let resp = req.send().await.with_context(|| format!("POST {path}"))?;
        let status = resp.status();
        if !status.is_success() {
            // The hub's error body is a stable code and a safe message.
            let text = resp.text().await.unwrap_or_default();
            anyhow::bail!("POST {path}: {status}: {text}");
        }
        resp.json()
            .await
            .with_context(|| format!("POST {path}: reading the answer"))
    }

    async fn login(&self, email: &str, password: &str) -> anyhow::Result<String> {
        let t: Tokens = self
            .post(
                "/auth/login",
                None,
                json!({ "email": email, "password": password }),
            )
            .await?;
        Ok(t.access_token)
    }
}

fn random_alnum(n: usize) -> String {
    rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(n)
        .map(char::from)
        .collect()
}

/// Creates an organization with `users` clinicians, logs them in, and creates
/// one case room per entry of `room_members` (user indices) with those users
/// as members.
pub async fn prepare(
    base_url: &str,
    admin: &Admin,
    users: usize,
    room_members: &[Vec<usize>],
) -> anyhow::Result<Prepared> {
    let api = Api {
        http: reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(60))
            .build()?,
        base: base_url.trim_end_matches('/').to_string(),
    };
    let run = random_alnum(8).to_lowercase();

    let admin_token = api
        .login(&admin.email, &admin.password)
        .await
        .context("logging in as the platform admin")?;
    let org: Created = api
        .post(
            "/orgs",
            Some(&admin_token),
            json!({ "name": format!("loadtest {run}") }),
        )
        .await
        .context("creating the organization")?;
    eprintln!(
        "hub setup: organization {} (run {run}); registering {users} users",
        org.id
    );

    // Random 24-character passwords: long enough, never common, and
    // alphanumeric so they cannot contain the email (it has '-' and '@').
    let accounts: Vec<(String, String)> = (0..users)
        .map(|k| {
            (
                format!("lt-{run}-{k}@loadtest.example.org"),
                random_alnum(24),
            )
        })
        .collect();

    let user_ids: Vec<String> = stream::iter(accounts.iter().enumerate())
        .map(|(k, (email, password))| {
            let api = &api;
            let admin_token = &admin_token;
            let org_id = &org.id;
            async move {
                // People join an organization by accepting its invite, which
                // also creates the account.
                let invite: Value = api
                    .post(
                        &format!("/orgs/{org_id}/invites"),
                        Some(admin_token),
                        json!({ "email": email, "role": "clinician" }),
                    )
                    .await
                    .with_context(|| format!("inviting {email}"))?;
                let accepted: Value = api
                    .post(
                        "/invites/accept",
                        None,
                        json!({ "token": invite["token"], "password": password,
                                "display_name": format!("Load Test {k}") }),
                    )
                    .await
                    .with_context(|| format!("accepting the invite of {email}"))?;
                anyhow::Ok(accepted["user_id"].as_str().context("user_id")?.to_owned())
            }
        })
        .buffered(CONCURRENCY)
        .try_collect()
        .await?;

    let tokens: Vec<String> = stream::iter(accounts.iter())
        .map(|(email, password)| {
            let api = &api;
            async move {
                api.login(email, password)
                    .await
                    .with_context(|| format!("logging in as {email}"))
            }
        })
        .buffered(CONCURRENCY)
        .try_collect()
        .await?;
    eprintln!(
        "hub setup: {} users logged in; creating {} room(s)",
        tokens.len(),
        room_members.len()
    );

    let mut room_ids = Vec::with_capacity(room_members.len());
    for (r, members) in room_members.iter().enumerate() {
        // The creator (the room's first user) becomes a member by creating it.
        let creator = *members.first().context("a room without members")?;
        let member_ids: Vec<&str> = members[1..].iter().map(|&u| user_ids[u].as_str()).collect();
        let room: Created = api
            .post(
                &format!("/orgs/{}/rooms", org.id),
                Some(&tokens[creator]),
                json!({ "kind": "case", "title": format!("Load test {run} room {r}"),
                        "member_ids": member_ids }),
            )
            .await
            .with_context(|| format!("creating room {r}"))?;
        room_ids.push(room.id);
    }
    Ok(Prepared {
        org_id: org.id,
        user_ids,
        tokens,
        room_ids,
    })
}
