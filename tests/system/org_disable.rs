//! An organization admin disables and re-enables a member's account
//! (docs/api.md, "Admin console"): only an account of that organization alone
//! and not a platform admin; never oneself; the account's sockets close at once;
//! an account a platform admin disabled stays with the platform admin.

use std::time::Instant;

use hub::domain::Role;
use serde_json::json;

use crate::{
    accounts_disable::closed_at_once,
    support::{PASSWORD, TestApp, backends, ws::Ws},
};

#[tokio::test]
async fn an_org_admin_disables_a_member_of_the_org_alone_at_once_and_re_enables_it() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let admin = app
            .account("adm@clinic.test", Role::Admin, Some("Clinic"))
            .await;
        let doc = app
            .account("doc@clinic.test", Role::Clinician, Some("Clinic"))
            .await;
        let org = app.org_id("Clinic").await;
        let admin_token = app.token_for(&admin).await;
        let doc_token = app.access_token("doc@clinic.test").await;
        let mut ws = Ws::connect(&app.base, &doc_token).await;
        ws.ok("ping", json!({})).await;

        let member = |id: &str, what: &str| format!("/api/v1/orgs/{org}/members/{id}/{what}");
        let since = Instant::now();
        app.post(&member(&doc, "disable"), Some(&admin_token), json!({}))
            .await
            .expect(204);
        assert_eq!(closed_at_once(&mut ws, since).await, Some(4003));
        app.get("/api/v1/me", Some(&doc_token))
            .await
            .expect_error(401, "unauthenticated");
        let login = json!({ "email": "doc@clinic.test", "password": PASSWORD });
        app.post("/api/v1/auth/login", None, login.clone())
            .await
            .expect_error(401, "invalid_credentials");
        // The roster says so, and the organization's audit log has it.
        let members = app
            .get(&format!("/api/v1/orgs/{org}/members"), Some(&admin_token))
            .await
            .expect(200);
        let row = members
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["user_id"] == json!(doc))
            .unwrap();
        assert_eq!(row["status"], "disabled");
        let audit = app
            .get(
                &format!("/api/v1/orgs/{org}/audit?action=account"),
                Some(&admin_token),
            )
            .await
            .expect(200);
        assert_eq!(audit[0]["action"], "account.disable");
        assert_eq!(audit[0]["target_id"], json!(doc));

        app.post(&member(&doc, "enable"), Some(&admin_token), json!({}))
            .await
            .expect(204);
        app.post("/api/v1/auth/login", None, login)
            .await
            .expect(200);
        assert_eq!(app.audited("account.enable").await, 1);
        app.stop().await;
    }
}

#[tokio::test]
async fn accounts_beyond_the_org_oneself_and_outsiders_are_refused() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let admin = app
            .account("adm@clinic.test", Role::Admin, Some("Clinic"))
            .await;
        let org = app.org_id("Clinic").await;
        let token = app.token_for(&admin).await;
        let member = |id: &str, what: &str| format!("/api/v1/orgs/{org}/members/{id}/{what}");
        // A member of another organization too, and a platform admin who is a member.
        let shared = app
            .account("shared@clinic.test", Role::Clinician, Some("Clinic"))
            .await;
        app.account("shared@clinic.test", Role::Patient, Some("Other"))
            .await;
        let operator = app
            .account("op@clinic.test", Role::Clinician, Some("Clinic"))
            .await;
        app.account("op@clinic.test", Role::Admin, None).await;
        for id in [&shared, &operator] {
            app.post(&member(id, "disable"), Some(&token), json!({}))
                .await
                .expect_error(409, "account_beyond_org");
        }
        app.post(&member(&admin, "disable"), Some(&token), json!({}))
            .await
            .expect_error(409, "cannot_disable_self");
        // Someone who is not a member here is not found here.
        let outsider = app
            .account("x@other.test", Role::Clinician, Some("Other"))
            .await;
        app.post(&member(&outsider, "disable"), Some(&token), json!({}))
            .await
            .expect_error(404, "not_found");
        app.post(&member("not-a-user", "disable"), Some(&token), json!({}))
            .await
            .expect_error(404, "not_found");
        assert_eq!(
            app.count("SELECT COUNT(*) FROM users WHERE status = 'disabled'")
                .await,
            0
        );

        // What a platform admin disabled only a platform admin re-enables.
        let doc = app
            .account("doc@clinic.test", Role::Clinician, Some("Clinic"))
            .await;
        let op_token = app.token_for(&operator).await;
        app.post(
            &format!("/api/v1/admin/users/{doc}/disable"),
            Some(&op_token),
            json!({}),
        )
        .await
        .expect(204);
        app.post(&member(&doc, "enable"), Some(&token), json!({}))
            .await
            .expect_error(409, "disabled_by_platform");
        app.post(
            &format!("/api/v1/admin/users/{doc}/enable"),
            Some(&op_token),
            json!({}),
        )
        .await
        .expect(204);

        // Clinicians, patients, guests and strangers may not; a demoted admin
        // loses it on the next request.
        let clinician = app
            .account("doc2@clinic.test", Role::Clinician, Some("Clinic"))
            .await;
        let patient = app
            .account("pat@clinic.test", Role::Patient, Some("Clinic"))
            .await;
        let guest = app.register("guest@example.test").await;
        let target = member(&doc, "disable");
        app.post(&target, None, json!({}))
            .await
            .expect_error(401, "unauthenticated");
        for who in [&clinician, &patient, &guest, &outsider] {
            app.post(&target, Some(&app.token_for(who).await), json!({}))
                .await
                .expect_error(403, "forbidden");
        }
        let second = app
            .account("adm2@clinic.test", Role::Admin, Some("Clinic"))
            .await;
        let second_token = app.token_for(&second).await;
        app.call(
            reqwest::Method::PUT,
            &format!("/api/v1/orgs/{org}/members/{second}"),
            Some(&token),
            Some(json!({ "role": "clinician" })),
        )
        .await
        .expect(204);
        app.post(&target, Some(&second_token), json!({}))
            .await
            .expect_error(403, "forbidden");
        assert_eq!(
            app.count("SELECT COUNT(*) FROM users WHERE status = 'disabled'")
                .await,
            0
        );
        app.stop().await;
    }
}
