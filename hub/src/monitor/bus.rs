//! The node's monitor loop and the bus topic `monitor` (one topic for the node, so
//! idle sockets cost nothing): every tick each node shares its census, re-reads the
//! cluster's heartbeats, re-checks its watchers' rights and pushes each watcher a
//! snapshot of its scope (one build per scope, not per watcher). On the topic:
//!
//! - `monitor.census` `{node, started_at, census}` — a node's socket counts;
//! - `monitor.leaving` / `monitor.left` `{node}` — a node's clean shutdown;
//! - `monitor.visit_stats` `{visit, participants}` — media figures of a live visit;
//! - `monitor.rights` `{user_id}` — an account's rights changed: re-check its watches.

use std::{collections::HashMap, sync::atomic::Ordering};

use serde_json::{Value, json};
use tokio::sync::broadcast::error::RecvError;

use super::{TICK, census::NodeCensus, queries, scope, snapshot, watchers::ACCESS_ENDED};
use crate::{bus::Event, state::AppState};

const TOPIC: &str = "monitor";
const CENSUS: &str = "monitor.census";
const LEAVING: &str = "monitor.leaving";
const LEFT: &str = "monitor.left";
const VISIT_STATS: &str = "monitor.visit_stats";
const RIGHTS: &str = "monitor.rights";

/// Starts the node's loop and its listener; both run until aborted (shutdown).
pub fn spawn(state: AppState) -> [tokio::task::JoinHandle<()>; 2] {
    [
        tokio::spawn(run_loop(state.clone())),
        tokio::spawn(listen(state)),
    ]
}

async fn publish(state: &AppState, kind: &str, payload: Value) {
    let event = Event {
        topic: TOPIC.into(),
        kind: kind.into(),
        payload,
    };
    if let Err(e) = state.bus.publish(event).await {
        tracing::debug!(error = %e, "monitor notice not shared");
    }
}

async fn run_loop(state: AppState) {
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let monitor = &state.gateway.monitor;
        let census = monitor.census.snapshot();
        let started_at = monitor.started_at.load(Ordering::Relaxed);
        publish(
            &state,
            CENSUS,
            json!({ "node": monitor.node_id, "started_at": started_at, "census": census }),
        )
        .await;
        if let Err(e) = read_heartbeats(&state).await {
            tracing::warn!(error = %e, "monitor cannot read node heartbeats");
        }
        if !monitor.watchers.is_empty() {
            push_snapshots(&state).await;
        }
    }
}

/// Brings the node book up to date with `gateway_nodes`.
pub async fn read_heartbeats(state: &AppState) -> crate::error::Result<()> {
    let now = state.clock.now_ms();
    let alive_after = now - 3 * 1000 * state.config.gateway.heartbeat_secs as i64;
    let mut conn = state.store.conn().await?;
    let rows = queries::nodes(&mut conn).await?;
    let monitor = &state.gateway.monitor;
    if let Some((_, started, _)) = rows.iter().find(|(id, ..)| *id == monitor.node_id) {
        monitor.started_at.store(*started, Ordering::Relaxed);
    }
    monitor.nodes().heartbeats(&rows, alive_after, now);
    Ok(())
}

/// Re-checks every watcher's rights, then pushes one snapshot per scope.
async fn push_snapshots(state: &AppState) {
    let watchers = &state.gateway.monitor.watchers;
    let mut by_scope: HashMap<scope::Scope, Vec<u64>> = HashMap::new();
    for (conn, user, scope) in watchers.list() {
        match scope::still_allowed(state, &user, &scope).await {
            Ok(true) => by_scope.entry(scope).or_default().push(conn),
            Ok(false) => watchers.end(conn, ACCESS_ENDED),
            // Unknown: keep the watch, skip this tick.
            Err(e) => tracing::warn!(error = %e, "monitor rights not checked"),
        }
    }
    for (scope, conns) in by_scope {
        match snapshot::build(state, &scope).await {
            Ok(snap) => {
                let frame: axum::extract::ws::Utf8Bytes = snap.to_string().into();
                for conn in conns {
                    watchers.push(conn, &scope, frame.clone());
                }
            }
            Err(e) => tracing::warn!(error = %e, "monitor snapshot not built"),
        }
    }
}

/// Ends, on every node, the watches `user_id` may no longer hold (a demotion, a
/// removal, a disabled account, a platform admin right taken away). Runs after the
/// change is committed; should the notice be lost, the next tick's check ends them.
pub async fn rights_changed(state: &AppState, user_id: &str) {
    recheck(state, user_id).await;
    publish(state, RIGHTS, json!({ "user_id": user_id })).await;
}

async fn recheck(state: &AppState, user_id: &str) {
    let watchers = &state.gateway.monitor.watchers;
    for (conn, scope) in watchers.of_user(user_id) {
        match scope::still_allowed(state, user_id, &scope).await {
            Ok(true) => {}
            Ok(false) => watchers.end(conn, ACCESS_ENDED),
            Err(e) => tracing::warn!(error = %e, "monitor rights not checked"),
        }
    }
}

/// A clean shutdown: `leaving` when it begins, `left` (and the heartbeat row
/// deleted) when it is done, so the others show it left rather than dead.
pub async fn announce_leaving(state: &AppState, done: bool) {
    let node = state.gateway.node_id.clone();
    if done {
        if let Ok(mut conn) = state.store.conn().await {
            let _ = queries::forget_node(&mut conn, &node).await;
        }
        publish(state, LEFT, json!({ "node": node })).await;
    } else {
        publish(state, LEAVING, json!({ "node": node })).await;
    }
}

/// Shares a live visit's media figures with every node's monitor.
pub async fn share_visit_stats(state: &AppState, visit: &str, participants: &[Value]) {
    publish(
        state,
        VISIT_STATS,
        json!({ "visit": visit, "participants": participants }),
    )
    .await;
}

async fn listen(state: AppState) {
    loop {
        let mut rx = match state.bus.subscribe(TOPIC).await {
            Ok(rx) => rx,
            Err(e) => {
                tracing::warn!(error = %e, "monitor cannot subscribe; retrying");
                tokio::time::sleep(TICK).await;
                continue;
            }
        };
        loop {
            match rx.recv().await {
                Ok(event) => handle(&state, &event).await,
                // A lost census is replaced two seconds later; lost rights notices
                // are caught by the tick's check.
                Err(RecvError::Lagged(_)) => {}
                Err(RecvError::Closed) => break,
            }
        }
    }
}

async fn handle(state: &AppState, event: &Event) {
    let monitor = &state.gateway.monitor;
    let p = &event.payload;
    let now = state.clock.now_ms();
    let node = p["node"].as_str().unwrap_or_default();
    match event.kind.as_str() {
        CENSUS => {
            let Ok(census) = serde_json::from_value::<NodeCensus>(p["census"].clone()) else {
                return;
            };
            let started_at = p["started_at"].as_i64().unwrap_or(0);
            monitor.nodes().census(node, started_at, census, now);
        }
        LEAVING => monitor.nodes().leaving(node),
        LEFT => monitor.nodes().left(node, now),
        VISIT_STATS => {
            if let (Some(visit), Some(list)) = (p["visit"].as_str(), p["participants"].as_array()) {
                monitor.quality().record(visit, list.clone(), now);
            }
        }
        RIGHTS => {
            if let Some(user) = p["user_id"].as_str() {
                recheck(state, user).await;
            }
        }
        _ => {}
    }
}
