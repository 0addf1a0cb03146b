//! Routers: the site's MikroTiks, each a RADIUS client (NAS) and optionally managed over the
//! RouterOS API.

use serde::Deserialize;

use super::error::ensure;
use super::{DomainError, Named};
use crate::clock::Timestamp;
use crate::model::RouterId;
use crate::model::event::payload::{self, TechnicianAction};
use crate::model::event::{Actor, NewEvent};
use crate::model::router::{NewRouter, Router, RouterHealth, RouterState};
use crate::secrets::{Field, Secrets};
use crate::store::{Tx, routers as sql};

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
            format!("router:{}", stored.name),
            &payload::RouterAdded(stored.clone()),
        ),
    )?;
    if stored.api_host.is_some() && stored.api_user.is_some() {
        super::provisioning::reprovision_router(tx, now, stored.id)?;
    }
    Ok(stored)
}

/// Puts a router back in service (it gets every change it missed).
pub fn enable(
    tx: &mut Tx<'_>,
    actor: &Actor,
    now: Timestamp,
    args: Named,
) -> Result<Router, DomainError> {
    set_state(tx, actor, now, &args.name, true)
}

/// Takes a router out of service: no RADIUS answers, no jobs.
pub fn disable(
    tx: &mut Tx<'_>,
    actor: &Actor,
    now: Timestamp,
    args: Named,
) -> Result<Router, DomainError> {
    set_state(tx, actor, now, &args.name, false)
}

/// Which router to provision again.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reprovision {
    /// Its name.
    pub router: String,
}

/// What a reprovision queued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reprovisioned {
    /// The router.
    pub router: Router,
    /// Subscriber jobs queued (new or already waiting).
    pub subscriber_jobs: usize,
}

/// Provisions a managed router again: its RADIUS configuration and every subscriber, with an
/// audit row. Refused with the reason when it has no API access or is disabled.
pub fn reprovision(
    tx: &mut Tx<'_>,
    actor: &Actor,
    now: Timestamp,
    args: Reprovision,
) -> Result<Reprovisioned, DomainError> {
    let name = args.router;
    let router = sql::by_name(tx, &name)?
        .ok_or_else(|| DomainError::NotFound(format!("router `{name}`")))?;
    if router.api_host.is_none() || router.api_user.is_none() {
        return Err(DomainError::Invalid(format!(
            "router `{name}` has no RouterOS API access: nothing to provision"
        )));
    }
    if !router.is_active() {
        return Err(DomainError::Invalid(format!(
            "router `{name}` is disabled: enable it first"
        )));
    }
    let subscriber_jobs = super::provisioning::reprovision_router(tx, now, router.id)?;
    tx.emit(
        now,
        actor,
        NewEvent::new(
            format!("router:{}", router.id.0),
            &TechnicianAction::Reprovision {
                router: name,
                subscriber_jobs,
            },
        ),
    )?;
    Ok(Reprovisioned {
        router,
        subscriber_jobs,
    })
}

/// Enables or disables a router.
fn set_state(
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
        if active {
            RouterState::Active
        } else {
            RouterState::Disabled
        },
        now,
    )?;
    let stored = sql::get(tx, router.id)?
        .ok_or_else(|| DomainError::NotFound(format!("router `{name}`")))?;
    tx.emit(
        now,
        actor,
        NewEvent::new(
            format!("router:{name}"),
            &payload::RouterUpdated {
                name: name.to_string(),
                state: stored.state,
            },
        ),
    )?;
    // Back in service: it may have missed every change made while it was disabled.
    if active
        && router.state != RouterState::Active
        && stored.api_host.is_some()
        && stored.api_user.is_some()
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

/// Every router's health, by name.
pub fn health(conn: &rusqlite::Connection) -> Result<Vec<RouterHealth>, DomainError> {
    Ok(crate::store::router_health::list(conn)?)
}
