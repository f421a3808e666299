//! The receiving organization's side of a referral: its incoming list, and
//! accepting (choosing who of its care team joins) or declining.

use serde::Deserialize;
use serde_json::json;
use utoipa::{IntoParams, ToSchema};

use super::{
    MAX_JOINERS, ReferralList, ReferralView, announce, audit_both, close, closed, load, role_in,
    view,
};
use crate::{
    accounts::{Principal, RequestMeta},
    audit::{self, AuditEvent, Outcome},
    error::{Error, Result},
    orgs::OrgContext,
    policy,
    state::AppState,
    store::{Conn, referrals as rows, rooms},
};

/// Most referrals one incoming list returns.
const INCOMING_LIMIT: i64 = 200;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct IncomingQuery {
    /// Only referrals in this state (`pending`, `accepted`, `declined`, `withdrawn`).
    pub status: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AcceptInput {
    /// Who of the receiving organization joins the room: 1–20 of its clinicians or
    /// admins (the person accepting may name themselves).
    pub member_ids: Vec<String>,
}

/// The referrals sent to the organization. They name case rooms (PHI), so the
/// read is audited before the list is returned.
pub async fn incoming(
    state: &AppState,
    caller: &Principal,
    ctx: &OrgContext,
    query: IncomingQuery,
    meta: &RequestMeta,
) -> Result<ReferralList> {
    let status = query.status.as_deref();
    if status.is_some_and(|s| !["pending", "accepted", "declined", "withdrawn"].contains(&s)) {
        return Err(Error::InvalidQuery(
            "status must be pending, accepted, declined or withdrawn".into(),
        ));
    }
    let now = state.clock.now_ms();
    let mut tx = state.store.begin_write().await?;
    let referrals =
        rows::incoming(&mut tx, &state.keyring, &ctx.org_id, status, INCOMING_LIMIT).await?;
    audit::commit_with(
        tx,
        &AuditEvent::new("room.referrals.read", Outcome::Success)
            .actor(Some(&caller.user_id), meta.ip.as_deref())
            .org(&ctx.org_id)
            .details(json!({ "count": referrals.len(), "status": status })),
        now,
    )
    .await?;
    Ok(ReferralList {
        referrals: referrals.into_iter().map(view).collect(),
    })
}

/// The referral `referral_id` as the organization `org_id` received it; anything
/// else (unknown, malformed, sent elsewhere) is "not found".
async fn received(
    conn: &mut Conn,
    state: &AppState,
    org_id: &str,
    referral_id: &str,
) -> Result<rows::ReferralRow> {
    if uuid::Uuid::parse_str(referral_id).is_err() {
        return Err(Error::NotFound("referral"));
    }
    rows::by_id(conn, &state.keyring, referral_id)
        .await?
        .filter(|r| r.to_org_id == org_id)
        .ok_or(Error::NotFound("referral"))
}

/// The receiving organization takes the case: it takes part in the room from now
/// on, and `member_ids` (its own clinicians and admins) join it.
pub async fn accept(
    state: &AppState,
    caller: &Principal,
    ctx: &OrgContext,
    referral_id: &str,
    input: AcceptInput,
    meta: &RequestMeta,
) -> Result<ReferralView> {
    if !policy::may_answer_referral(ctx.role) {
        return Err(Error::Forbidden);
    }
    let mut joiners = input.member_ids;
    joiners.sort();
    joiners.dedup();
    if joiners.is_empty() || joiners.len() > MAX_JOINERS {
        return Err(Error::invalid(
            "member_ids",
            "invalid_member_ids",
            format!("name 1 to {MAX_JOINERS} people of your organization to join the case"),
        ));
    }
    let now = state.clock.now_ms();
    let mut tx = state.store.begin_write().await?;
    let referral = received(&mut tx, state, &ctx.org_id, referral_id).await?;
    for id in &joiners {
        if !policy::may_join_referred_case(role_in(&mut tx, &ctx.org_id, id).await?) {
            // Whether the person exists elsewhere is not told: the chooser sees
            // their own roster, nobody else's.
            return Err(Error::invalid(
                "member_ids",
                "not_a_clinician",
                "everyone joining must be a clinician or admin of your organization",
            ));
        }
    }
    if !rows::transition(
        &mut tx,
        referral_id,
        "pending",
        "accepted",
        &caller.user_id,
        now,
    )
    .await?
    {
        return Err(closed());
    }
    let room_id = &referral.room_id;
    rooms::insert_org(
        &mut tx,
        room_id,
        &ctx.org_id,
        "referred",
        &caller.user_id,
        now,
    )
    .await?;
    for id in &joiners {
        rooms::insert_member(&mut tx, room_id, id, &caller.user_id, now).await?;
    }
    let details = json!({ "referral_id": referral_id, "from_org_id": referral.from_org_id,
        "to_org_id": ctx.org_id, "joined": joiners, "patient_id": referral.patient_id });
    audit_both(
        &mut tx,
        "room.referral.accept",
        caller,
        &referral,
        details,
        meta,
        now,
    )
    .await?;
    tx.commit().await.map_err(crate::store::StoreError::from)?;
    let referral = load(state, referral_id).await?;
    announce(state, &referral).await;
    for id in &joiners {
        crate::rooms::activity::room_added(state, room_id, id).await;
    }
    Ok(view(referral))
}

/// The receiving organization says no to a pending referral, or leaves a case it
/// accepted earlier: its people lose the room at once.
pub async fn decline(
    state: &AppState,
    caller: &Principal,
    ctx: &OrgContext,
    referral_id: &str,
    meta: &RequestMeta,
) -> Result<ReferralView> {
    if !policy::may_answer_referral(ctx.role) {
        return Err(Error::Forbidden);
    }
    let mut conn = state.store.conn().await?;
    let referral = received(&mut conn, state, &ctx.org_id, referral_id).await?;
    drop(conn);
    close(state, caller, referral, "declined", meta).await
}
