//! Logging setup.

use tracing::{Level, Metadata};
use tracing_subscriber::{
    EnvFilter, Layer,
    filter::{FilterExt, filter_fn},
    fmt,
    layer::SubscriberExt,
    util::SubscriberInitExt,
};

use crate::config::{LogConfig, LogFormat};

/// Third-party crates that log what passes over the wire at debug or trace:
/// tungstenite prints every WebSocket message in full (the auth frame's token,
/// message bodies), h2 and hyper log frames and headers. Whatever the filter
/// says, they log at most at the level given here, so no `RUST_LOG` setting
/// can put a token or patient data into the log.
const WIRE_LOGGERS: &[(&str, Level)] = &[
    ("tungstenite", Level::WARN),
    ("tokio_tungstenite", Level::WARN),
    ("h2", Level::INFO),
    ("hyper", Level::INFO),
    ("hyper_util", Level::INFO),
];

/// Whether a span or event may be logged at all, before the configured filter.
fn wire_safe(meta: &Metadata<'_>) -> bool {
    let target = meta.target();
    WIRE_LOGGERS.iter().all(|(krate, max)| {
        let ours = target
            .strip_prefix(krate)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with("::"));
        !ours || meta.level() <= max
    })
}

/// Installs the global subscriber. `RUST_LOG`, when set, overrides the configured
/// level (handy when debugging one module), except for [`WIRE_LOGGERS`].
pub fn init(log: &LogConfig) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&log.level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let filter = filter.and(filter_fn(wire_safe));
    let layer = match log.format {
        LogFormat::Json => fmt::layer()
            .json()
            .flatten_event(true)
            .with_writer(std::io::stderr)
            .boxed(),
        LogFormat::Text => fmt::layer().with_writer(std::io::stderr).boxed(),
    };
    let result = tracing_subscriber::registry()
        .with(layer.with_filter(filter))
        .try_init();
    if result.is_err() {
        // Already installed (tests start several servers in one process).
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing::{Event, Subscriber};
    use tracing_subscriber::{Registry, layer::Context};

    /// Records the targets of the events that pass the filter.
    #[derive(Clone, Default)]
    struct Seen(std::sync::Arc<std::sync::Mutex<Vec<String>>>);

    impl<S: Subscriber> Layer<S> for Seen {
        fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
            self.0
                .lock()
                .unwrap()
                .push(event.metadata().target().to_owned());
        }
    }

    #[test]
    fn wire_loggers_stay_quiet_even_when_asked_for_trace() {
        let seen = Seen::default();
        let filter = EnvFilter::new("trace,tungstenite=trace,tungstenite::protocol=trace,h2=trace")
            .and(filter_fn(wire_safe));
        let subscriber = Registry::default().with(seen.clone().with_filter(filter));
        tracing::subscriber::with_default(subscriber, || {
            tracing::trace!(target: "tungstenite::protocol", "Received message secret-token");
            tracing::debug!(target: "tokio_tungstenite", "frame");
            tracing::debug!(target: "h2::codec::framed_read", "frame");
            tracing::trace!(target: "hyper::proto::h1::io", "bytes");
            tracing::trace!(target: "tungstenite_like_other_crate", "kept");
            tracing::warn!(target: "tungstenite::protocol", "kept");
            tracing::trace!(target: "hub::gateway", "kept");
        });
        let seen = seen.0.lock().unwrap().clone();
        assert_eq!(
            seen,
            [
                "tungstenite_like_other_crate",
                "tungstenite::protocol",
                "hub::gateway"
            ]
        );
    }
}
