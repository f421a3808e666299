//! Access tokens (JWT, HS256) and opaque secrets (refresh tokens, invite tokens).

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

const ISSUER: &str = "healthbridge";
const AUDIENCE: &str = "healthbridge-api";

/// Claims of an access token. Roles are deliberately absent: they are looked up
/// per request, so removing a member takes effect at once rather than at expiry.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccessClaims {
    /// The user id.
    pub sub: String,
    /// The session id; a revoked session invalidates its access tokens too.
    pub sid: String,
    pub iat: i64,
    pub exp: i64,
    pub iss: String,
    pub aud: String,
    pub jti: String,
}

/// Why an access token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenError {
    Expired,
    Invalid,
}

/// Signs and checks access tokens with the shared signing key.
#[derive(Clone)]
pub struct TokenSigner {
    encoding: EncodingKey,
    decoding: DecodingKey,
    ttl_secs: i64,
}

impl std::fmt::Debug for TokenSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSigner")
            .field("ttl_secs", &self.ttl_secs)
            .finish_non_exhaustive()
    }
}

impl TokenSigner {
    pub fn new(key: &[u8], ttl_secs: u64) -> Self {
        Self {
            encoding: EncodingKey::from_secret(key),
            decoding: DecodingKey::from_secret(key),
            ttl_secs: i64::try_from(ttl_secs).unwrap_or(900),
        }
    }

    pub fn ttl_secs(&self) -> i64 {
        self.ttl_secs
    }

    pub fn issue(
        &self,
        user_id: &str,
        session_id: &str,
        now_secs: i64,
    ) -> Result<String, jsonwebtoken::errors::Error> {
        let claims = AccessClaims {
            sub: user_id.to_owned(),
            sid: session_id.to_owned(),
            iat: now_secs,
            exp: now_secs + self.ttl_secs,
            iss: ISSUER.into(),
            aud: AUDIENCE.into(),
            jti: uuid::Uuid::new_v4().to_string(),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
    }

    /// Verifies signature, issuer, audience and expiry against `now_secs` (the
    /// injected clock, not the library's), with no leeway.
    pub fn verify(&self, token: &str, now_secs: i64) -> Result<AccessClaims, TokenError> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[AUDIENCE]);
        validation.validate_exp = false;
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        let data = jsonwebtoken::decode::<AccessClaims>(token, &self.decoding, &validation)
            .map_err(|_| TokenError::Invalid)?;
        if data.claims.exp <= now_secs {
            return Err(TokenError::Expired);
        }
        Ok(data.claims)
    }
}

/// A new opaque secret (256 bits, URL-safe base64) for refresh and invite tokens.
pub fn opaque_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// How opaque tokens are stored: a SHA-256 hash, so a leaked database does not
/// yield usable tokens. A fast hash suffices for 256-bit random secrets.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issue_verify_expire() {
        let signer = TokenSigner::new(&[7u8; 32], 60);
        let token = signer.issue("u1", "s1", 1000).unwrap();
        let claims = signer.verify(&token, 1030).unwrap();
        assert_eq!((claims.sub.as_str(), claims.sid.as_str()), ("u1", "s1"));
        assert_eq!(
            signer.verify(&token, 1060).unwrap_err(),
            TokenError::Expired
        );
    }

    #[test]
    fn wrong_key_or_garbage_is_invalid() {
        let a = TokenSigner::new(&[1u8; 32], 60);
        let b = TokenSigner::new(&[2u8; 32], 60);
        let token = a.issue("u1", "s1", 1000).unwrap();
        assert_eq!(b.verify(&token, 1000).unwrap_err(), TokenError::Invalid);
        assert_eq!(
            a.verify("abc.def.ghi", 1000).unwrap_err(),
            TokenError::Invalid
        );
        let none_alg = format!(
            "{}.{}.",
            URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#),
            token.split('.').nth(1).unwrap()
        );
        assert_eq!(a.verify(&none_alg, 1000).unwrap_err(), TokenError::Invalid);
    }

    #[test]
    fn opaque_tokens_are_unique_and_hashed() {
        let t1 = opaque_token();
        assert_ne!(t1, opaque_token());
        assert_eq!(t1.len(), 43);
        assert_eq!(token_hash(&t1).len(), 64);
        assert_ne!(token_hash(&t1), t1);
    }
}
