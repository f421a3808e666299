//! The HTTP surface seen by a client written from the docs: `/metrics` behind
//! its token, an HTML page for browsers on unknown paths, 431 in the error
//! shape, error messages that never repeat the rejected value, a private
//! SQLite file, and an OpenAPI document that is the product's and lists every
//! error answer.

use std::os::unix::fs::PermissionsExt;

use hub::{domain::Role, policy};
use reqwest::{Method, header};
use serde_json::{Value, json};

use crate::{
    live::care_team,
    support::{
        Backend, METRICS_TOKEN, TestApp,
        process::{free_port, hub_command},
        ws::Ws,
    },
};

#[tokio::test]
async fn metrics_need_the_configured_bearer_token() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let get = |token: Option<&'static str>| {
        let mut req = app.client.get(app.url("/metrics"));
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        req.send()
    };
    for token in [None, Some("wrong-token-of-some-length"), Some("")] {
        let resp = get(token).await.unwrap();
        assert_eq!(resp.status(), 401, "{token:?}");
        assert_eq!(resp.headers()[header::WWW_AUTHENTICATE], "Bearer");
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["error"]["code"], "unauthenticated");
    }
    let resp = get(Some(METRICS_TOKEN)).await.unwrap();
    assert_eq!(resp.status(), 200);
    assert!(
        resp.text()
            .await
            .unwrap()
            .contains("hub_http_requests_total")
    );
    app.stop().await;

    // The embedded loopback default without a token keeps /metrics open.
    let app = TestApp::spawn_with(Backend::Sqlite, |c| c.metrics.token = None).await;
    let resp = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    app.stop().await;
}

#[test]
fn serve_refuses_a_public_listener_without_a_metrics_token() {
    let dir = std::env::temp_dir().join(format!("hub-metrics-{}", uuid::Uuid::new_v4()));
    let out = hub_command()
        .arg("serve")
        .env("HUB_DATA_DIR", &dir)
        .env("HUB_LISTEN", format!("0.0.0.0:{}", free_port()))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("HUB_METRICS__TOKEN"), "{stderr}");
}

#[tokio::test]
async fn browsers_get_a_page_for_unknown_paths_and_api_clients_json() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let browser = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";
    for path in ["/register", "/no/such/page", "/web/missing.js"] {
        let resp = app
            .client
            .get(app.url(path))
            .header(header::ACCEPT, browser)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 404, "{path}");
        let ct = resp.headers()[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(ct.starts_with("text/html"), "{path}: {ct}");
        let page = resp.text().await.unwrap();
        assert!(page.contains(r#"<a href="/">"#), "{path}: no way back");
    }
    // API paths, and clients that ask for JSON, keep the error shape.
    for (path, accept) in [
        ("/api/v1/nothing", browser),
        ("/register", "application/json"),
        ("/register", "*/*"),
    ] {
        let resp = app
            .client
            .get(app.url(path))
            .header(header::ACCEPT, accept)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 404);
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["error"]["code"], "not_found", "{path} {accept}");
    }
    app.stop().await;
}

#[tokio::test]
async fn oversized_headers_answer_431_in_the_error_shape() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let big = app
        .client
        .get(app.url("/healthz"))
        .header("x-padding", "a".repeat(20 * 1024))
        .send()
        .await
        .unwrap();
    let mut many = app.client.get(app.url("/healthz"));
    for i in 0..150 {
        many = many.header(format!("x-field-{i}"), "a");
    }
    let many = many.send().await.unwrap();
    for resp in [big, many] {
        assert_eq!(resp.status(), 431);
        let body: Value = resp.json().await.expect("a JSON body");
        assert_eq!(body["error"]["code"], "headers_too_large");
    }
    app.stop().await;
}

#[tokio::test]
async fn rejections_name_the_field_but_never_echo_the_value() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let (org, users, room) = care_team(&app).await;
    let room_id = room["id"].as_str().unwrap();
    let token = &users[0].1;
    let secret = "Sensitive-Value-7f3a";
    let admin = app.account("root@example.org", Role::Admin, None).await;
    let admin = app.token_for(&admin).await;

    // A JSON body: an unknown enum value, and a string where a number belongs.
    let reply = app
        .post(
            &format!("/api/v1/orgs/{org}/members"),
            Some(&admin),
            json!({ "email": "x@example.org", "role": secret }),
        )
        .await;
    reply.expect_error(422, "invalid_body");
    let message = reply.body["error"]["message"].as_str().unwrap();
    assert!(message.contains("role"), "{message}");
    assert!(!message.contains(secret), "{message}");
    let reply = app
        .post(
            &format!("/api/v1/rooms/{room_id}/messages"),
            Some(token),
            json!({ "client_id": 5, "body": { "x": secret } }),
        )
        .await;
    assert!(!reply.body.to_string().contains(secret), "{:?}", reply.body);

    // A query string.
    let reply = app
        .get(
            &format!("/api/v1/rooms/{room_id}/messages?limit={secret}"),
            Some(token),
        )
        .await;
    reply.expect_error(400, "invalid_query");
    let message = reply.body["error"]["message"].as_str().unwrap();
    assert!(message.contains("limit"), "{message}");
    assert!(!message.contains(secret), "{message}");

    // A path parameter that is not UTF-8 once decoded (the Path extractor).
    let reply = app
        .get(&format!("/api/v1/visits/{secret}%FF"), Some(token))
        .await;
    reply.expect_error(400, "bad_request");
    assert!(!reply.body.to_string().contains(secret), "{:?}", reply.body);

    // A WebSocket frame.
    let mut ws = Ws::connect(&app.base, token).await;
    let error = ws
        .request("read", json!({ "room": room_id, "offset": secret }))
        .await
        .unwrap_err();
    assert_eq!(error["code"], "invalid_request");
    let message = error["message"].as_str().unwrap();
    assert!(message.contains("offset"), "{message}");
    assert!(!message.contains(secret), "{message}");
    app.stop().await;
}

#[tokio::test]
async fn the_sqlite_database_files_are_private() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    // Writes create the write-ahead log and its index.
    app.register("someone@example.org").await;
    let db = app.db.data_dir.join("hub.db");
    for suffix in ["", "-wal", "-shm"] {
        let file = std::path::PathBuf::from(format!("{}{suffix}", db.display()));
        let mode = std::fs::metadata(&file)
            .unwrap_or_else(|e| panic!("{}: {e}", file.display()))
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{}", file.display());
    }
    app.stop().await;
}

#[tokio::test]
async fn the_openapi_document_is_the_products_and_lists_every_error() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let doc = app.get("/api/v1/openapi.json", None).await.expect(200);
    let info = &doc["info"];
    assert_eq!(info["title"], "HealthBridge hub API");
    assert_eq!(info["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(info["license"]["name"], "MIT");
    assert_eq!(info["contact"]["name"], "HealthBridge");
    assert!(
        info["description"]
            .as_str()
            .unwrap()
            .contains("HealthBridge")
    );
    assert!(doc["components"]["schemas"]["ErrorBody"].is_object());

    let error_ref = "#/components/schemas/ErrorBody";
    let (mut checked, mut with_query) = (0, 0);
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let Ok(m) = method.to_uppercase().parse::<Method>() else {
                continue;
            };
            let at = format!("{method} {path}");
            let responses = op["responses"].as_object().unwrap();
            let has = |status: &str| responses.contains_key(status);
            assert!(responses.keys().any(|s| s.starts_with('4')), "{at}: no 4xx");
            for (status, response) in responses {
                if status == "default" || status.starts_with('4') || status.starts_with('5') {
                    let schema = &response["content"]["application/json"]["schema"]["$ref"];
                    assert_eq!(schema, error_ref, "{at} {status}");
                }
            }
            let params = op["parameters"].as_array().cloned().unwrap_or_default();
            for p in params.iter().filter(|p| p["in"] == "path") {
                let name = p["name"].as_str().unwrap();
                assert!(
                    path.contains(&format!("{{{name}}}")),
                    "{at}: `{name}` is documented as a path parameter"
                );
            }
            if params.iter().any(|p| p["in"] == "path") {
                assert!(has("404"), "{at}: 404");
            }
            if params.iter().any(|p| p["in"] == "query") {
                assert!(has("400"), "{at}: 400 for the query");
                let described = responses["400"]["description"].as_str().unwrap_or_default();
                assert!(described.contains("invalid_query"), "{at}: {described}");
                with_query += 1;
            }
            if op.get("requestBody").is_some() {
                for status in ["400", "413", "415", "422"] {
                    assert!(has(status), "{at}: {status}");
                }
            }
            let rule = policy::route_rule(&m, path).expect("every route has a rule");
            if rule != policy::RouteRule::Public {
                assert!(has("401"), "{at}: 401");
            }
            assert!(has("default"), "{at}: default");
            checked += 1;
        }
    }
    assert!(checked > 50, "only {checked} operations");
    // History, slots, visits, the audit log and notifications take query parameters.
    assert!(
        with_query >= 5,
        "only {with_query} operations with query parameters"
    );
    app.stop().await;
}

#[tokio::test]
async fn the_documented_limits_are_in_the_document_and_enforced() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let doc = app.get("/api/v1/openapi.json", None).await.expect(200);
    let schemas = &doc["components"]["schemas"];
    for l in hub::http::openapi_limits::LIMITS {
        let prop = &schemas[l.schema]["properties"][l.property];
        assert!(
            prop.is_object(),
            "{}.{} is not in the document",
            l.schema,
            l.property
        );
        let max = prop.get("maxLength").or_else(|| prop.get("maxItems"));
        assert_eq!(
            max.and_then(Value::as_u64),
            Some(l.max as u64),
            "{}.{}",
            l.schema,
            l.property
        );
    }

    // One past each limit is refused.
    let long = |n: usize| "a".repeat(n);
    let pw = crate::support::PASSWORD;
    let refused = [
        (
            json!({ "email": format!("{}@example.org", long(243)), "password": pw, "display_name": "A" }),
            "invalid_email",
        ),
        (
            json!({ "email": "a@example.org", "password": format!("Zq9!{}", long(125)), "display_name": "A" }),
            "password_too_long",
        ),
        (
            json!({ "email": "a@example.org", "password": pw, "display_name": long(101) }),
            "invalid_display_name",
        ),
    ];
    for (body, code) in refused {
        app.post("/api/v1/auth/register", None, body)
            .await
            .expect_error(422, code);
    }
    let admin = app.account("root@example.org", Role::Admin, None).await;
    let admin = app.token_for(&admin).await;
    app.post("/api/v1/orgs", Some(&admin), json!({ "name": long(121) }))
        .await
        .expect_error(422, "invalid_org_name");
    let (org, users, room) = care_team(&app).await;
    let token = &users[0].1;
    app.post(
        &format!("/api/v1/orgs/{org}/rooms"),
        Some(token),
        json!({ "kind": "case", "title": long(201), "member_ids": [] }),
    )
    .await
    .expect_error(422, "invalid_title");
    let room_id = room["id"].as_str().unwrap();
    let messages = format!("/api/v1/rooms/{room_id}/messages");
    app.post(
        &messages,
        Some(token),
        json!({ "client_id": long(65), "body": "hello" }),
    )
    .await
    .expect_error(422, "invalid_client_id");
    let too_long = app
        .post(
            &messages,
            Some(token),
            json!({ "client_id": "c-1", "body": long(4001) }),
        )
        .await;
    assert_eq!(too_long.status, 422, "{:?}", too_long.body);
    app.stop().await;
}
