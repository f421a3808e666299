//! Who may watch what: an organization admin watches their organization, a platform
//! admin everything (or one organization they choose). Rights are read from the
//! database every time (at the request and at every tick), so a demotion, a removal
//! or a disabled account ends the watch at once (docs/protocol.md, `monitor_ended`).

use std::str::FromStr;

use crate::{
    domain::Role,
    error::Result,
    gateway::protocol::ProtocolError,
    state::AppState,
    store::{Conn, orgs, users},
};

/// What one watcher sees.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Scope {
    /// Every organization and node (platform admins).
    All,
    /// One organization's sockets, rooms, visits and notices.
    Org(String),
}

impl Scope {
    pub fn org(&self) -> Option<&str> {
        match self {
            Scope::All => None,
            Scope::Org(org) => Some(org),
        }
    }
}

/// The account's standing, as read now.
struct Standing {
    active: bool,
    platform_admin: bool,
    admin_of: Vec<String>,
}

async fn standing(conn: &mut Conn, user_id: &str) -> Result<Standing> {
    let Some(user) = users::by_id(conn, user_id).await? else {
        return Ok(Standing {
            active: false,
            platform_admin: false,
            admin_of: Vec::new(),
        });
    };
    let admin_of = orgs::memberships_of(conn, user_id)
        .await?
        .into_iter()
        .filter(|m| Role::from_str(&m.role) == Ok(Role::Admin))
        .map(|m| m.org_id)
        .collect();
    Ok(Standing {
        active: user.is_active(),
        platform_admin: user.is_platform_admin(),
        admin_of,
    })
}

fn refused() -> ProtocolError {
    ProtocolError::new(
        "forbidden",
        "the live monitor is for organization admins and platform admins",
    )
}

/// The scope `user_id` may watch for a `monitor` request naming `org` (or none).
/// Refused with `forbidden` (the same answer for an organization that does not exist,
/// so ids cannot be probed), or `invalid_request` when an admin of several
/// organizations does not say which.
pub async fn authorize(
    state: &AppState,
    user_id: &str,
    org: Option<&str>,
) -> std::result::Result<Scope, ProtocolError> {
    let unavailable = |e: crate::error::Error| ProtocolError::from(e);
    let mut conn = state
        .store
        .conn()
        .await
        .map_err(|e| unavailable(e.into()))?;
    let s = standing(&mut conn, user_id).await.map_err(unavailable)?;
    if !s.active {
        return Err(refused());
    }
    match org {
        Some(org) if s.platform_admin || s.admin_of.iter().any(|o| o == org) => {
            // A platform admin may name any organization that exists.
            if orgs::by_id(&mut conn, org)
                .await
                .map_err(|e| unavailable(e.into()))?
                .is_none()
            {
                return Err(refused());
            }
            Ok(Scope::Org(org.to_owned()))
        }
        Some(_) => Err(refused()),
        None if s.platform_admin => Ok(Scope::All),
        None => match s.admin_of.as_slice() {
            [] => Err(refused()),
            [only] => Ok(Scope::Org(only.clone())),
            _ => Err(ProtocolError::new(
                "invalid_request",
                "org is required: you administer several organizations",
            )),
        },
    }
}

/// Whether `user_id` may still watch `scope` (the account active, the role held).
pub async fn still_allowed(state: &AppState, user_id: &str, scope: &Scope) -> Result<bool> {
    let mut conn = state.store.conn().await?;
    let s = standing(&mut conn, user_id).await?;
    Ok(s.active
        && (s.platform_admin
            || matches!(scope, Scope::Org(org) if s.admin_of.iter().any(|o| o == org))))
}
