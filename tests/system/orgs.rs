//! Organizations, per-organization roles, invites, and the rules around them.

use hub::domain::Role;
use serde_json::json;

use crate::support::{PASSWORD, TestApp, backends};

#[tokio::test]
async fn operator_creates_org_invites_admin_who_builds_the_team() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let operator = app.account("ops@example.org", Role::Admin, None).await;
        let ops = app.token_for(&operator).await;

        let org = app
            .post(
                "/api/v1/orgs",
                Some(&ops),
                json!({ "name": "Riverside Cardiology" }),
            )
            .await
            .expect(201);
        let org_id = org["id"].as_str().unwrap().to_owned();
        app.post(
            "/api/v1/orgs",
            Some(&ops),
            json!({ "name": "Riverside Cardiology" }),
        )
        .await
        .expect_error(409, "org_name_taken");

        // Invite the organization's first admin; the link carries the token in
        // its fragment only.
        let invite = app
            .post(
                &format!("/api/v1/orgs/{org_id}/invites"),
                Some(&ops),
                json!({ "email": "lea@example.org", "role": "admin" }),
            )
            .await
            .expect(201);
        let token = invite["token"].as_str().unwrap();
        assert!(
            invite["invite_url"]
                .as_str()
                .unwrap()
                .ends_with(&format!("/invite#token={token}"))
        );
        let accepted = app
            .post(
                "/api/v1/invites/accept",
                None,
                json!({ "token": token, "password": PASSWORD, "display_name": "Léa Martin" }),
            )
            .await
            .expect(200);
        assert_eq!(accepted["account_created"], true);
        assert_eq!(accepted["role"], "admin");
        app.post(
            "/api/v1/invites/accept",
            None,
            json!({ "token": token, "password": PASSWORD, "display_name": "Again" }),
        )
        .await
        .expect_error(410, "invite_used");
        let lea = app.access_token("lea@example.org").await;

        // The admin invites a clinician; the clinician brings a patient in.
        let invite = app
            .post(
                &format!("/api/v1/orgs/{org_id}/invites"),
                Some(&lea),
                json!({ "email": "max@example.org", "role": "clinician" }),
            )
            .await
            .expect(201);
        app.post(
            "/api/v1/invites/accept",
            None,
            json!({ "token": invite["token"], "password": PASSWORD, "display_name": "Dr Max" }),
        )
        .await
        .expect(200);
        let max = app.access_token("max@example.org").await;
        app.register("pat@example.org").await;
        let pat = app.access_token("pat@example.org").await;
        // An existing account joins only by accepting, signed in as itself.
        let invite = app
            .post(
                &format!("/api/v1/orgs/{org_id}/invites"),
                Some(&max),
                json!({ "email": "pat@example.org", "role": "patient" }),
            )
            .await
            .expect(201);
        app.post(
            "/api/v1/invites/accept",
            None,
            json!({ "token": invite["token"], "password": PASSWORD, "display_name": "Pat" }),
        )
        .await
        .expect_error(409, "login_required");
        let accepted = app
            .post(
                "/api/v1/invites/accept",
                Some(&pat),
                json!({ "token": invite["token"] }),
            )
            .await
            .expect(200);
        assert_eq!(accepted["account_created"], false);
        // Clinicians may not hand out staff roles.
        app.post(
            &format!("/api/v1/orgs/{org_id}/members"),
            Some(&max),
            json!({ "email": "pat@example.org", "role": "admin" }),
        )
        .await
        .expect_error(403, "forbidden");
        let again = app
            .post(
                &format!("/api/v1/orgs/{org_id}/invites"),
                Some(&max),
                json!({ "email": "pat@example.org", "role": "patient" }),
            )
            .await
            .expect(201);
        app.post(
            "/api/v1/invites/accept",
            Some(&pat),
            json!({ "token": again["token"] }),
        )
        .await
        .expect_error(409, "already_member");

        // The roster is visible to the care team, not to the patient, and each
        // read is audited.
        let members = app
            .get(&format!("/api/v1/orgs/{org_id}/members"), Some(&max))
            .await
            .expect(200);
        assert_eq!(members.as_array().unwrap().len(), 3);
        app.get(&format!("/api/v1/orgs/{org_id}/members"), Some(&pat))
            .await
            .expect_error(403, "forbidden");
        assert_eq!(
            app.count("SELECT COUNT(*) FROM audit_log WHERE action = 'org.members.read'")
                .await,
            1
        );

        // A patient can be under the care of several organizations.
        let other = app
            .post(
                "/api/v1/orgs",
                Some(&ops),
                json!({ "name": "Hillside Clinic" }),
            )
            .await
            .expect(201);
        let other_id = other["id"].as_str().unwrap();
        let invite = app
            .post(
                &format!("/api/v1/orgs/{other_id}/invites"),
                Some(&ops),
                json!({ "email": "pat@example.org", "role": "patient" }),
            )
            .await
            .expect(201);
        app.post(
            "/api/v1/invites/accept",
            Some(&pat),
            json!({ "token": invite["token"] }),
        )
        .await
        .expect(200);
        let me = app.get("/api/v1/me", Some(&pat)).await.expect(200);
        assert_eq!(me["memberships"].as_array().unwrap().len(), 2);
        let mine = app.get("/api/v1/orgs", Some(&pat)).await.expect(200);
        assert_eq!(mine.as_array().unwrap().len(), 2);

        // Roles change and members leave, but an organization keeps an admin.
        let lea_id = app.get("/api/v1/me", Some(&lea)).await.expect(200)["id"]
            .as_str()
            .unwrap()
            .to_owned();
        app.call(
            reqwest::Method::PUT,
            &format!("/api/v1/orgs/{org_id}/members/{lea_id}"),
            Some(&lea),
            Some(json!({ "role": "clinician" })),
        )
        .await
        .expect_error(409, "last_admin");
        app.call(
            reqwest::Method::DELETE,
            &format!("/api/v1/orgs/{org_id}/members/{lea_id}"),
            Some(&lea),
            None,
        )
        .await
        .expect_error(409, "last_admin");
        let max_id = app.get("/api/v1/me", Some(&max)).await.expect(200)["id"]
            .as_str()
            .unwrap()
            .to_owned();
        app.call(
            reqwest::Method::PUT,
            &format!("/api/v1/orgs/{org_id}/members/{max_id}"),
            Some(&lea),
            Some(json!({ "role": "admin" })),
        )
        .await
        .expect(204);
        app.call(
            reqwest::Method::DELETE,
            &format!("/api/v1/orgs/{org_id}/members/{lea_id}"),
            Some(&max),
            None,
        )
        .await
        .expect(204);
        // Lea lost her role at once, with the same token.
        app.get(&format!("/api/v1/orgs/{org_id}/members"), Some(&lea))
            .await
            .expect_error(403, "forbidden");

        // The admin sees the organization's audit trail; the operator does not.
        let trail = app
            .get(
                &format!("/api/v1/orgs/{org_id}/audit?limit=100"),
                Some(&max),
            )
            .await
            .expect(200);
        let actions: Vec<&str> = trail
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["action"].as_str().unwrap())
            .collect();
        for expected in [
            "org.create",
            "invite.create",
            "invite.accept",
            "membership.role_change",
            "membership.remove",
        ] {
            assert!(
                actions.contains(&expected),
                "{expected} missing from {actions:?}"
            );
        }
        app.get(&format!("/api/v1/orgs/{org_id}/audit"), Some(&ops))
            .await
            .expect_error(403, "forbidden");
        app.stop().await;
    }
}

#[tokio::test]
async fn invites_expire_can_be_revoked_and_bind_to_their_email() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let admin = app
            .account("nora@example.org", Role::Admin, Some("Lakeside Health"))
            .await;
        let org_id = app.org_id("Lakeside Health").await;
        let token = app.token_for(&admin).await;
        let invites_path = format!("/api/v1/orgs/{org_id}/invites");
        let invite = |email: &'static str| {
            app.post(
                &invites_path,
                Some(&token),
                json!({ "email": email, "role": "analyst" }),
            )
        };
        let accept = |t: serde_json::Value| {
            app.post(
                "/api/v1/invites/accept",
                None,
                json!({ "token": t, "password": PASSWORD, "display_name": "Ola" }),
            )
        };

        let expiring = invite("ola@example.org").await.expect(201);
        let revoked = invite("ola@example.org").await.expect(201);
        let id = revoked["id"].as_str().unwrap();
        app.call(
            reqwest::Method::DELETE,
            &format!("/api/v1/orgs/{org_id}/invites/{id}"),
            Some(&token),
            None,
        )
        .await
        .expect(204);
        accept(revoked["token"].clone())
            .await
            .expect_error(410, "invite_revoked");
        accept(json!("no-such-token"))
            .await
            .expect_error(404, "not_found");

        // An invite to an existing account must be accepted by that account.
        app.register("pia@example.org").await;
        app.register("quinn@example.org").await;
        let for_pia = invite("pia@example.org").await.expect(201);
        accept(for_pia["token"].clone())
            .await
            .expect_error(409, "login_required");
        let quinn = app.access_token("quinn@example.org").await;
        app.post(
            "/api/v1/invites/accept",
            Some(&quinn),
            json!({ "token": for_pia["token"] }),
        )
        .await
        .expect_error(409, "invite_email_mismatch");
        let pia = app.access_token("pia@example.org").await;
        let ok = app
            .post(
                "/api/v1/invites/accept",
                Some(&pia),
                json!({ "token": for_pia["token"] }),
            )
            .await
            .expect(200);
        assert_eq!(
            (ok["role"].as_str(), ok["account_created"].as_bool()),
            (Some("analyst"), Some(false))
        );
        // A second invite cannot change an existing member's role.
        let again = invite("pia@example.org").await.expect(201);
        app.post(
            "/api/v1/invites/accept",
            Some(&pia),
            json!({ "token": again["token"] }),
        )
        .await
        .expect_error(409, "already_member");
        let again_id = again["id"].as_str().unwrap();
        app.call(
            reqwest::Method::DELETE,
            &format!("{invites_path}/{again_id}"),
            Some(&token),
            None,
        )
        .await
        .expect(204);

        // Weak passwords are refused on invite acceptance too, and nothing changes.
        let weak = invite("ray@example.org").await.expect(201);
        app.post(
            "/api/v1/invites/accept",
            None,
            json!({ "token": weak["token"], "password": "password", "display_name": "Ray" }),
        )
        .await
        .expect_error(422, "password_too_short");
        assert_eq!(
            app.count("SELECT COUNT(*) FROM users WHERE email = 'ray@example.org'")
                .await,
            0
        );

        // 73 hours later the 72-hour invites have expired.
        app.clock.advance_ms(73 * 3600 * 1000);
        accept(expiring["token"].clone())
            .await
            .expect_error(410, "invite_expired");
        let token = app.token_for(&admin).await;
        let listed = app.get(&invites_path, Some(&token)).await.expect(200);
        let statuses: Vec<&str> = listed
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["status"].as_str().unwrap())
            .collect();
        assert_eq!(
            statuses,
            ["expired", "revoked", "accepted", "revoked", "expired"]
        );
        app.stop().await;
    }
}

/// A platform admin passes the route rule for any organization, so an unknown
/// (well-formed) one must answer 404 before any write, not a 500 from a foreign
/// key. Anyone else without a role there gets 403 for known and unknown alike.
#[tokio::test]
async fn naming_an_unknown_org_answers_404_to_a_platform_admin() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let operator = app.account("ops@example.org", Role::Admin, None).await;
        let ops = app.token_for(&operator).await;
        let unknown = uuid::Uuid::now_v7();
        let body = json!({ "email": "someone@example.org", "role": "clinician" });
        for path in ["invites", "members"] {
            app.post(
                &format!("/api/v1/orgs/{unknown}/{path}"),
                Some(&ops),
                body.clone(),
            )
            .await
            .expect_error(404, "not_found");
            app.get(&format!("/api/v1/orgs/{unknown}/{path}"), Some(&ops))
                .await
                .expect_error(404, "not_found");
        }
        assert_eq!(app.count("SELECT COUNT(*) FROM invites").await, 0);
        assert_eq!(app.count("SELECT COUNT(*) FROM notifications").await, 0);

        let admin = app
            .account("nora@example.org", Role::Admin, Some("Lakeside Health"))
            .await;
        let nora = app.token_for(&admin).await;
        app.post(
            &format!("/api/v1/orgs/{unknown}/invites"),
            Some(&nora),
            body.clone(),
        )
        .await
        .expect_error(403, "forbidden");
        app.stop().await;
    }
}
