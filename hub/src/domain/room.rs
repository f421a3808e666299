//! Plain room facts the authorization rules in `policy` decide on. They live here,
//! at the bottom of the hub, so `policy` needs no higher module.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::Role;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum RoomKind {
    /// A case discussed by a care team, possibly across organizations.
    Case,
    /// The thread between one patient and their care team in an organization.
    Direct,
}

impl RoomKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RoomKind::Case => "case",
            RoomKind::Direct => "direct",
        }
    }
}

/// A caller's standing in one room, read at the moment of the check: both parts
/// follow the organization memberships they come from (docs/architecture.md).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoomStanding {
    /// The caller is a member of the room and still holds a role in an
    /// organization taking part in it.
    pub member: bool,
    /// The caller's current roles in the organizations taking part in the room.
    pub org_roles: Vec<Role>,
}

impl RoomStanding {
    /// Clinicians and admins of a taking-part organization.
    pub fn care_team(&self) -> bool {
        self.org_roles
            .iter()
            .any(|r| matches!(r, Role::Admin | Role::Clinician))
    }
}
