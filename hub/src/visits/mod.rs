//! Video visits in the hub: the `signaling` crate's state machine stored and published,
//! visit links exchanged for passes, and media placed on workers (docs/visits.md).
//!
//! Every change goes through [`apply`]: load the snapshot, run one command of the state
//! machine, store the new snapshot only if nobody stored another since (optimistic, by
//! version), append its events and publish them on `visit.<id>` and every host's
//! `user.<id>`. A command that lost the race is simply run again on the fresh snapshot.

mod access;
mod create;
mod links;
pub mod media;
pub mod pass;
mod queries;
pub mod revocation;
mod stats;
mod view;

use std::time::Duration;

use serde_json::json;
use signaling::{
    grants::GrantSigner,
    ice::IceServerProvider,
    visit::{Actor, Role, Transition, Visit, VisitError, VisitPolicy},
};

pub use access::{ACCESS_ENDED, account_participant, end_access, end_account, require_host};
pub use create::{
    CreateVisitInput, CreatedVisit, InviteInput, Invited, cancel_for_appointment, create,
    for_appointment, has_visit, invite,
};
pub use links::{
    LinkView, RedeemInput, Redeemed, issue_link, link_for_participant, redeem, revoke,
};
pub use queries::{VisitListQuery, cancel, get_one, list_mine};
pub use revocation::pass_standing;
pub use stats::spawn_stats_loop;
pub use view::{ParticipantView, VisitView, view};

use crate::{
    bus::Event,
    config::Config,
    crypto::Keyring,
    error::{Error, Result},
    state::AppState,
    store::{
        Conn,
        visits::{self as store, ParticipantRow, VisitRow},
    },
};

/// The bus topic of one visit's events.
pub fn topic(visit_id: &str) -> String {
    format!("visit.{visit_id}")
}

/// Bus kinds besides the state machine's event names.
pub const MEDIA_STATE: &str = "visit.media";
pub const STATS: &str = "visit.stats";

/// What the visit service holds for the life of the node.
pub struct Visits {
    pub grants: GrantSigner,
    pub passes: pass::PassSigner,
    pub ice: IceServerProvider,
    pub policy: VisitPolicy,
    pub media: media::MediaPool,
    /// Sockets on this node per `visit/participant`, so a dropped socket's participant is
    /// marked as left only if they did not come back.
    attached: std::sync::Mutex<std::collections::HashMap<String, usize>>,
}

impl Visits {
    /// Derives the grant and pass keys from the token signing key (each under its own
    /// label, so one can never stand in for the other) and starts the media pool.
    pub async fn build(config: &Config, token_signing_key: &[u8]) -> anyhow::Result<Self> {
        let v = &config.visits;
        let grants = GrantSigner::new(
            &derive_key(token_signing_key, b"healthbridge media grant v1"),
            Duration::from_secs(v.grant_ttl_secs),
        )
        .map_err(|e| anyhow::anyhow!("media grants: {e}"))?;
        let passes = pass::PassSigner::new(&derive_key(
            token_signing_key,
            b"healthbridge visit pass v1",
        ));
        let ice = IceServerProvider::new(&v.ice).map_err(|e| anyhow::anyhow!("visits.ice: {e}"))?;
        let policy = VisitPolicy {
            join_opens_before_ms: i64::try_from(v.join_opens_before_secs * 1000)?,
            ..VisitPolicy::default()
        };
        let media = media::MediaPool::start(v, config.redis_url.as_deref()).await?;
        Ok(Self {
            grants,
            passes,
            ice,
            policy,
            media,
            attached: Default::default(),
        })
    }

    fn attached_lock(&self) -> std::sync::MutexGuard<'_, std::collections::HashMap<String, usize>> {
        self.attached.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn attach(&self, visit: &str, participant: &str) {
        *self
            .attached_lock()
            .entry(format!("{visit}/{participant}"))
            .or_default() += 1;
    }

    /// One socket less; `true` when it was the participant's last on this node.
    pub fn detach(&self, visit: &str, participant: &str) -> bool {
        let mut map = self.attached_lock();
        let key = format!("{visit}/{participant}");
        match map.get_mut(&key) {
            Some(n) if *n > 1 => {
                *n -= 1;
                false
            }
            _ => {
                map.remove(&key);
                true
            }
        }
    }

    pub fn is_attached(&self, visit: &str, participant: &str) -> bool {
        self.attached_lock()
            .contains_key(&format!("{visit}/{participant}"))
    }
}

fn derive_key(root: &[u8], label: &[u8]) -> [u8; 32] {
    use hmac::{Hmac, Mac};
    let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(root).expect("HMAC takes any key");
    mac.update(label);
    mac.finalize().into_bytes().into()
}

/// A stored visit with its snapshot decoded and its people's names.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub row: VisitRow,
    pub visit: Visit,
    pub people: Vec<ParticipantRow>,
}

impl Loaded {
    /// The visit as clients see it; `policy` says when its waiting room opens.
    pub fn view(&self, policy: &VisitPolicy) -> VisitView {
        view(
            &self.visit,
            policy.join_opens_before_ms,
            &self.row.org_id,
            self.row.appointment_id.as_deref(),
            &self.people,
        )
    }

    /// The participant an account holds in this visit.
    pub fn participant_of_user(&self, user_id: &str) -> Option<&signaling::visit::Participant> {
        self.visit
            .participants
            .iter()
            .find(|p| p.user_id.as_deref() == Some(user_id))
    }

    /// The patient's account, if the patient has one (for audit rows).
    pub fn patient_user(&self) -> Option<&str> {
        self.visit
            .participants
            .iter()
            .find(|p| p.role == Role::Patient)
            .and_then(|p| p.user_id.as_deref())
    }

    pub fn host_users(&self) -> Vec<String> {
        self.visit
            .participants
            .iter()
            .filter(|p| p.role == Role::Host)
            .filter_map(|p| p.user_id.clone())
            .collect()
    }
}

pub async fn load(conn: &mut Conn, keyring: &Keyring, visit_id: &str) -> Result<Option<Loaded>> {
    match store::by_id(conn, visit_id).await? {
        Some(row) => Ok(Some(from_row(conn, keyring, row).await?)),
        None => Ok(None),
    }
}

/// Decodes a fetched row's snapshot and adds its people's names.
pub async fn from_row(conn: &mut Conn, keyring: &Keyring, row: VisitRow) -> Result<Loaded> {
    let visit: Visit = serde_json::from_str(&row.snapshot)
        .map_err(|e| Error::internal(anyhow::anyhow!("visit {} snapshot: {e}", row.id)))?;
    let people = store::participants(conn, keyring, &row.id).await?;
    Ok(Loaded { row, visit, people })
}

/// Loads a visit or answers `visit_not_found`.
pub async fn get(state: &AppState, visit_id: &str) -> Result<Loaded> {
    let mut conn = state.store.conn().await?;
    load(&mut conn, &state.keyring, visit_id)
        .await?
        .ok_or(Error::NotFound("visit"))
}

/// Maps a refused command to the hub's error with the state machine's stable code.
pub fn refused(e: VisitError) -> Error {
    let code = e.code();
    match e {
        VisitError::NotHost { .. } => Error::Denied {
            code,
            message: e.to_string(),
        },
        VisitError::NotAParticipant => Error::NotFound("visit"),
        VisitError::InvalidParticipants(_) | VisitError::RoleMismatch => {
            Error::invalid("participants", code, e.to_string())
        }
        _ => Error::conflict(code, e.to_string()),
    }
}

/// How many times a command is re-run after losing a race to another writer.
const MAX_RACES: usize = 8;

/// Runs `command` on the stored visit and stores, logs and publishes what it did.
/// Returns the visit after it (unchanged if the command was a no-op).
pub async fn apply<F>(state: &AppState, visit_id: &str, command: F) -> Result<Loaded>
where
    F: Fn(&Visit, i64) -> std::result::Result<Transition, VisitError>,
{
    for _ in 0..MAX_RACES {
        let mut loaded = get(state, visit_id).await?;
        let now = state.clock.now_ms();
        let transition = command(&loaded.visit, now).map_err(refused)?;
        if transition.is_noop() {
            return Ok(loaded);
        }
        let snapshot = serde_json::to_string(&transition.visit).map_err(Error::internal)?;
        let mut tx = state.store.begin_write().await?;
        let stored = store::update(
            &mut tx,
            visit_id,
            loaded.row.version,
            transition.visit.state.as_str(),
            transition.visit.scheduled_start_ms,
            &snapshot,
            i64::try_from(transition.visit.last_seq).map_err(Error::internal)?,
            now,
        )
        .await?;
        if !stored {
            continue;
        }
        store_events(&mut tx, &transition).await?;
        tx.commit().await.map_err(Error::internal)?;
        loaded.visit = transition.visit;
        loaded.row.version = i64::try_from(loaded.visit.last_seq).unwrap_or(i64::MAX);
        loaded.row.state = loaded.visit.state.as_str().to_owned();
        publish(state, &loaded, &transition.events).await;
        if loaded.visit.state.is_terminal() {
            state.visits.media.close(visit_id).await;
        }
        return Ok(loaded);
    }
    Err(Error::conflict(
        "busy",
        "the visit changed too often at once; retry",
    ))
}

pub(crate) async fn store_events(conn: &mut Conn, transition: &Transition) -> Result<()> {
    for event in &transition.events {
        let body = event.to_json().map_err(Error::internal)?;
        store::insert_event(
            conn,
            event.visit_id.as_str(),
            i64::try_from(event.seq).map_err(Error::internal)?,
            event.kind.name(),
            &body.to_string(),
            event.at_ms,
        )
        .await?;
    }
    Ok(())
}

/// Publishes each event with the visit after it, on the visit's topic and to its hosts.
pub(crate) async fn publish(
    state: &AppState,
    loaded: &Loaded,
    events: &[signaling::visit::VisitEvent],
) {
    let view = loaded.view(&state.visits.policy);
    for event in events {
        let payload = json!({
            "visit": loaded.row.id,
            "event": event.to_json().unwrap_or_default(),
            "state": view,
        });
        let mut topics = vec![topic(&loaded.row.id)];
        topics.extend(
            loaded
                .host_users()
                .iter()
                .map(|u| crate::notifications::user_topic(u)),
        );
        for topic in topics {
            let _ = state
                .bus
                .publish(Event {
                    topic,
                    kind: event.kind.name().to_owned(),
                    payload: payload.clone(),
                })
                .await;
        }
    }
}

/// The actor a participant is in the state machine.
pub fn actor_of(p: &signaling::visit::Participant) -> Actor {
    Actor::participant(p.id.clone(), p.role)
}
