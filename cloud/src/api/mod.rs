//! The tenant-scoped read API, `/api/v1/…`, JSON with cursor pagination and a CSV export of
//! payments, and the operator actions (send a command, acknowledge an alert, open or close a
//! maintenance window). Every route is listed in [`routes`] with the role it needs: the token
//! is checked and the role enforced there, once, before any handler runs. A handler reads and
//! writes only its token's tenant (in a transaction with that tenant set, under row-level
//! security) and only the token's sites; anything else answers 404, exactly like a resource
//! that does not exist.

mod alerts;
mod audit_log;
mod commands;
mod error;
mod page;
mod payments;
mod sites;

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;

use bytes::Bytes;
use deadpool_postgres::{Object, Pool};
use http_body_util::{BodyExt as _, Limited};
use hyper::Method;
use serde::de::DeserializeOwned;

pub use error::ApiError;

use crate::auth::tokens::{self, AuthError};
use crate::auth::{Principal, Role};
use crate::http::{Params, Request, Response, Router, query_pairs};
use crate::notify::Hub;
use crate::publisher::Publisher;
use sitebox_sync::wire::valid_id;

/// Largest request body.
const MAX_BODY: usize = 64 * 1024;

/// What the handlers share.
#[derive(Debug, Clone)]
pub struct ApiState {
    /// The service role's connections.
    pub pool: Pool,
    /// Where committed changes are announced.
    pub hub: Hub,
    /// Sends commands (None: commands are recorded and the sweep sends them).
    pub publisher: Option<Publisher>,
}

/// One authenticated request, as a handler sees it.
#[derive(Debug)]
pub struct Ctx {
    state: Arc<ApiState>,
    /// The caller.
    pub principal: Principal,
    params: Params,
    query: BTreeMap<String, String>,
    body: Bytes,
}

impl Ctx {
    /// A pooled connection.
    async fn conn(&self) -> Result<Object, ApiError> {
        Ok(self.state.pool.get().await?)
    }

    /// Refuses query parameters other than `allowed`.
    fn only(&self, allowed: &[&str]) -> Result<(), ApiError> {
        match self.query.keys().find(|k| !allowed.contains(&k.as_str())) {
            Some(unknown) => Err(ApiError::bad_request(format!(
                "unknown query parameter `{unknown}` (this endpoint takes {allowed:?})"
            ))),
            None => Ok(()),
        }
    }

    /// A query parameter.
    fn query(&self, name: &str) -> Option<&str> {
        self.query.get(name).map(String::as_str)
    }

    /// A path parameter.
    fn param(&self, name: &str) -> &str {
        self.params.get(name)
    }

    /// The `{site}` path parameter, when it is a site this token may see (404 otherwise, also
    /// for a malformed id: nothing tells another tenant's site from a missing one).
    fn site(&self) -> Result<String, ApiError> {
        self.site_named(self.param("site"))
    }

    /// `site` when this token may see it (a `?site=` filter too).
    fn site_named(&self, site: &str) -> Result<String, ApiError> {
        if valid_id(site) && self.principal.sees(site) {
            Ok(site.to_string())
        } else {
            Err(ApiError::not_found(format!("no site `{site}`")))
        }
    }

    /// The sites a listing is limited to: the `?site=` filter (404 unless it is one of the
    /// tenant's sites this token sees), else the token's sites (None: all of the tenant's).
    async fn site_filter(&self) -> Result<Option<Vec<String>>, ApiError> {
        let Some(site) = self.query("site") else {
            return Ok(self.principal.sites.clone());
        };
        let site = self.site_named(site)?;
        let mut conn = self.conn().await?;
        let tx = conn.transaction().await?;
        crate::db::set_tenant(&tx, &self.principal.tenant).await?;
        let known = tx
            .query_opt(
                "SELECT 1 FROM sites WHERE tenant_id = $1 AND site_id = $2",
                &[&self.principal.tenant, &site],
            )
            .await?;
        tx.commit().await?;
        match known {
            Some(_) => Ok(Some(vec![site])),
            None => Err(ApiError::not_found(format!("no site `{site}`"))),
        }
    }

    /// The body as JSON of type `T`.
    fn json<T: DeserializeOwned>(&self) -> Result<T, ApiError> {
        serde_json::from_slice(&self.body).map_err(|e| ApiError::bad_request(format!("body: {e}")))
    }
}

/// Every route of the API with the role it needs.
pub fn routes(state: ApiState) -> Router {
    let state = Arc::new(state);
    let r = Router::new();
    let r = api(
        r,
        &state,
        Method::GET,
        "/api/v1/sites",
        Role::Read,
        sites::list,
    );
    let r = api(
        r,
        &state,
        Method::GET,
        "/api/v1/sites/{site}",
        Role::Read,
        sites::detail,
    );
    let r = api(
        r,
        &state,
        Method::GET,
        "/api/v1/sites/{site}/routers",
        Role::Read,
        sites::routers,
    );
    let r = api(
        r,
        &state,
        Method::GET,
        "/api/v1/sites/{site}/failed-jobs",
        Role::Read,
        sites::failed_jobs,
    );
    let r = api(
        r,
        &state,
        Method::GET,
        "/api/v1/sites/{site}/sessions",
        Role::Read,
        sites::sessions,
    );
    let r = api(
        r,
        &state,
        Method::GET,
        "/api/v1/sites/{site}/subscribers",
        Role::Read,
        sites::subscribers,
    );
    let r = api(
        r,
        &state,
        Method::GET,
        "/api/v1/sites/{site}/subscriptions",
        Role::Read,
        sites::subscriptions,
    );
    let r = api(
        r,
        &state,
        Method::GET,
        "/api/v1/sites/{site}/vouchers",
        Role::Read,
        sites::vouchers,
    );
    let r = api(
        r,
        &state,
        Method::GET,
        "/api/v1/sites/{site}/payments/{receipt}",
        Role::Read,
        payments::detail,
    );
    let r = api(
        r,
        &state,
        Method::POST,
        "/api/v1/sites/{site}/commands",
        Role::Operator,
        commands::send,
    );
    let r = api(
        r,
        &state,
        Method::GET,
        "/api/v1/payments",
        Role::Read,
        payments::list,
    );
    let r = api(
        r,
        &state,
        Method::GET,
        "/api/v1/payments.csv",
        Role::Read,
        payments::csv,
    );
    let r = api(
        r,
        &state,
        Method::GET,
        "/api/v1/alerts",
        Role::Read,
        alerts::list,
    );
    let r = api(
        r,
        &state,
        Method::GET,
        "/api/v1/alerts/{id}",
        Role::Read,
        alerts::detail,
    );
    let r = api(
        r,
        &state,
        Method::POST,
        "/api/v1/alerts/{id}/acknowledge",
        Role::Operator,
        alerts::acknowledge,
    );
    let r = api(
        r,
        &state,
        Method::GET,
        "/api/v1/maintenance-windows",
        Role::Read,
        alerts::windows,
    );
    let r = api(
        r,
        &state,
        Method::POST,
        "/api/v1/maintenance-windows",
        Role::Operator,
        alerts::open_window,
    );
    let r = api(
        r,
        &state,
        Method::DELETE,
        "/api/v1/maintenance-windows/{id}",
        Role::Operator,
        alerts::close_window,
    );
    let r = api(
        r,
        &state,
        Method::GET,
        "/api/v1/commands",
        Role::Read,
        commands::list,
    );
    let r = api(
        r,
        &state,
        Method::GET,
        "/api/v1/commands/{id}",
        Role::Read,
        commands::detail,
    );
    api(
        r,
        &state,
        Method::GET,
        "/api/v1/audit",
        Role::Operator,
        audit_log::list,
    )
}

fn api<F, Fut>(
    router: Router,
    state: &Arc<ApiState>,
    method: Method,
    path: &str,
    role: Role,
    handler: F,
) -> Router
where
    F: Fn(Ctx) -> Fut + Copy + Send + Sync + 'static,
    Fut: Future<Output = Result<Response, ApiError>> + Send + 'static,
{
    let state = Arc::clone(state);
    router.route(method, path, move |request, params| {
        let state = Arc::clone(&state);
        async move {
            match prepare(state, role, request, params).await {
                Ok(ctx) => handler(ctx).await,
                Err(err) => Err(err),
            }
            .unwrap_or_else(ApiError::into_response)
        }
    })
}

/// Authenticates, enforces `role`, parses the query and reads the body.
async fn prepare(
    state: Arc<ApiState>,
    role: Role,
    request: Request,
    params: Params,
) -> Result<Ctx, ApiError> {
    let token = request
        .headers()
        .get(hyper::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .ok_or_else(|| {
            ApiError::unauthorized("an `Authorization: Bearer <token>` header is required")
        })?
        .to_string();
    let principal = {
        let mut conn = state.pool.get().await?;
        match tokens::authenticate(&mut conn, &token).await {
            Ok(principal) => principal,
            Err(AuthError::Invalid) => {
                return Err(ApiError::unauthorized("invalid or expired token"));
            }
            Err(AuthError::Postgres(err)) => return Err(err.into()),
        }
    };
    if !principal.role.allows(role) {
        return Err(ApiError::forbidden(format!(
            "this needs a token with the {} role; this one is {}",
            role.as_str(),
            principal.role.as_str()
        )));
    }
    let query = query_pairs(request.uri().query().unwrap_or(""))
        .ok_or_else(|| ApiError::bad_request("the query string has a broken %-escape"))?;
    let mut map = BTreeMap::new();
    for (name, value) in query {
        if map.insert(name.clone(), value).is_some() {
            return Err(ApiError::bad_request(format!(
                "query parameter `{name}` given twice"
            )));
        }
    }
    let has_body = request.method() == Method::POST || request.method() == Method::PUT;
    if has_body {
        let json = request
            .headers()
            .get(hyper::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json"));
        if !json {
            return Err(ApiError::unsupported_media(
                "send the body as application/json",
            ));
        }
    }
    let body = match Limited::new(request.into_body(), MAX_BODY).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => {
            return Err(ApiError::too_large(format!(
                "the body is larger than {MAX_BODY} bytes, or was cut off"
            )));
        }
    };
    Ok(Ctx {
        state,
        principal,
        params,
        query: map,
        body,
    })
}
