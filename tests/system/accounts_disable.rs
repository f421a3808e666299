//! Disabling an account (docs/api.md, "Disabling an account"): REST refuses it,
//! its open sockets close with 4003 within a second, it cannot sign in until it is
//! enabled again; the last platform admin and oneself cannot be disabled. Logout
//! and a password change close the sockets of the sessions they end at once too.

use std::time::{Duration, Instant};

use hub::domain::Role;
use serde_json::json;

use crate::support::{PASSWORD, TestApp, backends, ws::Ws};

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
