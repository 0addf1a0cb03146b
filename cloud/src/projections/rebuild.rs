//! Rebuilding projections from `events`: per site, in one transaction that holds the site's
//! cursor row (so the ingest waits for that site, and only that site), the site's projection
//! rows and recorded failures are deleted and every stored event is projected again, in
//! chunks, through the same code as live.

use std::time::SystemTime;

use tokio_postgres::Client;

use super::{Event, TABLES, project};
use crate::db::{self, DbError, Statements};

/// Events read per chunk.
const CHUNK: i64 = 5000;

/// What a rebuild did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RebuildReport {
    /// Sites rebuilt.
    pub sites: u64,
    /// Events projected.
    pub events: u64,
    /// Events a projection could not apply (recorded again).
    pub failures: u64,
}

/// Rebuilds the projections of `tenant`/`site`.
pub async fn rebuild_site(
    client: &mut Client,
    tenant: &str,
    site: &str,
) -> Result<RebuildReport, DbError> {
    let mut tx = client.transaction().await?;
    db::set_tenant(&tx, tenant).await?;
    let locked = tx
        .query_opt(
            "SELECT 1 FROM site_cursors WHERE tenant_id = $1 AND site_id = $2 FOR UPDATE",
            &[&tenant, &site],
        )
        .await?;
    if locked.is_none() {
        return Ok(RebuildReport::default());
    }
    for table in TABLES.iter().chain(&["projection_failures"]) {
        tx.execute(
            &format!("DELETE FROM {table} WHERE tenant_id = $1 AND site_id = $2"),
            &[&tenant, &site],
        )
        .await?;
    }
    let mut report = RebuildReport {
        sites: 1,
        ..RebuildReport::default()
    };
    let statements = Statements::default();
    let mut after = 0i64;
    loop {
        let rows = tx
            .query(
                "SELECT seq, type, schema_version, coalesce(occurred_at, 0),
                        coalesce(subject, ''), coalesce(payload::text, 'null'), received_at
                 FROM events
                 WHERE tenant_id = $1 AND site_id = $2 AND seq > $3 AND type <> '_dropped'
                 ORDER BY seq LIMIT $4",
                &[&tenant, &site, &after, &CHUNK],
            )
            .await?;
        let Some(last) = rows.last() else { break };
        after = last.get(0);
        let owned: Vec<(i64, String, i32, i64, String, String, SystemTime)> = rows
            .iter()
            .map(|r| {
                (
                    r.get(0),
                    r.get(1),
                    r.get(2),
                    r.get(3),
                    r.get(4),
                    r.get(5),
                    r.get(6),
                )
            })
            .collect();
        let events: Vec<Event<'_>> = owned
            .iter()
            .map(|(seq, kind, sv, at, subject, payload, received)| Event {
                seq: *seq,
                kind,
                schema_version: *sv,
                occurred_at: *at,
                subject,
                payload,
                received_at: *received,
            })
            .collect();
        let projected = project(&mut tx, &statements, tenant, site, &events).await?;
        report.events += events.len() as u64;
        report.failures += projected.failures;
    }
    tx.commit().await?;
    Ok(report)
}

/// Rebuilds every site of `tenant`, one transaction per site.
pub async fn rebuild_tenant(client: &mut Client, tenant: &str) -> Result<RebuildReport, DbError> {
    let sites: Vec<String> = {
        let tx = client.transaction().await?;
        db::set_tenant(&tx, tenant).await?;
        let rows = tx
            .query(
                "SELECT site_id FROM sites WHERE tenant_id = $1 ORDER BY 1",
                &[&tenant],
            )
            .await?;
        tx.commit().await?;
        rows.iter().map(|r| r.get(0)).collect()
    };
    let mut total = RebuildReport::default();
    for site in sites {
        let report = rebuild_site(client, tenant, &site).await?;
        total.sites += report.sites;
        total.events += report.events;
        total.failures += report.failures;
    }
    Ok(total)
}
