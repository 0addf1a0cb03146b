//! The page's three files, embedded in the binary: no build step, nothing to install.

use hyper::Response;

use super::response::{Body, content};

const PAGE: &str = include_str!("assets/index.html");
const SCRIPT: &str = include_str!("assets/app.js");
const STYLE: &str = include_str!("assets/app.css");

/// `GET /`.
pub(super) fn page() -> Response<Body> {
    let mut response = content("text/html; charset=utf-8", PAGE);
    // Only our own script, style and WebSocket; nothing inline, no frames.
    response.headers_mut().insert(
        "content-security-policy",
        hyper::header::HeaderValue::from_static(
            "default-src 'self'; connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'",
        ),
    );
    response
}

/// `GET /app.js`.
pub(super) fn script() -> Response<Body> {
    content("text/javascript; charset=utf-8", SCRIPT)
}

/// `GET /app.css`.
pub(super) fn style() -> Response<Body> {
    content("text/css; charset=utf-8", STYLE)
}
