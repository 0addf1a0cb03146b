//! The JSON API under `/api/v1` (docs/API.md): login, the snapshot and lookups, and the
//! actions. Actions go through the same domain and queue functions as the CLI, as the
//! technician, so each one is written to the audit log and the outbox in its transaction.

use std::net::SocketAddr;
use std::time::Duration;

use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Request, StatusCode};
use serde_json::{Value, json};

use super::Web;
use super::actions::audit;
use super::auth;
use super::caller::Caller;
use super::response::{self, ApiError, ApiResult};
use crate::domain::{DomainError, plans, subscribers, vouchers};
use crate::model::event::payload::TechnicianAction;
use crate::model::event::{Actor, NewEvent};
use crate::store::web as sql;
use crate::store::{sessions, subscriptions, vouchers as voucher_sql};

/// `POST /api/v1/login` `{name, password}`: sets the session cookie, returns the CSRF token.
pub(super) async fn login(web: &Web, request: Request<Incoming>, peer: SocketAddr) -> ApiResult {
    let body = response::read_json(request).await?;
    let name = text(&body, "name")?;
    let password = text(&body, "password")?;
    if name.is_empty() || name.len() > 64 || password.len() > 1024 {
        return Err(ApiError::bad_request("name and password are required"));
    }
    let peer_ip = peer.ip().to_string();
    // Attempts and sessions go by real time; the audit row by the daemon's clock, like
    // every other event.
    let now = auth::now();
    let at = web.clock.now();
    let since = now.before(web.config.lockout_window.get());
    let (lookup_name, lookup_peer) = (name.clone(), peer_ip.clone());
    let (failures, account) = web
        .store
        .read(move |conn| {
            let failures = sql::recent_failures(conn, &lookup_name, &lookup_peer, since)?;
            let account = sql::technician_login(conn, &lookup_name)?;
            Ok::<_, crate::store::StoreError>((failures, account))
        })
        .await?;
    if auth::locked_out(failures.0, failures.1, web.config.lockout_failures) {
        tracing::warn!(name, peer = %peer_ip, "web: login refused, locked out");
        return Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too many failed logins: try again later",
        ));
    }
    let hash = account
        .as_ref()
        .map_or_else(String::new, |(_, hash)| hash.clone());
    // argon2 takes 7 MiB and tens of ms per check: checks run one at a time on their own
    // thread, and a burst of logins waits its turn rather than taking a small box's memory.
    let matches = crate::passwords::verify_on_password_thread(password.clone(), hash)
        .await
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "too many logins at once: try again",
            )
        })?;
    let technician = account
        .filter(|_| matches)
        .map(|(technician, _)| technician);
    let Some(technician) = technician else {
        let (typed_name, peer_ip) = (name.clone(), peer_ip.clone());
        web.store
            .write(move |tx| {
                let name = typed_name;
                sql::record_attempt(tx, &name, &peer_ip, false, now)?;
                tx.emit(
                    at,
                    &Actor::System,
                    NewEvent::new(
                        format!("technician:{name}"),
                        &TechnicianAction::LoginFailed {
                            name: name.clone(),
                            peer: peer_ip,
                        },
                    ),
                )?;
                Ok::<_, crate::store::StoreError>(())
            })
            .await?;
        tracing::info!(name, peer = %peer, "web: failed login");
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "wrong name or password",
        ));
    };
    let token = auth::new_token().map_err(ApiError::internal)?;
    let csrf = auth::new_token().map_err(ApiError::internal)?;
    let ttl = web.config.session_ttl.get();
    let expires = now.after(ttl);
    let prune_before = now.before(
        web.config
            .lockout_window
            .get()
            .max(Duration::from_secs(86_400)),
    );
    let (hash, id, session_csrf, who) = (
        auth::token_hash(&token),
        technician.id,
        csrf.clone(),
        technician.name.clone(),
    );
    web.store
        .write(move |tx| {
            sql::prune(tx, prune_before, now)?;
            sql::record_attempt(tx, &who, &peer_ip, true, now)?;
            sql::insert_session(tx, &hash, id, &session_csrf, now, expires)?;
            audit(
                tx,
                at,
                &Actor::Technician(who.clone()),
                &format!("technician:{who}"),
                TechnicianAction::Login { peer: peer_ip },
            )
        })
        .await?;
    tracing::info!(name = technician.name, %peer, "web: login");
    let mut response = response::json(
        StatusCode::OK,
        &json!({ "name": technician.name, "role": technician.role, "csrf": csrf }),
    );
    let cookie = auth::set_cookie(&token, ttl.as_secs(), web.config.tls());
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    Ok(response)
}

/// The GET routes (after the session check).
pub(super) async fn get(web: &Web, caller: &Caller, route: &str, query: Option<&str>) -> ApiResult {
    match route {
        "/session" => response::ok(&json!({
            "name": caller.technician.name,
            "role": caller.role.as_str(),
            "csrf": caller.csrf,
        })),
        "/snapshot" => response::ok(&super::snapshot::snapshot(web).await?),
        "/log" => {
            let n = response::query_param(query, "lines")
                .and_then(|n| n.parse().ok())
                .unwrap_or(200usize);
            response::ok(&super::log_ring::LogRing::global().tail(n))
        }
        "/payments" => {
            let receipt = response::query_param(query, "receipt").unwrap_or_default();
            let receipt = receipt.trim().to_string();
            if receipt.is_empty() {
                return Err(ApiError::bad_request("give ?receipt="));
            }
            let found = web
                .store
                .read(move |conn| crate::store::payments::find(conn, &receipt))
                .await?;
            match found {
                Some(mut payment) => {
                    payment.phone = payment
                        .phone
                        .as_deref()
                        .map(crate::model::subscriber::mask_phone);
                    response::ok(&payment)
                }
                None => Err(ApiError::not_found("no payment with that receipt")),
            }
        }
        "/subscribers" => {
            let q = response::query_param(query, "q").unwrap_or_default();
            let found = web
                .store
                .read(move |conn| {
                    let mut out = Vec::new();
                    for subscriber in crate::store::subscribers::search(conn, q.trim(), 50)? {
                        let mut row = subscribers::public(&subscriber);
                        let current = subscriptions::current(conn, subscriber.id)?;
                        row["subscription"] = serde_json::to_value(current).unwrap_or(Value::Null);
                        row["open_sessions"] =
                            json!(sessions::open_for_subscriber(conn, subscriber.id)?.len());
                        out.push(row);
                    }
                    Ok::<_, crate::store::StoreError>(out)
                })
                .await?;
            response::ok(&found)
        }
        "/vouchers/sheet" => {
            let batch = response::query_param(query, "batch").unwrap_or_default();
            let (made, plan) = web
                .store
                .read(move |conn| {
                    let made = voucher_sql::batch(conn, &batch)?;
                    let first = made
                        .first()
                        .ok_or_else(|| DomainError::NotFound(format!("batch `{batch}`")))?;
                    let plan = plans::find(conn, &first.plan)?;
                    Ok::<_, DomainError>((made, plan))
                })
                .await?;
            Ok(response::content(
                "text/html; charset=utf-8",
                vouchers::sheet(&web.site_name, &plan, &made),
            ))
        }
        _ => Err(ApiError::not_found(format!("no API at {route}"))),
    }
}

fn text(body: &Value, key: &str) -> Result<String, ApiError> {
    body[key]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| ApiError::bad_request(format!("`{key}` (a string) is required")))
}
