//! Expiry enforcement, the third layer (after Session-Timeout in the reply and the reject at
//! re-auth): when a subscription reaches its expiry or a limit, it ends, every open session of
//! its subscriber gets a disconnect job, and the next queued subscription starts.
//!
//! The end is scheduled as a job at the expiry instant, so it survives restarts; a periodic
//! sweep catches anything that fell due while the box was off or that a job missed.

use super::DomainError;
use super::subscriptions;
use crate::clock::Timestamp;
use crate::model::SubscriptionId;
use crate::model::event::{Actor, EventKind, NewEvent};
use crate::model::job::JobSpec;
use crate::store::{Tx, sessions, subscriptions as sql};

/// The job that ends one subscription at its expiry.
pub const EXPIRE: &str = "subscription.expire";
/// The periodic job that ends every subscription past its expiry.
pub const SWEEP: &str = "subscription.sweep";
/// The job that cuts one session off (Disconnect-Request, then the RouterOS API).
pub const DISCONNECT: &str = "session.disconnect";

/// The job ending subscription `id` at `at`.
pub fn expire_job(id: SubscriptionId, at: Timestamp) -> JobSpec {
    JobSpec::new(
        "default",
        EXPIRE,
        serde_json::json!({ "subscription_id": id.0 }),
    )
    .run_at(at)
    .priority(-1)
    .unique(format!("{EXPIRE}:{}", id.0))
}

/// The queue of disconnects and their checks: its own workers, so a cut-off never waits
/// behind provisioning jobs held by a router that is down.
pub const ENFORCEMENT_QUEUE: &str = "enforcement";

/// The job disconnecting session `session_id` (the sessions table's id).
pub fn disconnect_job(session_id: i64) -> JobSpec {
    JobSpec::new(
        ENFORCEMENT_QUEUE,
        DISCONNECT,
        serde_json::json!({ "session_id": session_id }),
    )
    .priority(-1)
    .max_attempts(10)
    .timeout(std::time::Duration::from_secs(30))
    .unique(format!("{DISCONNECT}:{session_id}"))
}

/// Sends an online session its plan's rate limit as it is now (a CoA-Request).
pub const RATE_LIMIT: &str = "session.rate_limit";

/// The job giving session `session_id` its plan's current rate limit. It reads the plan when it
/// runs, so several edits in a row send the last one.
pub fn rate_limit_job(session_id: i64) -> JobSpec {
    JobSpec::new(
        ENFORCEMENT_QUEUE,
        RATE_LIMIT,
        serde_json::json!({ "session_id": session_id }),
    )
    .max_attempts(5)
    .timeout(std::time::Duration::from_secs(30))
    .unique(format!("{RATE_LIMIT}:{session_id}"))
}

/// Why a subscription ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndReason {
    /// Its validity ran out.
    Expired,
    /// Its time or data limit was used up.
    Exhausted,
}

impl EndReason {
    fn state(self) -> &'static str {
        match self {
            EndReason::Expired => "expired",
            EndReason::Exhausted => "exhausted",
        }
    }
}

/// Ends subscription `id` if it is active and its expiry is at or before `now`.
pub fn expire(tx: &mut Tx<'_>, now: Timestamp, id: SubscriptionId) -> Result<bool, DomainError> {
    let Some(subscription) = sql::get(tx, id)? else {
        return Ok(false);
    };
    let due = subscription.state == "active" && subscription.expires_at.is_some_and(|at| at <= now);
    if due {
        end(tx, now, id, EndReason::Expired)?;
    }
    Ok(due)
}

/// Ends every active subscription whose expiry is at or before `now`; returns how many.
pub fn sweep(tx: &mut Tx<'_>, now: Timestamp) -> Result<usize, DomainError> {
    let mut ended = 0;
    loop {
        let due = sql::due_to_expire(tx, now, 500)?;
        if due.is_empty() {
            return Ok(ended);
        }
        for id in due {
            if end(tx, now, id, EndReason::Expired)? {
                ended += 1;
            }
        }
    }
}

/// Ends subscription `id` as `reason` (no-op unless active): event, disconnect jobs for the
/// subscriber's open sessions, and the next queued subscription activated.
pub fn end(
    tx: &mut Tx<'_>,
    now: Timestamp,
    id: SubscriptionId,
    reason: EndReason,
) -> Result<bool, DomainError> {
    if !sql::end(tx, id, reason.state(), now)? {
        return Ok(false);
    }
    let Some(subscription) = sql::get(tx, id)? else {
        return Ok(false);
    };
    let open = sessions::open_for_subscriber(tx, subscription.subscriber_id)?;
    for session in &open {
        tx.enqueue(&disconnect_job(session.id), now)?;
    }
    tx.emit(
        now,
        &Actor::System,
        NewEvent::new(EventKind::SubscriptionExpired, format!("subscription:{}", id.0), serde_json::json!({
            "subscription_id": id, "subscriber_id": subscription.subscriber_id, "reason": reason.state(),
            "expires_at": subscription.expires_at, "used_seconds": subscription.used_seconds,
            "used_bytes": subscription.used_bytes, "sessions_to_disconnect": open.len(),
        })),
    )?;
    super::provisioning::subscriber_changed(tx, now, subscription.subscriber_id)?;
    if let Some(next) = sql::next_queued(tx, subscription.subscriber_id)? {
        subscriptions::activate(tx, &Actor::System, now, next)?;
    }
    Ok(true)
}

/// Ends the subscription as exhausted when its time or data is used up.
pub fn enforce_limits(
    tx: &mut Tx<'_>,
    now: Timestamp,
    id: SubscriptionId,
) -> Result<bool, DomainError> {
    let Some(subscription) = sql::get(tx, id)? else {
        return Ok(false);
    };
    let used_up = subscription.time_left() == Some(0) || subscription.data_left() == Some(0);
    if subscription.state == "active" && used_up {
        return end(tx, now, id, EndReason::Exhausted);
    }
    Ok(false)
}
