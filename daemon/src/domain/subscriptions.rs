//! Subscriptions: a plan bought by (or given to) a subscriber. Activated at once, or queued
//! behind the one that is running; its expiry is computed once, at activation, in UTC.

use std::time::Duration;

use serde::Deserialize;

use super::DomainError;
use crate::clock::Timestamp;
use crate::model::SubscriptionId;
use crate::model::event::{Actor, NewEvent, payload};
use crate::model::job::{ExpireSubscription, JobKind};
use crate::model::plan::Plan;
use crate::model::subscriber::Subscriber;
use crate::model::subscription::{Origin, Source, Subscription, SubscriptionState};
use crate::store::{Tx, plans as plan_sql, subscribers as subscriber_sql, subscriptions as sql};

/// A plan given to an account by an operator (the arguments of `subscription.grant` and
/// `siteboxd subscribers grant`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Give {
    /// The account.
    pub username: String,
    /// The plan, by name or id.
    pub plan: String,
}

/// Gives an account a plan, as an operator (source `manual`): active now, or queued behind
/// the running subscription.
pub fn give(
    tx: &mut Tx<'_>,
    actor: &Actor,
    now: Timestamp,
    args: Give,
) -> Result<Subscription, DomainError> {
    let subscriber = subscriber_sql::by_username(tx, &args.username)?
        .ok_or_else(|| DomainError::NotFound(format!("subscriber `{}`", args.username)))?;
    let plan = super::plans::find(tx, &args.plan)?;
    let origin = Origin {
        source: Source::Manual,
        payment_id: None,
        voucher_id: None,
    };
    grant(tx, actor, now, &subscriber, &plan, origin)
}

/// Gives `subscriber` a subscription to `plan`: active now, or queued behind the running one.
pub fn grant(
    tx: &mut Tx<'_>,
    actor: &Actor,
    now: Timestamp,
    subscriber: &Subscriber,
    plan: &Plan,
    origin: Origin,
) -> Result<Subscription, DomainError> {
    let running = sql::current(tx, subscriber.id)?;
    let id = sql::insert(tx, subscriber.id, plan, origin, now)?;
    let queued = running.is_some_and(|current| {
        current.state == SubscriptionState::Active && current.expires_at.is_some_and(|at| at > now)
    });
    if !queued {
        activate(tx, actor, now, id)?;
    }
    sql::get(tx, id)?.ok_or_else(|| DomainError::NotFound(format!("subscription {}", id.0)))
}

/// Activates a queued subscription at `now`: fixes its expiry and schedules its end.
pub fn activate(
    tx: &mut Tx<'_>,
    actor: &Actor,
    now: Timestamp,
    id: SubscriptionId,
) -> Result<Subscription, DomainError> {
    let subscription =
        sql::get(tx, id)?.ok_or_else(|| DomainError::NotFound(format!("subscription {}", id.0)))?;
    let plan = plan_sql::get(tx, subscription.plan_id)?
        .ok_or_else(|| DomainError::NotFound(format!("plan {}", subscription.plan_id.0)))?;
    let expires_at = expires_at(now, plan.validity_s);
    sql::activate(tx, id, now, expires_at)?;
    tx.enqueue(
        &ExpireSubscription {
            subscription_id: id,
        }
        .spec()
        .run_at(expires_at),
        now,
    )?;
    let active =
        sql::get(tx, id)?.ok_or_else(|| DomainError::NotFound(format!("subscription {}", id.0)))?;
    tx.emit(
        now,
        actor,
        NewEvent::new(
            format!("subscription:{}", id.0),
            &payload::SubscriptionStarted {
                subscription_id: id,
                subscriber_id: active.subscriber_id,
                plan: plan.name.clone(),
                starts_at: now,
                expires_at,
                source: active.source,
            },
        ),
    )?;
    super::provisioning::subscriber_changed(tx, now, active.subscriber_id)?;
    Ok(active)
}

/// Expiry: `validity_s` after activation, in UTC milliseconds (no calendar arithmetic, so no
/// DST or month-end surprises: a 30-day plan bought on 31 January ends on 2 March, 00:00 + the
/// time of day).
pub fn expires_at(activated: Timestamp, validity_s: i64) -> Timestamp {
    activated.after(Duration::from_secs(u64::try_from(validity_s).unwrap_or(0)))
}
