//! Routers: the site's MikroTiks, each a RADIUS client (NAS) and optionally managed over the
//! RouterOS API.

use std::net::IpAddr;

use serde::Serialize;

use super::DomainError;
use super::error::ensure;
use crate::clock::Timestamp;
use crate::events::{Actor, EventKind, NewEvent};
use crate::secrets::{Field, Secrets};
use crate::store::{Tx, routers as sql};

/// A router's id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct RouterId(pub i64);

/// A router to add.
#[derive(Debug, Clone)]
pub struct NewRouter {
    /// Unique name; also its RADIUS client name.
    pub name: String,
    /// The address its RADIUS packets come from.
    pub nas_ip: IpAddr,
    /// Its NAS-Identifier (system identity), if known.
    pub nas_identifier: Option<String>,
    /// The RADIUS shared secret (sealed at rest).
    pub radius_secret: String,
    /// Where it takes Disconnect/CoA requests (3799).
    pub coa_port: u16,
    /// RouterOS API access, when the box manages the router.
    pub api: Option<ApiAccess>,
    /// Codepage of its non-UTF-8 texts (e.g. `windows-1251`).
    pub codepage: String,
}

/// RouterOS API access.
#[derive(Clone)]
pub struct ApiAccess {
    /// Host name or address.
    pub host: String,
    /// 8728, or 8729 with TLS.
    pub port: u16,
    /// API-SSL.
    pub tls: bool,
    /// SHA-256 fingerprint of its certificate, for pinning.
    pub fingerprint: Option<String>,
    /// API user.
    pub user: String,
    /// API password (sealed at rest).
    pub password: String,
}

impl std::fmt::Debug for ApiAccess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiAccess")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

/// A router as stored (secrets left out).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Router {
    /// Id.
    pub id: RouterId,
    /// Name.
    pub name: String,
    /// RADIUS source address.
    pub nas_ip: String,
    /// NAS-Identifier.
    pub nas_identifier: Option<String>,
    /// Disconnect/CoA port.
    pub coa_port: u16,
    /// Whether its requests must carry Message-Authenticator (only ever relaxed explicitly).
    pub require_message_authenticator: bool,
    /// RouterOS API host.
    pub api_host: Option<String>,
    /// RouterOS API port.
    pub api_port: Option<u16>,
    /// API-SSL.
    pub api_tls: bool,
    /// Pinned certificate fingerprint.
    pub api_fingerprint: Option<String>,
    /// API user.
    pub api_user: Option<String>,
    /// Codepage.
    pub codepage: String,
    /// `active` or `disabled`.
    pub state: String,
    /// `unknown`, `up` or `down`.
    pub status: String,
    /// The last health detail or error.
    pub status_detail: Option<String>,
}

impl Router {
    /// Whether the router takes RADIUS requests and jobs.
    pub fn is_active(&self) -> bool {
        self.state == "active"
    }
}

/// Adds a router (its secrets sealed).
pub fn add(
    tx: &mut Tx<'_>,
    secrets: &Secrets,
    actor: &Actor,
    now: Timestamp,
    router: NewRouter,
) -> Result<Router, DomainError> {
    ensure(
        !router.name.trim().is_empty() && router.name.len() <= 64,
        || "router name must be 1-64 characters".into(),
    )?;
    ensure(router.radius_secret.len() >= 8, || {
        "the RADIUS secret must be at least 8 characters".into()
    })?;
    ensure(router.coa_port != 0, || "the CoA port must not be 0".into())?;
    if sql::by_name(tx, &router.name)?.is_some() {
        return Err(DomainError::Exists(format!("router `{}`", router.name)));
    }
    if sql::by_nas_ip(tx, &router.nas_ip.to_string())?.is_some() {
        return Err(DomainError::Exists(format!(
            "a router with address {}",
            router.nas_ip
        )));
    }
    let secret = secrets.seal(Field::RadiusSecret, router.radius_secret.as_bytes())?;
    let api_password = match &router.api {
        Some(api) => Some(secrets.seal(Field::RouterApiPassword, api.password.as_bytes())?),
        None => None,
    };
    let id = sql::insert(tx, &router, &secret, api_password.as_deref(), now)?;
    let stored =
        sql::get(tx, id)?.ok_or_else(|| DomainError::NotFound(format!("router {}", id.0)))?;
    tx.emit(
        now,
        actor,
        NewEvent::new(
            EventKind::RouterAdded,
            format!("router:{}", stored.name),
            serde_json::to_value(&stored).unwrap_or_default(),
        ),
    )?;
    if stored.api_host.is_some() && stored.api_user.is_some() {
        super::provisioning::reprovision_router(tx, now, stored.id)?;
    }
    Ok(stored)
}

/// Enables or disables a router.
pub fn set_state(
    tx: &mut Tx<'_>,
    actor: &Actor,
    now: Timestamp,
    name: &str,
    active: bool,
) -> Result<Router, DomainError> {
    let router =
        sql::by_name(tx, name)?.ok_or_else(|| DomainError::NotFound(format!("router `{name}`")))?;
    sql::set_state(
        tx,
        router.id,
        if active { "active" } else { "disabled" },
        now,
    )?;
    let stored = sql::get(tx, router.id)?
        .ok_or_else(|| DomainError::NotFound(format!("router `{name}`")))?;
    tx.emit(
        now,
        actor,
        NewEvent::new(
            EventKind::RouterUpdated,
            format!("router:{name}"),
            serde_json::json!({ "name": name, "state": stored.state }),
        ),
    )?;
    // Back in service: it may have missed every change made while it was disabled.
    if active && router.state != "active" && stored.api_host.is_some() && stored.api_user.is_some()
    {
        super::provisioning::reprovision_router(tx, now, stored.id)?;
    }
    Ok(stored)
}

/// The RADIUS shared secret of `router`, opened.
pub fn radius_secret(
    conn: &rusqlite::Connection,
    secrets: &Secrets,
    router: RouterId,
) -> Result<String, DomainError> {
    let sealed = sql::radius_secret(conn, router)?
        .ok_or_else(|| DomainError::NotFound(format!("router {}", router.0)))?;
    Ok(secrets.open_text(Field::RadiusSecret, &sealed)?)
}

/// The RouterOS API password of `router`, opened; None when the router is not managed.
pub fn api_password(
    conn: &rusqlite::Connection,
    secrets: &Secrets,
    router: RouterId,
) -> Result<Option<String>, DomainError> {
    match sql::api_password(conn, router)? {
        Some(sealed) => Ok(Some(secrets.open_text(Field::RouterApiPassword, &sealed)?)),
        None => Ok(None),
    }
}

/// A router's health as the periodic poll last saw it (what the technician page and
/// `siteboxd routers list --json` show).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RouterHealth {
    /// Id.
    pub id: RouterId,
    /// Name.
    pub name: String,
    /// `active` or `disabled`.
    pub state: String,
    /// `unknown` (never polled), `up` or `down`.
    pub status: String,
    /// Why it is down.
    pub status_detail: Option<String>,
    /// Whether the box manages it over the RouterOS API (only those are polled).
    pub managed: bool,
    /// RouterOS version, e.g. `7.18 (stable)`.
    pub ros_version: Option<String>,
    /// `/system/identity` name.
    pub identity: Option<String>,
    /// One API round trip at the last poll, ms.
    pub latency_ms: Option<i64>,
    /// Router uptime, s.
    pub uptime_s: Option<i64>,
    /// CPU load, percent.
    pub cpu_load: Option<i64>,
    /// Free memory, bytes.
    pub free_memory: Option<i64>,
    /// Hotspot and PPP sessions the router has.
    pub active_sessions: Option<i64>,
    /// The last poll that reached it.
    pub last_seen_at: Option<Timestamp>,
    /// The last error from the router or the link (poll or job).
    pub last_error: Option<String>,
    /// The last poll, reached or not.
    pub checked_at: Option<Timestamp>,
}

/// Every router's health, by name.
pub fn health(conn: &rusqlite::Connection) -> Result<Vec<RouterHealth>, DomainError> {
    Ok(crate::store::router_health::list(conn)?)
}
