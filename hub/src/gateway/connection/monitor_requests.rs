//! The `monitor` and `monitor_stop` requests (docs/protocol.md): an admin's socket
//! starts watching the live monitor of its scope. The node's monitor loop pushes the
//! snapshots (hub/src/monitor); this only checks the right and registers the watch.

use serde_json::{Value, json};

use super::Connection;
use crate::{
    gateway::protocol::ProtocolError,
    monitor::{self, scope, snapshot, watchers::Watcher},
};

impl Connection {
    /// Starts (or re-scopes) the watch, answering with its scope; the first snapshot
    /// follows the reply at once, then one every `every_secs`.
    pub(super) async fn monitor(&mut self, org: Option<&str>) -> Result<Value, ProtocolError> {
        let scope = scope::authorize(&self.state, &self.user, org).await?;
        let first = snapshot::build(&self.state, &scope)
            .await
            .map_err(ProtocolError::from)?;
        let queue = self.queue();
        let watchers = &self.gateway.monitor.watchers;
        watchers.watch(
            self.id,
            Watcher {
                user: self.user.clone(),
                scope: scope.clone(),
                queue,
                killer: self.killer.clone(),
            },
        );
        // Queued now, written after the reply (the loop drains the queue next).
        watchers.push(self.id, &scope, first.to_string().into());
        Ok(json!({
            "scope": { "org": scope.org() },
            "node": self.gateway.node_id,
            "every_secs": monitor::TICK.as_secs(),
        }))
    }

    /// Stops the watch (harmless without one).
    pub(super) fn monitor_stop(&mut self) -> Result<Value, ProtocolError> {
        self.gateway.monitor.watchers.unwatch(self.id);
        Ok(json!({}))
    }
}
