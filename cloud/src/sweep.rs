//! The sweeps: every few seconds each process claims the tenants whose turn it is (from the
//! directory, `FOR UPDATE SKIP LOCKED`, so N processes share them without talking to each
//! other) and, per tenant in one transaction holding the tenant's sweep lock: assesses each
//! site's liveness, evaluates the alert rules, asks stuck sites to resend, sends again the
//! commands that wait too long, and expires `resend_from`s the broker dropped.

use std::time::Duration;

use sitebox_sync::backoff::Backoff;
use sitebox_sync::wire::Command;
use tokio_postgres::Client;
use tokio_util::sync::CancellationToken;

use crate::commands::{self, CommandError};
use crate::db;
use crate::gaps;
use crate::notify::{self, Hub, Topic};
use crate::publisher::Publisher;
use crate::{alerts, liveness};

/// How the sweeps run.
#[derive(Debug, Clone)]
pub struct SweepSettings {
    /// The service role's PostgreSQL connection string.
    pub database_url: String,
    /// How often each tenant is visited.
    pub every: Duration,
    /// A site's cursor standing still this long behind stored seqs is a gap; also how long a
    /// delivered command may wait for its result before it is sent again.
    pub gap_timeout: Duration,
    /// A queued command not taken by the broker within this is sent again.
    pub queued_resend_after: Duration,
}

/// Runs the sweeps until `shutdown`.
pub async fn run(
    settings: SweepSettings,
    hub: Hub,
    publisher: Publisher,
    shutdown: CancellationToken,
) {
    let mut backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(10));
    let mut pg: Option<Client> = None;
    let mut tick = tokio::time::interval(
        settings
            .every
            .min(Duration::from_secs(1))
            .max(Duration::from_millis(100)),
    );
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        if pg.as_ref().is_none_or(Client::is_closed) {
            match db::connect(&settings.database_url).await {
                Ok(client) => {
                    pg = Some(client);
                    backoff.reset();
                }
                Err(err) => {
                    tracing::warn!(error = %err, "sweep: cannot connect");
                    tokio::time::sleep(backoff.next_delay()).await;
                    continue;
                }
            }
        }
        let Some(client) = pg.as_mut() else { continue };
        if let Err(err) = sweep_due(client, &settings, &hub, &publisher).await {
            tracing::warn!(error = %err, "sweep failed");
        }
    }
}

/// Claims the tenants due now and sweeps each; returns how many.
pub async fn sweep_due(
    client: &mut Client,
    settings: &SweepSettings,
    hub: &Hub,
    publisher: &Publisher,
) -> Result<usize, CommandError> {
    let due: Vec<String> = client
        .query(
            "UPDATE tenant_directory d SET sweep_due_at = now() + make_interval(secs => $1)
             FROM (SELECT tenant_id FROM tenant_directory WHERE sweep_due_at <= now()
                   ORDER BY sweep_due_at LIMIT 200 FOR UPDATE SKIP LOCKED) due
             WHERE d.tenant_id = due.tenant_id
             RETURNING d.tenant_id",
            &[&settings.every.as_secs_f64()],
        )
        .await?
        .iter()
        .map(|row| row.get(0))
        .collect();
    for tenant in &due {
        let outgoing = sweep_tenant(client, settings, hub, tenant).await?;
        for (site, command, expiry) in outgoing {
            drop(publisher.send(tenant, &site, command, expiry).await);
        }
    }
    Ok(due.len())
}

/// One tenant's sweep, in one transaction; returns the commands to publish after the commit.
async fn sweep_tenant(
    client: &mut Client,
    settings: &SweepSettings,
    hub: &Hub,
    tenant: &str,
) -> Result<Vec<(String, Command, Option<Duration>)>, CommandError> {
    let tx = client.transaction().await?;
    db::set_tenant(&tx, tenant).await?;
    // One sweep of a tenant at a time, whichever process: a slow one is skipped, not doubled.
    let locked: bool = tx
        .query_one(
            "SELECT pg_try_advisory_xact_lock(hashtext('sitebox-sweep:' || $1))",
            &[&tenant],
        )
        .await?
        .get(0);
    if !locked {
        return Ok(Vec::new());
    }
    let now = db::now_ms();
    let policy = liveness::Policy {
        gap_after_ms: i64::try_from(settings.gap_timeout.as_millis()).unwrap_or(i64::MAX),
        ..liveness::Policy::default()
    };
    let (sites, liveness_changed) = liveness::assess_tenant(&tx, tenant, now, &policy).await?;
    let alerts_changed = alerts::evaluate(&tx, tenant, now, &sites).await?;
    let mut outgoing = Vec::new();
    for (site, command) in gaps::request_resends(&tx, tenant, settings.gap_timeout).await? {
        outgoing.push((site, command, Some(settings.gap_timeout)));
    }
    for (site, command) in commands::claim_resends(
        &tx,
        tenant,
        settings.queued_resend_after,
        settings.gap_timeout,
    )
    .await?
    {
        tracing::info!(%tenant, %site, id = %command.id, "sweep: sending a command again");
        outgoing.push((site, command, None));
    }
    let expired = commands::expire(&tx, tenant, settings.queued_resend_after).await?;
    let mut topics = Vec::new();
    if !outgoing.is_empty() || expired > 0 {
        topics.push(Topic::Commands);
    }
    if liveness_changed {
        topics.push(Topic::Liveness);
    }
    if alerts_changed {
        topics.push(Topic::Alerts);
    }
    let change = (!topics.is_empty()).then(|| hub.change(tenant, None, topics));
    if let Some(change) = &change {
        notify::notify_in(&tx, change).await?;
    }
    tx.commit().await?;
    if let Some(change) = change {
        hub.publish(change);
    }
    Ok(outgoing)
}
