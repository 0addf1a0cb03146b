//! The daemon's life: validated config in, then open the store, bind the sockets, start every
//! task, wait for SIGTERM/SIGINT, drain within the grace period, exit.

use std::sync::Arc;

use anyhow::Context as _;
use sitebox_radius::{Clients, Server, ServerConfig};
use tokio::net::UdpSocket;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::clock::{ScaledClock, SharedClock, SystemClock};
use crate::config::Config;
use crate::jobs;
use crate::links::RouterLinks;
use crate::queue::{self, Handlers, QueueRunner, RunnerSettings};
use crate::radius::{self, StorePolicy};
use crate::secrets::Secrets;
use crate::store::{Opener, Store};

/// Runs the daemon until a shutdown signal. `config` has been validated whole already.
pub async fn run(config: Config) -> anyhow::Result<()> {
    let shutdown = CancellationToken::new();
    let tasks = TaskTracker::new();
    let clock: SharedClock = if config.daemon.clock_speed > 1.0 {
        tracing::warn!(
            speed = config.daemon.clock_speed,
            "scenario run: the clock runs faster than real time"
        );
        Arc::new(ScaledClock::new(config.daemon.clock_speed))
    } else {
        Arc::new(SystemClock)
    };

    let secrets = Secrets::load(&config.secrets.key_file, config.secrets.create_if_missing)
        .context("reading the secrets key")?;
    let store_config = config.store.clone();
    let store = tokio::task::spawn_blocking(move || Store::open(&store_config, Opener::Daemon))
        .await
        .context("opening the store")?
        .with_context(|| format!("opening {}", config.store.database_path().display()))?;
    tracing::info!(
        database = %store.path().display(),
        tenant = %config.site.tenant,
        site = %config.site.site,
        "store open"
    );

    // Sockets are bound before anything runs, so a port in use stops the start cleanly.
    let radius_sockets = if config.radius.enabled {
        let auth = UdpSocket::bind(config.radius.auth_listen)
            .await
            .with_context(|| {
                format!(
                    "binding RADIUS authentication on {}",
                    config.radius.auth_listen
                )
            })?;
        let acct = UdpSocket::bind(config.radius.acct_listen)
            .await
            .with_context(|| {
                format!("binding RADIUS accounting on {}", config.radius.acct_listen)
            })?;
        Some((auth, acct))
    } else {
        None
    };

    let links = RouterLinks::new(store.clone(), secrets.clone());
    let mut handlers = Handlers::new();
    let mut periodic = queue::maintenance::register(&mut handlers, &store, &clock, &config.queue);
    periodic.extend(jobs::expiry::register(
        &mut handlers,
        &store,
        &clock,
        config.expiry.sweep_every.get(),
    ));
    jobs::disconnect::register(
        &mut handlers,
        jobs::disconnect::Enforcer {
            store: store.clone(),
            secrets: secrets.clone(),
            clock: clock.clone(),
            links: links.clone(),
            coa_source: config.radius.coa_source,
            verify_after: config.expiry.verify_after.get(),
        },
    );
    let settings = RunnerSettings::from_config(&config.queue, config.daemon.shutdown_grace.get());
    let runner =
        QueueRunner::new(store.clone(), clock.clone(), handlers, settings).with_periodic(periodic);
    let rescued = runner
        .rescue_at_start()
        .await
        .context("rescuing jobs held at the last stop")?;
    if rescued.requeued > 0 {
        tracing::info!(
            requeued = rescued.requeued,
            "jobs interrupted at the last stop will run again"
        );
    }
    tasks.spawn(runner.run(shutdown.clone()));

    if let Some((auth, acct)) = radius_sockets {
        let clients = Arc::new(Clients::new());
        clients.replace(
            radius::load_clients(&store, &secrets)
                .await
                .context("loading the RADIUS clients")?,
        );
        let policy = Arc::new(StorePolicy::new(
            store.clone(),
            secrets.clone(),
            clock.clone(),
        ));
        let server_config = ServerConfig {
            max_in_flight: usize::try_from(config.radius.max_in_flight).unwrap_or(256),
            request_timeout: config.radius.request_timeout.get(),
            shutdown_grace: config.daemon.shutdown_grace.get(),
            ..ServerConfig::default()
        };
        let server = Server::new(policy, Arc::clone(&clients), server_config);
        let counters = server.counters();
        tracing::info!(auth = %config.radius.auth_listen, acct = %config.radius.acct_listen, "RADIUS listening");
        let stop = shutdown.clone();
        tasks.spawn(async move {
            if let Err(err) = server.run(auth, acct, stop).await {
                tracing::error!(error = %err, "RADIUS server stopped");
            }
        });
        tasks.spawn(radius::watch_routers(
            store.clone(),
            secrets.clone(),
            clients,
            shutdown.clone(),
        ));
        tasks.spawn(radius::summarize_rejects(
            store.clone(),
            clock.clone(),
            counters,
            config.radius.reject_summary_every.get(),
            shutdown.clone(),
        ));
    }
    crate::sync::spawn(
        &config,
        &store,
        &clock,
        {
            let mut registry = crate::sync::registry();
            crate::sync::domain::register(&mut registry, &secrets);
            registry
        },
        &tasks,
        &shutdown,
    )
    .context("starting the sync agent")?;
    tasks.close();

    tracing::info!("siteboxd running");
    wait_for_signal().await?;
    tracing::info!(grace = ?config.daemon.shutdown_grace.get(), "shutting down");
    shutdown.cancel();
    // The runner bounds its own drain by the grace period; this is the backstop.
    let backstop = config.daemon.shutdown_grace.get() + std::time::Duration::from_secs(5);
    if tokio::time::timeout(backstop, tasks.wait()).await.is_err() {
        tracing::error!("tasks did not stop in time; exiting anyway (leases make this safe)");
    }
    tracing::info!("siteboxd stopped");
    Ok(())
}

async fn wait_for_signal() -> anyhow::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM"),
        _ = int.recv() => tracing::info!("SIGINT"),
    }
    Ok(())
}
