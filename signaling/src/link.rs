//! Visit links: how a patient (or guest) without an account joins one visit.
//!
//! The link carries 32 random bytes (base64url, no padding) in its fragment,
//! `https://hub.example/visit#t=<token>`. Browsers never send a fragment to
//! the server, so the token stays out of access logs, proxies and `Referer`
//! headers; the page reads it and exchanges it over the API. Only the
//! SHA-256 of the token is stored: a leaked database yields no usable link.
//! A fast hash is enough because the token is 256 random bits, not a password.
//!
//! A link is bound to one participant of one visit, expires, and can be
//! revoked. It is not single-use: the patient may reload the page or come
//! back after a dropped connection until it expires or the visit is over.

use std::fmt;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use hmac::digest::CtOutput;
use rand::RngCore;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};

use crate::ids::{ParticipantId, VisitId};

const TOKEN_BYTES: usize = 32;
/// Length of the base64url form of [`TOKEN_BYTES`] without padding.
const TOKEN_CHARS: usize = 43;

/// A link token as handed out once. `Debug` hides it; it is never stored.
#[derive(Clone, PartialEq, Eq)]
pub struct LinkToken(String);

impl LinkToken {
    fn generate() -> Self {
        let mut bytes = [0u8; TOKEN_BYTES];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        Self(URL_SAFE_NO_PAD.encode(bytes))
    }

    /// The token itself, for the one place that needs it: the link sent to
    /// the patient.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for LinkToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LinkToken(****)")
    }
}

/// The stored form of a token: its SHA-256, shown and serialized as 64
/// lowercase hex digits (like the hub's other token hashes).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct LinkHash([u8; 32]);

impl LinkHash {
    /// The hash to look a presented token up by. A string that cannot be a
    /// token (wrong length or alphabet) is refused here, before any query.
    pub fn of_token(token: &str) -> Result<Self, LinkError> {
        let well_formed = token.len() == TOKEN_CHARS
            && URL_SAFE_NO_PAD
                .decode(token)
                .is_ok_and(|b| b.len() == TOKEN_BYTES);
        if !well_formed {
            return Err(LinkError::Invalid);
        }
        Ok(Self::digest(token))
    }

    fn digest(token: &str) -> Self {
        Self(Sha256::digest(token.as_bytes()).into())
    }

    pub fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }

    pub fn from_hex(hex: &str) -> Option<Self> {
        if hex.len() != 64 || !hex.bytes().all(|c| c.is_ascii_hexdigit()) {
            return None;
        }
        let mut bytes = [0u8; 32];
        for (i, byte) in bytes.iter_mut().enumerate() {
            *byte = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
        }
        Some(Self(bytes))
    }

    /// Equality in constant time (through `digest`'s `CtOutput`, which
    /// compares with `subtle`): how long a comparison takes says nothing about
    /// how many leading bytes matched.
    fn ct_eq(&self, other: &Self) -> bool {
        let a = CtOutput::<Sha256>::new(self.0.into());
        let b = CtOutput::<Sha256>::new(other.0.into());
        a == b
    }
}

impl fmt::Debug for LinkHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "LinkHash({})", self.to_hex())
    }
}

impl Serialize for LinkHash {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for LinkHash {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let hex = String::deserialize(deserializer)?;
        Self::from_hex(&hex).ok_or_else(|| serde::de::Error::custom("expected 64 hex digits"))
    }
}

/// A stored visit link.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VisitLink {
    pub hash: LinkHash,
    pub visit_id: VisitId,
    pub participant_id: ParticipantId,
    pub expires_at_ms: i64,
    pub revoked_at_ms: Option<i64>,
}

/// A new link: the token to send (once) and the row to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedLink {
    pub token: LinkToken,
    pub link: VisitLink,
}

/// What a valid link stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redemption {
    pub visit_id: VisitId,
    pub participant_id: ParticipantId,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    /// Unknown, malformed, or not this link's token: one answer for all.
    #[error("the visit link is not valid")]
    Invalid,
    #[error("the visit link has expired")]
    Expired,
    #[error("the visit link has been revoked")]
    Revoked,
    #[error("a visit link must expire after it is issued")]
    InvalidExpiry,
}

impl LinkError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::Invalid => "link_invalid",
            Self::Expired => "link_expired",
            Self::Revoked => "link_revoked",
            Self::InvalidExpiry => "invalid_expiry",
        }
    }
}

impl VisitLink {
    /// Makes a link for one participant of one visit, valid until
    /// `expires_at_ms` (which must be after `now_ms`; the hub typically picks
    /// the visit's scheduled end plus some slack).
    pub fn issue(
        visit_id: VisitId,
        participant_id: ParticipantId,
        expires_at_ms: i64,
        now_ms: i64,
    ) -> Result<IssuedLink, LinkError> {
        if expires_at_ms <= now_ms {
            return Err(LinkError::InvalidExpiry);
        }
        let token = LinkToken::generate();
        let link = VisitLink {
            hash: LinkHash::digest(token.expose()),
            visit_id,
            participant_id,
            expires_at_ms,
            revoked_at_ms: None,
        };
        Ok(IssuedLink { token, link })
    }

    /// Checks a presented token against this (looked-up) link: the hash in
    /// constant time, then revocation, then expiry. The hub finds the row by
    /// [`LinkHash::of_token`] and calls this; checking the hash again here
    /// means a wrong row can never be redeemed.
    pub fn redeem(&self, token: &str, now_ms: i64) -> Result<Redemption, LinkError> {
        let presented = LinkHash::of_token(token)?;
        if !presented.ct_eq(&self.hash) {
            return Err(LinkError::Invalid);
        }
        if self.revoked_at_ms.is_some() {
            return Err(LinkError::Revoked);
        }
        if now_ms >= self.expires_at_ms {
            return Err(LinkError::Expired);
        }
        Ok(Redemption {
            visit_id: self.visit_id.clone(),
            participant_id: self.participant_id.clone(),
        })
    }

    /// The link revoked at `now_ms`; revoking again keeps the first time.
    pub fn revoke(&self, now_ms: i64) -> VisitLink {
        VisitLink {
            revoked_at_ms: self.revoked_at_ms.or(Some(now_ms)),
            ..self.clone()
        }
    }
}

/// The link to send: `<public_url>/visit#t=<token>`. `public_url` is the
/// hub's validated public base URL (scheme, host, optional path, no query or
/// fragment); a trailing `/` is ignored. base64url needs no escaping.
pub fn link_url(public_url: &str, token: &LinkToken) -> String {
    format!(
        "{}/visit#t={}",
        public_url.trim_end_matches('/'),
        token.expose()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000_000;
    const DAY: i64 = 86_400_000;

    fn issued() -> IssuedLink {
        VisitLink::issue(
            VisitId::from("visit-1"),
            ParticipantId::from("patient-1"),
            NOW + DAY,
            NOW,
        )
        .unwrap()
    }

    #[test]
    fn tokens_are_random_base64url_and_only_hashed() {
        let a = issued();
        let b = issued();
        let token = a.token.expose();
        assert_eq!(token.len(), 43);
        assert!(
            token
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
        );
        assert_ne!(a.token, b.token);
        assert_ne!(a.link.hash, b.link.hash);
        let stored = serde_json::to_string(&a.link).unwrap();
        assert!(!stored.contains(token), "the row holds no token: {stored}");
        assert_eq!(LinkHash::of_token(token).unwrap(), a.link.hash);
    }

    #[test]
    fn the_hash_is_plain_sha256_hex() {
        // Vector from Python: hashlib.sha256(b"A" * 43).hexdigest()
        let token = "A".repeat(43);
        assert_eq!(
            LinkHash::of_token(&token).unwrap().to_hex(),
            "0f007385b6f9d4b7eeb2748605afe1a984a0a3bfa3f014d09e2a784ce9e5cd1a"
        );
    }

    #[test]
    fn redeem_returns_the_one_visit_and_participant() {
        let i = issued();
        let r = i.link.redeem(i.token.expose(), NOW + 1).unwrap();
        assert_eq!(r.visit_id, VisitId::from("visit-1"));
        assert_eq!(r.participant_id, ParticipantId::from("patient-1"));
        assert!(
            i.link.redeem(i.token.expose(), NOW + 2).is_ok(),
            "reusable until it expires"
        );
    }

    #[test]
    fn another_token_or_garbage_is_invalid() {
        let i = issued();
        let other = issued();
        let err = i.link.redeem(other.token.expose(), NOW).unwrap_err();
        assert_eq!(err.code(), "link_invalid");
        // Same shape, one character changed: well-formed, but not this link's.
        let mut altered = i.token.expose().to_owned();
        let swap = if altered.as_bytes()[10] == b'A' {
            "B"
        } else {
            "A"
        };
        altered.replace_range(10..11, swap);
        assert!(LinkHash::of_token(&altered).is_ok());
        assert_eq!(i.link.redeem(&altered, NOW), Err(LinkError::Invalid));
        let padded = format!("{}=", i.token.expose());
        let too_long = format!("{}A", i.token.expose());
        let bad_alphabet = i.token.expose().replacen(|_| true, "+", 1);
        let with_slash = i.token.expose().replacen(|_| true, "/", 1);
        for bad in [
            "",
            "t",
            padded.as_str(),
            too_long.as_str(),
            &i.token.expose()[..42],
            bad_alphabet.as_str(),
            with_slash.as_str(),
        ] {
            assert_eq!(i.link.redeem(bad, NOW), Err(LinkError::Invalid), "{bad:?}");
            assert_eq!(LinkHash::of_token(bad), Err(LinkError::Invalid), "{bad:?}");
        }
    }

    #[test]
    fn expires_exactly_at_expires_at() {
        let i = issued();
        assert!(i.link.redeem(i.token.expose(), NOW + DAY - 1).is_ok());
        let err = i.link.redeem(i.token.expose(), NOW + DAY).unwrap_err();
        assert_eq!((err, err.code()), (LinkError::Expired, "link_expired"));
    }

    #[test]
    fn revoked_links_are_refused_even_before_expiry() {
        let i = issued();
        let revoked = i.link.revoke(NOW + 10);
        assert_eq!(revoked.revoked_at_ms, Some(NOW + 10));
        let err = revoked.redeem(i.token.expose(), NOW + 11).unwrap_err();
        assert_eq!((err, err.code()), (LinkError::Revoked, "link_revoked"));
        assert_eq!(
            revoked.redeem(i.token.expose(), NOW + 2 * DAY),
            Err(LinkError::Revoked),
            "revoked wins over expired"
        );
        assert_eq!(
            revoked.revoke(NOW + 99).revoked_at_ms,
            Some(NOW + 10),
            "revoking again keeps the first time"
        );
        let other = issued();
        assert_eq!(
            revoked.redeem(other.token.expose(), NOW),
            Err(LinkError::Invalid),
            "a wrong token learns nothing about revocation"
        );
    }

    #[test]
    fn a_link_must_expire_in_the_future() {
        for expires in [NOW, NOW - 1] {
            let err = VisitLink::issue(VisitId::from("v"), ParticipantId::from("p"), expires, NOW)
                .unwrap_err();
            assert_eq!(err.code(), "invalid_expiry");
        }
    }

    #[test]
    fn link_url_puts_the_token_in_the_fragment() {
        let i = issued();
        let t = i.token.expose();
        for base in ["https://care.example.org", "https://care.example.org/"] {
            assert_eq!(
                link_url(base, &i.token),
                format!("https://care.example.org/visit#t={t}")
            );
        }
        assert_eq!(
            link_url("https://example.org/hb//", &i.token),
            format!("https://example.org/hb/visit#t={t}")
        );
        let url = link_url("http://127.0.0.1:8080", &i.token);
        let (before_fragment, fragment) = url.split_once('#').unwrap();
        assert!(!before_fragment.contains(t), "the server never sees it");
        assert_eq!(fragment, format!("t={t}"));
    }

    #[test]
    fn debug_hides_the_token() {
        let i = issued();
        let shown = format!("{i:?}");
        assert!(!shown.contains(i.token.expose()), "{shown}");
        assert!(shown.contains("LinkToken(****)"), "{shown}");
    }

    #[test]
    fn hashes_round_trip_through_hex_and_serde() {
        let h = issued().link.hash;
        assert_eq!(LinkHash::from_hex(&h.to_hex()), Some(h));
        assert_eq!(LinkHash::from_hex(&h.to_hex().to_uppercase()), Some(h));
        for bad in ["", "zz", &"g".repeat(64), &"0".repeat(63), &"é".repeat(32)] {
            assert_eq!(LinkHash::from_hex(bad), None, "{bad:?}");
        }
        let json = serde_json::to_string(&h).unwrap();
        assert_eq!(json, format!("\"{}\"", h.to_hex()));
        assert_eq!(serde_json::from_str::<LinkHash>(&json).unwrap(), h);
        assert!(serde_json::from_str::<LinkHash>("\"abc\"").is_err());
    }

    #[test]
    fn constant_time_comparison_agrees_with_equality() {
        let a = issued().link.hash;
        let b = issued().link.hash;
        assert!(a.ct_eq(&a));
        assert!(!a.ct_eq(&b));
    }
}
