//! `Password`: a secret on its way to the password hasher.
//!
//! Policy follows NIST SP 800-63B (5.1.1.2): length is what matters, so there
//! are no composition rules ("one digit, one symbol"); instead new passwords
//! are checked against a list of commonly used ones and against the user's own
//! email. The password is NFC-normalized so that the same password typed on
//! two keyboards (precomposed `é` vs `e` + combining accent) hashes the same.
//!
//! The type is built to not leak: no `Display`, no `Serialize`, a `Debug`
//! that prints `Password(****)`, and error messages that never repeat it. The
//! only way to read it is [`Password::expose`], meant for the hasher.

use super::{EmailAddress, ValidationError};
use std::collections::HashSet;
use std::fmt;
use std::sync::OnceLock;
use unicode_normalization::UnicodeNormalization;

const FIELD: &str = "password";
/// NIST asks for at least 8; 12 is the hub's choice for health data.
const MIN_CHARS: usize = 12;
/// Long enough for any passphrase, short enough to bound hashing cost.
const MAX_CHARS: usize = 128;
/// Login only bounds size (in bytes, before any work is done on the input).
const MAX_LOGIN_BYTES: usize = 1024;
/// A local part shorter than this is too likely to appear by chance inside an
/// unrelated password ("al@..." vs "royal-blue-canal"), so only equality is
/// checked for it.
const MIN_LOCAL_PART_FOR_CONTAINS: usize = 4;

/// Common passwords, lowercased, one per line; `#` lines are provenance notes.
const COMMON_PASSWORDS_TXT: &str = include_str!("common_passwords.txt");

/// A normalized password. Deliberately not `Clone`, `Display` or `Serialize`.
pub struct Password(String);

impl Password {
    /// Validates a password chosen at sign-up or password change.
    ///
    /// `email` is the account's address when known; passwords equal to it, to
    /// its local part, or containing either are refused.
    pub fn parse_new(raw: &str, email: Option<&EmailAddress>) -> Result<Password, ValidationError> {
        // Bound the work before normalizing: 4 bytes is the widest `char`,
        // and NFC of realistic input is never longer than the input.
        if raw.len() > MAX_CHARS * 4 * 4 {
            return Err(too_long());
        }
        let password: String = raw.nfc().collect();
        let len = password.chars().count();
        if len > MAX_CHARS {
            return Err(too_long());
        }
        if len < MIN_CHARS {
            return Err(ValidationError::new(
                FIELD,
                "password_too_short",
                format!("Password must be at least {MIN_CHARS} characters long."),
            ));
        }

        let lower = password.to_lowercase();
        if is_single_repeated_char(&lower) {
            return Err(ValidationError::new(
                FIELD,
                "password_repeated_character",
                "Password cannot be a single character repeated.",
            ));
        }
        if email.is_some_and(|email| contains_email(&lower, email)) {
            return Err(ValidationError::new(
                FIELD,
                "password_contains_email",
                "Password cannot contain your email address or the part before the @.",
            ));
        }
        if is_common(&lower) {
            return Err(ValidationError::new(
                FIELD,
                "password_too_common",
                "This password is too common and easy to guess. Choose a different one.",
            ));
        }
        Ok(Password(password))
    }

    /// Accepts a password typed at login.
    ///
    /// Only the size is bounded: applying the new-password policy here would
    /// tell an attacker which guesses are pointless, and would lock out users
    /// whose password predates a policy change. The password is still
    /// NFC-normalized so it matches the form that was hashed.
    pub fn for_login(raw: &str) -> Result<Password, ValidationError> {
        if raw.len() > MAX_LOGIN_BYTES {
            return Err(ValidationError::new(
                FIELD,
                "password_too_long",
                "Password is too long.",
            ));
        }
        Ok(Password(raw.nfc().collect()))
    }

    /// The normalized password, for the password hasher only. Never log it,
    /// store it, or put it in a response.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(****)")
    }
}

fn too_long() -> ValidationError {
    ValidationError::new(
        FIELD,
        "password_too_long",
        format!("Password can be at most {MAX_CHARS} characters long."),
    )
}

fn is_single_repeated_char(password: &str) -> bool {
    let mut chars = password.chars();
    match chars.next() {
        Some(first) => chars.all(|c| c == first),
        None => false,
    }
}

fn contains_email(lower_password: &str, email: &EmailAddress) -> bool {
    let local = email.local_part();
    lower_password == email.as_str()
        || lower_password == local
        || lower_password.contains(email.as_str())
        || (local.chars().count() >= MIN_LOCAL_PART_FOR_CONTAINS && lower_password.contains(local))
}

/// True when the password, or the password with trailing digits, punctuation
/// and spaces removed, is a listed common password. People meet length rules
/// by appending to a favourite ("password12345", "iloveyou!!!!!"); the suffix
/// adds almost nothing an attacker's rules would not try first.
fn is_common(lower_password: &str) -> bool {
    let list = common_passwords();
    if list.contains(lower_password) {
        return true;
    }
    let stem = lower_password.trim_end_matches(|c: char| {
        c.is_ascii_digit() || c.is_ascii_punctuation() || c.is_whitespace()
    });
    !stem.is_empty() && list.contains(stem)
}

/// The list, parsed on first use and kept for the life of the process.
fn common_passwords() -> &'static HashSet<&'static str> {
    static LIST: OnceLock<HashSet<&'static str>> = OnceLock::new();
    LIST.get_or_init(|| {
        COMMON_PASSWORDS_TXT
            .lines()
            .map(str::trim)
            .filter(|line| !line.is_empty() && !line.starts_with('#'))
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::{MAX_CHARS, Password, common_passwords};
    use crate::domain::{EmailAddress, ValidationError};

    fn email(raw: &str) -> EmailAddress {
        EmailAddress::parse(raw).expect("test email is valid")
    }

    fn accepted(raw: &str) -> Password {
        match Password::parse_new(raw, None) {
            Ok(p) => p,
            Err(e) => panic!(
                "password of {} chars should pass: {}",
                raw.chars().count(),
                e.code
            ),
        }
    }

    fn rejected_with(raw: &str, email: Option<&EmailAddress>) -> ValidationError {
        match Password::parse_new(raw, email) {
            Ok(_) => panic!("password {raw:?} should be rejected"),
            Err(e) => {
                assert_eq!(e.field, "password");
                assert!(
                    !e.message.contains(raw),
                    "message must not echo the password: {}",
                    e.message
                );
                e
            }
        }
    }

    fn code(raw: &str) -> &'static str {
        rejected_with(raw, None).code
    }

    #[test]
    fn common_list_is_loaded() {
        let list = common_passwords();
        assert!(list.len() > 1000, "only {} entries", list.len());
        assert!(list.contains("password"));
        assert!(list.contains("qwertyuiop"));
        assert!(list.iter().all(|p| !p.starts_with('#') && !p.is_empty()));
        assert!(list.iter().all(|p| p.chars().count() >= 4));
        assert!(list.iter().all(|p| *p == p.to_lowercase()));
    }

    #[test]
    fn accepts_a_reasonable_passphrase() {
        let p = accepted("correct horse battery staple");
        assert_eq!(p.expose(), "correct horse battery staple");
        accepted("Tr0ub4dor&3-but-longer");
    }

    #[test]
    fn length_boundary_is_twelve_chars() {
        assert_eq!(code("kx7#qv9!mzp"), "password_too_short");
        accepted("kx7#qv9!mzp2");
    }

    #[test]
    fn length_is_counted_in_chars_not_bytes() {
        // 11 two-byte chars = 22 bytes: still too short.
        let eleven = "ñçøåéüßðþæö";
        assert_eq!(eleven.chars().count(), 11);
        assert!(eleven.len() >= 12);
        assert_eq!(code(eleven), "password_too_short");
        // 12 chars (36 bytes of CJK) is long enough.
        accepted("医院患者記録安全保護暗号鍵");
        accepted("ñçøåéüßðþæöł");
    }

    #[test]
    fn length_is_counted_after_normalization() {
        // 11 letters, each typed as base + combining mark: 22 chars raw,
        // 11 after NFC, so too short.
        let nfd = "e\u{301}".repeat(11);
        assert_eq!(code(&nfd), "password_too_short");
    }

    #[test]
    fn rejects_more_than_128_chars() {
        let ok = "ab3$".repeat(32);
        assert_eq!(ok.chars().count(), MAX_CHARS);
        accepted(&ok);
        let too_long = format!("{ok}x");
        assert_eq!(too_long.chars().count(), 129);
        assert_eq!(code(&too_long), "password_too_long");
        assert_eq!(code(&"é".repeat(129)), "password_too_long");
        assert_eq!(code(&"x".repeat(1_000_000)), "password_too_long");
    }

    #[test]
    fn rejects_common_passwords_case_insensitively() {
        assert_eq!(code("1qaz2wsx3edc"), "password_too_common");
        assert_eq!(code("LeaveMeAlone"), "password_too_common");
        assert_eq!(code("QAZWSXEDCRFV"), "password_too_common");
    }

    #[test]
    fn rejects_common_password_with_trailing_digits_or_punctuation() {
        for raw in [
            "password1234",
            "password12345",
            "Password12345",
            "qwertyuiop123",
            "iloveyou!!!!!",
            "iloveyou2024!",
            "baseball.1234",
            "football     ",
            "superman_2000",
        ] {
            assert_eq!(code(raw), "password_too_common", "{raw}");
        }
        // A common word in the middle of something longer is fine.
        accepted("my password is long enough");
        // Digits only at the end of an uncommon stem are fine.
        accepted("glacier-otter-1234");
    }

    #[test]
    fn rejects_single_repeated_character() {
        assert_eq!(code("aaaaaaaaaaaa"), "password_repeated_character");
        assert_eq!(code("AAAAAaaaaaaa"), "password_repeated_character");
        assert_eq!(code("ééééééééééééé"), "password_repeated_character");
        accepted("aaaaaaaaaaab");
    }

    #[test]
    fn rejects_email_and_local_part() {
        let e = email("Maria.Santos@clinic.example");
        let contains = |raw: &str| rejected_with(raw, Some(&e)).code;
        assert_eq!(
            contains("maria.santos@clinic.example"),
            "password_contains_email"
        );
        assert_eq!(
            contains("MARIA.SANTOS@CLINIC.EXAMPLE"),
            "password_contains_email"
        );
        assert_eq!(contains("Maria.Santos"), "password_contains_email");
        assert_eq!(contains("maria.santos2024"), "password_contains_email");
        assert_eq!(contains("xx-Maria.Santos-xx"), "password_contains_email");
        assert!(Password::parse_new("maria.santos2024", None).is_ok());
        assert!(Password::parse_new("violet-harbor-lamp", Some(&e)).is_ok());
    }

    #[test]
    fn local_part_equal_to_password_is_rejected() {
        let e = email("averylongmailbox@example.org");
        assert_eq!(
            rejected_with("AveryLongMailbox", Some(&e)).code,
            "password_contains_email"
        );
    }

    #[test]
    fn short_local_part_is_only_rejected_as_a_whole_email() {
        let e = email("al@example.org");
        // "al" appears in plenty of unrelated passwords.
        assert!(Password::parse_new("royal-blue-canal", Some(&e)).is_ok());
        assert_eq!(
            rejected_with("al@example.org!!", Some(&e)).code,
            "password_contains_email"
        );
    }

    #[test]
    fn nfc_and_nfd_passwords_are_equal() {
        let nfc = accepted("caf\u{e9}-au-lait-2024");
        let nfd = accepted("cafe\u{301}-au-lait-2024");
        assert_eq!(nfc.expose(), nfd.expose());
        let login = Password::for_login("cafe\u{301}-au-lait-2024").expect("short enough");
        assert_eq!(login.expose(), nfc.expose());
    }

    #[test]
    fn login_only_bounds_length() {
        // Policy does not apply at login.
        assert!(Password::for_login("").is_ok());
        assert!(Password::for_login("password").is_ok());
        assert!(Password::for_login(&"a".repeat(1024)).is_ok());
        let e = Password::for_login(&"a".repeat(1025)).expect_err("over 1024 bytes");
        assert_eq!(e.code, "password_too_long");
        // Bytes, not chars: 513 two-byte chars = 1026 bytes.
        assert!(Password::for_login(&"é".repeat(513)).is_err());
    }

    #[test]
    fn debug_never_shows_the_password() {
        let p = accepted("correct horse battery staple");
        assert_eq!(format!("{p:?}"), "Password(****)");
        assert_eq!(format!("{:?}", Some(&p)), "Some(Password(****))");
    }
}
