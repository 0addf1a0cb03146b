//! Requests in, responses out: the routes, and the session, CSRF and role checks in front of
//! the API. The top of the web module: it names every handler; no handler names it.

use std::net::SocketAddr;
use std::sync::Arc;

use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::Web;
use super::auth;
use super::caller::caller;
use super::response::{self, ApiError, ApiResult, Body};
use crate::model::technician::Role;

/// Routes one request.
pub(super) async fn handle(
    web: Arc<Web>,
    request: Request<Incoming>,
    peer: SocketAddr,
    tasks: TaskTracker,
    shutdown: CancellationToken,
) -> Response<Body> {
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let answer = match (&method, path.as_str()) {
        (&Method::GET, "/" | "/index.html") => Ok(super::assets::page()),
        (&Method::GET, "/app.js") => Ok(super::assets::script()),
        (&Method::GET, "/app.css") => Ok(super::assets::style()),
        (&Method::GET, "/favicon.ico") => Ok(no_content()),
        (&Method::GET, "/healthz") => Ok(super::metrics::healthz(&web).await),
        (&Method::GET, "/metrics") => super::metrics::metrics(&web).await,
        (&Method::POST, "/api/v1/login") => super::api::login(&web, request, peer).await,
        (_, p) if p.starts_with("/api/v1/") => {
            authenticated(&web, request, &method, &path, tasks, shutdown).await
        }
        _ => Err(ApiError::not_found(format!("no page at {path}"))),
    };
    let mut response = answer.unwrap_or_else(|err| error_response(&err));
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    headers.insert("x-frame-options", HeaderValue::from_static("DENY"));
    headers.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    tracing::debug!(%peer, %method, path, status = response.status().as_u16(), "web request");
    response
}

/// The API behind the session check; actions (every POST) also need the CSRF token, and
/// every action but logout needs the operator role.
async fn authenticated(
    web: &Arc<Web>,
    request: Request<Incoming>,
    method: &Method,
    path: &str,
    tasks: TaskTracker,
    shutdown: CancellationToken,
) -> ApiResult {
    let caller = caller(web, &request)
        .await?
        .ok_or_else(|| ApiError::new(StatusCode::UNAUTHORIZED, "log in first"))?;
    let route = &path["/api/v1".len()..];
    if *method == Method::POST {
        let sent = request
            .headers()
            .get(auth::CSRF_HEADER)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        if !auth::same_secret(sent, &caller.csrf) {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "missing or wrong X-CSRF-Token",
            ));
        }
        if route != "/logout" && caller.role != Role::Operator {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "this login is read-only",
            ));
        }
    }
    match (method, route) {
        (&Method::GET, "/ws") => super::ws::upgrade(web, request, caller, tasks, shutdown),
        (&Method::GET, _) => super::api::get(web, &caller, route, request.uri().query()).await,
        (&Method::POST, _) => {
            let body = response::read_json(request).await?;
            super::actions::post(web, &caller, route, body).await
        }
        _ => Err(ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "only GET and POST",
        )),
    }
}

fn no_content() -> Response<Body> {
    let mut response = Response::new(Body::default());
    *response.status_mut() = StatusCode::NO_CONTENT;
    response
}

fn error_response(err: &ApiError) -> Response<Body> {
    response::json(err.status, &serde_json::json!({ "error": err.message }))
}
