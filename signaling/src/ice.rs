//! The ICE server list handed to browsers for `new RTCPeerConnection(...)`.
//!
//! STUN servers need no credentials. TURN servers do, and HealthBridge never
//! hands out a long-lived TURN password: with a shared secret configured (the
//! same as coturn's `static-auth-secret` with `use-auth-secret`), each list
//! carries credentials in coturn's REST API format, valid for a limited time
//! and naming the participant:
//!
//! ```text
//! username   = "<unix expiry seconds>:<participant id>"
//! credential = base64(HMAC-SHA1(secret, username))
//! ```
//!
//! coturn recomputes the HMAC and refuses the username once its expiry has
//! passed, so the hub and the TURN server share nothing but the secret.
//! TURN re-checks credentials when an allocation is refreshed, so the
//! lifetime must outlast the longest visit (the default is the 24 hours the
//! TURN REST draft suggests).

use std::fmt;

use base64::{Engine, engine::general_purpose::STANDARD};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha1::Sha1;

use crate::{ids::ParticipantId, time::secs};

pub const DEFAULT_TURN_TTL_SECS: u64 = 24 * 60 * 60;
const MIN_TURN_TTL_SECS: u64 = 60;
const MAX_TURN_TTL_SECS: u64 = 7 * 24 * 60 * 60;

/// The TURN shared secret. `Debug` and `Serialize` print `****`.
#[derive(Clone, PartialEq, Eq)]
pub struct TurnSecret(String);

impl TurnSecret {
    pub fn new(secret: impl Into<String>) -> Self {
        Self(secret.into())
    }
}

impl fmt::Debug for TurnSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TurnSecret(****)")
    }
}

impl Serialize for TurnSecret {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str("****")
    }
}

impl<'de> Deserialize<'de> for TurnSecret {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(TurnSecret)
    }
}

/// The `[ice]` configuration. With nothing set, browsers get an empty list
/// and connect directly, which works on one network; no public STUN server
/// is assumed, so no third party learns who holds visits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IceConfig {
    /// `stun:` or `stuns:` URLs.
    pub stun_urls: Vec<String>,
    /// `turn:` or `turns:` URLs (`?transport=tcp` allowed); need `turn_secret`.
    pub turn_urls: Vec<String>,
    pub turn_secret: Option<TurnSecret>,
    /// How long TURN credentials stay valid, 60 s to 7 days.
    pub turn_ttl_secs: u64,
}

impl Default for IceConfig {
    fn default() -> Self {
        Self {
            stun_urls: Vec::new(),
            turn_urls: Vec::new(),
            turn_secret: None,
            turn_ttl_secs: DEFAULT_TURN_TTL_SECS,
        }
    }
}

/// A configuration mistake, found at start-up rather than mid-call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IceConfigError {
    #[error("not a {expected} URL: {url}")]
    InvalidUrl { expected: &'static str, url: String },
    #[error("TURN URLs are configured without a TURN secret")]
    TurnSecretMissing,
    #[error("a TURN secret is configured without TURN URLs")]
    TurnUrlsMissing,
    #[error("the TURN secret is empty")]
    EmptyTurnSecret,
    #[error("the TURN credential lifetime must be from 60 seconds to 7 days")]
    InvalidTtl,
}

impl IceConfigError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidUrl { .. } => "invalid_ice_url",
            Self::TurnSecretMissing => "turn_secret_missing",
            Self::TurnUrlsMissing => "turn_urls_missing",
            Self::EmptyTurnSecret => "turn_secret_empty",
            Self::InvalidTtl => "turn_ttl_invalid",
        }
    }
}

/// One entry of the list, serialized like the browser's `RTCIceServer`:
/// `{"urls": [...], "username": "...", "credential": "..."}`, the last two
/// only for TURN. `Debug` hides the credential.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IceServer {
    pub urls: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub username: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub credential: Option<String>,
}

impl fmt::Debug for IceServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IceServer")
            .field("urls", &self.urls)
            .field("username", &self.username)
            .field("credential", &self.credential.as_ref().map(|_| "****"))
            .finish()
    }
}

/// The list for one participant, and when its TURN credentials expire
/// (`None` without TURN): a client still connecting then asks for a new list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IceServers {
    pub ice_servers: Vec<IceServer>,
    pub expires_at_ms: Option<i64>,
}

/// The HMAC keyed with the TURN secret, made once; cloned per credential.
#[derive(Clone)]
struct TurnKey(Hmac<Sha1>);

/// Builds ICE server lists from a checked [`IceConfig`]. `Debug` hides the
/// TURN secret.
#[derive(Clone)]
pub struct IceServerProvider {
    stun_urls: Vec<String>,
    turn_urls: Vec<String>,
    turn_key: Option<TurnKey>,
    turn_ttl_secs: i64,
}

impl fmt::Debug for IceServerProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IceServerProvider")
            .field("stun_urls", &self.stun_urls)
            .field("turn_urls", &self.turn_urls)
            .field("turn_secret", &self.turn_key.as_ref().map(|_| "****"))
            .field("turn_ttl_secs", &self.turn_ttl_secs)
            .finish()
    }
}

fn check_urls(
    urls: &[String],
    schemes: [&str; 2],
    expected: &'static str,
) -> Result<(), IceConfigError> {
    for url in urls {
        let rest = schemes.iter().find_map(|s| url.strip_prefix(s));
        let ok = rest.is_some_and(|r| !r.is_empty())
            && !url.chars().any(|c| c.is_whitespace() || c.is_control());
        if !ok {
            return Err(IceConfigError::InvalidUrl {
                expected,
                url: url.clone(),
            });
        }
    }
    Ok(())
}

impl IceServerProvider {
    pub fn new(config: &IceConfig) -> Result<Self, IceConfigError> {
        check_urls(&config.stun_urls, ["stun:", "stuns:"], "STUN")?;
        check_urls(&config.turn_urls, ["turn:", "turns:"], "TURN")?;
        let turn_key = match (&config.turn_secret, config.turn_urls.is_empty()) {
            (None, false) => return Err(IceConfigError::TurnSecretMissing),
            (Some(_), true) => return Err(IceConfigError::TurnUrlsMissing),
            (None, true) => None,
            (Some(secret), false) => {
                if secret.0.is_empty() {
                    return Err(IceConfigError::EmptyTurnSecret);
                }
                // HMAC takes keys of any length; this cannot fail, but is
                // mapped rather than unwrapped.
                let mac = Hmac::<Sha1>::new_from_slice(secret.0.as_bytes())
                    .map_err(|_| IceConfigError::EmptyTurnSecret)?;
                Some(TurnKey(mac))
            }
        };
        if !(MIN_TURN_TTL_SECS..=MAX_TURN_TTL_SECS).contains(&config.turn_ttl_secs) {
            return Err(IceConfigError::InvalidTtl);
        }
        let turn_ttl_secs =
            i64::try_from(config.turn_ttl_secs).map_err(|_| IceConfigError::InvalidTtl)?;
        Ok(Self {
            stun_urls: config.stun_urls.clone(),
            turn_urls: config.turn_urls.clone(),
            turn_key,
            turn_ttl_secs,
        })
    }

    /// The list for `participant_id` at `now_ms`: one entry with every STUN
    /// URL, one with every TURN URL and fresh credentials.
    pub fn ice_servers(&self, participant_id: &ParticipantId, now_ms: i64) -> IceServers {
        let mut ice_servers = Vec::new();
        if !self.stun_urls.is_empty() {
            ice_servers.push(IceServer {
                urls: self.stun_urls.clone(),
                username: None,
                credential: None,
            });
        }
        let mut expires_at_ms = None;
        if let Some(TurnKey(key)) = &self.turn_key {
            let expiry = secs(now_ms).saturating_add(self.turn_ttl_secs);
            let username = format!("{expiry}:{participant_id}");
            let mut mac = key.clone();
            mac.update(username.as_bytes());
            let credential = STANDARD.encode(mac.finalize().into_bytes());
            ice_servers.push(IceServer {
                urls: self.turn_urls.clone(),
                username: Some(username),
                credential: Some(credential),
            });
            expires_at_ms = Some(expiry.saturating_mul(1000));
        }
        IceServers {
            ice_servers,
            expires_at_ms,
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const SECRET: &str = "north-turn-secret";

    fn turn_config(ttl: u64) -> IceConfig {
        IceConfig {
            stun_urls: vec!["stun:stun.care.example:3478".into()],
            turn_urls: vec![
                "turn:turn.care.example:3478?transport=udp".into(),
                "turns:turn.care.example:5349?transport=tcp".into(),
            ],
            turn_secret: Some(TurnSecret::new(SECRET)),
            turn_ttl_secs: ttl,
        }
    }

    /// Expected credentials computed independently with Python's hmac module,
    /// not with this code:
    ///
    /// ```text
    /// python3 -c "import hmac,hashlib,base64; u='1700086400:0190a6f2-6c2e-7000-8000-000000000001'; \
    ///   print(base64.b64encode(hmac.new(b'north-turn-secret', u.encode(), hashlib.sha1).digest()).decode())"
    /// DAjbYO5Jhw4ocoYSBfRKBVGq+nU=
    /// ```
    ///
    /// and likewise `JMroI5PhSzeqUh33UBMT3/2gZr8=` for `1700000600:p-42`.
    #[test]
    fn turn_credentials_match_the_coturn_rest_format() {
        let provider = IceServerProvider::new(&turn_config(DEFAULT_TURN_TTL_SECS)).unwrap();
        let pid = ParticipantId::from("0190a6f2-6c2e-7000-8000-000000000001");
        let list = provider.ice_servers(&pid, 1_700_000_000_999);
        let turn = &list.ice_servers[1];
        assert_eq!(
            turn.username.as_deref(),
            Some("1700086400:0190a6f2-6c2e-7000-8000-000000000001")
        );
        assert_eq!(
            turn.credential.as_deref(),
            Some("DAjbYO5Jhw4ocoYSBfRKBVGq+nU=")
        );
        assert_eq!(list.expires_at_ms, Some(1_700_086_400_000));

        let short = IceServerProvider::new(&turn_config(600)).unwrap();
        let list = short.ice_servers(&ParticipantId::from("p-42"), 1_700_000_000_000);
        let turn = &list.ice_servers[1];
        assert_eq!(turn.username.as_deref(), Some("1700000600:p-42"));
        assert_eq!(
            turn.credential.as_deref(),
            Some("JMroI5PhSzeqUh33UBMT3/2gZr8=")
        );
    }

    #[test]
    fn serializes_like_rtc_ice_server() {
        let provider = IceServerProvider::new(&turn_config(600)).unwrap();
        let list = provider.ice_servers(&ParticipantId::from("p-42"), 1_700_000_000_000);
        assert_eq!(
            serde_json::to_value(&list).unwrap(),
            json!({
                "ice_servers": [
                    {"urls": ["stun:stun.care.example:3478"]},
                    {
                        "urls": [
                            "turn:turn.care.example:3478?transport=udp",
                            "turns:turn.care.example:5349?transport=tcp"
                        ],
                        "username": "1700000600:p-42",
                        "credential": "JMroI5PhSzeqUh33UBMT3/2gZr8="
                    }
                ],
                "expires_at_ms": 1_700_000_600_000_i64
            })
        );
    }

    #[test]
    fn credentials_name_the_participant_and_change_with_time() {
        let provider = IceServerProvider::new(&turn_config(600)).unwrap();
        let a = provider.ice_servers(&ParticipantId::from("a"), 1_700_000_000_000);
        let b = provider.ice_servers(&ParticipantId::from("b"), 1_700_000_000_000);
        let later = provider.ice_servers(&ParticipantId::from("a"), 1_700_000_001_000);
        let cred = |l: &IceServers| l.ice_servers[1].credential.clone();
        assert_ne!(cred(&a), cred(&b));
        assert_ne!(cred(&a), cred(&later));
        let same_second = provider.ice_servers(&ParticipantId::from("a"), 1_700_000_000_999);
        assert_eq!(cred(&a), cred(&same_second));
    }

    #[test]
    fn stun_only_and_empty_configurations() {
        let stun = IceConfig {
            stun_urls: vec!["stun:a.example".into(), "stuns:b.example:5349".into()],
            ..IceConfig::default()
        };
        let list = IceServerProvider::new(&stun)
            .unwrap()
            .ice_servers(&ParticipantId::from("p"), 0);
        assert_eq!(
            serde_json::to_value(&list).unwrap(),
            json!({"ice_servers": [{"urls": ["stun:a.example", "stuns:b.example:5349"]}],
                   "expires_at_ms": null})
        );
        let none = IceServerProvider::new(&IceConfig::default())
            .unwrap()
            .ice_servers(&ParticipantId::from("p"), 0);
        assert!(none.ice_servers.is_empty());
        assert_eq!(none.expires_at_ms, None);
    }

    #[test]
    fn configuration_mistakes_are_refused() {
        let code = |c: IceConfig| IceServerProvider::new(&c).unwrap_err().code();
        let bad_stun = |url: &str| IceConfig {
            stun_urls: vec![url.into()],
            ..IceConfig::default()
        };
        for url in [
            "http://stun.example",
            "stun:",
            "turn:x.example",
            "stun:a b",
            "",
        ] {
            assert_eq!(code(bad_stun(url)), "invalid_ice_url", "{url:?}");
        }
        let mut c = turn_config(600);
        c.turn_urls = vec!["stun:x.example".into()];
        assert_eq!(code(c), "invalid_ice_url");
        let mut c = turn_config(600);
        c.turn_secret = None;
        assert_eq!(code(c), "turn_secret_missing");
        let mut c = turn_config(600);
        c.turn_urls.clear();
        assert_eq!(code(c), "turn_urls_missing");
        let mut c = turn_config(600);
        c.turn_secret = Some(TurnSecret::new(""));
        assert_eq!(code(c), "turn_secret_empty");
        for ttl in [0, 59, MAX_TURN_TTL_SECS + 1, u64::MAX] {
            assert_eq!(code(turn_config(ttl)), "turn_ttl_invalid", "{ttl}");
        }
        assert!(IceServerProvider::new(&turn_config(60)).is_ok());
        assert!(IceServerProvider::new(&turn_config(MAX_TURN_TTL_SECS)).is_ok());
    }

    #[test]
    fn reads_configuration_and_never_prints_the_secret() {
        let config: IceConfig = serde_json::from_value(json!({
            "turn_urls": ["turn:turn.care.example:3478"],
            "turn_secret": SECRET,
        }))
        .unwrap();
        assert_eq!(config.turn_ttl_secs, DEFAULT_TURN_TTL_SECS);
        assert!(serde_json::from_value::<IceConfig>(json!({"turn_password": "x"})).is_err());

        let provider = IceServerProvider::new(&config).unwrap();
        let list = provider.ice_servers(&ParticipantId::from("p"), 0);
        let credential = list.ice_servers[0].credential.clone().unwrap();
        let shown = format!(
            "{config:?} {provider:?} {list:?} {}",
            serde_json::to_string(&config).unwrap()
        );
        assert!(!shown.contains(SECRET), "{shown}");
        assert!(!shown.contains(&credential), "{shown}");
        assert!(shown.contains("****"), "{shown}");
    }
}
