//! Router health columns (0006) and the queries provisioning runs over routers and
//! subscribers.

use rusqlite::{Connection, OptionalExtension, Row, params};

use super::StoreError;
use crate::clock::Timestamp;
use crate::model::RouterId;
use crate::model::SubscriberId;
use crate::model::router::{Reached, RouterHealth};

const COLUMNS: &str =
    "id, name, state, status, status_detail, api_host IS NOT NULL AND api_user IS NOT NULL,
     ros_version, identity, latency_ms, uptime_s, cpu_load, free_memory, active_sessions,
     last_seen_at, last_error, checked_at";

fn health(row: &Row<'_>) -> rusqlite::Result<RouterHealth> {
    Ok(RouterHealth {
        id: RouterId(row.get(0)?),
        name: row.get(1)?,
        state: row.get(2)?,
        status: row.get(3)?,
        status_detail: row.get(4)?,
        managed: row.get(5)?,
        ros_version: row.get(6)?,
        identity: row.get(7)?,
        latency_ms: row.get(8)?,
        uptime_s: row.get(9)?,
        cpu_load: row.get(10)?,
        free_memory: row.get(11)?,
        active_sessions: row.get(12)?,
        last_seen_at: row.get(13)?,
        last_error: row.get(14)?,
        checked_at: row.get(15)?,
    })
}

/// Every router's health, by name.
pub(crate) fn list(conn: &Connection) -> Result<Vec<RouterHealth>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!("SELECT {COLUMNS} FROM routers ORDER BY name"))?;
    let rows = stmt.query_map([], health)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// One router's health.
pub(crate) fn get(conn: &Connection, id: RouterId) -> Result<Option<RouterHealth>, StoreError> {
    Ok(conn
        .prepare_cached(&format!("SELECT {COLUMNS} FROM routers WHERE id = ?1"))?
        .query_row([id.0], health)
        .optional()?)
}

/// Records a poll that reached the router: status `up`.
pub(crate) fn record_up(
    conn: &Connection,
    id: RouterId,
    seen: &Reached,
    now: Timestamp,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "UPDATE routers SET status = 'up', status_detail = NULL, last_error = NULL, ros_version = ?1,
                identity = ?2, latency_ms = ?3, uptime_s = ?4, cpu_load = ?5, free_memory = ?6,
                active_sessions = ?7, last_seen_at = ?8, checked_at = ?8
         WHERE id = ?9",
    )?
    .execute(params![
        seen.ros_version,
        seen.identity,
        seen.latency_ms,
        seen.uptime_s,
        seen.cpu_load,
        seen.free_memory,
        seen.active_sessions,
        now,
        id.0
    ])?;
    Ok(())
}

/// Records a poll that failed: status `down` with the error; the last figures are kept.
pub(crate) fn record_down(
    conn: &Connection,
    id: RouterId,
    error: &str,
    now: Timestamp,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "UPDATE routers SET status = 'down', status_detail = ?1, last_error = ?1, checked_at = ?2
         WHERE id = ?3",
    )?
    .execute(params![error, now, id.0])?;
    Ok(())
}

/// Records the last error a job got from the router (the health poll decides up or down).
pub(crate) fn record_error(conn: &Connection, id: RouterId, error: &str) -> Result<(), StoreError> {
    conn.prepare_cached("UPDATE routers SET last_error = ?1 WHERE id = ?2")?
        .execute(params![error, id.0])?;
    Ok(())
}

/// Active routers with RouterOS API access: the ones provisioning and health polling manage.
pub(crate) fn managed(conn: &Connection) -> Result<Vec<RouterId>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT id FROM routers WHERE state = 'active' AND api_host IS NOT NULL
         AND api_user IS NOT NULL ORDER BY id",
    )?;
    let rows = stmt.query_map([], |row| row.get(0).map(RouterId))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Every subscriber not deleted, by id.
pub(crate) fn subscriber_ids(conn: &Connection) -> Result<Vec<SubscriberId>, StoreError> {
    let mut stmt =
        conn.prepare_cached("SELECT id FROM subscribers WHERE state != 'deleted' ORDER BY id")?;
    let rows = stmt.query_map([], |row| row.get(0).map(SubscriberId))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// A change to `subscriber` that `router` must get: its wanted revision goes up.
pub(crate) fn bump_wanted(
    conn: &Connection,
    router: RouterId,
    subscriber: SubscriberId,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO router_provisioning (router_id, subscriber_id) VALUES (?1, ?2)
         ON CONFLICT (router_id, subscriber_id) DO UPDATE SET wanted = wanted + 1",
    )?
    .execute(params![router.0, subscriber.0])?;
    Ok(())
}

/// The wanted revision of (`router`, `subscriber`); 0 when never changed.
pub(crate) fn wanted(
    conn: &Connection,
    router: RouterId,
    subscriber: SubscriberId,
) -> Result<i64, StoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT wanted FROM router_provisioning WHERE router_id = ?1 AND subscriber_id = ?2",
        )?
        .query_row(params![router.0, subscriber.0], |row| row.get(0))
        .optional()?
        .unwrap_or(0))
}

/// The router has revision `revision` of the subscriber (never moves back).
pub(crate) fn mark_applied(
    conn: &Connection,
    router: RouterId,
    subscriber: SubscriberId,
    revision: i64,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "UPDATE router_provisioning SET applied = MAX(applied, ?3)
         WHERE router_id = ?1 AND subscriber_id = ?2",
    )?
    .execute(params![router.0, subscriber.0, revision])?;
    Ok(())
}

/// Up to `limit` subscribers whose latest change `router` does not have yet.
pub(crate) fn behind(
    conn: &Connection,
    router: RouterId,
    limit: u32,
) -> Result<Vec<SubscriberId>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT subscriber_id FROM router_provisioning WHERE router_id = ?1 AND applied < wanted
         ORDER BY subscriber_id LIMIT ?2",
    )?;
    let rows = stmt.query_map(params![router.0, limit], |row| row.get(0).map(SubscriberId))?;
    Ok(rows.collect::<Result<_, _>>()?)
}
