//! The ingest's PostgreSQL side: schema, idempotent batch insert with the per-site cursor,
//! results, status, gap detection, and the site registry.
//!
//! Every write of a batch is one transaction: events `ON CONFLICT DO NOTHING`, then the cursor
//! row locked `FOR UPDATE` and moved over the contiguous run. The lock comes after the insert,
//! so two workers committing batches of one site in either order both see the other's rows
//! when they compute the cursor.

use tokio_postgres::{Client, NoTls};

use crate::wire::{Batch, CommandResult, Status};

/// The schema, applied idempotently at start.
pub const SCHEMA: &str = include_str!("schema.sql");

/// Why the ingest refused or failed a message.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// PostgreSQL failed (the message is not acked; the broker or the edge sends it again).
    #[error("postgres: {0}")]
    Postgres(#[from] tokio_postgres::Error),
    /// The message breaks the contract or the registry; it is recorded and dropped.
    #[error("rejected: {0}")]
    Rejected(String),
}

/// What storing a batch did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stored {
    /// The site's cursor after the commit.
    pub through: u64,
    /// Events new to the database.
    pub inserted: u64,
    /// Events already there.
    pub duplicates: u64,
}

/// A site whose cursor is stuck behind a gap: ask it to send again from `from`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gap {
    /// Tenant.
    pub tenant: String,
    /// Site.
    pub site: String,
    /// The first missing seq.
    pub from: u64,
}

/// Connects and spawns the connection task.
pub async fn connect(url: &str) -> Result<Client, tokio_postgres::Error> {
    let (client, connection) = tokio_postgres::connect(url, NoTls).await?;
    tokio::spawn(async move {
        if let Err(err) = connection.await {
            tracing::warn!(error = %err, "postgres connection closed");
        }
    });
    Ok(client)
}

/// Creates the tables that do not exist yet.
pub async fn migrate(client: &Client) -> Result<(), tokio_postgres::Error> {
    // Two workers starting at once would race on CREATE TABLE IF NOT EXISTS.
    client
        .batch_execute(&format!(
            "SELECT pg_advisory_lock(7265621); {SCHEMA} SELECT pg_advisory_unlock(7265621);"
        ))
        .await
}

fn seq(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

fn unseq(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

/// Stores a batch that came on the events topic of `tenant`/`site`: checks the payload's
/// claim against the topic and the registry, inserts, moves the cursor, commits.
pub async fn store_batch(
    client: &mut Client,
    tenant: &str,
    site: &str,
    batch: &Batch,
) -> Result<Stored, IngestError> {
    if batch.tenant != tenant || batch.site != site {
        return Err(IngestError::Rejected(format!(
            "payload claims {}/{} but came on the topic of {tenant}/{site}",
            batch.tenant, batch.site
        )));
    }
    let tx = client.transaction().await?;
    let enabled: Option<bool> = tx
        .query_opt(
            "SELECT enabled FROM sites WHERE tenant_id = $1 AND site_id = $2",
            &[&tenant, &site],
        )
        .await?
        .map(|row| row.get(0));
    match enabled {
        Some(true) => {}
        Some(false) => {
            return Err(IngestError::Rejected(format!(
                "site {tenant}/{site} is disabled"
            )));
        }
        None => {
            return Err(IngestError::Rejected(format!(
                "site {tenant}/{site} is not in the registry"
            )));
        }
    }
    let n = batch.events.len();
    let mut seqs = Vec::with_capacity(n);
    let mut ids = Vec::with_capacity(n);
    let mut types = Vec::with_capacity(n);
    let mut versions = Vec::with_capacity(n);
    let mut ats = Vec::with_capacity(n);
    let mut boots = Vec::with_capacity(n);
    let mut ups = Vec::with_capacity(n);
    let mut subjects = Vec::with_capacity(n);
    let mut payloads = Vec::with_capacity(n);
    for event in &batch.events {
        seqs.push(seq(event.seq));
        ids.push(event.id.as_str());
        types.push(event.kind.as_str());
        versions.push(i32::try_from(event.schema_version).unwrap_or(i32::MAX));
        ats.push(event.occurred_at);
        boots.push(event.boot_id.as_str());
        ups.push(event.uptime_ms);
        subjects.push(event.subject.as_str());
        payloads.push(event.payload.get());
    }
    let lane = batch.lane.as_str();
    let mut inserted = tx
        .execute(
            "INSERT INTO events (tenant_id, site_id, seq, event_id, type, schema_version, lane,
                                 occurred_at, boot_id, uptime_ms, subject, payload)
             SELECT $1, $2, s, i, t, v, $3, a, b, u, sub, p::jsonb
             FROM unnest($4::bigint[], $5::text[], $6::text[], $7::int[], $8::bigint[],
                         $9::text[], $10::bigint[], $11::text[], $12::text[])
                  AS x(s, i, t, v, a, b, u, sub, p)
             ON CONFLICT DO NOTHING",
            &[
                &tenant, &site, &lane, &seqs, &ids, &types, &versions, &ats, &boots, &ups,
                &subjects, &payloads,
            ],
        )
        .await?;
    let dropped: Vec<i64> = batch.dropped.iter().copied().map(seq).collect();
    let mut dropped_new = 0;
    if !dropped.is_empty() {
        dropped_new = tx
            .execute(
                "INSERT INTO events (tenant_id, site_id, seq, type, schema_version, lane)
                 SELECT $1, $2, s, '_dropped', 0, 'telemetry' FROM unnest($3::bigint[]) AS x(s)
                 ON CONFLICT DO NOTHING",
                &[&tenant, &site, &dropped],
            )
            .await?;
        inserted += dropped_new;
    }
    let carried = u64::try_from(n + dropped.len()).unwrap_or(u64::MAX);
    let duplicates = carried.saturating_sub(inserted);
    tx.execute(
        "INSERT INTO site_cursors (tenant_id, site_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        &[&tenant, &site],
    )
    .await?;
    let row = tx
        .query_one(
            "SELECT through FROM site_cursors WHERE tenant_id = $1 AND site_id = $2 FOR UPDATE",
            &[&tenant, &site],
        )
        .await?;
    let old: i64 = row.get(0);
    let through = contiguous_end(&tx, tenant, site, old).await?;
    let max_seen = batch.last_seq().map_or(0, seq);
    tx.execute(
        "UPDATE site_cursors SET
             through = $3,
             max_seen = greatest(max_seen, $4),
             duplicates = duplicates + $5,
             dropped_at_edge = dropped_at_edge + $6,
             progressed_at = CASE WHEN $3 > through THEN now() ELSE progressed_at END,
             last_batch_at = now(),
             skew_ms = coalesce($7, skew_ms),
             last_boot_id = $8
         WHERE tenant_id = $1 AND site_id = $2",
        &[
            &tenant,
            &site,
            &through,
            &max_seen,
            &seq(duplicates),
            &seq(dropped_new),
            &batch.skew_ms,
            &batch.boot_id,
        ],
    )
    .await?;
    tx.commit().await?;
    Ok(Stored {
        through: unseq(through),
        inserted,
        duplicates,
    })
}

/// Seqs read per step of [`contiguous_end`].
const CURSOR_STEP: i64 = 4096;

/// The end of the contiguous run of stored seqs that starts right after `old` (or `old`).
///
/// Walks the primary key in bounded ranges, so each step is an index range scan whatever the
/// table's statistics say. (A single `NOT EXISTS (… seq = e.seq + 1)` anti-join was planned as
/// a nested loop over every row of the site while the table was young and unanalysed: seconds
/// per batch during a backlog drain.)
async fn contiguous_end(
    tx: &tokio_postgres::Transaction<'_>,
    tenant: &str,
    site: &str,
    old: i64,
) -> Result<i64, tokio_postgres::Error> {
    let mut through = old;
    loop {
        let rows = tx
            .query(
                "SELECT seq FROM events
                 WHERE tenant_id = $1 AND site_id = $2 AND seq > $3 AND seq <= $3 + $4
                 ORDER BY seq",
                &[&tenant, &site, &through, &CURSOR_STEP],
            )
            .await?;
        let start = through;
        for row in &rows {
            let seq: i64 = row.get(0);
            if seq != through + 1 {
                return Ok(through);
            }
            through = seq;
        }
        if through - start < CURSOR_STEP {
            return Ok(through);
        }
    }
}

/// Records a command result from `tenant`/`site` (the first one wins; repeats are counted).
pub async fn store_result(
    client: &Client,
    tenant: &str,
    site: &str,
    result: &CommandResult,
) -> Result<(), IngestError> {
    let updated = client
        .execute(
            "UPDATE commands SET
                 state = coalesce(state, $4),
                 result = coalesce(result, $5),
                 result_at = coalesce(result_at, now()),
                 results_received = results_received + 1
             WHERE command_id = $3 AND tenant_id = $1 AND site_id = $2",
            &[
                &tenant,
                &site,
                &result.id,
                &result.state.as_str(),
                &result.result,
            ],
        )
        .await?;
    if updated == 0 {
        return Err(IngestError::Rejected(format!(
            "result for command {} which {tenant}/{site} was never sent",
            result.id
        )));
    }
    Ok(())
}

/// Records a site's retained status.
pub async fn store_status(
    client: &Client,
    tenant: &str,
    site: &str,
    status: &Status,
) -> Result<(), IngestError> {
    let state = match status.state {
        crate::wire::Presence::Online => "online",
        crate::wire::Presence::Offline => "offline",
    };
    client
        .execute(
            "INSERT INTO site_status (tenant_id, site_id, state, boot_id, version)
             SELECT $1, $2, $3, $4, $5 WHERE EXISTS
                 (SELECT 1 FROM sites WHERE tenant_id = $1 AND site_id = $2)
             ON CONFLICT (tenant_id, site_id) DO UPDATE SET
                 state = excluded.state, boot_id = excluded.boot_id,
                 version = excluded.version, at = now()",
            &[&tenant, &site, &state, &status.boot_id, &status.version],
        )
        .await?;
    Ok(())
}

/// Records a refused message.
pub async fn store_rejection(
    client: &Client,
    topic: &str,
    reason: &str,
    bytes: usize,
) -> Result<(), tokio_postgres::Error> {
    client
        .execute(
            "INSERT INTO rejected_messages (topic, reason, bytes) VALUES ($1, $2, $3)",
            &[&topic, &reason, &i32::try_from(bytes).unwrap_or(i32::MAX)],
        )
        .await
        .map(drop)
}

/// Sites whose cursor has not moved for `stalled_secs` while higher seqs are stored; each is
/// claimed (so only one worker asks) and returned once per `stalled_secs`.
pub async fn claim_gaps(
    client: &Client,
    stalled_secs: f64,
) -> Result<Vec<Gap>, tokio_postgres::Error> {
    let rows = client
        .query(
            "UPDATE site_cursors c SET resend_requested_at = now()
             FROM (SELECT tenant_id, site_id FROM site_cursors
                   WHERE max_seen > through
                     AND progressed_at < now() - make_interval(secs => $1)
                     AND (resend_requested_at IS NULL
                          OR resend_requested_at < now() - make_interval(secs => $1))
                   FOR UPDATE SKIP LOCKED) stuck
             WHERE c.tenant_id = stuck.tenant_id AND c.site_id = stuck.site_id
             RETURNING c.tenant_id, c.site_id, c.through",
            &[&stalled_secs],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|row| Gap {
            tenant: row.get(0),
            site: row.get(1),
            from: unseq(row.get::<_, i64>(2)) + 1,
        })
        .collect())
}

/// Records a command about to be sent (idempotent on its id).
pub async fn insert_command(
    client: &Client,
    tenant: &str,
    site: &str,
    command: &crate::wire::Command,
) -> Result<(), tokio_postgres::Error> {
    client
        .execute(
            "INSERT INTO commands (command_id, tenant_id, site_id, type, payload)
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (command_id) DO NOTHING",
            &[&command.id, &tenant, &site, &command.kind, &command.payload],
        )
        .await
        .map(drop)
}

/// Commands with no result yet, last sent more than `secs` ago: claimed (so one worker sends)
/// for sending again. The edge answers a repeat with its first result, so this is safe.
pub async fn claim_unanswered(
    client: &Client,
    secs: f64,
) -> Result<Vec<(String, String, crate::wire::Command)>, tokio_postgres::Error> {
    let rows = client
        .query(
            "UPDATE commands c SET last_sent_at = now()
             FROM (SELECT command_id FROM commands
                   WHERE state IS NULL AND last_sent_at < now() - make_interval(secs => $1)
                   ORDER BY issued_at LIMIT 1000
                   FOR UPDATE SKIP LOCKED) due
             WHERE c.command_id = due.command_id
             RETURNING c.tenant_id, c.site_id, c.command_id, c.type, c.payload,
                       (extract(epoch FROM c.issued_at) * 1000)::bigint",
            &[&secs],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|row| {
            let command = crate::wire::Command {
                v: crate::wire::VERSION,
                id: row.get(2),
                kind: row.get(3),
                payload: row.get(4),
                issued_at: row.get(5),
            };
            (row.get(0), row.get(1), command)
        })
        .collect())
}
