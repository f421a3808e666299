//! Video visits through the whole hub (docs/visits.md): a clinician creates a visit, the
//! patient redeems the link for a pass and waits on a pass socket, the clinician's socket
//! sees the queue and admits, both get media grants; every kind of bad input is refused
//! with its stable code and leaves the visit as it was. The media worker is the real
//! in-process one (its SDP handling answers malformed offers); real browsers exchanging
//! media are `visits_browser.rs`.

use hub::domain::Role;
use serde_json::{Value, json};

use crate::support::{TestApp, backends, ws::Ws};

struct Clinic {
    org: String,
    host: String,
    host_token: String,
    patient: String,
    patient_token: String,
    outsider_token: String,
}

async fn clinic(app: &TestApp) -> Clinic {
    let host = app
        .account("doc@visits.example", Role::Clinician, Some("Visit Clinic"))
        .await;
    let org = app.org_id("Visit Clinic").await;
    let patient = app
        .account("pat@visits.example", Role::Patient, Some("Visit Clinic"))
        .await;
    let outsider = app
        .account(
            "other@elsewhere.example",
            Role::Clinician,
            Some("Elsewhere"),
        )
        .await;
    Clinic {
        host_token: app.token_for(&host).await,
        patient_token: app.token_for(&patient).await,
        outsider_token: app.token_for(&outsider).await,
        org,
        host,
        patient,
    }
}

fn in_minutes(app: &TestApp, minutes: i64) -> String {
    hub::clock::rfc3339((app.clock_secs() + minutes * 60) * 1000)
}

fn token_of(url: &str) -> String {
    url.split_once("#t=").expect("fragment token").1.to_owned()
}

async fn create_visit(app: &TestApp, c: &Clinic) -> Value {
    app.post(
        &format!("/api/v1/orgs/{}/visits", c.org),
        Some(&c.host_token),
        json!({ "patient_id": c.patient, "scheduled_at": in_minutes(app, 10) }),
    )
    .await
    .expect(201)
}

async fn visit_state(app: &TestApp, c: &Clinic, visit: &str) -> Value {
    app.get(&format!("/api/v1/visits/{visit}"), Some(&c.host_token))
        .await
        .expect(200)
}

fn participant<'a>(visit: &'a Value, role: &str) -> &'a Value {
    visit["participants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["role"] == role)
        .expect("participant with role")
}

fn code(e: Result<Value, Value>) -> String {
    e.expect_err("refused")["code"].as_str().unwrap().to_owned()
}

/// Waits for a `visit_event` of `kind` (the event's `type`), skipping other pushes.
async fn next_event(ws: &mut Ws, kind: &str) -> Value {
    loop {
        let e = ws.next_of("visit_event").await;
        if e["event"]["type"] == kind {
            return e;
        }
    }
}

const TURN_SECRET: &str = "shared-with-coturn";

/// The STUN server as configured, and a TURN entry whose credentials coturn would accept:
/// `username = "<expiry>:<participant>"`, `credential = base64(HMAC-SHA1(secret, username))`.
fn assert_turn_credentials(ice: &Value, participant: &str) {
    use base64::Engine;
    use hmac::{Hmac, Mac};
    let servers = ice.as_array().expect("ice_servers");
    assert!(
        servers
            .iter()
            .any(|s| s["urls"][0] == "stun:stun.care.example:3478")
    );
    let turn = servers
        .iter()
        .find(|s| s["urls"][0] == "turn:turn.care.example:3478")
        .expect("a TURN server");
    let username = turn["username"].as_str().expect("username");
    let (expiry, who) = username.split_once(':').expect("expiry:participant");
    assert_eq!(who, participant);
    assert!(expiry.parse::<i64>().expect("expiry in seconds") > 0);
    let mut mac = <Hmac<sha1::Sha1> as Mac>::new_from_slice(TURN_SECRET.as_bytes()).unwrap();
    mac.update(username.as_bytes());
    let expected = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    assert_eq!(turn["credential"], expected.as_str());
}

#[tokio::test]
async fn visit_from_link_to_end_with_every_bad_input_refused() {
    for backend in backends() {
        let app = TestApp::spawn_with(backend, |c| {
            c.visits.ice = signaling::ice::IceConfig {
                stun_urls: vec!["stun:stun.care.example:3478".into()],
                turn_urls: vec!["turn:turn.care.example:3478".into()],
                turn_secret: Some(signaling::ice::TurnSecret::new(TURN_SECRET)),
                ..Default::default()
            };
        })
        .await;
        let c = clinic(&app).await;

        // Creating: bad input first, nothing is stored.
        app.post(
            &format!("/api/v1/orgs/{}/visits", c.org),
            Some(&c.host_token),
            json!({ "patient_id": c.patient, "scheduled_at": "tomorrow" }),
        )
        .await
        .expect_error(422, "invalid_time");
        app.post(
            &format!("/api/v1/orgs/{}/visits", c.org),
            Some(&c.host_token),
            json!({ "patient_id": c.host, "scheduled_at": in_minutes(&app, 10) }),
        )
        .await
        .expect_error(422, "not_a_patient");
        app.post(
            &format!("/api/v1/orgs/{}/visits", c.org),
            Some(&c.outsider_token),
            json!({ "patient_id": c.patient, "scheduled_at": in_minutes(&app, 10) }),
        )
        .await
        .expect_error(403, "forbidden");
        assert_eq!(app.count("SELECT COUNT(*) FROM visits").await, 0);

        let created = create_visit(&app, &c).await;
        let visit = created["visit"]["id"].as_str().unwrap().to_owned();
        let url = created["link"]["url"].as_str().unwrap();
        assert!(url.contains("/visit#t="), "{url}");
        assert_eq!(created["visit"]["state"], "scheduled");

        // Outsiders cannot see it; the patient's own account can.
        app.get(&format!("/api/v1/visits/{visit}"), Some(&c.outsider_token))
            .await
            .expect_error(404, "visit_not_found");
        app.get(&format!("/api/v1/visits/{visit}"), Some(&c.patient_token))
            .await
            .expect(200);

        // The link is exchanged for a pass; garbage is not.
        app.post(
            "/api/v1/visit-links/redeem",
            None,
            json!({ "token": "not-a-real-token" }),
        )
        .await
        .expect_error(401, "link_invalid");
        let redeemed = app
            .post(
                "/api/v1/visit-links/redeem",
                None,
                json!({ "token": token_of(url) }),
            )
            .await
            .expect(200);
        assert_eq!(redeemed["visit_id"], visit.as_str());
        assert_eq!(redeemed["role"], "patient");
        let pass = redeemed["pass"].as_str().unwrap().to_owned();

        // The clinician's console watches the visit.
        let mut host = Ws::connect(&app.base, &c.host_token).await;
        host.ok("notifications", json!({})).await;
        let watched = host.ok("visit_join", json!({ "visit": visit })).await;
        assert_eq!(watched["participant"]["role"], "host");
        assert_eq!(watched["visit"]["state"], "scheduled");

        // The patient's pass opens a socket for this visit only.
        let mut patient = Ws::connect(&app.base, &pass).await;
        assert_eq!(patient.welcome["visit_pass"]["visit_id"], visit.as_str());
        assert_eq!(
            code(patient.request("subscribe", json!({ "room": "any" })).await),
            "forbidden"
        );
        assert_eq!(
            code(patient.request("notifications", json!({})).await),
            "forbidden"
        );
        let other = create_visit(&app, &c).await["visit"]["id"]
            .as_str()
            .unwrap()
            .to_owned();
        assert_eq!(
            code(
                patient
                    .request("visit_join", json!({ "visit": other }))
                    .await
            ),
            "visit_not_found"
        );
        assert_eq!(
            code(
                patient
                    .request(
                        "visit_candidate",
                        json!({ "visit": other, "candidate": {"candidate": "", "sdpMid": "0"} })
                    )
                    .await
            ),
            "visit_not_found"
        );

        let joined = patient.ok("visit_join", json!({ "visit": visit })).await;
        assert_eq!(joined["participant"]["state"], "waiting");
        assert_eq!(joined["visit"]["state"], "waiting");
        let waiting = next_event(&mut host, "patient_waiting").await;
        assert_eq!(waiting["state"]["state"], "waiting");
        // Hosts also get it as a personal event (the console's queue across visits).
        let personal = host.next_of("user_event").await;
        assert_eq!(personal["kind"], "visit.patient_waiting");

        // A patient cannot admit themselves, nor enter the media session unadmitted.
        let patient_pid = participant(&joined["visit"], "patient")["id"]
            .as_str()
            .unwrap()
            .to_owned();
        assert_eq!(
            code(
                patient
                    .request(
                        "visit_admit",
                        json!({ "visit": visit, "participant": patient_pid })
                    )
                    .await
            ),
            "not_host"
        );
        assert_eq!(
            code(
                patient
                    .request("visit_end", json!({ "visit": visit }))
                    .await
            ),
            "not_host"
        );
        assert_eq!(
            code(
                patient
                    .request(
                        "visit_offer",
                        json!({ "visit": visit, "grant": "forged", "sdp": "v=0\r\n" })
                    )
                    .await
            ),
            "grant_invalid"
        );
        let still = visit_state(&app, &c, &visit).await;
        assert_eq!(still["state"], "waiting");
        assert_eq!(participant(&still, "patient")["state"], "waiting");

        // The clinician admits: the visit goes live and both get a grant.
        let admitted = host
            .ok(
                "visit_admit",
                json!({ "visit": visit, "participant": patient_pid }),
            )
            .await;
        assert_eq!(admitted["visit"]["state"], "live");
        let patient_grant = patient.next_of("visit_admitted").await;
        let host_grant = host.next_of("visit_admitted").await;
        assert!(patient_grant["grant"].as_str().unwrap().len() > 20);
        assert_turn_credentials(&patient_grant["ice_servers"], &patient_pid);
        let patient_grant = patient_grant["grant"].as_str().unwrap().to_owned();
        let host_grant = host_grant["grant"].as_str().unwrap().to_owned();

        // Bad offers: malformed SDP (refused by the media worker), someone else's
        // grant, a grant for another visit. The visit is unharmed.
        assert_eq!(
            code(
                patient
                    .request("visit_offer", json!({ "visit": visit, "grant": patient_grant, "sdp": "v=0\r\nthis is not sdp\r\n" }))
                    .await
            ),
            "invalid_sdp"
        );
        assert_eq!(
            code(
                patient
                    .request(
                        "visit_offer",
                        json!({ "visit": visit, "grant": host_grant, "sdp": "v=0\r\n" })
                    )
                    .await
            ),
            "grant_invalid"
        );
        host.ok("visit_join", json!({ "visit": other })).await;
        assert_eq!(
            code(
                host.request(
                    "visit_offer",
                    json!({ "visit": other, "grant": host_grant, "sdp": "v=0\r\n" })
                )
                .await
            ),
            "grant_invalid"
        );
        assert_eq!(
            code(
                patient
                    .request(
                        "visit_candidate",
                        json!({ "visit": visit, "candidate": {"candidate": "", "sdpMid": "0"} })
                    )
                    .await
            ),
            "not_in_session"
        );
        assert_eq!(
            code(
                patient
                    .request("visit_offer", json!({ "visit": visit, "sdp": "v=0" }))
                    .await
            ),
            "invalid_request"
        );
        let still = visit_state(&app, &c, &visit).await;
        assert_eq!(still["state"], "live");
        assert_eq!(participant(&still, "patient")["state"], "admitted");

        // An interpreter is invited; a patient cannot invite; a revoked link is dead.
        app.post(
            &format!("/api/v1/visits/{visit}/invites"),
            Some(&c.patient_token),
            json!({ "display_name": "Interpreter", "role": "guest" }),
        )
        .await
        .expect_error(403, "not_host");
        let invited = app
            .post(
                &format!("/api/v1/visits/{visit}/invites"),
                Some(&c.host_token),
                json!({ "display_name": "Ines (interpreter)", "role": "guest" }),
            )
            .await
            .expect(201);
        let guest = invited["participant_id"].as_str().unwrap();
        let guest_token = token_of(invited["link"]["url"].as_str().unwrap());
        let req = app
            .call(
                reqwest::Method::DELETE,
                &format!("/api/v1/visits/{visit}/links/{guest}"),
                Some(&c.host_token),
                None,
            )
            .await;
        assert_eq!(req.status, 204);
        app.post(
            "/api/v1/visit-links/redeem",
            None,
            json!({ "token": guest_token }),
        )
        .await
        .expect_error(401, "link_revoked");

        // The patient leaves; the clinician sees it; the clinician ends the visit.
        patient.ok("visit_leave", json!({ "visit": visit })).await;
        let left = next_event(&mut host, "participant_left").await;
        assert_eq!(participant(&left["state"], "patient")["state"], "left");
        let ended = host.ok("visit_end", json!({ "visit": visit })).await;
        assert_eq!(ended["visit"]["state"], "ended");
        app.post(
            "/api/v1/visit-links/redeem",
            None,
            json!({ "token": token_of(url) }),
        )
        .await
        .expect_error(409, "visit_ended");

        // Stored and audited.
        assert!(app.count("SELECT COUNT(*) FROM visit_events").await >= 7);
        assert!(app.audited("visit.create").await >= 2);
        assert!(app.audited("visit.link_redeem").await >= 3);
        assert!(app.audited("visit.join").await >= 2);
        app.stop().await;
    }
}

/// A pass past its time closes the socket with 4002 ("token expired": redeem the
/// link again, as docs/protocol.md says), not 4001 ("log in again"), which is
/// kept for tokens that were never valid.
#[tokio::test]
async fn an_expired_pass_is_told_to_refresh_and_a_forged_one_to_authenticate() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let c = clinic(&app).await;
        let created = create_visit(&app, &c).await;
        let url = created["link"]["url"].as_str().unwrap();
        let pass = app
            .post(
                "/api/v1/visit-links/redeem",
                None,
                json!({ "token": token_of(url) }),
            )
            .await
            .expect(200)["pass"]
            .as_str()
            .unwrap()
            .to_owned();
        Ws::connect(&app.base, &pass).await;

        app.clock
            .advance_ms((hub::visits::pass::MAX_PASS_SECS + 60) * 1000);
        assert_eq!(
            Ws::try_connect(&app.base, &pass).await.err(),
            Some(Some(4002))
        );
        // One changed character in the middle of the signature.
        let mut forged = pass.clone().into_bytes();
        let at = forged.len() - 10;
        forged[at] = if forged[at] == b'A' { b'B' } else { b'A' };
        let forged = String::from_utf8(forged).unwrap();
        assert_eq!(
            Ws::try_connect(&app.base, &forged).await.err(),
            Some(Some(4001))
        );
        app.stop().await;
    }
}
