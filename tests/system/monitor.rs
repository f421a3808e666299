//! The live monitor over `/ws` (docs/protocol.md, `monitor`): an organization admin
//! sees their organization only, a platform admin everything; clinicians, patients
//! and visit passes are refused with `forbidden`; the figures follow sockets opening
//! and closing; a demoted admin's watch ends with `monitor_ended` within a second;
//! and the same figures are at `/metrics` under their documented names.

use std::time::{Duration, Instant};

use hub::domain::Role;
use serde_json::{Value, json};

use crate::{
    membership::{AT_ONCE, next_frame_by},
    support::{METRICS_TOKEN, TestApp, backends, ws::Ws},
};

/// Snapshots come every 2 s; a change shows in the next one or the one after.
pub const TWO_TICKS: Duration = Duration::from_secs(5);

/// Waits (two ticks at most) for a `monitor` snapshot that satisfies `pred`.
pub async fn snapshot_where(ws: &mut Ws, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
    snapshot_within(ws, TWO_TICKS, what, pred).await
}

/// Waits (`wait` at most) for a `monitor` snapshot that satisfies `pred`; panics
/// with the last one seen.
pub async fn snapshot_within(
    ws: &mut Ws,
    wait: Duration,
    what: &str,
    pred: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + wait;
    let mut last = Value::Null;
    for push in ws.take_pushes() {
        if push["type"] == "monitor" {
            if pred(&push) {
                return push;
            }
            last = push;
        }
    }
    loop {
        match next_frame_by(ws, deadline).await {
            Ok(Some(frame)) if frame["type"] == "monitor" => {
                if pred(&frame) {
                    return frame;
                }
                last = frame;
            }
            Ok(Some(_)) => {}
            other => panic!("no snapshot where {what} ({other:?}); last: {last}"),
        }
    }
}

/// The socket count of `role` on the node serving the watcher.
pub fn this_node(snapshot: &Value, role: &str) -> i64 {
    snapshot["nodes"]
        .as_array()
        .and_then(|nodes| nodes.iter().find(|n| n["this_node"] == true))
        .and_then(|n| n["sockets"][role].as_i64())
        .unwrap_or(0)
}

fn refused(result: Result<Value, Value>) -> String {
    result.expect_err("refused")["code"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn each_admin_sees_their_scope_and_the_figures_follow_the_sockets() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let admin = app
            .account("admin@alpha.test", Role::Admin, Some("Alpha"))
            .await;
        let alpha = app.org_id("Alpha").await;
        let clinician = app
            .account("doc@alpha.test", Role::Clinician, Some("Alpha"))
            .await;
        let patient = app
            .account("pat@alpha.test", Role::Patient, Some("Alpha"))
            .await;
        let other = app
            .account("doc@beta.test", Role::Clinician, Some("Beta"))
            .await;
        let beta = app.org_id("Beta").await;
        let platform = app.account("root@platform.test", Role::Admin, None).await;

        // The organization admin watches Alpha (their only organization: no `org` needed).
        let mut watcher = Ws::connect(&app.base, &app.token_for(&admin).await).await;
        let reply = watcher.ok("monitor", json!({})).await;
        assert_eq!(reply["scope"]["org"], alpha.as_str());
        assert_eq!(reply["every_secs"], 2);
        let first = watcher.next_of("monitor").await;
        assert_eq!(
            this_node(&first, "admin"),
            1,
            "the watcher's own socket: {first}"
        );
        assert_eq!(this_node(&first, "clinician"), 0);
        for key in ["scheduled", "waiting", "live", "ended"] {
            assert_eq!(first["visits"]["counts"][key], 0, "{key}");
        }
        assert!(first["rates"]["messages_per_minute"].is_i64());
        assert!(first["notifications"]["outbox_depth"].is_i64());
        // Another organization is refused, like one that does not exist.
        assert_eq!(
            refused(watcher.request("monitor", json!({ "org": beta })).await),
            "forbidden"
        );
        assert_eq!(
            refused(
                watcher
                    .request("monitor", json!({ "org": "no-such-org" }))
                    .await
            ),
            "forbidden"
        );
        assert_eq!(
            refused(watcher.request("monitor", json!({ "org": 7 })).await),
            "invalid_request"
        );

        // The platform admin watches everything.
        let mut root = Ws::connect(&app.base, &app.token_for(&platform).await).await;
        let reply = root.ok("monitor", json!({})).await;
        assert_eq!(reply["scope"]["org"], Value::Null);

        // A clinician of Alpha opens a socket: Alpha's figure rises; Beta's clinician
        // shows only to the platform admin.
        let mut doc = Ws::connect(&app.base, &app.token_for(&clinician).await).await;
        let beta_doc = Ws::connect(&app.base, &app.token_for(&other).await).await;
        snapshot_where(&mut watcher, "one Alpha clinician", |s| {
            this_node(s, "clinician") == 1
        })
        .await;
        snapshot_where(&mut root, "both clinicians", |s| {
            this_node(s, "clinician") == 2
        })
        .await;
        let alpha_view = snapshot_where(&mut watcher, "still one", |s| {
            this_node(s, "clinician") == 1
        })
        .await;
        assert_eq!(alpha_view["sockets"]["clinician"], 1, "totals in scope");

        // Clinicians and patients are refused with a stable code; their sockets stay open.
        assert_eq!(
            refused(doc.request("monitor", json!({})).await),
            "forbidden"
        );
        assert_eq!(
            refused(doc.request("monitor", json!({ "org": alpha })).await),
            "forbidden"
        );
        let mut pat = Ws::connect(&app.base, &app.token_for(&patient).await).await;
        assert_eq!(
            refused(pat.request("monitor", json!({})).await),
            "forbidden"
        );
        pat.ok("ping", json!({})).await;
        snapshot_where(&mut watcher, "a patient", |s| this_node(s, "patient") == 1).await;

        // Sockets closing lower the figures.
        drop(doc);
        drop(beta_doc);
        snapshot_where(&mut watcher, "no clinician", |s| {
            this_node(s, "clinician") == 0
        })
        .await;
        snapshot_where(&mut root, "no clinician anywhere", |s| {
            this_node(s, "clinician") == 0
        })
        .await;

        // monitor_stop ends the pushes on this socket.
        root.ok("monitor_stop", json!({})).await;
        root.take_pushes();
        let deadline = Instant::now() + Duration::from_millis(2500);
        while let Ok(Some(frame)) = next_frame_by(&mut root, deadline).await {
            assert_ne!(frame["type"], "monitor", "no snapshot after monitor_stop");
        }
        app.stop().await;
    }
}

#[tokio::test]
async fn a_demoted_admin_stops_watching_within_a_second() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let admin = app
            .account("admin@alpha.test", Role::Admin, Some("Alpha"))
            .await;
        let org = app.org_id("Alpha").await;
        let second = app
            .account("second@alpha.test", Role::Admin, Some("Alpha"))
            .await;
        let second_token = app.token_for(&second).await;
        let mut watcher = Ws::connect(&app.base, &app.token_for(&admin).await).await;
        watcher.ok("monitor", json!({ "org": org })).await;
        watcher.next_of("monitor").await;

        let demoted = app
            .call(
                reqwest::Method::PUT,
                &format!("/api/v1/orgs/{org}/members/{admin}"),
                Some(&second_token),
                Some(json!({ "role": "clinician" })),
            )
            .await;
        assert_eq!(demoted.status, 204, "{:?}", demoted.body);

        let deadline = Instant::now() + AT_ONCE;
        let ended = loop {
            match next_frame_by(&mut watcher, deadline).await {
                Ok(Some(frame)) if frame["type"] == "monitor_ended" => break frame,
                Ok(Some(_)) => {}
                other => panic!("no monitor_ended within {AT_ONCE:?}: {other:?}"),
            }
        };
        assert_eq!(ended["reason"], "access_ended");
        // Nothing more is pushed, the socket stays open, and asking again is refused.
        let deadline = Instant::now() + Duration::from_millis(2500);
        while let Ok(Some(frame)) = next_frame_by(&mut watcher, deadline).await {
            assert_ne!(frame["type"], "monitor", "no snapshot after monitor_ended");
        }
        assert_eq!(
            refused(watcher.request("monitor", json!({})).await),
            "forbidden"
        );

        // A removed admin: the same.
        let mut second_watch = Ws::connect(&app.base, &second_token).await;
        second_watch.ok("monitor", json!({})).await;
        let back = app
            .call(
                reqwest::Method::PUT,
                &format!("/api/v1/orgs/{org}/members/{admin}"),
                Some(&second_token),
                Some(json!({ "role": "admin" })),
            )
            .await;
        assert_eq!(back.status, 204);
        let admin_token = app.token_for(&admin).await;
        let removed = app
            .call(
                reqwest::Method::DELETE,
                &format!("/api/v1/orgs/{org}/members/{second}"),
                Some(&admin_token),
                None,
            )
            .await;
        assert_eq!(removed.status, 204, "{:?}", removed.body);
        let deadline = Instant::now() + AT_ONCE;
        loop {
            match next_frame_by(&mut second_watch, deadline).await {
                Ok(Some(frame)) if frame["type"] == "monitor_ended" => break,
                Ok(Some(_)) => {}
                other => panic!("no monitor_ended after a removal: {other:?}"),
            }
        }

        // A disabled admin: the watch ends and the socket closes (4003) at once.
        let mut watcher = Ws::connect(&app.base, &admin_token).await;
        watcher.ok("monitor", json!({})).await;
        let platform = app.account("root@platform.test", Role::Admin, None).await;
        let disabled = app
            .post(
                &format!("/api/v1/admin/users/{admin}/disable"),
                Some(&app.token_for(&platform).await),
                json!({}),
            )
            .await;
        assert_eq!(disabled.status, 204, "{:?}", disabled.body);
        let deadline = Instant::now() + AT_ONCE;
        loop {
            match next_frame_by(&mut watcher, deadline).await {
                // A snapshot pushed before the change committed may still arrive.
                Ok(Some(_)) => {}
                Ok(None) => break,
                Err(()) => panic!("the disabled admin's socket stayed open"),
            }
        }
        assert_eq!(watcher.close_code().await, Some(4003));
        app.stop().await;
    }
}

#[tokio::test]
async fn the_figures_are_at_metrics_under_their_documented_names() {
    let app = TestApp::spawn(backends()[0]).await;
    let doc = app
        .account("doc@alpha.test", Role::Clinician, Some("Alpha"))
        .await;
    let _socket = Ws::connect(&app.base, &app.token_for(&doc).await).await;
    let text = reqwest::Client::new()
        .get(app.url("/metrics"))
        .bearer_auth(METRICS_TOKEN)
        .send()
        .await
        .expect("scrape")
        .text()
        .await
        .expect("body");
    for line in [
        "hub_visits{state=\"scheduled\"} 0",
        "hub_visits{state=\"waiting\"} 0",
        "hub_visits{state=\"live\"} 0",
        "hub_visits{state=\"ended\"} 0",
        "hub_notifications{status=\"pending\"} 0",
        "hub_notifications{status=\"failed\"} 0",
        "hub_notification_outbox_depth 0",
        "hub_notification_failures_recent 0",
        "hub_alerts{kind=\"node_dead\"} 0",
        "hub_alerts{kind=\"long_wait\"} 0",
        "hub_alerts{kind=\"outbox_backlog\"} 0",
        "hub_monitor_sockets{role=\"clinician\"} 1",
        "hub_monitor_watchers 0",
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "missing `{line}` in:\n{text}"
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn a_platform_admin_whose_right_is_revoked_stops_watching_within_a_second() {
    let app = TestApp::spawn(backends()[0]).await;
    let watching = app.account("one@platform.test", Role::Admin, None).await;
    let other = app.account("two@platform.test", Role::Admin, None).await;
    let mut watcher = Ws::connect(&app.base, &app.token_for(&watching).await).await;
    let reply = watcher.ok("monitor", json!({})).await;
    assert_eq!(reply["scope"]["org"], Value::Null, "everything");
    watcher.next_of("monitor").await;

    let revoked = app
        .call(
            reqwest::Method::DELETE,
            &format!("/api/v1/admin/platform-admins/{watching}"),
            Some(&app.token_for(&other).await),
            None,
        )
        .await;
    assert_eq!(revoked.status, 204, "{:?}", revoked.body);
    let deadline = Instant::now() + AT_ONCE;
    loop {
        match next_frame_by(&mut watcher, deadline).await {
            Ok(Some(frame)) if frame["type"] == "monitor_ended" => break,
            Ok(Some(_)) => {}
            other => panic!("no monitor_ended after the revocation: {other:?}"),
        }
    }
    assert_eq!(
        refused(watcher.request("monitor", json!({})).await),
        "forbidden"
    );
    app.stop().await;
}
