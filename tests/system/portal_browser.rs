//! The patient portal in a real browser, the first required test: a patient
//! signs up, confirms the address from the mail a real SMTP server received (Python's
//! aiosmtpd), enrols TOTP, is invited by the clinic and accepts from the mail, signs in
//! with a computed code, books a video appointment in the portal, gets the confirmation, joins the visit from
//! the portal when it opens (account mode, no link), is admitted by a clinician in a
//! second browser context and both see video; then the patient writes to the care team
//! and the clinician answers live (`tests/browser/portal.mjs`). Also the portal's pure
//! time functions (`tests/browser/portal.test.mjs`, no browser).
//!
//! The visit must open during the run: the provider's hours hold two slots a day from
//! `S`, a few minutes ahead, and the hub is started with `visits.join_opens_before_secs` such
//! that the waiting room opens about 90 s after start, so the page first says "Opens at
//! … (in 2 minutes)" and then offers "Join".

use std::time::Duration;

use chrono::{Datelike, DurationRound, Timelike, Utc};
use serde_json::{Value, json};

use notifier::test_support::smtp_sink::{SinkOptions, SmtpSink};

use crate::{
    browser::{
        ADMIN_EMAIL, ADMIN_PASSWORD, Invitee, PASSWORD, bootstrap_admin, call, install_playwright,
        join_by_invite, login, repo_root, run_browser_script, run_node_unit_tests, tools_present,
    },
    support::process::HubProcess,
};

const BROWSER_LIMIT: Duration = Duration::from_secs(480);
const CLINICIAN: (&str, &str) = ("ruiz@example.org", "Dr. Elena Ruiz");
const PATIENT: (&str, &str) = ("pat@example.org", "Pat Doe");
const ORG: &str = "Riverside Clinic";
/// How long after the hub starts the visit's waiting room opens: after sign-up,
/// enrolment (up to two 30-second TOTP steps), the invitation and the booking.
const OPENS_AFTER: chrono::TimeDelta = chrono::TimeDelta::seconds(150);

#[test]
fn the_portal_time_functions_pass_their_unit_tests() {
    run_node_unit_tests("portal.test.mjs");
}

/// The first free slot: the next 5-minute mark at least 6 minutes ahead (or midnight
/// when the hour of two slots would run past it), in UTC.
fn first_slot(now: chrono::DateTime<Utc>) -> chrono::DateTime<Utc> {
    let five = chrono::TimeDelta::minutes(5);
    let slot = (now + chrono::TimeDelta::minutes(6))
        .duration_trunc(five)
        .expect("truncate")
        + five;
    if slot.hour() == 23 {
        (slot.date_naive() + chrono::Days::new(1))
            .and_hms_opt(0, 0, 0)
            .expect("midnight")
            .and_utc()
    } else {
        slot
    }
}

#[tokio::test]
async fn a_patient_books_joins_a_video_visit_from_the_portal_and_messages_the_care_team() {
    if !tools_present() {
        return;
    }
    install_playwright(&repo_root().join("tests/browser"));
    let data_dir = std::env::temp_dir()
        .join(format!("hub-portal-browser-{}", uuid::Uuid::new_v4()))
        .join("data");
    std::fs::create_dir_all(data_dir.parent().expect("parent")).expect("temp dir");
    bootstrap_admin(&data_dir);
    let now = Utc::now();
    let slot = first_slot(now);
    let opens_before = (slot - (now + OPENS_AFTER)).num_seconds().max(0);
    let smtp = SmtpSink::start(SinkOptions::default());
    let server = HubProcess::start_with(
        &data_dir,
        &[
            (
                "HUB_VISITS__JOIN_OPENS_BEFORE_SECS",
                opens_before.to_string(),
            ),
            ("HUB_NOTIFIER__POLL_INTERVAL_MS", "100".into()),
            ("HUB_NOTIFIER__EMAIL__HOST", "127.0.0.1".into()),
            ("HUB_NOTIFIER__EMAIL__PORT", smtp.port().to_string()),
            ("HUB_NOTIFIER__EMAIL__SECURITY", "plain".into()),
            (
                "HUB_NOTIFIER__EMAIL__FROM",
                "Riverside Clinic <no-reply@clinic.test>".into(),
            ),
            ("HUB_NOTIFIER__EMAIL__TIMEOUT_SECS", "10".into()),
        ],
    )
    .await;
    let base = server.base.clone();
    let client = reqwest::Client::new();
    let admin = login(&client, &base, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let org = call(
        &client,
        &base,
        "/api/v1/orgs",
        Some(&admin),
        json!({ "name": ORG }),
        201,
    )
    .await;
    let org_id = org["id"].as_str().expect("org id").to_owned();
    let invitee = |email, name, role| Invitee { email, name, role };
    let clinician_id = join_by_invite(
        &client,
        &base,
        &admin,
        &org_id,
        invitee(CLINICIAN.0, CLINICIAN.1, "clinician"),
    )
    .await;
    join_by_invite(
        &client,
        &base,
        &admin,
        &org_id,
        invitee("ops@example.org", "Ops Admin", "admin"),
    )
    .await;
    let org_admin = login(&client, &base, "ops@example.org", PASSWORD).await;
    call(
        &client,
        &base,
        &format!("/api/v1/orgs/{org_id}/appointment-types"),
        Some(&org_admin),
        json!({ "name": "Video consultation", "duration_min": 30, "mode": "video" }),
        201,
    )
    .await;
    // Hours: two slots a day from `slot` (UTC), so the first free time is `slot` and
    // there is another to book and move to later.
    // (`first_slot` keeps them within the day: they start by 22:55.)
    let weekday = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
        [slot.weekday().num_days_from_monday() as usize];
    let end = slot + chrono::TimeDelta::minutes(60);
    let hours: Value = json!({ "time_zone": "UTC", "windows": [{
        "weekday": weekday,
        "start": slot.format("%H:%M").to_string(),
        "end": end.format("%H:%M").to_string(),
    }]});
    let clinician = login(&client, &base, CLINICIAN.0, PASSWORD).await;
    let set = client
        .put(format!(
            "{base}/api/v1/orgs/{org_id}/providers/{clinician_id}/availability"
        ))
        .bearer_auth(&clinician)
        .json(&hours)
        .send()
        .await
        .expect("availability");
    assert_eq!(
        set.status(),
        200,
        "PUT availability: {}",
        set.text().await.unwrap_or_default()
    );

    run_browser_script(
        server,
        &data_dir,
        "portal.mjs",
        &[
            ("HB_ORG_NAME", ORG.into()),
            ("HB_ORG_ID", org_id.clone()),
            // The clinic's admin invites the patient once signed up (over the API).
            ("HB_ORG_ADMIN_TOKEN", org_admin.clone()),
            ("HB_MAIL_FILE", smtp.log_file().display().to_string()),
            ("HB_PATIENT_EMAIL", PATIENT.0.into()),
            ("HB_PATIENT_PASSWORD", PASSWORD.into()),
            ("HB_PATIENT_NAME", PATIENT.1.into()),
            ("HB_CLINICIAN_EMAIL", CLINICIAN.0.into()),
            ("HB_CLINICIAN_PASSWORD", PASSWORD.into()),
            ("HB_CLINICIAN_NAME", CLINICIAN.1.into()),
            ("HB_STEP_TIMEOUT_MS", "20000".into()),
        ],
        BROWSER_LIMIT,
    )
    .await;
}
