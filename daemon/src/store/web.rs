//! The technician page's tables (technicians, web sessions, login attempts) and the reads the
//! page makes that no other module needs.

use rusqlite::{Connection, OptionalExtension, params};

use super::StoreError;
use crate::clock::Timestamp;
use crate::model::session::LiveSession;
use crate::model::technician::{Role, Technician};

/// Adds a technician; false when the name is taken.
pub(crate) fn add_technician(
    conn: &Connection,
    name: &str,
    password_hash: &str,
    role: Role,
    now: Timestamp,
) -> Result<bool, StoreError> {
    let inserted = conn
        .prepare_cached(
            "INSERT OR IGNORE INTO technicians (name, password_hash, role, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?4)",
        )?
        .execute(params![name, password_hash, role, now])?;
    Ok(inserted == 1)
}

/// Every technician, by name.
pub(crate) fn technicians(conn: &Connection) -> Result<Vec<Technician>, StoreError> {
    let mut stmt =
        conn.prepare_cached("SELECT id, name, role, created_at FROM technicians ORDER BY name")?;
    let rows = stmt.query_map([], |row| {
        Ok(Technician {
            id: row.get(0)?,
            name: row.get(1)?,
            role: row.get(2)?,
            created_at: row.get(3)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The technician `name` and their password hash.
pub(crate) fn technician_login(
    conn: &Connection,
    name: &str,
) -> Result<Option<(Technician, String)>, StoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT id, name, role, created_at, password_hash FROM technicians WHERE name = ?1",
        )?
        .query_row([name], |row| {
            Ok((
                Technician {
                    id: row.get(0)?,
                    name: row.get(1)?,
                    role: row.get(2)?,
                    created_at: row.get(3)?,
                },
                row.get(4)?,
            ))
        })
        .optional()?)
}

/// Removes technician `name` (and so their sessions); false when there is none.
pub(crate) fn remove_technician(conn: &Connection, name: &str) -> Result<bool, StoreError> {
    let removed = conn
        .prepare_cached("DELETE FROM technicians WHERE name = ?1")?
        .execute([name])?;
    Ok(removed == 1)
}

/// Sets technician `name`'s password hash and ends their sessions; false when there is none.
pub(crate) fn set_password(
    conn: &Connection,
    name: &str,
    password_hash: &str,
    now: Timestamp,
) -> Result<bool, StoreError> {
    let updated = conn
        .prepare_cached(
            "UPDATE technicians SET password_hash = ?1, updated_at = ?2 WHERE name = ?3",
        )?
        .execute(params![password_hash, now, name])?;
    conn.prepare_cached(
        "DELETE FROM web_sessions WHERE technician_id = (SELECT id FROM technicians WHERE name = ?1)",
    )?
    .execute([name])?;
    Ok(updated == 1)
}

/// Records a login attempt.
pub(crate) fn record_attempt(
    conn: &Connection,
    name: &str,
    peer: &str,
    ok: bool,
    now: Timestamp,
) -> Result<(), StoreError> {
    conn.prepare_cached("INSERT INTO login_attempts (name, peer, at, ok) VALUES (?1, ?2, ?3, ?4)")?
        .execute(params![name, peer, now, ok])?;
    Ok(())
}

/// Failed attempts since `since` for `name` (after its last success) and from `peer`.
pub(crate) fn recent_failures(
    conn: &Connection,
    name: &str,
    peer: &str,
    since: Timestamp,
) -> Result<(u32, u32), StoreError> {
    let by_name: u32 = conn
        .prepare_cached(
            "SELECT count(*) FROM login_attempts
             WHERE name = ?1 AND ok = 0 AND at >= ?2
               AND at > coalesce((SELECT max(at) FROM login_attempts WHERE name = ?1 AND ok = 1), 0)",
        )?
        .query_row(params![name, since], |row| row.get(0))?;
    let by_peer: u32 = conn
        .prepare_cached(
            "SELECT count(*) FROM login_attempts WHERE peer = ?1 AND ok = 0 AND at >= ?2",
        )?
        .query_row(params![peer, since], |row| row.get(0))?;
    Ok((by_name, by_peer))
}

/// Deletes login attempts and expired sessions older than `before`.
pub(crate) fn prune(
    conn: &Connection,
    before: Timestamp,
    now: Timestamp,
) -> Result<(), StoreError> {
    conn.prepare_cached("DELETE FROM login_attempts WHERE at < ?1")?
        .execute([before])?;
    conn.prepare_cached("DELETE FROM web_sessions WHERE expires_at < ?1")?
        .execute([now])?;
    Ok(())
}

/// Opens a web session.
pub(crate) fn insert_session(
    conn: &Connection,
    token_hash: &[u8],
    technician: i64,
    csrf: &str,
    now: Timestamp,
    expires_at: Timestamp,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO web_sessions (token_hash, technician_id, csrf, created_at, expires_at)
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![token_hash, technician, csrf, now, expires_at])?;
    Ok(())
}

/// The technician and CSRF token of the unexpired session `token_hash`.
pub(crate) fn session(
    conn: &Connection,
    token_hash: &[u8],
    now: Timestamp,
) -> Result<Option<(Technician, String)>, StoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT t.id, t.name, t.role, t.created_at, s.csrf
             FROM web_sessions s JOIN technicians t ON t.id = s.technician_id
             WHERE s.token_hash = ?1 AND s.expires_at > ?2",
        )?
        .query_row(params![token_hash, now], |row| {
            Ok((
                Technician {
                    id: row.get(0)?,
                    name: row.get(1)?,
                    role: row.get(2)?,
                    created_at: row.get(3)?,
                },
                row.get(4)?,
            ))
        })
        .optional()?)
}

/// Ends the session `token_hash`.
pub(crate) fn delete_session(conn: &Connection, token_hash: &[u8]) -> Result<(), StoreError> {
    conn.prepare_cached("DELETE FROM web_sessions WHERE token_hash = ?1")?
        .execute([token_hash])?;
    Ok(())
}

/// Open sessions, newest first.
pub(crate) fn live_sessions(conn: &Connection, limit: u32) -> Result<Vec<LiveSession>, StoreError> {
    // The octet sum saturates at i64::MAX (SQLite would make an overflowing sum a REAL).
    let mut stmt = conn.prepare_cached(
        "SELECT s.id, r.name, s.acct_session_id, s.username, s.mac, s.framed_ip, s.started_at, s.updated_at,
                s.session_time_s, MIN(s.input_octets, 9223372036854775807 - s.output_octets) + s.output_octets, sub.expires_at,
                sub.time_limit_s - sub.used_seconds, sub.data_limit - sub.used_bytes
         FROM sessions s JOIN routers r ON r.id = s.router_id
              LEFT JOIN subscriptions sub ON sub.id = s.subscription_id
         WHERE s.state = 'open' ORDER BY s.started_at DESC, s.id DESC LIMIT ?1",
    )?;
    let rows = stmt.query_map([limit], |row| {
        Ok(LiveSession {
            id: row.get(0)?,
            router: row.get(1)?,
            acct_session_id: row.get(2)?,
            username: row.get(3)?,
            mac: row.get(4)?,
            framed_ip: row.get(5)?,
            started_at: row.get(6)?,
            updated_at: row.get(7)?,
            session_time_s: row.get(8)?,
            octets: row.get(9)?,
            expires_at: row.get(10)?,
            time_left_s: row.get(11)?,
            data_left: row.get(12)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// When the oldest event the cloud has not acked happened.
pub(crate) fn oldest_unacked(conn: &Connection) -> Result<Option<Timestamp>, StoreError> {
    // Per lane, through the partial index of unacked rows: the backlog may be days long.
    let mut oldest: Option<i64> = None;
    for lane in sitebox_sync::wire::Lane::ALL {
        let seq: Option<i64> = conn
            .prepare_cached("SELECT min(seq) FROM outbox WHERE lane = ?1 AND acked_at IS NULL")?
            .query_row([lane.as_str()], |row| row.get(0))?;
        oldest = match (oldest, seq) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
    }
    let Some(seq) = oldest else {
        return Ok(None);
    };
    Ok(conn
        .prepare_cached("SELECT occurred_at FROM outbox WHERE seq = ?1")?
        .query_row([seq], |row| row.get(0))
        .optional()?)
}

/// A write that changes nothing but goes to disk (the health check: the store takes writes).
pub(crate) fn touch(conn: &Connection) -> Result<(), StoreError> {
    conn.prepare_cached("UPDATE sync_state SET cloud_cursor = cloud_cursor WHERE id = 1")?
        .execute([])?;
    Ok(())
}
