//! Who is asking: the technician whose session cookie came with a request, with their role
//! and the session's CSRF token.

use hyper::Request;
use hyper::header;

use super::Web;
use super::auth;
use super::response::ApiError;
use crate::model::technician::{Role, Technician};
use crate::store::web as sql;

/// A logged-in technician making this request.
#[derive(Debug, Clone)]
pub(super) struct Caller {
    pub(super) technician: Technician,
    pub(super) role: Role,
    pub(super) csrf: String,
    pub(super) token: String,
}

impl Caller {
    pub(super) fn actor(&self) -> crate::model::event::Actor {
        crate::model::event::Actor::Technician(self.technician.name.clone())
    }
}

/// The technician whose session cookie came with `request`.
pub(super) async fn caller<B>(web: &Web, request: &Request<B>) -> Result<Option<Caller>, ApiError> {
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
    let now = auth::now();
    let hash = auth::token_hash(&token);
    let found = web
        .store
        .read(move |conn| sql::session(conn, &hash, now))
        .await?;
    Ok(found.and_then(|(technician, csrf)| {
        Some(technician.role).map(|role| Caller {
            technician,
            role,
            csrf,
            token,
        })
    }))
}
