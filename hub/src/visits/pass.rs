//! Visit passes: what a visit link is exchanged for. A pass authenticates a `/ws`
//! socket for one participant of one visit and nothing else, so a patient without an
//! account never holds a session token, and a leaked pass opens one visit only.
//!
//! HS256 with a key derived from the hub's token signing key under its own label, and
//! its own audience: an access token is never accepted as a pass, nor the reverse.

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

const ISSUER: &str = "healthbridge";
const AUDIENCE: &str = "healthbridge-visit";

/// Passes never outlive this, whatever the link's expiry.
pub const MAX_PASS_SECS: i64 = 12 * 3600;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PassClaims {
    pub iss: String,
    pub aud: String,
    /// The participant.
    pub sub: String,
    pub visit: String,
    /// The redeemed link's hash: revoking the link ends the pass.
    pub link: String,
    pub iat: i64,
    pub exp: i64,
}

#[derive(Clone)]
pub struct PassSigner {
    encoding: EncodingKey,
    decoding: DecodingKey,
}

impl std::fmt::Debug for PassSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PassSigner(****)")
    }
}

impl PassSigner {
    pub fn new(key: &[u8]) -> Self {
        Self {
            encoding: EncodingKey::from_secret(key),
            decoding: DecodingKey::from_secret(key),
        }
    }

    /// A pass valid from `now_secs` until `exp_secs` (capped at [`MAX_PASS_SECS`]).
    pub fn issue(
        &self,
        visit: &str,
        participant: &str,
        link_hash: &str,
        now_secs: i64,
        exp_secs: i64,
    ) -> Result<(String, PassClaims), jsonwebtoken::errors::Error> {
        let claims = PassClaims {
            iss: ISSUER.into(),
            aud: AUDIENCE.into(),
            sub: participant.into(),
            visit: visit.into(),
            link: link_hash.into(),
            iat: now_secs,
            exp: exp_secs.min(now_secs + MAX_PASS_SECS),
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)?;
        Ok((token, claims))
    }

    /// Signature, algorithm, issuer and audience; expiry against the injected clock.
    /// `None` for anything that is not a live pass.
    pub fn verify(&self, token: &str, now_secs: i64) -> Option<PassClaims> {
        self.check(token, now_secs).ok()
    }

    /// Like [`verify`](Self::verify), but says why a pass is refused: a socket
    /// closes with "token expired" (4002) for a genuine pass past its time, so
    /// the page redeems its link again, and with 4001 for anything else.
    pub fn check(&self, token: &str, now_secs: i64) -> Result<PassClaims, PassRefusal> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.validate_exp = false;
        let claims = jsonwebtoken::decode::<PassClaims>(token, &self.decoding, &validation)
            .map_err(|_| PassRefusal::Invalid)?
            .claims;
        if claims.exp > now_secs {
            Ok(claims)
        } else {
            Err(PassRefusal::Expired)
        }
    }
}

/// Why [`PassSigner::check`] refused a pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PassRefusal {
    /// Signed by us for a visit, but past its expiry.
    Expired,
    /// Not a pass of ours at all (bad signature, audience or shape).
    Invalid,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pass_verifies_until_it_expires_and_only_with_its_key() {
        let signer = PassSigner::new(&[1; 32]);
        let (token, claims) = signer.issue("v", "p", "h", 1000, 2000).unwrap();
        assert_eq!(signer.verify(&token, 1999), Some(claims));
        assert_eq!(signer.verify(&token, 2000), None);
        assert_eq!(PassSigner::new(&[2; 32]).verify(&token, 1500), None);
    }

    #[test]
    fn an_expired_pass_is_told_apart_from_a_forged_one() {
        let signer = PassSigner::new(&[1; 32]);
        let (token, _) = signer.issue("v", "p", "h", 1000, 2000).unwrap();
        assert_eq!(signer.check(&token, 2000), Err(PassRefusal::Expired));
        assert_eq!(
            PassSigner::new(&[2; 32]).check(&token, 2000),
            Err(PassRefusal::Invalid)
        );
        assert_eq!(signer.check("garbage", 1500), Err(PassRefusal::Invalid));
    }

    #[test]
    fn a_pass_never_outlives_the_cap() {
        let signer = PassSigner::new(&[1; 32]);
        let (_, claims) = signer.issue("v", "p", "h", 0, i64::MAX / 2).unwrap();
        assert_eq!(claims.exp, MAX_PASS_SECS);
    }

    #[test]
    fn an_access_token_shaped_jwt_is_not_a_pass() {
        let other = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &serde_json::json!({"iss": "healthbridge", "aud": "healthbridge-api", "sub": "u", "exp": 5000}),
            &EncodingKey::from_secret(&[1; 32]),
        )
        .unwrap();
        assert_eq!(PassSigner::new(&[1; 32]).verify(&other, 10), None);
    }
}
