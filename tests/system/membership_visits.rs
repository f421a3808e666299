//! Visit rights follow the organization membership (docs/architecture.md): a host
//! removed from the organization, or demoted to a role without the right, loses the
//! visit over REST and the socket at once and leaves the live visit, its media session
//! torn down at the SFU. Room rights are
//! `membership.rs`.

use hub::domain::Role;
use reqwest::Method;
use serde_json::{Value, json};

use crate::{
    membership::{code, delete, push_at_once},
    support::{TestApp, backends, ws::Ws},
};

pub struct Clinic {
    pub org: String,
    pub admin_token: String,
    pub host: String,
    pub host_token: String,
    pub patient: String,
}

pub async fn clinic(app: &TestApp) -> Clinic {
    let host = app
        .account(
            "doc@removal.example",
            Role::Clinician,
            Some("Removal Clinic"),
        )
        .await;
    let org = app.org_id("Removal Clinic").await;
    let patient = app
        .account("pat@removal.example", Role::Patient, Some("Removal Clinic"))
        .await;
    let admin = app
        .account("admin@removal.example", Role::Admin, Some("Removal Clinic"))
        .await;
    Clinic {
        host_token: app.token_for(&host).await,
        admin_token: app.token_for(&admin).await,
        org,
        host,
        patient,
    }
}

pub fn participant<'a>(visit: &'a Value, role: &str) -> &'a Value {
    visit["participants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["role"] == role)
        .expect("participant with role")
}

/// Waits for a `visit_event` of `kind`, skipping other pushes.
pub async fn next_event(ws: &mut Ws, kind: &str) -> Value {
    loop {
        let e = ws.next_of("visit_event").await;
        if e["event"]["type"] == kind {
            return e;
        }
    }
}

/// Whether the visit's media worker holds a session for `participant`.
async fn in_media_session(app: &TestApp, visit: &str, participant: &str) -> bool {
    let request = media::control::Request::Pending {
        room: visit.to_owned(),
        participant: participant.to_owned(),
    };
    match app.state.visits.media.call(visit, request).await {
        Ok(_) => true,
        Err(f) if f.code == "unknown_participant" => false,
        Err(f) => panic!("media worker: {}", f.code),
    }
}

pub async fn create_visit(app: &TestApp, org: &str, token: &str, patient: &str) -> Value {
    let at = hub::clock::rfc3339((app.clock_secs() + 600) * 1000);
    app.post(
        &format!("/api/v1/orgs/{org}/visits"),
        Some(token),
        json!({ "patient_id": patient, "scheduled_at": at }),
    )
    .await
    .expect(201)
}

/// Redeems a visit link (its URL, token in the fragment) for its pass.
pub async fn redeem(app: &TestApp, url: &str) -> String {
    let token = url.split_once("#t=").expect("token in the fragment").1;
    app.post(
        "/api/v1/visit-links/redeem",
        None,
        json!({ "token": token }),
    )
    .await
    .expect(200)["pass"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// The host watches the visit, the patient joins on `pass` and is admitted: the visit
/// is live. The host's and the patient's sockets, and the admit's answer.
pub async fn go_live(
    app: &TestApp,
    host_token: &str,
    visit: &str,
    pass: &str,
    patient_pid: &str,
) -> (Ws, Ws, Value) {
    let mut host = Ws::connect(&app.base, host_token).await;
    host.ok("visit_join", json!({ "visit": visit })).await;
    let mut patient = Ws::connect(&app.base, pass).await;
    patient.ok("visit_join", json!({ "visit": visit })).await;
    next_event(&mut host, "patient_waiting").await;
    let live = host
        .ok(
            "visit_admit",
            json!({ "visit": visit, "participant": patient_pid }),
        )
        .await;
    patient.next_of("visit_admitted").await;
    (host, patient, live)
}

/// The host's REST ways into the visit are refused as if it did not exist.
async fn refused_over_rest(app: &TestApp, visit: &str, token: &str) {
    app.get(&format!("/api/v1/visits/{visit}"), Some(token))
        .await
        .expect_error(404, "visit_not_found");
    app.post(
        &format!("/api/v1/visits/{visit}/invites"),
        Some(token),
        json!({ "display_name": "Someone", "role": "guest" }),
    )
    .await
    .expect_error(404, "visit_not_found");
}

#[tokio::test]
async fn removal_ends_every_visit_right_and_the_live_visit() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let c = clinic(&app).await;
        let created = create_visit(&app, &c.org, &c.host_token, &c.patient).await;
        let visit = created["visit"]["id"].as_str().unwrap().to_owned();
        let patient_pid = participant(&created["visit"], "patient")["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let link = created["link"]["url"].as_str().unwrap();

        // Granted: the host reads the visit, mints links, invites, lists it.
        app.get(&format!("/api/v1/visits/{visit}"), Some(&c.host_token))
            .await
            .expect(200);
        app.post(
            &format!("/api/v1/visits/{visit}/links"),
            Some(&c.host_token),
            json!({ "participant_id": patient_pid }),
        )
        .await
        .expect(201);
        app.post(
            &format!("/api/v1/visits/{visit}/invites"),
            Some(&c.host_token),
            json!({ "display_name": "Ines (interpreter)", "role": "guest" }),
        )
        .await
        .expect(201);
        let listed = app.get("/api/v1/visits", Some(&c.host_token)).await;
        assert_eq!(listed.expect(200).as_array().map(Vec::len), Some(1));

        // The visit goes live with the host in it. (The minted link replaced the
        // first one, so the patient redeems a fresh one.)
        let fresh = app
            .post(
                &format!("/api/v1/visits/{visit}/links"),
                Some(&c.host_token),
                json!({ "participant_id": patient_pid }),
            )
            .await
            .expect(201);
        assert_ne!(fresh["url"].as_str(), Some(link));
        let pass = redeem(&app, fresh["url"].as_str().unwrap()).await;
        let (mut host, mut patient, live) =
            go_live(&app, &c.host_token, &visit, &pass, &patient_pid).await;
        assert_eq!(live["visit"]["state"], "live");
        assert_eq!(participant(&live["visit"], "host")["state"], "admitted");
        let grant = host.next_of("visit_admitted").await["grant"]
            .as_str()
            .unwrap()
            .to_owned();
        // The host enters the media session with a real webrtc offer.
        let host_pid = participant(&live["visit"], "host")["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let peer = loadtest::media_peer::MediaPeer::new("host", 7)
            .await
            .expect("webrtc peer");
        let sdp = peer.offer().await.expect("offer");
        let answer = host
            .ok(
                "visit_offer",
                json!({ "visit": visit, "grant": grant, "sdp": sdp }),
            )
            .await;
        assert!(answer["sdp"].as_str().is_some_and(|a| a.starts_with("v=0")));
        assert!(
            in_media_session(&app, &visit, &host_pid).await,
            "the SFU holds the host's session"
        );

        // The admin removes the host from the organization.
        let path = format!("/api/v1/orgs/{}/members/{}", c.org, c.host);
        assert_eq!(delete(&app, &path, &c.admin_token).await, 204);

        // At once: the host's socket leaves the visit, the patient sees the host go.
        let removed = push_at_once(&mut host, "visit_removed").await;
        assert_eq!(
            (removed["visit"].as_str(), removed["reason"].as_str()),
            (Some(visit.as_str()), Some("access_ended"))
        );
        let left = next_event(&mut patient, "participant_left").await;
        assert_eq!(participant(&left["state"], "host")["state"], "left");
        assert_eq!(left["state"]["state"], "live", "the visit goes on");

        // Every other way in is refused, over REST and the socket.
        refused_over_rest(&app, &visit, &c.host_token).await;
        app.post(
            &format!("/api/v1/visits/{visit}/links"),
            Some(&c.host_token),
            json!({ "participant_id": patient_pid }),
        )
        .await
        .expect_error(404, "visit_not_found");
        let revoke = format!("/api/v1/visits/{visit}/links/{patient_pid}");
        assert_eq!(delete(&app, &revoke, &c.host_token).await, 404);
        app.post(
            &format!("/api/v1/visits/{visit}/cancel"),
            Some(&c.host_token),
            json!({}),
        )
        .await
        .expect_error(404, "visit_not_found");
        let listed = app.get("/api/v1/visits", Some(&c.host_token)).await;
        assert_eq!(listed.expect(200), json!([]));
        for (kind, fields) in [
            ("visit_join", json!({ "visit": visit })),
            (
                "visit_offer",
                json!({ "visit": visit, "grant": grant, "sdp": "v=0\r\n" }),
            ),
            ("visit_end", json!({ "visit": visit })),
            (
                "visit_media",
                json!({ "visit": visit, "audio": true, "video": true, "screen": false }),
            ),
        ] {
            assert_eq!(
                code(host.request(kind, fields).await),
                "visit_not_found",
                "{kind}"
            );
        }
        assert!(
            !in_media_session(&app, &visit, &host_pid).await,
            "the host's media session is torn down at the worker"
        );
        assert!(app.audited("visit.access_end").await >= 1);
        app.stop().await;
    }
}

/// The admin sets the host's role in the clinic.
async fn set_role(app: &TestApp, c: &Clinic, role: &str) -> u16 {
    let member = format!("/api/v1/orgs/{}/members/{}", c.org, c.host);
    let body = Some(json!({ "role": role }));
    let reply = app
        .call(Method::PUT, &member, Some(&c.admin_token), body)
        .await;
    reply.status.as_u16()
}

#[tokio::test]
async fn a_role_change_takes_host_rights_while_it_lasts() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let c = clinic(&app).await;
        let created = create_visit(&app, &c.org, &c.host_token, &c.patient).await;
        let visit = created["visit"]["id"].as_str().unwrap().to_owned();
        let mut host = Ws::connect(&app.base, &c.host_token).await;
        host.ok("visit_join", json!({ "visit": visit })).await;

        assert_eq!(set_role(&app, &c, "patient").await, 204);
        let removed = push_at_once(&mut host, "visit_removed").await;
        assert_eq!(removed["visit"], visit.as_str());
        refused_over_rest(&app, &visit, &c.host_token).await;
        assert_eq!(
            code(host.request("visit_join", json!({ "visit": visit })).await),
            "visit_not_found"
        );

        // The right follows the role: given back, it is back.
        assert_eq!(set_role(&app, &c, "clinician").await, 204);
        app.get(&format!("/api/v1/visits/{visit}"), Some(&c.host_token))
            .await
            .expect(200);
        host.ok("visit_join", json!({ "visit": visit })).await;
        app.stop().await;
    }
}
