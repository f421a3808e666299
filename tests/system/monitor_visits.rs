//! Visits on the live monitor: a scheduled visit is counted, a patient waiting on a
//! visit pass shows with their waiting time (which grows with the clock, and raises
//! `long_wait` past ten minutes), the pass socket counts as a guest pass and may not
//! watch, admitting makes the visit live, and media figures shared on the bus show
//! as each participant's connection quality.

use std::time::Duration;

use hub::domain::Role;
use serde_json::{Value, json};

use crate::{
    monitor::{snapshot_where, this_node},
    support::{TestApp, backends, ws::Ws},
};

fn first_open(snapshot: &Value) -> &Value {
    &snapshot["visits"]["open"][0]
}

fn patient_of(visit: &Value) -> &Value {
    visit["participants"]
        .as_array()
        .and_then(|ps| ps.iter().find(|p| p["role"] == "patient"))
        .unwrap_or(&Value::Null)
}

#[tokio::test]
async fn a_waiting_patient_shows_with_the_wait_and_the_visit_with_its_quality() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let admin = app
            .account("admin@visits.test", Role::Admin, Some("Visit Clinic"))
            .await;
        let org = app.org_id("Visit Clinic").await;
        let host = app
            .account("doc@visits.test", Role::Clinician, Some("Visit Clinic"))
            .await;
        let patient = app
            .account("pat@visits.test", Role::Patient, Some("Visit Clinic"))
            .await;
        let host_token = app.token_for(&host).await;

        let mut watcher = Ws::connect(&app.base, &app.token_for(&admin).await).await;
        watcher.ok("monitor", json!({ "org": org })).await;

        let at = hub::clock::rfc3339((app.clock_secs() + 600) * 1000);
        let created = app
            .post(
                &format!("/api/v1/orgs/{org}/visits"),
                Some(&host_token),
                json!({ "patient_id": patient, "scheduled_at": at }),
            )
            .await
            .expect(201);
        let visit = created["visit"]["id"].as_str().unwrap().to_owned();
        snapshot_where(&mut watcher, "one scheduled visit", |s| {
            s["visits"]["counts"]["scheduled"] == 1
        })
        .await;

        // The patient opens the link: a visit pass socket, counted as a guest pass,
        // which may not watch the monitor.
        let url = created["link"]["url"].as_str().unwrap();
        let token = url.split_once("#t=").unwrap().1;
        let redeemed = app
            .post(
                "/api/v1/visit-links/redeem",
                None,
                json!({ "token": token }),
            )
            .await
            .expect(200);
        let mut pass = Ws::connect(&app.base, redeemed["pass"].as_str().unwrap()).await;
        let refused = pass
            .request("monitor", json!({}))
            .await
            .expect_err("refused");
        assert_eq!(refused["code"], "forbidden");
        let joined = pass.ok("visit_join", json!({ "visit": visit })).await;
        assert_eq!(joined["visit"]["state"], "waiting");

        let waiting = snapshot_where(&mut watcher, "a waiting patient", |s| {
            s["visits"]["counts"]["waiting"] == 1 && this_node(s, "guest_pass") == 1
        })
        .await;
        let open = first_open(&waiting);
        assert_eq!(open["id"], visit.as_str());
        assert_eq!(open["state"], "waiting");
        assert_eq!(patient_of(open)["state"], "waiting");
        assert_eq!(patient_of(open)["waiting_secs"], 0);
        assert!(
            !waiting.to_string().contains("Test Person"),
            "no names on the monitor"
        );

        // Three minutes pass: the wait reads three minutes.
        app.clock.advance_ms(3 * 60_000);
        let later = snapshot_where(&mut watcher, "a three-minute wait", |s| {
            patient_of(first_open(s))["waiting_secs"] == 180
        })
        .await;
        assert_eq!(first_open(&later)["longest_wait_secs"], 180);
        assert!(
            !later["alerts"]
                .as_array()
                .unwrap()
                .iter()
                .any(|a| a["kind"] == "long_wait"),
            "three minutes is not long"
        );
        // Ten more: a long wait is an alert.
        app.clock.advance_ms(10 * 60_000);
        snapshot_where(&mut watcher, "a long-wait alert", |s| {
            s["alerts"].as_array().is_some_and(|a| {
                a.iter()
                    .any(|a| a["kind"] == "long_wait" && a["visit"] == visit.as_str())
            })
        })
        .await;

        // The clinician admits: the visit is in progress.
        let mut host_ws = Ws::connect(&app.base, &host_token).await;
        host_ws.ok("visit_join", json!({ "visit": visit })).await;
        let pid = patient_of(first_open(&later))["participant"]
            .as_str()
            .unwrap()
            .to_owned();
        host_ws
            .ok("visit_admit", json!({ "visit": visit, "participant": pid }))
            .await;
        snapshot_where(&mut watcher, "a live visit", |s| {
            s["visits"]["counts"]["live"] == 1 && s["visits"]["counts"]["waiting"] == 0
        })
        .await;

        // Media figures as the placing node shares them (hub/src/visits/stats.rs):
        // the patient's connection is poor, and that is an alert.
        app.state
            .bus
            .publish(hub::bus::Event {
                topic: "monitor".into(),
                kind: "monitor.visit_stats".into(),
                payload: json!({ "visit": visit, "participants": [{
                    "participant": pid, "connection_state": "connected",
                    "bitrate_in_kbps": 300.0, "bitrate_out_kbps": 310.0,
                    "packet_loss": 0.12, "jitter_ms": 30.0, "rtt_ms": 180.0
                }]}),
            })
            .await
            .expect("published");
        let graded = snapshot_where(&mut watcher, "a poor connection", |s| {
            patient_of(first_open(s))["quality"] == "poor"
        })
        .await;
        assert_eq!(patient_of(first_open(&graded))["packet_loss"], 0.12);
        assert!(
            graded["alerts"]
                .as_array()
                .unwrap()
                .iter()
                .any(|a| a["kind"] == "poor_quality")
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
        app.stop().await;
    }
}
