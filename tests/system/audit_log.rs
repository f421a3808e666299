//! The audit log's keyed chain: `hub audit verify` passes on an untouched log and
//! fails, naming the row, after a row is altered, deleted or inserted directly in
//! the database. The attacks of someone who knows the scheme are in
//! `audit_attacks.rs`.

use std::{path::Path, process::Command};

use serde_json::json;

use hub::store::audit::{self, AuditRow};

use crate::support::{AUDIT_KEY, Backend, TestApp, TestDb, backends};

/// Runs `hub audit verify` against the test's database and checkpoint file (in
/// its data directory) with the test key; returns (exit ok, stdout).
pub fn verify(app: &TestApp) -> (bool, String) {
    verify_db(&app.db)
}

/// `hub audit verify` against `db` and the checkpoint file in its data directory.
pub fn verify_db(db: &TestDb) -> (bool, String) {
    verify_at(&db.url, &db.data_dir)
}

/// `hub audit verify` against the database at `url` with data directory `data_dir`.
fn verify_at(url: &str, data_dir: &Path) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_hub"))
        .args(["audit", "verify"])
        .env_clear()
        .env("HUB_DATABASE_URL", url)
        .env("HUB_DATA_DIR", data_dir)
        .env("HUB_SECRETS__AUDIT_KEY", AUDIT_KEY)
        .output()
        .expect("run hub audit verify");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    // The report goes to stdout; anything on stderr means the command itself failed.
    assert!(stderr.is_empty(), "{stderr}");
    assert!(!stdout.is_empty(), "no report printed");
    (out.status.success(), stdout)
}

/// An app with a handful of audited events (register, logins, a failure), all
/// covered by a checkpoint as the running hub makes every few seconds.
pub async fn app_with_history(backend: Backend) -> TestApp {
    let app = TestApp::spawn(backend).await;
    app.register("kim@example.org").await;
    app.login("kim@example.org").await;
    app.post(
        "/api/v1/auth/login",
        None,
        json!({ "email": "kim@example.org", "password": "wrong wrong wrong" }),
    )
    .await
    .expect_error(401, "invalid_credentials");
    app.login("kim@example.org").await;
    assert_eq!(app.count("SELECT COUNT(*) FROM audit_log").await, 4);
    // `None`: the periodic checkpoint already recorded the same head.
    let checkpoint = app
        .state
        .audit
        .checkpoint(&app.state.store, 0)
        .await
        .expect("checkpoint");
    assert!(checkpoint.is_none_or(|c| c.seq == 4));
    app
}

/// An attacker with database access first removes the append-only triggers.
pub async fn drop_guards(app: &TestApp) {
    let statements: &[&'static str] = match app.db.backend {
        Backend::Sqlite => &[
            "DROP TRIGGER audit_log_no_update",
            "DROP TRIGGER audit_log_no_delete",
            "DROP TRIGGER audit_chain_no_update",
            "DROP TRIGGER audit_chain_no_delete",
        ],
        Backend::Postgres => &[
            "DROP TRIGGER audit_log_no_update ON audit_log",
            "DROP TRIGGER audit_chain_no_change ON audit_chain",
        ],
    };
    for sql in statements {
        sqlx::query(*sql)
            .execute(app.state.store.pool())
            .await
            .expect("drop trigger");
    }
}

/// Reads row `seq`, lets `forge` change it, and writes it back in its place, as
/// an attacker with database access would (guards must be dropped first).
pub async fn rewrite_row(app: &TestApp, seq: i64, forge: impl FnOnce(&mut AuditRow)) {
    let pool = app.state.store.pool();
    let mut conn = pool.acquire().await.unwrap();
    let mut row = audit::page_after(&mut conn, seq - 1, 1)
        .await
        .unwrap()
        .remove(0);
    sqlx::query("DELETE FROM audit_log WHERE seq = $1")
        .bind(seq)
        .execute(&mut *conn)
        .await
        .unwrap();
    forge(&mut row);
    audit::insert(&mut conn, &row).await.unwrap();
}

pub async fn exec(app: &TestApp, sql: &'static str) {
    sqlx::query(sql)
        .execute(app.state.store.pool())
        .await
        .expect(sql);
}

#[tokio::test]
async fn untouched_log_verifies() {
    for backend in backends() {
        let app = app_with_history(backend).await;
        let (ok, out) = verify(&app);
        assert!(ok, "{out}");
        assert!(out.contains("audit log intact: 4 rows verified"), "{out}");
        assert!(out.contains("newest checkpoint: row 4"), "{out}");
        app.stop().await;
    }
}

#[tokio::test]
async fn the_database_refuses_updates_and_deletes() {
    for backend in backends() {
        let app = app_with_history(backend).await;
        let update = sqlx::query("UPDATE audit_log SET outcome = 'success'")
            .execute(app.state.store.pool())
            .await;
        assert!(update.is_err(), "update must be refused");
        let delete = sqlx::query("DELETE FROM audit_log")
            .execute(app.state.store.pool())
            .await;
        assert!(delete.is_err(), "delete must be refused");
        assert_eq!(app.count("SELECT COUNT(*) FROM audit_log").await, 4);
        app.stop().await;
    }
}

#[tokio::test]
async fn an_altered_row_is_named() {
    for backend in backends() {
        let app = app_with_history(backend).await;
        drop_guards(&app).await;
        // Turn the failed login (row 3) into a success.
        exec(
            &app,
            "UPDATE audit_log SET outcome = 'success' WHERE seq = 3",
        )
        .await;
        let (ok, out) = verify(&app);
        assert!(!ok, "{out}");
        assert!(out.contains("TAMPERED: row 3 altered"), "{out}");
        app.stop().await;
    }
}

#[tokio::test]
async fn a_deleted_row_is_named() {
    for backend in backends() {
        let app = app_with_history(backend).await;
        drop_guards(&app).await;
        exec(&app, "DELETE FROM audit_log WHERE seq = 2").await;
        let (ok, out) = verify(&app);
        assert!(!ok, "{out}");
        assert!(out.contains("TAMPERED: row 2 deleted"), "{out}");
        app.stop().await;
    }
}

#[tokio::test]
async fn deleting_the_newest_rows_is_detected() {
    for backend in backends() {
        let app = app_with_history(backend).await;
        drop_guards(&app).await;
        exec(&app, "DELETE FROM audit_log WHERE seq = 4").await;
        let (ok, out) = verify(&app);
        assert!(!ok, "{out}");
        assert!(out.contains("TAMPERED: row 4 truncated"), "{out}");
        app.stop().await;
    }
}

#[tokio::test]
async fn a_rehashed_newest_row_is_named() {
    for backend in backends() {
        let app = app_with_history(backend).await;
        drop_guards(&app).await;
        // Rewrite the newest row and give it a self-consistent hash.
        rewrite_row(&app, 4, |row| {
            row.actor_ip = Some("198.51.100.7".into());
            row.hash = hub::audit::row_hash(row);
        })
        .await;
        let (ok, out) = verify(&app);
        assert!(!ok, "{out}");
        assert!(out.contains("TAMPERED: row 4 altered"), "{out}");
        app.stop().await;
    }
}

#[tokio::test]
async fn a_row_replaced_in_the_middle_is_named() {
    for backend in backends() {
        let app = app_with_history(backend).await;
        drop_guards(&app).await;
        // Replace row 2 by a forged row whose own hash is consistent.
        rewrite_row(&app, 2, |row| {
            row.id = uuid::Uuid::new_v4().to_string();
            row.actor_ip = Some("203.0.113.9".into());
            row.prev_hash = "f".repeat(64);
            row.hash = hub::audit::row_hash(row);
        })
        .await;
        let (ok, out) = verify(&app);
        assert!(!ok, "{out}");
        assert!(out.contains("TAMPERED: row 2 inserted"), "{out}");
        app.stop().await;
    }
}

/// `hub audit verify` against a hub that keeps appending: rows committed during
/// the walk are neither "after the head" nor "missing at the end".
#[tokio::test]
async fn verify_while_the_hub_appends() {
    let app = app_with_history(Backend::Sqlite).await;
    // Each roster read appends an audit row (`org.members.read`).
    let admin = app
        .account(
            "admin@clinic.test",
            hub::domain::Role::Admin,
            Some("Clinic"),
        )
        .await;
    let token = app.token_for(&admin).await;
    let org = app.org_id("Clinic").await;
    let writer = {
        let (base, client) = (app.base.clone(), app.client.clone());
        tokio::spawn(async move {
            loop {
                let _ = client
                    .get(format!("{base}/api/v1/orgs/{org}/members"))
                    .bearer_auth(&token)
                    .send()
                    .await;
            }
        })
    };
    // Verify at least five times, and until the writer has appended 20 rows
    // meanwhile: on a loaded machine five runs can pass before it wrote any.
    let before = app.count("SELECT COUNT(*) FROM audit_log").await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(90);
    let mut runs = 0;
    loop {
        let (db_url, dir) = (app.db.url.clone(), app.db.data_dir.clone());
        let (ok, out) = tokio::task::spawn_blocking(move || verify_at(&db_url, &dir))
            .await
            .unwrap();
        assert!(ok, "{out}");
        runs += 1;
        let grown = app.count("SELECT COUNT(*) FROM audit_log").await - before;
        if runs >= 5 && grown > 20 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the writer appended only {grown} rows in 90 s"
        );
    }
    writer.abort();
    app.stop().await;
}
