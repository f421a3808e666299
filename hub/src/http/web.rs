//! The clinician console: the files of the workspace's `web/` folder, embedded
//! in the binary so the hub serves them from any working directory.
//!
//! `/` is the sign-in page; `/signup` (sign up, and the email verification
//! link), `/forgot` (the password reset link), `/invite` and `/visit` are where
//! account mail, organization invites and visit invitations link to (`/account`
//! forwards links from older mail); everything else is under `/web/`. Only the files in
//! [`ASSETS`] exist: the lookup is an exact match on the table, so no path can
//! reach the file system. Responses carry a Content-Security-Policy that allows
//! exactly what the pages use (same-origin scripts, styles, images, `fetch` and
//! the `/ws` WebSocket), `Cache-Control: no-cache` with an `ETag`, so a new
//! build is picked up at once while unchanged files cost a 304.

use std::sync::LazyLock;

use axum::{
    Router,
    extract::Path,
    http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};
use sha2::{Digest, Sha256};

use crate::state::AppState;

/// What the console pages need, and nothing else. `connect-src 'self'` also
/// covers the same-origin `ws:`/`wss:` URL of `/ws` (CSP level 3).
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; connect-src 'self'; img-src 'self'; form-action 'self'; \
     frame-ancestors 'none'; base-uri 'none'";

/// Most pages use no device APIs.
const PERMISSIONS_POLICY: &str = "camera=(), microphone=(), geolocation=(), payment=(), usb=()";

/// The two video visit pages (the patient's `visit.html` and the clinician's
/// `visits.html`) use the camera, the microphone and screen sharing, from this
/// origin only (no frame may; `frame-ancestors 'none'` forbids framing anyway).
const VISIT_PERMISSIONS_POLICY: &str = "camera=(self), microphone=(self), \
     display-capture=(self), geolocation=(), payment=(), usb=()";

/// The pages that may ask for camera and microphone.
const VISIT_PAGES: &[&str] = &["visit.html", "visits.html"];

fn permissions_policy(path: &str) -> &'static str {
    if VISIT_PAGES.contains(&path) {
        VISIT_PERMISSIONS_POLICY
    } else {
        PERMISSIONS_POLICY
    }
}

const HTML: &str = "text/html; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
const SVG: &str = "image/svg+xml";

/// One embedded file: its path under `web/`, its content type and its bytes.
pub struct Asset {
    pub path: &'static str,
    pub content_type: &'static str,
    pub bytes: &'static [u8],
}

macro_rules! asset {
    ($path:literal, $content_type:expr) => {
        Asset {
            path: $path,
            content_type: $content_type,
            bytes: include_bytes!(concat!("../../../web/", $path)),
        }
    };
}

/// Every file of `web/`. A unit test fails when a file there is missing here.
pub static ASSETS: &[Asset] = &[
    asset!("index.html", HTML),
    asset!("app.html", HTML),
    asset!("account.html", HTML),
    asset!("signup.html", HTML),
    asset!("forgot.html", HTML),
    asset!("settings.html", HTML),
    asset!("visit.html", HTML),
    asset!("visits.html", HTML),
    asset!("invite.html", HTML),
    asset!("portal.html", HTML),
    asset!("monitor.html", HTML),
    asset!("schedule.html", HTML),
    asset!("admin.html", HTML),
    asset!("audit.html", HTML),
    asset!("platform.html", HTML),
    asset!("favicon.svg", SVG),
    asset!("css/app.css", CSS),
    asset!("css/portal.css", CSS),
    asset!("css/monitor.css", CSS),
    asset!("css/admin.css", CSS),
    asset!("css/console.css", CSS),
    asset!("css/account.css", CSS),
    asset!("js/api.js", JS),
    asset!("js/admin/admin.js", JS),
    asset!("js/admin/audit.js", JS),
    asset!("js/admin/audit-labels.js", JS),
    asset!("js/admin/failed.js", JS),
    asset!("js/admin/invites.js", JS),
    asset!("js/admin/members.js", JS),
    asset!("js/admin/org-pick.js", JS),
    asset!("js/admin/platform.js", JS),
    asset!("js/admin/settings.js", JS),
    asset!("js/admin/ui.js", JS),
    asset!("js/account.js", JS),
    asset!("js/devices.js", JS),
    asset!("js/invite.js", JS),
    asset!("js/dom.js", JS),
    asset!("js/forgot.js", JS),
    asset!("js/signup.js", JS),
    asset!("js/settings/main.js", JS),
    asset!("js/settings/profile.js", JS),
    asset!("js/settings/password.js", JS),
    asset!("js/settings/mfa.js", JS),
    asset!("js/settings/sessions.js", JS),
    asset!("js/settings/notifications.js", JS),
    asset!("js/settings/calendar.js", JS),
    asset!("js/settings/form.js", JS),
    asset!("js/live.js", JS),
    asset!("js/login.js", JS),
    asset!("js/messages.js", JS),
    asset!("js/monitor/format.js", JS),
    asset!("js/monitor/page.js", JS),
    asset!("js/monitor/render.js", JS),
    asset!("js/shell.js", JS),
    asset!("js/visit-call.js", JS),
    asset!("js/visit-media.js", JS),
    asset!("js/visit.js", JS),
    asset!("js/visits.js", JS),
    asset!("js/console/agenda.js", JS),
    asset!("js/console/composer.js", JS),
    asset!("js/console/hours.js", JS),
    asset!("js/console/leave.js", JS),
    asset!("js/console/schedule-page.js", JS),
    asset!("js/console/incoming.js", JS),
    asset!("js/console/linkify.js", JS),
    asset!("js/console/message-list.js", JS),
    asset!("js/console/notices.js", JS),
    asset!("js/console/room-admin.js", JS),
    asset!("js/console/room-list.js", JS),
    asset!("js/console/room-view.js", JS),
    asset!("js/console/rooms-page.js", JS),
    asset!("js/console/toasts.js", JS),
    asset!("js/console/visit-controls.js", JS),
    asset!("js/portal/appointments.js", JS),
    asset!("js/portal/booking.js", JS),
    asset!("js/portal/inbox.js", JS),
    asset!("js/portal/portal.js", JS),
    asset!("js/portal/threads.js", JS),
    asset!("js/portal/time.js", JS),
];

/// Strong validators, one per asset (same order as `ASSETS`).
static ETAGS: LazyLock<Vec<HeaderValue>> = LazyLock::new(|| {
    ASSETS
        .iter()
        .map(|a| {
            let digest = Sha256::digest(a.bytes);
            HeaderValue::from_str(&format!("\"{}\"", hex::encode(&digest[..16])))
                .expect("hex is a valid header value")
        })
        .collect()
});

/// `/` (the sign-in page) and `/web/{path}`.
pub fn routes() -> Router<AppState> {
    router()
}

fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/", get(index))
        // Sign up, and the email verification link (`/signup#verify=<token>`).
        .route("/signup", get(signup))
        // Forgot password, and the reset link (`/forgot#reset=<token>`).
        .route("/forgot", get(forgot))
        // Links in account mail sent before those two pages (forwarded there).
        .route("/account", get(account))
        // Visit links (`/visit#t=<token>`, docs/visits.md).
        .route("/visit", get(visit))
        // Organization invites (`/invite#token=<token>`, docs/api.md).
        .route("/invite", get(invite))
        .route("/web/{*path}", get(file))
}

async fn index(headers: HeaderMap) -> Response {
    serve("index.html", &headers)
}

async fn signup(headers: HeaderMap) -> Response {
    serve("signup.html", &headers)
}

async fn forgot(headers: HeaderMap) -> Response {
    serve("forgot.html", &headers)
}

async fn account(headers: HeaderMap) -> Response {
    serve("account.html", &headers)
}

async fn visit(headers: HeaderMap) -> Response {
    serve("visit.html", &headers)
}

async fn invite(headers: HeaderMap) -> Response {
    serve("invite.html", &headers)
}

async fn file(Path(path): Path<String>, headers: HeaderMap) -> Response {
    serve(&path, &headers)
}

fn serve(path: &str, request: &HeaderMap) -> Response {
    let Some(index) = ASSETS.iter().position(|a| a.path == path) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let asset = &ASSETS[index];
    let etag = &ETAGS[index];
    let fresh = request
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',')
                .any(|t| t.trim() == "*" || t.trim().trim_start_matches("W/") == etag)
        });
    let mut response = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static(asset.content_type),
            )],
            asset.bytes,
        )
            .into_response()
    };
    let headers = response.headers_mut();
    headers.insert(header::ETAG, etag.clone());
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        HeaderName::from_static("cross-origin-opener-policy"),
        HeaderValue::from_static("same-origin"),
    );
    headers.insert(
        HeaderName::from_static("permissions-policy"),
        HeaderValue::from_static(permissions_policy(asset.path)),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

#[cfg(test)]
mod tests {
    use std::path::{Path as FsPath, PathBuf};

    use axum::body::{Body, to_bytes};
    use axum::http::Request;
    use tower::ServiceExt;

    use super::*;

    async fn get(path: &str, if_none_match: Option<&str>) -> (StatusCode, HeaderMap, Vec<u8>) {
        let mut req = Request::get(path);
        if let Some(tag) = if_none_match {
            req = req.header(header::IF_NONE_MATCH, tag);
        }
        let resp = router::<()>()
            .oneshot(req.body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = resp.status();
        let headers = resp.headers().clone();
        let body = to_bytes(resp.into_body(), usize::MAX).await.unwrap();
        (status, headers, body.to_vec())
    }

    fn web_dir() -> PathBuf {
        FsPath::new(env!("CARGO_MANIFEST_DIR")).join("../web")
    }

    fn files_under(dir: &FsPath, prefix: &str, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let entry = entry.unwrap();
            let name = entry.file_name().into_string().unwrap();
            let path = format!("{prefix}{name}");
            if entry.file_type().unwrap().is_dir() {
                files_under(&entry.path(), &format!("{path}/"), out);
            } else {
                out.push(path);
            }
        }
    }

    fn expected_type(path: &str) -> &'static str {
        match path.rsplit('.').next() {
            Some("html") => "text/html; charset=utf-8",
            Some("js") => "text/javascript; charset=utf-8",
            Some("css") => "text/css; charset=utf-8",
            Some("svg") => "image/svg+xml",
            other => panic!("no content type known for {other:?}"),
        }
    }

    #[tokio::test]
    async fn every_embedded_file_is_served_with_its_type_and_headers() {
        for asset in ASSETS {
            let (status, headers, body) = get(&format!("/web/{}", asset.path), None).await;
            assert_eq!(status, StatusCode::OK, "{}", asset.path);
            assert_eq!(
                headers[header::CONTENT_TYPE],
                expected_type(asset.path),
                "{}",
                asset.path
            );
            assert_eq!(body, asset.bytes, "{}", asset.path);
            assert_eq!(
                headers[header::CONTENT_SECURITY_POLICY],
                CONTENT_SECURITY_POLICY
            );
            assert_eq!(headers[header::CACHE_CONTROL], "no-cache");
            assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
            assert!(headers.contains_key(header::ETAG));
        }
    }

    #[tokio::test]
    async fn root_is_the_sign_in_page() {
        let (status, headers, body) = get("/", None).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(headers[header::CONTENT_TYPE], "text/html; charset=utf-8");
        assert_eq!(
            headers[header::CONTENT_SECURITY_POLICY],
            CONTENT_SECURITY_POLICY
        );
        let text = String::from_utf8(body).unwrap();
        assert!(text.contains("id=\"login-form\""), "{text}");
    }

    #[test]
    fn the_policy_allows_exactly_what_the_pages_need() {
        let directives: Vec<&str> = CONTENT_SECURITY_POLICY.split(';').map(str::trim).collect();
        assert_eq!(
            directives,
            [
                "default-src 'none'",
                "script-src 'self'",
                "style-src 'self'",
                "connect-src 'self'",
                "img-src 'self'",
                "form-action 'self'",
                "frame-ancestors 'none'",
                "base-uri 'none'",
            ]
        );
    }

    #[tokio::test]
    async fn only_the_visit_pages_may_use_camera_and_microphone() {
        let (status, headers, body) = get("/visit", None).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            headers["permissions-policy"],
            "camera=(self), microphone=(self), display-capture=(self), geolocation=(), \
             payment=(), usb=()"
        );
        assert!(String::from_utf8(body).unwrap().contains("id=\"check\""));
        let (_, headers, _) = get("/web/visits.html", None).await;
        assert_eq!(headers["permissions-policy"], VISIT_PERMISSIONS_POLICY);
        for path in ["/", "/account", "/web/app.html", "/web/js/visit.js"] {
            let (_, headers, _) = get(path, None).await;
            assert_eq!(
                headers["permissions-policy"], PERMISSIONS_POLICY,
                "{path} must not get camera or microphone"
            );
        }
    }

    #[tokio::test]
    async fn unknown_paths_are_not_found() {
        for path in [
            "/web/missing.js",
            "/web/js/",
            "/web/js/../index.html",
            "/web/%2e%2e/Cargo.toml",
            "/web/../Cargo.toml",
            "/web/INDEX.HTML",
            "/web/index.html/",
            "/index.html",
        ] {
            let (status, _, _) = get(path, None).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        }
    }

    #[tokio::test]
    async fn a_matching_etag_gets_not_modified() {
        let (_, headers, _) = get("/web/js/live.js", None).await;
        let etag = headers[header::ETAG].to_str().unwrap().to_owned();
        let (status, headers, body) = get("/web/js/live.js", Some(&etag)).await;
        assert_eq!(status, StatusCode::NOT_MODIFIED);
        assert!(body.is_empty());
        assert_eq!(
            headers[header::CONTENT_SECURITY_POLICY],
            CONTENT_SECURITY_POLICY
        );
        let (status, _, _) = get("/web/js/live.js", Some("\"other\"")).await;
        assert_eq!(status, StatusCode::OK);
    }

    #[test]
    fn every_file_in_the_web_folder_is_embedded() {
        let mut on_disk = Vec::new();
        files_under(&web_dir(), "", &mut on_disk);
        on_disk.sort();
        let mut embedded: Vec<String> = ASSETS.iter().map(|a| a.path.to_owned()).collect();
        embedded.sort();
        assert_eq!(
            on_disk, embedded,
            "web/ and the ASSETS table in hub/src/http/web.rs differ"
        );
    }

    /// Every `/web/...` URL in the pages and every relative module import in
    /// the scripts names an embedded file.
    #[test]
    fn pages_reference_only_embedded_files() {
        let exists = |p: &str| ASSETS.iter().any(|a| a.path == p);
        for asset in ASSETS {
            let text = std::str::from_utf8(asset.bytes).unwrap();
            if asset.path.ends_with(".html") {
                for part in text.split("\"/web/").skip(1) {
                    let target = &part[..part.find('"').unwrap()];
                    assert!(
                        exists(target),
                        "{} links to missing /web/{target}",
                        asset.path
                    );
                }
            }
            if asset.path.ends_with(".js") {
                let dir = asset.path.rsplit_once('/').map_or("", |(d, _)| d);
                for part in text.split("from './").skip(1) {
                    let target = &part[..part.find('\'').unwrap()];
                    let full = format!("{dir}/{target}");
                    assert!(exists(&full), "{} imports missing {full}", asset.path);
                }
            }
        }
    }

    /// The policy forbids inline code and styles: the pages must have none.
    #[test]
    fn pages_have_no_inline_scripts_or_styles() {
        for asset in ASSETS.iter().filter(|a| a.path.ends_with(".html")) {
            let text = std::str::from_utf8(asset.bytes).unwrap();
            for part in text.split("<script").skip(1) {
                let tag = &part[..part.find('>').unwrap()];
                assert!(tag.contains("src="), "{}: inline <script>", asset.path);
            }
            assert!(!text.contains("<style"), "{}: inline <style>", asset.path);
            assert!(!text.contains(" style="), "{}: style attribute", asset.path);
            for (i, _) in text.match_indices(" on") {
                let rest = &text[i + 3..];
                let name_len = rest.find(|c: char| !c.is_ascii_alphabetic()).unwrap_or(0);
                assert!(
                    name_len == 0 || !rest[name_len..].starts_with('='),
                    "{}: inline event handler",
                    asset.path
                );
            }
        }
    }

    /// Tokens stay in memory and sessionStorage: no localStorage, no cookies.
    #[test]
    fn scripts_never_use_local_storage_or_cookies() {
        for asset in ASSETS.iter().filter(|a| a.path.ends_with(".js")) {
            let text = std::str::from_utf8(asset.bytes).unwrap();
            for api in ["localStorage.", "localStorage[", "document.cookie"] {
                assert!(!text.contains(api), "{} uses {api}", asset.path);
            }
        }
    }
}
