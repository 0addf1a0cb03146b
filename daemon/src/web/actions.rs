//! The actions under `/api/v1` (every `POST`, after the session, CSRF and role checks): one
//! small function each. An operator action parses the body into the domain action's arguments
//! and runs it as the technician ([`act`]); the domain writes its event and audit row. What is
//! the page's own (logout, the diagnostics) writes its audit row here.

use std::time::{Duration, Instant};

use hyper::StatusCode;
use hyper::header::{self, HeaderValue};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::Web;
use super::auth;
use super::caller::Caller;
use super::response::{self, ApiError, ApiResult};
use crate::clock::Timestamp;
use crate::domain::DomainError;
use crate::domain::jobs::{self, FailedJobId};
use crate::domain::routers;
use crate::domain::sessions;
use crate::domain::vouchers;
use crate::model::event::payload::TechnicianAction;
use crate::model::event::{Actor, NewEvent};
use crate::model::router::Router;
use crate::store::{Tx, web as sql};

/// Routes a `POST`.
pub(super) async fn post(web: &Web, caller: &Caller, route: &str, body: Value) -> ApiResult {
    match route {
        "/logout" => logout(web, caller).await,
        "/sessions/kick" => response::ok(&act(web, caller, body, sessions::kick).await?),
        "/jobs/retry" => retry(web, caller, body).await,
        "/jobs/discard" => discard(web, caller, body).await,
        "/vouchers" => issue(web, caller, body).await,
        "/diagnostics/router-login" => router_diagnostics(web, caller, body).await,
        "/diagnostics/radius-auth" => radius_diagnostics(web, caller, body).await,
        "/routers/reprovision" => reprovision(web, caller, body).await,
        _ => Err(ApiError::not_found(format!("no action at {route}"))),
    }
}

/// Runs an operator action as the technician: the body parsed into its arguments, one write.
async fn act<A, R, F>(web: &Web, caller: &Caller, body: Value, action: F) -> Result<R, ApiError>
where
    A: DeserializeOwned + Send + 'static,
    R: Send + 'static,
    F: FnOnce(&mut Tx<'_>, &Actor, Timestamp, A) -> Result<R, DomainError> + Send + 'static,
{
    let args: A = arguments(body)?;
    let (actor, now) = (caller.actor(), web.clock.now());
    Ok(web
        .store
        .write(move |tx| action(tx, &actor, now, args))
        .await?)
}

/// The body as `A`; a 400 with serde's reason when it is not one.
fn arguments<A: DeserializeOwned>(body: Value) -> Result<A, ApiError> {
    serde_json::from_value(body).map_err(|e| ApiError::bad_request(format!("bad request: {e}")))
}

/// `POST /logout`: ends the session and clears the cookie.
async fn logout(web: &Web, caller: &Caller) -> ApiResult {
    let (now, actor) = (web.clock.now(), caller.actor());
    let hash = auth::token_hash(&caller.token);
    let who = caller.technician.name.clone();
    web.store
        .write(move |tx| {
            sql::delete_session(tx, &hash)?;
            audit(
                tx,
                now,
                &actor,
                &format!("technician:{who}"),
                TechnicianAction::Logout,
            )
        })
        .await?;
    let mut response = response::json(StatusCode::OK, &json!({ "ok": true }));
    if let Ok(value) = HeaderValue::from_str(&auth::clear_cookie(web.config.tls())) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    Ok(response)
}

/// `POST /jobs/retry {job_id}`.
async fn retry(web: &Web, caller: &Caller, body: Value) -> ApiResult {
    let job: FailedJobId = arguments(body.clone())?;
    match act(web, caller, body, jobs::retry).await? {
        Some(outcome) => response::ok(&outcome),
        None => Err(ApiError::not_found(format!("no failed job {}", job.job_id))),
    }
}

/// `POST /jobs/discard {job_id}`.
async fn discard(web: &Web, caller: &Caller, body: Value) -> ApiResult {
    let job: FailedJobId = arguments(body.clone())?;
    match act(web, caller, body, jobs::discard).await? {
        Some(discarded) => response::ok(&discarded),
        None => Err(ApiError::not_found(format!("no failed job {}", job.job_id))),
    }
}

/// `POST /vouchers {plan, count, length?}`.
async fn issue(web: &Web, caller: &Caller, body: Value) -> ApiResult {
    let issued = act(web, caller, body, vouchers::issue).await?;
    response::ok(&json!({
        "batch": issued.batch,
        "codes": issued.vouchers.iter().map(|v| v.code.as_str()).collect::<Vec<_>>(),
    }))
}

/// `POST /routers/reprovision {router}`.
async fn reprovision(web: &Web, caller: &Caller, body: Value) -> ApiResult {
    let done = act(web, caller, body, routers::reprovision).await?;
    response::ok(&json!({ "router": done.router.name, "subscriber_jobs": done.subscriber_jobs }))
}

/// `POST /diagnostics/router-login {router}`: a fresh API login to the router, timed.
async fn router_diagnostics(web: &Web, caller: &Caller, body: Value) -> ApiResult {
    #[derive(Deserialize)]
    struct Args {
        router: String,
    }
    let Args { router: name } = arguments(body)?;
    let (now, actor) = (web.clock.now(), caller.actor());
    let router = router_named(web, &name).await?;
    let result = router_login(web, &router).await?;
    let detail = TechnicianAction::RouterLogin {
        router: name,
        ok: result["ok"].as_bool().unwrap_or(false),
    };
    let subject = format!("router:{}", router.id.0);
    web.store
        .write(move |tx| audit(tx, now, &actor, &subject, detail))
        .await?;
    response::ok(&result)
}

/// `POST /diagnostics/radius-auth {username, password}`: a real Access-Request to the
/// daemon's own RADIUS socket.
async fn radius_diagnostics(web: &Web, caller: &Caller, body: Value) -> ApiResult {
    #[derive(Deserialize)]
    struct Args {
        username: String,
        password: String,
    }
    let Args { username, password } = arguments(body)?;
    let (now, actor) = (web.clock.now(), caller.actor());
    let target = web
        .radius_target
        .as_ref()
        .ok_or_else(|| ApiError::bad_request("the RADIUS server is off ([radius] enabled)"))?;
    let result = super::radius_test::login(target, &username, &password).await?;
    // Never the password.
    let detail = TechnicianAction::RadiusAuth {
        username: username.clone(),
        answer: result["answer"].clone(),
        reply_message: result["reply_message"].clone(),
    };
    let subject = format!("subscriber:{username}");
    web.store
        .write(move |tx| audit(tx, now, &actor, &subject, detail))
        .await?;
    response::ok(&result)
}

async fn router_named(web: &Web, name: &str) -> Result<Router, ApiError> {
    let lookup = name.to_string();
    web.store
        .read(move |conn| crate::store::routers::by_name(conn, &lookup))
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no router `{name}`")))
}

/// A fresh login to `router` over its API (a link of its own, so the jobs' link is not
/// disturbed), then `/system/identity` and `/system/resource`, timed.
async fn router_login(web: &Web, router: &Router) -> Result<Value, ApiError> {
    let links = crate::links::RouterLinks::new(web.store.clone(), web.secrets.clone())
        .with_timeout(web.router_timeout);
    let name = router.name.clone();
    let link = links.get(router).await?.ok_or_else(|| {
        ApiError::bad_request(format!(
            "router `{name}` has no RouterOS API access configured"
        ))
    })?;
    let started = Instant::now();
    let reached = async {
        link.connection().await?;
        let login_ms = started.elapsed().as_secs_f64() * 1000.0;
        let round_trip = Instant::now();
        let identity = sitebox_routeros::ops::identity(&*link).await?;
        let round_trip_ms = round_trip.elapsed().as_secs_f64() * 1000.0;
        let resource = sitebox_routeros::ops::system_resource(&*link).await?;
        Ok::<_, sitebox_routeros::client::Error>((login_ms, round_trip_ms, identity, resource))
    };
    let reached = tokio::time::timeout(web.router_timeout + Duration::from_secs(1), reached).await;
    link.disconnect().await;
    Ok(match reached {
        Ok(Ok((login_ms, round_trip_ms, identity, resource))) => json!({
            "ok": true, "router": name, "identity": identity,
            "login_ms": login_ms, "round_trip_ms": round_trip_ms,
            "version": resource.version, "board": resource.board_name, "uptime": resource.uptime,
        }),
        Ok(Err(err)) => json!({ "ok": false, "router": name, "error": err.to_string() }),
        Err(_) => json!({ "ok": false, "router": name, "error": "no answer in time" }),
    })
}

/// Writes a technician's action to the audit log (and the outbox, so the cloud sees it).
pub(super) fn audit(
    tx: &mut Tx<'_>,
    now: Timestamp,
    actor: &Actor,
    subject: &str,
    detail: TechnicianAction,
) -> Result<(), crate::store::StoreError> {
    tx.emit(now, actor, NewEvent::new(subject, &detail))?;
    Ok(())
}
