//! A visit pass ends the moment its link is revoked or replaced, or its visit is cancelled
//! or ended (docs/visits.md, "Revoking a link"): every socket using it, on every node, is
//! closed with 4003 within a second, its media session is gone from the worker, the host
//! sees the participant leave, and nothing the pass asks is answered any more, not even
//! in the moment before the close.

use std::time::{Duration, Instant};

use hub::domain::Role;
use media::control::Request as MediaRequest;
use serde_json::{Value, json};

use crate::support::{
    Backend, TestApp, backends,
    process::{HubProcess, node_env},
    ws::Ws,
};

/// The promise: a revoked socket is closed within this.
const AT_ONCE: Duration = Duration::from_secs(1);

/// A well-formed WebRTC offer (one Opus m-line, mid `0`): enough for the media worker to
/// answer and hold a session for the participant. No ICE ever completes; none is needed.
const OFFER: &str = "v=0\r\n\
o=- 4611731400430051336 2 IN IP4 127.0.0.1\r\n\
s=-\r\n\
t=0 0\r\n\
a=group:BUNDLE 0\r\n\
a=msid-semantic: WMS\r\n\
m=audio 9 UDP/TLS/RTP/SAVPF 111\r\n\
c=IN IP4 0.0.0.0\r\n\
a=rtcp:9 IN IP4 0.0.0.0\r\n\
a=ice-ufrag:rvk1\r\n\
a=ice-pwd:revocationtestpassword1\r\n\
a=ice-options:trickle\r\n\
a=fingerprint:sha-256 6B:8B:5D:EA:59:04:20:23:29:C8:87:1C:CC:87:32:BE:DD:8C:66:A5:8E:50:55:EA:8C:D3:B6:5C:09:5E:E6:BC\r\n\
a=setup:actpass\r\n\
a=mid:0\r\n\
a=sendrecv\r\n\
a=rtcp-mux\r\n\
a=rtpmap:111 opus/48000/2\r\n\
a=fmtp:111 minptime=10;useinbandfec=1\r\n";

pub struct Booked {
    pub host_token: String,
    pub visit: String,
    pub pass: String,
    /// The patient's participant id.
    pub patient: String,
}

fn token_of(url: &str) -> String {
    url.split_once("#t=").expect("fragment token").1.to_owned()
}

async fn redeem(app_base: &str, url: &str) -> String {
    let reply = reqwest::Client::new()
        .post(format!("{app_base}/api/v1/visit-links/redeem"))
        .json(&json!({ "token": token_of(url) }))
        .send()
        .await
        .expect("redeem");
    assert_eq!(reply.status(), 200);
    let body: Value = reply.json().await.expect("JSON");
    body["pass"].as_str().expect("pass").to_owned()
}

/// A clinician books a visit for a patient without an account; the link is redeemed.
pub async fn book(app: &TestApp) -> Booked {
    let host = app
        .account("doc@revoke.example", Role::Clinician, Some("Revoke Clinic"))
        .await;
    let org = app.org_id("Revoke Clinic").await;
    let host_token = app.token_for(&host).await;
    let created = app
        .post(
            &format!("/api/v1/orgs/{org}/visits"),
            Some(&host_token),
            json!({ "patient_name": "Ana Silva",
                    "scheduled_at": hub::clock::rfc3339((app.clock_secs() + 300) * 1000) }),
        )
        .await
        .expect(201);
    let visit = created["visit"]["id"].as_str().unwrap().to_owned();
    let patient = created["visit"]["participants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["role"] == "patient")
        .expect("a patient")["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let pass = redeem(&app.base, created["link"]["url"].as_str().unwrap()).await;
    Booked {
        host_token,
        visit,
        pass,
        patient,
    }
}

fn code(e: Result<Value, Value>) -> String {
    e.expect_err("refused")["code"].as_str().unwrap().to_owned()
}

/// Waits for a `visit_event` of `kind`, skipping other pushes.
async fn next_event(ws: &mut Ws, kind: &str) -> Value {
    loop {
        let e = ws.next_of("visit_event").await;
        if e["event"]["type"] == kind {
            return e;
        }
    }
}

fn state_of(event: &Value, participant: &str) -> String {
    event["state"]["participants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == participant)
        .expect("participant in the pushed state")["state"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// The close code the server sends within [`AT_ONCE`] (`None`: it did not close in time).
async fn closed_at_once(ws: &mut Ws) -> Option<u16> {
    tokio::time::timeout(AT_ONCE, ws.close_code())
        .await
        .ok()
        .flatten()
}

/// The patient waits, the host (on `host`) admits, the patient enters the media session.
/// Returns the patient's grant.
async fn admit_into_session(host: &mut Ws, patient: &mut Ws, b: &Booked) -> String {
    patient.ok("visit_join", json!({ "visit": b.visit })).await;
    next_event(host, "patient_waiting").await;
    host.ok(
        "visit_admit",
        json!({ "visit": b.visit, "participant": b.patient }),
    )
    .await;
    let grant = patient.next_of("visit_admitted").await["grant"]
        .as_str()
        .unwrap()
        .to_owned();
    let answer = patient
        .ok(
            "visit_offer",
            json!({ "visit": b.visit, "grant": grant, "sdp": OFFER }),
        )
        .await;
    assert!(answer["sdp"].as_str().unwrap().contains("a=mid:0"));
    // The SFU's trickled candidates come as docs/visits.md shows them, naming the m-line
    // of the answer (mid `0`), not `sdpMid: ""`.
    let signal = patient.next_of("visit_signal").await;
    assert_eq!(signal["visit"], b.visit.as_str());
    let candidate = &signal["candidate"];
    assert!(
        candidate["candidate"]
            .as_str()
            .unwrap()
            .starts_with("candidate:")
    );
    assert_eq!(
        (&candidate["sdpMid"], &candidate["sdpMLineIndex"]),
        (&json!("0"), &json!(0)),
        "{signal}"
    );
    grant
}

/// What the media worker says about the patient's session: `Ok` while it holds one, the
/// worker's code (`unknown_participant`, `unknown_room`) once it is gone.
async fn worker_session(app: &TestApp, b: &Booked) -> Result<(), String> {
    let request = MediaRequest::Pending {
        room: b.visit.clone(),
        participant: b.patient.clone(),
    };
    app.state
        .visits
        .media
        .call(&b.visit, request)
        .await
        .map(|_| ())
        .map_err(|f| f.code)
}

async fn delete(base: &str, path: &str, token: &str) -> u16 {
    reqwest::Client::new()
        .delete(format!("{base}/api/v1{path}"))
        .bearer_auth(token)
        .send()
        .await
        .expect("DELETE")
        .status()
        .as_u16()
}

async fn post(base: &str, path: &str, token: &str, body: Value) -> (u16, Value) {
    let reply = reqwest::Client::new()
        .post(format!("{base}/api/v1{path}"))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .expect("POST");
    let status = reply.status().as_u16();
    (status, reply.json().await.unwrap_or(Value::Null))
}

/// The host mints the patient a new link on `base`; redeemed, it joins the waiting
/// room, and the grant of the revoked pass does not let it into the media session.
async fn back_with_a_new_link(base: &str, b: &Booked, old_grant: &str) -> Ws {
    let links = format!("/visits/{}/links", b.visit);
    let body = json!({ "participant_id": b.patient });
    let (status, link) = post(base, &links, &b.host_token, body).await;
    assert_eq!(status, 201);
    let second = redeem(base, link["url"].as_str().unwrap()).await;
    let mut patient = Ws::connect(base, &second).await;
    let joined = patient.ok("visit_join", json!({ "visit": b.visit })).await;
    assert_eq!(joined["participant"]["state"], "waiting");
    let offer = json!({ "visit": b.visit, "grant": old_grant, "sdp": OFFER });
    assert_eq!(
        code(patient.request("visit_offer", offer).await),
        "not_admitted"
    );
    patient
}

#[tokio::test]
async fn revoking_or_replacing_a_link_closes_its_pass_socket_at_once() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let b = book(&app).await;
        let mut host = Ws::connect(&app.base, &b.host_token).await;
        host.ok("visit_join", json!({ "visit": b.visit })).await;
        let mut patient = Ws::connect(&app.base, &b.pass).await;
        let grant = admit_into_session(&mut host, &mut patient, &b).await;
        assert_eq!(worker_session(&app, &b).await, Ok(()));

        // Revoked: closed with 4003 within a second, media gone, the host sees the leave.
        let path = format!("/visits/{}/links/{}", b.visit, b.patient);
        assert_eq!(delete(&app.base, &path, &b.host_token).await, 204);
        assert_eq!(closed_at_once(&mut patient).await, Some(4003));
        let left = next_event(&mut host, "participant_left").await;
        assert_eq!(state_of(&left, &b.patient), "left");
        assert_eq!(
            worker_session(&app, &b).await,
            Err("unknown_participant".into())
        );
        // The pass opens nothing any more.
        assert_eq!(
            Ws::try_connect(&app.base, &b.pass).await.err(),
            Some(Some(4003))
        );

        // A replacement link works; the old grant does not let its holder back into the
        // session (they left, and must be admitted again).
        let mut patient = back_with_a_new_link(&app.base, &b, &grant).await;
        next_event(&mut host, "patient_waiting").await;

        // Replacing the link again ends the socket using the one it replaces.
        let (status, _) = post(
            &app.base,
            &format!("/visits/{}/links", b.visit),
            &b.host_token,
            json!({ "participant_id": b.patient }),
        )
        .await;
        assert_eq!(status, 201);
        assert_eq!(closed_at_once(&mut patient).await, Some(4003));
        let left = next_event(&mut host, "participant_left").await;
        assert_eq!(state_of(&left, &b.patient), "left");
        app.stop().await;
    }
}

#[tokio::test]
async fn a_revoked_pass_gets_no_answer_even_before_its_close_arrives() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let b = book(&app).await;
    // Two sockets on the pass, each to ask one thing after the revocation.
    let mut pinging = Ws::connect(&app.base, &b.pass).await;
    let mut joining = Ws::connect(&app.base, &b.pass).await;
    pinging.ok("ping", json!({})).await;
    // Revoked in the database only, as if the announcement were still on its way.
    let mut tx = app.state.store.begin_write().await.unwrap();
    let revoked = hub::store::visits::revoke_links(&mut tx, &b.visit, &b.patient, 1)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(revoked, 1);
    for (ws, kind, fields) in [
        (&mut pinging, "ping", json!({})),
        (&mut joining, "visit_join", json!({ "visit": b.visit })),
    ] {
        let answer = ws.request(kind, fields).await;
        assert_eq!(
            answer.expect_err(kind)["code"],
            "closed",
            "{kind} was answered"
        );
        assert_eq!(ws.close_code().await, Some(4003));
    }
    app.stop().await;
}

/// A link that expires (without a revocation, so no announcement) ends its pass too: the
/// check before each frame reads the link's expiry, on either database.
#[tokio::test]
async fn an_expired_link_gets_no_answer() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let b = book(&app).await;
        let mut ws = Ws::connect(&app.base, &b.pass).await;
        ws.ok("ping", json!({})).await;
        sqlx::query("UPDATE visit_links SET expires_at = $1 WHERE visit_id = $2")
            .bind(app.state.clock.now_ms())
            .bind(&b.visit)
            .execute(app.state.store.pool())
            .await
            .unwrap();
        let answer = ws.request("ping", json!({})).await;
        assert_eq!(answer.expect_err("ping")["code"], "closed");
        assert_eq!(ws.close_code().await, Some(4003));
        app.stop().await;
    }
}

#[tokio::test]
async fn cancelling_or_ending_a_visit_closes_its_pass_sockets() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;

        // Cancelled while the patient waits: the page first learns why, then the close.
        let b = book(&app).await;
        let mut patient = Ws::connect(&app.base, &b.pass).await;
        patient.ok("visit_join", json!({ "visit": b.visit })).await;
        let cancel = format!("/visits/{}/cancel", b.visit);
        let cancelled_at = Instant::now();
        let (status, _) = post(&app.base, &cancel, &b.host_token, json!({})).await;
        assert_eq!(status, 200);
        let last = next_event(&mut patient, "cancelled").await;
        assert_eq!(last["state"]["state"], "cancelled");
        assert_eq!(closed_at_once(&mut patient).await, Some(4003));
        assert!(cancelled_at.elapsed() < AT_ONCE);
        assert_eq!(
            Ws::try_connect(&app.base, &b.pass).await.err(),
            Some(Some(4003))
        );

        // Cancelled before the patient joined: closed all the same.
        let b = book(&app).await;
        let mut patient = Ws::connect(&app.base, &b.pass).await;
        let cancel = format!("/visits/{}/cancel", b.visit);
        let (status, _) = post(&app.base, &cancel, &b.host_token, json!({})).await;
        assert_eq!(status, 200);
        assert_eq!(closed_at_once(&mut patient).await, Some(4003));

        // Ended while the patient is in the media session.
        let b = book(&app).await;
        let mut host = Ws::connect(&app.base, &b.host_token).await;
        host.ok("visit_join", json!({ "visit": b.visit })).await;
        let mut patient = Ws::connect(&app.base, &b.pass).await;
        admit_into_session(&mut host, &mut patient, &b).await;
        let ended_at = Instant::now();
        host.ok("visit_end", json!({ "visit": b.visit })).await;
        next_event(&mut patient, "ended").await;
        assert_eq!(closed_at_once(&mut patient).await, Some(4003));
        assert!(ended_at.elapsed() < AT_ONCE);
        assert!(
            worker_session(&app, &b).await.is_err(),
            "media session gone"
        );
        assert_eq!(
            Ws::try_connect(&app.base, &b.pass).await.err(),
            Some(Some(4003))
        );
        app.stop().await;
    }
}

/// PostgreSQL and Redis are needed; without them the test is skipped, or fails under
/// `HUB_TEST_REQUIRE_SERVICES=1`.
fn cluster_services() -> Option<String> {
    match (
        std::env::var("HUB_TEST_DATABASE_URL"),
        std::env::var("HUB_TEST_REDIS_URL"),
    ) {
        (Ok(_), Ok(redis)) => Some(redis),
        _ => {
            assert!(
                std::env::var("HUB_TEST_REQUIRE_SERVICES").as_deref() != Ok("1"),
                "this test needs HUB_TEST_DATABASE_URL and HUB_TEST_REDIS_URL"
            );
            eprintln!("skipped: needs HUB_TEST_DATABASE_URL and HUB_TEST_REDIS_URL");
            None
        }
    }
}

/// Node B is the in-process hub holding the patient's pass socket and its media session;
/// node A is a `hub serve` process on the same PostgreSQL and Redis, where the host
/// watches and revokes.
#[tokio::test]
async fn a_link_revoked_on_one_node_closes_its_socket_on_another() {
    let Some(redis) = cluster_services() else {
        return;
    };
    let node_b =
        TestApp::spawn_with(Backend::Postgres, |c| c.redis_url = Some(redis.clone())).await;
    let env = node_env(&node_b.db.url, &redis);
    let node_a = HubProcess::start_with(&node_b.db.data_dir.join("node-a"), &env).await;
    let b = book(&node_b).await;

    let mut host = Ws::connect(&node_a.base, &b.host_token).await;
    host.ok("visit_join", json!({ "visit": b.visit })).await;
    let mut patient = Ws::connect(&node_b.base, &b.pass).await;
    assert_ne!(host.welcome["node"], patient.welcome["node"]);
    let grant = admit_into_session(&mut host, &mut patient, &b).await;
    assert_eq!(worker_session(&node_b, &b).await, Ok(()));

    let path = format!("/visits/{}/links/{}", b.visit, b.patient);
    let revoked_at = Instant::now();
    assert_eq!(delete(&node_a.base, &path, &b.host_token).await, 204);
    assert_eq!(closed_at_once(&mut patient).await, Some(4003));
    let left = next_event(&mut host, "participant_left").await;
    assert_eq!(state_of(&left, &b.patient), "left");
    assert!(
        revoked_at.elapsed() < 2 * AT_ONCE,
        "the host saw the leave after {:?}",
        revoked_at.elapsed()
    );
    assert_eq!(
        worker_session(&node_b, &b).await,
        Err("unknown_participant".into())
    );
    for base in [&node_a.base, &node_b.base] {
        assert_eq!(Ws::try_connect(base, &b.pass).await.err(), Some(Some(4003)));
    }

    // Back with a new link on node A: waiting again, and the old grant opens nothing.
    back_with_a_new_link(&node_a.base, &b, &grant).await;
    drop(node_a);
    node_b.stop().await;
}
