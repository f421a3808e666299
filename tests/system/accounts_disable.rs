//! Disabling an account (docs/api.md, "Disabling an account"): REST refuses it,
//! its open sockets close with 4003 within a second, it cannot sign in until it is
//! enabled again; the last platform admin and oneself cannot be disabled. Logout
//! and a password change close the sockets of the sessions they end at once too (and
//! REST refuses those sessions).

use std::time::{Duration, Instant};

use hub::domain::Role;
use serde_json::json;

use crate::{
    membership_visits::{clinic, create_visit, go_live, next_event, participant, redeem},
    support::{PASSWORD, TestApp, backends, ws::Ws},
};

/// How soon an open socket must be closed.
const AT_ONCE: Duration = Duration::from_secs(1);

/// The close code `ws` gets, asserting it came within [`AT_ONCE`] of `since`.
pub async fn closed_at_once(ws: &mut Ws, since: Instant) -> Option<u16> {
    let code = ws.close_code().await;
    assert!(
        since.elapsed() < AT_ONCE,
        "closed after {:?}",
        since.elapsed()
    );
    code
}

#[tokio::test]
async fn disabling_an_account_ends_its_access_at_once_and_enabling_restores_login() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let op = app.account("op@hub.test", Role::Admin, None).await;
        let op_token = app.token_for(&op).await;
        let user = app.register("pat@example.test").await;
        let token = app.access_token("pat@example.test").await;
        let refresh = app.login("pat@example.test").await["refresh_token"]
            .as_str()
            .unwrap()
            .to_owned();
        let mut ws = Ws::connect(&app.base, &token).await;
        ws.ok("ping", json!({})).await;

        // An organization admin may not disable an account.
        let org_admin = app
            .account("adm@clinic.test", Role::Admin, Some("Clinic"))
            .await;
        let org_admin_token = app.token_for(&org_admin).await;
        let disable = format!("/api/v1/admin/users/{user}/disable");
        app.post(&disable, Some(&org_admin_token), json!({}))
            .await
            .expect_error(403, "forbidden");

        let since = Instant::now();
        app.post(&disable, Some(&op_token), json!({}))
            .await
            .expect(204);
        assert_eq!(closed_at_once(&mut ws, since).await, Some(4003));
        assert_eq!(app.audited("account.disable").await, 1);

        app.get("/api/v1/me", Some(&token))
            .await
            .expect_error(401, "unauthenticated");
        app.post(
            "/api/v1/auth/refresh",
            None,
            json!({ "refresh_token": refresh }),
        )
        .await
        .expect_error(401, "invalid_refresh_token");
        let login = json!({ "email": "pat@example.test", "password": PASSWORD });
        app.post("/api/v1/auth/login", None, login.clone())
            .await
            .expect_error(401, "invalid_credentials");
        assert_eq!(
            Ws::try_connect(&app.base, &token).await.err(),
            Some(Some(4001))
        );

        let enable = format!("/api/v1/admin/users/{user}/enable");
        app.post(&enable, Some(&op_token), json!({}))
            .await
            .expect(204);
        assert_eq!(app.audited("account.enable").await, 1);
        let fresh = app
            .post("/api/v1/auth/login", None, login)
            .await
            .expect(200);
        app.get("/api/v1/me", fresh["access_token"].as_str())
            .await
            .expect(200);
        // The old session stays ended.
        app.get("/api/v1/me", Some(&token))
            .await
            .expect_error(401, "unauthenticated");
        app.stop().await;
    }
}

#[tokio::test]
async fn neither_oneself_nor_the_last_platform_admin_can_be_disabled() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let op = app.account("op@hub.test", Role::Admin, None).await;
        let op_token = app.token_for(&op).await;
        let path = |id: &str| format!("/api/v1/admin/users/{id}/disable");
        app.post(&path(&op), Some(&op_token), json!({}))
            .await
            .expect_error(409, "cannot_disable_self");
        app.post(&path("not-a-user"), Some(&op_token), json!({}))
            .await
            .expect_error(404, "not_found");
        let unknown = uuid::Uuid::now_v7().to_string();
        app.post(&path(&unknown), Some(&op_token), json!({}))
            .await
            .expect_error(404, "not_found");

        // Two operators disabling each other at once: one of them stays.
        let second = app.account("op2@hub.test", Role::Admin, None).await;
        let second_token = app.token_for(&second).await;
        let (to_second, to_op) = (path(&second), path(&op));
        let (a, b) = tokio::join!(
            app.post(&to_second, Some(&op_token), json!({})),
            app.post(&to_op, Some(&second_token), json!({})),
        );
        let mut outcomes = [
            (a.status.as_u16(), a.code().to_owned()),
            (b.status.as_u16(), b.code().to_owned()),
        ];
        outcomes.sort();
        assert_eq!(outcomes[0].0, 204, "one disable goes through: {outcomes:?}");
        assert!(
            matches!(outcomes[1], (409, ref c) if c == "last_platform_admin")
                || matches!(outcomes[1], (401, ref c) if c == "unauthenticated"),
            "the other is refused: {outcomes:?}"
        );
        let active = app
            .count("SELECT COUNT(*) FROM users WHERE platform_admin = 1 AND status = 'active'")
            .await;
        assert_eq!(active, 1);
        assert_eq!(app.audited("account.disable").await, 1);
        app.stop().await;
    }
}

#[tokio::test]
async fn logout_and_a_password_change_close_the_ended_sessions_sockets_at_once() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        app.register("pat@example.test").await;
        let (one, two, three) = (
            app.access_token("pat@example.test").await,
            app.access_token("pat@example.test").await,
            app.access_token("pat@example.test").await,
        );
        let mut w1 = Ws::connect(&app.base, &one).await;
        let mut w2 = Ws::connect(&app.base, &two).await;
        let mut w3 = Ws::connect(&app.base, &three).await;

        // Logout ends only its own session's sockets.
        let since = Instant::now();
        app.post("/api/v1/auth/logout", Some(&one), json!({}))
            .await
            .expect(204);
        assert_eq!(closed_at_once(&mut w1, since).await, Some(4003));
        w2.ok("ping", json!({})).await;
        app.get("/api/v1/me", Some(&one))
            .await
            .expect_error(401, "unauthenticated");
        app.get("/api/v1/me", Some(&two)).await.expect(200);

        // A password change ends every other session's sockets, not the caller's.
        let since = Instant::now();
        app.post(
            "/api/v1/auth/password",
            Some(&three),
            json!({ "current_password": PASSWORD, "new_password": "a different long passphrase 7" }),
        )
        .await
        .expect(200);
        assert_eq!(closed_at_once(&mut w2, since).await, Some(4003));
        w3.ok("ping", json!({})).await;
        app.get("/api/v1/me", Some(&two))
            .await
            .expect_error(401, "unauthenticated");
        app.get("/api/v1/me", Some(&three)).await.expect(200);
        app.stop().await;
    }
}

#[tokio::test]
async fn a_disabled_host_leaves_the_live_visit_at_once() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let c = clinic(&app).await;
        let op = app.account("op@hub.test", Role::Admin, None).await;
        let op_token = app.token_for(&op).await;
        let created = create_visit(&app, &c.org, &c.host_token, &c.patient).await;
        let visit = created["visit"]["id"].as_str().unwrap().to_owned();
        let patient_pid = participant(&created["visit"], "patient")["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let pass = redeem(&app, created["link"]["url"].as_str().unwrap()).await;
        let (mut host, mut patient, _) =
            go_live(&app, &c.host_token, &visit, &pass, &patient_pid).await;

        let since = Instant::now();
        app.post(
            &format!("/api/v1/admin/users/{}/disable", c.host),
            Some(&op_token),
            json!({}),
        )
        .await
        .expect(204);
        assert_eq!(closed_at_once(&mut host, since).await, Some(4003));
        let left = tokio::time::timeout(AT_ONCE, next_event(&mut patient, "participant_left"))
            .await
            .expect("the patient sees the host leave within a second");
        assert_eq!(participant(&left["state"], "host")["state"], "left");
        app.stop().await;
    }
}
