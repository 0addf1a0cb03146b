//! The wall clock's standing kept across restarts, and the re-anchoring of what was recorded
//! while it could not be trusted.

use rusqlite::{Connection, OptionalExtension, params};

use super::StoreError;
use crate::clock::{Reanchor, Trust};

/// What the last run knew of the clock (nothing on a new database).
pub(crate) fn load(conn: &Connection) -> Result<Trust, StoreError> {
    let known = conn
        .prepare_cached(
            "SELECT trusted_floor, untrusted_since, untrusted_last FROM clock_state WHERE id = 1",
        )?
        .query_row([], |row| {
            Ok(Trust {
                trusted: false,
                floor: row.get(0)?,
                untrusted_since: row.get(1)?,
                untrusted_last: row.get(2)?,
            })
        })
        .optional()?;
    Ok(known.unwrap_or(Trust {
        trusted: false,
        floor: None,
        untrusted_since: None,
        untrusted_last: None,
    }))
}

/// Records the clock's standing; the floor only moves forward.
pub(crate) fn save(conn: &Connection, trust: &Trust) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO clock_state (id, trusted_floor, untrusted_since, untrusted_last)
         VALUES (1, ?1, ?2, ?3)
         ON CONFLICT (id) DO UPDATE SET
           trusted_floor = MAX(COALESCE(trusted_floor, excluded.trusted_floor), COALESCE(excluded.trusted_floor, trusted_floor)),
           untrusted_since = excluded.untrusted_since,
           untrusted_last = excluded.untrusted_last",
    )?
    .execute(params![trust.floor, trust.untrusted_since, trust.untrusted_last])?;
    Ok(())
}

/// How many rows a re-anchoring moved.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Moved {
    pub subscriptions: usize,
    pub jobs: usize,
}

/// Moves every instant recorded on the untrusted timeline (from `reanchor.since` on) by its
/// offset: subscriptions' start and expiry, jobs' run-at, leases and finish times, periodic
/// jobs' next run; then forgets the timeline. In the caller's transaction.
pub(crate) fn reanchor(conn: &Connection, reanchor: &Reanchor) -> Result<Moved, StoreError> {
    let (since, offset) = (reanchor.since, reanchor.offset_ms);
    let subscriptions = conn
        .prepare_cached(
            "UPDATE subscriptions SET starts_at = starts_at + ?2, expires_at = expires_at + ?2,
                    ended_at = CASE WHEN ended_at >= ?1 THEN ended_at + ?2 ELSE ended_at END
             WHERE starts_at >= ?1",
        )?
        .execute(params![since, offset])?;
    let jobs = conn
        .prepare_cached(
            "UPDATE jobs SET
               run_at = CASE WHEN run_at >= ?1 THEN run_at + ?2 ELSE run_at END,
               locked_until = CASE WHEN locked_until >= ?1 THEN locked_until + ?2 ELSE locked_until END,
               finished_at = CASE WHEN finished_at >= ?1 THEN finished_at + ?2 ELSE finished_at END
             WHERE run_at >= ?1 OR locked_until >= ?1 OR finished_at >= ?1",
        )?
        .execute(params![since, offset])?;
    conn.prepare_cached("UPDATE failed_jobs SET failed_at = failed_at + ?2 WHERE failed_at >= ?1")?
        .execute(params![since, offset])?;
    conn.prepare_cached("UPDATE periodic_jobs SET next_at = next_at + ?2 WHERE next_at >= ?1")?
        .execute(params![since, offset])?;
    conn.prepare_cached(
        "UPDATE clock_state SET untrusted_since = NULL, untrusted_last = NULL WHERE id = 1",
    )?
    .execute([])?;
    Ok(Moved {
        subscriptions,
        jobs,
    })
}
