//! The gateway's census: how many sockets this node holds, by role, for the whole
//! node and per organization. Counted in memory when a socket is authenticated and
//! uncounted when it closes (the [`CensusSlot`] guard), so reading it costs nothing.
//!
//! Roles are what the monitor shows: `clinician`, `patient`, `admin`, `guest_pass`
//! (a visit pass, no account) and `other` (analysts, guests with an account). A
//! socket counts once for the node, under its account's most telling role, and once
//! in every organization the account belongs to, under its role there.

use std::{
    collections::{BTreeMap, HashMap},
    sync::{Arc, Mutex},
};

use serde::{Deserialize, Serialize};

use crate::domain::Role;

/// The roles the monitor counts, in the order the page shows them.
pub const ROLES: [&str; 5] = ["clinician", "patient", "guest_pass", "admin", "other"];

/// Socket counts by role (`ROLES`); roles with no socket are absent.
pub type Counts = BTreeMap<String, u64>;

/// One node's census as shared with the other nodes (bus topic `monitor`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct NodeCensus {
    /// Every socket of the node, each under one role.
    pub total: Counts,
    /// Per organization id: the sockets of its members (and visit passes of its visits).
    pub orgs: BTreeMap<String, Counts>,
}

impl NodeCensus {
    /// The counts an observer of `org` (or of everything, `None`) sees.
    pub fn for_scope(&self, org: Option<&str>) -> Counts {
        match org {
            None => self.total.clone(),
            Some(org) => self.orgs.get(org).cloned().unwrap_or_default(),
        }
    }
}

/// The monitor's name of a membership role.
pub fn role_label(role: Role) -> &'static str {
    match role {
        Role::Admin => "admin",
        Role::Clinician => "clinician",
        Role::Patient => "patient",
        Role::Analyst | Role::Guest => "other",
    }
}

/// What one socket is counted as.
#[derive(Debug, Clone, PartialEq)]
pub struct Counted {
    pub node_role: &'static str,
    pub org_roles: Vec<(Arc<str>, &'static str)>,
}

impl Counted {
    /// An account socket: counted under its most telling role across its memberships
    /// (admin, then clinician, then patient); a platform admin counts as an admin, and
    /// an account without organizations as a patient (they register themselves).
    pub fn account(platform_admin: bool, memberships: &[(String, Role)]) -> Self {
        let has = |r: Role| memberships.iter().any(|(_, role)| *role == r);
        let node_role = if platform_admin || has(Role::Admin) {
            "admin"
        } else if has(Role::Clinician) {
            "clinician"
        } else if has(Role::Patient) || memberships.is_empty() {
            "patient"
        } else {
            "other"
        };
        Self {
            node_role,
            org_roles: memberships
                .iter()
                .map(|(org, role)| (org.as_str().into(), role_label(*role)))
                .collect(),
        }
    }

    /// A visit pass socket, counted in the visit's organization.
    pub fn pass(visit_org: Option<String>) -> Self {
        Self {
            node_role: "guest_pass",
            org_roles: visit_org
                .map(|org| (Arc::from(org.as_str()), "guest_pass"))
                .into_iter()
                .collect(),
        }
    }
}

type Key = (Option<Arc<str>>, &'static str);

/// The node's live counts.
#[derive(Default)]
pub struct Census {
    counts: Mutex<HashMap<Key, u64>>,
}

impl Census {
    fn counts(&self) -> std::sync::MutexGuard<'_, HashMap<Key, u64>> {
        self.counts.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Counts one socket until the returned slot is dropped.
    pub fn count(self: &Arc<Self>, counted: Counted) -> CensusSlot {
        let mut counts = self.counts();
        for key in keys(&counted) {
            *counts.entry(key).or_insert(0) += 1;
        }
        CensusSlot {
            census: self.clone(),
            counted,
        }
    }

    /// The counts as they are now.
    pub fn snapshot(&self) -> NodeCensus {
        let mut out = NodeCensus::default();
        for ((org, role), n) in self.counts().iter() {
            let counts = match org {
                None => &mut out.total,
                Some(org) => out.orgs.entry(org.to_string()).or_default(),
            };
            counts.insert((*role).to_owned(), *n);
        }
        out
    }
}

fn keys(counted: &Counted) -> impl Iterator<Item = Key> + '_ {
    std::iter::once((None, counted.node_role)).chain(
        counted
            .org_roles
            .iter()
            .map(|(org, role)| (Some(org.clone()), *role)),
    )
}

/// One counted socket; uncounted when dropped (the socket closed).
pub struct CensusSlot {
    census: Arc<Census>,
    counted: Counted,
}

impl Drop for CensusSlot {
    fn drop(&mut self) {
        let mut counts = self.census.counts();
        for key in keys(&self.counted) {
            if let Some(n) = counts.get_mut(&key) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    counts.remove(&key);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_socket_counts_once_per_node_and_once_per_organization() {
        let census = Arc::new(Census::default());
        let memberships = vec![
            ("a".to_owned(), Role::Clinician),
            ("b".to_owned(), Role::Admin),
        ];
        let slot = census.count(Counted::account(false, &memberships));
        let guest = census.count(Counted::pass(Some("a".into())));
        let now = census.snapshot();
        assert_eq!(now.total.get("admin"), Some(&1), "the most telling role");
        assert_eq!(now.total.get("guest_pass"), Some(&1));
        assert_eq!(now.for_scope(Some("a")).get("clinician"), Some(&1));
        assert_eq!(now.for_scope(Some("a")).get("guest_pass"), Some(&1));
        assert_eq!(now.for_scope(Some("b")).get("admin"), Some(&1));
        drop(slot);
        drop(guest);
        assert_eq!(
            census.snapshot(),
            NodeCensus::default(),
            "closed sockets uncount"
        );
    }

    #[test]
    fn accounts_without_organizations_are_patients_and_platform_admins_admins() {
        assert_eq!(Counted::account(false, &[]).node_role, "patient");
        assert_eq!(Counted::account(true, &[]).node_role, "admin");
        let analyst = vec![("a".to_owned(), Role::Analyst)];
        assert_eq!(Counted::account(false, &analyst).node_role, "other");
    }
}
