//! Time-based one-time passwords (RFC 6238) and recovery codes for second-factor login.
//!
//! The parameters are fixed to HMAC-SHA1, 6 digits and a 30-second period because that is
//! the only combination every authenticator app (Google Authenticator, Aegis, 1Password, …)
//! implements; several apps silently ignore `algorithm`/`digits`/`period` in the enrolment
//! URI and would show wrong codes for anything else.
//!
//! Recovery codes are the fallback when the user loses the device. They are shown once,
//! stored only as hashes, and consumed on use by the caller.

use data_encoding::{BASE32_NOPAD, HEXLOWER};
use hmac::{Hmac, Mac};
use rand::rngs::OsRng;
use rand::{Rng, RngCore};
use sha1::Sha1;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::Zeroize;

/// Number of digits in a code; authenticator apps assume 6.
const DIGITS: usize = 6;
/// `10^DIGITS`, the modulus that turns the truncated HMAC into a code.
const CODE_MODULUS: u32 = 1_000_000;
/// Length of a time step in seconds (RFC 6238 default, assumed by authenticator apps).
const PERIOD_SECONDS: u64 = 30;
/// Secret length in bytes: RFC 4226 §4 recommends 160 bits, matching the SHA-1 output size.
const SECRET_LEN: usize = 20;
/// Recovery code length in alphabet characters (excluding the display dash).
const RECOVERY_CODE_LEN: usize = 10;
/// Recovery codes are displayed as two groups of this many characters joined by a dash.
const RECOVERY_GROUP_LEN: usize = 5;
/// Lowercase letters and digits minus the look-alikes 0/o, 1/i/l, so codes read back
/// from paper or a screenshot are never ambiguous. 31 symbols, ~4.95 bits each.
const RECOVERY_ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";

type HmacSha1 = Hmac<Sha1>;

/// A shared TOTP secret.
///
/// The bytes are wiped when the value is dropped and never appear in `Debug` output, so a
/// stray `tracing::debug!(?secret)` cannot leak a second factor into logs. It deliberately
/// implements neither `Clone` nor `PartialEq` (which would not be constant time).
pub struct TotpSecret(Vec<u8>);

impl TotpSecret {
    /// Generates a fresh 160-bit secret from the operating system's CSPRNG.
    ///
    /// # Panics
    ///
    /// Panics only if the OS random source is unavailable, in which case no secret
    /// material can be produced safely at all.
    pub fn generate() -> Self {
        let mut bytes = vec![0u8; SECRET_LEN];
        OsRng.fill_bytes(&mut bytes);
        Self(bytes)
    }

    /// Wraps existing secret bytes, e.g. after decrypting them from storage.
    pub fn from_bytes(bytes: &[u8]) -> Self {
        Self(bytes.to_vec())
    }

    /// Parses a base32 secret as typed or pasted by a user: case-insensitive, spaces and
    /// `=` padding ignored. Returns `None` if it is not valid base32 or decodes to nothing.
    pub fn from_base32(encoded: &str) -> Option<Self> {
        let mut cleaned: String = encoded
            .chars()
            .filter(|c| !c.is_whitespace() && *c != '=')
            .map(|c| c.to_ascii_uppercase())
            .collect();
        let decoded = BASE32_NOPAD.decode(cleaned.as_bytes());
        cleaned.zeroize();
        match decoded {
            Ok(bytes) if !bytes.is_empty() => Some(Self(bytes)),
            _ => None,
        }
    }

    /// The raw secret bytes, for encrypting into storage.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// RFC 4648 base32, uppercase, without `=` padding: the form authenticator apps accept
    /// for manual entry and inside `otpauth://` URIs (some apps reject padding).
    pub fn to_base32(&self) -> String {
        BASE32_NOPAD.encode(&self.0)
    }
}

impl Drop for TotpSecret {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl std::fmt::Debug for TotpSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TotpSecret(****)")
    }
}

/// Builds the `otpauth://` enrolment URI (Google Authenticator "Key Uri Format") that is
/// rendered as a QR code.
///
/// The issuer appears both as the label prefix and as the `issuer` parameter: older apps
/// read only the former, newer ones prefer the latter. Issuer and account are
/// percent-encoded so spaces, `@` and `:` (the label separator) survive intact.
pub fn otpauth_uri(secret: &TotpSecret, issuer: &str, account: &str) -> String {
    let issuer = percent_encode(issuer);
    format!(
        "otpauth://totp/{issuer}:{account}?secret={secret}&issuer={issuer}\
         &algorithm=SHA1&digits={DIGITS}&period={PERIOD_SECONDS}",
        account = percent_encode(account),
        secret = secret.to_base32(),
    )
}

/// The RFC 6238 time step (counter) containing `unix_seconds`.
pub fn time_step(unix_seconds: u64) -> u64 {
    unix_seconds / PERIOD_SECONDS
}

/// The 6-digit code, zero-padded, valid during the time step containing `unix_seconds`.
pub fn code_at(secret: &TotpSecret, unix_seconds: u64) -> String {
    code_for_step(secret, time_step(unix_seconds))
}

/// Checks a user-supplied code and returns the time step it matched.
///
/// Accepts the current step and one step either side, tolerating ~30 s of clock drift
/// between server and phone (RFC 6238 §5.2 recommends at most one step). Whitespace is
/// ignored because apps display codes as `123 456`; anything other than exactly six ASCII
/// digits is rejected.
///
/// Steps at or before `last_used_step` are rejected so an observed code cannot be replayed
/// within its validity window (RFC 6238 §5.2). The caller must persist the returned step
/// and pass it back on the next verification.
#[must_use = "a code is only accepted if the returned step is checked and stored"]
pub fn verify(
    secret: &TotpSecret,
    code: &str,
    unix_seconds: u64,
    last_used_step: Option<u64>,
) -> Option<u64> {
    let code = normalize_code(code)?;
    let current = time_step(unix_seconds);
    let candidates = [
        current.checked_sub(1),
        Some(current),
        current.checked_add(1),
    ];
    let mut matched = None;
    // Every candidate is computed and compared, so the response time does not reveal
    // which step (if any) matched.
    for step in candidates.into_iter().flatten() {
        let expected = code_for_step(secret, step);
        let equal = bool::from(expected.as_bytes().ct_eq(code.as_bytes()));
        let fresh = last_used_step.is_none_or(|last| step > last);
        if equal && fresh && matched.is_none() {
            matched = Some(step);
        }
    }
    matched
}

/// Generates `n` single-use recovery codes formatted `xxxxx-xxxxx` for display.
///
/// Each code carries ~49.5 bits from the OS CSPRNG: far beyond online guessing under
/// login rate limits. Store only [`hash_recovery_code`] of the normalized form.
///
/// # Panics
///
/// Panics only if the OS random source is unavailable.
pub fn generate_recovery_codes(n: usize) -> Vec<String> {
    (0..n).map(|_| generate_recovery_code()).collect()
}

/// Canonicalizes a recovery code as typed by a user: spaces and dashes removed, lowercase.
///
/// Returns `None` unless exactly ten characters from the recovery alphabet remain, so
/// garbage is rejected before any database lookup.
pub fn normalize_recovery_code(input: &str) -> Option<String> {
    let normalized: String = input
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .map(|c| c.to_ascii_lowercase())
        .collect();
    let valid = normalized.len() == RECOVERY_CODE_LEN
        && normalized.bytes().all(|b| RECOVERY_ALPHABET.contains(&b));
    valid.then_some(normalized)
}

/// Hex SHA-256 of a code already passed through [`normalize_recovery_code`].
///
/// A fast unsalted hash is deliberate. Slow password hashes exist to protect low-entropy,
/// human-chosen secrets; these codes are machine-generated with ~49.5 bits each and are
/// useless without the account password, and a deterministic hash lets the caller find a
/// matching code with one indexed lookup instead of running a KDF against every stored
/// code on each attempt.
pub fn hash_recovery_code(normalized: &str) -> String {
    HEXLOWER.encode(&Sha256::digest(normalized.as_bytes()))
}

fn generate_recovery_code() -> String {
    let mut code = String::with_capacity(RECOVERY_CODE_LEN + 1);
    for i in 0..RECOVERY_CODE_LEN {
        if i == RECOVERY_GROUP_LEN {
            code.push('-');
        }
        // `gen_range` samples uniformly, so no symbol is favoured (unlike `% len`).
        let index = OsRng.gen_range(0..RECOVERY_ALPHABET.len());
        code.push(char::from(RECOVERY_ALPHABET[index]));
    }
    code
}

/// Strips whitespace and returns the code only if it is exactly six ASCII digits.
fn normalize_code(code: &str) -> Option<String> {
    let digits: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    let valid = digits.len() == DIGITS && digits.bytes().all(|b| b.is_ascii_digit());
    valid.then_some(digits)
}

fn code_for_step(secret: &TotpSecret, step: u64) -> String {
    let code = truncated_hotp(secret.as_bytes(), step) % CODE_MODULUS;
    format!("{code:0DIGITS$}")
}

/// HOTP before the final modulus (RFC 4226 §5.3): HMAC-SHA1 over the big-endian
/// counter, then "dynamic truncation" to a 31-bit integer.
fn truncated_hotp(key: &[u8], counter: u64) -> u32 {
    // HMAC pads or hashes keys of any length; `InvalidLength` only exists for MACs with
    // fixed-size keys, so this branch is unreachable rather than a runtime failure.
    let Ok(mut mac) = HmacSha1::new_from_slice(key) else {
        unreachable!("HMAC-SHA1 accepts keys of any length");
    };
    mac.update(&counter.to_be_bytes());
    let digest: [u8; 20] = mac.finalize().into_bytes().into();
    // The low nibble of the last byte picks a 4-byte window; offset <= 15 keeps the
    // window (ending at index 18) inside the 20-byte digest.
    let offset = usize::from(digest[19] & 0x0f);
    let window = [
        digest[offset],
        digest[offset + 1],
        digest[offset + 2],
        digest[offset + 3],
    ];
    u32::from_be_bytes(window) & 0x7fff_ffff
}

/// Percent-encodes everything outside the RFC 3986 unreserved set, byte by byte of the
/// UTF-8 form. Encoding more than strictly needed is always safe for URI parsers.
fn percent_encode(input: &str) -> String {
    const HEX_UPPER: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(input.len());
    for byte in input.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push('%');
            out.push(char::from(HEX_UPPER[usize::from(byte >> 4)]));
            out.push(char::from(HEX_UPPER[usize::from(byte & 0x0f)]));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Secret used by both RFC 4226 Appendix D and RFC 6238 Appendix B (SHA-1).
    fn rfc_secret() -> TotpSecret {
        TotpSecret::from_bytes(b"12345678901234567890")
    }

    /// Any instant inside step 37037037 (= 1111111110 / 30), one second after its start.
    const T: u64 = 1_111_111_111;

    #[test]
    fn rfc4226_appendix_d_truncated_values() {
        let expected: [u32; 10] = [
            1_284_755_224,
            1_094_287_082,
            137_359_152,
            1_726_969_429,
            1_640_338_314,
            868_254_676,
            1_918_287_922,
            82_162_583,
            673_399_871,
            645_520_489,
        ];
        for (counter, want) in (0u64..).zip(expected) {
            assert_eq!(truncated_hotp(b"12345678901234567890", counter), want);
        }
    }

    #[test]
    fn rfc4226_appendix_d_hotp_codes() {
        let expected = [
            "755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583",
            "399871", "520489",
        ];
        for (counter, want) in (0u64..).zip(expected) {
            assert_eq!(code_for_step(&rfc_secret(), counter), want);
        }
    }

    #[test]
    fn rfc6238_appendix_b_sha1_vectors() {
        let vectors: [(u64, &str); 6] = [
            (59, "94287082"),
            (1_111_111_109, "07081804"),
            (1_111_111_111, "14050471"),
            (1_234_567_890, "89005924"),
            (2_000_000_000, "69279037"),
            (20_000_000_000, "65353130"),
        ];
        let secret = rfc_secret();
        for (time, eight_digits) in vectors {
            let full = truncated_hotp(secret.as_bytes(), time_step(time)) % 100_000_000;
            assert_eq!(
                format!("{full:08}"),
                eight_digits,
                "8-digit value at t={time}"
            );
            assert_eq!(
                code_at(&secret, time),
                eight_digits[2..],
                "6-digit at t={time}"
            );
        }
    }

    #[test]
    fn time_step_boundaries() {
        assert_eq!(time_step(0), 0);
        assert_eq!(time_step(29), 0);
        assert_eq!(time_step(30), 1);
        assert_eq!(time_step(59), 1);
        assert_eq!(time_step(60), 2);
    }

    #[test]
    fn codes_are_zero_padded() {
        // RFC 6238 vector at t=1111111109 yields 081804: the leading zero must survive.
        assert_eq!(code_at(&rfc_secret(), 1_111_111_109), "081804");
    }

    #[test]
    fn verify_accepts_current_step() {
        let secret = rfc_secret();
        let code = code_at(&secret, T);
        assert_eq!(verify(&secret, &code, T, None), Some(time_step(T)));
    }

    #[test]
    fn verify_accepts_one_step_of_drift_either_way() {
        let secret = rfc_secret();
        let step = time_step(T);
        let behind = code_at(&secret, T - PERIOD_SECONDS);
        let ahead = code_at(&secret, T + PERIOD_SECONDS);
        assert_eq!(verify(&secret, &behind, T, None), Some(step - 1));
        assert_eq!(verify(&secret, &ahead, T, None), Some(step + 1));
    }

    #[test]
    fn verify_rejects_two_steps_of_drift() {
        let secret = rfc_secret();
        let too_old = code_at(&secret, T - 2 * PERIOD_SECONDS);
        let too_new = code_at(&secret, T + 2 * PERIOD_SECONDS);
        assert_eq!(verify(&secret, &too_old, T, None), None);
        assert_eq!(verify(&secret, &too_new, T, None), None);
    }

    #[test]
    fn verify_rejects_replay_of_used_step() {
        let secret = rfc_secret();
        let code = code_at(&secret, T);
        let used = verify(&secret, &code, T, None);
        assert_eq!(used, Some(time_step(T)));
        assert_eq!(verify(&secret, &code, T, used), None);
        // Still rejected a few seconds later while the code would otherwise be valid.
        assert_eq!(verify(&secret, &code, T + 10, used), None);
    }

    #[test]
    fn verify_rejects_steps_older_than_last_used() {
        let secret = rfc_secret();
        let step = time_step(T);
        let previous = code_at(&secret, T - PERIOD_SECONDS);
        // A newer code was already used, so an older in-window code must not work.
        assert_eq!(verify(&secret, &previous, T, Some(step)), None);
        // But a code for a step after the last used one is fine.
        let next = code_at(&secret, T + PERIOD_SECONDS);
        assert_eq!(verify(&secret, &next, T, Some(step)), Some(step + 1));
        assert_eq!(
            verify(&secret, &previous, T, Some(step - 2)),
            Some(step - 1)
        );
    }

    #[test]
    fn verify_ignores_whitespace() {
        let secret = rfc_secret();
        let code = code_at(&secret, T);
        let spaced = format!(" {} {} ", &code[..3], &code[3..]);
        assert_eq!(verify(&secret, &spaced, T, None), Some(time_step(T)));
    }

    #[test]
    fn verify_rejects_malformed_codes() {
        let secret = rfc_secret();
        let code = code_at(&secret, T);
        let malformed = [
            String::new(),
            "      ".to_owned(),
            code[..5].to_owned(),
            format!("{code}0"),
            format!("0{code}"),
            format!("{}a", &code[..5]),
            format!("-{}", &code[..5]),
            format!("+{}", &code[..5]),
            // Full-width digits are not ASCII digits.
            "１２３４５６".to_owned(),
            format!("{}-{}", &code[..3], &code[3..]),
        ];
        for input in malformed {
            assert_eq!(verify(&secret, &input, T, None), None, "input {input:?}");
        }
    }

    #[test]
    fn verify_wrong_secret_fails() {
        let code = code_at(&rfc_secret(), T);
        let other = TotpSecret::from_bytes(b"another secret entirely");
        assert_eq!(verify(&other, &code, T, None), None);
    }

    #[test]
    fn verify_at_epoch_does_not_underflow() {
        let secret = rfc_secret();
        let code = code_at(&secret, 0);
        assert_eq!(verify(&secret, &code, 0, None), Some(0));
    }

    #[test]
    fn generated_secret_is_twenty_random_bytes() {
        let a = TotpSecret::generate();
        let b = TotpSecret::generate();
        assert_eq!(a.as_bytes().len(), SECRET_LEN);
        assert_ne!(a.as_bytes(), b.as_bytes());
    }

    #[test]
    fn base32_is_uppercase_unpadded_rfc4648() {
        // RFC 4648 §10 test vector "foobar" -> "MZXW6YTBOI======" (padding dropped).
        assert_eq!(TotpSecret::from_bytes(b"foobar").to_base32(), "MZXW6YTBOI");
        // A 20-byte secret is exactly 32 base32 characters, so no padding arises anyway.
        assert_eq!(TotpSecret::generate().to_base32().len(), 32);
    }

    #[test]
    fn base32_round_trip() {
        let secret = TotpSecret::generate();
        let encoded = secret.to_base32();
        let decoded = TotpSecret::from_base32(&encoded).map(|s| s.as_bytes().to_vec());
        assert_eq!(decoded.as_deref(), Some(secret.as_bytes()));
    }

    #[test]
    fn from_base32_is_lenient_about_case_spaces_and_padding() {
        let decoded = TotpSecret::from_base32("mzxw 6ytb oi== ====").map(|s| s.0.clone());
        assert_eq!(decoded.as_deref(), Some(&b"foobar"[..]));
        assert!(TotpSecret::from_base32("not base32!").is_none());
        assert!(TotpSecret::from_base32("").is_none());
    }

    #[test]
    fn debug_hides_secret() {
        let secret = TotpSecret::from_bytes(b"12345678901234567890");
        let shown = format!("{secret:?}");
        assert_eq!(shown, "TotpSecret(****)");
    }

    #[test]
    fn otpauth_uri_encodes_issuer_and_account() {
        let secret = TotpSecret::from_bytes(b"foobar");
        let uri = otpauth_uri(&secret, "Health Bridge: Clinic", "alice smith@example.com");
        assert_eq!(
            uri,
            "otpauth://totp/Health%20Bridge%3A%20Clinic:alice%20smith%40example.com\
             ?secret=MZXW6YTBOI&issuer=Health%20Bridge%3A%20Clinic\
             &algorithm=SHA1&digits=6&period=30"
        );
    }

    #[test]
    fn percent_encode_keeps_only_unreserved() {
        assert_eq!(percent_encode("AZaz09-._~"), "AZaz09-._~");
        assert_eq!(
            percent_encode("a b@c:d/e?f&g=h+i%"),
            "a%20b%40c%3Ad%2Fe%3Ff%26g%3Dh%2Bi%25"
        );
        assert_eq!(percent_encode("Zoë"), "Zo%C3%AB");
    }

    #[test]
    fn recovery_codes_have_expected_shape() {
        let codes = generate_recovery_codes(10);
        assert_eq!(codes.len(), 10);
        for code in &codes {
            assert_eq!(code.len(), RECOVERY_CODE_LEN + 1);
            assert_eq!(code.as_bytes()[RECOVERY_GROUP_LEN], b'-');
            let normalized = normalize_recovery_code(code);
            assert_eq!(normalized.as_deref(), Some(code.replace('-', "").as_str()));
        }
        let mut unique = codes.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), codes.len());
        assert!(generate_recovery_codes(0).is_empty());
    }

    #[test]
    fn recovery_alphabet_excludes_ambiguous_characters() {
        for ambiguous in b"0o1il" {
            assert!(!RECOVERY_ALPHABET.contains(ambiguous));
        }
        assert_eq!(RECOVERY_ALPHABET.len(), 31);
    }

    #[test]
    fn normalize_recovery_code_accepts_user_variants() {
        let want = Some("abcde23456".to_owned());
        assert_eq!(normalize_recovery_code("abcde-23456"), want);
        assert_eq!(normalize_recovery_code("ABCDE-23456"), want);
        assert_eq!(normalize_recovery_code("abcde23456"), want);
        assert_eq!(normalize_recovery_code(" abc de-2345 6 "), want);
        assert_eq!(normalize_recovery_code("AbCdE--23456"), want);
    }

    #[test]
    fn normalize_recovery_code_rejects_invalid() {
        let invalid = [
            "",
            "abcde-2345",      // too short
            "abcde-234567",    // too long
            "abcde-2345o",     // ambiguous letter o
            "abcde-23450",     // digit zero
            "abcde-2345l",     // letter l
            "abcde_23456",     // underscore is not a separator
            "abcdé-23456",     // non-ASCII
            "abcde-2345\u{0}", // control character
        ];
        for input in invalid {
            assert_eq!(normalize_recovery_code(input), None, "input {input:?}");
        }
    }

    #[test]
    fn recovery_code_hash_is_hex_sha256_and_format_insensitive() {
        // Independently computed: `printf abcde23456 | sha256sum`.
        let hash = hash_recovery_code("abcde23456");
        assert_eq!(
            hash,
            "3f3ca7d0c3da794e94f9b663af89ec93566b1ec3bb117818eacf40187a0e54ab"
        );
        let typed = normalize_recovery_code("ABCDE 23456").map(|n| hash_recovery_code(&n));
        assert_eq!(typed.as_deref(), Some(hash.as_str()));
        assert_ne!(hash_recovery_code("abcde23457"), hash);
    }
}
