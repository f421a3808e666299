//! The pure core of HealthBridge video visits.
//!
//! Nothing here does I/O or reads the system clock: every function that depends
//! on time takes `now_ms` (milliseconds since the Unix epoch, from the hub's
//! injected clock), so expiry, grace periods and durations are tested without
//! sleeping. The hub wires these pieces to the database, the bus, the `/ws`
//! gateway and (later) the media server:
//!
//! - [`visit`]: the visit, its participants and the state machine. Commands
//!   return the new visit and the events to store and publish, or an error
//!   with a stable code.
//! - [`grants`]: short-lived signed media grants (which visit, which
//!   participant, which role, what it may send and receive).
//! - [`link`]: visit links for patients without an account: a random token of
//!   which only a hash is stored.
//! - [`ice`]: the ICE server list handed to browsers, with time-limited TURN
//!   credentials in the coturn REST format.
//!
//! Every error type has `code()`, a stable snake_case string for API and
//! protocol answers; `Display` is a human sentence that never holds a secret.
//!
//! # A visit from link to end
//!
//! ```
//! use std::time::Duration;
//! use signaling::{ParticipantId, VisitId};
//! use signaling::grants::GrantSigner;
//! use signaling::ice::{IceConfig, IceServerProvider, TurnSecret};
//! use signaling::link::{link_url, LinkHash, VisitLink};
//! use signaling::visit::{Actor, NewParticipant, Role, Visit, VisitPolicy, VisitState};
//!
//! let start = 1_800_000_000_000; // the appointment's start, ms since the epoch
//! let (host, patient) = (ParticipantId::from("h-1"), ParticipantId::from("p-1"));
//! let people = vec![
//!     NewParticipant { id: host.clone(), role: Role::Host, user_id: Some("u-doc".into()) },
//!     NewParticipant { id: patient.clone(), role: Role::Patient, user_id: None },
//! ];
//! // Booking a video appointment creates the visit (store it and its event).
//! let created = Visit::create(VisitId::from("v-1"), start, people, &Actor::System, start - 86_400_000)?;
//!
//! // The patient gets a link; only its hash is stored.
//! let issued = VisitLink::issue(created.visit.id.clone(), patient.clone(), start + 7_200_000, start - 86_400_000)?;
//! let url = link_url("https://care.example.org", &issued.token);
//! assert!(url.starts_with("https://care.example.org/visit#t="));
//!
//! // The page sends the token; the hub looks the row up by hash and redeems it.
//! let token = issued.token.expose();
//! let _row_key = LinkHash::of_token(token)?;
//! let who = issued.link.redeem(token, start - 60_000)?;
//!
//! // The patient waits, the clinician admits: the visit is live.
//! let me = Actor::participant(who.participant_id.clone(), Role::Patient);
//! let waiting = created.visit.join(&me, &VisitPolicy::default(), start - 60_000)?;
//! let live = waiting.visit.admit(&Actor::participant(host.clone(), Role::Host), &patient, start)?;
//! assert_eq!(live.visit.state, VisitState::Live);
//! assert_eq!(live.events.len(), 2); // started, admitted
//!
//! // Admitted: a media grant and the ICE servers.
//! let p = live.visit.check_media_access(&patient)?;
//! let signer = GrantSigner::new(&[7u8; 32], Duration::from_secs(600))?;
//! let grant = signer.issue(&live.visit.id, &p.id, p.role, start)?;
//! assert!(signer.verify(&grant.token, &live.visit.id, start + 1_000)?.can_publish);
//! let ice = IceServerProvider::new(&IceConfig {
//!     turn_urls: vec!["turn:turn.care.example:3478".into()],
//!     turn_secret: Some(TurnSecret::new("shared-with-coturn")),
//!     ..IceConfig::default()
//! })?;
//! assert_eq!(ice.ice_servers(&patient, start).ice_servers.len(), 1);
//!
//! let ended = live.visit.end(&Actor::participant(host, Role::Host), start + 900_000)?;
//! assert_eq!(ended.events[0].kind.name(), "visit.ended");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod grants;
pub mod ice;
mod ids;
pub mod link;
mod time;
pub mod visit;

pub use ids::{ParticipantId, VisitId};
