//! Identifiers of visits and participants.
//!
//! Both are strings (UUID v7 when generated here, like every id in the hub's
//! database) wrapped in their own type, so a participant id can never be
//! passed where a visit id is expected.

use std::fmt;

use rand::RngCore;
use serde::{Deserialize, Serialize};

/// A UUID v7 whose time part is `now_ms` from the caller's clock (not the
/// system's, which `Uuid::now_v7` would read), with 74 random bits from the OS.
fn uuid_v7(now_ms: i64) -> String {
    let mut random = [0u8; 10];
    rand::rngs::OsRng.fill_bytes(&mut random);
    let millis = u64::try_from(now_ms).unwrap_or(0);
    uuid::Builder::from_unix_timestamp_millis(millis, &random)
        .into_uuid()
        .to_string()
}

/// Random unique id for a token (`jti`): same form as the other ids.
pub(crate) fn new_token_id(now_ms: i64) -> String {
    uuid_v7(now_ms)
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Wraps an id read from storage or a verified token.
            pub fn new(id: impl Into<String>) -> Self {
                Self(id.into())
            }

            /// A fresh UUID v7 time-stamped with `now_ms`.
            pub fn generate(now_ms: i64) -> Self {
                Self(uuid_v7(now_ms))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({:?})", stringify!($name), self.0)
            }
        }

        impl From<&str> for $name {
            fn from(id: &str) -> Self {
                Self(id.to_owned())
            }
        }

        impl From<&$name> for $name {
            fn from(id: &$name) -> Self {
                id.clone()
            }
        }
    };
}

id_type!(
    /// The id of a visit.
    VisitId
);
id_type!(
    /// The id of one participant in one visit. It is not the user id: patients
    /// joining from a link and guests may have no account at all.
    ParticipantId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_are_v7_with_the_given_time_and_unique() {
        let now_ms = 1_700_000_000_123;
        let a = VisitId::generate(now_ms);
        let b = VisitId::generate(now_ms);
        assert_ne!(a, b);
        let parsed = uuid::Uuid::parse_str(a.as_str()).unwrap();
        assert_eq!(parsed.get_version_num(), 7);
        let (secs, nanos) = parsed.get_timestamp().unwrap().to_unix();
        assert_eq!(
            secs * 1000 + u64::from(nanos) / 1_000_000,
            1_700_000_000_123
        );
    }

    #[test]
    fn ids_serialize_as_plain_strings() {
        let id = ParticipantId::from("p-1");
        assert_eq!(serde_json::to_string(&id).unwrap(), r#""p-1""#);
        assert_eq!(format!("{id}"), "p-1");
        assert_eq!(format!("{id:?}"), r#"ParticipantId("p-1")"#);
    }
}
