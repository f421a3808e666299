//! An account disabled through one node's REST API loses its open socket on
//! another node within a second (the session notice travels over Redis).

use std::{path::PathBuf, time::Instant};

use serde_json::json;

use crate::{
    accounts_disable::closed_at_once,
    cluster::{OwnRedis, services_available},
    support::{
        Backend, TestApp,
        process::{HubProcess, node_env},
        ws::Ws,
    },
};

#[tokio::test]
async fn disabling_an_account_on_one_node_closes_its_socket_on_another() {
    if !services_available() {
        return;
    }
    let redis = OwnRedis::start().expect("redis-server starts");
    let redis_url = redis.url();
    let app =
        TestApp::spawn_with(Backend::Postgres, |c| c.redis_url = Some(redis_url.clone())).await;
    let op = app
        .account("op@hub.test", hub::domain::Role::Admin, None)
        .await;
    let op_token = app.token_for(&op).await;
    let user = app.register("pat@example.test").await;
    let token = app.token_for(&user).await;
    let env = node_env(&app.db.url, &redis.url());
    let root = PathBuf::from(&app.db.data_dir);
    let a = HubProcess::start_with(&root.join("a"), &env).await;
    let b = HubProcess::start_with(&root.join("b"), &env).await;

    let mut wb = Ws::connect(&b.base, &token).await;
    wb.ok("ping", json!({})).await;
    let since = Instant::now();
    let disabled = reqwest::Client::new()
        .post(format!("{}/api/v1/admin/users/{user}/disable", a.base))
        .bearer_auth(&op_token)
        .send()
        .await
        .expect("request");
    assert_eq!(disabled.status(), 204);
    assert_eq!(closed_at_once(&mut wb, since).await, Some(4003));
    drop((a, b));
    app.stop().await;
}
