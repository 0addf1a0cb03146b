//! Plans: what a subscriber buys (price, validity, time and data limits, speed, devices).

use serde::Serialize;

use super::DomainError;
use super::error::ensure;
use super::rate_limit::RateLimit;
use crate::clock::Timestamp;
use crate::events::{Actor, EventKind, NewEvent};
use crate::store::{Tx, plans as sql};

/// A plan's id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct PlanId(pub i64);

/// A plan as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Plan {
    /// Id.
    pub id: PlanId,
    /// Unique name, e.g. `1h-50`.
    pub name: String,
    /// `hotspot`, `pppoe` or `any`.
    pub kind: String,
    /// Price in minor units.
    pub price: i64,
    /// ISO 4217 code, e.g. `KES`.
    pub currency: String,
    /// Seconds from activation to expiry.
    pub validity_s: i64,
    /// Online seconds allowed, if limited.
    pub time_limit_s: Option<i64>,
    /// Bytes (in + out) allowed, if limited.
    pub data_limit: Option<i64>,
    /// Mikrotik-Rate-Limit.
    pub rate_limit: Option<String>,
    /// Devices online at once.
    pub shared_users: u32,
    /// Bind the subscriber to the MACs of its first logins.
    pub mac_binding: bool,
    /// Idle-Timeout seconds.
    pub idle_timeout_s: Option<u32>,
    /// Acct-Interim-Interval seconds.
    pub interim_s: u32,
    /// `active` or `disabled` (disabled plans cannot be bought).
    pub state: String,
}

/// A plan to create.
#[derive(Debug, Clone)]
pub struct NewPlan {
    /// Unique name.
    pub name: String,
    /// `hotspot`, `pppoe` or `any`.
    pub kind: String,
    /// Price in minor units.
    pub price: i64,
    /// Currency code.
    pub currency: String,
    /// Validity in seconds.
    pub validity_s: i64,
    /// Online time limit in seconds.
    pub time_limit_s: Option<i64>,
    /// Data limit in bytes.
    pub data_limit: Option<i64>,
    /// Rate limit, MikroTik syntax.
    pub rate_limit: Option<String>,
    /// Devices at once.
    pub shared_users: u32,
    /// MAC binding on first login.
    pub mac_binding: bool,
    /// Idle timeout in seconds.
    pub idle_timeout_s: Option<u32>,
    /// Interim interval in seconds.
    pub interim_s: u32,
}

impl NewPlan {
    /// A hotspot plan with no limits but its validity: 1 device, 5-minute interim updates.
    pub fn hotspot(name: &str, price: i64, currency: &str, validity_s: i64) -> Self {
        Self {
            name: name.into(),
            kind: "hotspot".into(),
            price,
            currency: currency.into(),
            validity_s,
            time_limit_s: None,
            data_limit: None,
            rate_limit: None,
            shared_users: 1,
            mac_binding: false,
            idle_timeout_s: None,
            interim_s: 300,
        }
    }
}

/// Creates a plan.
pub fn create(
    tx: &mut Tx<'_>,
    actor: &Actor,
    now: Timestamp,
    mut plan: NewPlan,
) -> Result<Plan, DomainError> {
    ensure(
        !plan.name.trim().is_empty() && plan.name.len() <= 64,
        || "plan name must be 1-64 characters".into(),
    )?;
    ensure(
        matches!(plan.kind.as_str(), "hotspot" | "pppoe" | "any"),
        || format!("plan kind `{}`: hotspot, pppoe or any", plan.kind),
    )?;
    ensure(plan.price >= 0, || "price must not be negative".into())?;
    ensure(
        plan.currency.len() == 3 && plan.currency.bytes().all(|b| b.is_ascii_uppercase()),
        || format!("currency `{}`: a 3-letter code such as KES", plan.currency),
    )?;
    ensure(plan.validity_s > 0, || {
        "validity must be more than 0".into()
    })?;
    ensure(plan.time_limit_s.is_none_or(|t| t > 0), || {
        "time limit must be more than 0".into()
    })?;
    ensure(plan.data_limit.is_none_or(|d| d > 0), || {
        "data limit must be more than 0".into()
    })?;
    ensure(plan.shared_users >= 1, || {
        "shared users must be at least 1".into()
    })?;
    ensure((10..=86_400).contains(&plan.interim_s), || {
        "interim interval must be 10 s to 1 day".into()
    })?;
    if let Some(rate) = &plan.rate_limit {
        plan.rate_limit = Some(RateLimit::parse(rate)?.as_str().to_string());
    }
    if sql::by_name(tx, &plan.name)?.is_some() {
        return Err(DomainError::Exists(format!("plan `{}`", plan.name)));
    }
    let id = sql::insert(tx, &plan, now)?;
    let stored =
        sql::get(tx, id)?.ok_or_else(|| DomainError::NotFound(format!("plan {}", id.0)))?;
    tx.emit(
        now,
        actor,
        NewEvent::new(
            EventKind::PlanCreated,
            format!("plan:{}", stored.name),
            serde_json::to_value(&stored).unwrap_or_default(),
        ),
    )?;
    Ok(stored)
}

/// Enables or disables a plan.
pub fn set_state(
    tx: &mut Tx<'_>,
    actor: &Actor,
    now: Timestamp,
    name: &str,
    active: bool,
) -> Result<Plan, DomainError> {
    let plan =
        sql::by_name(tx, name)?.ok_or_else(|| DomainError::NotFound(format!("plan `{name}`")))?;
    sql::set_state(tx, plan.id, if active { "active" } else { "disabled" }, now)?;
    let stored =
        sql::get(tx, plan.id)?.ok_or_else(|| DomainError::NotFound(format!("plan `{name}`")))?;
    tx.emit(
        now,
        actor,
        NewEvent::new(
            EventKind::PlanUpdated,
            format!("plan:{name}"),
            serde_json::json!({ "name": name, "state": stored.state }),
        ),
    )?;
    Ok(stored)
}

/// A plan by name or numeric id.
pub fn find(conn: &rusqlite::Connection, name_or_id: &str) -> Result<Plan, DomainError> {
    let by_name = sql::by_name(conn, name_or_id)?;
    let found = match (by_name, name_or_id.parse::<i64>()) {
        (Some(plan), _) => Some(plan),
        (None, Ok(id)) => sql::get(conn, PlanId(id))?,
        (None, Err(_)) => None,
    };
    found.ok_or_else(|| DomainError::NotFound(format!("plan `{name_or_id}`")))
}
