//! The accounting sessions table.

use rusqlite::{Connection, OptionalExtension, Row, params};

use super::StoreError;
use crate::clock::Timestamp;
use crate::model::PlanId;
use crate::model::RouterId;
use crate::model::SubscriberId;
use crate::model::SubscriptionId;
use crate::model::session::Session;

const COLUMNS: &str = "id, router_id, acct_session_id, subscriber_id, subscription_id, username, mac, framed_ip,
     nas_port_id, state, started_at, updated_at, stopped_at, session_time_s, input_octets, output_octets, terminate_cause";

fn session(row: &Row<'_>) -> rusqlite::Result<Session> {
    Ok(Session {
        id: row.get(0)?,
        router_id: RouterId(row.get(1)?),
        acct_session_id: row.get(2)?,
        subscriber_id: row.get::<_, Option<i64>>(3)?.map(SubscriberId),
        subscription_id: row.get::<_, Option<i64>>(4)?.map(SubscriptionId),
        username: row.get(5)?,
        mac: row.get(6)?,
        framed_ip: row.get(7)?,
        nas_port_id: row.get(8)?,
        state: row.get(9)?,
        started_at: row.get(10)?,
        updated_at: row.get(11)?,
        stopped_at: row.get(12)?,
        session_time_s: row.get(13)?,
        input_octets: row.get(14)?,
        output_octets: row.get(15)?,
        terminate_cause: row.get(16)?,
    })
}

/// A session by router and Acct-Session-Id.
pub(crate) fn get(
    conn: &Connection,
    router: RouterId,
    acct_session_id: &str,
) -> Result<Option<Session>, StoreError> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM sessions WHERE router_id = ?1 AND acct_session_id = ?2"
        ))?
        .query_row(params![router.0, acct_session_id], session)
        .optional()?)
}

/// A session by id.
pub(crate) fn by_id(conn: &Connection, id: i64) -> Result<Option<Session>, StoreError> {
    Ok(conn
        .prepare_cached(&format!("SELECT {COLUMNS} FROM sessions WHERE id = ?1"))?
        .query_row([id], session)
        .optional()?)
}

/// Inserts an open session with zero counters; returns its id.
pub(crate) fn insert(conn: &Connection, s: &Session) -> Result<i64, StoreError> {
    conn.prepare_cached(
        "INSERT INTO sessions (router_id, acct_session_id, subscriber_id, subscription_id, username, mac, framed_ip,
                               nas_port_id, state, started_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'open', ?9, ?9)",
    )?
    .execute(params![
        s.router_id.0,
        s.acct_session_id,
        s.subscriber_id.map(|id| id.0),
        s.subscription_id.map(|id| id.0),
        s.username,
        s.mac,
        s.framed_ip,
        s.nas_port_id,
        s.started_at
    ])?;
    Ok(conn.last_insert_rowid())
}

/// Stores new counters (never lower than the stored ones) and, for a Stop, closes the session.
pub(crate) fn update(
    conn: &Connection,
    id: i64,
    seconds: i64,
    input: i64,
    output: i64,
    now: Timestamp,
    stop: Option<Option<u32>>,
) -> Result<(), StoreError> {
    let (closing, cause) = match stop {
        Some(cause) => (true, cause),
        None => (false, None),
    };
    conn.prepare_cached(
        "UPDATE sessions SET session_time_s = MAX(session_time_s, ?1), input_octets = MAX(input_octets, ?2),
             output_octets = MAX(output_octets, ?3), updated_at = ?4,
             state = CASE WHEN ?5 THEN 'closed' ELSE state END,
             stopped_at = CASE WHEN ?5 THEN ?4 ELSE stopped_at END,
             terminate_cause = CASE WHEN ?5 THEN ?6 ELSE terminate_cause END
         WHERE id = ?7",
    )?
    .execute(params![seconds, input, output, now, closing, cause, id])?;
    Ok(())
}

/// The subscriber's open sessions.
pub(crate) fn open_for_subscriber(
    conn: &Connection,
    subscriber: SubscriberId,
) -> Result<Vec<Session>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM sessions WHERE subscriber_id = ?1 AND state = 'open' ORDER BY id"
    ))?;
    let rows = stmt.query_map([subscriber.0], session)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The router's open sessions.
pub(crate) fn open_for_router(
    conn: &Connection,
    router: RouterId,
) -> Result<Vec<Session>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM sessions WHERE router_id = ?1 AND state = 'open' ORDER BY id"
    ))?;
    let rows = stmt.query_map([router.0], session)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Open sessions, newest first.
pub(crate) fn open(conn: &Connection, limit: u32) -> Result<Vec<Session>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM sessions WHERE state = 'open' ORDER BY started_at DESC LIMIT ?1"
    ))?;
    let rows = stmt.query_map([limit], session)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Open sessions whose subscription is on `plan`.
pub(crate) fn open_on_plan(conn: &Connection, plan: PlanId) -> Result<Vec<Session>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM sessions WHERE state = 'open'
           AND subscription_id IN (SELECT id FROM subscriptions WHERE plan_id = ?1) ORDER BY id"
    ))?;
    let rows = stmt.query_map([plan.0], session)?;
    Ok(rows.collect::<Result<_, _>>()?)
}
