//! The length limits the validators enforce, written into the OpenAPI request
//! schemas (`minLength`/`maxLength`/`pattern`/`maxItems`) so generated clients
//! and fuzzers know them. The numbers are those of docs/api.md (Limits) and of
//! the domain validators; the system test
//! `the_documented_limits_are_in_the_document_and_enforced` checks that each
//! lands in the document and sends values one past them.

use utoipa::openapi::{RefOr, Schema};

/// A limit on one property of one request schema.
pub struct Limit {
    pub schema: &'static str,
    pub property: &'static str,
    pub min: Option<usize>,
    pub max: usize,
    pub pattern: Option<&'static str>,
}

const fn limit(schema: &'static str, property: &'static str, min: usize, max: usize) -> Limit {
    Limit {
        schema,
        property,
        min: if min == 0 { None } else { Some(min) },
        max,
        pattern: None,
    }
}

/// Emails up to 254 characters, display names 1–100, organization names 2–120,
/// room titles 1–200, new passwords 12–128, a login password up to 1 KiB,
/// message bodies 1–4000 (the default `gateway.max_body_chars`), client ids
/// 1–64 of `[A-Za-z0-9_.:-]`, tokens up to 128, at most 100 initial members.
pub const LIMITS: &[Limit] = &[
    limit("RegisterInput", "email", 0, 254),
    limit("RegisterInput", "password", 12, 128),
    limit("RegisterInput", "display_name", 1, 100),
    limit("LoginInput", "email", 0, 254),
    limit("LoginInput", "password", 0, 1024),
    limit("ChangePasswordInput", "new_password", 12, 128),
    limit("ResetRequest", "email", 0, 254),
    limit("ResetConfirm", "password", 12, 128),
    limit("ResetConfirm", "token", 0, 128),
    limit("RefreshInput", "refresh_token", 0, 128),
    limit("AcceptInviteInput", "token", 0, 128),
    limit("AcceptInviteInput", "display_name", 1, 100),
    limit("AcceptInviteInput", "password", 12, 128),
    limit("MemberInput", "email", 0, 254),
    limit("OrgInput", "name", 2, 120),
    limit("CreateRoomInput", "title", 1, 200),
    limit("CreateRoomInput", "member_ids", 0, 100),
    limit("PublishInput", "body", 1, 4000),
    Limit {
        pattern: Some("^[A-Za-z0-9_.:-]{1,64}$"),
        ..limit("PublishInput", "client_id", 1, 64)
    },
];

/// Writes [`LIMITS`] into the document's component schemas.
pub fn document_limits(doc: &mut utoipa::openapi::OpenApi) {
    let Some(components) = doc.components.as_mut() else {
        return;
    };
    for l in LIMITS {
        let Some(RefOr::T(Schema::Object(object))) = components.schemas.get_mut(l.schema) else {
            continue;
        };
        match object.properties.get_mut(l.property) {
            Some(RefOr::T(Schema::Object(p))) => {
                p.max_length = Some(l.max);
                p.min_length = l.min;
                if let Some(pattern) = l.pattern {
                    p.pattern = Some(pattern.to_owned());
                }
            }
            Some(RefOr::T(Schema::Array(a))) => a.max_items = Some(l.max),
            _ => {}
        }
    }
}
