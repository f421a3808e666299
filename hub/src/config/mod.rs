//! Configuration: an optional TOML file overlaid with `HUB_`-prefixed environment
//! variables. Unknown keys in either are an error, so a typo cannot silently fall
//! back to a default. Every field has a default that runs on one machine with no
//! configuration at all.

mod audit;
mod env;
mod http;
mod lenient;
mod metrics;
mod secret;
mod visits;

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
};

use serde::{Deserialize, Serialize};

pub use audit::AuditConfig;
pub use http::HttpConfig;
pub use metrics::MetricsConfig;
pub use secret::{Secret, mask_url_password};
pub use visits::VisitsConfig;

/// Errors reading or validating configuration. Messages name the key at fault.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read configuration file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid configuration: {0}")]
    Parse(String),
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

/// The effective configuration of a hub process.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Address the HTTP server binds. Port 0 picks a free port (tests).
    pub listen: SocketAddr,
    /// Base URL users reach the hub at, used to build links (invites). Defaults to
    /// `http://{listen}`.
    pub public_url: Option<String>,
    /// Where the embedded database and generated secrets live.
    pub data_dir: PathBuf,
    /// `sqlite://...` or `postgres://...`; defaults to a SQLite file in `data_dir`.
    pub database_url: Option<String>,
    /// When set, the event bus runs over Redis pub/sub (several nodes).
    pub redis_url: Option<String>,
    pub log: LogConfig,
    pub http: HttpConfig,
    pub tls: Option<TlsConfig>,
    pub auth: AuthConfig,
    pub secrets: SecretsConfig,
    pub gateway: GatewayConfig,
    /// Email, SMS and in-app notifications (`[notifier]`; see docs/notifications.md).
    pub notifier: notifier::NotifierConfig,
    pub visits: VisitsConfig,
    /// Audit checkpoints (`[audit]`; see docs/architecture.md, "Audit log").
    pub audit: AuditConfig,
    /// Who may read `/metrics` (`[metrics] token`).
    pub metrics: MetricsConfig,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// A `tracing` filter, e.g. `info` or `hub=debug,tower_http=info`.
    pub level: String,
    pub format: LogFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    pub cert_path: PathBuf,
    pub key_path: PathBuf,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// Lifetime of access JWTs. Short, because an access token is checked without
    /// contacting the issuer's secret store.
    #[serde(deserialize_with = "lenient::value")]
    pub access_token_ttl_secs: u64,
    /// Lifetime of a login session (its refresh tokens).
    #[serde(deserialize_with = "lenient::value")]
    pub refresh_token_ttl_secs: u64,
    /// How long an invite link stays valid.
    #[serde(deserialize_with = "lenient::value")]
    pub invite_ttl_hours: u64,
    /// Issuer shown by authenticator apps next to the account.
    pub mfa_issuer: String,
    pub lockout: LockoutConfig,
}

/// Login throttling, per account and per client address.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LockoutConfig {
    /// Failures after which each further attempt must wait an exponential delay.
    #[serde(deserialize_with = "lenient::value")]
    pub account_slow_after: u32,
    /// Failures after which the account is locked for `lock_secs`.
    #[serde(deserialize_with = "lenient::value")]
    pub account_lock_after: u32,
    #[serde(deserialize_with = "lenient::value")]
    pub ip_slow_after: u32,
    #[serde(deserialize_with = "lenient::value")]
    pub ip_lock_after: u32,
    /// First delay once slowing starts; doubles with each failure.
    #[serde(deserialize_with = "lenient::value")]
    pub backoff_base_ms: u64,
    #[serde(deserialize_with = "lenient::value")]
    pub backoff_max_ms: u64,
    #[serde(deserialize_with = "lenient::value")]
    pub lock_secs: u64,
    /// Failures older than this are forgotten.
    #[serde(deserialize_with = "lenient::value")]
    pub window_secs: u64,
}

/// The live WebSocket gateway (`/ws`): limits that keep one client from costing
/// the node more than its share. See `docs/protocol.md`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GatewayConfig {
    /// Largest frame a client may send, in bytes; larger ones close the socket (1009).
    #[serde(deserialize_with = "lenient::value")]
    pub max_frame_bytes: usize,
    /// Frames queued for one client before it counts as a slow consumer (4004).
    #[serde(deserialize_with = "lenient::value")]
    pub send_queue: usize,
    /// Rooms one connection may subscribe to.
    #[serde(deserialize_with = "lenient::value")]
    pub max_rooms_per_connection: usize,
    /// Longest message body, in characters.
    #[serde(deserialize_with = "lenient::value")]
    pub max_body_chars: usize,
    /// Sustained publishes, edits and deletions per second per user on one node
    /// (bursts up to 2 s worth).
    #[serde(deserialize_with = "lenient::value")]
    pub messages_per_second: u32,
    /// Frames per second per connection above which the socket is closed (4006).
    #[serde(deserialize_with = "lenient::value")]
    pub flood_frames_per_second: u32,
    /// Seconds between server pings.
    #[serde(deserialize_with = "lenient::value")]
    pub ping_interval_secs: u64,
    /// A connection that sends nothing (not even a pong) for this long is closed (4005).
    #[serde(deserialize_with = "lenient::value")]
    pub idle_timeout_secs: u64,
    /// Time allowed for the auth frame after the upgrade.
    #[serde(deserialize_with = "lenient::value")]
    pub auth_timeout_secs: u64,
    /// Most missed events sent on a recovering `subscribe`; further behind, the
    /// client is told to reload history instead.
    #[serde(deserialize_with = "lenient::value")]
    pub max_recovery_events: usize,
    /// Seconds between node heartbeats; a node silent for three is presumed dead
    /// and its users' presence expires.
    #[serde(deserialize_with = "lenient::value")]
    pub heartbeat_secs: u64,
    /// How often an open socket re-checks that its login session is still live
    /// (logout elsewhere closes it with 4003).
    #[serde(deserialize_with = "lenient::value")]
    pub session_check_secs: u64,
    /// Open sockets one user (or one visit pass) may hold on a node; one more is
    /// closed with 4007 after its auth frame.
    #[serde(deserialize_with = "lenient::value")]
    pub max_sockets_per_user: usize,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        Self {
            max_frame_bytes: 64 * 1024,
            send_queue: 1024,
            max_rooms_per_connection: 100,
            max_body_chars: 4000,
            messages_per_second: 10,
            flood_frames_per_second: 200,
            ping_interval_secs: 25,
            idle_timeout_secs: 60,
            auth_timeout_secs: 10,
            max_recovery_events: 1000,
            heartbeat_secs: 5,
            session_check_secs: 60,
            max_sockets_per_user: 32,
        }
    }
}

/// Keys shared by every node. When absent on a single machine they are generated
/// into `data_dir/secrets/`; in a cluster they must be configured.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SecretsConfig {
    /// Base64 of at least 32 random bytes; signs access tokens (HS256).
    pub token_signing_key: Option<Secret>,
    /// Base64 of exactly 32 random bytes; AES-256-GCM key for data at rest.
    pub data_encryption_key: Option<Secret>,
    /// Retired data keys still needed to decrypt older rows (TOML only).
    pub previous_data_encryption_keys: Vec<Secret>,
    /// Base64 of at least 32 random bytes; keys the audit chain and signs its
    /// checkpoints (HMAC-SHA256). Keep it out of the database's reach.
    pub audit_key: Option<Secret>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            public_url: None,
            data_dir: PathBuf::from("./data"),
            database_url: None,
            redis_url: None,
            log: LogConfig::default(),
            http: HttpConfig::default(),
            tls: None,
            auth: AuthConfig::default(),
            secrets: SecretsConfig::default(),
            gateway: GatewayConfig::default(),
            notifier: notifier::NotifierConfig::default(),
            visits: VisitsConfig::default(),
            audit: AuditConfig::default(),
            metrics: MetricsConfig::default(),
        }
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            level: "info".into(),
            format: LogFormat::Text,
        }
    }
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            access_token_ttl_secs: 15 * 60,
            refresh_token_ttl_secs: 30 * 24 * 3600,
            invite_ttl_hours: 72,
            mfa_issuer: "HealthBridge".into(),
            lockout: LockoutConfig::default(),
        }
    }
}

impl Default for LockoutConfig {
    fn default() -> Self {
        Self {
            account_slow_after: 3,
            account_lock_after: 10,
            ip_slow_after: 20,
            ip_lock_after: 100,
            backoff_base_ms: 1000,
            backoff_max_ms: 60_000,
            lock_secs: 15 * 60,
            window_secs: 15 * 60,
        }
    }
}

/// The storage engine a database URL selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DatabaseKind {
    Sqlite,
    Postgres,
}

impl Config {
    /// Loads the file (if any) and overlays `env` (pass `std::env::vars()`).
    pub fn load(
        path: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let mut table = match path {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: path.to_owned(),
                    source,
                })?;
                text.parse::<toml::Table>()
                    .map_err(|e| ConfigError::Parse(format!("{}: {e}", path.display())))?
            }
            None => toml::Table::new(),
        };
        env::overlay(&mut table, env)?;
        let config: Config = toml::Value::Table(table)
            .try_into()
            .map_err(|e: toml::de::Error| ConfigError::Parse(e.message().to_owned()))?;
        config.validate()?;
        Ok(config)
    }

    /// Checks values that parse but make no sense, so the process fails at start
    /// rather than at the first request.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |m: &str| Err(ConfigError::Invalid(m.to_owned()));
        if let Some(url) = &self.database_url
            && !(url.starts_with("sqlite:")
                || url.starts_with("postgres://")
                || url.starts_with("postgresql://"))
        {
            return invalid("database_url must start with sqlite:, postgres:// or postgresql://");
        }
        if let Some(url) = &self.redis_url
            && !(url.starts_with("redis://") || url.starts_with("rediss://"))
        {
            return invalid("redis_url must start with redis:// or rediss://");
        }
        if let Some(url) = &self.public_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            return invalid("public_url must start with http:// or https://");
        }
        self.http.validate().map_err(ConfigError::Invalid)?;
        self.metrics.validate().map_err(ConfigError::Invalid)?;
        if !(30..=3600).contains(&self.auth.access_token_ttl_secs) {
            return invalid("auth.access_token_ttl_secs must be between 30 and 3600");
        }
        if self.auth.refresh_token_ttl_secs < self.auth.access_token_ttl_secs {
            return invalid("auth.refresh_token_ttl_secs must be at least access_token_ttl_secs");
        }
        if !(1..=24 * 30).contains(&self.auth.invite_ttl_hours) {
            return invalid("auth.invite_ttl_hours must be between 1 and 720");
        }
        if self.auth.refresh_token_ttl_secs > 365 * 24 * 3600 {
            return invalid("auth.refresh_token_ttl_secs must be at most one year");
        }
        let g = &self.gateway;
        if !(1024..=16 * 1024 * 1024).contains(&g.max_frame_bytes) {
            return invalid("gateway.max_frame_bytes must be between 1024 and 16777216");
        }
        if !(16..=1_000_000).contains(&g.send_queue) {
            return invalid("gateway.send_queue must be between 16 and 1000000");
        }
        if !(1..=10_000).contains(&g.max_rooms_per_connection) {
            return invalid("gateway.max_rooms_per_connection must be between 1 and 10000");
        }
        if !(1..=100_000).contains(&g.max_body_chars) {
            return invalid("gateway.max_body_chars must be between 1 and 100000");
        }
        if g.messages_per_second == 0 || g.flood_frames_per_second == 0 {
            return invalid("gateway rates must be at least 1");
        }
        if g.ping_interval_secs == 0 || g.idle_timeout_secs <= g.ping_interval_secs {
            return invalid(
                "gateway.idle_timeout_secs must exceed ping_interval_secs (at least 1)",
            );
        }
        if !(1..=300).contains(&g.auth_timeout_secs) {
            return invalid("gateway.auth_timeout_secs must be between 1 and 300");
        }
        if !(1..=100_000).contains(&g.max_recovery_events) {
            return invalid("gateway.max_recovery_events must be between 1 and 100000");
        }
        if !(1..=60).contains(&g.heartbeat_secs) {
            return invalid("gateway.heartbeat_secs must be between 1 and 60");
        }
        if !(1..=3600).contains(&g.session_check_secs) {
            return invalid("gateway.session_check_secs must be between 1 and 3600");
        }
        if !(1..=10_000).contains(&g.max_sockets_per_user) {
            return invalid("gateway.max_sockets_per_user must be between 1 and 10000");
        }
        let l = &self.auth.lockout;
        if !(1..=7 * 24 * 3600).contains(&l.lock_secs) {
            return invalid("auth.lockout.lock_secs must be between 1 and 604800");
        }
        if !(1..=7 * 24 * 3600).contains(&l.window_secs) {
            return invalid("auth.lockout.window_secs must be between 1 and 604800");
        }
        if l.backoff_max_ms > 3_600_000 {
            return invalid("auth.lockout.backoff_max_ms must be at most 3600000");
        }
        if l.account_lock_after == 0 || l.ip_lock_after == 0 {
            return invalid("auth.lockout.*_lock_after must be at least 1");
        }
        if l.account_slow_after > l.account_lock_after || l.ip_slow_after > l.ip_lock_after {
            return invalid("auth.lockout.*_slow_after must not exceed *_lock_after");
        }
        if l.backoff_base_ms > l.backoff_max_ms {
            return invalid("auth.lockout.backoff_base_ms must not exceed backoff_max_ms");
        }
        self.notifier.validate().map_err(ConfigError::Invalid)?;
        self.visits.validate().map_err(ConfigError::Invalid)?;
        self.audit.validate().map_err(ConfigError::Invalid)?;
        Ok(())
    }

    /// The database URL in effect: the configured one or the embedded SQLite file.
    pub fn effective_database_url(&self) -> String {
        match &self.database_url {
            Some(url) => url.clone(),
            None => format!(
                "sqlite://{}?mode=rwc",
                self.data_dir.join("hub.db").display()
            ),
        }
    }

    pub fn database_kind(&self) -> DatabaseKind {
        if self.effective_database_url().starts_with("sqlite:") {
            DatabaseKind::Sqlite
        } else {
            DatabaseKind::Postgres
        }
    }

    /// A cluster shares its database or bus with other nodes, so secrets must be
    /// identical everywhere and may not be generated locally.
    pub fn is_cluster(&self) -> bool {
        self.database_kind() == DatabaseKind::Postgres || self.redis_url.is_some()
    }

    pub fn effective_public_url(&self) -> String {
        match &self.public_url {
            Some(url) => url.trim_end_matches('/').to_owned(),
            None => {
                let scheme = if self.tls.is_some() { "https" } else { "http" };
                format!("{scheme}://{}", self.listen)
            }
        }
    }

    /// The configuration as TOML with every secret and URL password masked, for
    /// `hub config`.
    pub fn to_masked_toml(&self) -> String {
        let mut shown = self.clone();
        shown.database_url = Some(mask_url_password(&self.effective_database_url()));
        shown.redis_url = self.redis_url.as_deref().map(mask_url_password);
        shown.public_url = Some(self.effective_public_url());
        toml::to_string_pretty(&shown)
            .unwrap_or_else(|e| format!("# configuration cannot be shown: {e}\n"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_run_without_configuration() {
        let c = Config::load(None, env(&[])).unwrap();
        assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(c.data_dir, PathBuf::from("./data"));
        assert_eq!(c.database_kind(), DatabaseKind::Sqlite);
        assert!(!c.is_cluster());
    }

    #[test]
    fn environment_overrides_file_and_nested_keys() {
        let dir = std::env::temp_dir().join(format!("hubcfg-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("hub.toml");
        std::fs::write(
            &file,
            "listen = \"0.0.0.0:9000\"\n[auth]\naccess_token_ttl_secs = 600\n",
        )
        .unwrap();
        let c = Config::load(
            Some(&file),
            env(&[
                ("HUB_AUTH__ACCESS_TOKEN_TTL_SECS", "300"),
                ("HUB_AUTH__LOCKOUT__ACCOUNT_LOCK_AFTER", "7"),
                ("HUB_HTTP__TRUST_FORWARDED_FOR", "true"),
                ("HUB_DATABASE_URL", "postgres://u:p@localhost/hub"),
                ("PATH", "/usr/bin"),
                ("HUB_TEST_DATABASE_URL", "ignored by design"),
            ]),
        )
        .unwrap();
        assert_eq!(c.listen.to_string(), "0.0.0.0:9000");
        assert_eq!(c.auth.access_token_ttl_secs, 300);
        assert_eq!(c.auth.lockout.account_lock_after, 7);
        assert!(c.http.trust_forwarded_for);
        assert!(c.is_cluster());
        assert!(
            c.to_masked_toml()
                .contains("postgres://u:****@localhost/hub")
        );
    }

    #[test]
    fn unknown_keys_are_errors() {
        let err = Config::load(None, env(&[("HUB_LISTEN_ADDR", "x")])).unwrap_err();
        assert!(err.to_string().contains("listen_addr"), "{err}");
        let err = Config::load(None, env(&[("HUB_AUTH__TTL", "5")])).unwrap_err();
        assert!(err.to_string().contains("ttl"), "{err}");

        let dir = std::env::temp_dir().join(format!("hubcfg-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("hub.toml");
        std::fs::write(&file, "[http]\nbody_limit = 5\n").unwrap();
        assert!(Config::load(Some(&file), env(&[])).is_err());
    }

    #[test]
    fn bad_values_are_errors() {
        assert!(Config::load(None, env(&[("HUB_DATABASE_URL", "mysql://x")])).is_err());
        assert!(Config::load(None, env(&[("HUB_AUTH__ACCESS_TOKEN_TTL_SECS", "abc")])).is_err());
        assert!(Config::load(None, env(&[("HUB_AUTH__ACCESS_TOKEN_TTL_SECS", "5")])).is_err());
        assert!(Config::load(None, env(&[("HUB_LISTEN", "nowhere")])).is_err());
    }

    #[test]
    fn masked_output_hides_secrets() {
        let c = Config::load(
            None,
            env(&[("HUB_SECRETS__TOKEN_SIGNING_KEY", "c3VwZXItc2VjcmV0LXZhbHVl")]),
        )
        .unwrap();
        let shown = c.to_masked_toml();
        assert!(!shown.contains("c3VwZXItc2VjcmV0LXZhbHVl"));
        assert!(shown.contains("****"));
    }
}
