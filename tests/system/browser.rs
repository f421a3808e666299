//! The clinician console in a real browser: the real `hub` binary serves the
//! embedded pages, two clinicians in one organization share a case room, and
//! `tests/browser/chat.mjs` (playwright-core driving Debian's Chromium) signs
//! both in through the UI and has them chat; one then books an appointment and
//! hears of it in words. Without Node.js or Chromium the
//! test says so and skips, unless `HUB_TEST_REQUIRE_SERVICES=1`, where it fails.

use std::{
    io::Write,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use serde_json::{Value, json};

use crate::support::process::{HubProcess, hub_command};

pub(crate) const ADMIN_EMAIL: &str = "root@example.org";
pub(crate) const ADMIN_PASSWORD: &str = "bootstrap passphrase 2026";
pub(crate) const PASSWORD: &str = "correct horse battery staple 42";
/// The whole browser run; chat.mjs has its own, shorter limit.
const BROWSER_LIMIT: Duration = Duration::from_secs(240);

pub(crate) fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

/// Skips (returns false) or, when services are required, fails.
pub(crate) fn unavailable(what: &str) -> bool {
    if std::env::var("HUB_TEST_REQUIRE_SERVICES").as_deref() == Ok("1") {
        panic!("HUB_TEST_REQUIRE_SERVICES=1 but {what}");
    }
    eprintln!("skipping the browser test: {what}");
    false
}

pub(crate) fn runs(program: &str, arg: &str) -> bool {
    Command::new(program)
        .arg(arg)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

pub(crate) fn chromium_path() -> PathBuf {
    std::env::var_os("CHROMIUM_PATH")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"))
}

/// Node.js, npm and Chromium are all there (or the test should not run).
pub(crate) fn tools_present() -> bool {
    if !runs("node", "--version") {
        return unavailable("node is not installed (apt-get install nodejs npm)");
    }
    if !runs("npm", "--version") {
        return unavailable("npm is not installed (apt-get install npm)");
    }
    if !chromium_path().is_file() {
        return unavailable(&format!(
            "{} is missing (apt-get install chromium chromium-driver)",
            chromium_path().display()
        ));
    }
    true
}

/// `npm ci` in tests/browser when its node_modules is missing.
pub(crate) fn install_playwright(dir: &Path) {
    if dir
        .join("node_modules/playwright-core/package.json")
        .is_file()
    {
        return;
    }
    let out = Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund"])
        .current_dir(dir)
        .output()
        .expect("run npm ci");
    assert!(
        out.status.success(),
        "npm ci in {} failed:\n{}\n{}",
        dir.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

pub(crate) async fn call(
    client: &reqwest::Client,
    base: &str,
    path: &str,
    token: Option<&str>,
    body: Value,
    expect: u16,
) -> Value {
    let mut req = client.post(format!("{base}{path}")).json(&body);
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    let resp = req.send().await.expect("request");
    let status = resp.status().as_u16();
    let body: Value = resp.json().await.unwrap_or(Value::Null);
    assert_eq!(status, expect, "POST {path}: {body}");
    body
}

pub(crate) async fn login(
    client: &reqwest::Client,
    base: &str,
    email: &str,
    password: &str,
) -> String {
    let pair = call(
        client,
        base,
        "/api/v1/auth/login",
        None,
        json!({ "email": email, "password": password }),
        200,
    )
    .await;
    pair["access_token"].as_str().expect("token").to_owned()
}

pub(crate) fn bootstrap_admin(data_dir: &Path) {
    let mut create = hub_command()
        .args([
            "user",
            "create",
            "--email",
            ADMIN_EMAIL,
            "--role",
            "admin",
            "--password-stdin",
        ])
        .env("HUB_DATA_DIR", data_dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn hub user create");
    create
        .stdin
        .take()
        .expect("stdin")
        .write_all(format!("{ADMIN_PASSWORD}\n").as_bytes())
        .expect("write password");
    let out = create.wait_with_output().expect("hub user create");
    assert!(
        out.status.success(),
        "hub user create: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs one of `tests/browser`'s Node test files (no browser) and asserts it passed.
pub(crate) fn run_node_unit_tests(file: &str) {
    if !runs("node", "--version") {
        unavailable("node is not installed (apt-get install nodejs npm)");
        return;
    }
    let out = Command::new("node")
        .args(["--test", file])
        .current_dir(repo_root().join("tests/browser"))
        .output()
        .expect("run node --test");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "node --test {file} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("# fail 0"), "{stdout}");
}

/// A real `hub serve` for a browser run: its platform admin signed in and one
/// organization created through the API.
pub(crate) struct BrowserHub {
    pub server: HubProcess,
    pub base: String,
    pub client: reqwest::Client,
    pub admin: String,
    pub org_id: String,
    /// The hub's data directory (its parent holds the run's artifacts).
    pub data_dir: PathBuf,
}

pub(crate) async fn browser_hub(label: &str) -> BrowserHub {
    install_playwright(&repo_root().join("tests/browser"));
    let data_dir = std::env::temp_dir()
        .join(format!("hub-{label}-{}", uuid::Uuid::new_v4()))
        .join("data");
    std::fs::create_dir_all(data_dir.parent().expect("parent")).expect("temp dir");
    bootstrap_admin(&data_dir);
    let server = HubProcess::start(&data_dir).await;
    let base = server.base.clone();
    let client = reqwest::Client::new();
    let admin = login(&client, &base, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let org = call(
        &client,
        &base,
        "/api/v1/orgs",
        Some(&admin),
        json!({ "name": "Riverside Clinic" }),
        201,
    )
    .await;
    let org_id = org["id"].as_str().expect("org id").to_owned();
    BrowserHub {
        server,
        base,
        client,
        admin,
        org_id,
        data_dir,
    }
}

/// Someone an organization's admin invites.
pub(crate) struct Invitee<'a> {
    pub email: &'a str,
    pub name: &'a str,
    pub role: &'a str,
}

/// Brings a new person into `org_id` the way people join: the admin invites
/// them, and accepting the invite creates their account. Returns the user id.
pub(crate) async fn join_by_invite(
    client: &reqwest::Client,
    base: &str,
    admin: &str,
    org_id: &str,
    invitee: Invitee<'_>,
) -> String {
    let invite = call(
        client,
        base,
        &format!("/api/v1/orgs/{org_id}/invites"),
        Some(admin),
        json!({ "email": invitee.email, "role": invitee.role }),
        201,
    )
    .await;
    let accepted = call(
        client,
        base,
        "/api/v1/invites/accept",
        None,
        json!({ "token": invite["token"], "password": PASSWORD, "display_name": invitee.name }),
        200,
    )
    .await;
    accepted["user_id"].as_str().expect("user id").to_owned()
}

/// The protocol client `web/js/live.js` against a scripted fake socket
/// (`tests/browser/live.test.mjs`, Node's own test runner; no browser).
#[test]
fn the_live_protocol_client_passes_its_unit_tests() {
    run_node_unit_tests("live.test.mjs");
}

#[tokio::test]
async fn two_clinicians_chat_in_a_real_browser() {
    if !tools_present() {
        return;
    }
    let BrowserHub {
        server,
        base,
        client,
        admin,
        org_id,
        data_dir,
    } = browser_hub("browser").await;
    let mut ids = Vec::new();
    for (email, name) in [
        ("ana@example.org", "Dr Ana Alves"),
        ("ben@example.org", "Dr Ben Brown"),
    ] {
        let invitee = Invitee {
            email,
            name,
            role: "clinician",
        };
        ids.push(join_by_invite(&client, &base, &admin, &org_id, invitee).await);
    }
    let ana = login(&client, &base, "ana@example.org", PASSWORD).await;
    let room = call(
        &client,
        &base,
        &format!("/api/v1/orgs/{org_id}/rooms"),
        Some(&ana),
        json!({ "kind": "case", "title": "Bed 12: chest pain", "member_ids": [ids[1]] }),
        201,
    )
    .await;
    let room_id = room["id"].as_str().expect("room id").to_owned();
    let booking = bookable_appointment(&client, &base, &admin, &org_id, &ids[0], &ana).await;

    run_browser_script(
        server,
        &data_dir,
        "chat.mjs",
        &[
            ("HB_USER_A_EMAIL", "ana@example.org".into()),
            ("HB_USER_A_PASSWORD", PASSWORD.into()),
            ("HB_USER_B_EMAIL", "ben@example.org".into()),
            ("HB_USER_B_PASSWORD", PASSWORD.into()),
            ("HB_ROOM_ID", room_id),
            ("HB_BOOKING", booking.to_string()),
        ],
        BROWSER_LIMIT,
    )
    .await;
}

/// What chat.mjs needs to book an appointment with `provider` (signed in as
/// `provider_token`): a patient "Pat Doe", a "Follow-up" type (made by an
/// organization admin whom the platform `admin` adds), the provider's
/// hours every day in UTC, and a start tomorrow at 10:00 UTC.
async fn bookable_appointment(
    client: &reqwest::Client,
    base: &str,
    admin: &str,
    org_id: &str,
    provider: &str,
    provider_token: &str,
) -> Value {
    let patient_id = join_by_invite(
        client,
        base,
        admin,
        org_id,
        Invitee {
            email: "pat@example.org",
            name: "Pat Doe",
            role: "patient",
        },
    )
    .await;
    let patient = json!({ "user_id": patient_id });
    // Appointment types are the organization's admins' to create.
    join_by_invite(
        client,
        base,
        admin,
        org_id,
        Invitee {
            email: "ops@example.org",
            name: "Ops Admin",
            role: "admin",
        },
    )
    .await;
    let org_admin = login(client, base, "ops@example.org", PASSWORD).await;
    let kind = call(
        client,
        base,
        &format!("/api/v1/orgs/{org_id}/appointment-types"),
        Some(&org_admin),
        json!({ "name": "Follow-up", "duration_min": 30, "mode": "in_person" }),
        201,
    )
    .await;
    let windows: Vec<Value> = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
        .iter()
        .map(|d| json!({ "weekday": d, "start": "08:00", "end": "18:00" }))
        .collect();
    let hours = client
        .put(format!(
            "{base}/api/v1/orgs/{org_id}/providers/{provider}/availability"
        ))
        .bearer_auth(provider_token)
        .json(&json!({ "time_zone": "UTC", "windows": windows }))
        .send()
        .await
        .expect("availability");
    assert_eq!(hours.status(), 200, "PUT availability");
    let tomorrow = chrono::Utc::now().date_naive() + chrono::Days::new(1);
    json!({
        "org_id": org_id,
        "type_id": kind["id"],
        "type_name": "Follow-up",
        "patient_id": patient["user_id"],
        "patient_name": "Pat Doe",
        "starts_at": format!("{tomorrow}T10:00:00Z"),
    })
}

/// Runs `tests/browser/<script>` against `server` with `env` (plus `HUB_URL`,
/// `CHROMIUM_PATH`, `HB_ARTIFACTS_DIR`), its output in files (no pipe to fill up) and
/// under `limit`, so a hung browser cannot hang the test; stops the hub and asserts
/// the script reported every check passed.
pub(crate) async fn run_browser_script(
    server: HubProcess,
    data_dir: &Path,
    script: &str,
    env: &[(&str, String)],
    limit: Duration,
) {
    let browser_dir = repo_root().join("tests/browser");
    let run_dir = data_dir.parent().expect("parent").to_path_buf();
    let stdout_file = std::fs::File::create(run_dir.join("browser.out")).expect("output file");
    let stderr_file = std::fs::File::create(run_dir.join("browser.err")).expect("output file");
    let mut command = Command::new("node");
    command
        .arg(browser_dir.join(script))
        .current_dir(&browser_dir)
        .env("HUB_URL", &server.base)
        .env("CHROMIUM_PATH", chromium_path())
        .env("HB_ARTIFACTS_DIR", run_dir.join("artifacts"))
        .stdout(stdout_file)
        .stderr(stderr_file);
    for (k, v) in env {
        command.env(k, v);
    }
    let mut child = command.spawn().expect("spawn node");
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            break Some(status);
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let stdout = std::fs::read_to_string(run_dir.join("browser.out")).unwrap_or_default();
    let stderr = std::fs::read_to_string(run_dir.join("browser.err")).unwrap_or_default();
    let hub_log = std::fs::read_to_string(data_dir.join("hub.log")).unwrap_or_default();
    drop(server);
    let status = status.unwrap_or_else(|| {
        panic!("{script} did not finish within {limit:?}\n{stdout}\n{stderr}\nhub log:\n{hub_log}")
    });
    assert!(
        status.success(),
        "{script} failed ({status}):\n{stdout}\n{stderr}\nhub log:\n{hub_log}"
    );
    assert!(stdout.contains(" passed, 0 failed"), "{stdout}\n{stderr}");
    let _ = std::fs::remove_dir_all(&run_dir);
}
