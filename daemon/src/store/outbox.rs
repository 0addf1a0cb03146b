//! The outbox (domain events in site sequence) and the audit log.

use rusqlite::{Connection, OptionalExtension, params};

use super::{StoreError, Tx};
use crate::clock;
use crate::clock::Timestamp;
use crate::model::event::{Actor, EventKind, EventRecord, NewEvent};

impl Tx<'_> {
    /// Writes `event` to the outbox and an audit row for it, in this transaction; listeners hear
    /// of it after the commit.
    pub fn emit(
        &mut self,
        now: Timestamp,
        actor: &Actor,
        event: NewEvent,
    ) -> Result<EventRecord, StoreError> {
        let record = insert(self, now, actor, event)?;
        self.publish_after_commit(record.clone());
        Ok(record)
    }
}

fn insert(
    conn: &Connection,
    now: Timestamp,
    actor: &Actor,
    event: NewEvent,
) -> Result<EventRecord, StoreError> {
    let id = uuid::Uuid::now_v7().to_string();
    let (kind, subject, payload_value) = event.into_parts();
    let payload =
        serde_json::to_string(&payload_value).map_err(|e| StoreError::Decode(e.to_string()))?;
    let boot_id = clock::boot_id();
    let uptime_ms = clock::uptime_ms();
    let seq: i64 = conn
        .prepare_cached(
            "INSERT INTO outbox (id, type, schema_version, lane, occurred_at, boot_id, uptime_ms, subject, payload)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) RETURNING seq",
        )?
        .query_row(
            params![
                id,
                kind.as_str(),
                kind.schema_version(),
                kind.lane().as_str(),
                now,
                boot_id,
                uptime_ms,
                subject,
                payload
            ],
            |row| row.get(0),
        )?;
    conn.prepare_cached(
        "INSERT INTO audit_log (at, actor, action, subject, detail, event_seq)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![
        now,
        actor.to_string(),
        kind.as_str(),
        subject,
        payload,
        seq
    ])?;
    Ok(EventRecord {
        seq,
        id,
        kind,
        schema_version: kind.schema_version(),
        lane: kind.lane(),
        occurred_at: now,
        boot_id: boot_id.to_string(),
        uptime_ms,
        subject,
        payload: payload_value,
    })
}

/// Up to `limit` events after `seq`, in order.
pub(crate) fn after(
    conn: &Connection,
    seq: i64,
    limit: u32,
) -> Result<Vec<EventRecord>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT o.seq, o.id, o.type, o.schema_version, o.occurred_at, o.boot_id, o.uptime_ms,
                o.payload, o.subject
         FROM outbox o WHERE o.seq > ?1 ORDER BY o.seq LIMIT ?2",
    )?;
    let rows = stmt.query_map(params![seq, limit], |row| {
        Ok((
            row.get::<_, i64>(0)?,
            row.get::<_, String>(1)?,
            row.get::<_, String>(2)?,
            row.get::<_, u32>(3)?,
            row.get::<_, Timestamp>(4)?,
            row.get::<_, String>(5)?,
            row.get::<_, i64>(6)?,
            row.get::<_, String>(7)?,
            row.get::<_, String>(8)?,
        ))
    })?;
    let mut events = Vec::new();
    for row in rows {
        let (seq, id, kind, schema_version, occurred_at, boot_id, uptime_ms, payload, subject) =
            row?;
        let kind = EventKind::parse(&kind).ok_or_else(|| {
            StoreError::Decode(format!("outbox seq {seq}: unknown event type {kind}"))
        })?;
        let payload = serde_json::from_str(&payload)
            .map_err(|e| StoreError::Decode(format!("outbox seq {seq}: {e}")))?;
        events.push(EventRecord {
            seq,
            id,
            kind,
            schema_version,
            lane: kind.lane(),
            occurred_at,
            boot_id,
            uptime_ms,
            subject,
            payload,
        });
    }
    Ok(events)
}

/// The events with `after < seq < before`, in order.
pub(crate) fn between(
    conn: &Connection,
    after: i64,
    before: i64,
) -> Result<Vec<EventRecord>, StoreError> {
    let limit = u32::try_from(before.saturating_sub(after).max(0)).unwrap_or(u32::MAX);
    Ok(self::after(conn, after, limit)?
        .into_iter()
        .filter(|event| event.seq < before)
        .collect())
}

/// The highest sequence number written so far (0 when none).
pub(crate) fn last_seq(conn: &Connection) -> Result<i64, StoreError> {
    Ok(conn
        .query_row(
            "SELECT seq FROM sqlite_sequence WHERE name = 'outbox'",
            [],
            |row| row.get(0),
        )
        .optional()?
        .unwrap_or(0))
}

#[cfg(test)]
/// One row of the audit log.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub(crate) struct AuditEntry {
    /// When.
    pub at: Timestamp,
    /// Who.
    pub actor: String,
    /// What (the event type).
    pub action: String,
    /// To what.
    pub subject: String,
    /// The event's payload.
    pub detail: serde_json::Value,
    /// The outbox seq of the event.
    pub event_seq: Option<i64>,
}

#[cfg(test)]
/// The newest `limit` audit entries, newest first.
pub(crate) fn recent_audit(conn: &Connection, limit: u32) -> Result<Vec<AuditEntry>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT at, actor, action, subject, detail, event_seq FROM audit_log ORDER BY id DESC LIMIT ?1",
    )?;
    let rows = stmt.query_map([limit], |row| {
        Ok((
            row.get::<_, Timestamp>(0)?,
            row.get::<_, String>(1)?,
            row.get::<_, String>(2)?,
            row.get::<_, String>(3)?,
            row.get::<_, String>(4)?,
            row.get::<_, Option<i64>>(5)?,
        ))
    })?;
    let mut entries = Vec::new();
    for row in rows {
        let (at, actor, action, subject, detail, event_seq) = row?;
        entries.push(AuditEntry {
            at,
            actor,
            action,
            subject,
            detail: serde_json::from_str(&detail).map_err(|e| StoreError::Decode(e.to_string()))?,
            event_seq,
        });
    }
    Ok(entries)
}
