//! The subscriptions table.

use rusqlite::{Connection, OptionalExtension, Row, params};

use super::StoreError;
use crate::clock::Timestamp;
use crate::model::PlanId;
use crate::model::SubscriberId;
use crate::model::SubscriptionId;
use crate::model::plan::Plan;
use crate::model::subscription::{Origin, Subscription, SubscriptionState};

const COLUMNS: &str =
    "id, subscriber_id, plan_id, state, source, starts_at, expires_at, time_limit_s, data_limit,
     used_seconds, used_bytes";

fn subscription(row: &Row<'_>) -> rusqlite::Result<Subscription> {
    Ok(Subscription {
        id: SubscriptionId(row.get(0)?),
        subscriber_id: SubscriberId(row.get(1)?),
        plan_id: PlanId(row.get(2)?),
        state: row.get(3)?,
        source: row.get(4)?,
        starts_at: row.get(5)?,
        expires_at: row.get(6)?,
        time_limit_s: row.get(7)?,
        data_limit: row.get(8)?,
        used_seconds: row.get(9)?,
        used_bytes: row.get(10)?,
    })
}

/// Inserts a queued subscription with the plan's limits copied.
pub(crate) fn insert(
    conn: &Connection,
    subscriber: SubscriberId,
    plan: &Plan,
    origin: Origin,
    now: Timestamp,
) -> Result<SubscriptionId, StoreError> {
    conn.prepare_cached(
        "INSERT INTO subscriptions (subscriber_id, plan_id, state, source, payment_id, voucher_id, time_limit_s, data_limit, created_at)
         VALUES (?1, ?2, 'queued', ?3, ?4, ?5, ?6, ?7, ?8)",
    )?
    .execute(params![subscriber.0, plan.id.0, origin.source, origin.payment_id, origin.voucher_id, plan.time_limit_s, plan.data_limit, now])?;
    Ok(SubscriptionId(conn.last_insert_rowid()))
}

/// A subscription by id.
pub(crate) fn get(
    conn: &Connection,
    id: SubscriptionId,
) -> Result<Option<Subscription>, StoreError> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM subscriptions WHERE id = ?1"
        ))?
        .query_row([id.0], subscription)
        .optional()?)
}

/// The subscriber's active subscription, else its oldest queued one.
///
/// Two lookups on `subscriptions_current`, each in index order: one query with
/// `state IN ('active', 'queued') ORDER BY state = 'active' DESC, id` built two temporary
/// b-trees (the IN list and the sort) on every call, 38 % of a RADIUS login's instructions.
pub(crate) fn current(
    conn: &Connection,
    subscriber: SubscriberId,
) -> Result<Option<Subscription>, StoreError> {
    let active = conn
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM subscriptions WHERE subscriber_id = ?1 AND state = 'active'
             ORDER BY id LIMIT 1"
        ))?
        .query_row([subscriber.0], subscription)
        .optional()?;
    if active.is_some() {
        return Ok(active);
    }
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM subscriptions WHERE subscriber_id = ?1 AND state = 'queued'
             ORDER BY id LIMIT 1"
        ))?
        .query_row([subscriber.0], subscription)
        .optional()?)
}

/// The subscriber's most recent subscription, whatever its state.
pub(crate) fn latest(
    conn: &Connection,
    subscriber: SubscriberId,
) -> Result<Option<Subscription>, StoreError> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM subscriptions WHERE subscriber_id = ?1 ORDER BY id DESC LIMIT 1"
        ))?
        .query_row([subscriber.0], subscription)
        .optional()?)
}

/// The subscriber's oldest queued subscription.
pub(crate) fn next_queued(
    conn: &Connection,
    subscriber: SubscriberId,
) -> Result<Option<SubscriptionId>, StoreError> {
    Ok(conn
        .prepare_cached("SELECT id FROM subscriptions WHERE subscriber_id = ?1 AND state = 'queued' ORDER BY id LIMIT 1")?
        .query_row([subscriber.0], |row| row.get(0).map(SubscriptionId))
        .optional()?)
}

/// Marks a subscription active from `starts_at` to `expires_at`.
pub(crate) fn activate(
    conn: &Connection,
    id: SubscriptionId,
    starts_at: Timestamp,
    expires_at: Timestamp,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "UPDATE subscriptions SET state = 'active', starts_at = ?1, expires_at = ?2 WHERE id = ?3",
    )?
    .execute(params![starts_at, expires_at, id.0])?;
    Ok(())
}

/// Ends an active subscription as `state` (expired, exhausted or cancelled). False when it was
/// not active (ended already).
pub(crate) fn end(
    conn: &Connection,
    id: SubscriptionId,
    state: SubscriptionState,
    now: Timestamp,
) -> Result<bool, StoreError> {
    let changed = conn
        .prepare_cached(
            "UPDATE subscriptions SET state = ?1, ended_at = ?2 WHERE id = ?3 AND state = 'active'",
        )?
        .execute(params![state, now, id.0])?;
    Ok(changed == 1)
}

/// Active subscriptions whose expiry is at or before `now`.
pub(crate) fn due_to_expire(
    conn: &Connection,
    now: Timestamp,
    limit: u32,
) -> Result<Vec<SubscriptionId>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT id FROM subscriptions WHERE state = 'active' AND expires_at <= ?1 ORDER BY expires_at LIMIT ?2",
    )?;
    let rows = stmt.query_map(params![now, limit], |row| row.get(0).map(SubscriptionId))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Adds usage to a subscription.
pub(crate) fn add_usage(
    conn: &Connection,
    id: SubscriptionId,
    seconds: i64,
    bytes: i64,
) -> Result<(), StoreError> {
    // Saturating at i64::MAX: SQLite turns an overflowing integer sum into a REAL.
    conn.prepare_cached(
        "UPDATE subscriptions SET
           used_seconds = CASE WHEN used_seconds > 9223372036854775807 - ?1 THEN 9223372036854775807 ELSE used_seconds + ?1 END,
           used_bytes = CASE WHEN used_bytes > 9223372036854775807 - ?2 THEN 9223372036854775807 ELSE used_bytes + ?2 END
         WHERE id = ?3",
    )?
        .execute(params![seconds, bytes, id.0])?;
    Ok(())
}
