//! Bad input gets a 4xx with a stable code and changes nothing.

use hub::domain::Role;
use reqwest::header::CONTENT_TYPE;
use serde_json::json;

use crate::support::{PASSWORD, TestApp, backends};

/// One bad request: (name, path, bearer token, raw body, expected status, expected code).
type Case<'a> = (&'a str, &'a str, Option<&'a str>, Vec<u8>, u16, &'a str);

/// Sends a raw body; returns (status, error code).
async fn raw(
    app: &TestApp,
    path: &str,
    token: Option<&str>,
    content_type: Option<&str>,
    body: Vec<u8>,
) -> (u16, String) {
    let mut req = app.client.post(app.url(path)).body(body);
    if let Some(ct) = content_type {
        req = req.header(CONTENT_TYPE, ct);
    }
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let ct = resp
        .headers()
        .get(CONTENT_TYPE)
        .map(|v| v.to_str().unwrap().to_owned());
    let value: serde_json::Value = resp.json().await.unwrap_or_default();
    assert_eq!(ct.as_deref(), Some("application/json"), "errors are JSON");
    (
        status,
        value["error"]["code"].as_str().unwrap_or("").to_owned(),
    )
}

async fn snapshot(app: &TestApp) -> (i64, i64, i64, i64) {
    (
        app.count("SELECT COUNT(*) FROM users").await,
        app.count("SELECT COUNT(*) FROM organizations").await,
        app.count("SELECT COUNT(*) FROM memberships").await,
        app.count("SELECT COUNT(*) FROM audit_log").await,
    )
}

#[tokio::test]
async fn malformed_requests_get_stable_codes_and_change_nothing() {
    for backend in backends() {
        let app = TestApp::spawn_with(backend, |c| c.http.body_limit_bytes = 16 * 1024).await;
        let admin = app.account("root@example.org", Role::Admin, None).await;
        let token = app.token_for(&admin).await;
        // An organization that exists: an unknown one answers 404 before the body
        // is read.
        app.account("nora@example.org", Role::Admin, Some("Bad Input Clinic"))
            .await;
        let org_id = app.org_id("Bad Input Clinic").await;
        let before = snapshot(&app).await;
        let json_ct = Some("application/json");
        let reg = "/api/v1/auth/register";
        let cases: Vec<Case> = vec![
            ("truncated JSON", reg, None, br#"{"email": "#.to_vec(), 400, "malformed_json"),
            ("not JSON", reg, None, b"email=a@b.c".to_vec(), 400, "malformed_json"),
            ("wrong type", reg, None, br#"{"email": 5, "password": "x", "display_name": "y"}"#.to_vec(), 422, "invalid_body"),
            ("missing field", reg, None, br#"{"email": "a@example.org"}"#.to_vec(), 422, "invalid_body"),
            ("unknown field", reg, None, br#"{"email": "a@example.org", "password": "correct horse battery staple 42", "display_name": "A", "role": "admin"}"#.to_vec(), 422, "invalid_body"),
            ("array body", reg, None, b"[]".to_vec(), 422, "invalid_body"),
            ("lone surrogate", reg, None, br#"{"email": "a@example.org", "password": "correct horse battery staple 42", "display_name": "\ud800"}"#.to_vec(), 400, "malformed_json"),
            ("bidi override in name", reg, None, "{\"email\": \"a@example.org\", \"password\": \"correct horse battery staple 42\", \"display_name\": \"Ana \u{202E}nimda\"}".as_bytes().to_vec(), 422, "invalid_display_name"),
            ("NUL in name", reg, None, br#"{"email": "a@example.org", "password": "correct horse battery staple 42", "display_name": "A\u0000B"}"#.to_vec(), 422, "invalid_display_name"),
            ("very long name", reg, None, json!({"email": "a@example.org", "password": PASSWORD, "display_name": "x".repeat(5000)}).to_string().into_bytes(), 422, "invalid_display_name"),
            ("very long email", reg, None, json!({"email": format!("{}@example.org", "a".repeat(5000)), "password": PASSWORD, "display_name": "A"}).to_string().into_bytes(), 422, "invalid_email"),
            ("unicode email", reg, None, json!({"email": "ánа@example.org", "password": PASSWORD, "display_name": "A"}).to_string().into_bytes(), 422, "invalid_email"),
            ("very long password", reg, None, json!({"email": "a@example.org", "password": "p".repeat(5000), "display_name": "A"}).to_string().into_bytes(), 422, "password_too_long"),
            ("oversized body", reg, None, json!({"email": "a@example.org", "password": PASSWORD, "display_name": "x".repeat(40_000)}).to_string().into_bytes(), 413, "payload_too_large"),
            ("org name of wrong type", "/api/v1/orgs", Some(&token), br#"{"name": 7}"#.to_vec(), 422, "invalid_body"),
            ("org name of spaces", "/api/v1/orgs", Some(&token), br#"{"name": "    "}"#.to_vec(), 422, "invalid_org_name"),
            ("login wrong type", "/api/v1/auth/login", None, br#"{"email": [], "password": {}}"#.to_vec(), 422, "invalid_body"),
            ("refresh garbage", "/api/v1/auth/refresh", None, json!({"refresh_token": "x".repeat(10_000)}).to_string().into_bytes(), 401, "invalid_refresh_token"),
        ];
        for (name, path, tok, body, status, code) in cases {
            let got = raw(&app, path, tok, json_ct, body).await;
            assert_eq!(got, (status, code.to_owned()), "{name}");
        }
        // No content type at all.
        let got = raw(
            &app,
            reg,
            None,
            None,
            br#"{"email": "a@example.org"}"#.to_vec(),
        )
        .await;
        assert_eq!(got, (415, "unsupported_media_type".to_owned()));
        // A path id that is not an id, an unknown route, a wrong method.
        app.get("/api/v1/orgs/not-a-uuid", Some(&token))
            .await
            .expect_error(404, "not_found");
        app.get("/api/v1/nothing/here", None)
            .await
            .expect_error(404, "not_found");
        let wrong_method = app
            .call(reqwest::Method::DELETE, "/api/v1/auth/login", None, None)
            .await;
        wrong_method.expect_error(405, "method_not_allowed");
        // A garbage bearer token.
        app.get("/api/v1/me", Some("not.a.jwt"))
            .await
            .expect_error(401, "unauthenticated");
        let bad_role = app
            .post(
                &format!("/api/v1/orgs/{org_id}/members"),
                Some(&token),
                json!({ "email": "a@example.org", "role": "superuser" }),
            )
            .await;
        bad_role.expect_error(422, "invalid_body");

        assert_eq!(snapshot(&app).await, before, "bad input changed state");
        app.stop().await;
    }
}

#[tokio::test]
async fn every_response_has_a_request_id_and_security_headers() {
    let app = TestApp::spawn(crate::support::Backend::Sqlite).await;
    let resp = app
        .client
        .get(app.url("/api/v1/nothing"))
        .header("x-request-id", "abc-123")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["x-request-id"], "abc-123");
    for header in [
        "x-content-type-options",
        "x-frame-options",
        "content-security-policy",
        "cache-control",
        "referrer-policy",
    ] {
        assert!(resp.headers().contains_key(header), "{header}");
    }
    // A forged id that could break log lines is replaced.
    let resp = app
        .client
        .get(app.url("/healthz"))
        .header("x-request-id", "evil\" id=forged")
        .send()
        .await
        .unwrap();
    let id = resp.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert!(uuid::Uuid::parse_str(&id).is_ok(), "{id}");
    app.stop().await;
}
