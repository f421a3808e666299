//! The monitor's figures at `/metrics` (README, "Metrics"), read at scrape time from
//! the same snapshot an admin of everything sees, so the page and Prometheus agree:
//!
//! - `hub_visits{state}` — visits by state (scheduled within 12 h, waiting, live,
//!   ended within the last 12 h);
//! - `hub_notifications{status}` — notifications by status;
//! - `hub_notification_outbox_depth` — notices due and not yet handed over;
//! - `hub_notification_failures_recent` — failed or undelivered in the last 12 h;
//! - `hub_alerts{kind}` — alerts raised now (`node_dead`, `long_wait`,
//!   `poor_quality`, `outbox_backlog`, `notification_failures`);
//! - `hub_monitor_sockets{role}` — this node's sockets by role;
//! - `hub_monitor_watchers` — sockets of this node watching the monitor.

use prometheus_client::{
    encoding::EncodeLabelSet,
    metrics::{family::Family, gauge::Gauge},
    registry::Registry,
};

use super::{Scope, census::ROLES, snapshot};
use crate::state::AppState;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StateLabels {
    pub state: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StatusLabels {
    pub status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabels {
    pub kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RoleLabels {
    pub role: String,
}

/// Notification statuses (migrations' CHECK), all exported even at zero.
const STATUSES: [&str; 8] = [
    "pending",
    "sending",
    "sent",
    "delivered",
    "undelivered",
    "failed",
    "cancelled",
    "suppressed",
];

/// Alert kinds, all exported even at zero.
pub const ALERT_KINDS: [&str; 5] = [
    "node_dead",
    "long_wait",
    "poor_quality",
    "outbox_backlog",
    "notification_failures",
];

#[derive(Clone, Default)]
pub struct MonitorMetrics {
    visits: Family<StateLabels, Gauge>,
    notifications: Family<StatusLabels, Gauge>,
    outbox_depth: Gauge,
    failures: Gauge,
    alerts: Family<KindLabels, Gauge>,
    sockets: Family<RoleLabels, Gauge>,
    watchers: Gauge,
}

impl MonitorMetrics {
    pub fn register(registry: &mut Registry) -> Self {
        let m = Self::default();
        registry.register("visits", "Visits by state", m.visits.clone());
        registry.register(
            "notifications",
            "Notifications by status",
            m.notifications.clone(),
        );
        registry.register(
            "notification_outbox_depth",
            "Notifications due and not yet handed to a channel",
            m.outbox_depth.clone(),
        );
        registry.register(
            "notification_failures_recent",
            "Notifications failed or undelivered in the last 12 hours",
            m.failures.clone(),
        );
        registry.register(
            "alerts",
            "Monitor alerts raised now, by kind",
            m.alerts.clone(),
        );
        registry.register(
            "monitor_sockets",
            "WebSocket connections of this node by role",
            m.sockets.clone(),
        );
        registry.register(
            "monitor_watchers",
            "Sockets of this node watching the live monitor",
            m.watchers.clone(),
        );
        m
    }
}

/// Reads the figures now. A failed read leaves the previous values (and is logged).
pub async fn refresh(state: &AppState) {
    let m = &state.metrics.monitor;
    let monitor = &state.gateway.monitor;
    let census = monitor.census.snapshot();
    for role in ROLES {
        let n = census.total.get(role).copied().unwrap_or(0);
        m.sockets
            .get_or_create(&RoleLabels { role: role.into() })
            .set(i64::try_from(n).unwrap_or(i64::MAX));
    }
    m.watchers
        .set(i64::try_from(monitor.watchers.len()).unwrap_or(i64::MAX));
    if let Err(e) = super::bus::read_heartbeats(state).await {
        tracing::warn!(error = %e, "monitor cannot read node heartbeats");
    }
    let snap = match snapshot::build(state, &Scope::All).await {
        Ok(snap) => snap,
        Err(e) => {
            tracing::warn!(error = %e, "monitor figures not read for /metrics");
            return;
        }
    };
    for s in snapshot::VISIT_STATES {
        let n = snap["visits"]["counts"][s].as_i64().unwrap_or(0);
        m.visits
            .get_or_create(&StateLabels { state: s.into() })
            .set(n);
    }
    for s in STATUSES {
        let n = snap["notifications"]["by_status"][s].as_i64().unwrap_or(0);
        m.notifications
            .get_or_create(&StatusLabels { status: s.into() })
            .set(n);
    }
    m.outbox_depth
        .set(snap["notifications"]["outbox_depth"].as_i64().unwrap_or(0));
    m.failures.set(
        snap["notifications"]["failed_recently"]
            .as_i64()
            .unwrap_or(0),
    );
    let alerts = snap["alerts"].as_array().cloned().unwrap_or_default();
    for kind in ALERT_KINDS {
        let n = alerts.iter().filter(|a| a["kind"] == kind).count();
        m.alerts
            .get_or_create(&KindLabels { kind: kind.into() })
            .set(i64::try_from(n).unwrap_or(i64::MAX));
    }
}
