//! The browser's refresh token, kept in an `HttpOnly` cookie.
//!
//! A browser page asks for it with `X-Session-Cookie: 1` on login and refresh:
//! the refresh token then travels only in the `hb_refresh` cookie (`HttpOnly`,
//! `Secure`, `SameSite=Strict`, `Path=/api/v1/auth`), so no script on the page
//! can read it, no other site can make the browser send it, and it goes to the
//! auth endpoints only. The access token stays in the page's memory. Clients
//! that do not send the header (apps, scripts, tests) keep getting the refresh
//! token in the JSON body and never see a cookie. `docs/api.md` "Browser
//! sessions" tells the whole story.

use axum::http::{HeaderMap, HeaderValue, header};

/// The cookie's name.
pub const NAME: &str = "hb_refresh";
/// The only path the browser sends it to.
pub const PATH: &str = "/api/v1/auth";
/// The request header that asks for cookie mode.
pub const MODE_HEADER: &str = "x-session-cookie";

/// Whether the request asks for the refresh token in a cookie.
pub fn wanted(headers: &HeaderMap) -> bool {
    headers
        .get(MODE_HEADER)
        .is_some_and(|v| v.as_bytes() == b"1")
}

/// The refresh token from the request's `Cookie` headers, if any.
pub fn read(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == NAME)
        .map(|(_, value)| value.trim().to_owned())
        .filter(|value| !value.is_empty())
}

/// `Set-Cookie` carrying a new refresh token for `max_age_secs`.
pub fn set(token: &str, max_age_secs: u64) -> HeaderValue {
    // The token is URL-safe base64 (auth::tokens::opaque_token): no character
    // needs quoting in a cookie value.
    HeaderValue::from_str(&format!(
        "{NAME}={token}; HttpOnly; Secure; SameSite=Strict; Path={PATH}; Max-Age={max_age_secs}"
    ))
    .unwrap_or_else(|_| clear())
}

/// `Set-Cookie` that removes the cookie (logout, a dead session).
pub fn clear() -> HeaderValue {
    HeaderValue::from_static(
        "hb_refresh=; HttpOnly; Secure; SameSite=Strict; Path=/api/v1/auth; Max-Age=0",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_cookie_among_others() {
        let mut h = HeaderMap::new();
        h.append(
            header::COOKIE,
            HeaderValue::from_static("a=1; hb_refresh=tok-en_1"),
        );
        assert_eq!(read(&h).as_deref(), Some("tok-en_1"));
        let mut h = HeaderMap::new();
        h.append(header::COOKIE, HeaderValue::from_static("hb_refresh="));
        assert_eq!(read(&h), None);
        assert_eq!(read(&HeaderMap::new()), None);
    }

    #[test]
    fn the_cookie_is_http_only_secure_strict_and_scoped() {
        let v = set("abc", 60);
        let v = v.to_str().unwrap();
        for part in [
            "hb_refresh=abc",
            "HttpOnly",
            "Secure",
            "SameSite=Strict",
            "Path=/api/v1/auth",
            "Max-Age=60",
        ] {
            assert!(v.contains(part), "{v}");
        }
        assert!(clear().to_str().unwrap().contains("Max-Age=0"));
    }

    #[test]
    fn only_the_value_1_asks_for_cookie_mode() {
        let mut h = HeaderMap::new();
        assert!(!wanted(&h));
        h.insert(MODE_HEADER, HeaderValue::from_static("0"));
        assert!(!wanted(&h));
        h.insert(MODE_HEADER, HeaderValue::from_static("1"));
        assert!(wanted(&h));
    }
}
