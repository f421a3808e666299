//! PHI text columns sealed at rest.
//!
//! Free text that can carry clinical detail (room titles, appointment and leave reasons,
//! visit participants' names) is stored as `hbenc1:<key id>:<base64 of nonce ‖ ciphertext
//! ‖ tag>` in its own TEXT column, sealed with the same AES-256-GCM [`Keyring`] as message
//! bodies. The associated data names the table, the column and the row, so a value
//! copied into another row or column fails to decrypt instead of showing there.
//!
//! The value carries its key id inside it (message bodies keep theirs in a column) so
//! these columns needed no schema change, and the `hbenc1:` prefix tells a sealed value
//! from plaintext written before encryption: such rows are still read as they are, and
//! [`super::seal_backfill`] seals them at startup. Sealing happens here, in the store,
//! so no caller can write or read these columns without it.

use base64::{Engine, engine::general_purpose::STANDARD as BASE64};

use super::StoreError;
use crate::crypto::{Keyring, Sealed};

/// Marks a sealed value; the version lets a later format coexist with this one.
pub const PREFIX: &str = "hbenc1:";

/// A sealed PHI column: its table and column name form part of the associated data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Column {
    pub table: &'static str,
    pub column: &'static str,
}

pub const ROOM_TITLE: Column = Column {
    table: "rooms",
    column: "title",
};
pub const APPOINTMENT_REASON: Column = Column {
    table: "appointments",
    column: "reason",
};
pub const APPOINTMENT_CANCEL_REASON: Column = Column {
    table: "appointments",
    column: "cancel_reason",
};
pub const EXCEPTION_REASON: Column = Column {
    table: "availability_exceptions",
    column: "reason",
};
/// Row id: `<visit id>/<participant id>` (the table's key has two columns).
pub const PARTICIPANT_NAME: Column = Column {
    table: "visit_participants",
    column: "display_name",
};

impl Column {
    fn aad(self, row_id: &str) -> Vec<u8> {
        format!("phi:{}.{}:{row_id}", self.table, self.column).into_bytes()
    }

    /// Seals `plain` for the row `row_id` of this column under the current key.
    pub fn seal(self, keyring: &Keyring, row_id: &str, plain: &str) -> String {
        let sealed = keyring.encrypt(plain.as_bytes(), &self.aad(row_id));
        format!(
            "{PREFIX}{}:{}",
            sealed.key_id,
            BASE64.encode(&sealed.ciphertext)
        )
    }

    /// [`Column::seal`] for an optional value; `None` stays `NULL`.
    pub fn seal_opt(self, keyring: &Keyring, row_id: &str, plain: Option<&str>) -> Option<String> {
        plain.map(|p| self.seal(keyring, row_id, p))
    }

    /// The plaintext of a stored value. A value without the prefix was written before
    /// encryption (or by an older node during a rolling upgrade) and is returned as is.
    ///
    /// # Errors
    ///
    /// [`StoreError::Corrupt`] if a sealed value does not parse or decrypt (wrong row,
    /// tampering, a key no longer in the ring). The message names the column and row,
    /// never the content.
    pub fn open(
        self,
        keyring: &Keyring,
        row_id: &str,
        stored: String,
    ) -> Result<String, StoreError> {
        let Some(rest) = stored.strip_prefix(PREFIX) else {
            return Ok(stored);
        };
        let corrupt = |why: &str| {
            StoreError::Corrupt(format!("{}.{} of {row_id}: {why}", self.table, self.column))
        };
        let (key_id, encoded) = rest.split_once(':').ok_or_else(|| corrupt("no key id"))?;
        let ciphertext = BASE64.decode(encoded).map_err(|_| corrupt("not base64"))?;
        let sealed = Sealed {
            key_id: key_id.to_owned(),
            ciphertext,
        };
        let plain = keyring
            .decrypt(&sealed, &self.aad(row_id))
            .map_err(|e| corrupt(&e.to_string()))?;
        String::from_utf8(plain).map_err(|_| corrupt("not UTF-8"))
    }

    /// [`Column::open`] for an optional value.
    ///
    /// # Errors
    ///
    /// As [`Column::open`].
    pub fn open_opt(
        self,
        keyring: &Keyring,
        row_id: &str,
        stored: Option<String>,
    ) -> Result<Option<String>, StoreError> {
        stored.map(|s| self.open(keyring, row_id, s)).transpose()
    }
}

/// Whether a stored value is sealed (rather than plaintext from before encryption).
pub fn is_sealed(stored: &str) -> bool {
    stored.starts_with(PREFIX)
}

/// The row id of a visit participant's sealed name.
pub fn participant_row(visit_id: &str, participant_id: &str) -> String {
    format!("{visit_id}/{participant_id}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::DataKey;

    fn ring() -> Keyring {
        Keyring::new(DataKey::generate(), Vec::new())
    }

    #[test]
    fn round_trip_hides_the_text() {
        let ring = ring();
        let stored = ROOM_TITLE.seal(&ring, "room-1", "Chest pain, Ward 3");
        assert!(is_sealed(&stored));
        assert!(!stored.contains("Chest"), "{stored}");
        assert!(stored.starts_with(&format!("{PREFIX}{}:", ring.current_key_id())));
        let plain = ROOM_TITLE.open(&ring, "room-1", stored);
        assert_eq!(plain.ok().as_deref(), Some("Chest pain, Ward 3"));
    }

    #[test]
    fn another_row_or_column_does_not_open() {
        let ring = ring();
        let stored = APPOINTMENT_REASON.seal(&ring, "a-1", "migraine");
        assert!(matches!(
            APPOINTMENT_REASON.open(&ring, "a-2", stored.clone()),
            Err(StoreError::Corrupt(_))
        ));
        let err = APPOINTMENT_CANCEL_REASON.open(&ring, "a-1", stored);
        let Err(StoreError::Corrupt(message)) = err else {
            panic!("opened under another column: {err:?}");
        };
        assert!(!message.contains("migraine"), "{message}");
        assert!(
            message.contains("appointments.cancel_reason of a-1"),
            "{message}"
        );
    }

    #[test]
    fn plaintext_from_before_encryption_reads_as_is() {
        let ring = ring();
        let plain = EXCEPTION_REASON.open(&ring, "e-1", "annual leave".to_owned());
        assert_eq!(plain.ok().as_deref(), Some("annual leave"));
        assert!(!is_sealed("annual leave"));
    }

    #[test]
    fn malformed_sealed_values_are_corrupt() {
        let ring = ring();
        for bad in ["hbenc1:", "hbenc1:k1", "hbenc1:k1:!!", "hbenc1:k1:AAAA"] {
            assert!(
                matches!(
                    PARTICIPANT_NAME.open(&ring, "v/p", bad.to_owned()),
                    Err(StoreError::Corrupt(_))
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn optional_values_stay_null() {
        let ring = ring();
        assert_eq!(APPOINTMENT_REASON.seal_opt(&ring, "a", None), None);
        let sealed = APPOINTMENT_REASON.seal_opt(&ring, "a", Some("x"));
        let opened = APPOINTMENT_REASON.open_opt(&ring, "a", sealed);
        assert_eq!(opened.ok().flatten().as_deref(), Some("x"));
    }
}
