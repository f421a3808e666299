//! An account's rights in a visit follow the organization membership they came from
//! (docs/architecture.md): a host must hold a care-team role in the visit's
//! organization, the patient's own account must be a member. The role is read at
//! every check, and when a membership ends or a role change takes a right away,
//! [`end_access`] ends what is open: the account's sockets leave the visit, its media
//! session is torn down at the worker and it leaves the live visit (the others see
//! it go), on every node.

use serde_json::json;
use signaling::visit::{Actor, Participant, Role as VisitRole};

use super::{Loaded, actor_of, apply, topic};
use crate::{
    audit::{self, AuditEvent, Outcome},
    bus::Event,
    domain::Role,
    error::{Error, Result},
    orgs::parse_role,
    policy,
    state::AppState,
    store::{orgs, visits as store},
};

/// The bus kind (on `visit.<id>`) telling every socket of one participant that it
/// lost the visit; payload `{"visit", "participant"}`.
pub const ACCESS_ENDED: &str = "visit.access_ended";

/// The participant `user_id`'s account is in the visit, if its rights still stand.
pub async fn account_participant<'a>(
    state: &AppState,
    loaded: &'a Loaded,
    user_id: &str,
) -> Result<Option<&'a Participant>> {
    let Some(p) = loaded.participant_of_user(user_id) else {
        return Ok(None);
    };
    let role = current_role(state, &loaded.row.org_id, user_id).await?;
    Ok(policy::may_take_part_in_visit(p.role == VisitRole::Host, role).then_some(p))
}

/// The host participant `user_id` holds, as an actor. A patient of the visit gets
/// `not_host`; anyone else, including a host who lost the organization's care-team
/// role, `visit_not_found` (outsiders learn nothing).
pub async fn require_host(state: &AppState, loaded: &Loaded, user_id: &str) -> Result<Actor> {
    match account_participant(state, loaded, user_id).await? {
        Some(p) if p.role == VisitRole::Host => Ok(actor_of(p)),
        Some(_) => Err(Error::Denied {
            code: "not_host",
            message: "only a host of the visit may do this".into(),
        }),
        None => Err(Error::NotFound("visit")),
    }
}

async fn current_role(state: &AppState, org_id: &str, user_id: &str) -> Result<Option<Role>> {
    let mut conn = state.store.conn().await?;
    orgs::role_of(&mut conn, org_id, user_id)
        .await?
        .map(|r| parse_role(&r))
        .transpose()
}

/// Ends `user_id`'s part in the organization's open visits that `role` (the role now
/// held there; `None` after a removal) no longer allows. Failures are logged: the
/// checks above refuse the account anyway.
pub async fn end_access(state: &AppState, org_id: &str, user_id: &str, role: Option<Role>) {
    let ids = async {
        let mut conn = state.store.conn().await?;
        Ok::<_, Error>(store::open_for_user_in_org(&mut conn, org_id, user_id).await?)
    };
    end_in(state, ids.await, user_id, |host| {
        policy::may_take_part_in_visit(host, role)
    })
    .await;
}

/// Ends a disabled account's part in every open visit, whatever its organization
/// (its sockets are already closed; this makes it leave now, not after the
/// reconnect grace).
pub async fn end_account(state: &AppState, user_id: &str) {
    let ids = async {
        let mut conn = state.store.conn().await?;
        Ok::<_, Error>(store::open_for_user(&mut conn, user_id).await?)
    };
    end_in(state, ids.await, user_id, |_| false).await;
}

/// Ends `user_id`'s part in each of the visits `ids` unless `still` keeps it.
async fn end_in(
    state: &AppState,
    ids: Result<Vec<String>>,
    user_id: &str,
    still: impl Fn(bool) -> bool,
) {
    let ids = match ids {
        Ok(ids) => ids,
        Err(e) => {
            tracing::error!(error = %e, "cannot list the visits whose access ended");
            return;
        }
    };
    for visit_id in ids {
        if let Err(e) = end_one(state, &visit_id, user_id, &still).await {
            tracing::error!(error = %e, visit = %visit_id, "visit access not ended");
        }
    }
}

/// Ends `user_id`'s part in the visit unless `still` (given whether they host it)
/// says they keep it.
async fn end_one(
    state: &AppState,
    visit_id: &str,
    user_id: &str,
    still: impl Fn(bool) -> bool,
) -> Result<()> {
    let loaded = super::get(state, visit_id).await?;
    let Some(p) = loaded.participant_of_user(user_id).cloned() else {
        return Ok(());
    };
    if still(p.role == VisitRole::Host) {
        return Ok(());
    }
    // The sockets first, so they forward nothing after this (not even the leave).
    let announced = state
        .bus
        .publish(Event {
            topic: topic(visit_id),
            kind: ACCESS_ENDED.to_owned(),
            payload: json!({ "visit": visit_id, "participant": p.id.as_str() }),
        })
        .await;
    if let Err(e) = announced {
        tracing::warn!(error = %e, "visit access end not announced");
    }
    // The media session, wherever its worker is (no session: nothing to do).
    state.visits.media.leave(visit_id, p.id.as_str()).await;
    if p.is_present() {
        let actor = actor_of(&p);
        if let Err(e) = apply(state, visit_id, |v, now| v.leave(&actor, now)).await
            && !matches!(e.code(), "not_present" | "visit_ended")
        {
            return Err(e);
        }
    }
    let tx = state.store.begin_write().await?;
    let event = AuditEvent::new("visit.access_end", Outcome::Success)
        .actor(None, None)
        .org(&loaded.row.org_id)
        .target("visit", visit_id)
        .details(json!({
            "user_id": user_id, "participant_id": p.id.as_str(), "role": p.role.as_str(),
            "patient_id": loaded.patient_user(),
        }));
    audit::commit_with(tx, &event, state.clock.now_ms()).await?;
    Ok(())
}
