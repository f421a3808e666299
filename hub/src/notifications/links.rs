//! Where the links in notices lead. Each is a page the hub serves
//! (`hub/src/http/web.rs`); `tests/system/notification_links.rs` opens every
//! link that every template with a link shows.

/// The console (`web/app.html`): it opens for a signed-in browser and sends a
/// signed-out one to the sign-in page, which comes back here after signing in.
pub fn console(public_url: &str) -> String {
    format!("{public_url}/web/app.html")
}
