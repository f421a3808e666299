//! Across two nodes sharing PostgreSQL and Redis: a referral made through one
//! node reaches the receiving admin's socket on the other live, and withdrawing it
//! through one node ends the referred clinician's subscription on the other at once.

use std::path::PathBuf;

use serde_json::json;

use crate::{
    cluster::{OwnRedis, services_available},
    live::care_team,
    membership::push_at_once,
    referrals::{cardiology, user_event},
    support::{
        Backend, TestApp,
        process::{HubProcess, node_env},
        ws::Ws,
    },
};

#[tokio::test]
async fn referral_news_and_withdrawal_cross_nodes() {
    if !services_available() {
        return;
    }
    let redis = OwnRedis::start().expect("redis-server starts");
    let redis_url = redis.url();
    let app =
        TestApp::spawn_with(Backend::Postgres, |c| c.redis_url = Some(redis_url.clone())).await;
    let (_, users, room) = care_team(&app).await;
    let room_id = room["id"].as_str().unwrap();
    let a = &users[0];
    let b = cardiology(&app).await;
    let env = node_env(&app.db.url, &redis.url());
    let root = PathBuf::from(&app.db.data_dir);
    let node_a = HubProcess::start_with(&root.join("a"), &env).await;
    let node_b = HubProcess::start_with(&root.join("b"), &env).await;
    let client = reqwest::Client::new();

    // Cardiology's admin listens on node B; the referral is made on node A.
    let mut admin_ws = Ws::connect(&node_b.base, &b.admin.1).await;
    admin_ws.ok("notifications", json!({})).await;
    let referral: serde_json::Value = client
        .post(format!("{}/api/v1/rooms/{room_id}/referrals", node_a.base))
        .bearer_auth(&a.1)
        .json(&json!({ "org_id": b.org }))
        .send()
        .await
        .expect("refer")
        .json()
        .await
        .expect("JSON");
    let referral_id = referral["id"].as_str().expect("referral id").to_owned();
    let event = user_event(&mut admin_ws, "referral.changed").await;
    assert_eq!(event["referral_id"], referral_id.as_str());
    assert_eq!(event["status"], "pending");

    // Accepted on node B; the clinician follows the room on node B.
    let accepted = client
        .post(format!(
            "{}/api/v1/orgs/{}/referrals/{referral_id}/accept",
            node_b.base, b.org
        ))
        .bearer_auth(&b.admin.1)
        .json(&json!({ "member_ids": [b.clinician.0] }))
        .send()
        .await
        .expect("accept");
    assert_eq!(accepted.status(), 200);
    let mut doc_ws = Ws::connect(&node_b.base, &b.clinician.1).await;
    doc_ws.ok("subscribe", json!({ "room": room_id })).await;

    // Withdrawn on node A: node B's socket loses the room at once.
    let withdrawn = client
        .delete(format!(
            "{}/api/v1/rooms/{room_id}/referrals/{referral_id}",
            node_a.base
        ))
        .bearer_auth(&a.1)
        .send()
        .await
        .expect("withdraw");
    assert_eq!(withdrawn.status(), 200);
    let gone = push_at_once(&mut doc_ws, "unsubscribed").await;
    assert_eq!(gone["room"], room_id);
    let refused = doc_ws
        .request(
            "publish",
            json!({ "room": room_id, "client_id": "late", "body": "hi" }),
        )
        .await;
    assert_eq!(refused.unwrap_err()["code"], "room_not_found");
    drop((node_a, node_b));
    app.stop().await;
}
