//! `Role`: what a user may do in the hub.
//!
//! Roles drive authorization, so there is exactly one spelling for each: the
//! lowercase name used in JSON, in the database and on the command line.
//! `FromStr` accepts only that spelling (no trimming, no case folding), which
//! keeps it in step with serde and means a role string that round-trips
//! through any layer is byte-for-byte the same.

use super::ValidationError;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Admin,
    Clinician,
    Patient,
    Analyst,
    Guest,
}

impl Role {
    /// Every role, e.g. for listing choices or exhaustive tests.
    pub const ALL: [Role; 5] = [
        Role::Admin,
        Role::Clinician,
        Role::Patient,
        Role::Analyst,
        Role::Guest,
    ];

    /// The canonical lowercase name, identical to the serde representation.
    pub const fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Clinician => "clinician",
            Role::Patient => "patient",
            Role::Analyst => "analyst",
            Role::Guest => "guest",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = ValidationError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|role| role.as_str() == s)
            .ok_or_else(|| {
                ValidationError::new(
                    "role",
                    "invalid_role",
                    "Role must be one of: admin, clinician, patient, analyst, guest.",
                )
            })
    }
}

#[cfg(test)]
mod tests {
    use super::Role;
    use crate::domain::serde_test_support::{deserialize_from_str, serialize_to_string};

    #[test]
    fn parses_every_canonical_name() {
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>(), Ok(role));
            assert_eq!(role.to_string(), role.as_str());
        }
        assert_eq!("clinician".parse::<Role>(), Ok(Role::Clinician));
    }

    #[test]
    fn all_lists_each_role_once() {
        let mut names: Vec<_> = Role::ALL.iter().map(|r| r.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Role::ALL.len());
    }

    #[test]
    fn rejects_other_spellings() {
        for raw in [
            "", "Admin", "ADMIN", " admin", "admin ", "doctor", "root", "admins",
        ] {
            let err = raw.parse::<Role>().expect_err(raw);
            assert_eq!(err.field, "role");
            assert_eq!(err.code, "invalid_role");
            assert!(!err.message.is_empty());
        }
    }

    #[test]
    fn error_message_lists_the_choices() {
        let err = "superuser".parse::<Role>().expect_err("unknown role");
        for role in Role::ALL {
            assert!(err.message.contains(role.as_str()), "{}", err.message);
        }
        assert!(!err.message.contains("superuser"));
    }

    #[test]
    fn serde_uses_lowercase_names() {
        for role in Role::ALL {
            assert_eq!(serialize_to_string(&role), role.as_str());
            assert_eq!(deserialize_from_str::<Role>(role.as_str()), Ok(role));
        }
        assert!(deserialize_from_str::<Role>("Admin").is_err());
        assert!(deserialize_from_str::<Role>("doctor").is_err());
    }
}
