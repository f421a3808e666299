//! The page a browser gets for a path that does not exist.
//!
//! API clients keep the JSON error shape; a person who followed a stale link or
//! mistyped an address gets a readable page with a way back to sign-in. Which
//! one is decided by the path (`/api/...` is always JSON) and by whether the
//! client asked for HTML (`Accept: text/html`, as browsers do for navigation).

use axum::{
    http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header},
    response::{IntoResponse, Response},
};

use super::web::CONTENT_SECURITY_POLICY;

const PAGE: &str = r#"<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>Page not found · HealthBridge</title>
  <link rel="icon" href="/web/favicon.svg" type="image/svg+xml">
  <link rel="stylesheet" href="/web/css/app.css">
</head>
<body class="login-page">
  <header class="topbar">
    <p class="brand">HealthBridge</p>
  </header>
  <main id="main" class="login-main">
    <section class="card login-card" aria-labelledby="title">
      <h1 id="title">Page not found</h1>
      <p>There is no page at this address. The link may be out of date or mistyped.</p>
      <p><a href="/">Go to sign-in</a></p>
    </section>
  </main>
</body>
</html>
"#;

/// Whether a not-found answer to this request should be the HTML page: a
/// browser navigating (GET/HEAD accepting `text/html`) to a path outside the API.
///
/// Runs before every request: API calls are answered without looking at
/// `Accept`, and the header is searched in place, without a lowercased copy.
pub fn wants_page(method: &Method, uri: &Uri, headers: &HeaderMap) -> bool {
    let path = uri.path();
    let api = path == "/api" || path.starts_with("/api/");
    (method == Method::GET || method == Method::HEAD) && !api && accepts_html(headers)
}

fn accepts_html(headers: &HeaderMap) -> bool {
    const HTML: &[u8] = b"text/html";
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| {
            v.as_bytes()
                .windows(HTML.len())
                .any(|w| w.eq_ignore_ascii_case(HTML))
        })
}

/// The 404 page, with the console's Content-Security-Policy (its stylesheet
/// and icon are same-origin files).
pub fn page() -> Response {
    let mut response = (
        StatusCode::NOT_FOUND,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        PAGE,
    )
        .into_response();
    response.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::ACCEPT, value.parse().unwrap());
        h
    }

    #[test]
    fn browsers_get_the_page_outside_the_api_only() {
        let browser = accept("text/html,application/xhtml+xml,*/*;q=0.8");
        let get = Method::GET;
        assert!(wants_page(&get, &"/register".parse().unwrap(), &browser));
        assert!(wants_page(&get, &"/web/nope.js".parse().unwrap(), &browser));
        assert!(!wants_page(
            &get,
            &"/api/v1/nothing".parse().unwrap(),
            &browser
        ));
        assert!(!wants_page(&get, &"/api".parse().unwrap(), &browser));
        assert!(!wants_page(
            &Method::POST,
            &"/register".parse().unwrap(),
            &browser
        ));
        assert!(wants_page(
            &get,
            &"/x".parse().unwrap(),
            &accept("Text/HTML")
        ));
        let json = accept("application/json");
        assert!(!wants_page(&get, &"/register".parse().unwrap(), &json));
        assert!(!wants_page(
            &get,
            &"/register".parse().unwrap(),
            &HeaderMap::new()
        ));
    }

    #[test]
    fn the_page_links_back_and_has_no_inline_code() {
        assert!(PAGE.contains(r#"href="/""#));
        assert!(!PAGE.contains("<script") && !PAGE.contains("<style") && !PAGE.contains("style="));
    }
}
