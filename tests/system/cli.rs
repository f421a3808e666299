//! The `hub` binary: bootstrap an admin, print configuration, serve with defaults,
//! refuse a cluster without shared secrets, shut down gracefully on SIGTERM.

use std::{io::Write, process::Stdio, time::Duration};

use crate::support::process::{HubProcess, hub_command as hub};

fn temp_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("hub-cli-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn config_masks_secrets_and_rejects_unknown_keys() {
    let out = hub()
        .arg("config")
        .env(
            "HUB_SECRETS__TOKEN_SIGNING_KEY",
            "c2VjcmV0LXNpZ25pbmcta2V5LXZhbHVlLTEyMzQ1Njc4OTA=",
        )
        .env("HUB_DATABASE_URL", "postgres://app:hunter2@db.internal/hub")
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(!text.contains("c2VjcmV0"), "{text}");
    assert!(!text.contains("hunter2"), "{text}");
    assert!(
        text.contains("postgres://app:****@db.internal/hub"),
        "{text}"
    );
    assert!(text.contains("listen = \"127.0.0.1:8080\""), "{text}");

    let out = hub()
        .arg("config")
        .env("HUB_LISTEN_PORT", "1")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("listen_port"));
}

#[test]
fn a_cluster_without_shared_secrets_does_not_start() {
    let dir = temp_dir();
    let out = hub()
        .env(
            "HUB_DATABASE_URL",
            "postgres://postgres@127.0.0.1:5432/postgres",
        )
        .env("HUB_DATA_DIR", &dir)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("token_signing_key must be configured"),
        "{err}"
    );
    assert!(
        !dir.join("secrets").exists(),
        "nothing generated in cluster mode"
    );
}

/// Bootstraps an admin with the CLI, serves with the embedded defaults, logs in
/// over HTTP with the printed password, and stops on SIGTERM.
#[tokio::test]
async fn bootstrap_serve_login_and_graceful_shutdown() {
    let dir = temp_dir().join("data");
    let mut create = hub()
        .args([
            "user",
            "create",
            "--email",
            "root@example.org",
            "--role",
            "admin",
            "--password-stdin",
        ])
        .env("HUB_DATA_DIR", &dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    create
        .stdin
        .take()
        .unwrap()
        .write_all(b"bootstrap passphrase 2026\n")
        .unwrap();
    let out = create.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );

    let mut server = HubProcess::start(&dir).await;
    let base = server.base.clone();
    let client = reqwest::Client::new();
    let login = server
        .login("root@example.org", "bootstrap passphrase 2026")
        .await;
    let token = login["access_token"]
        .as_str()
        .expect("logged in")
        .to_owned();
    let me: serde_json::Value = client
        .get(format!("{base}/api/v1/me"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["platform_admin"], true);
    // The embedded default keeps its data private.
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777,
        0o700
    );

    server.signal("-TERM");
    assert!(
        server.wait(Duration::from_secs(15)).await,
        "graceful exit with status 0"
    );

    let verify = hub()
        .args(["audit", "verify"])
        .env("HUB_DATA_DIR", &dir)
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&verify.stdout);
    assert!(verify.status.success(), "{report}");
    // The rows of the login were checkpointed at the latest at shutdown, with
    // the audit key generated beside the others.
    assert!(
        report.contains("consistent with the newest checkpoint"),
        "{report}"
    );
    assert!(dir.join("secrets/audit_key.b64").exists());
    assert!(dir.join("audit-checkpoints.jsonl").exists());
}
