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
use crate::model::event::{Actor, NewEvent, payload};
use crate::model::job::{DisconnectSession, JobKind};
use crate::model::subscription::{EndReason, SubscriptionState};
use crate::store::{Tx, sessions, subscriptions as sql};

/// Ends subscription `id` if it is active and its expiry is at or before `now`.
pub(crate) fn expire(
    tx: &mut Tx<'_>,
    now: Timestamp,
    id: SubscriptionId,
) -> Result<bool, DomainError> {
    let Some(subscription) = sql::get(tx, id)? else {
        return Ok(false);
    };
    let due = subscription.state == SubscriptionState::Active
        && subscription.expires_at.is_some_and(|at| at <= now);
    if due {
        end(tx, now, id, EndReason::Expired)?;
    }
    Ok(due)
}

/// Ends every active subscription whose expiry is at or before `now`; returns how many.
pub(crate) fn sweep(tx: &mut Tx<'_>, now: Timestamp) -> Result<usize, DomainError> {
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
pub(crate) fn end(
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
        tx.enqueue(
            &DisconnectSession {
                session_id: session.id,
            }
            .spec(),
            now,
        )?;
    }
    tx.emit(
        now,
        &Actor::System,
        NewEvent::new(
            format!("subscription:{}", id.0),
            &payload::SubscriptionExpired {
                subscription_id: id,
                subscriber_id: subscription.subscriber_id,
                reason,
                expires_at: subscription.expires_at,
                used_seconds: subscription.used_seconds,
                used_bytes: subscription.used_bytes,
                sessions_to_disconnect: open.len(),
            },
        ),
    )?;
    super::provisioning::subscriber_changed(tx, now, subscription.subscriber_id)?;
    if let Some(next) = sql::next_queued(tx, subscription.subscriber_id)? {
        subscriptions::activate(tx, &Actor::System, now, next)?;
    }
    Ok(true)
}

/// Ends the subscription as exhausted when its time or data is used up.
pub(crate) fn enforce_limits(
    tx: &mut Tx<'_>,
    now: Timestamp,
    id: SubscriptionId,
) -> Result<bool, DomainError> {
    let Some(subscription) = sql::get(tx, id)? else {
        return Ok(false);
    };
    let used_up = subscription.time_left() == Some(0) || subscription.data_left() == Some(0);
    if subscription.state == SubscriptionState::Active && used_up {
        return end(tx, now, id, EndReason::Exhausted);
    }
    Ok(false)
}
