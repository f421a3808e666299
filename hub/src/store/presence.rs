//! Live presence across gateway nodes: which users are connected to which room
//! through which node, and node heartbeats so a dead node's users expire.

use super::{Conn, StoreError};

pub async fn heartbeat(conn: &mut Conn, node_id: &str, now: i64) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO gateway_nodes (id, started_at, heartbeat_at) VALUES ($1, $2, $2) \
         ON CONFLICT (id) DO UPDATE SET heartbeat_at = excluded.heartbeat_at",
    )
    .bind(node_id)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn add(
    conn: &mut Conn,
    room_id: &str,
    user_id: &str,
    node_id: &str,
    now: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO room_presence (room_id, user_id, node_id, since) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (room_id, user_id, node_id) DO NOTHING",
    )
    .bind(room_id)
    .bind(user_id)
    .bind(node_id)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn remove(
    conn: &mut Conn,
    room_id: &str,
    user_id: &str,
    node_id: &str,
) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM room_presence WHERE room_id = $1 AND user_id = $2 AND node_id = $3")
        .bind(room_id)
        .bind(user_id)
        .bind(node_id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Users present in the room through a node whose heartbeat is newer than `alive_after`.
pub async fn users(
    conn: &mut Conn,
    room_id: &str,
    alive_after: i64,
) -> Result<Vec<String>, StoreError> {
    let rows: Vec<(String,)> = sqlx::query_as(
        "SELECT DISTINCT p.user_id FROM room_presence p JOIN gateway_nodes n ON n.id = p.node_id \
         WHERE p.room_id = $1 AND n.heartbeat_at > $2 ORDER BY p.user_id",
    )
    .bind(room_id)
    .bind(alive_after)
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(|(u,)| u).collect())
}

/// Whether `user_id` is still present in the room through any live node.
pub async fn is_present(
    conn: &mut Conn,
    room_id: &str,
    user_id: &str,
    alive_after: i64,
) -> Result<bool, StoreError> {
    let row: Option<(i64,)> = sqlx::query_as(
        "SELECT 1 FROM room_presence p JOIN gateway_nodes n ON n.id = p.node_id \
         WHERE p.room_id = $1 AND p.user_id = $2 AND n.heartbeat_at > $3 LIMIT 1",
    )
    .bind(room_id)
    .bind(user_id)
    .bind(alive_after)
    .fetch_optional(conn)
    .await?;
    Ok(row.is_some())
}

/// Removes nodes whose heartbeat stopped and their presence rows, returning the
/// `(room, user)` pairs that were removed. Several nodes may sweep at once; each
/// row is returned to exactly one of them.
pub async fn sweep_dead(
    conn: &mut Conn,
    dead_before: i64,
) -> Result<Vec<(String, String)>, StoreError> {
    let removed: Vec<(String, String)> = sqlx::query_as(
        "DELETE FROM room_presence WHERE node_id IN \
           (SELECT id FROM gateway_nodes WHERE heartbeat_at <= $1) \
         RETURNING room_id, user_id",
    )
    .bind(dead_before)
    .fetch_all(&mut *conn)
    .await?;
    sqlx::query("DELETE FROM gateway_nodes WHERE heartbeat_at <= $1")
        .bind(dead_before)
        .execute(conn)
        .await?;
    Ok(removed)
}

/// Forgets this node's presence (at start-up after a crash, and at shutdown).
pub async fn clear_node(conn: &mut Conn, node_id: &str) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM room_presence WHERE node_id = $1")
        .bind(node_id)
        .execute(conn)
        .await?;
    Ok(())
}
