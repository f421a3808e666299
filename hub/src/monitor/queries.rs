//! The database figures of a monitor snapshot, for one organization or all. Each is
//! one indexed query (migrations 0010): counts only, no names and nothing clinical,
//! so watching needs no PHI and no audited read. Every query has a fixed text per
//! scope (no SQL is assembled at run time); the organization is always the last
//! placeholder.

use std::collections::BTreeMap;

use crate::store::{Conn, StoreError};

/// How far back "ended" visits and notification failures count, and how far ahead
/// "scheduled" ones: the working day around now.
pub const WINDOW_MS: i64 = 12 * 3600 * 1000;

/// The query text for the scope: everything, or one organization.
fn pick(org: Option<&str>, all: &'static str, one: &'static str) -> &'static str {
    if org.is_some() { one } else { all }
}

async fn count(
    conn: &mut Conn,
    sql: &'static str,
    at: i64,
    org: Option<&str>,
) -> Result<i64, StoreError> {
    let mut q = sqlx::query_as::<_, (i64,)>(sql).bind(at);
    if let Some(org) = org {
        q = q.bind(org.to_owned());
    }
    Ok(q.fetch_one(conn).await?.0)
}

async fn grouped(
    conn: &mut Conn,
    sql: &'static str,
    binds: &[i64],
    org: Option<&str>,
) -> Result<BTreeMap<String, i64>, StoreError> {
    let mut q = sqlx::query_as::<_, (String, i64)>(sql);
    for b in binds {
        q = q.bind(*b);
    }
    if let Some(org) = org {
        q = q.bind(org.to_owned());
    }
    Ok(q.fetch_all(conn).await?.into_iter().collect())
}

/// Visits in the window by state: `scheduled` within 12 hours of now, `waiting` and
/// `live` now, `ended` within the last 12 hours.
pub async fn visit_counts(
    conn: &mut Conn,
    now: i64,
    org: Option<&str>,
) -> Result<BTreeMap<String, i64>, StoreError> {
    let sql = pick(
        org,
        "SELECT state, COUNT(*) FROM visits \
         WHERE (state = 'scheduled' AND scheduled_at BETWEEN $1 AND $2) \
            OR state IN ('waiting', 'live') \
            OR (state = 'ended' AND updated_at > $1) \
         GROUP BY state",
        "SELECT state, COUNT(*) FROM visits \
         WHERE ((state = 'scheduled' AND scheduled_at BETWEEN $1 AND $2) \
            OR state IN ('waiting', 'live') \
            OR (state = 'ended' AND updated_at > $1)) AND org_id = $3 \
         GROUP BY state",
    );
    grouped(conn, sql, &[now - WINDOW_MS, now + WINDOW_MS], org).await
}

/// `(id, org, snapshot)` of the visits someone is in (`waiting`, `live`), earliest first.
pub async fn open_visits(
    conn: &mut Conn,
    org: Option<&str>,
    limit: i64,
) -> Result<Vec<(String, String, String)>, StoreError> {
    let sql = pick(
        org,
        "SELECT id, org_id, snapshot FROM visits WHERE state IN ('waiting', 'live') \
         ORDER BY scheduled_at LIMIT $1",
        "SELECT id, org_id, snapshot FROM visits WHERE state IN ('waiting', 'live') \
         AND org_id = $2 ORDER BY scheduled_at LIMIT $1",
    );
    let mut q = sqlx::query_as::<_, (String, String, String)>(sql).bind(limit);
    if let Some(org) = org {
        q = q.bind(org.to_owned());
    }
    Ok(q.fetch_all(conn).await?)
}

/// Notifications by status, every status (`/metrics` and the monitor).
pub async fn notification_counts(
    conn: &mut Conn,
    org: Option<&str>,
) -> Result<BTreeMap<String, i64>, StoreError> {
    let sql = pick(
        org,
        "SELECT status, COUNT(*) FROM notifications GROUP BY status",
        "SELECT status, COUNT(*) FROM notifications WHERE org_id = $1 GROUP BY status",
    );
    grouped(conn, sql, &[], org).await
}

/// Notices due and not yet handed over: the outbox's depth.
pub async fn outbox_depth(conn: &mut Conn, now: i64, org: Option<&str>) -> Result<i64, StoreError> {
    let sql = pick(
        org,
        "SELECT COUNT(*) FROM notifications WHERE status IN ('pending', 'sending') \
         AND due_at <= $1",
        "SELECT COUNT(*) FROM notifications WHERE status IN ('pending', 'sending') \
         AND due_at <= $1 AND org_id = $2",
    );
    count(conn, sql, now, org).await
}

/// Notices that failed (or were reported undelivered) within the window.
pub async fn recent_failures(
    conn: &mut Conn,
    now: i64,
    org: Option<&str>,
) -> Result<i64, StoreError> {
    let sql = pick(
        org,
        "SELECT COUNT(*) FROM notifications WHERE status IN ('failed', 'undelivered') \
         AND updated_at > $1",
        "SELECT COUNT(*) FROM notifications WHERE status IN ('failed', 'undelivered') \
         AND updated_at > $1 AND org_id = $2",
    );
    count(conn, sql, now - WINDOW_MS, org).await
}

/// Notices handed to a channel in the last minute.
pub async fn notifications_last_minute(
    conn: &mut Conn,
    now: i64,
    org: Option<&str>,
) -> Result<i64, StoreError> {
    let sql = pick(
        org,
        "SELECT COUNT(*) FROM notifications WHERE sent_at > $1",
        "SELECT COUNT(*) FROM notifications WHERE sent_at > $1 AND org_id = $2",
    );
    count(conn, sql, now - 60_000, org).await
}

/// Room events (messages, edits, deletions) stored in the last minute, in the rooms
/// the organization owns or was referred.
pub async fn messages_last_minute(
    conn: &mut Conn,
    now: i64,
    org: Option<&str>,
) -> Result<i64, StoreError> {
    let sql = pick(
        org,
        "SELECT COUNT(*) FROM room_events WHERE created_at > $1",
        "SELECT COUNT(*) FROM room_events e JOIN room_orgs o ON o.room_id = e.room_id \
         WHERE e.created_at > $1 AND o.org_id = $2",
    );
    count(conn, sql, now - 60_000, org).await
}

/// Rooms with someone connected through a live node: per node, and in all (a room
/// open on two nodes counts once in the total).
pub async fn active_rooms(
    conn: &mut Conn,
    alive_after: i64,
    org: Option<&str>,
) -> Result<(BTreeMap<String, i64>, i64), StoreError> {
    let per_node = pick(
        org,
        "SELECT p.node_id, COUNT(DISTINCT p.room_id) FROM room_presence p \
         JOIN gateway_nodes n ON n.id = p.node_id WHERE n.heartbeat_at > $1 GROUP BY p.node_id",
        "SELECT p.node_id, COUNT(DISTINCT p.room_id) FROM room_presence p \
         JOIN gateway_nodes n ON n.id = p.node_id \
         JOIN room_orgs o ON o.room_id = p.room_id \
         WHERE n.heartbeat_at > $1 AND o.org_id = $2 GROUP BY p.node_id",
    );
    let total = pick(
        org,
        "SELECT COUNT(DISTINCT p.room_id) FROM room_presence p \
         JOIN gateway_nodes n ON n.id = p.node_id WHERE n.heartbeat_at > $1",
        "SELECT COUNT(DISTINCT p.room_id) FROM room_presence p \
         JOIN gateway_nodes n ON n.id = p.node_id \
         JOIN room_orgs o ON o.room_id = p.room_id \
         WHERE n.heartbeat_at > $1 AND o.org_id = $2",
    );
    let per_node = grouped(conn, per_node, &[alive_after], org).await?;
    let total = count(conn, total, alive_after, org).await?;
    Ok((per_node, total))
}

/// The nodes that heartbeat: `(id, started_at, heartbeat_at)`.
pub async fn nodes(conn: &mut Conn) -> Result<Vec<(String, i64, i64)>, StoreError> {
    Ok(
        sqlx::query_as(
            "SELECT id, started_at, heartbeat_at FROM gateway_nodes ORDER BY started_at",
        )
        .fetch_all(conn)
        .await?,
    )
}

/// Forgets this node's heartbeat row (a clean shutdown: it left, it did not die).
pub async fn forget_node(conn: &mut Conn, node_id: &str) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM gateway_nodes WHERE id = $1")
        .bind(node_id)
        .execute(conn)
        .await?;
    Ok(())
}

/// The organization of a visit (a visit pass socket is counted there).
pub async fn visit_org(conn: &mut Conn, visit_id: &str) -> Result<Option<String>, StoreError> {
    let row: Option<(String,)> = sqlx::query_as("SELECT org_id FROM visits WHERE id = $1")
        .bind(visit_id)
        .fetch_optional(conn)
        .await?;
    Ok(row.map(|(o,)| o))
}
