//! Validated domain types.
//!
//! Every value that crosses the edge of the hub (HTTP body, query string, CLI
//! argument, database row written by an older version) is parsed exactly once
//! into one of these newtypes. Their fields are private and the only way in is
//! a `parse`-style constructor, so code deeper in the hub can take an
//! `EmailAddress` or a `DisplayName` and never re-check it: if it exists, it is
//! valid.
//!
//! Deserialization goes through the same constructors, so an invalid value
//! inside a JSON payload is rejected by serde itself rather than slipping past
//! as a plain `String`.

mod email;
mod password;
mod role;
mod room;
mod text;

pub use email::EmailAddress;
pub use password::Password;
pub use role::Role;
pub use room::{RoomKind, RoomStanding};
pub use text::{DisplayName, OrgName, RoomTitle};

/// Why a raw value was refused.
///
/// The three parts have different audiences:
/// - `field` names the input that was wrong, so an API can point at it;
/// - `code` is a stable snake_case identifier (`invalid_email`,
///   `password_too_short`, ...) that clients may match on and translate; it
///   never changes once published;
/// - `message` is plain English that is safe to show to the end user. It never
///   repeats the rejected value, so a password (or a huge or hostile string)
///   cannot leak into logs or responses through an error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ValidationError {
    pub field: &'static str,
    pub code: &'static str,
    pub message: String,
}

impl ValidationError {
    pub(crate) fn new(field: &'static str, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            field,
            code,
            message: message.into(),
        }
    }

    /// Names the request field at fault when it differs from the type's default
    /// (an `OrgName` arriving as `name`, a `Password` as `new_password`).
    pub fn for_field(mut self, field: &'static str) -> Self {
        self.field = field;
        self
    }
}

/// Helpers that drive the manual serde impls without a format crate: serde's
/// own `&mut fmt::Formatter` serializer and `&str` deserializer are enough to
/// prove that a type serializes as a bare string and deserializes through its
/// validating constructor.
#[cfg(test)]
pub(crate) mod serde_test_support {
    use serde::de::IntoDeserializer;
    use serde::de::value::Error as DeError;
    use serde::{Deserialize, Serialize};
    use std::fmt;

    /// Serializes `value` and returns the text it produced.
    pub(crate) fn serialize_to_string<T: Serialize>(value: &T) -> String {
        struct ViaSerde<'a, T>(&'a T);
        impl<T: Serialize> fmt::Display for ViaSerde<'_, T> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.serialize(f)
            }
        }
        ViaSerde(value).to_string()
    }

    /// Deserializes `T` from a string value, as a JSON string field would.
    pub(crate) fn deserialize_from_str<'de, T: Deserialize<'de>>(
        input: &'de str,
    ) -> Result<T, DeError> {
        T::deserialize(IntoDeserializer::<DeError>::into_deserializer(input))
    }

    /// Deserializes `T` from a number, to check non-strings are refused.
    pub(crate) fn deserialize_from_u32<'de, T: Deserialize<'de>>(input: u32) -> Result<T, DeError> {
        T::deserialize(IntoDeserializer::<DeError>::into_deserializer(input))
    }
}

#[cfg(test)]
mod tests {
    use super::ValidationError;

    #[test]
    fn display_is_the_user_facing_message_only() {
        let err = ValidationError::new("email", "invalid_email", "Enter a valid email address.");
        assert_eq!(err.to_string(), "Enter a valid email address.");
        assert_eq!(err.field, "email");
        assert_eq!(err.code, "invalid_email");
    }
}
