//! Video visits when a media worker dies: the hub runs no in-process worker and uses two
//! real `media` binaries on `tcp://`, with the placement kept in Redis. The worker serving
//! a live visit is killed: signaling answers `media_unavailable` and the visit is unharmed;
//! the worker comes back on its port and the next offer reaches it (the hub recreates the
//! room); ending the visit removes the placement. Real media between browsers is
//! `visits_browser.rs`; here offers are malformed on purpose, so the worker's answer
//! (`invalid_sdp`) proves the request got there.

use std::{
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::Duration,
};

use serde_json::{Value, json};

use crate::{
    support::{TestApp, backends, process::free_port, ws::Ws},
    visits_revoke::{Booked, book},
};

const REDIS_URL: &str = "redis://127.0.0.1:6379";

/// The `media` binary next to this test binary (cargo builds it for the workspace's
/// tests); built on demand otherwise.
fn media_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let dir = exe.parent().and_then(|d| d.parent()).expect("target dir");
    let bin = dir.join("media");
    if !bin.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let ok = Command::new(cargo)
            .args(["build", "-p", "media", "--bin", "media"])
            .status()
            .expect("cargo build media")
            .success();
        assert!(ok, "building the media binary failed");
    }
    bin
}

struct Worker {
    child: Child,
    endpoint: String,
}

impl Worker {
    fn start(port: u16) -> Self {
        let endpoint = format!("tcp://127.0.0.1:{port}");
        let child = Command::new(media_binary())
            .env("MEDIA_CONTROL", &endpoint)
            .env("MEDIA_BIND_IPS", "127.0.0.1")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("media worker starts");
        Self { child, endpoint }
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.kill();
    }
}

async fn redis_get(key: &str) -> Option<String> {
    let client = redis::Client::open(REDIS_URL).ok()?;
    let mut conn = client.get_multiplexed_async_connection().await.ok()?;
    redis::cmd("GET")
        .arg(key)
        .query_async(&mut conn)
        .await
        .ok()?
}

async fn redis_available() -> bool {
    let Ok(client) = redis::Client::open(REDIS_URL) else {
        return false;
    };
    match client.get_multiplexed_async_connection().await {
        Ok(mut c) => redis::cmd("PING")
            .query_async::<String>(&mut c)
            .await
            .is_ok(),
        Err(_) => false,
    }
}

fn code(e: Result<Value, Value>) -> String {
    e.expect_err("refused")["code"].as_str().unwrap().to_owned()
}

/// Offers malformed SDP until the answer is not `media_unavailable` (a worker that just
/// started needs a moment to bind); returns the last code.
async fn offer_code(ws: &mut Ws, visit: &str, grant: &str) -> String {
    code(
        ws.request(
            "visit_offer",
            json!({ "visit": visit, "grant": grant, "sdp": "v=0\r\nnot sdp\r\n" }),
        )
        .await,
    )
}

#[tokio::test]
async fn a_killed_media_worker_leaves_the_visit_intact_and_its_return_is_used() {
    if !redis_available().await {
        assert!(
            std::env::var("HUB_TEST_REQUIRE_SERVICES").as_deref() != Ok("1"),
            "this test needs Redis at {REDIS_URL}"
        );
        eprintln!("skipped: no Redis at {REDIS_URL}");
        return;
    }
    let backend = backends().pop().expect("a backend");
    let ports = [free_port(), free_port()];
    let mut workers: Vec<Worker> = ports.iter().map(|p| Worker::start(*p)).collect();
    let endpoints: Vec<String> = workers.iter().map(|w| w.endpoint.clone()).collect();
    let app = TestApp::spawn_with(backend, |c| {
        c.redis_url = Some(REDIS_URL.into());
        c.visits.in_process_media = false;
        c.visits.media_workers = endpoints.clone();
        c.visits.media_timeout_ms = 700;
    })
    .await;

    let Booked {
        host_token,
        visit,
        pass,
        ..
    } = book(&app).await;

    let mut doctor = Ws::connect(&app.base, &host_token).await;
    doctor.ok("visit_join", json!({ "visit": visit })).await;
    let mut patient = Ws::connect(&app.base, &pass).await;
    let me = patient.ok("visit_join", json!({ "visit": visit })).await;
    let pid = me["participant"]["id"].as_str().unwrap().to_owned();
    doctor
        .ok("visit_admit", json!({ "visit": visit, "participant": pid }))
        .await;
    let grant = patient.next_of("visit_admitted").await["grant"]
        .as_str()
        .unwrap()
        .to_owned();

    // The first offer places the visit on a worker (which refuses the SDP).
    let mut first = String::new();
    for _ in 0..20 {
        first = offer_code(&mut patient, &visit, &grant).await;
        if first != "media_unavailable" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(first, "invalid_sdp");
    let placed = redis_get(&format!("hb:visit-media:{visit}"))
        .await
        .expect("placement kept in Redis");
    let index = endpoints
        .iter()
        .position(|e| *e == placed)
        .expect("placed on one of the workers");

    // The worker dies: a clear error, and the visit is as it was.
    workers[index].kill();
    assert_eq!(
        offer_code(&mut patient, &visit, &grant).await,
        "media_unavailable"
    );
    let state = app
        .get(&format!("/api/v1/visits/{visit}"), Some(&host_token))
        .await
        .expect(200);
    assert_eq!(state["state"], "live");
    let patient_state = state["participants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == pid.as_str())
        .unwrap()["state"]
        .clone();
    assert_eq!(patient_state, "admitted");

    // It comes back on its port: the next offer reaches it (room recreated).
    workers[index] = Worker::start(ports[index]);
    let mut back = String::new();
    for _ in 0..30 {
        back = offer_code(&mut patient, &visit, &grant).await;
        if back != "media_unavailable" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(back, "invalid_sdp");
    assert_eq!(
        redis_get(&format!("hb:visit-media:{visit}")).await,
        Some(placed)
    );

    // Ending the visit closes the room and forgets the placement.
    doctor.ok("visit_end", json!({ "visit": visit })).await;
    assert_eq!(redis_get(&format!("hb:visit-media:{visit}")).await, None);
    app.stop().await;
}
