//! The daemon's life: validated config in, then open the store, bind every socket, build the
//! subsystems, start one task (or a few) per subsystem, report READY=1, wait for
//! SIGTERM/SIGINT, drain within the grace period, exit.
//!
//! [`run`] reads as that list: [`Sockets::bind`] is the only place a socket is bound (all of
//! them before READY=1, so a port in use stops the start cleanly), the `spawn_*` functions
//! each start one subsystem on the shared [`TaskTracker`] and shutdown token.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use sitebox_radius::{Clients, Counters, Server, ServerConfig};
use tokio::net::UdpSocket;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::clock::{ScaledClock, SharedClock, Timestamp, TrustedClock};
use crate::config::{Config, DaemonConfig};
use crate::jobs;
use crate::links::RouterLinks;
use crate::notify;
use crate::queue::{self, Handlers, PeriodicJob, QueueRunner, RunnerSettings};
use crate::radius::{self, StorePolicy};
use crate::secrets::Secrets;
use crate::store::{Opener, Store};
use crate::web::radius_test::RadiusTarget;

/// Runs the daemon until a shutdown signal. `config` has been validated whole already;
/// `secrets` (the credential key) was read before the process left root (see
/// [`crate::privileges`]).
pub(crate) async fn run(config: Config, secrets: Secrets) -> anyhow::Result<()> {
    // First: a SIGTERM that arrives during start-up, or just after READY=1, must start the
    // drain, not kill the process with the default action.
    let signals = Signals::install()?;
    let started = Instant::now();
    let life = Life {
        shutdown: CancellationToken::new(),
        tasks: TaskTracker::new(),
    };
    let store = open_store(&config).await?;
    let (clock, trusted) = clock(&config.daemon, &store).await?;
    let sockets = Sockets::bind(&config).await?;
    if let Some(trusted) = trusted {
        life.tasks
            .spawn(watch_clock(store.clone(), trusted, life.shutdown.clone()));
    }
    let core = Core {
        clock,
        config,
        store,
        secrets,
    };

    #[cfg(feature = "simulator")]
    if let Some(listener) = sockets.simulator {
        spawn_simulator(&core, listener, &life).await?;
    }
    spawn_disk_probe(&core, &life);
    spawn_queue(&core, &life).await?;
    let radius = match sockets.radius {
        Some(radius) => Some(spawn_radius(&core, radius, &life).await?),
        None => None,
    };
    spawn_sync(&core, &life)?;
    if let Some(bound) = sockets.web {
        spawn_web(&core, bound, radius, started, &life);
    }
    life.tasks.close();
    let Core { config, store, .. } = core;

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
    let grace = config.daemon.shutdown_grace.get();
    tracing::info!(?grace, "shutting down");
    notify::stopping("draining: running jobs get the shutdown grace period");
    life.drain(grace).await;
    // The watchdog pings through the drain: a long drain is not a hang.
    watchdog_stop.cancel();
    if let Some(watchdog) = watchdog {
        let _ = watchdog.await;
    }
    tracing::info!("siteboxd stopped");
    Ok(())
}

/// What every subsystem is built from.
struct Core {
    config: Config,
    store: Store,
    secrets: Secrets,
    clock: SharedClock,
}

/// What every subsystem's tasks share: one shutdown token, one tracker.
struct Life {
    shutdown: CancellationToken,
    tasks: TaskTracker,
}

impl Life {
    /// Stops every task: the runner bounds its own drain by the grace period; this waits a
    /// little longer as a backstop (leases make an early exit safe).
    async fn drain(self, grace: Duration) {
        self.shutdown.cancel();
        let backstop = grace + Duration::from_secs(5);
        if tokio::time::timeout(backstop, self.tasks.wait())
            .await
            .is_err()
        {
            tracing::error!("tasks did not stop in time; exiting anyway (leases make this safe)");
        }
    }
}

/// The trusted wall clock (with what the database knows of it, and anything lived on an
/// untrusted timeline moved onto it before anything runs), or for a scenario run a clock that
/// runs faster.
async fn clock(
    config: &DaemonConfig,
    store: &Store,
) -> anyhow::Result<(SharedClock, Option<Arc<TrustedClock>>)> {
    if config.clock_speed <= 1.0 {
        let known = store
            .read(crate::store::clock::load)
            .await
            .context("reading the clock's standing")?;
        let trusted = Arc::new(TrustedClock::new(config.trust_sources(), known));
        reanchor_if_due(store, &trusted)
            .await
            .context("moving activations and expiries onto the wall clock")?;
        save_clock(store, &trusted).await?;
        return Ok((trusted.clone(), Some(trusted)));
    }
    Ok((scaled_clock(config), None))
}

/// How often the clock's standing is saved (the newest trusted time, like timesyncd's clock
/// file): a restart never trusts a wall clock earlier than this.
const CLOCK_SAVE_EVERY: Duration = Duration::from_secs(60);

/// Watches the wall clock: when it becomes trusted, moves what was recorded on the untrusted
/// timeline onto it; saves the clock's standing now and then and at shutdown.
async fn watch_clock(store: Store, clock: Arc<TrustedClock>, shutdown: CancellationToken) {
    let mut saved = Instant::now();
    loop {
        tokio::select! {
            () = shutdown.cancelled() => break,
            () = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
        let moved = match reanchor_if_due(&store, &clock).await {
            Ok(moved) => moved,
            Err(err) => {
                tracing::error!(error = %err, "could not move activations and expiries onto the wall clock");
                false
            }
        };
        if moved || saved.elapsed() >= CLOCK_SAVE_EVERY {
            saved = Instant::now();
            if let Err(err) = save_clock(&store, &clock).await {
                tracing::warn!(error = %format!("{err:#}"), "could not save the clock's standing");
            }
        }
    }
    if let Err(err) = save_clock(&store, &clock).await {
        tracing::warn!(error = %format!("{err:#}"), "could not save the clock's standing");
    }
}

/// Applies a re-anchoring when one is due; true when it did.
async fn reanchor_if_due(store: &Store, clock: &TrustedClock) -> anyhow::Result<bool> {
    let Some(reanchor) = clock.reanchor_due() else {
        return Ok(false);
    };
    let moved = store
        .write(move |tx| crate::store::clock::reanchor(tx, &reanchor))
        .await?;
    clock.reanchored(reanchor);
    tracing::info!(
        subscriptions = moved.subscriptions,
        jobs = moved.jobs,
        offset_ms = reanchor.offset_ms,
        "re-anchored on the wall clock"
    );
    Ok(true)
}

async fn save_clock(store: &Store, clock: &TrustedClock) -> anyhow::Result<()> {
    let trust = clock.trust();
    store
        .write(move |tx| crate::store::clock::save(tx, &trust))
        .await
        .context("saving the clock's standing")
}

/// A clock that runs faster than real time, for scenario runs.
fn scaled_clock(config: &DaemonConfig) -> SharedClock {
    tracing::warn!(
        speed = config.clock_speed,
        "scenario run: the clock runs faster than real time"
    );
    match config.clock_anchor {
        Some(anchor) => Arc::new(ScaledClock::anchored(
            Timestamp::from_millis(anchor),
            config.clock_speed,
        )),
        None => Arc::new(ScaledClock::new(config.clock_speed)),
    }
}

/// Opens the store on a blocking thread (integrity check, migrations, the writer thread).
async fn open_store(config: &Config) -> anyhow::Result<Store> {
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
    Ok(store)
}

/// Every socket the daemon serves on, bound before anything runs: a port in use stops the
/// start here, before READY=1. [`Config::listeners`] lists the same sockets.
struct Sockets {
    /// RADIUS authentication and accounting.
    radius: Option<(UdpSocket, UdpSocket)>,
    /// The development RouterOS simulator's API.
    #[cfg(feature = "simulator")]
    simulator: Option<tokio::net::TcpListener>,
    /// The technician page (its TLS files read).
    web: Option<crate::web::Bound>,
}

impl Sockets {
    async fn bind(config: &Config) -> anyhow::Result<Self> {
        let radius = if config.radius.enabled {
            let (auth, acct) = (config.radius.auth_listen, config.radius.acct_listen);
            let auth = UdpSocket::bind(auth)
                .await
                .with_context(|| format!("binding RADIUS authentication on {auth}"))?;
            let acct = UdpSocket::bind(acct)
                .await
                .with_context(|| format!("binding RADIUS accounting on {acct}"))?;
            for socket in [&auth, &acct] {
                widen_receive_buffer(socket);
            }
            Some((auth, acct))
        } else {
            None
        };
        #[cfg(feature = "simulator")]
        let simulator = if config.simulator.enabled {
            let listen = config.simulator.listen;
            let listener = tokio::net::TcpListener::bind(listen)
                .await
                .with_context(|| format!("binding the RouterOS simulator on {listen}"))?;
            Some(listener)
        } else {
            None
        };
        let web = if config.web.enabled {
            let bound = crate::web::bind(&config.web).await?;
            tracing::info!(
                url = %format!("{}://{}", bound.scheme(), bound.local_addr()?),
                "web listening"
            );
            Some(bound)
        } else {
            None
        };
        Ok(Self {
            radius,
            #[cfg(feature = "simulator")]
            simulator,
            web,
        })
    }
}

/// The development RouterOS simulator: served on its listener and registered as a managed
/// router (before the queue and RADIUS start, so both know it at once).
#[cfg(feature = "simulator")]
async fn spawn_simulator(
    core: &Core,
    listener: tokio::net::TcpListener,
    life: &Life,
) -> anyhow::Result<()> {
    let Core {
        config,
        store,
        secrets,
        clock,
    } = core;
    let sim = crate::dev_sim::simulator(&config.simulator)?;
    let port = listener.local_addr().context("simulator address")?.port();
    crate::dev_sim::spawn(&sim, listener, &life.tasks, &life.shutdown);
    tracing::warn!(listen = %config.simulator.listen, router = %config.simulator.router,
        "development: RouterOS simulator serving");
    if crate::dev_sim::register(store, secrets, clock, &config.simulator, port).await? {
        tracing::info!(router = %config.simulator.router, "simulator registered as a managed router");
    }
    Ok(())
}

/// The job queue: every handler registered, the jobs held by the previous run taken back
/// (they run again), then the workers, the rescuer and the periodic scheduler.
/// How often a write is sent through to the disk to learn whether writes still reach it (and
/// that they do again, after a fault), and the free space is checked.
const DISK_PROBE_EVERY: Duration = Duration::from_secs(5);

/// The disk probe (see [`crate::store::health`]): its outcome feeds `/healthz`, `/metrics` and
/// the one log line per fault and recovery.
fn spawn_disk_probe(core: &Core, life: &Life) {
    let store = core.store.clone();
    let stop = life.shutdown.clone();
    life.tasks.spawn(async move {
        loop {
            if let Err(cause) = store.probe_writes().await {
                tracing::debug!(cause, "disk probe failed");
            }
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(DISK_PROBE_EVERY) => {}
            }
        }
    });
}

async fn spawn_queue(core: &Core, life: &Life) -> anyhow::Result<()> {
    let Core {
        config,
        store,
        clock,
        ..
    } = core;
    let (handlers, periodic) = handlers(core);
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
    life.tasks.spawn(runner.run(life.shutdown.clone()));
    Ok(())
}

/// Every job handler and the periodic jobs' schedule.
fn handlers(core: &Core) -> (Handlers, Vec<PeriodicJob>) {
    let Core {
        config,
        store,
        secrets,
        clock,
    } = core;
    let links = RouterLinks::new(store.clone(), secrets.clone())
        .with_timeout(config.provisioning.command_timeout.get());
    let mut handlers = Handlers::new();
    let mut periodic = queue::maintenance::register(&mut handlers, store, clock, &config.queue);
    periodic.extend(jobs::expiry::register(
        &mut handlers,
        store,
        clock,
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
            watch: jobs::provision::Watch::of(&config.web, config.provisioning.radius_address),
        },
    );
    periodic.extend(jobs::health::register(
        &mut handlers,
        jobs::health::Poller {
            store: store.clone(),
            clock: clock.clone(),
            links,
            every: config.provisioning.health_every.get(),
            command_timeout: config.provisioning.command_timeout.get(),
            provisioning: config.provisioning.enabled,
        },
    ));
    (handlers, periodic)
}

/// What the page needs of the running RADIUS server.
struct RadiusParts {
    counters: Arc<Counters>,
    target: RadiusTarget,
}

/// The RADIUS server on its two sockets, with the client table loaded from the routers (and
/// kept in step with them) and the periodic summary of rejects.
async fn spawn_radius(
    core: &Core,
    (auth, acct): (UdpSocket, UdpSocket),
    life: &Life,
) -> anyhow::Result<RadiusParts> {
    let Core {
        config,
        store,
        secrets,
        clock,
    } = core;
    let clients = Arc::new(Clients::new());
    let target = RadiusTarget {
        clients: Arc::clone(&clients),
        auth: auth.local_addr().context("the RADIUS socket's address")?,
    };
    clients.replace(
        radius::load_clients(store, secrets)
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
    let stop = life.shutdown.clone();
    life.tasks.spawn(async move {
        if let Err(err) = server.run(auth, acct, stop).await {
            tracing::error!(error = %err, "RADIUS server stopped");
        }
    });
    life.tasks.spawn(radius::watch_routers(
        store.clone(),
        secrets.clone(),
        clients,
        life.shutdown.clone(),
    ));
    life.tasks.spawn(radius::summarize_rejects(
        store.clone(),
        clock.clone(),
        Arc::clone(&counters),
        config.radius.reject_summary_every.get(),
        life.shutdown.clone(),
    ));
    Ok(RadiusParts { counters, target })
}

/// The sync agent (when `[sync] enabled`), with the built-in and the domain's cloud commands.
fn spawn_sync(core: &Core, life: &Life) -> anyhow::Result<()> {
    let Core {
        config,
        store,
        secrets,
        clock,
    } = core;
    let mut registry = crate::sync::registry();
    crate::sync::domain::register(&mut registry, secrets);
    crate::sync::spawn(config, store, clock, registry, &life.tasks, &life.shutdown)
        .context("starting the sync agent")
}

/// The technician page on its bound listener.
fn spawn_web(
    core: &Core,
    bound: crate::web::Bound,
    radius: Option<RadiusParts>,
    started: Instant,
    life: &Life,
) {
    let Core {
        config,
        store,
        secrets,
        clock,
    } = core;
    let (counters, target) = radius.map(|r| (r.counters, r.target)).unzip();
    let web = Arc::new(crate::web::Web {
        store: store.clone(),
        clock: clock.clone(),
        config: config.web.clone(),
        site_name: config.site.name.clone(),
        data_dir: config.store.data_dir.clone(),
        radius: counters,
        radius_target: target,
        router_timeout: config.provisioning.command_timeout.get(),
        secrets: secrets.clone(),
        started,
    });
    life.tasks.spawn(crate::web::serve(
        bound,
        web,
        life.tasks.clone(),
        life.shutdown.clone(),
    ));
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
