//! Faults lose no data: a node killed with SIGKILL keeps every committed change,
//! and a database that drops its connections (a PostgreSQL restart) is
//! reconnected to without failing requests.

use std::time::Duration;

use serde_json::json;

use crate::support::{Backend, PASSWORD, TestApp, backends, process::HubProcess};

#[tokio::test]
async fn a_killed_node_keeps_every_committed_change() {
    let dir = std::env::temp_dir()
        .join(format!("hub-kill-{}", uuid::Uuid::new_v4()))
        .join("data");
    let client = reqwest::Client::new();
    let mut node = HubProcess::start(&dir).await;
    let mut registered = Vec::new();
    for i in 0..20 {
        let email = format!("patient{i}@example.org");
        let resp = client
            .post(format!("{}/api/v1/auth/register", node.base))
            .json(&json!({ "email": email, "password": PASSWORD, "display_name": "Patient" }))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 201);
        registered.push(email);
    }
    node.signal("-KILL");
    node.wait(Duration::from_secs(10)).await;

    let node = HubProcess::start(&dir).await;
    for email in &registered {
        let resp = client
            .post(format!("{}/api/v1/auth/login", node.base))
            .json(&json!({ "email": email, "password": PASSWORD }))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{email} lost after kill -9");
    }
    drop(node);
    let verify = crate::support::process::hub_command()
        .args(["audit", "verify"])
        .env("HUB_DATA_DIR", &dir)
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&verify.stdout);
    assert!(verify.status.success(), "{out}");
    // 20 registrations and 20 logins, every one in the chain.
    assert!(out.contains("40 rows verified"), "{out}");
}

#[tokio::test]
async fn dropped_database_connections_are_replaced() {
    for backend in backends() {
        if backend != Backend::Postgres {
            continue;
        }
        let app = TestApp::spawn(backend).await;
        app.register("rita@example.org").await;
        let token = app.access_token("rita@example.org").await;
        // What a PostgreSQL restart does to a node: every connection it holds dies.
        let admin = std::env::var("HUB_TEST_DATABASE_URL").unwrap();
        let database = app
            .db
            .postgres_name()
            .expect("a PostgreSQL test database")
            .to_owned();
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(1)
            .connect(&admin)
            .await
            .unwrap();
        let killed: i64 = sqlx::query_scalar(
            "SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity \
             WHERE datname = $1 AND pid <> pg_backend_pid()",
        )
        .bind(&database)
        .fetch_one(&pool)
        .await
        .unwrap();
        assert!(killed >= 1, "the app held no connection to kill");
        pool.close().await;

        app.get("/readyz", None).await.expect(200);
        app.get("/api/v1/me", Some(&token)).await.expect(200);
        app.login("rita@example.org").await;
        assert_eq!(app.count("SELECT COUNT(*) FROM users").await, 1);
        app.stop().await;
    }
}
