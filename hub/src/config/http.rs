//! `[http]`: request limits and the connection limits that keep idle and slow
//! clients from exhausting the node (see `crate::connections`).

use serde::{Deserialize, Serialize};

use super::lenient;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// Largest request body accepted, in bytes.
    #[serde(deserialize_with = "lenient::value")]
    pub body_limit_bytes: usize,
    /// A request that takes longer is answered 408 and its work cancelled.
    #[serde(deserialize_with = "lenient::value")]
    pub request_timeout_secs: u64,
    /// Take the client address from `X-Forwarded-For` (only behind a trusted proxy;
    /// otherwise clients could dodge per-IP lockout by forging it).
    #[serde(deserialize_with = "lenient::value")]
    pub trust_forwarded_for: bool,
    /// HTTP/1.1: a request's headers must arrive in full within this time of the
    /// connection opening (or of the previous response); otherwise the connection
    /// is closed. Also bounds the TLS handshake. Defeats slowloris clients.
    #[serde(deserialize_with = "lenient::value")]
    pub header_read_timeout_secs: u64,
    /// A connection with no request in progress for this long is closed: idle
    /// HTTP/1.1 keep-alive connections and idle HTTP/2 connections.
    #[serde(deserialize_with = "lenient::value")]
    pub keep_alive_timeout_secs: u64,
    /// Most open client connections (WebSockets included). 0 = derived from the
    /// open-file limit, leaving room for the database, logs and media. At the cap
    /// a new connection closes the longest-idle one that has no request in
    /// progress, so `/healthz` keeps answering under a flood of idle connections.
    #[serde(deserialize_with = "lenient::value")]
    pub max_connections: usize,
    /// Largest request head (all header names and values), in bytes; larger
    /// answers 431 `headers_too_large`. At most 100 header fields.
    #[serde(deserialize_with = "lenient::value")]
    pub max_header_bytes: usize,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            body_limit_bytes: 64 * 1024,
            request_timeout_secs: 30,
            trust_forwarded_for: false,
            header_read_timeout_secs: 10,
            keep_alive_timeout_secs: 10,
            max_connections: 0,
            max_header_bytes: 16 * 1024,
        }
    }
}

impl HttpConfig {
    pub fn validate(&self) -> Result<(), String> {
        if !(1024..=64 * 1024 * 1024).contains(&self.body_limit_bytes) {
            return Err("http.body_limit_bytes must be between 1024 and 67108864".into());
        }
        if !(1..=3600).contains(&self.request_timeout_secs) {
            return Err("http.request_timeout_secs must be between 1 and 3600".into());
        }
        if !(1..=300).contains(&self.header_read_timeout_secs) {
            return Err("http.header_read_timeout_secs must be between 1 and 300".into());
        }
        if !(1..=3600).contains(&self.keep_alive_timeout_secs) {
            return Err("http.keep_alive_timeout_secs must be between 1 and 3600".into());
        }
        if self.max_connections != 0 && self.max_connections < 16 {
            return Err("http.max_connections must be 0 (automatic) or at least 16".into());
        }
        if !(1024..=256 * 1024).contains(&self.max_header_bytes) {
            return Err("http.max_header_bytes must be between 1024 and 262144".into());
        }
        Ok(())
    }
}
