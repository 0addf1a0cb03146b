//! Subscriptions: a plan bought by (or given to) a subscriber. Activated at once, or queued
//! behind the one that is running; its expiry is computed once, at activation, in UTC.

use std::time::Duration;

use serde::Serialize;

use super::DomainError;
use super::expiry;
use super::plans::{Plan, PlanId};
use super::subscribers::{Subscriber, SubscriberId};
use crate::clock::Timestamp;
use crate::events::{Actor, EventKind, NewEvent};
use crate::store::{Tx, plans as plan_sql, subscriptions as sql};

/// A subscription's id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct SubscriptionId(pub i64);

/// Where a subscription came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// An M-Pesa payment.
    Mpesa,
    /// Cash taken at the site.
    Cash,
    /// A voucher code.
    Voucher,
    /// Given by an operator.
    Manual,
}

impl Source {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Mpesa => "mpesa",
            Source::Cash => "cash",
            Source::Voucher => "voucher",
            Source::Manual => "manual",
        }
    }
}

/// A subscription as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Subscription {
    /// Id.
    pub id: SubscriptionId,
    /// Whose.
    pub subscriber_id: SubscriberId,
    /// Which plan.
    pub plan_id: PlanId,
    /// `queued`, `active`, `expired`, `exhausted` or `cancelled`.
    pub state: String,
    /// Where it came from.
    pub source: String,
    /// Activation time.
    pub starts_at: Option<Timestamp>,
    /// Expiry, computed at activation.
    pub expires_at: Option<Timestamp>,
    /// Online seconds allowed.
    pub time_limit_s: Option<i64>,
    /// Bytes allowed.
    pub data_limit: Option<i64>,
    /// Online seconds used.
    pub used_seconds: i64,
    /// Bytes used.
    pub used_bytes: i64,
}

impl Subscription {
    /// Seconds of online time left, if limited.
    pub fn time_left(&self) -> Option<i64> {
        self.time_limit_s
            .map(|limit| (limit - self.used_seconds).max(0))
    }

    /// Bytes left, if limited.
    pub fn data_left(&self) -> Option<i64> {
        self.data_limit
            .map(|limit| (limit - self.used_bytes).max(0))
    }
}

/// What started a subscription.
#[derive(Debug, Clone, Copy)]
pub struct Origin {
    /// The kind of source.
    pub source: Source,
    /// The payment, if paid.
    pub payment_id: Option<i64>,
    /// The voucher, if redeemed.
    pub voucher_id: Option<i64>,
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
        current.state == "active" && current.expires_at.is_some_and(|at| at > now)
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
    tx.enqueue(&expiry::expire_job(id, expires_at), now)?;
    let active =
        sql::get(tx, id)?.ok_or_else(|| DomainError::NotFound(format!("subscription {}", id.0)))?;
    tx.emit(
        now,
        actor,
        NewEvent::new(
            EventKind::SubscriptionStarted,
            format!("subscription:{}", id.0),
            serde_json::json!({
                "subscription_id": id, "subscriber_id": active.subscriber_id, "plan": plan.name,
                "starts_at": now, "expires_at": expires_at, "source": active.source,
            }),
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
