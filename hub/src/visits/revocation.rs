//! Ending visit passes at once. A pass stands while its link is neither revoked nor
//! expired and its visit is not over (ended, no-show, cancelled); the database is the
//! truth. Revoking a link is also announced on the visit's bus topic, which spans every
//! node, so each node's gateway closes the sockets using it within moments instead of at
//! its next periodic check (docs/visits.md, "Revoking a link").

use serde_json::json;
use signaling::visit::VisitState;

use super::pass::PassClaims;
use crate::{
    bus::Event,
    error::Result,
    state::AppState,
    store::visits::{self as store},
};

/// Bus kind on `visit.<id>`: every link of `participant` was revoked. Internal to the
/// gateways; never forwarded to clients (they see the participant leave instead).
pub const LINK_REVOKED: &str = "visit.link_revoked";

/// Tells every node that `participant`'s links in `visit_id` were revoked. Best effort:
/// a lost announcement is caught by the per-frame and periodic checks of the pass.
pub async fn announce_revoked(state: &AppState, visit_id: &str, participant: &str) {
    let event = Event {
        topic: super::topic(visit_id),
        kind: LINK_REVOKED.to_owned(),
        payload: json!({ "visit": visit_id, "participant": participant }),
    };
    if let Err(e) = state.bus.publish(event).await {
        tracing::warn!(error = %e, "link revocation not announced; passes end at their next check");
    }
}

/// Whether an announcement on the visit's topic may concern `pass`: its participant's
/// links were revoked, or the visit reached a terminal state.
pub fn concerns(event: &Event, pass: &PassClaims) -> bool {
    if event.kind == LINK_REVOKED {
        return event.payload["participant"].as_str() == Some(pass.sub.as_str());
    }
    event.payload["state"]["state"].as_str().is_some_and(|s| {
        VisitState::ALL
            .iter()
            .any(|v| v.as_str() == s && v.is_terminal())
    })
}

/// Whether the pass still stands: its link is live and its visit is not over.
pub async fn pass_standing(state: &AppState, pass: &PassClaims) -> Result<bool> {
    let mut conn = state.store.conn().await?;
    let link_live = store::link_by_hash(&mut conn, &pass.link)
        .await?
        .is_some_and(|l| {
            l.revoked_at.is_none()
                && l.expires_at > state.clock.now_ms()
                && l.visit_id == pass.visit
                && l.participant_id == pass.sub
        });
    if !link_live {
        return Ok(false);
    }
    let open = store::by_id(&mut conn, &pass.visit)
        .await?
        .is_some_and(|v| {
            !VisitState::ALL
                .iter()
                .any(|s| s.as_str() == v.state && s.is_terminal())
        });
    Ok(open)
}
