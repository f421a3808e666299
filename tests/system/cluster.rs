//! Several `hub` processes sharing PostgreSQL and Redis: clients on different
//! nodes see every message exactly once, in order, also when a node is killed
//! with SIGKILL or Redis restarts in the middle of the traffic; and a removal from
//! an organization on one node ends the access of a socket on another.

use std::{
    collections::HashSet,
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use serde_json::json;

use crate::{
    live::care_team,
    membership::{AT_ONCE, next_frame_by, no_event_for_a_second},
    support::{
        Backend, TestApp,
        process::{HubProcess, free_port, node_env},
        resilient::Peer,
        ws::Ws,
    },
};

/// Peers per test and messages each publishes.
const PEERS: usize = 6;
const MESSAGES: usize = 60;

/// Which fault to inject while the peers publish.
#[derive(Clone, Copy, PartialEq)]
enum Fault {
    None,
    KillNode,
    RestartRedis,
}

/// A Redis server of the test's own, so restarting it disturbs nothing else.
pub struct OwnRedis {
    port: u16,
    child: Option<Child>,
}

impl OwnRedis {
    pub fn start() -> Option<Self> {
        let mut redis = Self {
            port: free_port(),
            child: None,
        };
        redis.spawn().then_some(redis)
    }

    fn spawn(&mut self) -> bool {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let Ok(child) = child else { return false };
        self.child = Some(child);
        for _ in 0..50 {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        false
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        self.kill();
    }
}

/// PostgreSQL and a Redis server are needed; without them the test is skipped,
/// or fails under `HUB_TEST_REQUIRE_SERVICES=1`.
pub fn services_available() -> bool {
    let have_pg = std::env::var("HUB_TEST_DATABASE_URL").is_ok();
    let have_redis = Command::new("redis-server")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if have_pg && have_redis {
        return true;
    }
    assert!(
        std::env::var("HUB_TEST_REQUIRE_SERVICES").as_deref() != Ok("1"),
        "cluster tests need HUB_TEST_DATABASE_URL and redis-server"
    );
    eprintln!("skipped cluster test: needs HUB_TEST_DATABASE_URL and redis-server");
    false
}

async fn run(fault: Fault) {
    if !services_available() {
        return;
    }
    let mut redis = OwnRedis::start().expect("redis-server starts");
    // An in-process node for setup (accounts, room) on the shared database.
    let redis_url = redis.url();
    let app =
        TestApp::spawn_with(Backend::Postgres, |c| c.redis_url = Some(redis_url.clone())).await;
    let (_, users, room) = care_team(&app).await;
    let room_id = room["id"].as_str().unwrap().to_owned();
    let mut env = node_env(&app.db.url, &redis.url());
    env.extend([
        ("HUB_GATEWAY__MESSAGES_PER_SECOND", "1000".to_owned()),
        ("HUB_GATEWAY__HEARTBEAT_SECS", "1".to_owned()),
    ]);
    let root = PathBuf::from(&app.db.data_dir);
    let mut nodes = Vec::new();
    for n in 0..3 {
        nodes.push(HubProcess::start_with(&root.join(format!("node{n}")), &env).await);
    }
    let bases: Vec<String> = nodes.iter().map(|n| n.base.clone()).collect();

    // Peers on every node, each publishing steadily.
    let mut peers = Vec::new();
    for i in 0..PEERS {
        let (_, token) = &users[i % 2];
        let mut peer = Peer::new(&format!("peer{i}"), bases.clone(), i % 3, token, &room_id);
        peer.connect().await;
        peers.push(peer);
    }
    let tasks: Vec<_> = peers
        .into_iter()
        .enumerate()
        .map(|(i, mut peer)| {
            tokio::spawn(async move {
                for n in 0..MESSAGES {
                    peer.publish(&format!("p{i}-{n}"), &format!("note {n} from {i}"))
                        .await;
                    tokio::time::sleep(Duration::from_millis(40)).await;
                }
                peer
            })
        })
        .collect();

    tokio::time::sleep(Duration::from_millis(400)).await;
    // The fault must land in the middle of the traffic, or it proves nothing.
    assert!(
        tasks.iter().all(|t| !t.is_finished()),
        "traffic ended before the fault"
    );
    match fault {
        Fault::None => {}
        Fault::KillNode => nodes[0].signal("-KILL"),
        Fault::RestartRedis => {
            redis.kill();
            tokio::time::sleep(Duration::from_millis(1000)).await;
            assert!(redis.spawn(), "redis-server restarts");
        }
    }
    assert!(
        tasks.iter().any(|t| !t.is_finished()),
        "traffic ended during the fault"
    );

    let total = (PEERS * MESSAGES) as i64;
    let expected: HashSet<String> = (0..PEERS)
        .flat_map(|i| (0..MESSAGES).map(move |n| format!("p{i}-{n}")))
        .collect();
    let mut reconnects = 0;
    for task in tasks {
        let mut peer = task.await.expect("peer task");
        peer.pump_until(total, Duration::from_secs(60)).await;
        peer.assert_exactly_once(&expected);
        reconnects += peer.reconnects;
    }
    if fault == Fault::KillNode {
        assert!(
            reconnects >= 2,
            "the killed node's peers reconnected elsewhere"
        );
    }
    assert_eq!(
        app.count("SELECT COUNT(*) FROM room_events WHERE kind = 'message'")
            .await,
        total,
        "every message stored exactly once"
    );
    drop(nodes);
    app.stop().await;
}

#[tokio::test]
async fn three_nodes_deliver_every_message_once_in_order() {
    run(Fault::None).await;
}

#[tokio::test]
async fn a_killed_node_loses_nothing() {
    run(Fault::KillNode).await;
}

#[tokio::test]
async fn a_redis_restart_loses_nothing() {
    run(Fault::RestartRedis).await;
}

#[tokio::test]
async fn presence_follows_users_across_nodes_and_expires_with_a_dead_node() {
    if !services_available() {
        return;
    }
    let redis = OwnRedis::start().expect("redis-server starts");
    let redis_url = redis.url();
    let app =
        TestApp::spawn_with(Backend::Postgres, |c| c.redis_url = Some(redis_url.clone())).await;
    let (_, users, room) = care_team(&app).await;
    let room_id = room["id"].as_str().unwrap();
    let mut env = node_env(&app.db.url, &redis.url());
    env.push(("HUB_GATEWAY__HEARTBEAT_SECS", "1".to_owned()));
    let root = PathBuf::from(&app.db.data_dir);
    let a = HubProcess::start_with(&root.join("a"), &env).await;
    let mut b = HubProcess::start_with(&root.join("b"), &env).await;
    let mut wa = crate::support::ws::Ws::connect(&a.base, &users[0].1).await;
    wa.ok("subscribe", json!({ "room": room_id })).await;
    let mut wb = crate::support::ws::Ws::connect(&b.base, &users[1].1).await;
    wb.ok("subscribe", json!({ "room": room_id })).await;
    loop {
        let p = wa.next_of("presence").await;
        if p["user_id"] == users[1].0.as_str() && p["status"] == "online" {
            break;
        }
    }
    let present = wa.ok("presence", json!({ "room": room_id })).await;
    assert_eq!(present["users"].as_array().map(Vec::len), Some(2));
    // Node b dies without a word: its user goes offline within a few heartbeats.
    b.signal("-KILL");
    let _ = b.wait(Duration::from_secs(5)).await;
    loop {
        let p = wa.next_of("presence").await;
        if p["user_id"] == users[1].0.as_str() && p["status"] == "offline" {
            break;
        }
    }
    let present = wa.ok("presence", json!({ "room": room_id })).await;
    assert_eq!(present["users"], json!([users[0].0]));
    app.stop().await;
}

/// Rights follow the organization membership on every node: a clinician's socket on
/// node B is subscribed to a case room and watches a visit they host; an admin removes
/// them through node A's REST API. Within a second node B's socket is unsubscribed
/// from the room and removed from the visit, and nothing more reaches it.
#[tokio::test]
async fn a_removal_on_one_node_ends_access_on_another() {
    if !services_available() {
        return;
    }
    let redis = OwnRedis::start().expect("redis-server starts");
    let redis_url = redis.url();
    let app =
        TestApp::spawn_with(Backend::Postgres, |c| c.redis_url = Some(redis_url.clone())).await;
    let (org, users, room) = care_team(&app).await;
    let room_id = room["id"].as_str().unwrap().to_owned();
    let admin = app
        .account(
            "admin@clinic.test",
            hub::domain::Role::Admin,
            Some("Clinic"),
        )
        .await;
    let admin_token = app.token_for(&admin).await;
    let env = node_env(&app.db.url, &redis.url());
    let root = PathBuf::from(&app.db.data_dir);
    let a = HubProcess::start_with(&root.join("a"), &env).await;
    let b = HubProcess::start_with(&root.join("b"), &env).await;
    let (stays, leaves, patient) = (&users[0], &users[1], &users[2]);
    let http = reqwest::Client::new();

    let at = hub::clock::rfc3339((app.clock_secs() + 600) * 1000);
    let created = http
        .post(format!("{}/api/v1/orgs/{org}/visits", a.base))
        .bearer_auth(&leaves.1)
        .json(&json!({ "patient_id": patient.0, "scheduled_at": at }))
        .send()
        .await
        .expect("request");
    assert_eq!(created.status(), 201);
    let visit = created.json::<serde_json::Value>().await.unwrap()["visit"]["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let mut watcher = Ws::connect(&a.base, &stays.1).await;
    watcher.ok("subscribe", json!({ "room": room_id })).await;
    let mut wb = Ws::connect(&b.base, &leaves.1).await;
    wb.ok("subscribe", json!({ "room": room_id })).await;
    wb.ok("visit_join", json!({ "visit": visit })).await;

    let removed = http
        .delete(format!("{}/api/v1/orgs/{org}/members/{}", a.base, leaves.0))
        .bearer_auth(&admin_token)
        .send()
        .await
        .expect("request");
    assert_eq!(removed.status(), 204);

    // Both ends arrive on node B within a second, in either order.
    let deadline = Instant::now() + AT_ONCE;
    let mut seen = HashSet::new();
    for p in wb.take_pushes() {
        seen.insert(p["type"].as_str().unwrap_or_default().to_owned());
    }
    while !(seen.contains("unsubscribed") && seen.contains("visit_removed")) {
        match next_frame_by(&mut wb, deadline).await {
            Ok(Some(frame)) => {
                seen.insert(frame["type"].as_str().unwrap_or_default().to_owned());
            }
            other => panic!("node B was not told within {AT_ONCE:?}: {other:?}, saw {seen:?}"),
        }
    }

    // A message sent through node A reaches A's member, not B's removed socket.
    let sent = http
        .post(format!("{}/api/v1/rooms/{room_id}/messages", a.base))
        .bearer_auth(&stays.1)
        .json(&json!({ "client_id": "after-1", "body": "Plan agreed" }))
        .send()
        .await
        .expect("request");
    assert_eq!(sent.status(), 201);
    watcher.next_of("event").await;
    no_event_for_a_second(&mut wb).await;
    let refused = wb
        .request(
            "publish",
            json!({ "room": room_id, "client_id": "after-2", "body": "x" }),
        )
        .await
        .expect_err("refused");
    assert_eq!(refused["code"], "room_not_found");
    let refused = wb
        .request("visit_join", json!({ "visit": visit }))
        .await
        .expect_err("refused");
    assert_eq!(refused["code"], "visit_not_found");
    drop((a, b));
    app.stop().await;
}
