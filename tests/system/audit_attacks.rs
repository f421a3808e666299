//! Tampering by someone with write access to the database who knows how the
//! chain is built: each attack used to leave `hub audit verify` reporting
//! "intact". With the keyed chain and the signed checkpoints outside the
//! database, each is reported under its own name with a non-zero exit.

use hub::{
    audit::{GENESIS_HASH, row_hash},
    store::audit::{self as rows, AuditRow},
};

use crate::{
    audit_log::{app_with_history, drop_guards, exec, verify},
    support::{Backend, TestApp, backends},
};

/// Every row, in chain order.
async fn all_rows(app: &TestApp) -> Vec<AuditRow> {
    let mut conn = app.state.store.conn().await.unwrap();
    rows::page_after(&mut conn, 0, 1000).await.unwrap()
}

/// Replaces the log from row `from_seq` on with `rows`, rehashed with plain
/// SHA-256 (all anyone without the key can do) so that every link agrees, and
/// points the head at the new end.
async fn replace_tail(app: &TestApp, from_seq: i64, mut rows: Vec<AuditRow>) {
    let mut prev = if from_seq > 1 {
        all_rows(app).await[from_seq as usize - 2].hash.clone()
    } else {
        GENESIS_HASH.to_owned()
    };
    for row in &mut rows {
        row.prev_hash = prev;
        row.hash = row_hash(row);
        prev = row.hash.clone();
    }
    let mut conn = app.state.store.conn().await.unwrap();
    sqlx::query("DELETE FROM audit_log WHERE seq >= $1")
        .bind(from_seq)
        .execute(&mut *conn)
        .await
        .unwrap();
    for row in &rows {
        rows::insert(&mut conn, row).await.unwrap();
    }
    sqlx::query("UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1")
        .bind(rows.last().map_or(from_seq - 1, |r| r.seq))
        .bind(&prev)
        .execute(&mut *conn)
        .await
        .unwrap();
}

/// Asserts `hub audit verify` fails naming `expected` ("row N kind").
#[track_caller]
fn assert_tampered(app: &TestApp, expected: &str) {
    let (ok, out) = verify(app);
    assert!(!ok, "verify must fail: {out}");
    assert!(
        out.contains(&format!("audit log TAMPERED: {expected}")),
        "{out}"
    );
}

#[tokio::test]
async fn a_row_changed_and_the_chain_recomputed_is_altered() {
    for backend in backends() {
        let app = app_with_history(backend).await;
        drop_guards(&app).await;
        // Turn the failed login (row 3) into a success and rebuild the chain
        // and head after it so every link and the head agree again.
        let mut tail = all_rows(&app).await.split_off(2);
        tail[0].outcome = "success".into();
        replace_tail(&app, 3, tail).await;
        assert_tampered(&app, "row 3 altered");
        app.stop().await;
    }
}

#[tokio::test]
async fn a_truncated_tail_with_the_head_moved_back_is_truncated() {
    for backend in backends() {
        let app = app_with_history(backend).await;
        drop_guards(&app).await;
        replace_tail(&app, 3, Vec::new()).await;
        assert_tampered(&app, "row 3 truncated");
        // The running hub refuses to checkpoint the shorter log.
        let refused = app.state.audit.checkpoint(&app.state.store, 0).await;
        assert!(
            refused
                .as_ref()
                .is_err_and(|e| e.to_string().contains("behind")),
            "{refused:?}"
        );
        app.stop().await;
    }
}

#[tokio::test]
async fn a_forged_row_appended_with_the_head_moved_is_forged() {
    for backend in backends() {
        // No guard needs dropping to append.
        let app = app_with_history(backend).await;
        let mut log = all_rows(&app).await;
        let mut forged = log[3].clone();
        forged.seq = 5;
        forged.id = uuid::Uuid::new_v4().to_string();
        forged.action = "auth.logout".into();
        forged.prev_hash = log[3].hash.clone();
        forged.hash = row_hash(&forged);
        let mut conn = app.state.store.conn().await.unwrap();
        rows::insert(&mut conn, &forged).await.unwrap();
        sqlx::query("UPDATE audit_head SET seq = 5, hash = $1 WHERE id = 1")
            .bind(&forged.hash)
            .execute(&mut *conn)
            .await
            .unwrap();
        drop(conn);
        assert_tampered(&app, "row 5 forged");
        // Nor does the hub vouch for it in a checkpoint.
        assert!(
            app.state
                .audit
                .checkpoint(&app.state.store, 0)
                .await
                .is_err()
        );
        log.push(forged);
        assert_eq!(all_rows(&app).await.len(), log.len());
        app.stop().await;
    }
}

#[tokio::test]
async fn a_wiped_log_is_wiped() {
    for backend in backends() {
        let app = app_with_history(backend).await;
        drop_guards(&app).await;
        // Every audit row and the chain's start record, head back to genesis.
        replace_tail(&app, 1, Vec::new()).await;
        exec(&app, "DELETE FROM audit_chain").await;
        assert_tampered(&app, "row 0 wiped");
        app.stop().await;
    }
}

#[tokio::test]
async fn a_dropped_trigger_is_unguarded() {
    for backend in backends() {
        let app = app_with_history(backend).await;
        // One statement is enough to lift the append-only guard.
        exec(
            &app,
            match backend {
                Backend::Sqlite => "DROP TRIGGER audit_log_no_delete",
                Backend::Postgres => "DROP TRIGGER audit_log_no_update ON audit_log",
            },
        )
        .await;
        assert_tampered(&app, "row 0 unguarded");
        // Disabling is as good as dropping on PostgreSQL.
        if backend == Backend::Postgres {
            exec(
                &app,
                "CREATE TRIGGER audit_log_no_update BEFORE UPDATE OR DELETE ON audit_log \
                 FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()",
            )
            .await;
            assert!(verify(&app).0);
            exec(
                &app,
                "ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_update",
            )
            .await;
            assert_tampered(&app, "row 0 unguarded");
        }
        app.stop().await;
    }
}

/// A checkpoint file line that is not signed with the audit key is reported.
#[tokio::test]
async fn a_forged_checkpoint_is_reported() {
    let app = app_with_history(Backend::Sqlite).await;
    let path = app.state.audit.path().to_owned();
    let text = std::fs::read_to_string(&path).unwrap();
    let last = text
        .lines()
        .last()
        .unwrap()
        .replace("\"seq\":4", "\"seq\":2");
    std::fs::write(&path, format!("{text}{last}\n")).unwrap();
    let (ok, out) = verify(&app);
    assert!(!ok, "{out}");
    assert!(out.contains("audit checkpoints TAMPERED"), "{out}");
    app.stop().await;
}
