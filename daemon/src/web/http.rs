//! Requests in, responses out: the routes, the session and CSRF checks in front of the API,
//! and the small helpers every handler uses.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::Web;
use super::auth::{self, Role};
use crate::store::web::{self as sql, Technician};

/// Largest request body accepted.
const MAX_BODY: usize = 64 * 1024;

/// A response body.
pub(super) type Body = Full<Bytes>;

/// A handler's failure: a status and a message for the page.
#[derive(Debug)]
pub(super) struct ApiError {
    pub(super) status: StatusCode,
    pub(super) message: String,
}

impl ApiError {
    pub(super) fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }

    pub(super) fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    pub(super) fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }

    pub(super) fn internal(err: impl std::fmt::Display) -> Self {
        tracing::error!(error = %err, "web: request failed");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal error (see the daemon log)",
        )
    }
}

impl From<crate::store::StoreError> for ApiError {
    fn from(err: crate::store::StoreError) -> Self {
        Self::internal(err)
    }
}

impl From<crate::domain::DomainError> for ApiError {
    fn from(err: crate::domain::DomainError) -> Self {
        use crate::domain::DomainError;
        match err {
            DomainError::NotFound(what) => Self::not_found(format!("no {what}")),
            DomainError::Invalid(why) => Self::bad_request(why),
            other => Self::internal(other),
        }
    }
}

pub(super) type ApiResult = Result<Response<Body>, ApiError>;

/// A logged-in technician making this request.
#[derive(Debug, Clone)]
pub(super) struct Caller {
    pub(super) technician: Technician,
    pub(super) role: Role,
    pub(super) csrf: String,
    pub(super) token: String,
}

impl Caller {
    pub(super) fn actor(&self) -> crate::events::Actor {
        crate::events::Actor::Technician(self.technician.name.clone())
    }
}

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
            let body = read_json(request).await?;
            super::api::post(web, &caller, route, body).await
        }
        _ => Err(ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "only GET and POST",
        )),
    }
}

/// The technician whose session cookie came with `request`.
async fn caller<B>(web: &Web, request: &Request<B>) -> Result<Option<Caller>, ApiError> {
    let Some(token) = request
        .headers()
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(auth::cookie_token)
        .map(str::to_string)
    else {
        return Ok(None);
    };
    let now = web.clock.now();
    let hash = auth::token_hash(&token);
    let found = web
        .store
        .read(move |conn| sql::session(conn, &hash, now))
        .await?;
    Ok(found.and_then(|(technician, csrf)| {
        Role::parse(&technician.role).map(|role| Caller {
            technician,
            role,
            csrf,
            token,
        })
    }))
}

/// The request's JSON body (`{}` when empty).
pub(super) async fn read_json(request: Request<Incoming>) -> Result<serde_json::Value, ApiError> {
    let bytes = Limited::new(request.into_body(), MAX_BODY)
        .collect()
        .await
        .map_err(|_| ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "body too large or cut off"))?
        .to_bytes();
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(serde_json::json!({}));
    }
    serde_json::from_slice(&bytes).map_err(|e| ApiError::bad_request(format!("bad JSON: {e}")))
}

/// A JSON response.
pub(super) fn json(status: StatusCode, value: &impl serde::Serialize) -> Response<Body> {
    let body = serde_json::to_vec(value).unwrap_or_else(|_| b"null".to_vec());
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// 200 with a JSON body.
pub(super) fn ok(value: &impl serde::Serialize) -> ApiResult {
    Ok(json(StatusCode::OK, value))
}

/// A body of `content_type`.
pub(super) fn content(content_type: &'static str, body: impl Into<Bytes>) -> Response<Body> {
    let mut response = Response::new(Full::new(body.into()));
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

fn no_content() -> Response<Body> {
    let mut response = Response::new(Body::default());
    *response.status_mut() = StatusCode::NO_CONTENT;
    response
}

fn error_response(err: &ApiError) -> Response<Body> {
    json(err.status, &serde_json::json!({ "error": err.message }))
}

/// The value of `key` in a query string (`+` and `%XX` decoded).
pub(super) fn query_param(query: Option<&str>, key: &str) -> Option<String> {
    query?.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (k == key).then(|| percent_decode(v))
    })
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let hex = |b: u8| char::from(b).to_digit(16);
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(high), Some(low)) => {
                    out.push(u8::try_from(high * 16 + low).unwrap_or(b'?'));
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_values_are_decoded() {
        assert_eq!(
            query_param(Some("q=a%20b+c&receipt=X1"), "q").as_deref(),
            Some("a b c")
        );
        assert_eq!(
            query_param(Some("q=a&receipt=X1"), "receipt").as_deref(),
            Some("X1")
        );
        assert_eq!(query_param(Some("q=%zz%4"), "q").as_deref(), Some("%zz%4"));
        assert_eq!(query_param(None, "q"), None);
    }
}
