//! Gap repair: a site whose cursor has stood still behind stored seqs (`max_seen > through`)
//! for the gap timeout lost something in between (a broker without persistence restarted, a
//! batch was dropped); it is asked to `resend_from` the first missing seq.
//!
//! Never while the site is offline (the request would only wait in the broker and arrive
//! after the reconnect, which sends everything unacked again anyway), and the request expires
//! in the broker after the gap timeout. A request that arrives after the site's progress has
//! overtaken it changes nothing at the edge (docs/PROTOCOL.md §6).

use std::time::Duration;

use sitebox_sync::wire::{Command, RESEND_FROM};
use tokio_postgres::Transaction;

use crate::audit::Actor;
use crate::commands::{self, CommandError, NewCommand};
use crate::db::unseq;

/// Claims the stuck sites of `tenant` (at most one request per site per `timeout`) and records
/// a `resend_from` for each in `tx`; returns them (site, command) for sending after the commit.
pub async fn request_resends(
    tx: &Transaction<'_>,
    tenant: &str,
    timeout: Duration,
) -> Result<Vec<(String, Command)>, CommandError> {
    let secs = timeout.as_secs_f64();
    let rows = tx
        .query(
            "UPDATE site_cursors c SET resend_requested_at = now()
             FROM (SELECT c.site_id FROM site_cursors c
                     JOIN site_liveness l ON l.tenant_id = c.tenant_id AND l.site_id = c.site_id
                   WHERE c.tenant_id = $1 AND c.max_seen > c.through
                     AND c.progressed_at < now() - make_interval(secs => $2)
                     AND (c.resend_requested_at IS NULL
                          OR c.resend_requested_at < now() - make_interval(secs => $2))
                     AND l.presence IS DISTINCT FROM 'offline'
                   FOR UPDATE OF c SKIP LOCKED) stuck
             WHERE c.tenant_id = $1 AND c.site_id = stuck.site_id
             RETURNING c.site_id, c.through",
            &[&tenant, &secs],
        )
        .await?;
    let mut requests = Vec::new();
    for row in rows {
        let site: String = row.get(0);
        let from = unseq(row.get::<_, i64>(1)) + 1;
        tracing::info!(%tenant, %site, from, "gap: asking the site to resend");
        let command = commands::issue_in(
            tx,
            &Actor::system(),
            tenant,
            &NewCommand {
                site: site.clone(),
                kind: RESEND_FROM.into(),
                payload: serde_json::json!({ "seq": from }),
                id: None,
                expires: Some(timeout),
            },
        )
        .await?;
        requests.push((site, command));
    }
    Ok(requests)
}
