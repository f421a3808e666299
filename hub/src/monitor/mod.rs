//! The live monitor (docs/protocol.md, `monitor`): what an admin sees of the hub as it
//! runs, pushed over `/ws` every two seconds, never polled. An organization admin
//! watches their organization, a platform admin everything.
//!
//! - [`census`]: sockets per role on this node, counted by the gateway;
//! - [`nodes`]: node health across the cluster (heartbeats and shared censuses);
//! - [`quality`]: the latest media figures of live visits;
//! - [`queries`]: the database's figures (visits, notifications, rates, rooms);
//! - [`snapshot`]: one snapshot for one scope, with its alerts;
//! - [`scope`]: who may watch what, re-read every tick;
//! - [`watchers`]: this node's watching sockets;
//! - [`bus`]: the node's loop and what it shares on the bus topic `monitor`;
//! - [`metrics`]: the same figures at `/metrics`.

pub mod bus;
pub mod census;
pub mod metrics;
pub mod nodes;
pub mod quality;
pub mod queries;
pub mod scope;
pub mod snapshot;
pub mod watchers;

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

pub use bus::{announce_leaving, rights_changed, spawn};
pub use scope::Scope;

use crate::{accounts::Principal, domain::Role, state::AppState, visits::pass::PassClaims};

/// How often watchers get a snapshot and nodes share their census.
pub const TICK: Duration = Duration::from_secs(2);

/// The node's monitor: its census, what it knows of the other nodes, and its watchers.
pub struct Monitor {
    pub node_id: String,
    /// When this node started (ms since the epoch), as its heartbeat row says.
    pub started_at: std::sync::atomic::AtomicI64,
    pub census: Arc<census::Census>,
    pub nodes: Mutex<nodes::NodeBook>,
    pub quality: Mutex<quality::QualityBook>,
    pub watchers: watchers::Watchers,
}

impl Monitor {
    pub fn new(node_id: &str) -> Self {
        Self {
            node_id: node_id.to_owned(),
            started_at: std::sync::atomic::AtomicI64::new(0),
            census: Arc::new(census::Census::default()),
            nodes: Mutex::new(nodes::NodeBook::default()),
            quality: Mutex::new(quality::QualityBook::default()),
            watchers: watchers::Watchers::default(),
        }
    }

    pub fn nodes(&self) -> std::sync::MutexGuard<'_, nodes::NodeBook> {
        self.nodes.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn quality(&self) -> std::sync::MutexGuard<'_, quality::QualityBook> {
        self.quality.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Counts an authenticated socket in the census until the slot is dropped: an
/// account under the roles it holds now (one query), a visit pass in its visit's
/// organization. A failed read counts the socket without organizations.
pub async fn count_socket(
    state: &AppState,
    principal: &Principal,
    pass: Option<&PassClaims>,
) -> census::CensusSlot {
    let counted = async {
        let mut conn = state.store.conn().await?;
        let counted = match pass {
            Some(claims) => {
                census::Counted::pass(queries::visit_org(&mut conn, &claims.visit).await?)
            }
            None => {
                let memberships = crate::store::orgs::memberships_of(&mut conn, &principal.user_id)
                    .await?
                    .into_iter()
                    .filter_map(|m| m.role.parse::<Role>().ok().map(|r| (m.org_id, r)))
                    .collect::<Vec<_>>();
                census::Counted::account(principal.platform_admin, &memberships)
            }
        };
        Ok::<_, crate::error::Error>(counted)
    }
    .await
    .unwrap_or_else(|e| {
        tracing::warn!(error = %e, "socket counted without its organizations");
        match pass {
            Some(_) => census::Counted::pass(None),
            None => census::Counted::account(principal.platform_admin, &[]),
        }
    });
    state.gateway.monitor.census.count(counted)
}
