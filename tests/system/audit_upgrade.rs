//! Upgrading a log written before the audit key existed: its rows stay as they
//! are and verify as legacy rows, and the sealed boundary pins them, so
//! rewriting them afterwards is still caught.

use hub::{
    audit::{GENESIS_HASH, row_hash},
    store::{
        Dialect, Store,
        audit::{self as rows, AuditRow},
    },
};
use serde_json::json;

use crate::{
    audit_log::{drop_guards, verify_db},
    support::{Backend, TestApp, TestDb, backends},
};

fn legacy_row(seq: i64, prev_hash: String) -> AuditRow {
    let mut row = AuditRow {
        seq,
        id: uuid::Uuid::new_v4().to_string(),
        at: seq,
        actor_id: None,
        actor_ip: Some("192.0.2.1".into()),
        action: "auth.login".into(),
        outcome: "success".into(),
        org_id: None,
        target_type: None,
        target_id: None,
        details: json!({}).to_string(),
        prev_hash,
        hash: String::new(),
    };
    row.hash = row_hash(&row);
    row
}

/// Writes rows 1..=3 with plain SHA-256 hashes, as the hub did before the key.
async fn write_legacy_log(db: &TestDb) -> Vec<AuditRow> {
    let dialect = match db.backend {
        Backend::Sqlite => Dialect::Sqlite,
        Backend::Postgres => Dialect::Postgres,
    };
    let store = Store::connect(&db.url, dialect).await.unwrap();
    store.migrate().await.unwrap();
    let mut conn = store.conn().await.unwrap();
    let mut log: Vec<AuditRow> = Vec::new();
    for seq in 1..=3 {
        let prev = log
            .last()
            .map_or(GENESIS_HASH.to_owned(), |r| r.hash.clone());
        let row = legacy_row(seq, prev);
        rows::insert(&mut conn, &row).await.unwrap();
        log.push(row);
    }
    sqlx::query("UPDATE audit_head SET seq = 3, hash = $1 WHERE id = 1")
        .bind(&log[2].hash)
        .execute(&mut *conn)
        .await
        .unwrap();
    drop(conn);
    store.close().await;
    log
}

#[tokio::test]
async fn legacy_rows_verify_and_stay_pinned() {
    for backend in backends() {
        let old = TestDb::create(backend).await;
        let log = write_legacy_log(&old).await;
        // The first start with the key seals the boundary at row 3.
        let app = TestApp::spawn_with(backend, |c| {
            c.database_url = Some(old.url.clone());
            c.data_dir = old.data_dir.clone();
        })
        .await;
        app.register("kim@example.org").await;
        app.state
            .audit
            .checkpoint(&app.state.store, 0)
            .await
            .unwrap();
        let (ok, out) = verify_db(&old);
        assert!(ok, "{out}");
        assert!(
            out.contains("intact: 4 rows verified (keyed after row 3)"),
            "{out}"
        );

        // Rewrite legacy rows 2 and 3 with self-consistent SHA-256 hashes: the
        // seal recorded row 3's hash, so this is caught.
        drop_guards(&app).await;
        let mut conn = app.state.store.conn().await.unwrap();
        sqlx::query("DELETE FROM audit_log WHERE seq IN (2, 3)")
            .execute(&mut *conn)
            .await
            .unwrap();
        let mut row2 = log[1].clone();
        row2.actor_ip = Some("203.0.113.9".into());
        row2.hash = row_hash(&row2);
        let mut row3 = log[2].clone();
        row3.prev_hash = row2.hash.clone();
        row3.hash = row_hash(&row3);
        rows::insert(&mut conn, &row2).await.unwrap();
        rows::insert(&mut conn, &row3).await.unwrap();
        drop(conn);
        let (ok, out) = verify_db(&old);
        assert!(!ok, "{out}");
        assert!(out.contains("TAMPERED: row 3 altered"), "{out}");
        app.stop().await;
    }
}
