//! Telling both organizations: an audit row in each, and a live
//! `referral.changed` user event to their care teams.

use serde_json::json;

use crate::{
    accounts::{Principal, RequestMeta},
    audit::{self, AuditEvent, Outcome},
    bus::Event,
    error::Result,
    notifications::user_topic,
    state::AppState,
    store::{Conn, referrals as rows},
};

/// The user event that tells both sides' care teams a referral changed.
pub const CHANGED: &str = "referral.changed";

/// Appends `action` to the audit trail of both the referring and the receiving
/// organization, in the caller's transaction.
pub(super) async fn audit_both(
    tx: &mut Conn,
    action: &'static str,
    caller: &Principal,
    referral: &rows::ReferralRow,
    details: serde_json::Value,
    meta: &RequestMeta,
    now: i64,
) -> Result<()> {
    for org in [&referral.from_org_id, &referral.to_org_id] {
        audit::append(
            tx,
            &AuditEvent::new(action, Outcome::Success)
                .actor(Some(&caller.user_id), meta.ip.as_deref())
                .org(org)
                .target("room", &referral.room_id)
                .details(details.clone()),
            now,
        )
        .await?;
    }
    Ok(())
}

/// Pushes `referral.changed` to the receiving organization's clinicians and
/// admins and to the referring organization's who are in the room, live on every
/// node. The event
/// carries no room title: only ids, organization names and the new status.
pub(super) async fn announce(state: &AppState, r: &rows::ReferralRow) {
    let recipients = match state.store.conn().await {
        Ok(mut conn) => {
            let mut all = Vec::new();
            let sides = [
                (&r.to_org_id, None),
                (&r.from_org_id, Some(r.room_id.as_str())),
            ];
            for (org, room) in sides {
                match rows::care_team_of(&mut conn, org, room).await {
                    Ok(ids) => all.extend(ids),
                    Err(e) => tracing::warn!(error = %e, "referral recipients unread"),
                }
            }
            all.sort();
            all.dedup();
            all
        }
        Err(e) => {
            tracing::warn!(error = %e, "referral not announced");
            return;
        }
    };
    let payload = json!({
        "referral_id": r.id, "room_id": r.room_id, "status": r.status,
        "from_org_id": r.from_org_id, "from_org_name": r.from_org_name,
        "to_org_id": r.to_org_id, "to_org_name": r.to_org_name,
    });
    for user in recipients {
        let event = Event {
            topic: user_topic(&user),
            kind: CHANGED.into(),
            payload: payload.clone(),
        };
        if let Err(e) = state.bus.publish(event).await {
            // The change is committed; lists read on the next load show it.
            tracing::warn!(error = %e, "referral change not announced");
            return;
        }
    }
}
