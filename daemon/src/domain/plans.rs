//! Plans: what a subscriber buys (price, validity, time and data limits, speed, devices).

use serde::Deserialize;

use super::error::ensure;
use super::rate_limit::RateLimit;
use super::{DomainError, Named};
use crate::clock::Timestamp;
use crate::model::PlanId;
use crate::model::event::{Actor, NewEvent, payload};
use crate::model::job::{JobKind, ProvisionPlan, SessionRateLimit};
use crate::model::plan::{NewPlan, Plan, PlanState};
use crate::store::{Tx, plans as sql, router_health, sessions as session_sql};

/// Checks a plan's fields and puts its rate limit in MikroTik's canonical form.
fn validate(plan: &mut NewPlan) -> Result<(), DomainError> {
    ensure(
        !plan.name.trim().is_empty() && plan.name.len() <= 64,
        || "plan name must be 1-64 characters".into(),
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
    Ok(())
}

/// Creates a plan.
pub fn create(
    tx: &mut Tx<'_>,
    actor: &Actor,
    now: Timestamp,
    mut plan: NewPlan,
) -> Result<Plan, DomainError> {
    validate(&mut plan)?;
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
            format!("plan:{}", stored.name),
            &payload::PlanCreated(stored.clone()),
        ),
    )?;
    Ok(stored)
}

/// Changes to the plan `name` (or numeric id, as [`find`] reads it): the arguments of
/// `plan.update` and `siteboxd plans edit`. A field left out keeps its value; `null` removes an
/// optional limit. Name, kind and currency do not change (subscriptions, vouchers and the
/// routers' profiles are keyed on them).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanEdit {
    /// The plan, by name or id.
    pub name: String,
    /// Price in minor units (future purchases).
    #[serde(default)]
    pub price: Option<i64>,
    /// Validity in seconds (subscriptions activated from now on).
    #[serde(default)]
    pub validity_s: Option<i64>,
    /// Online time limit; `Some(None)` removes it (subscriptions activated from now on).
    #[serde(default, deserialize_with = "present")]
    pub time_limit_s: Option<Option<i64>>,
    /// Data limit; `Some(None)` removes it (subscriptions activated from now on).
    #[serde(default, deserialize_with = "present")]
    pub data_limit: Option<Option<i64>>,
    /// Rate limit; `Some(None)` removes it. Online sessions get it by CoA, the routers'
    /// profiles by provisioning, the next login by RADIUS.
    #[serde(default, deserialize_with = "present")]
    pub rate_limit: Option<Option<String>>,
    /// Devices at once (next login; the routers' hotspot profiles).
    #[serde(default)]
    pub shared_users: Option<u32>,
    /// MAC binding on first login.
    #[serde(default)]
    pub mac_binding: Option<bool>,
    /// Idle timeout; `Some(None)` removes it (next login).
    #[serde(default, deserialize_with = "present")]
    pub idle_timeout_s: Option<Option<u32>>,
    /// Interim interval (next login).
    #[serde(default)]
    pub interim_s: Option<u32>,
}

/// A field that is there, `null` or not: `Some(None)` for `null` (absent is the `default`).
fn present<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

/// What an edit did.
#[derive(Debug, Clone)]
pub struct Edited {
    /// The plan as stored now.
    pub plan: Plan,
    /// Router profile jobs enqueued (one per managed router when the profile changed).
    pub routers: usize,
    /// Online sessions sent the new rate limit by CoA.
    pub sessions: usize,
}

/// Edits a plan. In the same transaction: a `PlanUpdated` event with what changed, a profile
/// job per managed router when the rate limit or the devices changed, and a CoA job per online
/// session on the plan when the rate limit changed. Limits and validity apply to subscriptions
/// activated from now on (a running one keeps what it was sold).
pub fn edit(
    tx: &mut Tx<'_>,
    actor: &Actor,
    now: Timestamp,
    edit: PlanEdit,
) -> Result<Edited, DomainError> {
    let before = find(tx, &edit.name)?;
    let mut wanted = NewPlan {
        name: before.name.clone(),
        kind: before.kind,
        price: edit.price.unwrap_or(before.price),
        currency: before.currency.clone(),
        validity_s: edit.validity_s.unwrap_or(before.validity_s),
        time_limit_s: edit.time_limit_s.unwrap_or(before.time_limit_s),
        data_limit: edit.data_limit.unwrap_or(before.data_limit),
        rate_limit: edit.rate_limit.unwrap_or_else(|| before.rate_limit.clone()),
        shared_users: edit.shared_users.unwrap_or(before.shared_users),
        mac_binding: edit.mac_binding.unwrap_or(before.mac_binding),
        idle_timeout_s: edit.idle_timeout_s.unwrap_or(before.idle_timeout_s),
        interim_s: edit.interim_s.unwrap_or(before.interim_s),
    };
    validate(&mut wanted)?;
    let after = Plan {
        id: before.id,
        name: wanted.name,
        kind: wanted.kind,
        price: wanted.price,
        currency: wanted.currency,
        validity_s: wanted.validity_s,
        time_limit_s: wanted.time_limit_s,
        data_limit: wanted.data_limit,
        rate_limit: wanted.rate_limit,
        shared_users: wanted.shared_users,
        mac_binding: wanted.mac_binding,
        idle_timeout_s: wanted.idle_timeout_s,
        interim_s: wanted.interim_s,
        state: before.state,
    };
    let changes = changes(&before, &after);
    if changes.is_empty() {
        return Ok(Edited {
            plan: before,
            routers: 0,
            sessions: 0,
        });
    }
    sql::update(tx, &after, now)?;
    tx.emit(
        now,
        actor,
        NewEvent::new(
            format!("plan:{}", before.name),
            &payload::PlanUpdated {
                name: before.name.clone(),
                changes: Some(changes),
                state: None,
            },
        ),
    )?;
    let mut edited = Edited {
        plan: after,
        routers: 0,
        sessions: 0,
    };
    let plan = &edited.plan;
    if plan.rate_limit != before.rate_limit || plan.shared_users != before.shared_users {
        for router in router_health::managed(tx)? {
            tx.enqueue(
                &ProvisionPlan {
                    router_id: router,
                    plan_id: plan.id,
                }
                .spec(),
                now,
            )?;
            edited.routers += 1;
        }
    }
    if plan.rate_limit != before.rate_limit {
        for session in session_sql::open_on_plan(tx, plan.id)? {
            tx.enqueue(
                &SessionRateLimit {
                    session_id: session.id,
                }
                .spec(),
                now,
            )?;
            edited.sessions += 1;
        }
    }
    Ok(edited)
}

/// `{field: [before, after]}` for each field that differs.
fn changes(before: &Plan, after: &Plan) -> serde_json::Map<String, serde_json::Value> {
    let (Ok(serde_json::Value::Object(old)), Ok(serde_json::Value::Object(new))) =
        (serde_json::to_value(before), serde_json::to_value(after))
    else {
        return serde_json::Map::new();
    };
    new.into_iter()
        .filter(|(field, value)| old.get(field) != Some(value))
        .map(|(field, value)| {
            let was = old.get(&field).cloned().unwrap_or_default();
            (field, serde_json::json!([was, value]))
        })
        .collect()
}

/// Puts a plan on sale again.
pub fn enable(
    tx: &mut Tx<'_>,
    actor: &Actor,
    now: Timestamp,
    args: Named,
) -> Result<Plan, DomainError> {
    set_state(tx, actor, now, &args.name, true)
}

/// Stops selling a plan (running subscriptions keep it).
pub fn disable(
    tx: &mut Tx<'_>,
    actor: &Actor,
    now: Timestamp,
    args: Named,
) -> Result<Plan, DomainError> {
    set_state(tx, actor, now, &args.name, false)
}

fn set_state(
    tx: &mut Tx<'_>,
    actor: &Actor,
    now: Timestamp,
    name: &str,
    active: bool,
) -> Result<Plan, DomainError> {
    let plan =
        sql::by_name(tx, name)?.ok_or_else(|| DomainError::NotFound(format!("plan `{name}`")))?;
    let state = if active {
        PlanState::Active
    } else {
        PlanState::Disabled
    };
    sql::set_state(tx, plan.id, state, now)?;
    let stored =
        sql::get(tx, plan.id)?.ok_or_else(|| DomainError::NotFound(format!("plan `{name}`")))?;
    tx.emit(
        now,
        actor,
        NewEvent::new(
            format!("plan:{name}"),
            &payload::PlanUpdated {
                name: name.to_string(),
                changes: None,
                state: Some(stored.state),
            },
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
