//! Video visits in a real browser: the real `hub` binary (with its in-process media
//! worker) serves the visit pages, a clinician creates a visit over the REST API, and
//! `tests/browser/visit.mjs` (playwright-core driving Debian's Chromium with a fake
//! camera and microphone) has the clinician admit the patient and an interpreter, checks
//! that every page decodes the others' video and receives their audio, and that a leave
//! and the end of the visit show. Without Node.js or Chromium the test says so and
//! skips, unless `HUB_TEST_REQUIRE_SERVICES=1`, where it fails.

use std::{
    process::Command,
    time::{Duration, Instant},
};

use serde_json::json;

use crate::browser::{
    BrowserHub, PASSWORD, browser_hub, call, chromium_path, login, repo_root, run_node_unit_tests,
    tools_present,
};

/// The whole browser run; visit.mjs has its own, shorter limit.
const BROWSER_LIMIT: Duration = Duration::from_secs(330);

/// The signaling client `web/js/visit-media.js` against a scripted fake socket and a
/// fake RTCPeerConnection (`tests/browser/visit.test.mjs`; no browser).
#[test]
fn the_visit_signaling_client_passes_its_unit_tests() {
    run_node_unit_tests("visit.test.mjs");
}

#[tokio::test]
async fn a_patient_a_clinician_and_an_interpreter_see_and_hear_each_other() {
    if !tools_present() {
        return;
    }
    let browser_dir = repo_root().join("tests/browser");
    let BrowserHub {
        server,
        base,
        client,
        admin,
        org_id,
        data_dir,
    } = browser_hub("visits-browser").await;
    let email = "ruiz@example.org";
    call(
        &client,
        &base,
        "/api/v1/auth/register",
        None,
        json!({ "email": email, "password": PASSWORD, "display_name": "Dr. Elena Ruiz" }),
        201,
    )
    .await;
    call(
        &client,
        &base,
        &format!("/api/v1/orgs/{org_id}/members"),
        Some(&admin),
        json!({ "email": email, "role": "clinician" }),
        201,
    )
    .await;

    // The clinician creates a visit starting in five minutes; the answer has the
    // patient's link.
    let clinician = login(&client, &base, email, PASSWORD).await;
    let scheduled_at = (chrono::Utc::now() + chrono::Duration::minutes(5))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let created = call(
        &client,
        &base,
        &format!("/api/v1/orgs/{org_id}/visits"),
        Some(&clinician),
        json!({ "patient_name": "Pat Doe", "scheduled_at": scheduled_at }),
        201,
    )
    .await;
    let visit_id = created["visit"]["id"]
        .as_str()
        .expect("visit id")
        .to_owned();
    let link = created["link"]["url"]
        .as_str()
        .expect("patient link")
        .to_owned();
    assert!(link.contains("/visit#t="), "{link}");

    let run_dir = data_dir.parent().expect("parent").to_path_buf();
    let stdout_file = std::fs::File::create(run_dir.join("browser.out")).expect("output file");
    let stderr_file = std::fs::File::create(run_dir.join("browser.err")).expect("output file");
    let mut child = Command::new("node")
        .arg(browser_dir.join("visit.mjs"))
        .current_dir(&browser_dir)
        .env("HUB_URL", &base)
        .env("HB_CLINICIAN_EMAIL", email)
        .env("HB_CLINICIAN_PASSWORD", PASSWORD)
        .env("HB_VISIT_ID", &visit_id)
        .env("HB_PATIENT_LINK", &link)
        .env("HB_PATIENT_NAME", "Pat Doe")
        .env("CHROMIUM_PATH", chromium_path())
        .env("HB_ARTIFACTS_DIR", run_dir.join("artifacts"))
        .stdout(stdout_file)
        .stderr(stderr_file)
        .spawn()
        .expect("spawn node visit.mjs");
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            break Some(status);
        }
        if started.elapsed() > BROWSER_LIMIT {
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
        panic!(
            "the browser test did not finish within {BROWSER_LIMIT:?}\n{stdout}\n{stderr}\nhub log:\n{hub_log}"
        )
    });
    assert!(
        status.success(),
        "the browser test failed ({status}):\n{stdout}\n{stderr}\nhub log:\n{hub_log}"
    );
    assert!(stdout.contains(" passed, 0 failed"), "{stdout}\n{stderr}");
    let _ = std::fs::remove_dir_all(&run_dir);
}
