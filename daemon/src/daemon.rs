//! The daemon's life: validated config in, then open the store, start every task, wait for
//! SIGTERM/SIGINT, drain within the grace period, exit.

use std::sync::Arc;

use anyhow::Context as _;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::clock::{SharedClock, SystemClock};
use crate::config::Config;
use crate::notify;
use crate::queue::{self, Handlers, QueueRunner, RunnerSettings};
use crate::secrets::Secrets;
use crate::store::{Opener, Store};

/// Runs the daemon until a shutdown signal. `config` has been validated whole already;
/// `secrets` (the credential key) was read before the process left root (see
/// [`crate::privileges`]).
pub async fn run(config: Config, secrets: Option<Secrets>) -> anyhow::Result<()> {
    // First: a SIGTERM that arrives during start-up, or just after READY=1, must start the
    // drain, not kill the process with the default action.
    let signals = Signals::install()?;
    let shutdown = CancellationToken::new();
    let tasks = TaskTracker::new();
    let clock: SharedClock = Arc::new(SystemClock);

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

    match &secrets {
        Some(_) => tracing::info!("credential key loaded"),
        None => tracing::info!(
            key_file = %config.daemon.key_file.display(),
            "no credential key (neither the systemd credential nor the key file exists)"
        ),
    }

    let mut handlers = Handlers::new();
    let periodic = queue::maintenance::register(&mut handlers, &store, &clock, &config.queue);
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
    tasks.close();

    // Start-up is over: the store is open and every server above has its socket bound. Keep
    // this at the end of start-up so that READY=1 covers every server added above it.
    let watchdog_stop = CancellationToken::new();
    let watchdog = notify::watchdog_period().map(|period| {
        tokio::spawn(notify::watchdog(
            store.clone(),
            period,
            watchdog_stop.clone(),
        ))
    });
    tracing::info!("siteboxd running");
    notify::ready("serving");

    signals.wait().await;
    tracing::info!(grace = ?config.daemon.shutdown_grace.get(), "shutting down");
    notify::stopping("draining: running jobs get the shutdown grace period");
    shutdown.cancel();
    // The runner bounds its own drain by the grace period; this is the backstop.
    let backstop = config.daemon.shutdown_grace.get() + std::time::Duration::from_secs(5);
    if tokio::time::timeout(backstop, tasks.wait()).await.is_err() {
        tracing::error!("tasks did not stop in time; exiting anyway (leases make this safe)");
    }
    // The watchdog pings through the drain: a long drain is not a hang.
    watchdog_stop.cancel();
    if let Some(watchdog) = watchdog {
        let _ = watchdog.await;
    }
    tracing::info!("siteboxd stopped");
    Ok(())
}

/// SIGTERM and SIGINT, caught from the start of the daemon's life.
struct Signals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
}

impl Signals {
    fn install() -> anyhow::Result<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Self {
            term: signal(SignalKind::terminate()).context("installing the SIGTERM handler")?,
            int: signal(SignalKind::interrupt()).context("installing the SIGINT handler")?,
        })
    }

    async fn wait(mut self) {
        tokio::select! {
            _ = self.term.recv() => tracing::info!("SIGTERM"),
            _ = self.int.recv() => tracing::info!("SIGINT"),
        }
    }
}
