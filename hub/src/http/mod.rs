//! The HTTP surface: the router, its middleware stack and the OpenAPI document.

pub mod error;
pub mod extract;
mod header_limit;
mod middleware;
mod not_found;
pub mod openapi;
pub mod openapi_limits;
pub mod routes;
pub mod session_cookie;
pub mod web;

use std::time::Duration;

use axum::{
    Router,
    extract::DefaultBodyLimit,
    http::{HeaderName, HeaderValue, Request, StatusCode, header},
    middleware::{from_fn, from_fn_with_state},
    routing::get,
};
use tower_http::{
    limit::RequestBodyLimitLayer,
    request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer},
    set_header::SetResponseHeaderLayer,
    timeout::TimeoutLayer,
    trace::TraceLayer,
};
use utoipa::OpenApi;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::state::AppState;
use routes::{
    admin, auth, health, me, notifications, org_admin, orgs, referrals, rooms, scheduling,
    sessions, visits,
};

/// The API routes with their OpenAPI description. Every route goes through
/// `routes!`, so the document and the router are one list; the authorization
/// matrix test walks this document.
pub fn api_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(auth::register))
        .routes(routes!(auth::login))
        .routes(routes!(auth::refresh))
        .routes(routes!(auth::logout))
        .routes(routes!(sessions::logout_everywhere))
        .routes(routes!(auth::change_password))
        .routes(routes!(auth::enrol_totp))
        .routes(routes!(auth::confirm_totp))
        .routes(routes!(auth::disable_totp))
        .routes(routes!(me::me, me::patch_me))
        .routes(routes!(sessions::list_sessions))
        .routes(routes!(sessions::delete_session))
        .routes(routes!(admin::disable_user))
        .routes(routes!(admin::enable_user))
        .routes(routes!(
            admin::list_platform_admins,
            admin::add_platform_admin
        ))
        .routes(routes!(admin::remove_platform_admin))
        .routes(routes!(admin::organizations))
        .routes(routes!(orgs::create_org, orgs::list_orgs))
        .routes(routes!(orgs::get_org, orgs::rename_org))
        .routes(routes!(orgs::list_members, orgs::add_member))
        .routes(routes!(orgs::change_role, orgs::remove_member))
        .routes(routes!(orgs::list_invites, orgs::create_invite))
        .routes(routes!(orgs::revoke_invite))
        .routes(routes!(orgs::accept_invite))
        .routes(routes!(org_admin::org_audit))
        .routes(routes!(org_admin::audit_verification))
        .routes(routes!(org_admin::disable_member))
        .routes(routes!(org_admin::enable_member))
        .routes(routes!(org_admin::org_admins))
        .routes(routes!(org_admin::retry_notification))
        .routes(routes!(rooms::create_room))
        .routes(routes!(rooms::list_rooms))
        .routes(routes!(rooms::get_room))
        .routes(routes!(rooms::history, rooms::publish))
        .routes(routes!(rooms::add_member))
        .routes(routes!(rooms::remove_member))
        .routes(routes!(referrals::refer, referrals::room_referrals))
        .routes(routes!(referrals::withdraw))
        .routes(routes!(referrals::incoming))
        .routes(routes!(referrals::accept))
        .routes(routes!(referrals::decline))
        .routes(routes!(referrals::targets))
        .routes(routes!(scheduling::list_types, scheduling::create_type))
        .routes(routes!(
            scheduling::get_availability,
            scheduling::set_availability
        ))
        .routes(routes!(
            scheduling::add_exception,
            scheduling::list_exceptions
        ))
        .routes(routes!(scheduling::delete_exception))
        .routes(routes!(scheduling::search_slots))
        .routes(routes!(scheduling::book))
        .routes(routes!(scheduling::cancel))
        .routes(routes!(scheduling::reschedule))
        .routes(routes!(scheduling::my_appointments))
        .routes(routes!(scheduling::list_providers))
        .routes(routes!(scheduling::rotate_feed, scheduling::revoke_feed))
        .routes(routes!(
            notifications::get_settings,
            notifications::put_settings
        ))
        .routes(routes!(notifications::my_notifications))
        .routes(routes!(notifications::verify_email))
        .routes(routes!(notifications::resend_verification))
        .routes(routes!(notifications::request_reset))
        .routes(routes!(notifications::confirm_reset))
        .routes(routes!(
            notifications::get_org_settings,
            notifications::put_org_settings
        ))
        .routes(routes!(notifications::org_notifications))
        .routes(routes!(notifications::send_alert))
        .routes(routes!(visits::create_visit))
        .routes(routes!(visits::list_visits))
        .routes(routes!(visits::get_visit))
        .routes(routes!(visits::invite))
        .routes(routes!(visits::new_link))
        .routes(routes!(visits::revoke_links))
        .routes(routes!(visits::cancel_visit))
        .routes(routes!(visits::redeem))
        .routes(routes!(notifications::twilio_status))
        .routes(routes!(notifications::twilio_inbound))
}

/// The API routes under `/api/v1` and the OpenAPI document describing them,
/// split from one list so they cannot disagree. The document's `info` (title,
/// version, licence) is the product's: the outer router carries `ApiDoc`, since
/// nesting keeps the outer document's `info`.
fn versioned_api() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    let (router, mut doc) = OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .nest("/api/v1", api_router())
        .split_for_parts();
    openapi::document_errors(&mut doc);
    openapi_limits::document_limits(&mut doc);
    (router, doc)
}

/// The API's OpenAPI document, with `/api/v1` in every path.
pub fn openapi_document() -> utoipa::openapi::OpenApi {
    versioned_api().1
}

/// The complete application: API, probes, metrics and the middleware stack.
pub fn app(state: AppState) -> Router {
    let (api, doc) = versioned_api();
    let doc_json = std::sync::Arc::new(doc.to_pretty_json().unwrap_or_default());
    let api = api.route_layer(from_fn_with_state(state.clone(), middleware::authorize));
    let http = &state.config.http;
    let x_request_id = HeaderName::from_static("x-request-id");
    let trace = TraceLayer::new_for_http()
        .make_span_with(|req: &Request<_>| {
            let request_id = req
                .headers()
                .get("x-request-id")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("-");
            // The path is logged without its query string (queries can carry tokens),
            // and a calendar feed's path without its secret.
            let path = req.uri().path();
            let path = if path.starts_with("/calendar/") {
                "/calendar/…"
            } else {
                path
            };
            tracing::info_span!("request", id = %request_id, method = %req.method(), path = %path)
        })
        .on_response(tower_http::trace::DefaultOnResponse::new().level(tracing::Level::INFO));

    let mut router = api
        .route(
            "/api/v1/openapi.json",
            get(move || {
                let doc = doc_json.clone();
                async move { ([(header::CONTENT_TYPE, "application/json")], (*doc).clone()) }
            }),
        )
        // Outside the authorization layer: a socket authenticates in its first
        // frame (docs/protocol.md), never with a token in the URL.
        .route("/ws", get(crate::gateway::ws_handler))
        .route("/calendar/{secret}", get(scheduling::calendar_feed))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(health::metrics))
        // The console's static pages: outside the API policy, with their own CSP.
        .merge(web::routes())
        // Innermost first: each `.layer` wraps everything above it.
        .layer(from_fn_with_state(
            state.clone(),
            middleware::record_metrics,
        ))
        .layer(from_fn_with_state(state.clone(), middleware::client_meta))
        .layer(DefaultBodyLimit::max(http.body_limit_bytes))
        .layer(RequestBodyLimitLayer::new(http.body_limit_bytes))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(http.request_timeout_secs),
        ))
        .layer(from_fn(middleware::json_errors))
        .layer(from_fn_with_state(
            state.clone(),
            header_limit::limit_headers,
        ))
        .layer(PropagateRequestIdLayer::new(x_request_id.clone()))
        .layer(trace)
        .layer(SetRequestIdLayer::new(x_request_id, MakeRequestUuid))
        .layer(from_fn(middleware::sanitize_request_id));
    router = with_security_headers(router);
    if state.config.tls.is_some() {
        router = router.layer(SetResponseHeaderLayer::if_not_present(
            header::STRICT_TRANSPORT_SECURITY,
            middleware::hsts_value(),
        ));
    }
    router.with_state(state)
}

/// Headers every response carries. API responses can hold patient data, so
/// nothing may be cached, framed or sniffed.
fn with_security_headers(router: Router<AppState>) -> Router<AppState> {
    let headers: [(HeaderName, &'static str); 6] = [
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "no-referrer"),
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; frame-ancestors 'none'",
        ),
        (header::CACHE_CONTROL, "no-store"),
        (
            HeaderName::from_static("cross-origin-resource-policy"),
            "same-origin",
        ),
    ];
    headers.into_iter().fold(router, |router, (name, value)| {
        router.layer(SetResponseHeaderLayer::if_not_present(
            name,
            HeaderValue::from_static(value),
        ))
    })
}
