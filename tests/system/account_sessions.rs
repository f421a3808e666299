//! Where an account is signed in (docs/api.md, "Sessions"): `GET /me/sessions`
//! lists live sessions with the current one marked and no token material;
//! `DELETE /me/sessions/{id}` ends one of one's own (its tokens stop working and
//! its sockets close at once); `POST /auth/logout-everywhere` ends them all.

use std::time::Instant;

use reqwest::{Method, header};
use serde_json::{Value, json};

use crate::{
    account_cookie::{browser_call, browser_login, refresh_cookie},
    accounts_disable::closed_at_once,
    support::{PASSWORD, TestApp, backends, ws::Ws},
};

const FIREFOX_WINDOWS: &str =
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0";
const SAFARI_IPHONE: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) \
     AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1";

/// Signs in with a `User-Agent`; returns the token pair.
async fn login_as(app: &TestApp, email: &str, user_agent: &str) -> Value {
    app.client
        .post(app.url("/api/v1/auth/login"))
        .header(header::USER_AGENT, user_agent)
        .json(&json!({ "email": email, "password": PASSWORD }))
        .send()
        .await
        .expect("login")
        .json()
        .await
        .expect("json")
}

fn s(v: &Value, key: &str) -> String {
    v[key].as_str().expect(key).to_owned()
}

#[tokio::test]
async fn the_session_list_shows_devices_and_one_can_be_signed_out() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        app.register("fay@example.test").await;
        let laptop = login_as(&app, "fay@example.test", FIREFOX_WINDOWS).await;
        app.clock.advance_ms(60_000);
        let phone = login_as(&app, "fay@example.test", SAFARI_IPHONE).await;
        let laptop_token = s(&laptop, "access_token");
        let phone_token = s(&phone, "access_token");

        let list = app
            .get("/api/v1/me/sessions", Some(&laptop_token))
            .await
            .expect(200);
        let list = list.as_array().expect("list").clone();
        assert_eq!(list.len(), 2, "{list:?}");
        // Newest first; the caller's own is marked.
        assert_eq!(list[0]["id"], phone["session_id"]);
        assert_eq!(list[0]["device"], "Safari on iOS");
        assert_eq!(list[0]["current"], false);
        assert_eq!(list[1]["id"], laptop["session_id"]);
        assert_eq!(list[1]["device"], "Firefox on Windows");
        assert_eq!(list[1]["current"], true);
        for entry in &list {
            let keys: Vec<&String> = entry.as_object().unwrap().keys().collect();
            assert_eq!(
                keys,
                ["created_at", "current", "device", "id", "last_used_at"],
                "{entry}"
            );
        }
        let text = serde_json::to_string(&list).unwrap();
        for secret in [s(&laptop, "refresh_token"), s(&phone, "refresh_token")] {
            assert!(!text.contains(&secret));
        }

        // Someone else's session, or a made-up id: not found, and nothing ends.
        app.register("gil@example.test").await;
        let other = login_as(&app, "gil@example.test", FIREFOX_WINDOWS).await;
        let other_path = format!("/api/v1/me/sessions/{}", s(&other, "session_id"));
        app.call(Method::DELETE, &other_path, Some(&laptop_token), None)
            .await
            .expect_error(404, "not_found");
        app.get("/api/v1/me", Some(&s(&other, "access_token")))
            .await
            .expect(200);

        // Signing out the phone: its socket closes at once, its tokens stop working.
        let mut phone_ws = Ws::connect(&app.base, &phone_token).await;
        phone_ws.ok("ping", json!({})).await;
        let path = format!("/api/v1/me/sessions/{}", s(&phone, "session_id"));
        let since = Instant::now();
        app.call(Method::DELETE, &path, Some(&laptop_token), None)
            .await
            .expect(204);
        assert_eq!(closed_at_once(&mut phone_ws, since).await, Some(4003));
        app.get("/api/v1/me", Some(&phone_token))
            .await
            .expect_error(401, "unauthenticated");
        app.post(
            "/api/v1/auth/refresh",
            None,
            json!({ "refresh_token": s(&phone, "refresh_token") }),
        )
        .await
        .expect_error(401, "invalid_refresh_token");
        app.call(Method::DELETE, &path, Some(&laptop_token), None)
            .await
            .expect_error(404, "not_found");
        assert_eq!(app.audited("auth.session_signed_out").await, 1);

        let list = app
            .get("/api/v1/me/sessions", Some(&laptop_token))
            .await
            .expect(200);
        assert_eq!(list.as_array().unwrap().len(), 1);
        app.get("/api/v1/me/sessions", None)
            .await
            .expect_error(401, "unauthenticated");
        app.stop().await;
    }
}

#[tokio::test]
async fn signing_out_everywhere_ends_every_session_and_closes_their_sockets() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        app.register("hal@example.test").await;
        app.register("ida@example.test").await;
        let (browser, cookie) = browser_login(&app, "hal@example.test", json!({})).await;
        let tablet = login_as(&app, "hal@example.test", SAFARI_IPHONE).await;
        let bystander = app.access_token("ida@example.test").await;
        let mut browser_ws = Ws::connect(&app.base, &s(&browser, "access_token")).await;
        let mut tablet_ws = Ws::connect(&app.base, &s(&tablet, "access_token")).await;
        browser_ws.ok("ping", json!({})).await;
        tablet_ws.ok("ping", json!({})).await;

        let since = Instant::now();
        let resp = browser_call(
            &app,
            "/api/v1/auth/logout-everywhere",
            None,
            Some(&cookie),
            Some(&s(&browser, "access_token")),
        )
        .await;
        assert_eq!(resp.status(), 204);
        let (value, attributes) = refresh_cookie(&resp).expect("the cookie is cleared");
        assert!(value.is_empty() && attributes.contains("Max-Age=0"));
        assert_eq!(closed_at_once(&mut browser_ws, since).await, Some(4003));
        assert_eq!(closed_at_once(&mut tablet_ws, since).await, Some(4003));

        for token in [s(&browser, "access_token"), s(&tablet, "access_token")] {
            app.get("/api/v1/me", Some(&token))
                .await
                .expect_error(401, "unauthenticated");
        }
        let resp = browser_call(&app, "/api/v1/auth/refresh", None, Some(&cookie), None).await;
        assert_eq!(resp.status(), 401);
        app.post(
            "/api/v1/auth/refresh",
            None,
            json!({ "refresh_token": s(&tablet, "refresh_token") }),
        )
        .await
        .expect_error(401, "invalid_refresh_token");
        // Another account is untouched.
        app.get("/api/v1/me", Some(&bystander)).await.expect(200);
        assert_eq!(app.audited("auth.logout_everywhere").await, 1);
        app.post("/api/v1/auth/logout-everywhere", None, json!({}))
            .await
            .expect_error(401, "unauthenticated");
        app.stop().await;
    }
}
