//! `[metrics]`: who may read `/metrics`.
//!
//! The exposition names every route, node and counter; outside the embedded
//! single-machine default (loopback listener, SQLite, no Redis) it must not be
//! public, so `hub serve` refuses to start there without a token.

use serde::{Deserialize, Serialize};

use super::{Config, ConfigError, Secret};

/// Shortest token accepted: a scrape credential must not be guessable.
const MIN_TOKEN_CHARS: usize = 16;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    /// Bearer token `GET /metrics` requires (`Authorization: Bearer <token>`).
    /// Required when PostgreSQL or Redis is configured or the listen address is
    /// not loopback; optional (and then enforced if set) otherwise.
    pub token: Option<Secret>,
}

impl MetricsConfig {
    pub fn validate(&self) -> Result<(), String> {
        match &self.token {
            Some(t) if t.expose().trim().chars().count() < MIN_TOKEN_CHARS => Err(format!(
                "metrics.token must be at least {MIN_TOKEN_CHARS} characters"
            )),
            _ => Ok(()),
        }
    }
}

impl Config {
    /// Whether `/metrics` needs a token: anything but the embedded loopback default.
    pub fn metrics_token_required(&self) -> bool {
        self.is_cluster() || !self.listen.ip().is_loopback()
    }

    /// Checked by `hub serve` only: the other commands never expose `/metrics`.
    pub fn check_metrics_token(&self) -> Result<(), ConfigError> {
        if self.metrics.token.is_none() && self.metrics_token_required() {
            return Err(ConfigError::Invalid(
                "metrics.token (HUB_METRICS__TOKEN) must be set when PostgreSQL or Redis is \
                 configured or the listen address is not loopback: /metrics would be public"
                    .into(),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_is_required_outside_the_loopback_default() {
        let mut c = Config::default();
        assert!(c.check_metrics_token().is_ok(), "embedded default");
        c.listen = "0.0.0.0:8080".parse().unwrap();
        assert!(c.check_metrics_token().is_err(), "public listener");
        c.listen = "[::1]:8080".parse().unwrap();
        assert!(c.check_metrics_token().is_ok(), "IPv6 loopback");
        c.database_url = Some("postgres://postgres@127.0.0.1/hub".into());
        let err = c.check_metrics_token().unwrap_err().to_string();
        assert!(err.contains("HUB_METRICS__TOKEN"), "{err}");
        c.database_url = None;
        c.redis_url = Some("redis://127.0.0.1".into());
        assert!(c.check_metrics_token().is_err(), "Redis");
        c.metrics.token = Some(Secret::new("a-long-enough-scrape-token"));
        assert!(c.check_metrics_token().is_ok());
    }

    #[test]
    fn short_tokens_are_refused() {
        let m = MetricsConfig {
            token: Some(Secret::new("short")),
        };
        assert!(m.validate().is_err());
    }
}
