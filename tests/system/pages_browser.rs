//! Every page for every role in a real browser (`tests/browser/pages.mjs`):
//! each person lands in their own area, every page of the app shell opens for
//! its roles only, refusals call no API behind them, every page (and the
//! public ones) has no axe-core violation, the patient's pages work at 375 px,
//! a guest is sent to sign in, and the API reads behind staff pages are
//! refused to a patient and to a caller without a token.

use std::time::Duration;

use serde_json::json;

use crate::browser::{
    ADMIN_EMAIL, ADMIN_PASSWORD, BrowserHub, Invitee, PASSWORD, browser_hub, join_by_invite,
    run_browser_script, tools_present,
};

const BROWSER_LIMIT: Duration = Duration::from_secs(420);

#[tokio::test]
async fn every_page_opens_for_its_roles_only_and_has_no_accessibility_violation() {
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
    } = browser_hub("pages-browser").await;
    let people = [
        ("patient", "pat@example.org", "Pat Doe", "/web/portal.html"),
        (
            "clinician",
            "lee@example.org",
            "Dr Min Lee",
            "/web/app.html",
        ),
        ("admin", "ops@example.org", "Olu Park", "/web/admin.html"),
    ];
    let mut env = serde_json::Map::new();
    for (role, email, name, home) in people {
        let invitee = Invitee { email, name, role };
        join_by_invite(&client, &base, &admin, &org_id, invitee).await;
        env.insert(
            role.into(),
            json!({ "email": email, "password": PASSWORD, "home": home }),
        );
    }
    // The bootstrap account is a platform admin and belongs to no organization.
    env.insert(
        "platform".into(),
        json!({ "email": ADMIN_EMAIL, "password": ADMIN_PASSWORD, "home": "/web/platform.html" }),
    );
    run_browser_script(
        server,
        &data_dir,
        "pages.mjs",
        &[("HB_PEOPLE", serde_json::Value::Object(env).to_string())],
        BROWSER_LIMIT,
    )
    .await;
}
