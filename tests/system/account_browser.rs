//! Account flows in a real browser: `tests/browser/account.mjs` signs a patient
//! up on the real `hub` binary, confirms the address from the mail a real SMTP
//! server received (Python's aiosmtpd, as in the notification tests), enrols
//! TOTP, signs in and out across tabs and browsers, and resets the password.
//! Skips without Node.js or Chromium, like browser.rs.

use std::time::Duration;

use notifier::test_support::smtp_sink::{SinkOptions, SmtpSink};

use crate::{
    browser::{PASSWORD, run_browser_script, tools_present},
    support::process::HubProcess,
};

/// Sign-up, two 30-second TOTP steps at most, two mails, three browsers.
const BROWSER_LIMIT: Duration = Duration::from_secs(180);

#[tokio::test]
async fn a_patient_signs_up_enrols_totp_and_signs_out_everywhere_in_the_browser() {
    if !tools_present() {
        return;
    }
    crate::browser::install_playwright(&crate::browser::repo_root().join("tests/browser"));
    let smtp = SmtpSink::start(SinkOptions::default());
    let data_dir = std::env::temp_dir()
        .join(format!("hub-account-browser-{}", uuid::Uuid::new_v4()))
        .join("data");
    std::fs::create_dir_all(data_dir.parent().expect("parent")).expect("temp dir");
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
            ("HUB_NOTIFIER__EMAIL__TIMEOUT_SECS", "10".into()),
        ],
    )
    .await;
    run_browser_script(
        server,
        &data_dir,
        "account.mjs",
        &[
            ("HB_MAIL_FILE", smtp.log_file().display().to_string()),
            ("HB_EMAIL", "lena@example.org".into()),
            ("HB_PASSWORD", PASSWORD.into()),
            ("HB_NAME", "Lena".into()),
        ],
        BROWSER_LIMIT,
    )
    .await;
}
