//! Visit links: issued to patients and guests, redeemed for a visit pass, revocable.
//! Only the token's SHA-256 is stored; the token travels in the URL fragment, so no
//! server or proxy log ever sees it.

use serde::{Deserialize, Serialize};
use serde_json::json;
use signaling::{
    ParticipantId,
    link::{LinkHash, VisitLink, link_url},
    visit::Visit,
};
use utoipa::ToSchema;

use crate::{
    accounts::{Principal, RequestMeta},
    audit::{self, AuditEvent, Outcome},
    clock::rfc3339,
    error::{Error, Result},
    state::AppState,
    store::{
        Conn,
        visits::{self as store, LinkRow},
    },
};

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LinkView {
    /// `<public_url>/visit#t=<token>`: send it to the participant; it is shown once.
    pub url: String,
    pub expires_at: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RedeemInput {
    pub token: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Redeemed {
    /// Authenticates a `/ws` socket for this visit and participant only.
    pub pass: String,
    pub expires_at: String,
    pub visit_id: String,
    pub participant_id: String,
    pub role: String,
    pub display_name: String,
    pub scheduled_at: String,
    /// From when the participant may enter the waiting room.
    pub opens_at: String,
    /// The host's name, for "Dr X will let you in".
    pub host_name: String,
}

/// Issues a link for `participant` inside `conn`'s transaction.
pub async fn issue_link(
    state: &AppState,
    conn: &mut Conn,
    visit: &Visit,
    participant: &ParticipantId,
    created_by: Option<&str>,
) -> Result<LinkView> {
    let now = state.clock.now_ms();
    let ttl_ms = i64::try_from(state.config.visits.link_ttl_after_start_secs * 1000)
        .map_err(Error::internal)?;
    // A link made late (a visit created on the spot) still lasts the full margin.
    let expires = visit.scheduled_start_ms.max(now) + ttl_ms;
    let issued = VisitLink::issue(visit.id.clone(), participant.clone(), expires, now)
        .map_err(|e| Error::invalid("scheduled_at", e.code(), e.to_string()))?;
    store::insert_link(
        conn,
        &LinkRow {
            token_hash: issued.link.hash.to_hex(),
            visit_id: visit.id.as_str().to_owned(),
            participant_id: participant.as_str().to_owned(),
            expires_at: expires,
            revoked_at: None,
            created_by: created_by.map(str::to_owned),
            created_at: now,
        },
    )
    .await?;
    Ok(LinkView {
        url: link_url(&state.config.effective_public_url(), &issued.token),
        expires_at: rfc3339(expires),
    })
}

/// A host gets a fresh link for a participant; the participant's earlier links stop
/// working (a link sent to the wrong address is replaced, not added to).
pub async fn link_for_participant(
    state: &AppState,
    principal: &Principal,
    visit_id: &str,
    participant_id: &str,
    meta: &RequestMeta,
) -> Result<LinkView> {
    let loaded = super::get(state, visit_id).await?;
    super::require_host(state, &loaded, &principal.user_id).await?;
    let participant = ParticipantId::from(participant_id);
    match loaded.visit.participant(&participant) {
        Some(p) if p.role != signaling::visit::Role::Host => {}
        _ => {
            return Err(Error::invalid(
                "participant_id",
                "not_a_participant",
                "participant_id must be a patient or guest of this visit",
            ));
        }
    }
    if loaded.visit.state.is_terminal() {
        return Err(Error::conflict(
            "visit_ended",
            "the visit is over; no new links",
        ));
    }
    let mut tx = state.store.begin_write().await?;
    let revoked =
        store::revoke_links(&mut tx, visit_id, participant_id, state.clock.now_ms()).await?;
    let link = issue_link(
        state,
        &mut tx,
        &loaded.visit,
        &participant,
        Some(&principal.user_id),
    )
    .await?;
    let event = AuditEvent::new("visit.link_issue", Outcome::Success)
        .actor(Some(&principal.user_id), meta.ip.as_deref())
        .org(&loaded.row.org_id)
        .target("visit", visit_id)
        .details(json!({ "participant_id": participant_id, "revoked": revoked }));
    audit::commit_with(tx, &event, state.clock.now_ms()).await?;
    if revoked > 0 {
        super::revocation::announce_revoked(state, visit_id, participant_id).await;
    }
    Ok(link)
}

/// A host revokes every link of a participant. Every socket authenticated by one of their
/// passes, on any node, is closed with 4003 at once (announced on the bus after commit).
pub async fn revoke(
    state: &AppState,
    principal: &Principal,
    visit_id: &str,
    participant_id: &str,
    meta: &RequestMeta,
) -> Result<()> {
    let loaded = super::get(state, visit_id).await?;
    super::require_host(state, &loaded, &principal.user_id).await?;
    if loaded
        .visit
        .participant(&ParticipantId::from(participant_id))
        .is_none()
    {
        return Err(Error::NotFound("participant"));
    }
    let mut tx = state.store.begin_write().await?;
    let revoked =
        store::revoke_links(&mut tx, visit_id, participant_id, state.clock.now_ms()).await?;
    let event = AuditEvent::new("visit.link_revoke", Outcome::Success)
        .actor(Some(&principal.user_id), meta.ip.as_deref())
        .org(&loaded.row.org_id)
        .target("visit", visit_id)
        .details(json!({ "participant_id": participant_id, "revoked": revoked }));
    audit::commit_with(tx, &event, state.clock.now_ms()).await?;
    if revoked > 0 {
        super::revocation::announce_revoked(state, visit_id, participant_id).await;
    }
    Ok(())
}

/// Exchanges a link's token for a pass. Every outcome is audited (a link is a credential).
pub async fn redeem(state: &AppState, input: RedeemInput, meta: &RequestMeta) -> Result<Redeemed> {
    let now = state.clock.now_ms();
    let bad = |e: signaling::link::LinkError| Error::BadCredential {
        code: e.code(),
        message: e.to_string(),
    };
    let hash = LinkHash::of_token(input.token.trim()).map_err(bad)?;
    let mut conn = state.store.conn().await?;
    let row = store::link_by_hash(&mut conn, &hash.to_hex()).await?;
    drop(conn);
    let outcome = match &row {
        None => Err(bad(signaling::link::LinkError::Invalid)),
        Some(row) => {
            let link = VisitLink {
                hash: LinkHash::from_hex(&row.token_hash)
                    .ok_or_else(|| Error::internal(anyhow::anyhow!("stored link hash")))?,
                visit_id: row.visit_id.as_str().into(),
                participant_id: row.participant_id.as_str().into(),
                expires_at_ms: row.expires_at,
                revoked_at_ms: row.revoked_at,
            };
            link.redeem(input.token.trim(), now).map_err(bad)
        }
    };
    let mut event = AuditEvent::new(
        "visit.link_redeem",
        if outcome.is_ok() {
            Outcome::Success
        } else {
            Outcome::Failure
        },
    )
    .actor(None, meta.ip.as_deref());
    if let Some(row) = &row {
        event = event
            .target("visit", &row.visit_id)
            .details(json!({ "participant_id": row.participant_id }));
    }
    let tx = state.store.begin_write().await?;
    audit::commit_with(tx, &event, now).await?;
    let redemption = outcome?;
    let row = row.ok_or_else(|| Error::internal(anyhow::anyhow!("redeemed without a row")))?;
    let loaded = super::get(state, redemption.visit_id.as_str()).await?;
    if loaded.visit.state.is_terminal() {
        return Err(Error::conflict(
            "visit_ended",
            format!("the visit is over ({})", loaded.visit.state),
        ));
    }
    let participant = loaded
        .visit
        .participant(&redemption.participant_id)
        .ok_or(Error::NotFound("visit"))?;
    let (pass, claims) = state
        .visits
        .passes
        .issue(
            &row.visit_id,
            &row.participant_id,
            &row.token_hash,
            now / 1000,
            row.expires_at / 1000,
        )
        .map_err(Error::internal)?;
    let view = loaded.view(&state.visits.policy);
    let name_of = |id: &str| {
        view.participants
            .iter()
            .find(|p| p.id == id)
            .map(|p| p.display_name.clone())
            .unwrap_or_default()
    };
    let host_name = view
        .participants
        .iter()
        .find(|p| p.role == "host")
        .map(|p| p.display_name.clone())
        .unwrap_or_default();
    Ok(Redeemed {
        pass,
        expires_at: rfc3339(claims.exp * 1000),
        visit_id: row.visit_id.clone(),
        participant_id: row.participant_id.clone(),
        role: participant.role.as_str().to_owned(),
        display_name: name_of(&row.participant_id),
        scheduled_at: view.scheduled_at.clone(),
        opens_at: view.opens_at.clone(),
        host_name,
    })
}
