//! Video visits in a real browser: the real `hub` binary (with its in-process media
//! worker) serves the visit pages, a clinician creates a visit over the REST API, and
//! `tests/browser/visit.mjs` (playwright-core driving Debian's Chromium with a fake
//! camera and microphone) has the clinician admit the patient and an interpreter, checks
//! that every page decodes the others' video and receives their audio, and that a leave
//! and the end of the visit show. Without Node.js or Chromium the test says so and
//! skips, unless `HUB_TEST_REQUIRE_SERVICES=1`, where it fails.

use std::time::Duration;

use serde_json::json;

use crate::browser::{
    BrowserHub, Invitee, PASSWORD, browser_hub, call, join_by_invite, login, run_browser_script,
    run_node_unit_tests, tools_present,
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
    let BrowserHub {
        server,
        base,
        client,
        admin,
        org_id,
        data_dir,
    } = browser_hub("visits-browser").await;
    let email = "ruiz@example.org";
    let invitee = Invitee {
        email,
        name: "Dr. Elena Ruiz",
        role: "clinician",
    };
    join_by_invite(&client, &base, &admin, &org_id, invitee).await;

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

    run_browser_script(
        server,
        &data_dir,
        "visit.mjs",
        &[
            ("HB_CLINICIAN_EMAIL", email.into()),
            ("HB_CLINICIAN_PASSWORD", PASSWORD.into()),
            ("HB_VISIT_ID", visit_id),
            ("HB_PATIENT_LINK", link),
            ("HB_PATIENT_NAME", "Pat Doe".into()),
        ],
        BROWSER_LIMIT,
    )
    .await;
}

/// The visit console's controls (`tests/browser/visit-controls.mjs`): create a
/// visit from the form, replace and revoke its link, cancel it.
#[tokio::test]
async fn a_clinician_creates_relinks_revokes_and_cancels_a_visit_from_the_console() {
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
    } = browser_hub("visit-controls").await;
    let clinician = Invitee {
        email: "ruiz@example.org",
        name: "Dr Ana Ruiz",
        role: "clinician",
    };
    join_by_invite(&client, &base, &admin, &org_id, clinician).await;
    run_browser_script(
        server,
        &data_dir,
        "visit-controls.mjs",
        &[
            ("HB_CLINICIAN_EMAIL", "ruiz@example.org".into()),
            ("HB_CLINICIAN_PASSWORD", PASSWORD.into()),
        ],
        Duration::from_secs(120),
    )
    .await;
}
