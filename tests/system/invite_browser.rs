//! The invite page in a real browser: `tests/browser/invite.mjs` opens invite
//! links served by the real `hub` binary, creates an account from one and signs
//! in to accept another. Skips without Node.js or Chromium, like browser.rs.

use std::time::Duration;

use serde_json::json;

use crate::browser::{BrowserHub, PASSWORD, browser_hub, call, run_browser_script, tools_present};

const BROWSER_LIMIT: Duration = Duration::from_secs(120);

#[tokio::test]
async fn an_invitee_accepts_on_the_invite_page() {
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
    } = browser_hub("invite-browser").await;
    let email = "rui@example.org";
    let invite = |org: String| {
        let (client, base, admin) = (&client, &base, &admin);
        async move {
            let created = call(
                client,
                base,
                &format!("/api/v1/orgs/{org}/invites"),
                Some(admin),
                json!({ "email": email, "role": "clinician" }),
                201,
            )
            .await;
            created["token"].as_str().expect("token").to_owned()
        }
    };
    let first = invite(org_id).await;
    let other = call(
        &client,
        &base,
        "/api/v1/orgs",
        Some(&admin),
        json!({ "name": "Hillside Clinic" }),
        201,
    )
    .await;
    let second = invite(other["id"].as_str().expect("org id").to_owned()).await;

    run_browser_script(
        server,
        &data_dir,
        "invite.mjs",
        &[
            ("HB_NEW_TOKEN", first),
            ("HB_NEW_ORG", "Riverside Clinic".into()),
            ("HB_EXISTING_TOKEN", second),
            ("HB_EXISTING_ORG", "Hillside Clinic".into()),
            ("HB_EMAIL", email.into()),
            ("HB_PASSWORD", PASSWORD.into()),
        ],
        BROWSER_LIMIT,
    )
    .await;
}
