use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use serde_json::{Value, json};

use super::*;

const KEY: [u8; 32] = [7u8; 32];
/// 2027-01-15T08:00:00.250Z: the fraction checks that seconds round down.
const NOW_MS: i64 = 1_800_000_000_250;
const NOW_S: i64 = 1_800_000_000;

fn signer() -> GrantSigner {
    GrantSigner::new(&KEY, Duration::from_secs(600)).unwrap()
}
fn visit() -> VisitId {
    VisitId::from("visit-1")
}
fn participant() -> ParticipantId {
    ParticipantId::from("participant-1")
}
fn grant(role: Role) -> IssuedGrant {
    signer()
        .issue(&visit(), &participant(), role, NOW_MS)
        .unwrap()
}
fn verify(token: &str) -> Result<GrantClaims, GrantError> {
    signer().verify(token, &visit(), NOW_MS)
}

/// Signs arbitrary claims with the same key, as a forger holding the key's
/// other uses (or a buggy issuer) could.
fn sign(claims: &Value, alg: Algorithm) -> String {
    jsonwebtoken::encode(&Header::new(alg), claims, &EncodingKey::from_secret(&KEY)).unwrap()
}

fn payload_of(token: &str) -> Value {
    let part = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

fn valid_claims() -> Value {
    json!({
        "iss": GRANT_ISSUER, "aud": GRANT_AUDIENCE, "visit_id": "visit-1",
        "participant_id": "participant-1", "role": "guest", "can_publish": true,
        "can_subscribe": true, "can_publish_screen": false, "iat": NOW_S,
        "exp": NOW_S + 600, "jti": "j-1",
    })
}

#[test]
fn issue_and_verify_round_trip() {
    let issued = grant(Role::Patient);
    assert_eq!(issued.token.split('.').count(), 3);
    let claims = verify(&issued.token).unwrap();
    assert_eq!(claims, issued.claims);
    assert_eq!(claims.visit_id, visit());
    assert_eq!(claims.participant_id, participant());
    assert_eq!(claims.role, Role::Patient);
    assert_eq!((claims.iat, claims.exp), (NOW_S, NOW_S + 600));
    assert_eq!(claims.expires_at_ms(), (NOW_S + 600) * 1000);
    assert_eq!(
        (claims.iss.as_str(), claims.aud.as_str()),
        ("healthbridge-signaling", "healthbridge-media")
    );
    let payload = payload_of(&issued.token);
    assert_eq!(payload["aud"], "healthbridge-media");
    assert_eq!(payload["role"], "patient");
    assert!(
        payload.get("sub").is_none(),
        "no sub: the API check requires one"
    );
}

#[test]
fn default_permissions_by_role() {
    let table = PermissionTable::default();
    for role in [Role::Host, Role::Patient] {
        let p = grant(role).claims.permissions();
        assert_eq!(p, table.for_role(role));
        assert!(
            p.can_publish && p.can_subscribe && p.can_publish_screen,
            "{role}"
        );
    }
    let guest = grant(Role::Guest).claims;
    assert!(guest.can_publish && guest.can_subscribe);
    assert!(!guest.can_publish_screen, "guests do not share screens");
}

#[test]
fn permissions_come_from_the_table() {
    let table: PermissionTable = serde_json::from_value(json!({
        "guest": {"can_publish": true, "can_subscribe": true, "can_publish_screen": true},
        "patient": {"can_publish": true, "can_subscribe": true, "can_publish_screen": false},
    }))
    .unwrap();
    assert_eq!(
        table.host,
        PermissionTable::default().host,
        "unlisted roles keep defaults"
    );
    let signer = signer().with_permissions(table);
    assert_eq!(signer.permissions(), &table);
    let guest = signer
        .issue(&visit(), &participant(), Role::Guest, NOW_MS)
        .unwrap();
    assert!(guest.claims.can_publish_screen);
    let patient = signer
        .issue(&visit(), &participant(), Role::Patient, NOW_MS)
        .unwrap();
    assert!(!patient.claims.can_publish_screen);
    assert_eq!(
        signer
            .verify(&patient.token, &visit(), NOW_MS)
            .unwrap()
            .permissions(),
        table.patient
    );
    let unknown_key = json!({"interpreter": {"can_publish": true}});
    assert!(serde_json::from_value::<PermissionTable>(unknown_key).is_err());
}

#[test]
fn expires_exactly_at_exp() {
    let token = grant(Role::Host).token;
    let s = signer();
    let exp_ms = (NOW_S + 600) * 1000;
    assert!(s.verify(&token, &visit(), exp_ms - 1).is_ok());
    assert_eq!(s.verify(&token, &visit(), exp_ms), Err(GrantError::Expired));
    assert_eq!(
        s.verify(&token, &visit(), exp_ms + 86_400_000)
            .unwrap_err()
            .code(),
        "grant_expired"
    );
}

#[test]
fn a_grant_for_another_visit_is_refused() {
    let token = grant(Role::Patient).token;
    let err = signer()
        .verify(&token, &VisitId::from("visit-2"), NOW_MS)
        .unwrap_err();
    assert_eq!(err, GrantError::WrongVisit);
    assert_eq!(err.code(), "grant_wrong_visit");
    // Expiry is checked first: an old grant for another visit is just expired.
    let later = NOW_MS + 3_600_000;
    assert_eq!(
        signer().verify(&token, &VisitId::from("visit-2"), later),
        Err(GrantError::Expired)
    );
}

#[test]
fn tampered_claims_are_invalid() {
    let token = grant(Role::Guest).token;
    let parts: Vec<&str> = token.split('.').collect();
    let mut payload = payload_of(&token);
    payload["role"] = json!("host");
    payload["can_publish_screen"] = json!(true);
    let forged_payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&payload).unwrap());
    let forged = format!("{}.{}.{}", parts[0], forged_payload, parts[2]);
    assert_eq!(verify(&forged), Err(GrantError::Invalid));

    payload = payload_of(&token);
    payload["visit_id"] = json!("visit-2");
    let moved = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&payload).unwrap());
    let forged = format!("{}.{}.{}", parts[0], moved, parts[2]);
    let err = signer()
        .verify(&forged, &VisitId::from("visit-2"), NOW_MS)
        .unwrap_err();
    assert_eq!(err.code(), "grant_invalid");
}

#[test]
fn tampered_signatures_are_invalid() {
    let token = grant(Role::Host).token;
    let (head, sig) = token.rsplit_once('.').unwrap();
    let mut bytes = URL_SAFE_NO_PAD.decode(sig).unwrap();
    bytes[0] ^= 1;
    let flipped = format!("{head}.{}", URL_SAFE_NO_PAD.encode(&bytes));
    assert_eq!(verify(&flipped), Err(GrantError::Invalid));
    assert_eq!(verify(&format!("{head}.")), Err(GrantError::Invalid));
    assert_eq!(verify(head), Err(GrantError::Invalid));
}

#[test]
fn other_algorithms_and_keys_are_invalid() {
    let claims = valid_claims();
    assert!(verify(&sign(&claims, Algorithm::HS256)).is_ok(), "control");
    for alg in [Algorithm::HS384, Algorithm::HS512] {
        assert_eq!(
            verify(&sign(&claims, alg)),
            Err(GrantError::Invalid),
            "{alg:?}"
        );
    }
    let none = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    assert_eq!(verify(&none), Err(GrantError::Invalid));
    let other = GrantSigner::new(&[8u8; 32], Duration::from_secs(600)).unwrap();
    let foreign = other
        .issue(&visit(), &participant(), Role::Host, NOW_MS)
        .unwrap();
    assert_eq!(verify(&foreign.token), Err(GrantError::Invalid));
    for garbage in ["", "abc", "a.b.c", "a.b", "...", "\u{0}"] {
        assert_eq!(verify(garbage), Err(GrantError::Invalid), "{garbage:?}");
    }
}

#[test]
fn missing_or_mistyped_claims_are_invalid() {
    for field in [
        "visit_id",
        "participant_id",
        "role",
        "can_publish_screen",
        "exp",
        "jti",
    ] {
        let mut claims = valid_claims();
        claims.as_object_mut().unwrap().remove(field);
        assert_eq!(
            verify(&sign(&claims, Algorithm::HS256)),
            Err(GrantError::Invalid),
            "{field}"
        );
    }
    let mut claims = valid_claims();
    claims["role"] = json!("admin");
    assert_eq!(
        verify(&sign(&claims, Algorithm::HS256)),
        Err(GrantError::Invalid)
    );
    claims = valid_claims();
    claims["can_publish"] = json!("yes");
    assert_eq!(
        verify(&sign(&claims, Algorithm::HS256)),
        Err(GrantError::Invalid)
    );
}

/// An access token of the hub (claims and constants as in
/// `hub/src/auth/tokens.rs`), signed with the same key, is no grant.
#[test]
fn an_api_access_token_is_not_a_grant() {
    let access = json!({
        "sub": "user-1", "sid": "session-1", "iat": NOW_S, "exp": NOW_S + 900,
        "iss": "healthbridge", "aud": "healthbridge-api", "jti": "j-2",
    });
    assert_eq!(
        verify(&sign(&access, Algorithm::HS256)),
        Err(GrantError::Invalid)
    );

    // Even an access token dressed up with every grant claim fails on the
    // audience and issuer alone.
    let mut dressed = valid_claims();
    dressed["aud"] = json!("healthbridge-api");
    assert_eq!(
        verify(&sign(&dressed, Algorithm::HS256)),
        Err(GrantError::Invalid)
    );
    let mut dressed = valid_claims();
    dressed["iss"] = json!("healthbridge");
    assert_eq!(
        verify(&sign(&dressed, Algorithm::HS256)),
        Err(GrantError::Invalid)
    );
    let mut dressed = valid_claims();
    dressed["aud"] = json!(["healthbridge-api", "healthbridge-other"]);
    assert_eq!(
        verify(&sign(&dressed, Algorithm::HS256)),
        Err(GrantError::Invalid)
    );
}

/// The reverse: the hub's access-token check (same validation as
/// `TokenSigner::verify` in `hub/src/auth/tokens.rs`) refuses a grant.
#[test]
fn a_grant_is_not_an_api_access_token() {
    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct AccessClaims {
        sub: String,
        sid: String,
        iat: i64,
        exp: i64,
        iss: String,
        aud: String,
        jti: String,
    }
    let mut validation = Validation::new(Algorithm::HS256);
    validation.set_issuer(&["healthbridge"]);
    validation.set_audience(&["healthbridge-api"]);
    validation.validate_exp = false;
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    let token = grant(Role::Host).token;
    let result =
        jsonwebtoken::decode::<AccessClaims>(&token, &DecodingKey::from_secret(&KEY), &validation);
    assert!(result.is_err());
    // And with only the audience fixed up, the issuer still refuses it.
    validation.set_audience(&[GRANT_AUDIENCE]);
    validation.set_required_spec_claims(&["exp", "iss", "aud"]);
    let result =
        jsonwebtoken::decode::<Value>(&token, &DecodingKey::from_secret(&KEY), &validation);
    assert!(result.is_err());
}

#[test]
fn every_grant_has_its_own_jti() {
    let a = grant(Role::Host).claims.jti;
    let b = grant(Role::Host).claims.jti;
    assert_ne!(a, b);
    assert!(uuid::Uuid::parse_str(&a).is_ok());
}

#[test]
fn debug_output_hides_the_key_and_the_token() {
    let issued = grant(Role::Host);
    let shown = format!("{:?} {:?}", signer(), issued);
    assert!(shown.contains("ttl_secs: 600"), "{shown}");
    assert!(!shown.contains(&issued.token), "{shown}");
    assert!(!shown.contains("[7, 7"), "{shown}");
    assert!(!shown.contains("7, 7, 7"), "{shown}");
}

#[test]
fn signer_configuration_is_checked() {
    let err = GrantSigner::new(&[1u8; 31], DEFAULT_TTL).unwrap_err();
    assert_eq!(err.code(), "grant_key_too_short");
    for ttl in [
        Duration::ZERO,
        Duration::from_millis(999),
        MAX_TTL + Duration::from_secs(1),
    ] {
        let err = GrantSigner::new(&KEY, ttl).unwrap_err();
        assert_eq!(err.code(), "grant_ttl_invalid", "{ttl:?}");
    }
    assert_eq!(GrantSigner::new(&KEY, MAX_TTL).unwrap().ttl_secs(), 3600);
    assert_eq!(
        GrantSigner::new(&KEY, Duration::from_millis(1500))
            .unwrap()
            .ttl_secs(),
        1
    );
}
