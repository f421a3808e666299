//! The media worker's error, with a stable code per kind (as in `signaling`).

use thiserror::Error;

/// Every failure a caller of the SFU (or of the control socket) can see.
#[derive(Debug, Error)]
pub enum MediaError {
    /// No room with that id exists on this worker.
    #[error("no room {0:?} on this media worker")]
    UnknownRoom(String),
    /// A room with that id already exists.
    #[error("room {0:?} already exists")]
    RoomExists(String),
    /// The room has been closed; nobody can join it any more.
    #[error("room {0:?} is closed")]
    RoomClosed(String),
    /// No participant with that id is in the room.
    #[error("no participant {0:?} in this room")]
    UnknownParticipant(String),
    /// The participant id is already in the room (leave first to rejoin).
    #[error("participant {0:?} is already in this room")]
    AlreadyJoined(String),
    /// The SDP could not be parsed or was refused by the WebRTC stack.
    #[error("invalid SDP: {0}")]
    InvalidSdp(String),
    /// An ICE candidate could not be parsed or applied.
    #[error("invalid ICE candidate: {0}")]
    InvalidCandidate(String),
    /// An answer arrived but no offer from the SFU is waiting for one.
    #[error("no offer is waiting for an answer from participant {0:?}")]
    NoOfferPending(String),
    /// The control request was not understood.
    #[error("bad request: {0}")]
    BadRequest(String),
    /// The WebRTC stack failed in a way the caller cannot fix.
    #[error("media failure: {0}")]
    WebRtc(String),
}

impl MediaError {
    /// A stable snake_case code for protocol answers.
    pub fn code(&self) -> &'static str {
        match self {
            MediaError::UnknownRoom(_) => "unknown_room",
            MediaError::RoomExists(_) => "room_exists",
            MediaError::RoomClosed(_) => "room_closed",
            MediaError::UnknownParticipant(_) => "unknown_participant",
            MediaError::AlreadyJoined(_) => "already_joined",
            MediaError::InvalidSdp(_) => "invalid_sdp",
            MediaError::InvalidCandidate(_) => "invalid_candidate",
            MediaError::NoOfferPending(_) => "no_offer_pending",
            MediaError::BadRequest(_) => "bad_request",
            MediaError::WebRtc(_) => "media_failure",
        }
    }
}

impl From<webrtc::error::Error> for MediaError {
    fn from(e: webrtc::error::Error) -> Self {
        MediaError::WebRtc(e.to_string())
    }
}

/// Result alias for the crate.
pub type Result<T> = std::result::Result<T, MediaError>;
