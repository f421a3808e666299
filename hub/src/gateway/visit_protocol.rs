//! The `visit_*` requests of `/ws` (docs/visits.md): parsed strictly, like every other
//! request, so a malformed frame is refused before anything is looked up.

use serde::Deserialize;
use serde_json::Value;

use super::protocol::ProtocolError;

/// A parsed visit request. Every one names its visit.
#[derive(Debug, Clone, PartialEq)]
pub enum VisitRequest {
    Join {
        visit: String,
    },
    Admit {
        visit: String,
        participant: String,
    },
    Decline {
        visit: String,
        participant: String,
    },
    Start {
        visit: String,
    },
    Offer {
        visit: String,
        grant: String,
        sdp: String,
    },
    Answer {
        visit: String,
        sdp: String,
    },
    Candidate {
        visit: String,
        candidate: Value,
    },
    Media {
        visit: String,
        audio: bool,
        video: bool,
        screen: bool,
    },
    Leave {
        visit: String,
    },
    End {
        visit: String,
    },
}

impl VisitRequest {
    pub fn visit(&self) -> &str {
        match self {
            Self::Join { visit }
            | Self::Admit { visit, .. }
            | Self::Decline { visit, .. }
            | Self::Start { visit }
            | Self::Offer { visit, .. }
            | Self::Answer { visit, .. }
            | Self::Candidate { visit, .. }
            | Self::Media { visit, .. }
            | Self::Leave { visit }
            | Self::End { visit } => visit,
        }
    }
}

/// The largest SDP accepted (a browser's offer with a few tracks is 3–8 KiB).
const MAX_SDP_BYTES: usize = 32 * 1024;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Fields {
    #[serde(rename = "id")]
    _id: Value,
    #[serde(rename = "type")]
    _type: Value,
    visit: String,
    participant: Option<String>,
    grant: Option<String>,
    sdp: Option<String>,
    candidate: Option<Value>,
    audio: Option<bool>,
    video: Option<bool>,
    screen: Option<bool>,
}

impl Fields {
    /// Names of the optional fields that are present.
    fn present(&self) -> Vec<&'static str> {
        [
            ("participant", self.participant.is_some()),
            ("grant", self.grant.is_some()),
            ("sdp", self.sdp.is_some()),
            ("candidate", self.candidate.is_some()),
            ("audio", self.audio.is_some()),
            ("video", self.video.is_some()),
            ("screen", self.screen.is_some()),
        ]
        .into_iter()
        .filter_map(|(name, on)| on.then_some(name))
        .collect()
    }
}

fn invalid(message: impl Into<String>) -> ProtocolError {
    ProtocolError::new("invalid_request", message)
}

/// Parses a frame whose `type` starts with `visit_`.
pub fn parse(kind: &str, value: Value) -> Result<VisitRequest, ProtocolError> {
    // The message names the field, never the value (`error_text`).
    let f: Fields = crate::error_text::from_json_value(value).map_err(invalid)?;
    if f.visit.is_empty() || f.visit.len() > 64 {
        return Err(invalid("visit must be a visit id"));
    }
    let allowed: &[&str] = match kind {
        "visit_join" | "visit_start" | "visit_leave" | "visit_end" => &[],
        "visit_admit" | "visit_decline" => &["participant"],
        "visit_offer" => &["grant", "sdp"],
        "visit_answer" => &["sdp"],
        "visit_candidate" => &["candidate"],
        "visit_media" => &["audio", "video", "screen"],
        _ => return Err(ProtocolError::new("unknown_type", "unknown request type")),
    };
    if let Some(extra) = f.present().into_iter().find(|p| !allowed.contains(p)) {
        return Err(invalid(format!("{kind} takes no {extra}")));
    }
    let need =
        |v: Option<String>, name: &str| v.ok_or_else(|| invalid(format!("{name} is required")));
    let sdp = |v: Option<String>| {
        let s = need(v, "sdp")?;
        if s.len() > MAX_SDP_BYTES {
            return Err(ProtocolError::new("invalid_sdp", "the SDP is too large"));
        }
        if !s.starts_with("v=0") {
            return Err(ProtocolError::new(
                "invalid_sdp",
                "the SDP must start with v=0",
            ));
        }
        Ok(s)
    };
    let visit = f.visit;
    Ok(match kind {
        "visit_join" => VisitRequest::Join { visit },
        "visit_start" => VisitRequest::Start { visit },
        "visit_leave" => VisitRequest::Leave { visit },
        "visit_end" => VisitRequest::End { visit },
        "visit_admit" => VisitRequest::Admit {
            visit,
            participant: need(f.participant, "participant")?,
        },
        "visit_decline" => VisitRequest::Decline {
            visit,
            participant: need(f.participant, "participant")?,
        },
        "visit_offer" => VisitRequest::Offer {
            visit,
            grant: need(f.grant, "grant")?,
            sdp: sdp(f.sdp)?,
        },
        "visit_answer" => VisitRequest::Answer {
            visit,
            sdp: sdp(f.sdp)?,
        },
        "visit_candidate" => match f.candidate {
            Some(c @ Value::Object(_)) => VisitRequest::Candidate {
                visit,
                candidate: c,
            },
            _ => {
                return Err(ProtocolError::new(
                    "invalid_candidate",
                    "candidate must be an object {candidate, sdpMid, sdpMLineIndex}",
                ));
            }
        },
        _ => VisitRequest::Media {
            visit,
            audio: f.audio.ok_or_else(|| invalid("audio is required"))?,
            video: f.video.ok_or_else(|| invalid("video is required"))?,
            screen: f.screen.unwrap_or(false),
        },
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn p(v: Value) -> Result<VisitRequest, ProtocolError> {
        let kind = v["type"].as_str().unwrap().to_owned();
        parse(&kind, v)
    }

    #[test]
    fn each_request_parses_with_its_fields() {
        assert_eq!(
            p(json!({"id": 1, "type": "visit_join", "visit": "v"})).unwrap(),
            VisitRequest::Join { visit: "v".into() }
        );
        assert_eq!(
            p(json!({"id": 1, "type": "visit_admit", "visit": "v", "participant": "p"})).unwrap(),
            VisitRequest::Admit {
                visit: "v".into(),
                participant: "p".into()
            }
        );
        assert!(matches!(
            p(
                json!({"id": 1, "type": "visit_offer", "visit": "v", "grant": "g", "sdp": "v=0\r\n"})
            ),
            Ok(VisitRequest::Offer { .. })
        ));
        assert!(matches!(
            p(json!({"id": 1, "type": "visit_media", "visit": "v", "audio": true, "video": false})),
            Ok(VisitRequest::Media { screen: false, .. })
        ));
    }

    #[test]
    fn malformed_requests_are_refused_with_stable_codes() {
        let code = |v| p(v).unwrap_err().code;
        assert_eq!(
            code(json!({"id": 1, "type": "visit_join"})),
            "invalid_request"
        );
        assert_eq!(
            code(json!({"id": 1, "type": "visit_join", "visit": "v", "sdp": "v=0"})),
            "invalid_request"
        );
        assert_eq!(
            code(json!({"id": 1, "type": "visit_admit", "visit": "v"})),
            "invalid_request"
        );
        assert_eq!(
            code(
                json!({"id": 1, "type": "visit_offer", "visit": "v", "grant": "g", "sdp": "hello"})
            ),
            "invalid_sdp"
        );
        assert_eq!(
            code(
                json!({"id": 1, "type": "visit_offer", "visit": "v", "grant": "g", "sdp": format!("v=0{}", "a".repeat(40_000))})
            ),
            "invalid_sdp"
        );
        assert_eq!(
            code(json!({"id": 1, "type": "visit_candidate", "visit": "v", "candidate": "x"})),
            "invalid_candidate"
        );
        assert_eq!(
            code(json!({"id": 1, "type": "visit_fly", "visit": "v"})),
            "unknown_type"
        );
        assert_eq!(
            code(json!({"id": 1, "type": "visit_join", "visit": ""})),
            "invalid_request"
        );
    }
}
