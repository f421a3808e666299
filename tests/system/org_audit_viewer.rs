//! The audit log viewer's API (docs/api.md, "Admin console"): an organization's
//! admins search its rows by actor, patient, action, outcome and time, page by
//! sequence number, see names, and learn whether the chain verifies. Nobody else
//! may, and an admin who is demoted loses it at once.

use hub::domain::Role;
use serde_json::{Value, json};

use crate::support::{TestApp, backends};

fn actions(rows: &Value) -> Vec<String> {
    rows.as_array()
        .expect("list")
        .iter()
        .map(|r| r["action"].as_str().expect("action").to_owned())
        .collect()
}

#[tokio::test]
async fn admins_search_the_log_by_actor_patient_action_outcome_and_time() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let admin = app
            .account("adm@clinic.test", Role::Admin, Some("Clinic"))
            .await;
        let clinician = app
            .account("doc@clinic.test", Role::Clinician, Some("Clinic"))
            .await;
        let patient = app
            .account("pat@clinic.test", Role::Patient, Some("Clinic"))
            .await;
        let org = app.org_id("Clinic").await;
        let admin_token = app.token_for(&admin).await;
        let doc_token = app.token_for(&clinician).await;
        app.post(
            &format!("/api/v1/orgs/{org}/members"),
            Some(&admin_token),
            json!({ "email": "new@clinic.test", "role": "clinician" }),
        )
        .await
        .expect(202);
        app.post(
            &format!("/api/v1/orgs/{org}/alerts"),
            Some(&doc_token),
            json!({ "patient_id": patient }),
        )
        .await
        .expect(202);
        let audit = |q: &str| format!("/api/v1/orgs/{org}/audit{q}");

        let all = app.get(&audit(""), Some(&admin_token)).await.expect(200);
        let names = actions(&all);
        assert!(names.contains(&"invite.create".to_owned()), "{names:?}");
        let invite = all
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["action"] == "invite.create")
            .unwrap();
        assert_eq!(invite["actor_id"], json!(admin));
        assert_eq!(invite["actor_name"], "Test Person");

        // By actor: only the clinician's rows.
        let by_doc = app
            .get(&audit(&format!("?actor={clinician}")), Some(&admin_token))
            .await
            .expect(200);
        assert!(!by_doc.as_array().unwrap().is_empty());
        assert!(
            by_doc
                .as_array()
                .unwrap()
                .iter()
                .all(|r| r["actor_id"] == json!(clinician))
        );
        // By patient: the alert about her, with her name.
        let about = app
            .get(&audit(&format!("?patient={patient}")), Some(&admin_token))
            .await
            .expect(200);
        let alert = about
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["action"] == "notification.critical_alert")
            .expect("the alert row");
        assert_eq!(alert["patient_id"], json!(patient));
        assert_eq!(alert["patient_name"], "Test Person");
        assert!(!actions(&about).contains(&"invite.create".to_owned()));
        // By action family and exact action; by outcome.
        let invites = app
            .get(&audit("?action=invite"), Some(&admin_token))
            .await
            .expect(200);
        assert_eq!(actions(&invites), vec!["invite.create"]);
        let exact = app
            .get(
                &audit("?action=invite.create&outcome=success"),
                Some(&admin_token),
            )
            .await
            .expect(200);
        assert_eq!(exact.as_array().unwrap().len(), 1);
        let denied = app
            .get(&audit("?outcome=denied"), Some(&admin_token))
            .await
            .expect(200);
        assert!(actions(&denied).iter().all(|a| a == "access.denied"));
        // By time: nothing before the clinic existed, everything in a wide window.
        let early = app
            .get(&audit("?to=2001-01-01T00:00:00Z"), Some(&admin_token))
            .await
            .expect(200);
        assert!(early.as_array().unwrap().is_empty());
        let window = app
            .get(
                &audit("?from=2001-01-01T00:00:00Z&to=2999-01-01T00:00:00%2B01:00"),
                Some(&admin_token),
            )
            .await
            .expect(200);
        assert!(!window.as_array().unwrap().is_empty());

        // Paging: one row at a time, each older than the last.
        let first = app
            .get(&audit("?limit=1"), Some(&admin_token))
            .await
            .expect(200);
        let seq = first[0]["seq"].as_i64().unwrap();
        let second = app
            .get(
                &audit(&format!("?limit=1&before={seq}")),
                Some(&admin_token),
            )
            .await
            .expect(200);
        assert!(second[0]["seq"].as_i64().unwrap() < seq);

        // Bad filters are named, never echoed.
        for q in [
            "?actor=robert'); DROP",
            "?from=yesterday",
            "?action=INVITE%25",
            "?outcome=maybe",
        ] {
            let reply = app.get(&audit(q), Some(&admin_token)).await;
            reply.expect_error(422, "invalid_filter");
            assert!(!reply.body.to_string().contains("yesterday"));
        }
        // Every search is audited, with its filters.
        assert!(app.audited("audit.read").await >= 10);
        app.stop().await;
    }
}

#[tokio::test]
async fn the_verdict_says_whether_the_chain_verifies() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let admin = app
            .account("adm@clinic.test", Role::Admin, Some("Clinic"))
            .await;
        let org = app.org_id("Clinic").await;
        let token = app.token_for(&admin).await;
        let path = format!("/api/v1/orgs/{org}/audit/verification");
        let verdict = app.get(&path, Some(&token)).await.expect(200);
        assert_eq!(verdict["intact"], true, "{verdict}");
        assert!(verdict["rows_checked"].as_i64().unwrap() >= 1);
        assert_eq!(verdict["problem"], Value::Null);
        assert_eq!(app.audited("audit.verify").await, 1);

        // Someone with database access adds a row far beyond the head: the
        // rows between are missing.
        let (head, hash): (i64, String) =
            sqlx::query_as("SELECT seq, hash FROM audit_head WHERE id = 1")
                .fetch_one(app.state.store.pool())
                .await
                .unwrap();
        sqlx::query(
            "INSERT INTO audit_log (seq, id, at, actor_id, actor_ip, action, outcome, org_id, \
             target_type, target_id, details, prev_hash, hash) \
             VALUES ($1, $2, 0, NULL, NULL, 'auth.login', 'success', NULL, NULL, NULL, '{}', $3, $4)",
        )
        .bind(head + 1000)
        .bind(uuid::Uuid::now_v7().to_string())
        .bind(&hash)
        .bind("f".repeat(64))
        .execute(app.state.store.pool())
        .await
        .unwrap();
        let verdict = app.get(&path, Some(&token)).await.expect(200);
        assert_eq!(verdict["intact"], false, "{verdict}");
        assert_eq!(verdict["problem"]["kind"], "deleted", "{verdict}");
        assert_eq!(verdict["problem"]["seq"], json!(head + 1), "{verdict}");
        assert!(verdict["problem"].get("detail").is_none());
        app.stop().await;
    }
}

#[tokio::test]
async fn only_the_organizations_admins_read_its_log_and_a_demoted_admin_loses_it_at_once() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let admin = app
            .account("adm@clinic.test", Role::Admin, Some("Clinic"))
            .await;
        let second = app
            .account("adm2@clinic.test", Role::Admin, Some("Clinic"))
            .await;
        let clinician = app
            .account("doc@clinic.test", Role::Clinician, Some("Clinic"))
            .await;
        let patient = app
            .account("pat@clinic.test", Role::Patient, Some("Clinic"))
            .await;
        let other = app
            .account("adm@other.test", Role::Admin, Some("Other"))
            .await;
        let operator = app.account("op@hub.test", Role::Admin, None).await;
        let guest = app.register("guest@example.test").await;
        let org = app.org_id("Clinic").await;
        let paths = [
            format!("/api/v1/orgs/{org}/audit"),
            format!("/api/v1/orgs/{org}/audit/verification"),
        ];
        for path in &paths {
            app.get(path, None)
                .await
                .expect_error(401, "unauthenticated");
            for who in [&clinician, &patient, &other, &operator, &guest] {
                app.get(path, Some(&app.token_for(who).await))
                    .await
                    .expect_error(403, "forbidden");
            }
        }
        let token = app.token_for(&second).await;
        app.get(&paths[0], Some(&token)).await.expect(200);
        app.call(
            reqwest::Method::PUT,
            &format!("/api/v1/orgs/{org}/members/{second}"),
            Some(&app.token_for(&admin).await),
            Some(json!({ "role": "clinician" })),
        )
        .await
        .expect(204);
        // The same token, the very next request.
        for path in &paths {
            app.get(path, Some(&token))
                .await
                .expect_error(403, "forbidden");
        }
        app.stop().await;
    }
}
