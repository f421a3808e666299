//! The platform console's API (docs/api.md, "Platform console"): platform admins
//! list, add and remove platform admins (one always remains) and see every
//! organization with its admins; nobody else may, and a removed platform admin
//! loses it on the next request.

use hub::domain::Role;
use serde_json::json;

use crate::support::{TestApp, backends};

#[tokio::test]
async fn platform_admins_are_added_and_removed_and_one_always_remains() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let op = app.account("op@hub.test", Role::Admin, None).await;
        let op_token = app.token_for(&op).await;
        let colleague = app
            .account("ops2@hub.test", Role::Clinician, Some("Clinic"))
            .await;
        let colleague_token = app.token_for(&colleague).await;
        let list = "/api/v1/admin/platform-admins";

        let admins = app.get(list, Some(&op_token)).await.expect(200);
        assert_eq!(admins.as_array().unwrap().len(), 1);
        assert_eq!(admins[0]["user_id"], json!(op));
        // Only an existing account, named by a valid email.
        app.post(list, Some(&op_token), json!({ "email": "nobody@hub.test" }))
            .await
            .expect_error(404, "not_found");
        app.post(list, Some(&op_token), json!({ "email": "not an email" }))
            .await
            .expect_error(422, "invalid_email");
        app.get(list, Some(&colleague_token))
            .await
            .expect_error(403, "forbidden");
        let added = app
            .post(list, Some(&op_token), json!({ "email": "ops2@hub.test" }))
            .await
            .expect(200);
        assert_eq!(added["user_id"], json!(colleague));
        // Takes effect on the colleague's next request, same token.
        app.get(list, Some(&colleague_token)).await.expect(200);
        assert_eq!(app.audited("platform_admin.grant").await, 1);

        // The colleague removes the first; the last one cannot go.
        app.call(
            reqwest::Method::DELETE,
            &format!("{list}/{op}"),
            Some(&colleague_token),
            None,
        )
        .await
        .expect(204);
        app.get(list, Some(&op_token))
            .await
            .expect_error(403, "forbidden");
        app.call(
            reqwest::Method::DELETE,
            &format!("{list}/{colleague}"),
            Some(&colleague_token),
            None,
        )
        .await
        .expect_error(409, "last_platform_admin");
        app.call(
            reqwest::Method::DELETE,
            &format!("{list}/{op}"),
            Some(&colleague_token),
            None,
        )
        .await
        .expect_error(404, "not_found");
        assert_eq!(app.audited("platform_admin.revoke").await, 1);
        app.stop().await;
    }
}

#[tokio::test]
async fn the_platform_console_lists_organizations_with_their_admins_and_refuses_others() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let op = app.account("op@hub.test", Role::Admin, None).await;
        let op_token = app.token_for(&op).await;
        let admin = app
            .account("adm@clinic.test", Role::Admin, Some("Clinic"))
            .await;
        let doc = app
            .account("doc@clinic.test", Role::Clinician, Some("Clinic"))
            .await;
        let patient = app
            .account("pat@clinic.test", Role::Patient, Some("Clinic"))
            .await;
        let guest = app.register("guest@example.test").await;
        app.post(
            "/api/v1/orgs",
            Some(&op_token),
            json!({ "name": "Empty Clinic" }),
        )
        .await
        .expect(201);
        let orgs = app
            .get("/api/v1/admin/organizations", Some(&op_token))
            .await
            .expect(200);
        let by_name = |name: &str| {
            orgs.as_array()
                .unwrap()
                .iter()
                .find(|o| o["name"] == name)
                .unwrap_or_else(|| panic!("{name} in {orgs}"))
                .clone()
        };
        let clinic = by_name("Clinic");
        assert_eq!(clinic["admins"].as_array().unwrap().len(), 1);
        assert_eq!(clinic["admins"][0]["user_id"], json!(admin));
        assert_eq!(clinic["admins"][0]["email"], "adm@clinic.test");
        assert!(
            by_name("Empty Clinic")["admins"]
                .as_array()
                .unwrap()
                .is_empty()
        );
        // An organization's own admins list (its admins and platform admins).
        let org = app.org_id("Clinic").await;
        let admins = app
            .get(
                &format!("/api/v1/orgs/{org}/admins"),
                Some(&app.token_for(&admin).await),
            )
            .await
            .expect(200);
        assert_eq!(admins[0]["user_id"], json!(admin));
        app.get(&format!("/api/v1/orgs/{org}/admins"), Some(&op_token))
            .await
            .expect(200);

        for path in [
            "/api/v1/admin/organizations",
            "/api/v1/admin/platform-admins",
        ] {
            app.get(path, None)
                .await
                .expect_error(401, "unauthenticated");
            for who in [&admin, &doc, &patient, &guest] {
                app.get(path, Some(&app.token_for(who).await))
                    .await
                    .expect_error(403, "forbidden");
            }
        }
        for who in [&doc, &patient, &guest] {
            app.get(
                &format!("/api/v1/orgs/{org}/admins"),
                Some(&app.token_for(who).await),
            )
            .await
            .expect_error(403, "forbidden");
        }
        app.stop().await;
    }
}
