//! Cloud sync: wires the `sitebox-sync` agent to this daemon's store. The outbox is sent to the
//! cloud in lanes, marked only when the cloud acks; cloud commands are applied through the
//! [`CommandRegistry`] inside the inbox transaction. docs/PROTOCOL.md is the contract.

mod builtin;
pub mod commands;
pub(crate) mod domain;
mod edge;

use std::sync::Arc;

use anyhow::Context as _;
use sitebox_sync::edge::{AgentSettings, TlsSettings};
use sitebox_sync::relay::RelaySettings;
use tokio::sync::{Notify, broadcast};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use commands::{Applier, CommandContext, CommandError, CommandRegistry};
pub use edge::DaemonEdge;

use crate::clock::SharedClock;
use crate::config::Config;
use crate::store::Store;

/// A registry holding the built-in commands (`resend_from`, `queue.retry_failed`). Domain code
/// adds its own with [`CommandRegistry::register`] before [`spawn`].
pub fn registry() -> CommandRegistry {
    let mut registry = CommandRegistry::new();
    builtin::register(&mut registry);
    registry
}

/// The agent's settings from the config (reads the password file).
pub fn agent_settings(config: &Config) -> anyhow::Result<AgentSettings> {
    let sync = &config.sync;
    let (host, port) = sync.host_port().context("sync.broker is not host:port")?;
    let username = if sync.username.is_empty() {
        format!("{}.{}", config.site.tenant, config.site.site)
    } else {
        sync.username.clone()
    };
    let credentials = match &sync.password_file {
        Some(path) => {
            let password = std::fs::read_to_string(path)
                .with_context(|| format!("reading sync.password_file {}", path.display()))?;
            Some((username, password.trim_end().to_string()))
        }
        None => None,
    };
    let tls = if sync.tls {
        let tls = TlsSettings {
            ca_file: sync
                .ca_file
                .clone()
                .context("sync.ca_file is required with tls")?,
            client_cert: sync.client_cert.clone().zip(sync.client_key.clone()),
        };
        sitebox_sync::edge::client_config(&tls).context("sync TLS settings")?;
        Some(tls)
    } else {
        None
    };
    let client_id = if sync.client_id.is_empty() {
        format!("sitebox-{}-{}", config.site.tenant, config.site.site)
    } else {
        sync.client_id.clone()
    };
    Ok(AgentSettings {
        tenant: config.site.tenant.clone(),
        site: config.site.site.clone(),
        boot_id: crate::clock::boot_id().to_string(),
        version: env!("CARGO_PKG_VERSION").to_string(),
        host,
        port,
        tls,
        credentials,
        client_id,
        keep_alive: sync.keep_alive.get(),
        connect_timeout: sync.connect_timeout.get(),
        backoff_min: sync.backoff_min.get(),
        backoff_max: sync.backoff_max.get(),
        relay: RelaySettings {
            max_batch_events: usize::try_from(sync.batch_max_events).unwrap_or(1000),
            max_batch_bytes: usize::try_from(sync.batch_max_bytes).unwrap_or(256 * 1024),
            window: usize::try_from(sync.window).unwrap_or(8),
            ack_timeout: sync.ack_timeout.get(),
        },
        compress: sync.compress,
        poll_every: sync.poll_every.get(),
        budget_every: sync.budget_every.get(),
    })
}

/// Starts the sync agent (when `[sync] enabled`) on `tasks`; it stops on `shutdown`.
pub fn spawn(
    config: &Config,
    store: &Store,
    clock: &SharedClock,
    registry: CommandRegistry,
    tasks: &TaskTracker,
    shutdown: &CancellationToken,
) -> anyhow::Result<()> {
    if !config.sync.enabled {
        tracing::info!("sync disabled");
        return Ok(());
    }
    let settings = agent_settings(config)?;
    let edge = DaemonEdge {
        store: store.clone(),
        clock: clock.clone(),
        registry,
        backlog_max_bytes: config.sync.backlog_max_bytes,
        acked_retention: config.sync.acked_retention.get(),
    };
    let wake = Arc::new(Notify::new());
    let mut events = store.bus().subscribe();
    let waker = wake.clone();
    let stop = shutdown.clone();
    tasks.spawn(async move {
        loop {
            tokio::select! {
                () = stop.cancelled() => break,
                received = events.recv() => match received {
                    Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => waker.notify_one(),
                    Err(broadcast::error::RecvError::Closed) => break,
                },
            }
        }
    });
    let shutdown = shutdown.clone();
    tasks.spawn(async move {
        if let Err(err) = sitebox_sync::edge::run(settings, edge, wake, shutdown).await {
            tracing::error!(error = %err, "sync agent could not start");
        }
    });
    Ok(())
}

#[cfg(test)]
mod tests;
