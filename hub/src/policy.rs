//! Every authorization rule of the hub, in one place.
//!
//! Two kinds of rule live here:
//!
//! 1. **Route rules** ([`route_rule`]): for each API route, who may call it at all.
//!    The `authorize` middleware applies them to every request before a handler
//!    runs; a route with no rule is refused (fail closed), and the authorization
//!    matrix test walks the router's routes so a new endpoint cannot be forgotten.
//! 2. **Action rules** (`may_*`): finer decisions that depend on the request's
//!    content, such as which roles a member may grant. Handlers call them; they are
//!    written here so a reader finds every rule in this file.
//!
//! Roles are held per organization. A platform admin operates the installation
//! (creates organizations and their first admins) and is not thereby a member of
//! any organization: least privilege keeps clinical data out of an operator's view.

use axum::http::Method;

use crate::domain::{Role, RoomKind, RoomStanding};

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteRule {
    /// Anyone, without a token (registration, login, accepting an invite).
    Public,
    /// Any signed-in user, acting on their own account.
    Authenticated,
    /// Platform admins only.
    PlatformAdmin,
    /// Members of the organization named by the path's `{org_id}` holding one of
    /// `roles`; platform admins too when `platform_admin` is set.
    Org {
        roles: &'static [Role],
        platform_admin: bool,
    },
    /// Members of the room named by the path's `{room_id}`; with `or_care_team`,
    /// also clinicians and admins of an organization taking part in the room (so
    /// a referred organization's clinician can join).
    Room { or_care_team: bool },
}

const ANY_MEMBER: &[Role] = &Role::ALL;
const ADMIN: &[Role] = &[Role::Admin];
const CARE_TEAM: &[Role] = &[Role::Admin, Role::Clinician];
/// Who may open rooms in an organization; patients only their own direct thread
/// (see `may_create_room`).
const ROOM_CREATORS: &[Role] = &[Role::Admin, Role::Clinician, Role::Patient];

/// The rule for `method` on a route template (as axum matched it, e.g.
/// `/api/v1/orgs/{org_id}/members`). `None` means the route has no rule and must
/// be refused.
pub fn route_rule(method: &Method, route: &str) -> Option<RouteRule> {
    use RouteRule::*;
    let org = |roles, platform_admin| Org {
        roles,
        platform_admin,
    };
    let rule = match (method.as_str(), route.strip_prefix("/api/v1")?) {
        ("POST", "/auth/register") => Public,
        ("POST", "/auth/login") => Public,
        ("POST", "/auth/refresh") => Public,
        ("POST", "/invites/accept") => Public,

        ("POST", "/auth/logout") => Authenticated,
        ("POST", "/auth/logout-everywhere") => Authenticated,
        ("POST", "/auth/password") => Authenticated,
        ("POST", "/auth/mfa/totp") => Authenticated,
        ("POST", "/auth/mfa/totp/confirm") => Authenticated,
        ("POST", "/auth/mfa/totp/disable") => Authenticated,
        ("GET", "/me") => Authenticated,
        ("PATCH", "/me") => Authenticated,
        ("GET", "/me/sessions") => Authenticated,
        ("DELETE", "/me/sessions/{session_id}") => Authenticated,
        // Lists only the caller's own organizations (all of them for a platform admin).
        ("GET", "/orgs") => Authenticated,

        ("POST", "/orgs") => PlatformAdmin,
        // An account spans organizations: the operator disables any (an
        // organization's admin only one of that organization alone, below).
        ("POST", "/admin/users/{user_id}/disable") => PlatformAdmin,
        ("POST", "/admin/users/{user_id}/enable") => PlatformAdmin,
        ("GET", "/admin/platform-admins") => PlatformAdmin,
        ("POST", "/admin/platform-admins") => PlatformAdmin,
        ("DELETE", "/admin/platform-admins/{user_id}") => PlatformAdmin,
        ("GET", "/admin/organizations") => PlatformAdmin,

        ("GET", "/orgs/{org_id}") => org(ANY_MEMBER, true),
        ("PATCH", "/orgs/{org_id}") => org(ADMIN, true),
        // The roster includes patients: care team only, and every read is audited.
        ("GET", "/orgs/{org_id}/members") => org(CARE_TEAM, true),
        // Clinicians may add patients only; see `may_grant_role`.
        ("POST", "/orgs/{org_id}/members") => org(CARE_TEAM, true),
        ("PUT", "/orgs/{org_id}/members/{user_id}") => org(ADMIN, true),
        ("DELETE", "/orgs/{org_id}/members/{user_id}") => org(ADMIN, true),
        ("GET", "/orgs/{org_id}/invites") => org(CARE_TEAM, true),
        ("POST", "/orgs/{org_id}/invites") => org(CARE_TEAM, true),
        ("DELETE", "/orgs/{org_id}/invites/{invite_id}") => org(CARE_TEAM, true),
        // The organization's audit trail: its admins only, not the operator.
        ("GET", "/orgs/{org_id}/audit") => org(ADMIN, false),
        ("GET", "/orgs/{org_id}/audit/verification") => org(ADMIN, false),
        // Only an account of this organization alone (`accounts::disable`); a
        // platform admin keeps their own, wider authority.
        ("POST", "/orgs/{org_id}/members/{user_id}/disable") => org(ADMIN, true),
        ("POST", "/orgs/{org_id}/members/{user_id}/enable") => org(ADMIN, true),
        ("GET", "/orgs/{org_id}/admins") => org(ADMIN, true),

        // Rooms hold clinical conversations: never the operator's, only members'.
        ("POST", "/orgs/{org_id}/rooms") => org(ROOM_CREATORS, false),
        // Lists only the caller's own rooms.
        ("GET", "/rooms") => Authenticated,
        ("GET", "/rooms/{room_id}") => Room {
            or_care_team: false,
        },
        ("GET", "/rooms/{room_id}/messages") => Room {
            or_care_team: false,
        },
        ("POST", "/rooms/{room_id}/messages") => Room {
            or_care_team: false,
        },
        // Who may add whom is `may_add_room_member`.
        ("POST", "/rooms/{room_id}/members") => Room { or_care_team: true },
        ("DELETE", "/rooms/{room_id}/members/{user_id}") => Room {
            or_care_team: false,
        },
        // The referring side: care-team members of the room from the owning
        // organization (`may_refer_room`).
        ("POST", "/rooms/{room_id}/referrals") => Room {
            or_care_team: false,
        },
        ("GET", "/rooms/{room_id}/referrals") => Room {
            or_care_team: false,
        },
        ("DELETE", "/rooms/{room_id}/referrals/{referral_id}") => Room {
            or_care_team: false,
        },
        // The receiving side: its clinicians and admins see and answer what was
        // sent to their organization; the operator does not (clinical data).
        ("GET", "/orgs/{org_id}/referrals") => org(CARE_TEAM, false),
        ("POST", "/orgs/{org_id}/referrals/{referral_id}/accept") => org(CARE_TEAM, false),
        ("POST", "/orgs/{org_id}/referrals/{referral_id}/decline") => org(CARE_TEAM, false),
        // Where the organization's care team may refer a case: names only.
        ("GET", "/orgs/{org_id}/referral-targets") => org(CARE_TEAM, false),

        // Scheduling. Appointment types and slots are visible to every member
        // (patients book); who may change what is `may_*` below.
        ("GET", "/orgs/{org_id}/appointment-types") => org(ANY_MEMBER, false),
        ("POST", "/orgs/{org_id}/appointment-types") => org(ADMIN, false),
        ("GET", "/orgs/{org_id}/providers/{user_id}/availability") => org(ANY_MEMBER, false),
        ("PUT", "/orgs/{org_id}/providers/{user_id}/availability") => org(CARE_TEAM, false),
        ("POST", "/orgs/{org_id}/providers/{user_id}/exceptions") => org(CARE_TEAM, false),
        // Leave reasons can be medical: whoever manages the hours (`may_manage_availability`).
        ("GET", "/orgs/{org_id}/providers/{user_id}/exceptions") => org(CARE_TEAM, false),
        ("DELETE", "/orgs/{org_id}/providers/{user_id}/exceptions/{exception_id}") => {
            org(CARE_TEAM, false)
        }
        ("GET", "/orgs/{org_id}/slots") => org(ANY_MEMBER, false),
        // Who can be booked: names and zones of the care team with hours.
        ("GET", "/orgs/{org_id}/providers") => org(ANY_MEMBER, false),
        ("POST", "/orgs/{org_id}/appointments") => org(ROOM_CREATORS, false),
        ("POST", "/orgs/{org_id}/appointments/{appointment_id}/cancel") => {
            org(ROOM_CREATORS, false)
        }
        ("POST", "/orgs/{org_id}/appointments/{appointment_id}/reschedule") => {
            org(ROOM_CREATORS, false)
        }
        // Lists only the caller's own appointments.
        ("GET", "/appointments") => Authenticated,
        ("POST", "/me/calendar-feed") => Authenticated,
        ("DELETE", "/me/calendar-feed") => Authenticated,

        // Notifications. Account mail links work without a session; Twilio's
        // webhooks carry no token but are checked by their signature instead.
        ("POST", "/auth/verify-email") => Public,
        ("POST", "/auth/password-reset") => Public,
        ("POST", "/auth/password-reset/confirm") => Public,
        ("POST", "/auth/verify-email/resend") => Authenticated,
        ("GET", "/me/notification-settings") => Authenticated,
        ("PUT", "/me/notification-settings") => Authenticated,
        ("GET", "/me/notifications") => Authenticated,
        ("GET", "/orgs/{org_id}/notification-settings") => org(CARE_TEAM, false),
        ("PUT", "/orgs/{org_id}/notification-settings") => org(ADMIN, false),
        // Who was notified of what: the organization's admins.
        ("GET", "/orgs/{org_id}/notifications") => org(ADMIN, false),
        ("POST", "/orgs/{org_id}/notifications/{notification_id}/retry") => org(ADMIN, false),
        ("POST", "/orgs/{org_id}/alerts") => org(CARE_TEAM, false),
        ("POST", "/webhooks/twilio/status") => Public,
        ("POST", "/webhooks/twilio/inbound") => Public,

        // Video visits. Per-visit access (its hosts; the patient's own account) is
        // decided by `visits::require_host` / `Loaded::participant_of_user`: outsiders
        // get `visit_not_found`, participants who are not hosts `not_host`.
        ("POST", "/orgs/{org_id}/visits") => org(CARE_TEAM, false),
        ("GET", "/visits") => Authenticated,
        ("GET", "/visits/{visit_id}") => Authenticated,
        ("POST", "/visits/{visit_id}/invites") => Authenticated,
        ("POST", "/visits/{visit_id}/links") => Authenticated,
        ("DELETE", "/visits/{visit_id}/links/{participant_id}") => Authenticated,
        ("POST", "/visits/{visit_id}/cancel") => Authenticated,
        // A visit link is its own credential (checked by hash, audited).
        ("POST", "/visit-links/redeem") => Public,
        _ => return None,
    };
    Some(rule)
}

/// The methods that have a rule on `route`, for a 405 answer's `Allow` header.
pub fn allowed_methods(route: &str) -> Vec<Method> {
    [
        Method::GET,
        Method::POST,
        Method::PUT,
        Method::PATCH,
        Method::DELETE,
    ]
    .into_iter()
    .filter(|m| route_rule(m, route).is_some())
    .collect()
}

/// The outcome of applying a route rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allow,
    /// No valid credentials where some are needed (401).
    Unauthenticated,
    /// Valid credentials, not enough rights (403).
    Forbidden,
}

/// What the middleware knows about the caller when applying a rule.
#[derive(Debug, Clone, Copy)]
pub struct Caller {
    pub authenticated: bool,
    pub platform_admin: bool,
    /// The caller's role in the path's organization, if the route has one.
    pub org_role: Option<Role>,
    /// The caller is a member of the path's room.
    pub room_member: bool,
    /// The caller is a clinician or admin of an organization taking part in the
    /// path's room.
    pub room_care_team: bool,
}

pub fn decide(rule: RouteRule, caller: Caller) -> Decision {
    match rule {
        RouteRule::Public => Decision::Allow,
        _ if !caller.authenticated => Decision::Unauthenticated,
        RouteRule::Authenticated => Decision::Allow,
        RouteRule::PlatformAdmin if caller.platform_admin => Decision::Allow,
        RouteRule::PlatformAdmin => Decision::Forbidden,
        RouteRule::Org {
            roles,
            platform_admin,
        } => {
            let by_role = caller.org_role.is_some_and(|r| roles.contains(&r));
            if by_role || (platform_admin && caller.platform_admin) {
                Decision::Allow
            } else {
                Decision::Forbidden
            }
        }
        RouteRule::Room { or_care_team } => {
            if caller.room_member || (or_care_team && caller.room_care_team) {
                Decision::Allow
            } else {
                Decision::Forbidden
            }
        }
    }
}

/// May someone with `actor` in the organization open a room of `kind` about
/// `patient_id`? Care teams open any; a patient opens only their own direct thread.
pub fn may_create_room(
    actor: Option<Role>,
    kind: RoomKind,
    actor_id: &str,
    patient_id: Option<&str>,
) -> bool {
    match actor {
        Some(Role::Admin | Role::Clinician) => kind == RoomKind::Case || patient_id.is_some(),
        Some(Role::Patient) => kind == RoomKind::Direct && patient_id == Some(actor_id),
        _ => false,
    }
}

/// May the caller add `target_id` to the room? Care-team members of the room add
/// anyone from a taking-part organization; a care-team member of a taking-part
/// organization (a referral) may join by adding themselves.
pub fn may_add_room_member(ctx: &RoomStanding, actor_id: &str, target_id: &str) -> bool {
    ctx.care_team() && (ctx.member || actor_id == target_id)
}

/// May the caller remove `target_id`? Anyone may leave; care-team members of
/// the room may remove others.
pub fn may_remove_room_member(ctx: &RoomStanding, actor_id: &str, target_id: &str) -> bool {
    ctx.member && (actor_id == target_id || ctx.care_team())
}

/// May the caller set `provider_id`'s hours and leave? Admins anyone's,
/// clinicians their own.
pub fn may_manage_availability(actor: Option<Role>, actor_id: &str, provider_id: &str) -> bool {
    match actor {
        Some(Role::Admin) => true,
        Some(Role::Clinician) => actor_id == provider_id,
        _ => false,
    }
}

/// May the caller book for `patient_id`? Patients for themselves; the care team
/// for any patient of the organization.
pub fn may_book_for(actor: Option<Role>, actor_id: &str, patient_id: &str) -> bool {
    match actor {
        Some(Role::Admin | Role::Clinician) => true,
        Some(Role::Patient) => actor_id == patient_id,
        _ => false,
    }
}

/// May the caller cancel or move an appointment of `patient_id`?
pub fn may_change_appointment(actor: Option<Role>, actor_id: &str, patient_id: &str) -> bool {
    may_book_for(actor, actor_id, patient_id)
}

/// May the caller refer the room's case to another organization, or see and
/// withdraw its referrals? A care-team member of the room who is a clinician or
/// admin of the organization owning it (`owner_role`): a referred organization
/// does not pass the case on.
pub fn may_refer_room(ctx: &RoomStanding, owner_role: Option<Role>) -> bool {
    ctx.member && matches!(owner_role, Some(Role::Admin | Role::Clinician))
}

/// May someone with `role` in the receiving organization accept or decline a
/// referral to it?
pub fn may_answer_referral(role: Option<Role>) -> bool {
    matches!(role, Some(Role::Admin | Role::Clinician))
}

/// May someone with `role` in the receiving organization be brought into a
/// referred case when it is accepted? Its care team only: never a patient, guest
/// or analyst of that organization.
pub fn may_join_referred_case(role: Option<Role>) -> bool {
    matches!(role, Some(Role::Admin | Role::Clinician))
}

/// May an account keep its part in a visit of an organization where it now holds
/// `org_role`? A host needs a care-team role there; the patient's own account
/// needs to be a member. Read at every check, so leaving the organization (or a
/// role change) ends the visit's rights at once (docs/architecture.md).
pub fn may_take_part_in_visit(host: bool, org_role: Option<Role>) -> bool {
    match org_role {
        Some(Role::Admin | Role::Clinician) => true,
        Some(_) => !host,
        None => false,
    }
}

/// May someone with `actor` in an organization (or a platform admin) give
/// `target` to a member, by adding, inviting or changing a role?
pub fn may_grant_role(actor: Option<Role>, platform_admin: bool, target: Role) -> bool {
    if platform_admin {
        return true;
    }
    match actor {
        Some(Role::Admin) => true,
        // Clinicians bring their patients under the organization's care.
        Some(Role::Clinician) => target == Role::Patient,
        _ => false,
    }
}

/// May the caller revoke an invite created by `invite_creator`?
pub fn may_revoke_invite(
    actor: Option<Role>,
    platform_admin: bool,
    actor_id: &str,
    invite_creator: &str,
) -> bool {
    platform_admin || actor == Some(Role::Admin) || actor_id == invite_creator
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller(role: Option<Role>) -> Caller {
        Caller {
            authenticated: true,
            platform_admin: false,
            org_role: role,
            room_member: false,
            room_care_team: false,
        }
    }

    #[test]
    fn unknown_routes_have_no_rule() {
        assert_eq!(route_rule(&Method::GET, "/api/v1/nope"), None);
        assert_eq!(route_rule(&Method::DELETE, "/api/v1/auth/login"), None);
        assert_eq!(route_rule(&Method::GET, "/healthz"), None);
    }

    #[test]
    fn allowed_methods_follow_rules() {
        let methods = allowed_methods("/api/v1/orgs/{org_id}/members");
        assert_eq!(methods, [Method::GET, Method::POST]);
        assert!(allowed_methods("/api/v1/unknown").is_empty());
    }

    #[test]
    fn anonymous_callers_only_reach_public_routes() {
        let anon = Caller {
            authenticated: false,
            platform_admin: false,
            org_role: None,
            room_member: false,
            room_care_team: false,
        };
        assert_eq!(decide(RouteRule::Public, anon), Decision::Allow);
        assert_eq!(
            decide(RouteRule::Authenticated, anon),
            Decision::Unauthenticated
        );
        assert_eq!(
            decide(RouteRule::PlatformAdmin, anon),
            Decision::Unauthenticated
        );
    }

    #[test]
    fn org_rules_follow_roles() {
        let rule = route_rule(&Method::GET, "/api/v1/orgs/{org_id}/members").unwrap();
        assert_eq!(decide(rule, caller(Some(Role::Clinician))), Decision::Allow);
        assert_eq!(
            decide(rule, caller(Some(Role::Patient))),
            Decision::Forbidden
        );
        assert_eq!(decide(rule, caller(None)), Decision::Forbidden);
        let audit = route_rule(&Method::GET, "/api/v1/orgs/{org_id}/audit").unwrap();
        let operator = Caller {
            authenticated: true,
            platform_admin: true,
            org_role: None,
            room_member: false,
            room_care_team: false,
        };
        assert_eq!(decide(audit, operator), Decision::Forbidden);
    }

    #[test]
    fn visit_rights_follow_the_current_role() {
        assert!(may_take_part_in_visit(true, Some(Role::Clinician)));
        assert!(may_take_part_in_visit(true, Some(Role::Admin)));
        assert!(!may_take_part_in_visit(true, Some(Role::Patient)));
        assert!(!may_take_part_in_visit(true, None));
        assert!(may_take_part_in_visit(false, Some(Role::Patient)));
        assert!(!may_take_part_in_visit(false, None));
    }

    #[test]
    fn clinicians_grant_patient_only() {
        assert!(may_grant_role(Some(Role::Clinician), false, Role::Patient));
        assert!(!may_grant_role(Some(Role::Clinician), false, Role::Admin));
        assert!(!may_grant_role(Some(Role::Patient), false, Role::Patient));
        assert!(may_grant_role(None, true, Role::Admin));
        assert!(may_grant_role(Some(Role::Admin), false, Role::Analyst));
    }
}
