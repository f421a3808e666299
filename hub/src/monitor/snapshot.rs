//! One monitor snapshot for one scope (docs/protocol.md, the `monitor` push): nodes
//! with their sockets and rooms, visits by state with waiting times and media
//! quality, message and notification rates, the outbox and failures, and the alerts
//! these raise. Instants are RFC 3339; durations are whole seconds.

use serde_json::{Map, Value, json};
use signaling::visit::{ParticipantState, Visit, VisitState};

use super::{census::Counts, quality::grade, queries, scope::Scope};
use crate::{clock::rfc3339, error::Result, state::AppState};

/// Visits listed with their participants (the oldest first); beyond, only counted.
const MAX_VISITS: i64 = 200;
/// A wait from this long raises a `long_wait` alert.
pub const LONG_WAIT_SECS: i64 = 10 * 60;
/// An outbox this deep raises an `outbox_backlog` alert.
pub const OUTBOX_BACKLOG: i64 = 100;

/// The visit states the monitor counts, in order.
pub const VISIT_STATES: [&str; 4] = ["scheduled", "waiting", "live", "ended"];

/// Builds the snapshot `scope` sees now.
pub async fn build(state: &AppState, scope: &Scope) -> Result<Value> {
    let now = state.clock.now_ms();
    let org = scope.org();
    let alive_after = now - 3 * 1000 * state.config.gateway.heartbeat_secs as i64;
    let mut conn = state.store.conn().await?;
    let (rooms_per_node, rooms_total) = queries::active_rooms(&mut conn, alive_after, org).await?;
    let visit_counts = queries::visit_counts(&mut conn, now, org).await?;
    let open = queries::open_visits(&mut conn, org, MAX_VISITS).await?;
    let by_status = queries::notification_counts(&mut conn, org).await?;
    let outbox_depth = queries::outbox_depth(&mut conn, now, org).await?;
    let failures = queries::recent_failures(&mut conn, now, org).await?;
    let messages = queries::messages_last_minute(&mut conn, now, org).await?;
    let notices = queries::notifications_last_minute(&mut conn, now, org).await?;
    drop(conn);

    let mut alerts = Vec::new();
    let nodes = nodes(state, org, &rooms_per_node, now, &mut alerts);
    let mut sockets = Counts::new();
    for node in &nodes {
        if let Some(counts) = node["sockets"].as_object() {
            for (role, n) in counts {
                *sockets.entry(role.clone()).or_default() += n.as_u64().unwrap_or(0);
            }
        }
    }
    let visits = visits(state, &open, now, &mut alerts);
    if outbox_depth >= OUTBOX_BACKLOG {
        alerts.push(json!({ "kind": "outbox_backlog", "depth": outbox_depth }));
    }
    if failures > 0 {
        alerts.push(json!({ "kind": "notification_failures", "count": failures }));
    }
    let counts: Map<String, Value> = VISIT_STATES
        .iter()
        .map(|s| {
            (
                (*s).to_owned(),
                json!(visit_counts.get(*s).copied().unwrap_or(0)),
            )
        })
        .collect();
    Ok(json!({
        "type": "monitor",
        "at": rfc3339(now),
        "scope": { "org": org },
        "node": state.gateway.node_id,
        "nodes": nodes,
        "sockets": sockets,
        "rooms": rooms_total,
        "visits": { "counts": counts, "open": visits },
        "rates": { "messages_per_minute": messages, "notifications_per_minute": notices },
        "notifications": {
            "outbox_depth": outbox_depth,
            "failed_recently": failures,
            "by_status": by_status,
        },
        "alerts": alerts,
    }))
}

/// Every node in view with its health, its sockets in scope and its active rooms.
fn nodes(
    state: &AppState,
    org: Option<&str>,
    rooms: &std::collections::BTreeMap<String, i64>,
    now: i64,
    alerts: &mut Vec<Value>,
) -> Vec<Value> {
    let monitor = &state.gateway.monitor;
    let book = monitor.nodes();
    let mut out = Vec::new();
    for (id, seen) in &book.nodes {
        let this = *id == monitor.node_id;
        let status = if this { "up" } else { seen.status(now) };
        // This node's own census is read live; others' as last shared.
        let sockets = if this {
            Some(monitor.census.snapshot().for_scope(org))
        } else if seen.gone.is_some() {
            None
        } else {
            seen.census.as_ref().map(|(c, _)| c.for_scope(org))
        };
        if status == "dead" {
            alerts.push(json!({ "kind": "node_dead", "node": id }));
        }
        out.push(json!({
            "id": id,
            "this_node": this,
            "status": status,
            "started_at": (seen.started_at > 0).then(|| rfc3339(seen.started_at)),
            "last_heartbeat": (seen.heartbeat_at > 0).then(|| rfc3339(seen.heartbeat_at)),
            "gone_at": seen.gone.map(|(at, _)| rfc3339(at)),
            "sockets": sockets,
            "rooms": if seen.gone.is_some() { 0 } else { rooms.get(id).copied().unwrap_or(0) },
        }));
    }
    if !book.nodes.contains_key(&monitor.node_id) {
        // Before this node's first heartbeat is read back.
        out.insert(
            0,
            json!({
                "id": monitor.node_id, "this_node": true, "status": "joining",
                "started_at": null, "last_heartbeat": null, "gone_at": null,
                "sockets": monitor.census.snapshot().for_scope(org),
                "rooms": rooms.get(&monitor.node_id).copied().unwrap_or(0),
            }),
        );
    }
    out
}

/// Open visits with their people: role, state, how long they have waited and their
/// connection's quality (no names: the monitor reads no PHI).
fn visits(
    state: &AppState,
    open: &[(String, String, String)],
    now: i64,
    alerts: &mut Vec<Value>,
) -> Vec<Value> {
    let quality = state.gateway.monitor.quality();
    let mut out = Vec::new();
    for (id, org_id, snapshot) in open {
        let Ok(visit) = serde_json::from_str::<Visit>(snapshot) else {
            tracing::warn!(visit = %id, "visit snapshot unreadable; left out of the monitor");
            continue;
        };
        let mut longest_wait = 0;
        let mut people = Vec::new();
        for p in visit.participants.iter().filter(|p| p.is_present()) {
            let waiting_secs = (p.state == ParticipantState::Waiting)
                .then(|| p.waiting_since_ms.map(|since| (now - since).max(0) / 1000))
                .flatten();
            longest_wait = longest_wait.max(waiting_secs.unwrap_or(0));
            let stats = quality.of(id, p.id.as_str(), now);
            let grade = stats.map(grade);
            if grade == Some("poor") {
                alerts.push(
                    json!({ "kind": "poor_quality", "visit": id, "participant": p.id.as_str() }),
                );
            }
            people.push(json!({
                "participant": p.id.as_str(),
                "role": p.role.as_str(),
                "state": p.state.as_str(),
                "waiting_secs": waiting_secs,
                "quality": grade,
                "packet_loss": stats.map(|s| s["packet_loss"].clone()),
                "rtt_ms": stats.map(|s| s["rtt_ms"].clone()),
                "bitrate_in_kbps": stats.map(|s| s["bitrate_in_kbps"].clone()),
            }));
        }
        if longest_wait >= LONG_WAIT_SECS {
            alerts.push(json!({ "kind": "long_wait", "visit": id, "waiting_secs": longest_wait }));
        }
        out.push(json!({
            "id": id,
            "org": org_id,
            "state": visit.state.as_str(),
            "scheduled_at": rfc3339(visit.scheduled_start_ms),
            "started_at": visit.started_at_ms.map(rfc3339),
            "longest_wait_secs": (visit.state == VisitState::Waiting || longest_wait > 0).then_some(longest_wait),
            "participants": people,
        }));
    }
    out
}
