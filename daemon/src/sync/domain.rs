//! The cloud's commands on the hotspot domain, applied inside the inbox transaction:
//! `payment.confirmed` (an M-Pesa payment confirmed centrally), `plan.create`, `plan.update`,
//! `plan.disable`, `plan.enable`, `subscriber.create`, `subscriber.suspend`, `subscriber.reinstate`, `subscription.grant` and
//! `vouchers.issue`.
//!
//! A command the domain refuses (unknown plan, bad input) is dead-lettered with the reason; a
//! payment that does not match its plan is not: it is recorded as rejected, for a technician,
//! and the answer says so.

use serde::Deserialize;

use super::commands::{CommandError, CommandRegistry};
use crate::domain::payments::{self, Confirmation};
use crate::domain::plans::{self, PlanEdit};
use crate::domain::subscribers;
use crate::domain::subscriptions;
use crate::domain::{DomainError, vouchers};
use crate::model::event::Actor;
use crate::model::plan::{NewPlan, PlanKind};
use crate::model::subscriber::{NewSubscriber, SubscriberKind};
use crate::model::subscription::{Origin, Source};
use crate::secrets::Secrets;
use crate::store::{StoreError, subscribers as subscriber_sql};

impl From<DomainError> for CommandError {
    fn from(err: DomainError) -> Self {
        match err {
            DomainError::Store(err) => CommandError::Store(err),
            // The box's own key failed: not the command's fault, so it comes again.
            DomainError::Secrets(err) => CommandError::Store(StoreError::Decode(err.to_string())),
            other => CommandError::rejected(other.to_string()),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PlanArgs {
    name: String,
    #[serde(default = "hotspot_plan")]
    kind: PlanKind,
    price: i64,
    currency: String,
    validity_s: i64,
    #[serde(default)]
    time_limit_s: Option<i64>,
    #[serde(default)]
    data_limit: Option<i64>,
    #[serde(default)]
    rate_limit: Option<String>,
    #[serde(default = "one")]
    shared_users: u32,
    #[serde(default)]
    mac_binding: bool,
    #[serde(default)]
    idle_timeout_s: Option<u32>,
    #[serde(default = "five_minutes")]
    interim_s: u32,
}

/// `plan.update`: a field left out keeps its value; `null` removes an optional limit.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PlanUpdate {
    name: String,
    #[serde(default)]
    price: Option<i64>,
    #[serde(default)]
    validity_s: Option<i64>,
    #[serde(default, deserialize_with = "present")]
    time_limit_s: Option<Option<i64>>,
    #[serde(default, deserialize_with = "present")]
    data_limit: Option<Option<i64>>,
    #[serde(default, deserialize_with = "present")]
    rate_limit: Option<Option<String>>,
    #[serde(default)]
    shared_users: Option<u32>,
    #[serde(default)]
    mac_binding: Option<bool>,
    #[serde(default, deserialize_with = "present")]
    idle_timeout_s: Option<Option<u32>>,
    #[serde(default)]
    interim_s: Option<u32>,
}

/// A field that is there, `null` or not: `Some(None)` for `null` (absent is the `default`).
fn present<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

fn hotspot_plan() -> PlanKind {
    PlanKind::Hotspot
}

fn one() -> u32 {
    1
}

fn five_minutes() -> u32 {
    300
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Name {
    name: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SubscriberArgs {
    username: String,
    #[serde(default)]
    kind: SubscriberKind,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    mac_auth: bool,
    #[serde(default)]
    phone: Option<String>,
    #[serde(default)]
    macs: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Username {
    username: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Grant {
    username: String,
    plan: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Issue {
    plan: String,
    count: u32,
    #[serde(default = "eight")]
    length: usize,
}

fn eight() -> usize {
    8
}

/// Registers the domain's commands.
pub fn register(registry: &mut CommandRegistry, secrets: &Secrets) {
    let keys = secrets.clone();
    registry.register_typed(
        "payment.confirmed",
        move |tx, ctx, confirmation: Confirmation| {
            let outcome = payments::apply(tx, &keys, &Actor::Cloud, ctx.now, &confirmation)?;
            Ok(serde_json::to_value(outcome).unwrap_or_default())
        },
    );
    registry.register_typed("plan.create", |tx, ctx, a: PlanArgs| {
        let plan = NewPlan {
            name: a.name,
            kind: a.kind,
            price: a.price,
            currency: a.currency,
            validity_s: a.validity_s,
            time_limit_s: a.time_limit_s,
            data_limit: a.data_limit,
            rate_limit: a.rate_limit,
            shared_users: a.shared_users,
            mac_binding: a.mac_binding,
            idle_timeout_s: a.idle_timeout_s,
            interim_s: a.interim_s,
        };
        let created = plans::create(tx, &Actor::Cloud, ctx.now, plan)?;
        Ok(serde_json::json!({ "plan_id": created.id }))
    });
    registry.register_typed("plan.update", |tx, ctx, a: PlanUpdate| {
        let edit = PlanEdit {
            price: a.price,
            validity_s: a.validity_s,
            time_limit_s: a.time_limit_s,
            data_limit: a.data_limit,
            rate_limit: a.rate_limit,
            shared_users: a.shared_users,
            mac_binding: a.mac_binding,
            idle_timeout_s: a.idle_timeout_s,
            interim_s: a.interim_s,
        };
        let edited = plans::edit(tx, &Actor::Cloud, ctx.now, &a.name, edit)?;
        Ok(serde_json::json!({
            "plan_id": edited.plan.id,
            "router_jobs": edited.routers,
            "sessions_updated": edited.sessions,
        }))
    });
    for (kind, active) in [("plan.disable", false), ("plan.enable", true)] {
        registry.register_typed(kind, move |tx, ctx, a: Name| {
            let plan = plans::set_state(tx, &Actor::Cloud, ctx.now, &a.name, active)?;
            Ok(serde_json::json!({ "plan_id": plan.id, "state": plan.state }))
        });
    }
    let keys = secrets.clone();
    registry.register_typed("subscriber.create", move |tx, ctx, a: SubscriberArgs| {
        let new = NewSubscriber {
            username: a.username,
            kind: a.kind,
            password: a.password,
            nt_hash: None,
            mac_auth: a.mac_auth,
            phone: a.phone,
            macs: a.macs,
        };
        let created = subscribers::create(tx, &keys, &Actor::Cloud, ctx.now, new)?;
        Ok(serde_json::json!({ "subscriber_id": created.id }))
    });
    for (kind, active) in [
        ("subscriber.suspend", false),
        ("subscriber.reinstate", true),
    ] {
        registry.register_typed(kind, move |tx, ctx, a: Username| {
            let subscriber =
                subscribers::set_active(tx, &Actor::Cloud, ctx.now, &a.username, active)?;
            Ok(serde_json::json!({ "subscriber_id": subscriber.id, "state": subscriber.state }))
        });
    }
    registry.register_typed("subscription.grant", |tx, ctx, a: Grant| {
        let subscriber = subscriber_sql::by_username(tx, &a.username)?
            .ok_or_else(|| CommandError::rejected(format!("unknown subscriber `{}`", a.username)))?;
        let plan = plans::find(tx, &a.plan)?;
        let origin = Origin { source: Source::Manual, payment_id: None, voucher_id: None };
        let granted = subscriptions::grant(tx, &Actor::Cloud, ctx.now, &subscriber, &plan, origin)?;
        Ok(serde_json::json!({ "subscription_id": granted.id, "state": granted.state, "expires_at": granted.expires_at }))
    });
    registry.register_typed("vouchers.issue", |tx, ctx, a: Issue| {
        let plan = plans::find(tx, &a.plan)?;
        let (batch, made) =
            vouchers::generate(tx, &Actor::Cloud, ctx.now, &plan, a.count, a.length)?;
        let codes: Vec<&str> = made.iter().map(|v| v.code.as_str()).collect();
        Ok(serde_json::json!({ "batch": batch, "codes": codes }))
    });
}
