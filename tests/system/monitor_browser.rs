//! The live monitor in a real browser: `tests/browser/monitor.mjs` signs an
//! organization admin in to `/web/monitor.html` of the real `hub` binary, signs a
//! clinician in in another browser context and waits for the clinician figure to rise
//! (pushed over `/ws`), checks the page with axe-core, and has a platform admin choose
//! an organization. The wording helpers have their own unit tests
//! (`tests/browser/monitor.test.mjs`). Skips without Node.js or Chromium, like browser.rs.

use std::time::Duration;

use crate::browser::{
    ADMIN_EMAIL, ADMIN_PASSWORD, BrowserHub, Invitee, PASSWORD, browser_hub, join_by_invite,
    run_browser_script, run_node_unit_tests, tools_present,
};

const BROWSER_LIMIT: Duration = Duration::from_secs(120);

#[tokio::test]
async fn an_admin_sees_a_clinician_sign_in_on_the_live_monitor() {
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
    } = browser_hub("monitor-browser").await;
    let (admin_email, clinician_email) = ("ada@example.org", "cleo@example.org");
    for (email, name, role) in [
        (admin_email, "Ada Admin", "admin"),
        (clinician_email, "Dr Cleo Reyes", "clinician"),
    ] {
        join_by_invite(
            &client,
            &base,
            &admin,
            &org_id,
            Invitee { email, name, role },
        )
        .await;
    }
    run_browser_script(
        server,
        &data_dir,
        "monitor.mjs",
        &[
            ("HB_ADMIN_EMAIL", admin_email.into()),
            ("HB_CLINICIAN_EMAIL", clinician_email.into()),
            ("HB_PASSWORD", PASSWORD.into()),
            ("HB_ORG_NAME", "Riverside Clinic".into()),
            ("HB_PLATFORM_EMAIL", ADMIN_EMAIL.into()),
            ("HB_PLATFORM_PASSWORD", ADMIN_PASSWORD.into()),
        ],
        BROWSER_LIMIT,
    )
    .await;
}

/// The monitor's wording (`web/js/monitor/format.js`): Node's own test runner, no browser.
#[test]
fn the_monitor_wording_passes_its_unit_tests() {
    run_node_unit_tests("monitor.test.mjs");
}
