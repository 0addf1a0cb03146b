//! Cloud sync's SQL: reading the outbox in lanes, marking what the cloud acked, the disk
//! budget, and the inbox of cloud commands.

use rusqlite::{Connection, OptionalExtension, params};
use serde_json::value::RawValue;
use sitebox_sync::edge::BudgetReport;
use sitebox_sync::wire::{CommandResult, CommandState, Lane, ResendOutcome, VERSION, WireEvent};

use super::StoreError;
use crate::clock::Timestamp;

/// Estimated bytes one outbox row costs beyond its text columns (row header, seq, times, the
/// two index entries).
const ROW_OVERHEAD: i64 = 96;

fn to_seq(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

fn from_seq(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

/// The cloud's cursor: every seq up to it is stored in the cloud.
pub(crate) fn cursor(conn: &Connection) -> Result<u64, StoreError> {
    let cursor: i64 = conn
        .prepare_cached("SELECT cloud_cursor FROM sync_state WHERE id = 1")?
        .query_row([], |row| row.get(0))?;
    Ok(from_seq(cursor))
}

/// Up to `limit` unacked events of `lane` with seq > `after`, ascending.
pub(crate) fn unacked(
    conn: &Connection,
    lane: Lane,
    after: u64,
    limit: usize,
) -> Result<Vec<WireEvent>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT seq, id, type, schema_version, occurred_at, boot_id, uptime_ms, subject, payload
         FROM outbox WHERE lane = ?1 AND seq > ?2 AND acked_at IS NULL ORDER BY seq LIMIT ?3",
    )?;
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let rows = stmt.query_map(params![lane.as_str(), to_seq(after), limit], |row| {
        Ok((
            row.get::<_, i64>(0)?,
            row.get::<_, String>(1)?,
            row.get::<_, String>(2)?,
            row.get::<_, u32>(3)?,
            row.get::<_, i64>(4)?,
            row.get::<_, String>(5)?,
            row.get::<_, i64>(6)?,
            row.get::<_, String>(7)?,
            row.get::<_, String>(8)?,
        ))
    })?;
    let mut events = Vec::new();
    for row in rows {
        let (seq, id, kind, schema_version, occurred_at, boot_id, uptime_ms, subject, payload) =
            row?;
        let payload = RawValue::from_string(payload)
            .map_err(|e| StoreError::Decode(format!("outbox seq {seq}: {e}")))?;
        events.push(WireEvent {
            seq: from_seq(seq),
            id,
            kind,
            schema_version,
            occurred_at,
            boot_id,
            uptime_ms,
            subject,
            payload,
        });
    }
    Ok(events)
}

/// Up to `limit` seqs of telemetry dropped under the budget, > `after`, ascending.
pub(crate) fn dropped_after(
    conn: &Connection,
    after: u64,
    limit: usize,
) -> Result<Vec<u64>, StoreError> {
    let mut stmt =
        conn.prepare_cached("SELECT seq FROM outbox_dropped WHERE seq > ?1 ORDER BY seq LIMIT ?2")?;
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let rows = stmt.query_map(params![to_seq(after), limit], |row| row.get::<_, i64>(0))?;
    Ok(rows
        .map(|seq| seq.map(from_seq))
        .collect::<Result<_, _>>()?)
}

/// SQL that marks an outbox as rewound at its current head (run by `siteboxd restore` on the
/// restored copy, whatever its schema version).
pub(crate) const MARK_REWOUND: &str = "
    CREATE TABLE IF NOT EXISTS outbox_rewind (
        id              INTEGER PRIMARY KEY CHECK (id = 1),
        restored_head   INTEGER NOT NULL
    ) STRICT;
    INSERT OR REPLACE INTO outbox_rewind (id, restored_head)
    VALUES (1, MAX(COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'outbox'), 0),
                   COALESCE((SELECT MAX(seq) FROM outbox), 0)));";

/// The outbox's head when it was rewound, while the events written since have not been moved
/// above the cloud's cursor yet.
pub(crate) fn rewound(conn: &Connection) -> Result<Option<u64>, StoreError> {
    let head: Option<i64> = conn
        .prepare_cached("SELECT restored_head FROM outbox_rewind WHERE id = 1")?
        .query_row([], |row| row.get(0))
        .optional()?;
    Ok(head.map(from_seq))
}

/// The outbox was rewound to `restored_head` and the cloud holds every seq through
/// `cloud_cursor`: moves every event written since (seq above `restored_head`) above the
/// cloud's cursor, order kept, with the audit rows and dropped seqs that name them, so none
/// reuses a seq the cloud holds; raises the sequence past it; forgets the rewind. Returns how
/// far the events moved (0 when the cloud holds nothing past the restored head).
pub(crate) fn resume_above(
    conn: &Connection,
    restored_head: u64,
    cloud_cursor: u64,
) -> Result<u64, StoreError> {
    let shift = cloud_cursor.saturating_sub(restored_head);
    let (head, by) = (to_seq(restored_head), to_seq(shift));
    if by > 0 {
        // Two steps (negate, then shift) so no row lands on a seq another still holds; the
        // audit log's references are checked at commit.
        conn.execute_batch("PRAGMA defer_foreign_keys = ON")?;
        for table in ["outbox", "outbox_dropped"] {
            conn.execute(
                &format!("UPDATE {table} SET seq = -seq WHERE seq > ?1"),
                [head],
            )?;
            conn.execute(
                &format!("UPDATE {table} SET seq = ?1 - seq WHERE seq < 0"),
                [by],
            )?;
        }
        conn.execute(
            "UPDATE audit_log SET event_seq = event_seq + ?2 WHERE event_seq > ?1",
            params![head, by],
        )?;
        let next = conn.query_row(
            "SELECT MAX(?1, COALESCE((SELECT MAX(seq) FROM outbox), 0))",
            [to_seq(cloud_cursor)],
            |row| row.get::<_, i64>(0),
        )?;
        // sqlite_sequence has no key on `name`: update the row, or add it when missing.
        if conn.execute(
            "UPDATE sqlite_sequence SET seq = MAX(seq, ?1) WHERE name = 'outbox'",
            [next],
        )? == 0
        {
            conn.execute(
                "INSERT INTO sqlite_sequence (name, seq) VALUES ('outbox', ?1)",
                [next],
            )?;
        }
    }
    conn.execute("DELETE FROM outbox_rewind", [])?;
    Ok(shift)
}

/// The cloud acked through `through`: marks those rows, forgets dropped seqs it has passed,
/// records the cursor and the clock readings. Returns the rows marked. Never lowers the cursor.
pub(crate) fn mark_acked(
    conn: &Connection,
    through: u64,
    server_time: i64,
    skew_ms: i64,
    now: Timestamp,
) -> Result<usize, StoreError> {
    let through = to_seq(through);
    let mut marked = 0;
    // One statement per lane so each uses the (lane, seq) partial index.
    for lane in Lane::ALL {
        marked += conn
            .prepare_cached(
                "UPDATE outbox SET acked_at = ?1 WHERE lane = ?2 AND seq <= ?3 AND acked_at IS NULL",
            )?
            .execute(params![now, lane.as_str(), through])?;
    }
    conn.prepare_cached("DELETE FROM outbox_dropped WHERE seq <= ?1")?
        .execute([through])?;
    conn.prepare_cached(
        "UPDATE sync_state SET cloud_cursor = max(cloud_cursor, ?1), acked_at = ?2,
             server_time = ?3, skew_ms = ?4 WHERE id = 1",
    )?
    .execute(params![through, now, server_time, skew_ms])?;
    Ok(marked)
}

/// The cloud asks for everything from `from` on again: rows it had acked from there are
/// made unacked and the cursor is lowered to `from - 1`. A request that an ack committed
/// after it (`issued_at`, the cloud's clock) has overtaken changes nothing
/// ([`ResendOutcome::overtakes`]): it waited in the broker while the cloud got the events.
pub(crate) fn resend_from(
    conn: &Connection,
    from: u64,
    issued_at: i64,
) -> Result<ResendOutcome, StoreError> {
    let (cursor_now, acked_server_time): (i64, Option<i64>) = conn
        .prepare_cached("SELECT cloud_cursor, server_time FROM sync_state WHERE id = 1")?
        .query_row([], |row| Ok((row.get(0)?, row.get(1)?)))?;
    let overtaken =
        ResendOutcome::overtakes(from_seq(cursor_now), acked_server_time, from, issued_at);
    let from_i = to_seq(from.max(1));
    let mut unacked_again = 0;
    if !overtaken {
        unacked_again = conn
            .prepare_cached(
                "UPDATE outbox SET acked_at = NULL WHERE seq >= ?1 AND acked_at IS NOT NULL",
            )?
            .execute([from_i])?;
        conn.prepare_cached(
            "UPDATE sync_state SET cloud_cursor = min(cloud_cursor, ?1) WHERE id = 1",
        )?
        .execute([from_i - 1])?;
    }
    let oldest_held: Option<i64> = conn
        .prepare_cached("SELECT min(seq) FROM outbox")?
        .query_row([], |row| row.get(0))?;
    Ok(ResendOutcome {
        from,
        cursor: cursor(conn)?,
        unacked_again,
        oldest_held: oldest_held.map(from_seq),
        overtaken,
    })
}

/// Keeps the unacked backlog within `max_bytes`: deletes the oldest unsent telemetry (never
/// another lane) and records the seqs as dropped, then prunes acked rows acked before
/// `prune_before`.
pub(crate) fn enforce_budget(
    conn: &Connection,
    max_bytes: u64,
    prune_before: Timestamp,
    now: Timestamp,
) -> Result<BudgetReport, StoreError> {
    let backlog: i64 = conn
        .prepare_cached(
            "SELECT coalesce(sum(length(payload) + length(subject) + length(id) + ?1), 0)
             FROM outbox WHERE acked_at IS NULL",
        )?
        .query_row([ROW_OVERHEAD], |row| row.get(0))?;
    let backlog_bytes = u64::try_from(backlog).unwrap_or(0);
    let mut dropped = 0u64;
    if backlog_bytes > max_bytes {
        let mut excess = i64::try_from(backlog_bytes - max_bytes).unwrap_or(i64::MAX);
        // Oldest telemetry first, in chunks, until the excess is covered or none is left.
        let mut select = conn.prepare_cached(
            "SELECT seq, length(payload) + length(subject) + length(id) + ?1 FROM outbox
             WHERE lane = 'telemetry' AND acked_at IS NULL ORDER BY seq LIMIT 1000",
        )?;
        while excess > 0 {
            let rows: Vec<(i64, i64)> = select
                .query_map([ROW_OVERHEAD], |row| Ok((row.get(0)?, row.get(1)?)))?
                .collect::<Result<_, _>>()?;
            if rows.is_empty() {
                break;
            }
            for (seq, bytes) in rows {
                // audit_log.event_seq references outbox(seq) ON DELETE SET NULL.
                conn.prepare_cached("DELETE FROM outbox WHERE seq = ?1")?
                    .execute([seq])?;
                conn.prepare_cached(
                    "INSERT OR IGNORE INTO outbox_dropped (seq, dropped_at) VALUES (?1, ?2)",
                )?
                .execute(params![seq, now])?;
                dropped += 1;
                excess -= bytes;
                if excess <= 0 {
                    break;
                }
            }
        }
        if dropped > 0 {
            conn.prepare_cached(
                "UPDATE sync_state SET dropped_telemetry = dropped_telemetry + ?1 WHERE id = 1",
            )?
            .execute([i64::try_from(dropped).unwrap_or(i64::MAX)])?;
        }
    }
    let pruned = conn
        .prepare_cached("DELETE FROM outbox WHERE acked_at IS NOT NULL AND acked_at < ?1")?
        .execute([prune_before])?;
    Ok(BudgetReport {
        backlog_bytes,
        dropped,
        pruned: u64::try_from(pruned).unwrap_or(0),
    })
}

/// The sync figures for the CLI and the page.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub(crate) struct SyncStatus {
    /// The cloud's cursor.
    pub cloud_cursor: u64,
    /// The highest seq written.
    pub last_seq: u64,
    /// Unacked events per lane.
    pub unacked: Vec<(String, u64)>,
    /// Telemetry dropped under the budget, ever.
    pub dropped_telemetry: u64,
    /// Box clock minus cloud clock at the last ack, ms.
    pub skew_ms: Option<i64>,
    /// Box clock of the last ack.
    pub acked_at: Option<Timestamp>,
    /// Commands in the inbox, applied and rejected.
    pub commands_applied: u64,
    /// See `commands_applied`.
    pub commands_rejected: u64,
}

/// Reads the sync figures.
pub(crate) fn status(conn: &Connection) -> Result<SyncStatus, StoreError> {
    let (cloud_cursor, dropped, skew_ms, acked_at): (i64, i64, Option<i64>, Option<Timestamp>) =
        conn.query_row(
            "SELECT cloud_cursor, dropped_telemetry, skew_ms, acked_at FROM sync_state WHERE id = 1",
            [],
            |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?)),
        )?;
    let mut unacked = Vec::new();
    for lane in Lane::ALL {
        let count: i64 = conn
            .prepare_cached("SELECT count(*) FROM outbox WHERE lane = ?1 AND acked_at IS NULL")?
            .query_row([lane.as_str()], |row| row.get(0))?;
        unacked.push((lane.as_str().to_string(), from_seq(count)));
    }
    let count_state = |state: &str| -> Result<u64, StoreError> {
        let n: i64 = conn
            .prepare_cached("SELECT count(*) FROM inbox WHERE state = ?1")?
            .query_row([state], |row| row.get(0))?;
        Ok(from_seq(n))
    };
    Ok(SyncStatus {
        cloud_cursor: from_seq(cloud_cursor),
        last_seq: from_seq(super::outbox::last_seq(conn)?),
        unacked,
        dropped_telemetry: from_seq(dropped),
        skew_ms,
        acked_at,
        commands_applied: count_state("applied")?,
        commands_rejected: count_state("rejected")?,
    })
}

/// A command already in the inbox, as its (first) result.
pub(crate) fn inbox_result(
    conn: &Connection,
    command_id: &str,
) -> Result<Option<CommandResult>, StoreError> {
    let row = conn
        .prepare_cached("SELECT type, state, result, handled_at FROM inbox WHERE command_id = ?1")?
        .query_row([command_id], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, String>(2)?,
                row.get::<_, i64>(3)?,
            ))
        })
        .optional()?;
    let Some((kind, state, result, handled_at)) = row else {
        return Ok(None);
    };
    let state = CommandState::parse(&state)
        .ok_or_else(|| StoreError::Decode(format!("inbox {command_id}: state {state}")))?;
    let result = serde_json::from_str(&result)
        .map_err(|e| StoreError::Decode(format!("inbox {command_id}: {e}")))?;
    Ok(Some(CommandResult {
        v: VERSION,
        id: command_id.to_string(),
        kind,
        state,
        result,
        handled_at,
        repeat: true,
    }))
}

/// A command to record in the inbox.
#[derive(Debug)]
pub(crate) struct InboxEntry<'a> {
    /// The command's id.
    pub command_id: &'a str,
    /// Its type.
    pub kind: &'a str,
    /// Its arguments.
    pub payload: &'a serde_json::Value,
    /// Applied or rejected.
    pub state: CommandState,
    /// The answer, or `{"error": …}`.
    pub result: &'a serde_json::Value,
    /// Cloud clock when issued.
    pub issued_at: i64,
}

/// Records a handled command and its audit row. Run in the transaction of its effects.
pub(crate) fn inbox_insert(
    conn: &Connection,
    entry: &InboxEntry<'_>,
    now: Timestamp,
) -> Result<(), StoreError> {
    let payload = entry.payload.to_string();
    let result = entry.result.to_string();
    conn.prepare_cached(
        "INSERT INTO inbox (command_id, type, payload, state, result, issued_at, handled_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![
        entry.command_id,
        entry.kind,
        payload,
        entry.state.as_str(),
        result,
        entry.issued_at,
        now
    ])?;
    let detail = serde_json::json!({
        "command_id": entry.command_id,
        "payload": entry.payload,
        "state": entry.state.as_str(),
        "result": entry.result,
    });
    conn.prepare_cached(
        "INSERT INTO audit_log (at, actor, action, subject, detail) VALUES (?1, 'cloud', ?2, ?3, ?4)",
    )?
    .execute(params![
        now,
        format!("command.{}", entry.state.as_str()),
        format!("command:{}", entry.kind),
        detail.to_string()
    ])?;
    Ok(())
}

#[cfg(test)]
mod tests;
