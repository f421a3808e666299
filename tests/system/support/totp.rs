//! An independent RFC 6238 implementation, so tests check the server's TOTP
//! against the standard rather than against itself.

use hmac::{Hmac, Mac};
use sha1::Sha1;

/// The 6-digit code for `secret_base32` at `unix_seconds`.
pub fn code(secret_base32: &str, unix_seconds: i64) -> String {
    let key = data_encoding::BASE32_NOPAD
        .decode(secret_base32.trim_end_matches('=').as_bytes())
        .expect("base32 secret");
    let counter = (unix_seconds / 30) as u64;
    let mut mac = Hmac::<Sha1>::new_from_slice(&key).expect("any key length");
    mac.update(&counter.to_be_bytes());
    let digest = mac.finalize().into_bytes();
    let offset = (digest[19] & 0x0f) as usize;
    let value = u32::from_be_bytes([
        digest[offset] & 0x7f,
        digest[offset + 1],
        digest[offset + 2],
        digest[offset + 3],
    ]);
    format!("{:06}", value % 1_000_000)
}

/// The `secret` parameter of an `otpauth://` URI.
pub fn secret_of(uri: &str) -> String {
    let query = uri.split_once('?').expect("query").1;
    query
        .split('&')
        .find_map(|kv| kv.strip_prefix("secret="))
        .expect("secret parameter")
        .to_owned()
}

#[test]
fn rfc6238_vector() {
    // RFC 6238 Appendix B, SHA1, T = 59: 94287082 → last six digits.
    let secret = data_encoding::BASE32_NOPAD.encode(b"12345678901234567890");
    assert_eq!(code(&secret, 59), "287082");
}
