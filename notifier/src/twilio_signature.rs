//! Twilio webhook signing (`X-Twilio-Signature`).
//!
//! Twilio signs every webhook (status callbacks, inbound SMS) with the
//! account's auth token. Checking that signature is the only thing that
//! stops anyone on the internet from forging "delivered" receipts or inbound
//! messages, so the hub must verify it, and our stand-in must produce it the
//! same way Twilio does.
//!
//! The scheme (form-encoded POSTs): take the full URL Twilio requested, append
//! every POST parameter as `name` immediately followed by `value`, ordered by
//! name and then value, with exact duplicate pairs counted once (as Twilio's
//! official helper libraries do); HMAC-SHA1 that string keyed with the auth
//! token; base64-encode the 20-byte digest.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha1::Sha1;
use subtle::ConstantTimeEq;

/// Name of the header Twilio puts the signature in.
pub const SIGNATURE_HEADER: &str = "X-Twilio-Signature";

type HmacSha1 = Hmac<Sha1>;

/// Computes the `X-Twilio-Signature` value for a form-encoded POST to `url`.
pub fn signature(auth_token: &str, url: &str, params: &[(String, String)]) -> String {
    // HMAC is defined for keys of every length (long keys are hashed, short
    // ones padded), so `new_from_slice` cannot fail here.
    let mut mac = HmacSha1::new_from_slice(auth_token.as_bytes())
        .expect("HMAC-SHA1 accepts keys of any length");
    mac.update(url.as_bytes());
    for (name, value) in sorted_unique(params) {
        mac.update(name.as_bytes());
        mac.update(value.as_bytes());
    }
    STANDARD.encode(mac.finalize().into_bytes())
}

/// True when `header_value` is the signature Twilio would send for this
/// request. The comparison is constant-time so the check does not leak how
/// much of a forged signature was right. An empty auth token never
/// validates: that would be a misconfiguration anyone could sign for.
pub fn is_valid(
    auth_token: &str,
    url: &str,
    params: &[(String, String)],
    header_value: &str,
) -> bool {
    if auth_token.is_empty() {
        return false;
    }
    let expected = signature(auth_token, url, params);
    expected
        .as_bytes()
        .ct_eq(header_value.trim().as_bytes())
        .into()
}

/// Params ordered by name then value, exact duplicates dropped.
fn sorted_unique(params: &[(String, String)]) -> Vec<&(String, String)> {
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    sorted.sort();
    sorted.dedup();
    sorted
}

#[cfg(test)]
mod tests {
    use super::*;

    const URL: &str = "https://mycompany.com/myapp.php?foo=1&bar=2";

    fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
        items
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    /// The security-docs example (Caller/From +12349013030), given out of
    /// order on purpose. The expected value was recomputed independently as
    /// base64(HMAC-SHA1("12345", URL + "CallSidCA1234567890ABCDECaller+12349013030Digits1234From+12349013030To+18005551212")).
    fn brief_example() -> Vec<(String, String)> {
        pairs(&[
            ("To", "+18005551212"),
            ("Digits", "1234"),
            ("From", "+12349013030"),
            ("CallSid", "CA1234567890ABCDE"),
            ("Caller", "+12349013030"),
        ])
    }

    #[test]
    fn matches_the_documented_example() {
        assert_eq!(
            signature("12345", URL, &brief_example()),
            "0/KCTR6DLpKmkAf8muzZqo1nDgQ=",
        );
    }

    /// The vector in Twilio's helper-library test suites (PHP, C#, Python):
    /// same URL and token, but Caller/From are +14158675309.
    #[test]
    fn matches_the_helper_library_vector() {
        let params = pairs(&[
            ("CallSid", "CA1234567890ABCDE"),
            ("Caller", "+14158675309"),
            ("Digits", "1234"),
            ("From", "+14158675309"),
            ("To", "+18005551212"),
        ]);
        assert_eq!(
            signature("12345", URL, &params),
            "RSOYDt4T1cUTdK1PDd93/VVr8B8="
        );
    }

    /// Helper-library vector for repeated keys: values sorted, exact
    /// duplicates counted once.
    #[test]
    fn repeated_keys_sort_by_value_and_drop_exact_duplicates() {
        let params = pairs(&[
            ("Sid", "CA123"),
            ("SidAccount", "AC123"),
            ("Digits", "5678"),
            ("Digits", "1234"),
            ("Digits", "1234"),
        ]);
        assert_eq!(
            signature("12345", URL, &params),
            "IK+Dwps556ElfBT0I3Rgjkr1wJU="
        );
    }

    #[test]
    fn valid_signature_is_accepted() {
        assert!(is_valid(
            "12345",
            URL,
            &brief_example(),
            "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
        ));
    }

    #[test]
    fn any_change_is_rejected() {
        let good = "0/KCTR6DLpKmkAf8muzZqo1nDgQ=";
        let mut tampered = brief_example();
        tampered[1].1 = "9999".to_owned();
        assert!(!is_valid("12345", URL, &tampered, good));
        assert!(!is_valid("54321", URL, &brief_example(), good));
        assert!(!is_valid(
            "12345",
            "https://mycompany.com/myapp.php",
            &brief_example(),
            good
        ));
        assert!(!is_valid("12345", URL, &brief_example(), ""));
        assert!(!is_valid(
            "12345",
            URL,
            &brief_example(),
            "0/KCTR6DLpKmkAf8muzZqo1nDgQ"
        ));
    }

    #[test]
    fn an_empty_auth_token_never_validates() {
        let sig = signature("", URL, &[]);
        assert!(!is_valid("", URL, &[], &sig));
    }
}
