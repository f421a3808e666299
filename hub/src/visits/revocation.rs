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
/// links were revoked, or the visit is over.
pub fn concerns(event: &Event, pass: &PassClaims) -> bool {
    if event.kind == LINK_REVOKED {
        return event.payload["participant"].as_str() == Some(pass.sub.as_str());
    }
    ends_visit(event)
}

/// Whether a published visit change left the visit over (ended, no-show, cancelled).
pub fn ends_visit(event: &Event) -> bool {
    event.kind != LINK_REVOKED
        && event.payload["state"]["state"]
            .as_str()
            .is_some_and(is_over)
}

fn is_over(state: &str) -> bool {
    VisitState::ALL
        .iter()
        .any(|s| s.as_str() == state && s.is_terminal())
}

/// Whether the pass still stands: its link is live and its visit is not over.
pub async fn pass_standing(state: &AppState, pass: &PassClaims) -> Result<bool> {
    let mut conn = state.store.conn().await?;
    let now = state.clock.now_ms();
    Ok(store::link_stands(&mut conn, &pass.link, &pass.visit, &pass.sub, now).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pass(participant: &str) -> PassClaims {
        PassClaims {
            iss: "healthbridge".into(),
            aud: "healthbridge-visit".into(),
            sub: participant.into(),
            visit: "v1".into(),
            link: "h".into(),
            iat: 0,
            exp: 10,
        }
    }

    fn event(kind: &str, payload: serde_json::Value) -> Event {
        Event {
            topic: "visit.v1".into(),
            kind: kind.into(),
            payload,
        }
    }

    #[test]
    fn only_its_participants_revocation_or_a_visit_that_is_over_concerns_a_pass() {
        let revoked = event(LINK_REVOKED, json!({ "visit": "v1", "participant": "p1" }));
        assert!(concerns(&revoked, &pass("p1")));
        assert!(!concerns(&revoked, &pass("p2")));
        for (state, over) in [
            ("live", false),
            ("waiting", false),
            ("ended", true),
            ("cancelled", true),
            ("no_show", true),
        ] {
            let change = event("visit.started", json!({ "state": { "state": state } }));
            assert_eq!(concerns(&change, &pass("p2")), over, "{state}");
            assert_eq!(ends_visit(&change), over, "{state}");
        }
        let media = event(super::super::MEDIA_STATE, json!({ "participant": "p1" }));
        assert!(!concerns(&media, &pass("p1")));
        assert!(!ends_visit(&revoked));
    }
}
