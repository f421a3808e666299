//! The OpenAPI 3 document, generated from the handlers' annotations. No UI assets
//! are bundled: point any OpenAPI viewer at `/api/v1/openapi.json`.
//!
//! The error answers every operation can give are added from the route's policy
//! rule and shape ([`document_errors`]) rather than written on each handler, so a
//! new route cannot forget them and generated clients see every 4xx.

use utoipa::{
    Modify, OpenApi,
    openapi::{
        ContentBuilder, Ref, RefOr, ResponseBuilder,
        path::{Operation, ParameterIn},
        security::{HttpAuthScheme, HttpBuilder, SecurityScheme},
    },
};

use super::error::{ErrorBody, ErrorDetail};
use crate::policy::{self, RouteRule};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "HealthBridge hub API",
        description = "The HTTP API of the HealthBridge real-time healthcare hub: accounts and \
                       two-factor sign-in, organizations and roles, case rooms and their history, \
                       scheduling, notifications, video visits and the tamper-evident audit log. \
                       Live traffic (messages, presence, visit signaling) is on the `/ws` WebSocket \
                       described in docs/protocol.md.\n\n\
                       Errors are `{\"error\": {\"code\", \"message\", \"field\"?}}` with stable codes; \
                       messages never repeat the rejected value.",
        contact(name = "HealthBridge", url = "https://github.com/healthbridge/healthbridge"),
        license(name = "MIT", identifier = "MIT")
    ),
    components(schemas(ErrorBody, ErrorDetail)),
    modifiers(&BearerAuth),
    tags(
        (name = "auth", description = "Registration, login, tokens"),
        (name = "mfa", description = "TOTP two-factor authentication"),
        (name = "account", description = "The caller's own account"),
        (name = "admin", description = "Platform administration: disabling and re-enabling accounts"),
        (name = "organizations", description = "Organizations and members' roles"),
        (name = "invites", description = "Invitations to organizations"),
        (name = "audit", description = "The tamper-evident audit log"),
        (name = "scheduling", description = "Appointment types, providers' hours, free slots and appointments"),
        (name = "rooms", description = "Case rooms, direct threads and their history; live traffic is on /ws (docs/protocol.md)"),
        (name = "referrals", description = "Referral of a case to another organization, which accepts (choosing who joins) or declines"),
        (name = "visits", description = "Video visits: create, invite, links, passes; signaling is on /ws (docs/visits.md)"),
    )
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

/// Routes whose failures are throttled per account or address (429 with
/// `Retry-After`).
const THROTTLED: &[&str] = &[
    "/api/v1/auth/login",
    "/api/v1/auth/password",
    "/api/v1/auth/mfa/totp/disable",
];

/// Adds to every operation the error answers its route can give, in the error
/// shape: 401/403 from its policy rule, 404 for path ids, 400/413/415/422 for a
/// JSON body, 400/422 for query parameters, 429 where throttled, and a `default`
/// for the rest (408, 431, 500). Answers a handler documents itself are kept,
/// only given the error schema if they lack one.
pub fn document_errors(doc: &mut utoipa::openapi::OpenApi) {
    for (path, item) in doc.paths.paths.iter_mut() {
        let operations = [
            (axum::http::Method::GET, &mut item.get),
            (axum::http::Method::PUT, &mut item.put),
            (axum::http::Method::POST, &mut item.post),
            (axum::http::Method::DELETE, &mut item.delete),
            (axum::http::Method::PATCH, &mut item.patch),
        ];
        for (method, operation) in operations {
            if let Some(operation) = operation {
                let rule = policy::route_rule(&method, path);
                add_errors(path, rule, operation);
            }
        }
    }
}

fn add_errors(path: &str, rule: Option<RouteRule>, op: &mut Operation) {
    let params = op.parameters.as_deref().unwrap_or_default();
    let in_path = params
        .iter()
        .any(|p| matches!(p.parameter_in, ParameterIn::Path));
    let in_query = params
        .iter()
        .any(|p| matches!(p.parameter_in, ParameterIn::Query));
    let has_body = op.request_body.is_some();
    let public = matches!(rule, Some(RouteRule::Public) | None);
    let mut wanted: Vec<(&str, &str)> = Vec::new();
    if has_body {
        wanted.push(("400", "`malformed_json`: the body is not JSON"));
        wanted.push(("413", "`payload_too_large`"));
        wanted.push((
            "415",
            "`unsupported_media_type`: send `Content-Type: application/json`",
        ));
        wanted.push((
            "422",
            "`invalid_body` (wrong shape; names the field, never the value) or a field's validation code",
        ));
    }
    if in_query {
        wanted.push((
            "400",
            "`invalid_query`: a query parameter cannot be parsed, or is unknown",
        ));
        wanted.push(("422", "a query parameter's validation code"));
    }
    if !public {
        wanted.push(("401", "`unauthenticated` or `token_expired`"));
        if !matches!(rule, Some(RouteRule::Authenticated)) || in_path {
            wanted.push(("403", "`forbidden`: the caller's role does not allow this"));
        }
    }
    if in_path {
        wanted.push((
            "404",
            "`not_found` (or a resource's own code): no such resource for this caller",
        ));
    }
    if THROTTLED.contains(&path) {
        wanted.push((
            "429",
            "`too_many_attempts` or `account_locked`; see `Retry-After`",
        ));
    }
    wanted.push((
        "default",
        "Any other error in the error shape: 408 `request_timeout`, 431 `headers_too_large`, \
         500 `internal_error`",
    ));
    let responses = &mut op.responses.responses;
    for (status, description) in wanted {
        responses
            .entry(status.to_owned())
            .or_insert_with(|| RefOr::T(error_response(description)));
    }
    // Answers a handler listed without a body still carry the error shape.
    for (status, response) in responses.iter_mut() {
        let is_error = status == "default" || status.starts_with('4') || status.starts_with('5');
        if let (true, RefOr::T(response)) = (is_error, response)
            && response.content.is_empty()
        {
            response
                .content
                .insert("application/json".to_owned(), error_content());
        }
    }
}

fn error_content() -> utoipa::openapi::Content {
    ContentBuilder::new()
        .schema(Some(Ref::from_schema_name("ErrorBody")))
        .build()
}

fn error_response(description: &str) -> utoipa::openapi::Response {
    ResponseBuilder::new()
        .description(description)
        .content("application/json", error_content())
        .build()
}
