//! Request middleware: client metadata, authorization through `policy`, error
//! normalization, request ids and metrics.

use std::{net::SocketAddr, time::Instant};

use axum::{
    body::Body,
    extract::{ConnectInfo, MatchedPath, RawPathParams, Request, State},
    http::{HeaderMap, HeaderValue, Method, StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
};
use serde_json::json;

use super::error::error_response;
use crate::{
    accounts::{self, Principal, RequestMeta},
    audit::{self, AuditEvent, Outcome},
    domain::Role,
    error::Error,
    metrics::{RequestLabels, RouteLabels},
    orgs::{OrgContext, parse_role},
    policy::{self, Caller, Decision, RouteRule},
    rooms,
    state::AppState,
    store::orgs,
};

/// Resolves the client address (from `X-Forwarded-For` only when configured to
/// trust a proxy) and user agent once, for audit rows and throttling.
pub async fn client_meta(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip().to_string());
    let forwarded = state
        .config
        .http
        .trust_forwarded_for
        .then(|| {
            req.headers()
                .get("x-forwarded-for")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.split(',').next())
                .map(|v| v.trim().to_owned())
                .filter(|v| v.parse::<std::net::IpAddr>().is_ok())
        })
        .flatten();
    let user_agent = req
        .headers()
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    req.extensions_mut().insert(RequestMeta {
        ip: forwarded.or(peer),
        user_agent,
    });
    next.run(req).await
}

/// The token of an `Authorization: Bearer <token>` header.
pub(super) fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// Applies the route's rule from `policy` before any handler runs. A route
/// without a rule is refused: forgetting to write one cannot open an endpoint.
pub async fn authorize(
    State(state): State<AppState>,
    matched: Option<MatchedPath>,
    params: Result<RawPathParams, axum::extract::rejection::RawPathParamsRejection>,
    mut req: Request,
    next: Next,
) -> Response {
    let route = matched.as_ref().map_or("", |m| m.as_str()).to_owned();
    let Some(rule) = policy::route_rule(req.method(), &route) else {
        // A known route with another method: answer 405 here rather than let the
        // request through to axum's fallback; nothing without a rule runs.
        let allowed = policy::allowed_methods(&route);
        if !allowed.is_empty() {
            let allow = allowed
                .iter()
                .map(Method::as_str)
                .collect::<Vec<_>>()
                .join(", ");
            let mut response = error_response(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "method not allowed on this resource",
                None,
            );
            if let Ok(v) = HeaderValue::from_str(&allow) {
                response.headers_mut().insert(header::ALLOW, v);
            }
            return response;
        }
        tracing::error!(method = %req.method(), route, "route has no policy rule; refused");
        return Error::Forbidden.into_response();
    };

    // Owned copies: nothing borrowed from the request may live across an await
    // (the body is not Sync, so the future would not be Send).
    let token = bearer(req.headers()).map(str::to_owned);
    let method = req.method().as_str().to_owned();
    let meta = req
        .extensions()
        .get::<RequestMeta>()
        .cloned()
        .unwrap_or_default();
    let principal = match token {
        Some(token) => match accounts::authenticate(&state, &token).await {
            Ok(p) => Some(p),
            // A public route works without a token; a bad one is ignored there.
            Err(_) if rule == RouteRule::Public => None,
            Err(e) => return e.into_response(),
        },
        None => None,
    };

    let mut org_ctx = None;
    if let (RouteRule::Org { .. }, Some(p)) = (rule, &principal) {
        let org_id = path_param(&params, "org_id");
        let Some(org_id) = org_id.filter(|id| uuid::Uuid::parse_str(id).is_ok()) else {
            return Error::NotFound("organization").into_response();
        };
        let role = match role_in(&state, &org_id, &p.user_id).await {
            Ok(role) => role,
            Err(e) => return e.into_response(),
        };
        // A platform admin passes the route rule without a role, so an unknown
        // organization must be refused here, not by a foreign key deep inside.
        // Others without a role get 403 from the rule, which reveals nothing.
        if role.is_none() && p.platform_admin {
            match org_exists(&state, &org_id).await {
                Ok(true) => {}
                Ok(false) => return Error::NotFound("organization").into_response(),
                Err(e) => return e.into_response(),
            }
        }
        org_ctx = Some(OrgContext { org_id, role });
    }

    let mut room_ctx = None;
    if let (RouteRule::Room { .. }, Some(p)) = (rule, &principal) {
        let room_id = path_param(&params, "room_id");
        let Some(room_id) = room_id.filter(|id| uuid::Uuid::parse_str(id).is_ok()) else {
            return Error::NotFound("room").into_response();
        };
        match rooms::context(&state, &room_id, &p.user_id).await {
            Ok(Some(ctx)) => room_ctx = Some(ctx),
            Ok(None) => return Error::NotFound("room").into_response(),
            Err(e) => return e.into_response(),
        }
    }

    let caller = Caller {
        authenticated: principal.is_some(),
        platform_admin: principal.as_ref().is_some_and(|p| p.platform_admin),
        org_role: org_ctx.as_ref().and_then(|c| c.role),
        room_member: room_ctx.as_ref().is_some_and(|c| c.standing.member),
        room_care_team: room_ctx.as_ref().is_some_and(|c| c.standing.care_team()),
    };
    match policy::decide(rule, caller) {
        Decision::Allow => {}
        Decision::Unauthenticated => return Error::Unauthenticated.into_response(),
        Decision::Forbidden => {
            let org_id = org_ctx
                .as_ref()
                .map(|c| c.org_id.as_str())
                .or(room_ctx.as_ref().map(|c| c.room.org_id.as_str()));
            audit_denied(&state, &meta, &method, &route, principal.as_ref(), org_id).await;
            return Error::Forbidden.into_response();
        }
    }
    if let Some(p) = principal {
        req.extensions_mut().insert(p);
    }
    if let Some(ctx) = org_ctx {
        req.extensions_mut().insert(ctx);
    }
    if let Some(ctx) = room_ctx {
        req.extensions_mut().insert(ctx);
    }
    next.run(req).await
}

fn path_param(
    params: &Result<RawPathParams, axum::extract::rejection::RawPathParamsRejection>,
    name: &str,
) -> Option<String> {
    params.as_ref().ok().and_then(|ps| {
        ps.iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.to_owned())
    })
}

async fn role_in(state: &AppState, org_id: &str, user_id: &str) -> Result<Option<Role>, Error> {
    let mut conn = state.store.conn().await?;
    orgs::role_of(&mut conn, org_id, user_id)
        .await?
        .map(|r| parse_role(&r))
        .transpose()
}

async fn org_exists(state: &AppState, org_id: &str) -> Result<bool, Error> {
    let mut conn = state.store.conn().await?;
    Ok(orgs::by_id(&mut conn, org_id).await?.is_some())
}

/// Refused access is audited: probing for other organizations' data is exactly
/// what an audit log exists to reveal.
async fn audit_denied(
    state: &AppState,
    meta: &RequestMeta,
    method: &str,
    route: &str,
    principal: Option<&Principal>,
    org_id: Option<&str>,
) {
    let mut event = AuditEvent::new("access.denied", Outcome::Denied)
        .actor(principal.map(|p| p.user_id.as_str()), meta.ip.as_deref())
        .details(json!({ "method": method, "route": route }));
    if let Some(org_id) = org_id {
        event = event.org(org_id);
    }
    let result = async {
        let mut tx = state.store.begin_write().await?;
        audit::append(&mut tx, &event, state.clock.now_ms()).await?;
        tx.commit().await?;
        Ok::<_, anyhow::Error>(())
    }
    .await;
    if let Err(e) = result {
        tracing::error!(error = ?e, "could not audit a denied request");
    }
}

/// Gives every error response the JSON error shape, including those produced
/// outside handlers (unknown route, wrong method, timeout, body limit).
/// A browser navigating to a page that does not exist gets an HTML page instead.
pub async fn json_errors(req: Request, next: Next) -> Response {
    let wants_page = super::not_found::wants_page(req.method(), req.uri(), req.headers());
    let response = next.run(req).await;
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    if status == StatusCode::NOT_FOUND && wants_page {
        return super::not_found::page();
    }
    let (code, message) = match status {
        StatusCode::NOT_FOUND => ("not_found", "no such resource"),
        StatusCode::METHOD_NOT_ALLOWED => {
            ("method_not_allowed", "method not allowed on this resource")
        }
        StatusCode::REQUEST_TIMEOUT => ("request_timeout", "the request took too long"),
        StatusCode::PAYLOAD_TOO_LARGE => ("payload_too_large", "request body is too large"),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => {
            ("unsupported_media_type", "unsupported content type")
        }
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => {
            ("headers_too_large", "request headers are too large")
        }
        s if s.is_server_error() => ("internal_error", "internal error"),
        _ => ("bad_request", "the request could not be processed"),
    };
    let mut normalized = error_response(status, code, message, None);
    if let Some(allow) = response.headers().get(header::ALLOW) {
        normalized
            .headers_mut()
            .insert(header::ALLOW, allow.clone());
    }
    normalized
}

/// Request ids from clients are kept only if they look like ids, so a client
/// cannot inject text into log lines; otherwise a fresh one is generated.
pub async fn sanitize_request_id(mut req: Request, next: Next) -> Response {
    let valid = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            !v.is_empty()
                && v.len() <= 64
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        });
    if !valid {
        req.headers_mut().remove("x-request-id");
    }
    next.run(req).await
}

/// Counts and times requests per route template.
pub async fn record_metrics(
    State(state): State<AppState>,
    req: Request<Body>,
    next: Next,
) -> Response {
    let start = Instant::now();
    let method = req.method().as_str().to_owned();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |m| m.as_str().to_owned());
    let response = next.run(req).await;
    state
        .metrics
        .http_requests
        .get_or_create(&RequestLabels {
            method: method.clone(),
            route: route.clone(),
            status: response.status().as_u16(),
        })
        .inc();
    state
        .metrics
        .http_duration
        .get_or_create(&RouteLabels { method, route })
        .observe(start.elapsed().as_secs_f64());
    response
}

pub fn hsts_value() -> HeaderValue {
    HeaderValue::from_static("max-age=63072000; includeSubDomains")
}
