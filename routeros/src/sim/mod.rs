//! A RouterOS simulator: a test peer that behaves like a router on the API port.
//!
//! It keeps real state for the menus Sitebox uses (hotspot users and profiles, active
//! sessions, hosts, PPP, simple queues, RADIUS, identity, resources, interfaces) with `*hex`
//! ids, the routers' uniqueness rules and trap messages, print with `.proplist` and queries,
//! both login modes (by simulated version), tags, `/cancel`, `listen`, `!empty` from 7.18 and
//! `!fatal` on `/quit`. Faults are switched at run time through a [`SimHandle`].

mod faults;
mod menus;
mod query;
mod session;
mod state;
mod tls;
mod version;
mod writer;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use socket2::SockRef;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::task::TaskTracker;

pub use tls::{SimTls, SimTlsError};
/// The shutdown signal [`Simulator::serve`] takes, re-exported for callers without tokio-util.
pub use tokio_util::sync::CancellationToken;
pub use version::RouterOsVersion;

use faults::Faults;
use state::RouterState;

/// What router the simulator plays.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// The RouterOS version: decides the login mode and whether `!empty` is sent.
    pub version: RouterOsVersion,
    /// API users as (name, password).
    pub users: Vec<(String, String)>,
    /// `/system/identity` name.
    pub identity: String,
    /// Concurrent sessions served; more are closed on accept.
    pub max_connections: usize,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            version: RouterOsVersion::new(7, 18, 0),
            users: vec![("admin".to_owned(), "admin".to_owned())],
            identity: "MikroTik".to_owned(),
            max_connections: 64,
        }
    }
}

pub(crate) struct Inner {
    users: Vec<(String, String)>,
    version: Mutex<RouterOsVersion>,
    pub(crate) state: Mutex<RouterState>,
    pub(crate) faults: Faults,
    max_connections: usize,
    accepted: AtomicU64,
    pub(crate) logins: AtomicU64,
    pub(crate) writes: Mutex<Vec<SimWrite>>,
}

/// A change a client made: an `add`, `set`, `remove`, `enable` or `disable` the router
/// carried out (refused ones are not kept). Lets a test check that a job had one effect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimWrite {
    /// The menu, e.g. `/ip/hotspot/user`.
    pub menu: String,
    /// The verb.
    pub verb: String,
    /// For `add` the new item's `name` (else its id); otherwise the `.id`/`numbers` given.
    pub target: String,
}

impl Inner {
    pub(crate) fn version(&self) -> RouterOsVersion {
        *self.version.lock().expect("version")
    }

    fn password_of(&self, name: &[u8]) -> Option<String> {
        self.users
            .iter()
            .find(|(user, _)| user.as_bytes() == name)
            .map(|(_, password)| password.clone())
    }
}

/// An API user as the stand-alone simulators take it on their command line: `NAME:PASSWORD`.
pub fn parse_api_user(text: &str) -> Option<(String, String)> {
    text.split_once(':')
        .map(|(name, password)| (name.to_owned(), password.to_owned()))
}

/// The simulated router. Serve it on as many listeners as wanted; they share one state.
#[derive(Clone)]
pub struct Simulator {
    inner: Arc<Inner>,
}

impl Simulator {
    /// A router out of the box, as `config` describes.
    pub fn new(config: SimConfig) -> Self {
        let state = RouterState::new(config.version, &config.identity);
        Self {
            inner: Arc::new(Inner {
                users: config.users,
                version: Mutex::new(config.version),
                state: Mutex::new(state),
                faults: Faults::default(),
                max_connections: config.max_connections.max(1),
                accepted: AtomicU64::new(0),
                logins: AtomicU64::new(0),
                writes: Mutex::new(Vec::new()),
            }),
        }
    }

    /// A handle to inspect state and switch faults while serving.
    pub fn handle(&self) -> SimHandle {
        SimHandle {
            inner: self.inner.clone(),
        }
    }

    /// Serves the plain API on `listener` until `shutdown`, then waits (up to 2 s) for sessions.
    pub async fn serve(&self, listener: TcpListener, shutdown: CancellationToken) {
        self.serve_with(listener, None, shutdown).await;
    }

    /// Serves API-SSL on `listener` with the given certificate.
    pub async fn serve_tls(&self, listener: TcpListener, tls: SimTls, shutdown: CancellationToken) {
        self.serve_with(listener, Some(tls), shutdown).await;
    }

    /// What a stand-alone simulator does: serves the plain API on `plain` and, when given,
    /// API-SSL on the second listener, both on this one router, until `stop` completes; then
    /// closes both and waits for them.
    pub async fn serve_until(
        &self,
        plain: TcpListener,
        tls: Option<(TcpListener, SimTls)>,
        stop: impl Future<Output = ()>,
    ) {
        let shutdown = CancellationToken::new();
        let secure = tls.map(|(listener, tls)| {
            let (sim, shutdown) = (self.clone(), shutdown.clone());
            tokio::spawn(async move { sim.serve_tls(listener, tls, shutdown).await })
        });
        let stopper = async {
            stop.await;
            shutdown.cancel();
        };
        tokio::join!(self.serve(plain, shutdown.clone()), stopper);
        if let Some(secure) = secure {
            let _ = secure.await;
        }
    }

    async fn serve_with(
        &self,
        listener: TcpListener,
        tls: Option<SimTls>,
        shutdown: CancellationToken,
    ) {
        let sessions = TaskTracker::new();
        let limit = Arc::new(Semaphore::new(self.inner.max_connections));
        loop {
            let (stream, peer) = tokio::select! {
                _ = shutdown.cancelled() => break,
                accepted = listener.accept() => match accepted {
                    Ok(accepted) => accepted,
                    Err(error) => {
                        tracing::warn!(%error, "simulator accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
            };
            self.inner.accepted.fetch_add(1, Ordering::Relaxed);
            if self.inner.faults.refusing() {
                // Reset rather than close, as a host with nothing listening would.
                let _ = SockRef::from(&stream).set_linger(Some(Duration::ZERO));
                drop(stream);
                continue;
            }
            let Ok(permit) = limit.clone().try_acquire_owned() else {
                tracing::debug!(%peer, "simulator at its connection limit");
                continue;
            };
            let inner = self.inner.clone();
            let shutdown = shutdown.clone();
            let tls = tls.clone();
            sessions.spawn(async move {
                let _permit = permit;
                match tls {
                    None => session::run(stream, inner, shutdown).await,
                    Some(tls) => {
                        let handshake = tokio::time::timeout(
                            Duration::from_secs(10),
                            tls.acceptor.accept(stream),
                        );
                        match handshake.await {
                            Ok(Ok(stream)) => session::run(stream, inner, shutdown).await,
                            Ok(Err(error)) => {
                                tracing::debug!(%peer, %error, "TLS handshake failed")
                            }
                            Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                        }
                    }
                }
            });
        }
        sessions.close();
        let _ = tokio::time::timeout(Duration::from_secs(2), sessions.wait()).await;
    }
}

impl std::fmt::Debug for Simulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Simulator")
            .field("version", &self.inner.version())
            .finish_non_exhaustive()
    }
}

/// Test-side control of a running simulator: state, counters and fault knobs.
#[derive(Clone)]
pub struct SimHandle {
    inner: Arc<Inner>,
}

impl SimHandle {
    /// Holds every reply (the router accepts and reads but never answers) while `true`.
    pub fn set_stall(&self, stalled: bool) {
        self.inner.faults.stall.send_replace(stalled);
    }

    /// Cuts the connection halfway through the next reply sentence sent on any session.
    pub fn drop_next_reply(&self) {
        self.inner
            .faults
            .drop_next_reply
            .store(true, Ordering::Relaxed);
    }

    /// Sends replies one byte at a time with `delay` between bytes; `None` for full speed.
    pub fn set_slow_drip(&self, delay: Option<Duration>) {
        let micros = delay.map_or(0, |d| d.as_micros().clamp(1, u128::from(u64::MAX)) as u64);
        self.inner
            .faults
            .drip_micros
            .store(micros, Ordering::Relaxed);
    }

    /// Resets new connections at once while `true` (the router is down), accepts them again
    /// when `false`.
    pub fn set_refuse(&self, refuse: bool) {
        self.inner.faults.refuse.store(refuse, Ordering::Relaxed);
    }

    /// Changes the simulated version (login mode and `!empty` follow it at once).
    pub fn set_version(&self, version: RouterOsVersion) {
        *self.inner.version.lock().expect("version") = version;
        self.inner
            .state
            .lock()
            .expect("router state")
            .set_version(version);
    }

    /// Adds an item without validation, e.g. an `/ip/hotspot/active` session. Returns its id.
    pub fn insert(&self, menu: &str, props: &[(&str, &[u8])]) -> String {
        self.inner
            .state
            .lock()
            .expect("router state")
            .insert_raw(menu, props)
    }

    /// Adds `count` hotspot users named `{prefix}{n}` at once: the "huge print" fault.
    pub fn fill_hotspot_users(&self, prefix: &str, count: usize) {
        let mut state = self.inner.state.lock().expect("router state");
        for n in 0..count {
            let name = format!("{prefix}{n}");
            let comment = format!("bulk user {n}");
            state.insert_raw(
                "/ip/hotspot/user",
                &[("name", name.as_bytes()), ("comment", comment.as_bytes())],
            );
        }
    }

    /// Every item of a menu, properties as bytes (`.id` included).
    pub fn items(&self, menu: &str) -> Vec<BTreeMap<String, Vec<u8>>> {
        let Some(spec) = menus::find(menu) else {
            return Vec::new();
        };
        let state = self.inner.state.lock().expect("router state");
        state
            .print(spec, &[], None)
            .into_iter()
            .map(|props| props.into_iter().collect())
            .collect()
    }

    /// The item of a menu whose `name` (or `user` for hotspot active) is `name`.
    pub fn find(&self, menu: &str, name: &str) -> Option<BTreeMap<String, Vec<u8>>> {
        self.items(menu).into_iter().find(|item| {
            item.get("name")
                .or_else(|| item.get("user"))
                .map(Vec::as_slice)
                == Some(name.as_bytes())
        })
    }

    /// Connections accepted so far (refused ones included).
    pub fn connections_accepted(&self) -> u64 {
        self.inner.accepted.load(Ordering::Relaxed)
    }

    /// Successful logins so far.
    pub fn logins(&self) -> u64 {
        self.inner.logins.load(Ordering::Relaxed)
    }

    /// Every change carried out so far, in order.
    pub fn writes(&self) -> Vec<SimWrite> {
        self.inner.writes.lock().expect("writes").clone()
    }

    /// How many `verb`s were carried out on `menu`.
    pub fn write_count(&self, menu: &str, verb: &str) -> usize {
        self.inner
            .writes
            .lock()
            .expect("writes")
            .iter()
            .filter(|w| w.menu == menu && w.verb == verb)
            .count()
    }
}

impl std::fmt::Debug for SimHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimHandle").finish_non_exhaustive()
    }
}
