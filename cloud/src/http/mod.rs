//! The service's one HTTP server (hyper 1, HTTP/1.1 with upgrades, so a WebSocket feed can
//! live beside the API) and its router: modules register their routes on a [`Router`] and
//! the server dispatches to them. Only this module and the route handlers know HTTP.

mod router;
mod server;

pub use router::{Handler, Params, Router, percent_decode, query_pairs};
pub use server::{Bound, bind, serve};

use bytes::Bytes;
use http_body_util::BodyExt as _;
use http_body_util::combinators::BoxBody;

/// A response body: whole or streamed.
pub type Body = BoxBody<Bytes, std::io::Error>;

/// A request as handlers get it.
pub type Request = hyper::Request<hyper::body::Incoming>;

/// A response.
pub type Response = hyper::Response<Body>;

/// A whole body.
pub fn full(bytes: impl Into<Bytes>) -> Body {
    http_body_util::Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed()
}

/// A JSON response.
pub fn json(status: hyper::StatusCode, value: &serde_json::Value) -> Response {
    let mut response = hyper::Response::new(full(serde_json::to_vec(value).unwrap_or_default()));
    *response.status_mut() = status;
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    response.headers_mut().insert(
        hyper::header::CACHE_CONTROL,
        hyper::header::HeaderValue::from_static("no-store"),
    );
    response
}
