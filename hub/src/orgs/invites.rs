//! Invitations: an admin (or a clinician, for patients) invites an email with a
//! role; the link expires, can be revoked, and works once.

use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use super::{OrgContext, parse_role, publish};
use crate::{
    accounts::{self, Principal, RequestMeta},
    audit::{self, AuditEvent, Outcome},
    auth::tokens::{opaque_token, token_hash},
    clock::rfc3339,
    domain::{DisplayName, EmailAddress, Password, Role},
    error::{Error, Result},
    notifications::invites as invite_mail,
    policy,
    state::AppState,
    store::{StoreError, invites, orgs, users},
};

#[derive(Debug, Serialize, ToSchema)]
pub struct InviteView {
    pub id: String,
    pub email: String,
    pub role: Role,
    pub created_by: String,
    pub created_at: String,
    pub expires_at: String,
    /// `pending`, `accepted`, `revoked` or `expired`.
    pub status: &'static str,
}

/// A new invite with its secret link, returned once to its creator.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedInvite {
    #[serde(flatten)]
    pub invite: InviteView,
    /// The secret to hand to the invitee. It is shown only now.
    pub token: String,
    /// A link carrying the token in its fragment (`#token=`), which browsers never
    /// send to servers, so it stays out of access logs and proxies.
    pub invite_url: String,
}

fn view(row: invites::InviteRow, now: i64) -> Result<InviteView> {
    let status = if row.accepted_at.is_some() {
        "accepted"
    } else if row.revoked_at.is_some() {
        "revoked"
    } else if row.expires_at <= now {
        "expired"
    } else {
        "pending"
    };
    Ok(InviteView {
        role: parse_role(&row.role)?,
        id: row.id,
        email: row.email,
        created_by: row.created_by,
        created_at: rfc3339(row.created_at),
        expires_at: rfc3339(row.expires_at),
        status,
    })
}

pub async fn create_invite(
    state: &AppState,
    caller: &Principal,
    ctx: &OrgContext,
    email: &str,
    role: Role,
    meta: &RequestMeta,
) -> Result<CreatedInvite> {
    let (invite, token) = issue(state, caller, ctx, email, role, meta).await?;
    let invite_url = format!(
        "{}/invite#token={token}",
        state.config.effective_public_url()
    );
    Ok(CreatedInvite {
        invite,
        token,
        invite_url,
    })
}

/// Creates a pending invite and queues the mail that carries its link, in one
/// transaction; returns the invite and its token. Whether the address has an
/// account changes only the language of the mail, never the answer.
pub(super) async fn issue(
    state: &AppState,
    caller: &Principal,
    ctx: &OrgContext,
    email: &str,
    role: Role,
    meta: &RequestMeta,
) -> Result<(InviteView, String)> {
    if !policy::may_grant_role(ctx.role, caller.platform_admin, role) {
        return Err(Error::Forbidden);
    }
    let email = EmailAddress::parse(email)?;
    let now = state.clock.now_ms();
    let ttl_ms =
        i64::try_from(state.config.auth.invite_ttl_hours * 3_600_000).map_err(Error::internal)?;
    let token = opaque_token();
    let id = uuid::Uuid::now_v7().to_string();
    let mut tx = state.store.begin_write().await?;
    invites::insert(
        &mut tx,
        &invites::NewInvite {
            id: &id,
            org_id: &ctx.org_id,
            email: email.as_str(),
            role: role.as_str(),
            token_hash: &token_hash(&token),
            created_by: &caller.user_id,
            now,
            expires_at: now + ttl_ms,
        },
    )
    .await?;
    invite_mail::queue(
        &mut tx,
        state,
        &invite_mail::InviteMail {
            invite_id: &id,
            org_id: &ctx.org_id,
            email: email.as_str(),
            inviter_id: &caller.user_id,
            token: &token,
            expires_at: now + ttl_ms,
        },
        now,
    )
    .await?;
    audit::commit_with(
        tx,
        &AuditEvent::new("invite.create", Outcome::Success)
            .actor(Some(&caller.user_id), meta.ip.as_deref())
            .org(&ctx.org_id)
            .target("invite", &id)
            .details(json!({ "role": role.as_str() })),
        now,
    )
    .await?;
    state.notifications.wake();
    let invite = InviteView {
        id,
        email: email.as_str().to_owned(),
        role,
        created_by: caller.user_id.clone(),
        created_at: rfc3339(now),
        expires_at: rfc3339(now + ttl_ms),
        status: "pending",
    };
    Ok((invite, token))
}

pub async fn list_invites(state: &AppState, ctx: &OrgContext) -> Result<Vec<InviteView>> {
    let mut conn = state.store.conn().await?;
    let now = state.clock.now_ms();
    invites::list_for_org(&mut conn, &ctx.org_id)
        .await?
        .into_iter()
        .map(|r| view(r, now))
        .collect()
}

pub async fn revoke_invite(
    state: &AppState,
    caller: &Principal,
    ctx: &OrgContext,
    invite_id: &str,
    meta: &RequestMeta,
) -> Result<()> {
    let now = state.clock.now_ms();
    let mut tx = state.store.begin_write().await?;
    let invite = invites::by_id(&mut tx, &ctx.org_id, invite_id)
        .await?
        .ok_or(Error::NotFound("invite"))?;
    if !policy::may_revoke_invite(
        ctx.role,
        caller.platform_admin,
        &caller.user_id,
        &invite.created_by,
    ) {
        return Err(Error::Forbidden);
    }
    if !invites::revoke(&mut tx, &ctx.org_id, invite_id, now).await? {
        return Err(Error::conflict(
            "invite_not_pending",
            "the invite was already used or revoked",
        ));
    }
    invite_mail::withdraw(&mut tx, invite_id, now).await?;
    audit::commit_with(
        tx,
        &AuditEvent::new("invite.revoke", Outcome::Success)
            .actor(Some(&caller.user_id), meta.ip.as_deref())
            .org(&ctx.org_id)
            .target("invite", invite_id),
        now,
    )
    .await?;
    Ok(())
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AcceptInviteInput {
    /// The token from the invite link.
    pub token: String,
    /// For a new account: its password (policy applies).
    pub password: Option<String>,
    /// For a new account: the name shown to others.
    pub display_name: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AcceptedInvite {
    pub org_id: String,
    pub org_name: String,
    pub role: Role,
    pub user_id: String,
    /// True when accepting created the account; the user can now log in.
    pub account_created: bool,
}

/// Accepts an invite. An invitee without an account creates one here with a
/// password; one who has an account must be signed in as that account.
pub async fn accept_invite(
    state: &AppState,
    caller: Option<&Principal>,
    input: AcceptInviteInput,
    meta: &RequestMeta,
) -> Result<AcceptedInvite> {
    let now = state.clock.now_ms();
    let mut conn = state.store.conn().await?;
    let invite = if input.token.len() <= 128 {
        invites::by_token_hash(&mut conn, &token_hash(&input.token)).await?
    } else {
        None
    }
    .ok_or(Error::NotFound("invite"))?;
    let gone = |code, message: &str| Error::Gone {
        code,
        message: message.to_owned(),
    };
    if invite.revoked_at.is_some() {
        return Err(gone("invite_revoked", "this invite was revoked"));
    }
    if invite.accepted_at.is_some() {
        return Err(gone("invite_used", "this invite was already used"));
    }
    if invite.expires_at <= now {
        return Err(gone(
            "invite_expired",
            "this invite has expired; ask for a new one",
        ));
    }
    let role = parse_role(&invite.role)?;
    let existing = users::by_email(&mut conn, &invite.email).await?;
    let org = orgs::by_id(&mut conn, &invite.org_id)
        .await?
        .ok_or(Error::NotFound("organization"))?;
    drop(conn);

    // Who accepts: the signed-in owner of the invited email, or a new account.
    let new_account = match (&existing, caller) {
        (Some(user), Some(p)) if p.user_id == user.id => None,
        (_, Some(_)) => {
            return Err(Error::conflict(
                "invite_email_mismatch",
                "this invite was sent to a different email than the signed-in account",
            ));
        }
        (Some(_), None) => {
            return Err(Error::conflict(
                "login_required",
                "an account with this email exists; sign in and accept the invite again",
            ));
        }
        (None, None) => {
            let email = EmailAddress::parse(&invite.email)?;
            let name = DisplayName::parse(input.display_name.as_deref().unwrap_or_default())?;
            let password =
                Password::parse_new(input.password.as_deref().unwrap_or_default(), Some(&email))?;
            let hash = accounts::hash_password(password.expose()).await?;
            Some((uuid::Uuid::now_v7().to_string(), name, hash))
        }
    };

    let mut tx = state.store.begin_write().await?;
    let user_id = match &new_account {
        Some((id, name, hash)) => {
            let created = users::insert(
                &mut tx,
                &users::NewUser {
                    id,
                    email: &invite.email,
                    display_name: name.as_str(),
                    password_hash: hash,
                    platform_admin: false,
                    now,
                },
            )
            .await;
            if let Err(StoreError::UniqueViolation(_)) = created {
                return Err(Error::conflict(
                    "login_required",
                    "an account with this email exists; sign in and accept the invite again",
                ));
            }
            created?;
            id.clone()
        }
        None => existing
            .as_ref()
            .map(|u| u.id.clone())
            .ok_or(Error::Unauthenticated)?,
    };
    // An invite is for joining; an existing member's role changes only through
    // the members endpoint, where the last-admin rule applies.
    if orgs::role_of(&mut tx, &invite.org_id, &user_id)
        .await?
        .is_some()
    {
        return Err(Error::conflict(
            "already_member",
            "this account is already a member; an admin can change its role",
        ));
    }
    if !invites::accept(&mut tx, &invite.id, &user_id, now).await? {
        return Err(gone("invite_used", "this invite was already used"));
    }
    orgs::upsert_membership(&mut tx, &invite.org_id, &user_id, role.as_str(), now).await?;
    audit::commit_with(
        tx,
        &AuditEvent::new("invite.accept", Outcome::Success)
            .actor(Some(&user_id), meta.ip.as_deref())
            .org(&invite.org_id)
            .target("invite", &invite.id)
            .details(json!({ "role": role.as_str(), "account_created": new_account.is_some() })),
        now,
    )
    .await?;
    publish(
        state,
        &invite.org_id,
        "membership.changed",
        json!({ "user_id": user_id, "role": role }),
    )
    .await;
    Ok(AcceptedInvite {
        org_id: invite.org_id,
        org_name: org.name,
        role,
        user_id,
        account_created: new_account.is_some(),
    })
}
