//! Prometheus metrics, served as text at `/metrics`.

use std::sync::Arc;

use prometheus_client::{
    encoding::{EncodeLabelSet, text::encode},
    metrics::{
        counter::Counter,
        family::Family,
        gauge::Gauge,
        histogram::{Histogram, exponential_buckets},
    },
    registry::Registry,
};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub method: String,
    /// The route template (`/api/v1/orgs/{org_id}`), never the raw path: raw paths
    /// carry ids and would make the label set unbounded.
    pub route: String,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub method: String,
    pub route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    pub outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CloseLabels {
    /// The WebSocket close code the server sent (0: the peer went away first).
    pub code: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct BuildLabels {
    pub version: String,
    pub database: String,
    pub bus: String,
}

/// The hub's metrics and the registry that renders them.
#[derive(Clone)]
pub struct Metrics {
    registry: Arc<Registry>,
    pub http_requests: Family<RequestLabels, Counter>,
    pub http_duration: Family<RouteLabels, Histogram, fn() -> Histogram>,
    pub logins: Family<OutcomeLabels, Counter>,
    /// Open WebSocket connections on this node.
    pub ws_connections: Gauge,
    pub ws_closes: Family<CloseLabels, Counter>,
    /// Room events delivered to local sockets (one per socket).
    pub ws_deliveries: Counter,
    /// Times a room feed read missed events from the database.
    pub feed_catch_ups: Counter,
    /// The live monitor's figures, read at scrape time (hub/src/monitor/metrics.rs).
    pub monitor: crate::monitor::metrics::MonitorMetrics,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Metrics {
    pub fn new(database: &str, bus: &str) -> Self {
        let mut registry = Registry::with_prefix("hub");
        let http_requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests answered",
            http_requests.clone(),
        );
        let http_duration = Family::<RouteLabels, Histogram>::new_with_constructor(
            (|| Histogram::new(exponential_buckets(0.001, 2.0, 14))) as fn() -> Histogram,
        );
        registry.register(
            "http_request_duration_seconds",
            "Time to answer HTTP requests",
            http_duration.clone(),
        );
        let logins = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "login_attempts",
            "Login attempts by outcome",
            logins.clone(),
        );
        let ws_connections = Gauge::default();
        registry.register(
            "ws_connections",
            "Open WebSocket connections",
            ws_connections.clone(),
        );
        let ws_closes = Family::<CloseLabels, Counter>::default();
        registry.register(
            "ws_closes",
            "WebSocket connections ended, by the close code sent",
            ws_closes.clone(),
        );
        let ws_deliveries = Counter::default();
        registry.register(
            "ws_deliveries",
            "Room events queued to local sockets",
            ws_deliveries.clone(),
        );
        let feed_catch_ups = Counter::default();
        registry.register(
            "room_feed_catch_ups",
            "Room feed reads of missed events from the database",
            feed_catch_ups.clone(),
        );
        let build = Family::<BuildLabels, Gauge>::default();
        build
            .get_or_create(&BuildLabels {
                version: env!("CARGO_PKG_VERSION").into(),
                database: database.into(),
                bus: bus.into(),
            })
            .set(1);
        registry.register("build_info", "Version and backends of this node", build);
        let monitor = crate::monitor::metrics::MonitorMetrics::register(&mut registry);
        Self {
            registry: Arc::new(registry),
            http_requests,
            http_duration,
            logins,
            ws_connections,
            ws_closes,
            ws_deliveries,
            feed_catch_ups,
            monitor,
        }
    }

    pub fn login(&self, outcome: &str) {
        self.logins
            .get_or_create(&OutcomeLabels {
                outcome: outcome.into(),
            })
            .inc();
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}
