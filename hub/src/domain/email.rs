//! `EmailAddress`: a login identifier and contact address.
//!
//! The rules are deliberately stricter than RFC 5321/5322. An email here is an
//! account key that is compared, indexed and shown to staff, so we want one
//! canonical spelling per mailbox and nothing that can look like something
//! else: ASCII only (no homoglyphs such as Cyrillic `а` or the Kelvin sign that
//! lowercases to `k`), no quoted local parts, no comments, no IP literals.
//! Internationalized domains are accepted in their punycode (`xn--`) form.

use super::ValidationError;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

const FIELD: &str = "email";
const CODE: &str = "invalid_email";
/// RFC 5321 path limit minus the angle brackets.
const MAX_LEN: usize = 254;
/// RFC 5321 local-part limit.
const MAX_LOCAL_LEN: usize = 64;
/// RFC 1035 label limit.
const MAX_LABEL_LEN: usize = 63;

/// A syntactically valid, lowercased, ASCII email address.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EmailAddress(String);

impl EmailAddress {
    /// Parses untrusted input: surrounding whitespace is trimmed and the result
    /// lowercased, so `" Ana@Example.ORG "` and `"ana@example.org"` are the same
    /// account.
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err(invalid("Enter an email address."));
        }
        // Checked before anything else so huge inputs are refused cheaply.
        if trimmed.chars().count() > MAX_LEN {
            return Err(invalid(format!(
                "An email address can be at most {MAX_LEN} characters long."
            )));
        }
        if trimmed.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(invalid(
                "An email address cannot contain spaces or control characters.",
            ));
        }
        // Reject non-ASCII *before* lowercasing: Unicode lowercasing maps some
        // non-ASCII characters (e.g. U+212A KELVIN SIGN) onto ASCII letters,
        // which would let a look-alike address collapse into someone else's.
        let (local, domain) = split_at_single_at(trimmed)?;
        if !local.is_ascii() {
            return Err(invalid(
                "The part before the @ can only contain ASCII letters, digits and . ! # $ % & ' * + / = ? ^ _ ` { | } ~ -",
            ));
        }
        if !domain.is_ascii() {
            return Err(invalid(
                "Internationalized domain names must be entered in their punycode form (starting with xn--).",
            ));
        }
        let email = trimmed.to_ascii_lowercase();
        let (local, domain) = split_at_single_at(&email)?;
        validate_local_part(local)?;
        validate_domain(domain)?;
        Ok(Self(email))
    }

    /// The canonical (trimmed, lowercased) address.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The part before the `@`, used e.g. to stop passwords that contain it.
    pub fn local_part(&self) -> &str {
        // The '@' is guaranteed by `parse`; fall back to the whole string
        // rather than panic if that invariant were ever broken.
        self.0.split_once('@').map_or(self.0.as_str(), |(l, _)| l)
    }

    /// The part after the `@`.
    pub fn domain(&self) -> &str {
        self.0.split_once('@').map_or("", |(_, d)| d)
    }
}

fn invalid(message: impl Into<String>) -> ValidationError {
    ValidationError::new(FIELD, CODE, message)
}

fn split_at_single_at(email: &str) -> Result<(&str, &str), ValidationError> {
    match email.matches('@').count() {
        0 => Err(invalid("An email address must contain an @.")),
        1 => email
            .split_once('@')
            .ok_or_else(|| invalid("An email address must contain an @.")),
        _ => Err(invalid("An email address must contain exactly one @.")),
    }
}

/// RFC 5322 `dot-atom`: atext characters separated by single dots.
fn validate_local_part(local: &str) -> Result<(), ValidationError> {
    if local.is_empty() {
        return Err(invalid("The part before the @ cannot be empty."));
    }
    if local.len() > MAX_LOCAL_LEN {
        return Err(invalid(format!(
            "The part before the @ can be at most {MAX_LOCAL_LEN} characters long."
        )));
    }
    if local.starts_with('.') || local.ends_with('.') || local.contains("..") {
        return Err(invalid(
            "The part before the @ cannot start or end with a dot, or contain two dots in a row.",
        ));
    }
    let is_atext = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+/=?^_`{|}~-.".contains(c);
    if !local.chars().all(is_atext) {
        return Err(invalid(
            "The part before the @ can only contain ASCII letters, digits and . ! # $ % & ' * + / = ? ^ _ ` { | } ~ -",
        ));
    }
    Ok(())
}

/// A DNS host name with at least two labels and a non-numeric top level.
fn validate_domain(domain: &str) -> Result<(), ValidationError> {
    if domain.is_empty() {
        return Err(invalid("The part after the @ cannot be empty."));
    }
    if !domain.contains('.') {
        return Err(invalid(
            "The domain after the @ must contain a dot, like example.org.",
        ));
    }
    for label in domain.split('.') {
        if label.is_empty() {
            return Err(invalid(
                "The domain after the @ cannot start or end with a dot, or contain two dots in a row.",
            ));
        }
        if label.len() > MAX_LABEL_LEN {
            return Err(invalid(format!(
                "Each part of the domain can be at most {MAX_LABEL_LEN} characters long."
            )));
        }
        if !label
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        {
            return Err(invalid(
                "The domain after the @ can only contain letters, digits, hyphens and dots.",
            ));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(invalid(
                "A part of the domain cannot start or end with a hyphen.",
            ));
        }
    }
    // An all-digit top level would make "user@10.0.0.1" look like a mailbox.
    let tld = domain.rsplit('.').next().unwrap_or_default();
    if tld.chars().all(|c| c.is_ascii_digit()) {
        return Err(invalid(
            "The domain after the @ must end in a name, like .org, not a number.",
        ));
    }
    Ok(())
}

impl AsRef<str> for EmailAddress {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for EmailAddress {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for EmailAddress {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        Self::parse(&raw).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::EmailAddress;
    use crate::domain::serde_test_support::{
        deserialize_from_str, deserialize_from_u32, serialize_to_string,
    };

    fn ok(raw: &str) -> EmailAddress {
        match EmailAddress::parse(raw) {
            Ok(email) => email,
            Err(e) => panic!("{raw:?} should be valid, got: {}", e.message),
        }
    }

    fn rejected(raw: &str) -> String {
        match EmailAddress::parse(raw) {
            Ok(email) => panic!("{raw:?} should be rejected, parsed as {email}"),
            Err(e) => {
                assert_eq!(e.field, "email");
                assert_eq!(e.code, "invalid_email");
                e.message
            }
        }
    }

    #[test]
    fn accepts_common_valid_addresses() {
        for raw in [
            "user@example.com",
            "first.last@example.org",
            "user+tag@sub.example.co.uk",
            "o'brien@example.ie",
            "a_b-c@ex-ample.com",
            "1234@123.example",
            "x@y.io",
            "user@xn--bcher-kva.example",
        ] {
            assert_eq!(ok(raw).as_str(), raw);
        }
    }

    #[test]
    fn trims_and_lowercases() {
        let email = ok("  Ana.Silva@Example.ORG \n");
        assert_eq!(email.as_str(), "ana.silva@example.org");
        assert_eq!(email.local_part(), "ana.silva");
        assert_eq!(email.domain(), "example.org");
        assert_eq!(email, ok("ana.silva@example.org"));
    }

    #[test]
    fn rejects_empty_and_blank() {
        rejected("");
        rejected("   ");
        rejected("\t\n");
    }

    #[test]
    fn rejects_missing_or_repeated_at() {
        rejected("plainaddress");
        rejected("user.example.com");
        assert!(rejected("a@@example.com").contains("exactly one @"));
        assert!(rejected("a@b@example.com").contains("exactly one @"));
    }

    #[test]
    fn rejects_empty_parts() {
        rejected("@example.com");
        rejected("user@");
        rejected("@");
    }

    #[test]
    fn rejects_domain_without_dot_or_with_bad_dots() {
        rejected("user@localhost");
        rejected("user@example.com.");
        rejected("user@.example.com");
        rejected("user@example..com");
    }

    #[test]
    fn rejects_bad_labels() {
        rejected("user@-example.com");
        rejected("user@example-.com");
        rejected("user@exa_mple.com");
        rejected("user@exa!mple.com");
        rejected("user@[127.0.0.1]");
        rejected("user@127.0.0.1");
        rejected(&format!("user@{}.com", "a".repeat(64)));
        ok(&format!("user@{}.com", "a".repeat(63)));
    }

    #[test]
    fn rejects_bad_local_parts() {
        rejected(".user@example.com");
        rejected("user.@example.com");
        rejected("us..er@example.com");
        rejected("\"quoted\"@example.com");
        rejected("user(comment)@example.com");
        rejected("a<b>@example.com");
        rejected("a,b@example.com");
        rejected(&format!("{}@example.com", "a".repeat(65)));
        ok(&format!("{}@example.com", "a".repeat(64)));
    }

    #[test]
    fn rejects_whitespace_and_control_characters() {
        rejected("us er@example.com");
        rejected("user@exa mple.com");
        rejected("user\t@example.com");
        rejected("user\n@example.com");
        rejected("user\0@example.com");
        rejected("user\u{7f}@example.com");
        rejected("user@example.com\u{0}");
        rejected("user\u{a0}x@example.com");
    }

    #[test]
    fn rejects_unicode_tricks() {
        // Cyrillic 'а' (U+0430) in the domain: a homograph of example.com.
        rejected("user@ex\u{430}mple.com");
        // KELVIN SIGN lowercases to ASCII 'k'; must not become "kate@...".
        rejected("\u{212a}ate@example.com");
        // Fullwidth commercial at is not '@'.
        rejected("user\u{ff20}example.com");
        // Zero-width space and bidi override hidden inside the address.
        rejected("user\u{200b}@example.com");
        rejected("user@\u{202e}moc.elpmaxe");
        // Non-ASCII local part.
        rejected("j\u{fc}rgen@example.de");
    }

    #[test]
    fn unicode_domain_is_rejected_with_punycode_hint() {
        let message = rejected("user@b\u{fc}cher.example");
        assert!(message.contains("xn--"), "{message}");
        ok("user@xn--bcher-kva.example");
    }

    #[test]
    fn rejects_numeric_top_level_domain() {
        rejected("user@example.123");
    }

    #[test]
    fn enforces_total_length() {
        // 64 + 1 + 63 + 1 + 63 + 1 + 61 = 254
        let at_limit = format!(
            "{}@{}.{}.{}",
            "a".repeat(64),
            "b".repeat(63),
            "c".repeat(63),
            "d".repeat(61)
        );
        assert_eq!(at_limit.len(), 254);
        ok(&at_limit);
        let over = format!("{at_limit}d");
        assert!(rejected(&over).contains("254"));
        rejected(&format!("{}@example.com", "a".repeat(300)));
        rejected(&format!("user@{}.com", "a".repeat(300)));
    }

    #[test]
    fn error_message_does_not_echo_input() {
        let message = rejected("secret-token-123@@example.com");
        assert!(!message.contains("secret-token-123"));
    }

    #[test]
    fn serializes_as_plain_string() {
        assert_eq!(
            serialize_to_string(&ok("Ana@Example.org")),
            "ana@example.org"
        );
    }

    #[test]
    fn deserialize_goes_through_parse() {
        let email: EmailAddress = deserialize_from_str(" Ana@Example.org ").expect("valid email");
        assert_eq!(email.as_str(), "ana@example.org");
        let err = deserialize_from_str::<EmailAddress>("not-an-email")
            .expect_err("invalid email must be rejected by serde");
        assert!(err.to_string().contains("@"), "{err}");
        assert!(deserialize_from_u32::<EmailAddress>(42).is_err());
    }
}
