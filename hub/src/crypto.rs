//! Encryption at rest for PHI and secrets (TOTP seeds, tokens) with AES-256-GCM.
//!
//! Every stored value is sealed as `nonce || ciphertext || tag` under a data key, and the
//! key's id is stored beside it in its own column. The id lets a [`Keyring`] pick the right
//! key when decrypting, so keys can be rotated: new writes use the current key while rows
//! written earlier still decrypt with a previous key until they are re-encrypted.
//!
//! Callers pass associated data (`aad`) naming the row and purpose, e.g.
//! `b"totp:<user_id>"`. It is authenticated but not stored, so a ciphertext copied into
//! another user's row, or into a column with a different purpose, fails to decrypt instead
//! of silently yielding someone else's data.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Key};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use data_encoding::HEXLOWER;
use rand::RngCore;
use rand::rngs::OsRng;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

/// AES-256 key size in bytes.
const KEY_LEN: usize = 32;
/// GCM's standard 96-bit nonce; random nonces of this size are safe for well over
/// 2^32 encryptions per key (NIST SP 800-38D §8.3), far more than rotation ever allows.
const NONCE_LEN: usize = 12;
/// GCM authentication tag size in bytes.
const TAG_LEN: usize = 16;
/// Domain separator so the key id hash can never collide with any other use of
/// SHA-256 over the key.
const KEY_ID_DOMAIN: &[u8] = b"healthbridge-data-key-id";
/// Bytes of the domain-separated hash shown in the id (16 hex chars). 64 bits is plenty
/// to tell a handful of keys apart while revealing nothing useful about the key.
const KEY_ID_HASH_BYTES: usize = 8;

/// Why an encryption-at-rest operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    /// Key material was not exactly 32 bytes.
    #[error("data key must be exactly {KEY_LEN} bytes")]
    InvalidKeyLength,
    /// The sealed value names a key that is not in the keyring (e.g. it was retired
    /// before all rows were re-encrypted).
    #[error("no data key with id {0:?} in the keyring")]
    UnknownKeyId(String),
    /// Authentication failed. Tampering, the wrong key and the wrong `aad` are
    /// deliberately indistinguishable so the error cannot serve as an oracle.
    #[error("decryption failed")]
    Decrypt,
    /// Input is structurally invalid: a sealed value too short to hold a nonce and tag,
    /// or key material that is not valid base64.
    #[error("malformed encrypted data or key encoding")]
    Malformed,
}

/// A 256-bit data key and its derived id.
///
/// The key lives on the heap inside [`Zeroizing`], so it is wiped on drop and moving a
/// `DataKey` (into a `Vec`, a `Keyring`, …) never leaves stray copies on the stack.
/// `Debug` shows only the id.
pub struct DataKey {
    id: String,
    key: Box<Zeroizing<[u8; KEY_LEN]>>,
}

impl DataKey {
    /// Wraps raw key material; it must be exactly 32 bytes.
    ///
    /// # Errors
    ///
    /// [`CryptoError::InvalidKeyLength`] for any other length.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CryptoError> {
        if bytes.len() != KEY_LEN {
            return Err(CryptoError::InvalidKeyLength);
        }
        let mut key = Box::new(Zeroizing::new([0u8; KEY_LEN]));
        key.copy_from_slice(bytes);
        Ok(Self::from_boxed(key))
    }

    /// Parses standard base64 (as found in config files and environment variables);
    /// surrounding whitespace is ignored.
    ///
    /// # Errors
    ///
    /// [`CryptoError::Malformed`] if the text is not base64,
    /// [`CryptoError::InvalidKeyLength`] if it does not decode to 32 bytes.
    pub fn from_base64(encoded: &str) -> Result<Self, CryptoError> {
        let bytes = Zeroizing::new(
            BASE64
                .decode(encoded.trim())
                .map_err(|_| CryptoError::Malformed)?,
        );
        Self::from_bytes(&bytes)
    }

    /// Generates a new random key from the OS CSPRNG (for provisioning and tests).
    ///
    /// # Panics
    ///
    /// Panics only if the OS random source is unavailable.
    pub fn generate() -> Self {
        let mut key = Box::new(Zeroizing::new([0u8; KEY_LEN]));
        OsRng.fill_bytes(key.as_mut_slice());
        Self::from_boxed(key)
    }

    /// The key id: `"k"` + 16 hex chars of SHA-256(domain || key).
    ///
    /// Derived rather than configured so every node holding the same key agrees on its
    /// id with no extra settings, and a typo cannot pair an id with the wrong key. A
    /// one-way hash of a 256-bit key reveals nothing usable about it.
    pub fn id(&self) -> &str {
        &self.id
    }

    fn from_boxed(key: Box<Zeroizing<[u8; KEY_LEN]>>) -> Self {
        let digest = Sha256::new()
            .chain_update(KEY_ID_DOMAIN)
            .chain_update(key.as_slice())
            .finalize();
        let id = format!("k{}", HEXLOWER.encode(&digest[..KEY_ID_HASH_BYTES]));
        Self { id, key }
    }

    fn cipher(&self) -> Aes256Gcm {
        // Borrow rather than copy the key so no unzeroized duplicate lands on the stack.
        let key: &[u8; KEY_LEN] = &self.key;
        let key: &Key<Aes256Gcm> = key.into();
        Aes256Gcm::new(key)
    }
}

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DataKey")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// An encrypted value: store `key_id` and `ciphertext` in two columns of the same row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sealed {
    /// Id of the [`DataKey`] that sealed this value.
    pub key_id: String,
    /// 12-byte random nonce followed by the AES-GCM ciphertext and 16-byte tag.
    pub ciphertext: Vec<u8>,
}

/// The current data key plus retired keys that are still needed to read old rows.
#[derive(Debug)]
pub struct Keyring {
    current: DataKey,
    previous: Vec<DataKey>,
}

impl Keyring {
    /// `current` encrypts all new data; `previous` keys are only used for decryption.
    pub fn new(current: DataKey, previous: Vec<DataKey>) -> Self {
        Self { current, previous }
    }

    /// Id of the key used for new encryptions. Rows whose stored key id differs are
    /// candidates for re-encryption after a rotation.
    pub fn current_key_id(&self) -> &str {
        self.current.id()
    }

    /// Encrypts `plaintext` under the current key, authenticating `aad` alongside it.
    ///
    /// A fresh random nonce is used every time, so equal plaintexts produce unrelated
    /// ciphertexts and nothing can be learned by comparing rows.
    ///
    /// # Panics
    ///
    /// Panics if `plaintext` or `aad` exceeds AES-GCM's 64 GiB limit, the only way GCM
    /// encryption can fail; no caller holds such a buffer in memory.
    #[must_use]
    pub fn encrypt(&self, plaintext: &[u8], aad: &[u8]) -> Sealed {
        let nonce = random_bytes::<NONCE_LEN>();
        let payload = Payload {
            msg: plaintext,
            aad,
        };
        let Ok(sealed) = self.current.cipher().encrypt((&nonce).into(), payload) else {
            panic!("AES-GCM input exceeds 64 GiB");
        };
        let mut ciphertext = Vec::with_capacity(NONCE_LEN + sealed.len());
        ciphertext.extend_from_slice(&nonce);
        ciphertext.extend_from_slice(&sealed);
        Sealed {
            key_id: self.current.id.clone(),
            ciphertext,
        }
    }

    /// Decrypts a value sealed by this keyring's current or a previous key.
    ///
    /// # Errors
    ///
    /// - [`CryptoError::UnknownKeyId`] if no key in the ring has `sealed.key_id`.
    /// - [`CryptoError::Malformed`] if the ciphertext is too short for nonce and tag.
    /// - [`CryptoError::Decrypt`] if `aad` differs from the one given to
    ///   [`Keyring::encrypt`], or any byte of the ciphertext was altered.
    pub fn decrypt(&self, sealed: &Sealed, aad: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let key = self
            .key(&sealed.key_id)
            .ok_or_else(|| CryptoError::UnknownKeyId(sealed.key_id.clone()))?;
        let Some((nonce, body)) = sealed.ciphertext.split_first_chunk::<NONCE_LEN>() else {
            return Err(CryptoError::Malformed);
        };
        if body.len() < TAG_LEN {
            return Err(CryptoError::Malformed);
        }
        let payload = Payload { msg: body, aad };
        key.cipher()
            .decrypt(nonce.into(), payload)
            .map_err(|_| CryptoError::Decrypt)
    }

    fn key(&self, id: &str) -> Option<&DataKey> {
        std::iter::once(&self.current)
            .chain(&self.previous)
            .find(|key| key.id == id)
    }
}

/// `N` bytes from the operating system's CSPRNG (nonces, keys, tokens).
///
/// # Panics
///
/// Panics only if the OS random source is unavailable, when nothing secure can be
/// generated anyway.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    OsRng.fill_bytes(&mut bytes);
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    const AAD: &[u8] = b"totp:user-42";

    fn key(byte: u8) -> DataKey {
        match DataKey::from_bytes(&[byte; KEY_LEN]) {
            Ok(key) => key,
            Err(err) => panic!("32-byte key rejected: {err}"),
        }
    }

    fn single(key: DataKey) -> Keyring {
        Keyring::new(key, Vec::new())
    }

    #[test]
    fn round_trip() {
        let ring = single(DataKey::generate());
        let sealed = ring.encrypt(b"diagnosis: healthy", AAD);
        assert_eq!(sealed.key_id, ring.current_key_id());
        assert_eq!(sealed.ciphertext.len(), NONCE_LEN + 18 + TAG_LEN);
        assert_eq!(
            ring.decrypt(&sealed, AAD),
            Ok(b"diagnosis: healthy".to_vec())
        );
    }

    #[test]
    fn round_trip_empty_plaintext_and_aad() {
        let ring = single(DataKey::generate());
        let sealed = ring.encrypt(b"", b"");
        assert_eq!(sealed.ciphertext.len(), NONCE_LEN + TAG_LEN);
        assert_eq!(ring.decrypt(&sealed, b""), Ok(Vec::new()));
    }

    #[test]
    fn any_flipped_byte_fails_to_decrypt() {
        let ring = single(DataKey::generate());
        let sealed = ring.encrypt(b"secret", AAD);
        // Covers the nonce, the ciphertext body and the tag.
        for index in 0..sealed.ciphertext.len() {
            let mut tampered = sealed.clone();
            tampered.ciphertext[index] ^= 0x01;
            assert_eq!(ring.decrypt(&tampered, AAD), Err(CryptoError::Decrypt));
        }
    }

    #[test]
    fn wrong_aad_fails_to_decrypt() {
        let ring = single(DataKey::generate());
        let sealed = ring.encrypt(b"secret", AAD);
        assert_eq!(
            ring.decrypt(&sealed, b"totp:user-43"),
            Err(CryptoError::Decrypt)
        );
        assert_eq!(ring.decrypt(&sealed, b""), Err(CryptoError::Decrypt));
    }

    #[test]
    fn truncated_ciphertext_is_malformed() {
        let ring = single(DataKey::generate());
        let mut sealed = ring.encrypt(b"", AAD);
        sealed.ciphertext.pop();
        assert_eq!(ring.decrypt(&sealed, AAD), Err(CryptoError::Malformed));
        sealed.ciphertext.clear();
        assert_eq!(ring.decrypt(&sealed, AAD), Err(CryptoError::Malformed));
    }

    #[test]
    fn rotation_keeps_old_rows_readable() {
        let old_ring = single(key(0xA1));
        let sealed = old_ring.encrypt(b"written before rotation", AAD);

        let rotated = Keyring::new(key(0xB2), vec![key(0xA1)]);
        assert_eq!(
            rotated.decrypt(&sealed, AAD),
            Ok(b"written before rotation".to_vec())
        );
        // New writes use the new key.
        let fresh = rotated.encrypt(b"after", AAD);
        assert_eq!(fresh.key_id, key(0xB2).id());
        assert_eq!(rotated.decrypt(&fresh, AAD), Ok(b"after".to_vec()));

        let retired = single(key(0xB2));
        assert_eq!(
            retired.decrypt(&sealed, AAD),
            Err(CryptoError::UnknownKeyId(key(0xA1).id().to_owned()))
        );
    }

    #[test]
    fn relabelled_key_id_fails_to_decrypt() {
        let ring = Keyring::new(key(0xB2), vec![key(0xA1)]);
        let mut sealed = ring.encrypt(b"secret", AAD);
        sealed.key_id = key(0xA1).id().to_owned();
        assert_eq!(ring.decrypt(&sealed, AAD), Err(CryptoError::Decrypt));
    }

    #[test]
    fn same_plaintext_encrypts_differently() {
        let ring = single(DataKey::generate());
        let a = ring.encrypt(b"same", AAD);
        let b = ring.encrypt(b"same", AAD);
        assert_ne!(a.ciphertext, b.ciphertext);
        assert_ne!(a.ciphertext[..NONCE_LEN], b.ciphertext[..NONCE_LEN]);
    }

    #[test]
    fn key_id_is_stable_and_distinct() {
        // Pinned: ids are persisted, so the derivation must never change. Computed
        // independently as "k" + sha256(b"healthbridge-data-key-id" + key).hex()[:16].
        let bytes: Vec<u8> = (0u8..32).collect();
        let key_a = DataKey::from_bytes(&bytes);
        assert_eq!(key_a.as_ref().map(DataKey::id), Ok("k3e5959f05ac24442"));
        assert_eq!(key(0xAB).id(), "kd821cec70b37b11e");
        assert_eq!(key(0xAB).id(), key(0xAB).id());
        assert_ne!(DataKey::generate().id(), DataKey::generate().id());
    }

    #[test]
    fn key_must_be_32_bytes() {
        for len in [0, 16, 31, 33, 64] {
            let result = DataKey::from_bytes(&vec![7u8; len]);
            assert_eq!(
                result.err(),
                Some(CryptoError::InvalidKeyLength),
                "len {len}"
            );
        }
    }

    #[test]
    fn key_from_base64() {
        let encoded = BASE64.encode([0xABu8; KEY_LEN]);
        let parsed = DataKey::from_base64(&format!("  {encoded}\n"));
        assert_eq!(parsed.as_ref().map(DataKey::id), Ok(key(0xAB).id()));
        assert_eq!(
            DataKey::from_base64("not base64!").err(),
            Some(CryptoError::Malformed)
        );
        let short = BASE64.encode([1u8; 16]);
        assert_eq!(
            DataKey::from_base64(&short).err(),
            Some(CryptoError::InvalidKeyLength)
        );
    }

    #[test]
    fn debug_does_not_leak_key() {
        let key = key(0xAB);
        let shown = format!("{key:?}");
        assert_eq!(shown, format!("DataKey {{ id: {:?}, .. }}", key.id()));
        let ring = format!("{:?}", single(key));
        assert!(!ring.contains("171"), "{ring}");
        assert!(!ring.to_lowercase().contains("abab"), "{ring}");
    }

    #[test]
    fn error_messages_carry_no_secret_detail() {
        assert_eq!(CryptoError::Decrypt.to_string(), "decryption failed");
        assert_eq!(
            CryptoError::UnknownKeyId("k0123".to_owned()).to_string(),
            "no data key with id \"k0123\" in the keyring"
        );
    }

    #[test]
    fn random_bytes_are_random() {
        let a = random_bytes::<32>();
        let b = random_bytes::<32>();
        assert_ne!(a, b);
        assert_eq!(random_bytes::<0>(), [0u8; 0]);
    }
}
