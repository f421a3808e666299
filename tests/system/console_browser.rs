//! The clinician console in a real browser (`tests/browser/console.mjs`): a
//! clinician creates a case room, adds a colleague and refers the case to another
//! organization, whose clinician accepts it; the colleague's unread count rises
//! live; links, edits and deletions; axe-core on the console pages. The linkifier
//! has its own unit tests (`tests/browser/linkify.test.mjs`). Skips without
//! Node.js or Chromium, like browser.rs.

use std::time::Duration;

use serde_json::json;

use crate::browser::{
    BrowserHub, Invitee, PASSWORD, browser_hub, call, join_by_invite, login, run_browser_script,
    run_node_unit_tests, tools_present,
};

const BROWSER_LIMIT: Duration = Duration::from_secs(150);

#[tokio::test]
async fn a_clinician_creates_refers_and_the_colleague_sees_unread_live() {
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
    } = browser_hub("console-browser").await;
    let target = call(
        &client,
        &base,
        "/api/v1/orgs",
        Some(&admin),
        json!({ "name": "Harbor Cardiology" }),
        201,
    )
    .await;
    let target_id = target["id"].as_str().expect("org id");
    let mut ids = Vec::new();
    for (org, email, name) in [
        (org_id.as_str(), "ana@example.org", "Dr Ana Alves"),
        (org_id.as_str(), "ben@example.org", "Dr Ben Brown"),
        (target_id, "cy@example.org", "Dr Cy Chen"),
    ] {
        let invitee = Invitee {
            email,
            name,
            role: "clinician",
        };
        ids.push(join_by_invite(&client, &base, &admin, org, invitee).await);
    }
    // Ben already has weekly hours: the schedule page edits them.
    let ben = login(&client, &base, "ben@example.org", PASSWORD).await;
    let hours = client
        .put(format!(
            "{base}/api/v1/orgs/{org_id}/providers/{}/availability",
            ids[1]
        ))
        .bearer_auth(&ben)
        .json(&json!({ "time_zone": "UTC",
            "windows": [{ "weekday": "mon", "start": "09:00", "end": "12:00" }] }))
        .send()
        .await
        .expect("set hours");
    assert_eq!(hours.status(), 200);
    run_browser_script(
        server,
        &data_dir,
        "console.mjs",
        &[
            ("HB_A_EMAIL", "ana@example.org".into()),
            ("HB_B_EMAIL", "ben@example.org".into()),
            ("HB_C_EMAIL", "cy@example.org".into()),
            ("HB_PASSWORD", PASSWORD.into()),
            ("HB_TARGET_ORG", "Harbor Cardiology".into()),
            ("HB_B_NAME", "Dr Ben Brown".into()),
            ("HB_C_NAME", "Dr Cy Chen".into()),
        ],
        BROWSER_LIMIT,
    )
    .await;
}

/// The linkifier (`web/js/console/linkify.js`): Node's own test runner, no browser.
#[test]
fn the_linkifier_passes_its_unit_tests() {
    run_node_unit_tests("linkify.test.mjs");
}
