//! Browser sessions (docs/api.md, "Browser sessions"): with `X-Session-Cookie: 1`
//! login, MFA login and refresh put the refresh token in an `HttpOnly`, `Secure`,
//! `SameSite=Strict` cookie scoped to `/api/v1/auth` instead of the body; a
//! refresh without a body reads the cookie (204 when there is none); logout and a
//! dead cookie clear it; the cookie alone, without the header, is never read.
//! Other clients keep the body token. Also: `PATCH /me` and the enrolment's QR code.

use reqwest::{Method, header};
use serde_json::{Value, json};

use crate::support::{PASSWORD, TestApp, backends, totp};

/// A request as a browser page sends it: cookie mode, and `cookie` if it has one.
pub async fn browser_call(
    app: &TestApp,
    path: &str,
    body: Option<Value>,
    cookie: Option<&str>,
    token: Option<&str>,
) -> reqwest::Response {
    let mut req = app
        .client
        .request(Method::POST, app.url(path))
        .header("X-Session-Cookie", "1");
    if let Some(c) = cookie {
        req = req.header(header::COOKIE, format!("a=b; hb_refresh={c}"));
    }
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    req.send().await.expect("request")
}

/// The `hb_refresh` `Set-Cookie` of a response: (value, attributes).
pub fn refresh_cookie(resp: &reqwest::Response) -> Option<(String, String)> {
    resp.headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("hb_refresh="))
        .map(|v| {
            let (first, rest) = v.split_once(';').unwrap_or((v, ""));
            (
                first.trim_start_matches("hb_refresh=").to_owned(),
                rest.to_owned(),
            )
        })
}

/// Signs in as a browser page; returns the body and the cookie's value.
pub async fn browser_login(app: &TestApp, email: &str, extra: Value) -> (Value, String) {
    let mut body = json!({ "email": email, "password": PASSWORD });
    if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        b.extend(e.clone());
    }
    let resp = browser_call(app, "/api/v1/auth/login", Some(body), None, None).await;
    assert_eq!(resp.status(), 200);
    let (value, _) = refresh_cookie(&resp).expect("login sets the cookie");
    (resp.json().await.expect("json"), value)
}

fn assert_cookie_attributes(attributes: &str, max_age: u64) {
    let parts: Vec<&str> = attributes.split(';').map(str::trim).collect();
    for wanted in ["HttpOnly", "Secure", "SameSite=Strict", "Path=/api/v1/auth"] {
        assert!(parts.contains(&wanted), "{wanted} missing: {attributes}");
    }
    assert!(
        parts.contains(&format!("Max-Age={max_age}").as_str()),
        "{attributes}"
    );
}

#[tokio::test]
async fn a_browser_keeps_its_refresh_token_in_an_http_only_cookie() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        app.register("ana@example.test").await;
        let ttl = app.state.config.auth.refresh_token_ttl_secs;

        // Login: the cookie carries the refresh token, the body does not.
        let resp = browser_call(
            &app,
            "/api/v1/auth/login",
            Some(json!({ "email": "ana@example.test", "password": PASSWORD })),
            None,
            None,
        )
        .await;
        assert_eq!(resp.status(), 200);
        let (first, attributes) = refresh_cookie(&resp).expect("cookie");
        assert_cookie_attributes(&attributes, ttl);
        let body: Value = resp.json().await.unwrap();
        assert!(body.get("refresh_token").is_none(), "{body}");
        assert!(body["access_token"].is_string());
        let session = body["session_id"].as_str().unwrap().to_owned();

        // Refresh without a body reads the cookie and rotates it.
        let resp = browser_call(&app, "/api/v1/auth/refresh", None, Some(&first), None).await;
        assert_eq!(resp.status(), 200);
        let (second, attributes) = refresh_cookie(&resp).expect("rotated cookie");
        assert_cookie_attributes(&attributes, ttl);
        assert_ne!(first, second);
        let body: Value = resp.json().await.unwrap();
        assert!(body.get("refresh_token").is_none());
        assert_eq!(body["session_id"], session.as_str());
        let access = body["access_token"].as_str().unwrap().to_owned();
        app.get("/api/v1/me", Some(&access)).await.expect(200);

        // The cookie alone, without the header, is never read (a cross-site
        // form cannot add the header): the body is required as before.
        let resp = app
            .client
            .post(app.url("/api/v1/auth/refresh"))
            .header(header::COOKIE, format!("hb_refresh={second}"))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 415);
        assert!(refresh_cookie(&resp).is_none());

        // No cookie: nobody is signed in in this browser.
        let resp = browser_call(&app, "/api/v1/auth/refresh", None, None, None).await;
        assert_eq!(resp.status(), 204);
        assert!(refresh_cookie(&resp).is_none());

        // Logout clears the cookie; the cookie's session is over.
        let resp = browser_call(&app, "/api/v1/auth/logout", None, None, Some(&access)).await;
        assert_eq!(resp.status(), 204);
        let (value, attributes) = refresh_cookie(&resp).expect("cleared cookie");
        assert!(value.is_empty());
        assert!(attributes.contains("Max-Age=0"), "{attributes}");
        let resp = browser_call(&app, "/api/v1/auth/refresh", None, Some(&second), None).await;
        assert_eq!(resp.status(), 401);
        let (value, _) = refresh_cookie(&resp).expect("a dead cookie is cleared");
        assert!(value.is_empty());
        let error: Value = resp.json().await.unwrap();
        assert_eq!(error["error"]["code"], "invalid_refresh_token");
        app.stop().await;
    }
}

#[tokio::test]
async fn a_replayed_cookie_ends_the_session_as_a_replayed_body_token_does() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        app.register("ben@example.test").await;
        let (_, first) = browser_login(&app, "ben@example.test", json!({})).await;
        let resp = browser_call(&app, "/api/v1/auth/refresh", None, Some(&first), None).await;
        let (second, _) = refresh_cookie(&resp).unwrap();
        // Past the grace a browser gets for a page cut off mid-refresh.
        app.clock.advance_ms(10_001);
        let resp = browser_call(&app, "/api/v1/auth/refresh", None, Some(&first), None).await;
        assert_eq!(resp.status(), 401);
        assert_eq!(
            resp.json::<Value>().await.unwrap()["error"]["code"],
            "refresh_token_reused"
        );
        let resp = browser_call(&app, "/api/v1/auth/refresh", None, Some(&second), None).await;
        assert_eq!(resp.status(), 401, "the session was revoked");
        app.stop().await;
    }
}

/// A page closed or reloaded mid-refresh leaves the browser with the cookie it
/// just rotated; for ten seconds that cookie still gets a fresh pair (two tabs
/// racing are not a thief), and body tokens get no such grace.
#[tokio::test]
async fn a_browser_may_send_the_cookie_it_just_rotated_for_ten_seconds() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        app.register("dee@example.test").await;
        let (_, first) = browser_login(&app, "dee@example.test", json!({})).await;
        let resp = browser_call(&app, "/api/v1/auth/refresh", None, Some(&first), None).await;
        assert_eq!(resp.status(), 200);
        app.clock.advance_ms(9_000);
        let resp = browser_call(&app, "/api/v1/auth/refresh", None, Some(&first), None).await;
        assert_eq!(
            resp.status(),
            200,
            "within the grace the old cookie works once more"
        );
        let (third, _) = refresh_cookie(&resp).expect("a new cookie");
        app.clock.advance_ms(2_000);
        let resp = browser_call(&app, "/api/v1/auth/refresh", None, Some(&third), None).await;
        assert_eq!(resp.status(), 200, "the session lives on");
        app.clock.advance_ms(11_000);
        let resp = browser_call(&app, "/api/v1/auth/refresh", None, Some(&first), None).await;
        assert_eq!(
            resp.status(),
            401,
            "past the grace a replay ends the session"
        );
        app.stop().await;
    }
}

#[tokio::test]
async fn other_clients_keep_the_refresh_token_in_the_body() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        app.register("cy@example.test").await;
        let resp = app
            .client
            .post(app.url("/api/v1/auth/login"))
            .json(&json!({ "email": "cy@example.test", "password": PASSWORD }))
            .send()
            .await
            .unwrap();
        assert!(refresh_cookie(&resp).is_none());
        let body: Value = resp.json().await.unwrap();
        let refresh = body["refresh_token"].as_str().expect("body token");
        let reply = app
            .post(
                "/api/v1/auth/refresh",
                None,
                json!({ "refresh_token": refresh }),
            )
            .await;
        assert!(!reply.headers.contains_key(header::SET_COOKIE));
        assert!(reply.expect(200)["refresh_token"].is_string());
        app.stop().await;
    }
}

#[tokio::test]
async fn mfa_login_in_a_browser_sets_the_cookie_and_enrolment_draws_a_qr_code() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        app.register("dee@example.test").await;
        let token = app.access_token("dee@example.test").await;
        let enrol = app
            .post("/api/v1/auth/mfa/totp", Some(&token), json!({}))
            .await
            .expect(200);
        let svg = enrol["qr_svg"].as_str().expect("qr_svg");
        let start = svg.find("<svg").expect("an <svg> element");
        assert!(
            svg[..start].trim().is_empty() || svg.starts_with("<?xml"),
            "{svg:.80}"
        );
        assert!(svg.trim_end().ends_with("</svg>"));
        assert!(
            svg.contains("viewBox") && svg.contains("<path"),
            "{svg:.200}"
        );
        // The QR code holds the URI, which the SVG never spells out.
        let secret = enrol["secret"].as_str().unwrap();
        assert!(!svg.contains(secret));
        let code = totp::code(secret, app.clock_secs());
        app.post(
            "/api/v1/auth/mfa/totp/confirm",
            Some(&token),
            json!({ "code": code }),
        )
        .await
        .expect(200);

        app.clock.advance_ms(30_000);
        let code = totp::code(secret, app.clock_secs());
        let (body, cookie) =
            browser_login(&app, "dee@example.test", json!({ "totp_code": code })).await;
        assert!(body.get("refresh_token").is_none());
        let resp = browser_call(&app, "/api/v1/auth/refresh", None, Some(&cookie), None).await;
        assert_eq!(resp.status(), 200);
        app.stop().await;
    }
}

#[tokio::test]
async fn patch_me_changes_the_profile_and_refuses_bad_fields_whole() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        app.register("eve@example.test").await;
        let token = app.access_token("eve@example.test").await;
        let patch = |body: Value| app.call(Method::PATCH, "/api/v1/me", Some(&token), Some(body));

        let me = patch(json!({
            "display_name": "  Eve Moreira ",
            "phone": "+351912345678",
            "time_zone": "Europe/Lisbon",
            "locale": "pt",
        }))
        .await
        .expect(200);
        assert_eq!(me["display_name"], "Eve Moreira");
        assert_eq!(me["phone"], "+351912345678");
        assert_eq!(me["time_zone"], "Europe/Lisbon");
        assert_eq!(me["locale"], "pt");
        assert_eq!(app.audited("account.profile_updated").await, 1);
        let details: String = sqlx::query_scalar(
            "SELECT details FROM audit_log WHERE action = 'account.profile_updated'",
        )
        .fetch_one(app.state.store.pool())
        .await
        .unwrap();
        assert!(
            !details.contains("+351912345678") && !details.contains("Moreira"),
            "{details}"
        );

        // Each bad field has its code, names its field, does not repeat the
        // input, and changes nothing (not even the good fields beside it).
        for (body, field, code, secret) in [
            (
                json!({ "display_name": "   ", "locale": "es" }),
                "display_name",
                "invalid_display_name",
                "",
            ),
            (
                json!({ "phone": "call me maybe", "locale": "es" }),
                "phone",
                "invalid_phone",
                "call me maybe",
            ),
            (
                json!({ "time_zone": "Mars/Olympus", "locale": "es" }),
                "time_zone",
                "invalid_time_zone",
                "Mars/Olympus",
            ),
            (
                json!({ "locale": "tlh-Klingon" }),
                "locale",
                "invalid_locale",
                "tlh-Klingon",
            ),
        ] {
            let reply = patch(body).await;
            reply.expect_error(422, code);
            assert_eq!(reply.body["error"]["field"], field);
            if !secret.is_empty() {
                assert!(!reply.body.to_string().contains(secret), "{}", reply.body);
            }
        }
        patch(json!({ "email": "x@y.z" }))
            .await
            .expect_error(422, "invalid_body");
        let me = app.get("/api/v1/me", Some(&token)).await.expect(200);
        assert_eq!(me["locale"], "pt");
        assert_eq!(me["display_name"], "Eve Moreira");

        // `phone: null` removes the number; absent fields stay.
        let me = patch(json!({ "phone": null })).await.expect(200);
        assert!(me["phone"].is_null());
        assert_eq!(me["time_zone"], "Europe/Lisbon");
        app.call(
            Method::PATCH,
            "/api/v1/me",
            None,
            Some(json!({ "locale": "en" })),
        )
        .await
        .expect_error(401, "unauthenticated");
        app.stop().await;
    }
}
