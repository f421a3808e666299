//! The live monitor across hub processes sharing PostgreSQL and Redis: a watcher on
//! node A sees node B's sockets (B's census arrives over the bus topic `monitor`), sees
//! B as `dead` within a few heartbeats after B is killed with SIGKILL, and sees node C
//! as `left` after C shuts down cleanly (SIGTERM).

use std::{path::PathBuf, time::Duration};

use serde_json::{Value, json};

use crate::{
    cluster::{OwnRedis, services_available},
    monitor::snapshot_within,
    support::{
        Backend, TestApp,
        process::{HubProcess, node_env},
        ws::Ws,
    },
};

/// Three missed heartbeats (1 s each here), a tick, and slack for a busy machine.
const DEATH_SEEN: Duration = Duration::from_secs(15);

fn node<'a>(snapshot: &'a Value, id: &str) -> Option<&'a Value> {
    snapshot["nodes"]
        .as_array()
        .and_then(|nodes| nodes.iter().find(|n| n["id"] == id))
}

fn status_of(snapshot: &Value, id: &str) -> String {
    node(snapshot, id)
        .and_then(|n| n["status"].as_str())
        .unwrap_or("absent")
        .to_owned()
}

#[tokio::test]
async fn a_node_that_dies_or_leaves_shows_so_on_another_nodes_monitor() {
    if !services_available() {
        return;
    }
    let redis = OwnRedis::start().expect("redis-server starts");
    let redis_url = redis.url();
    let app =
        TestApp::spawn_with(Backend::Postgres, |c| c.redis_url = Some(redis_url.clone())).await;
    let root_admin = app
        .account("root@platform.test", hub::domain::Role::Admin, None)
        .await;
    let doc = app
        .account(
            "doc@clinic.test",
            hub::domain::Role::Clinician,
            Some("Clinic"),
        )
        .await;
    let mut env = node_env(&app.db.url, &redis.url());
    env.push(("HUB_GATEWAY__HEARTBEAT_SECS", "1".to_owned()));
    let dir = PathBuf::from(&app.db.data_dir);
    let a = HubProcess::start_with(&dir.join("a"), &env).await;
    let mut b = HubProcess::start_with(&dir.join("b"), &env).await;
    let mut c = HubProcess::start_with(&dir.join("c"), &env).await;

    let mut watcher = Ws::connect(&a.base, &app.token_for(&root_admin).await).await;
    watcher.ok("monitor", json!({})).await;
    let doc_token = app.token_for(&doc).await;
    let on_b = Ws::connect(&b.base, &doc_token).await;
    let b_id = on_b.welcome["node"].as_str().unwrap().to_owned();
    let on_c = Ws::connect(&c.base, &doc_token).await;
    let c_id = on_c.welcome["node"].as_str().unwrap().to_owned();
    drop(on_c);

    // B's clinician socket shows on A's monitor, in B's row.
    let seen = snapshot_within(&mut watcher, DEATH_SEEN, "B's clinician", |s| {
        node(s, &b_id).is_some_and(|n| n["sockets"]["clinician"] == 1)
            && matches!(status_of(s, &b_id).as_str(), "up" | "joining")
            && matches!(status_of(s, &c_id).as_str(), "up" | "joining")
    })
    .await;
    assert_eq!(
        seen["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|n| n["this_node"] == true)
            .count(),
        1
    );

    // B dies without a word.
    b.signal("-KILL");
    let _ = b.wait(Duration::from_secs(5)).await;
    let dead = snapshot_within(&mut watcher, DEATH_SEEN, "B dead", |s| {
        status_of(s, &b_id) == "dead"
    })
    .await;
    assert!(
        dead["alerts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["kind"] == "node_dead" && a["node"] == b_id.as_str()),
        "a dead node is an alert: {dead}"
    );
    assert_eq!(node(&dead, &b_id).unwrap()["sockets"], Value::Null);

    // C shuts down cleanly: it left, it did not die.
    c.signal("-TERM");
    assert!(c.wait(Duration::from_secs(20)).await, "C exits cleanly");
    snapshot_within(&mut watcher, DEATH_SEEN, "C left", |s| {
        status_of(s, &c_id) == "left"
    })
    .await;
    drop(on_b);
    drop(a);
    app.stop().await;
}
