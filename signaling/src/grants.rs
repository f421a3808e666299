//! Media grants: short-lived signed tokens that say which visit a participant
//! may enter, in which role, and what they may send and receive, modelled on
//! LiveKit's video grants.
//!
//! The hub issues one after checking that the participant is admitted
//! ([`crate::visit::Visit::check_media_access`]); the media side verifies it
//! without a database. A grant is a JWT signed with HS256, like the hub's
//! access tokens, but with its own issuer and audience: the hub's access-token
//! check demands `aud = healthbridge-api` (and a `sub`), this one demands
//! `aud = healthbridge-media`, so neither token is accepted as the other even
//! when both are signed with the same key.

#[cfg(test)]
mod tests;

use std::{fmt, time::Duration};

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::{
    ids::{ParticipantId, VisitId, new_token_id},
    time::secs,
    visit::Role,
};

/// `iss` of grants: not the hub's `healthbridge`, so an access token's issuer
/// never matches either.
pub const GRANT_ISSUER: &str = "healthbridge-signaling";
/// `aud` of grants (access tokens carry `healthbridge-api`).
pub const GRANT_AUDIENCE: &str = "healthbridge-media";
/// HS256 keys shorter than the hash output weaken it (RFC 7518 §3.2).
pub const MIN_KEY_BYTES: usize = 32;
/// Long enough to open the media session after being admitted; a page that
/// reconnects later asks for a new grant, and the hub checks admission again.
pub const DEFAULT_TTL: Duration = Duration::from_secs(10 * 60);
/// Grants are meant to be spent at once; anything longer is a bearer pass.
pub const MAX_TTL: Duration = Duration::from_secs(60 * 60);

/// What a grant allows in the media session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Permissions {
    /// Send camera and microphone.
    pub can_publish: bool,
    /// Receive the other participants' media.
    pub can_subscribe: bool,
    /// Share a screen.
    pub can_publish_screen: bool,
}

/// Permissions per role, as data so an organization can change them in
/// configuration (say, let interpreters share a screen) without code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PermissionTable {
    pub host: Permissions,
    pub patient: Permissions,
    pub guest: Permissions,
}

impl Default for PermissionTable {
    /// Hosts and patients may do everything (a patient may show a document
    /// or a photo); guests send audio and video and receive, but do not share
    /// their screen, which could show anything on a family member's computer.
    fn default() -> Self {
        let all = Permissions {
            can_publish: true,
            can_subscribe: true,
            can_publish_screen: true,
        };
        Self {
            host: all,
            patient: all,
            guest: Permissions {
                can_publish_screen: false,
                ..all
            },
        }
    }
}

impl PermissionTable {
    pub fn for_role(&self, role: Role) -> Permissions {
        match role {
            Role::Host => self.host,
            Role::Patient => self.patient,
            Role::Guest => self.guest,
        }
    }
}

/// The claims of a grant. `iat` and `exp` are whole seconds, as in every JWT.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrantClaims {
    pub iss: String,
    pub aud: String,
    pub visit_id: VisitId,
    pub participant_id: ParticipantId,
    pub role: Role,
    pub can_publish: bool,
    pub can_subscribe: bool,
    pub can_publish_screen: bool,
    pub iat: i64,
    pub exp: i64,
    /// Unique per grant, for audit rows and, if ever needed, a deny list.
    pub jti: String,
}

impl GrantClaims {
    pub fn permissions(&self) -> Permissions {
        Permissions {
            can_publish: self.can_publish,
            can_subscribe: self.can_subscribe,
            can_publish_screen: self.can_publish_screen,
        }
    }

    /// `exp` in milliseconds, the unit of every other instant in the hub.
    pub fn expires_at_ms(&self) -> i64 {
        self.exp.saturating_mul(1000)
    }
}

/// A freshly issued grant: the token to hand to the participant and what it
/// says. `Debug` hides the token, which is a bearer credential.
#[derive(Clone, PartialEq, Eq)]
pub struct IssuedGrant {
    pub token: String,
    pub claims: GrantClaims,
}

impl fmt::Debug for IssuedGrant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuedGrant")
            .field("token", &"****")
            .field("claims", &self.claims)
            .finish()
    }
}

/// Why a grant was refused (or could not be made).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum GrantError {
    #[error("the media grant has expired")]
    Expired,
    /// Bad signature, wrong algorithm, issuer or audience, missing or
    /// malformed claims, or not a JWT at all: one answer for all, so a caller
    /// learns nothing about which check failed.
    #[error("the media grant is not valid")]
    Invalid,
    #[error("the media grant is for another visit")]
    WrongVisit,
    #[error("the media grant could not be signed")]
    Signing,
}

impl GrantError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::Expired => "grant_expired",
            Self::Invalid => "grant_invalid",
            Self::WrongVisit => "grant_wrong_visit",
            Self::Signing => "grant_signing_failed",
        }
    }
}

/// A configuration mistake found when building a [`GrantSigner`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum GrantConfigError {
    #[error("the grant signing key must hold at least {MIN_KEY_BYTES} bytes")]
    KeyTooShort,
    #[error("the grant lifetime must be from 1 second to 1 hour")]
    InvalidTtl,
}

impl GrantConfigError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::KeyTooShort => "grant_key_too_short",
            Self::InvalidTtl => "grant_ttl_invalid",
        }
    }
}

/// Issues and verifies grants with one HS256 key. `Debug` shows the lifetime
/// and permissions, never the key.
#[derive(Clone)]
pub struct GrantSigner {
    encoding: EncodingKey,
    decoding: DecodingKey,
    ttl_secs: i64,
    permissions: PermissionTable,
}

impl fmt::Debug for GrantSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GrantSigner")
            .field("ttl_secs", &self.ttl_secs)
            .field("permissions", &self.permissions)
            .finish_non_exhaustive()
    }
}

impl GrantSigner {
    /// A signer with the default [`PermissionTable`]. `ttl` is rounded down
    /// to whole seconds and must be from 1 s to [`MAX_TTL`].
    pub fn new(key: &[u8], ttl: Duration) -> Result<Self, GrantConfigError> {
        if key.len() < MIN_KEY_BYTES {
            return Err(GrantConfigError::KeyTooShort);
        }
        if ttl < Duration::from_secs(1) || ttl > MAX_TTL {
            return Err(GrantConfigError::InvalidTtl);
        }
        let ttl_secs = i64::try_from(ttl.as_secs()).map_err(|_| GrantConfigError::InvalidTtl)?;
        Ok(Self {
            encoding: EncodingKey::from_secret(key),
            decoding: DecodingKey::from_secret(key),
            ttl_secs,
            permissions: PermissionTable::default(),
        })
    }

    /// Replaces the role → permission table (from configuration).
    pub fn with_permissions(mut self, permissions: PermissionTable) -> Self {
        self.permissions = permissions;
        self
    }

    pub fn permissions(&self) -> &PermissionTable {
        &self.permissions
    }

    pub fn ttl_secs(&self) -> i64 {
        self.ttl_secs
    }

    /// Signs a grant for `participant_id` in `visit_id`, with the permissions
    /// of `role`, valid from `now_ms` for the signer's lifetime. The caller
    /// has checked that the participant is admitted to the live visit.
    pub fn issue(
        &self,
        visit_id: &VisitId,
        participant_id: &ParticipantId,
        role: Role,
        now_ms: i64,
    ) -> Result<IssuedGrant, GrantError> {
        let permissions = self.permissions.for_role(role);
        let iat = secs(now_ms);
        let claims = GrantClaims {
            iss: GRANT_ISSUER.to_owned(),
            aud: GRANT_AUDIENCE.to_owned(),
            visit_id: visit_id.clone(),
            participant_id: participant_id.clone(),
            role,
            can_publish: permissions.can_publish,
            can_subscribe: permissions.can_subscribe,
            can_publish_screen: permissions.can_publish_screen,
            iat,
            exp: iat.saturating_add(self.ttl_secs),
            jti: new_token_id(now_ms),
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|_| GrantError::Signing)?;
        Ok(IssuedGrant { token, claims })
    }

    /// Checks signature, algorithm (HS256 only), issuer, audience and claims,
    /// then expiry against `now_ms` (the injected clock, with no leeway), then
    /// that the grant is for `expected_visit`, in that order.
    pub fn verify(
        &self,
        token: &str,
        expected_visit: &VisitId,
        now_ms: i64,
    ) -> Result<GrantClaims, GrantError> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[GRANT_ISSUER]);
        validation.set_audience(&[GRANT_AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        // Expiry is checked below against the caller's clock, not the system's.
        validation.validate_exp = false;
        let claims = jsonwebtoken::decode::<GrantClaims>(token, &self.decoding, &validation)
            .map_err(|_| GrantError::Invalid)?
            .claims;
        if claims.exp <= secs(now_ms) {
            return Err(GrantError::Expired);
        }
        if &claims.visit_id != expected_visit {
            return Err(GrantError::WrongVisit);
        }
        Ok(claims)
    }
}
