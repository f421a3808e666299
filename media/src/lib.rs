//! HealthBridge media worker: a selective forwarding unit on webrtc 0.21 ([`sfu`]), driven
//! over ZeroMQ request/reply ([`control`]).

pub mod control;
pub mod error;
pub mod sfu;

pub use error::{MediaError, Result};
pub use sfu::{LiveCounters, ParticipantStats, PendingSignal, Room, Sfu, SfuConfig};
/// The candidate type of [`Room::add_candidate`] (browser `RTCIceCandidateInit` JSON).
pub use webrtc::peer_connection::RTCIceCandidateInit;
