//! `[visits]`: video visits — ICE servers handed to browsers, where media workers run,
//! and the lifetimes of links, passes and grants.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use signaling::ice::IceConfig;

use super::lenient;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct VisitsConfig {
    /// STUN/TURN servers for browsers (`[visits.ice]`: `stun_urls`, `turn_urls`,
    /// `turn_secret`, `turn_ttl_secs`). With a TURN secret each participant gets
    /// time-limited credentials in the coturn REST format.
    pub ice: IceConfig,
    /// Run a media worker inside `hub serve` on `inproc://` (the single-machine default).
    #[serde(deserialize_with = "lenient::value")]
    pub in_process_media: bool,
    /// Separate `media` workers' control endpoints (`tcp://host:port`). Each visit is
    /// placed on the least loaded of these and the in-process one.
    pub media_workers: Vec<String>,
    /// Addresses the in-process worker's peer connections bind. Explicit addresses only:
    /// webrtc 0.21 expands a wildcard into every interface except loopback.
    pub media_bind_ips: Vec<IpAddr>,
    /// How long a control request to a media worker may take before the worker is
    /// considered unavailable.
    #[serde(deserialize_with = "lenient::value")]
    pub media_timeout_ms: u64,
    /// Lifetime of a media grant (the participant re-fetches one by joining again).
    #[serde(deserialize_with = "lenient::value")]
    pub grant_ttl_secs: u64,
    /// Visit links stay valid until this long after the scheduled start.
    #[serde(deserialize_with = "lenient::value")]
    pub link_ttl_after_start_secs: u64,
    /// Patients and guests may enter the waiting room this long before the start.
    #[serde(deserialize_with = "lenient::value")]
    pub join_opens_before_secs: u64,
    /// How often hosts get participants' quality figures while a visit is live.
    #[serde(deserialize_with = "lenient::value")]
    pub stats_interval_secs: u64,
}

impl Default for VisitsConfig {
    fn default() -> Self {
        Self {
            ice: IceConfig::default(),
            in_process_media: true,
            media_workers: Vec::new(),
            media_bind_ips: vec![IpAddr::from([127, 0, 0, 1])],
            media_timeout_ms: 5000,
            grant_ttl_secs: 600,
            link_ttl_after_start_secs: 2 * 3600,
            join_opens_before_secs: 30 * 60,
            stats_interval_secs: 5,
        }
    }
}

impl VisitsConfig {
    pub fn validate(&self) -> Result<(), String> {
        signaling::ice::IceServerProvider::new(&self.ice)
            .map_err(|e| format!("visits.ice: {e}"))?;
        if !self.in_process_media && self.media_workers.is_empty() {
            return Err(
                "visits: with in_process_media = false, media_workers must list at least one worker"
                    .into(),
            );
        }
        for w in &self.media_workers {
            if !w.starts_with("tcp://") {
                return Err(format!(
                    "visits.media_workers: {w} must be a tcp:// endpoint"
                ));
            }
        }
        if self.in_process_media && self.media_bind_ips.is_empty() {
            return Err("visits.media_bind_ips must list at least one address".into());
        }
        if self.media_bind_ips.iter().any(|ip| ip.is_unspecified()) {
            return Err(
                "visits.media_bind_ips must be explicit addresses, not 0.0.0.0 or ::".into(),
            );
        }
        if !(100..=60_000).contains(&self.media_timeout_ms) {
            return Err("visits.media_timeout_ms must be between 100 and 60000".into());
        }
        if !(30..=3600).contains(&self.grant_ttl_secs) {
            return Err("visits.grant_ttl_secs must be between 30 and 3600".into());
        }
        if !(600..=7 * 24 * 3600).contains(&self.link_ttl_after_start_secs) {
            return Err("visits.link_ttl_after_start_secs must be between 600 and 604800".into());
        }
        if self.join_opens_before_secs > 24 * 3600 {
            return Err("visits.join_opens_before_secs must be at most 86400".into());
        }
        if !(1..=300).contains(&self.stats_interval_secs) {
            return Err("visits.stats_interval_secs must be between 1 and 300".into());
        }
        Ok(())
    }
}
