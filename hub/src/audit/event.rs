//! What a caller says to the audit log.

use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Success,
    Failure,
    Denied,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Failure => "failure",
            Outcome::Denied => "denied",
        }
    }
}

/// One audited action. `details` must hold no secret and no more PHI than needed
/// to understand the event later (ids, not message bodies).
#[derive(Debug, Clone)]
pub struct AuditEvent {
    pub action: &'static str,
    pub outcome: Outcome,
    pub actor_id: Option<String>,
    pub actor_ip: Option<String>,
    pub org_id: Option<String>,
    pub target_type: Option<&'static str>,
    pub target_id: Option<String>,
    pub details: Value,
}

impl AuditEvent {
    pub fn new(action: &'static str, outcome: Outcome) -> Self {
        Self {
            action,
            outcome,
            actor_id: None,
            actor_ip: None,
            org_id: None,
            target_type: None,
            target_id: None,
            details: Value::Object(Default::default()),
        }
    }

    pub fn actor(mut self, user_id: Option<&str>, ip: Option<&str>) -> Self {
        self.actor_id = user_id.map(str::to_owned);
        self.actor_ip = ip.map(str::to_owned);
        self
    }

    pub fn org(mut self, org_id: &str) -> Self {
        self.org_id = Some(org_id.to_owned());
        self
    }

    pub fn target(mut self, kind: &'static str, id: &str) -> Self {
        self.target_type = Some(kind);
        self.target_id = Some(id.to_owned());
        self
    }

    pub fn details(mut self, details: Value) -> Self {
        self.details = details;
        self
    }
}
