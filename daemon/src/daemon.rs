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
use crate::notify;
use crate::queue::{self, Handlers, QueueRunner, RunnerSettings};
use crate::radius::{self, StorePolicy};
use crate::secrets::Secrets;
use crate::store::{Opener, Store};

/// Runs the daemon until a shutdown signal. `config` has been validated whole already;
/// `secrets` (the credential key) was read before the process left root (see
/// [`crate::privileges`]).
pub async fn run(config: Config, secrets: Secrets) -> anyhow::Result<()> {
    // First: a SIGTERM that arrives during start-up, or just after READY=1, must start the
    // drain, not kill the process with the default action.
    let signals = Signals::install()?;
    let started = std::time::Instant::now();
    let shutdown = CancellationToken::new();
    let tasks = TaskTracker::new();
    let clock: SharedClock = if config.daemon.clock_speed > 1.0 {
        tracing::warn!(
            speed = config.daemon.clock_speed,
            "scenario run: the clock runs faster than real time"
        );
        match config.daemon.clock_anchor {
            Some(anchor) => Arc::new(ScaledClock::anchored(
                crate::clock::Timestamp::from_millis(anchor),
                config.daemon.clock_speed,
            )),
            None => Arc::new(ScaledClock::new(config.daemon.clock_speed)),
        }
    } else {
        Arc::new(SystemClock)
    };

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
        for socket in [&auth, &acct] {
            widen_receive_buffer(socket);
        }
        Some((auth, acct))
    } else {
        None
    };
    #[cfg(feature = "simulator")]
    if config.simulator.enabled {
        let listener = tokio::net::TcpListener::bind(config.simulator.listen)
            .await
            .with_context(|| {
                format!(
                    "binding the RouterOS simulator on {}",
                    config.simulator.listen
                )
            })?;
        let sim = crate::dev_sim::simulator(&config.simulator)?;
        let port = listener.local_addr().context("simulator address")?.port();
        crate::dev_sim::spawn(&sim, listener, &tasks, &shutdown);
        tracing::warn!(listen = %config.simulator.listen, router = %config.simulator.router,
            "development: RouterOS simulator serving");
        if crate::dev_sim::register(&store, &secrets, &clock, &config.simulator, port).await? {
            tracing::info!(router = %config.simulator.router, "simulator registered as a managed router");
        }
    }

    let web_listener = if config.web.enabled {
        let bound = crate::web::bind(&config.web).await?;
        tracing::info!(
            url = %format!("{}://{}", bound.scheme(), bound.local_addr()?),
            "web listening"
        );
        Some(bound)
    } else {
        None
    };

    let links = RouterLinks::new(store.clone(), secrets.clone())
        .with_timeout(config.provisioning.command_timeout.get());
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
            silent: jobs::disconnect::SilentRouters::default(),
        },
    );
    jobs::provision::register(
        &mut handlers,
        jobs::provision::Provisioner {
            store: store.clone(),
            secrets: secrets.clone(),
            clock: clock.clone(),
            links: links.clone(),
            config: config.provisioning.clone(),
            radius_ports: (
                config.radius.auth_listen.port(),
                config.radius.acct_listen.port(),
            ),
        },
    );
    periodic.extend(jobs::health::register(
        &mut handlers,
        jobs::health::Poller {
            store: store.clone(),
            clock: clock.clone(),
            links: links.clone(),
            every: config.provisioning.health_every.get(),
            command_timeout: config.provisioning.command_timeout.get(),
            provisioning: config.provisioning.enabled,
        },
    ));
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

    let mut radius_counters = None;
    let mut radius_target = None;
    if let Some((auth, acct)) = radius_sockets {
        let clients = Arc::new(Clients::new());
        radius_target = Some(crate::web::radius_test::RadiusTarget {
            clients: Arc::clone(&clients),
            auth: auth.local_addr().context("the RADIUS socket's address")?,
        });
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
        radius_counters = Some(Arc::clone(&counters));
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
    if let Some(bound) = web_listener {
        let web = Arc::new(crate::web::Web {
            store: store.clone(),
            clock: clock.clone(),
            config: config.web.clone(),
            site_name: config.site.name.clone(),
            data_dir: config.store.data_dir.clone(),
            radius: radius_counters,
            radius_target,
            router_timeout: config.provisioning.command_timeout.get(),
            secrets: secrets.clone(),
            started,
        });
        tasks.spawn(crate::web::serve(
            bound,
            web,
            tasks.clone(),
            shutdown.clone(),
        ));
    }
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

/// What the RADIUS sockets ask the kernel to buffer: after a power cut every NAS re-sends its
/// users' logins at once, and with Linux's default (about 200 KB, some 90 queued datagrams) a
/// burst of a few hundred overflowed it, so those logins waited for the NAS's retransmit. The
/// kernel caps the request at `net.core.rmem_max`, which the package raises to this.
const RADIUS_RECEIVE_BUFFER: usize = 4 * 1024 * 1024;

fn widen_receive_buffer(socket: &UdpSocket) {
    use nix::sys::socket::{getsockopt, setsockopt, sockopt};
    if let Err(err) = setsockopt(socket, sockopt::RcvBuf, &RADIUS_RECEIVE_BUFFER) {
        tracing::warn!(error = %err, "could not widen a RADIUS socket's receive buffer");
    }
    let granted = getsockopt(socket, sockopt::RcvBuf).unwrap_or(0);
    // Linux reports double what it was asked (it counts its own overhead).
    if granted < RADIUS_RECEIVE_BUFFER {
        tracing::warn!(
            granted,
            wanted = RADIUS_RECEIVE_BUFFER,
            "RADIUS receive buffer capped by net.core.rmem_max: a login storm may overflow it (see /usr/lib/sysctl.d/60-sitebox.conf)"
        );
    }
}
