//! The admin console in a real browser (`tests/browser/admin.mjs`, the issue's
//! second required test): an organization admin invites a clinician from the
//! admin page, the invite mail goes through a real SMTP server (Python's
//! aiosmtpd, as in invite_mail.rs), the clinician accepts it in the browser and
//! lands in the console, and the admin finds the acceptance in the audit log
//! viewer. The admin runs two organizations and picks one. Also the platform console, the pages' refusals and axe-core on each.
//! Skips without Node.js or Chromium, like browser.rs.

use std::{path::Path, sync::Arc, time::Duration};

use notifier::test_support::smtp_sink::{SinkOptions, SmtpSink};
use serde_json::json;

use crate::{
    browser::{
        ADMIN_EMAIL, ADMIN_PASSWORD, PASSWORD, bootstrap_admin, call, install_playwright, login,
        repo_root, run_browser_script, tools_present,
    },
    support::process::HubProcess,
};

const BROWSER_LIMIT: Duration = Duration::from_secs(180);
const ORG: &str = "Riverside Clinic";
const SECOND_ORG: &str = "Lakeside Clinic";
const ORG_ADMIN: &str = "ada@example.org";
const CLINICIAN: &str = "nia@example.org";
const PATIENT: &str = "pat@example.org";

/// The first mailed invite link to `to`, once it arrived.
async fn mailed_invite_link(smtp: &SmtpSink, to: &str) -> String {
    loop {
        for mail in smtp.messages() {
            if !mail.rcpt_tos.iter().any(|r| r == to) {
                continue;
            }
            // Undo quoted-printable soft breaks and escapes around the link.
            let data = mail
                .data
                .replace("=\r\n", "")
                .replace("=\n", "")
                .replace("=3D", "=");
            if let Some(at) = data.find("/invite#token=") {
                let start = data[..at].rfind("http").expect("link start");
                let token: String = data[at + "/invite#token=".len()..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
                    .collect();
                return format!("{}/invite#token={token}", &data[start..at]);
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Writes the link for the browser script when the mail arrives.
fn hand_over_link(
    smtp: Arc<SmtpSink>,
    to: &'static str,
    file: &Path,
) -> tokio::task::JoinHandle<()> {
    let file = file.to_path_buf();
    tokio::spawn(async move {
        let link = mailed_invite_link(&smtp, to).await;
        let partial = file.with_extension("part");
        std::fs::write(&partial, link).expect("write link");
        std::fs::rename(&partial, &file).expect("publish link");
    })
}

#[tokio::test]
async fn an_admin_invites_a_clinician_who_joins_and_shows_in_the_audit_log() {
    if !tools_present() {
        return;
    }
    install_playwright(&repo_root().join("tests/browser"));
    let smtp = Arc::new(SmtpSink::start(SinkOptions::default()));
    let data_dir = std::env::temp_dir()
        .join(format!("hub-admin-browser-{}", uuid::Uuid::new_v4()))
        .join("data");
    std::fs::create_dir_all(data_dir.parent().expect("parent")).expect("temp dir");
    bootstrap_admin(&data_dir);
    let server = HubProcess::start_with(
        &data_dir,
        &[
            ("HUB_NOTIFIER__POLL_INTERVAL_MS", "100".into()),
            ("HUB_NOTIFIER__EMAIL__HOST", "127.0.0.1".into()),
            ("HUB_NOTIFIER__EMAIL__PORT", smtp.port().to_string()),
            ("HUB_NOTIFIER__EMAIL__SECURITY", "plain".into()),
            (
                "HUB_NOTIFIER__EMAIL__FROM",
                "HealthBridge <no-reply@clinic.test>".into(),
            ),
        ],
    )
    .await;
    let base = server.base.clone();
    let client = reqwest::Client::new();
    // The platform admin creates the organization and its admin joins by invite.
    let root = login(&client, &base, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let org = call(
        &client,
        &base,
        "/api/v1/orgs",
        Some(&root),
        json!({ "name": ORG }),
        201,
    )
    .await;
    let invite_admin = |org: serde_json::Value| {
        let (client, base, root) = (&client, &base, &root);
        async move {
            let created = call(
                client,
                base,
                &format!("/api/v1/orgs/{}/invites", org["id"].as_str().expect("id")),
                Some(root),
                json!({ "email": ORG_ADMIN, "role": "admin" }),
                201,
            )
            .await;
            created["token"].clone()
        }
    };
    let riverside_id = org["id"].as_str().expect("id").to_owned();
    let token = invite_admin(org).await;
    call(
        &client,
        &base,
        "/api/v1/invites/accept",
        None,
        json!({ "token": token, "password": PASSWORD, "display_name": "Ada Admin" }),
        200,
    )
    .await;
    // She runs a second organization too, whose name sorts first: the pages
    // must let her pick.
    let second = call(
        &client,
        &base,
        "/api/v1/orgs",
        Some(&root),
        json!({ "name": SECOND_ORG }),
        201,
    )
    .await;
    let token = invite_admin(second).await;
    let ada = login(&client, &base, ORG_ADMIN, PASSWORD).await;
    call(
        &client,
        &base,
        "/api/v1/invites/accept",
        Some(&ada),
        json!({ "token": token }),
        200,
    )
    .await;

    // A patient of the clinic, to be refused the admin pages.
    let patient_invite = call(
        &client,
        &base,
        &format!("/api/v1/orgs/{}/invites", riverside_id),
        Some(&root),
        json!({ "email": PATIENT, "role": "patient" }),
        201,
    )
    .await;
    call(
        &client,
        &base,
        "/api/v1/invites/accept",
        None,
        json!({ "token": patient_invite["token"], "password": PASSWORD, "display_name": "Pat Doe" }),
        200,
    )
    .await;

    let link_file = data_dir.parent().expect("parent").join("invite-link.txt");
    let courier = hand_over_link(smtp.clone(), CLINICIAN, &link_file);
    run_browser_script(
        server,
        &data_dir,
        "admin.mjs",
        &[
            ("HB_ORG_NAME", ORG.into()),
            ("HB_SECOND_ORG_NAME", SECOND_ORG.into()),
            ("HB_ADMIN_EMAIL", ORG_ADMIN.into()),
            ("HB_ADMIN_PASSWORD", PASSWORD.into()),
            ("HB_ROOT_EMAIL", ADMIN_EMAIL.into()),
            ("HB_ROOT_PASSWORD", ADMIN_PASSWORD.into()),
            ("HB_CLINICIAN_EMAIL", CLINICIAN.into()),
            ("HB_PATIENT_EMAIL", PATIENT.into()),
            ("HB_PASSWORD", PASSWORD.into()),
            ("HB_LINK_FILE", link_file.display().to_string()),
        ],
        BROWSER_LIMIT,
    )
    .await;
    courier.abort();
    drop(smtp);
}
