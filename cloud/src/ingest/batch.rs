//! Storing one batch: in one transaction, with the tenant set, the site's cursor row locked
//! first (one site's batches commit one after another; different sites in parallel), every
//! event inserted once on `(tenant, site, seq)`, the new ones projected, the cursor moved over
//! the contiguous run, and the change notified at commit. The events reach the projections in
//! the batch's (ascending seq) order; the projections do not depend on it.

use std::time::SystemTime;

use sitebox_sync::wire::Batch;
use tokio_postgres::Client;

use super::IngestError;
use super::cursor::contiguous_end;
use crate::db::{self, Db, Statements, seq, unseq};
use crate::notify::{self, Change, Hub, Topic};
use crate::projections::{self, Event};

/// What storing a batch did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    /// The site's cursor after the commit.
    pub through: u64,
    /// Events new to the database.
    pub inserted: u64,
    /// Events already there.
    pub duplicates: u64,
    /// Events a projection could not apply (recorded, kept).
    pub projection_failures: u64,
    /// What changed, already published to the hub (None when nothing did).
    pub change: Option<Change>,
}

/// Stores a batch that came on the events topic of `tenant`/`site`: checks the payload's
/// claim against the topic and the registry, inserts, projects, moves the cursor, commits.
/// `statements` are the ones prepared on `client` (kept by the caller for the connection's
/// life).
pub async fn store_batch(
    client: &mut Client,
    statements: &Statements,
    hub: &Hub,
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
    let mut tx = client.transaction().await?;
    db::set_tenant(&tx, tenant).await?;
    let registered = Db::new(&tx, statements)
        .query_opt(
            "SELECT s.enabled, c.through FROM sites s
               JOIN site_cursors c ON c.tenant_id = s.tenant_id AND c.site_id = s.site_id
             WHERE s.tenant_id = $1 AND s.site_id = $2
             FOR UPDATE OF c",
            &[&tenant, &site],
        )
        .await?;
    let old = match registered {
        Some(row) if row.get::<_, bool>(0) => row.get::<_, i64>(1),
        Some(_) => {
            return Err(IngestError::Rejected(format!(
                "site {tenant}/{site} is disabled"
            )));
        }
        None => {
            return Err(IngestError::Rejected(format!(
                "site {tenant}/{site} is not in the registry"
            )));
        }
    };
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
    let new_rows = Db::new(&tx, statements)
        .query(
            "INSERT INTO events (tenant_id, site_id, seq, event_id, type, schema_version, lane,
                                 occurred_at, boot_id, uptime_ms, subject, payload)
             SELECT $1, $2, s, i, t, v, $3, a, b, u, sub, p::jsonb
             FROM unnest($4::bigint[], $5::text[], $6::text[], $7::int[], $8::bigint[],
                         $9::text[], $10::bigint[], $11::text[], $12::text[])
                  AS x(s, i, t, v, a, b, u, sub, p)
             ON CONFLICT DO NOTHING
             RETURNING seq, received_at",
            &[
                &tenant, &site, &lane, &seqs, &ids, &types, &versions, &ats, &boots, &ups,
                &subjects, &payloads,
            ],
        )
        .await?;
    let mut new: Vec<(i64, SystemTime)> = new_rows
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect();
    new.sort_unstable_by_key(|(seq, _)| *seq);
    let dropped: Vec<i64> = batch.dropped.iter().copied().map(seq).collect();
    let mut dropped_new: Vec<i64> = Vec::new();
    if !dropped.is_empty() {
        dropped_new = tx
            .query(
                "INSERT INTO events (tenant_id, site_id, seq, type, schema_version, lane)
                 SELECT $1, $2, s, '_dropped', 0, 'telemetry' FROM unnest($3::bigint[]) AS x(s)
                 ON CONFLICT DO NOTHING RETURNING seq",
                &[&tenant, &site, &dropped],
            )
            .await?
            .iter()
            .map(|row| row.get(0))
            .collect();
    }
    let projected = {
        let mut received = new.iter().copied().peekable();
        let mut events = Vec::with_capacity(new.len());
        for event in &batch.events {
            while received.next_if(|(s, _)| *s < seq(event.seq)).is_some() {}
            let Some((_, received_at)) = received.next_if(|(s, _)| *s == seq(event.seq)) else {
                continue;
            };
            events.push(Event {
                seq: seq(event.seq),
                kind: &event.kind,
                schema_version: i32::try_from(event.schema_version).unwrap_or(i32::MAX),
                occurred_at: event.occurred_at,
                subject: &event.subject,
                payload: event.payload.get(),
                received_at,
            });
        }
        projections::project(&mut tx, statements, tenant, site, &events).await?
    };
    let inserted = (new.len() + dropped_new.len()) as u64;
    let carried = (n + dropped.len()) as u64;
    let duplicates = carried.saturating_sub(inserted);
    let mut known: Vec<i64> = new.iter().map(|(seq, _)| *seq).collect();
    known.extend(&dropped_new);
    known.sort_unstable();
    let db = Db::new(&tx, statements);
    let through = contiguous_end(&db, tenant, site, old, &known).await?;
    let max_seen = batch.last_seq().map_or(0, seq);
    db.execute(
        "UPDATE site_cursors SET
             through = $3,
             through_at_site = CASE WHEN $3 > through
                 THEN (SELECT occurred_at FROM events
                       WHERE tenant_id = $1 AND site_id = $2 AND seq = $3)
                 ELSE through_at_site END,
             max_seen = greatest(max_seen, $4),
             duplicates = duplicates + $5,
             dropped_at_edge = dropped_at_edge + $6,
             progressed_at = CASE WHEN $3 > through THEN now() ELSE progressed_at END,
             last_batch_at = now(),
             skew_ms = coalesce($7, skew_ms),
             last_boot_id = $8,
             head = CASE WHEN $9::bigint IS NOT NULL THEN greatest(head, $9, $3) ELSE head END,
             head_site_at = CASE WHEN $9::bigint >= coalesce(head, 0) THEN $10 ELSE head_site_at END
         WHERE tenant_id = $1 AND site_id = $2",
        &[
            &tenant,
            &site,
            &through,
            &max_seen,
            &seq(duplicates),
            &seq(dropped_new.len() as u64),
            &batch.skew_ms,
            &batch.boot_id,
            &batch.head.map(seq),
            &batch.sent_at,
        ],
    )
    .await?;
    let change = (!new.is_empty()).then(|| {
        let mut topics = vec![Topic::Events];
        topics.extend(projected.topics.iter().copied());
        let mut change = hub.change(tenant, Some(site), topics);
        change.seqs = Some((
            unseq(new.first().map_or(0, |n| n.0)),
            unseq(new.last().map_or(0, |n| n.0)),
        ));
        change
    });
    if let Some(change) = &change {
        notify::notify_prepared(&Db::new(&tx, statements), change).await?;
    }
    tx.commit().await?;
    if let Some(change) = &change {
        hub.publish(change.clone());
    }
    Ok(Stored {
        through: unseq(through),
        inserted,
        duplicates,
        projection_failures: projected.failures,
        change,
    })
}
