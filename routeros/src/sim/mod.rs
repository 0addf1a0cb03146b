//! A RouterOS simulator: a test peer that behaves like a router on the API port.
//!
//! It keeps real state for the menus Sitebox uses (hotspot users and profiles, active
//! sessions, hosts, PPP, simple queues, RADIUS, identity, resources, interfaces) with `*hex`
//! ids, the routers' uniqueness rules and trap messages, print with `.proplist` and queries,
//! both login modes (by simulated version), tags, `/cancel`, `listen`, `!empty` from 7.18 and
//! `!fatal` on `/quit`. Faults are switched at run time through a [`SimHandle`].
//!
//! It also decides hotspot and PPPoE logins as RouterOS does (local records first, RADIUS only
//! when none matches), runs the sessions on its own [`SimClock`] (timeouts, limits, interim
//! accounting), acts as a RADIUS client towards the box, and serves `/radius incoming`.

mod behaviour;
mod clock;
mod faults;
mod live;
mod login;
mod menus;
mod netwatch;
mod query;
mod radius;
pub mod script;
mod session;
mod state;
mod ticker;
mod time;
mod tls;
mod version;
mod writer;

use std::collections::{BTreeMap, HashSet};
use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use socket2::SockRef;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::task::TaskTracker;

pub use behaviour::{Behaviour, HotspotAuth};
pub use clock::SimClock;
pub use live::{AcctStatus, ActiveSession, SessionKind, TerminateCause};
pub use login::{DecidedBy, HotspotLogin, Login, LoginAttempt, LoginRefused, PppAuth, PppLogin};
pub use radius::{AccountingSent, RadiusMonitor};
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
    /// The router's clock (sessions, limits, interims, netwatch, scheduler).
    pub clock: SimClock,
    /// The router's address towards the box: RADIUS requests come from it (unless a
    /// `/radius src-address` says otherwise), NAS-IP-Address carries it, and `/radius incoming`
    /// listens on it.
    pub address: Ipv4Addr,
    /// Choices where RouterOS's documentation is silent.
    pub behaviour: Behaviour,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            version: RouterOsVersion::new(7, 18, 0),
            users: vec![("admin".to_owned(), "admin".to_owned())],
            identity: "MikroTik".to_owned(),
            max_connections: 64,
            clock: SimClock::system(),
            address: Ipv4Addr::LOCALHOST,
            behaviour: Behaviour::default(),
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
    me: Weak<Inner>,
    pub(crate) clock: SimClock,
    pub(crate) address: Ipv4Addr,
    pub(crate) behaviour: Behaviour,
    pub(crate) radius: radius::Counters,
    pub(crate) identifiers: radius::Identifiers,
    pub(crate) accounting: Mutex<Vec<AccountingSent>>,
    pub(crate) login_journal: Mutex<Vec<LoginAttempt>>,
    pub(crate) script_runs: Mutex<Vec<script::ScriptRun>>,
    unreachable: Mutex<HashSet<IpAddr>>,
    pub(crate) ticking: AtomicBool,
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

    /// Now on the router's clock, ms since the Unix epoch.
    pub(crate) fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    /// Runs `f` on the state under its lock, then sends what it left to do (accounting,
    /// probes) once the lock is released.
    pub(crate) fn locked<R>(&self, f: impl FnOnce(&mut RouterState) -> R) -> R {
        let (result, effects) = {
            let mut state = self.state.lock().expect("router state");
            let result = f(&mut state);
            (result, std::mem::take(&mut state.live.effects))
        };
        if effects.is_empty() {
            return result;
        }
        let (Some(me), Ok(runtime)) = (self.me.upgrade(), tokio::runtime::Handle::try_current())
        else {
            tracing::warn!(
                count = effects.len(),
                "simulated router outside a runtime: effects dropped"
            );
            return result;
        };
        for effect in effects {
            match effect {
                live::Effect::Accounting(job) => {
                    runtime.spawn(radius::account(me.clone(), job));
                }
                live::Effect::Probe(run) => {
                    runtime.spawn(netwatch::probe(me.clone(), run));
                }
            }
        }
        result
    }

    /// NAS-Identifier and NAS-IP-Address.
    pub(crate) fn nas_identity(&self, state: &RouterState) -> live::NasIdentity {
        live::NasIdentity {
            identifier: state
                .single("/system/identity")
                .map(|p| live::prop(p, "name").to_owned())
                .unwrap_or_default(),
            address: self.address,
        }
    }

    /// Whether the test has cut the router off from `ip`.
    pub(crate) fn unreachable(&self, ip: IpAddr) -> bool {
        self.unreachable.lock().expect("unreachable").contains(&ip)
    }

    pub(crate) fn journal(
        &self,
        kind: SessionKind,
        user: &str,
        mac: &str,
        at_ms: i64,
        result: &Result<Login, LoginRefused>,
    ) {
        let (decided_by, refused) = match result {
            Ok(login) => (login.decided_by, None),
            Err(refused) => (refused.decided_by, Some(refused.message.clone())),
        };
        self.login_journal
            .lock()
            .expect("login journal")
            .push(LoginAttempt {
                kind,
                user: user.to_owned(),
                mac: live::mac_upper(mac),
                at_ms,
                decided_by,
                refused,
            });
    }

    /// One round of the router's own work: sessions due to end or to send an interim,
    /// netwatch probes and scheduler entries that are due.
    pub(crate) fn tick(&self) {
        let now = self.now_ms();
        self.locked(|state| {
            if state.live.powered_off {
                return;
            }
            let nas = self.nas_identity(state);
            live::enforce(state, now, &nas);
            netwatch::due(self, state, now);
        });
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
        let mut state = RouterState::new(config.version, &config.identity);
        state.live.boots = 1;
        state.live.booted_ms = config.clock.now_ms();
        Self {
            inner: Arc::new_cyclic(|me| Inner {
                users: config.users,
                version: Mutex::new(config.version),
                state: Mutex::new(state),
                faults: Faults::default(),
                max_connections: config.max_connections.max(1),
                accepted: AtomicU64::new(0),
                logins: AtomicU64::new(0),
                writes: Mutex::new(Vec::new()),
                me: me.clone(),
                clock: config.clock,
                address: config.address,
                behaviour: config.behaviour,
                radius: radius::Counters::default(),
                identifiers: radius::Identifiers::default(),
                accounting: Mutex::new(Vec::new()),
                login_journal: Mutex::new(Vec::new()),
                script_runs: Mutex::new(Vec::new()),
                unreachable: Mutex::new(HashSet::new()),
                ticking: AtomicBool::new(false),
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
        ticker::start(&self.inner);
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
        let now = self.inner.now_ms();
        let mut state = self.inner.state.lock().expect("router state");
        live::refresh(&mut state, now);
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

    /// The router's clock.
    pub fn clock(&self) -> SimClock {
        self.inner.clock.clone()
    }

    /// Moves a manual clock forward and lets the router act on it at once (sessions that
    /// time out end, interims due go out, scheduler entries due run, netwatch probes due
    /// start; a probe's result arrives in real time, see [`SimHandle::probe_netwatch`]).
    /// False, and nothing moves, for a system or scaled clock.
    pub fn advance(&self, by: Duration) -> bool {
        ticker::start(&self.inner);
        // What changed since the last round is seen at the time it changed.
        self.inner.tick();
        let moved = self.inner.clock.advance(by);
        if moved {
            self.inner.tick();
        }
        moved
    }

    /// A hotspot client at `ip`/`mac` sends its first packets: the server makes its
    /// `/ip/hotspot/host` entry (what `/ip/hotspot/active/login` needs). `server` `None` for
    /// the first enabled server. Returns the host's id.
    pub fn hotspot_host(&self, server: Option<&str>, mac: &str, ip: Ipv4Addr) -> String {
        self.inner.locked(|state| {
            let server = server.map(str::to_owned).or_else(|| {
                state
                    .rows("/ip/hotspot")
                    .find(|(_, p)| live::prop(p, "disabled") != "true")
                    .map(|(_, p)| live::prop(p, "name").to_owned())
            });
            let mac = live::mac_upper(mac);
            let ip = ip.to_string();
            state.insert_raw(
                "/ip/hotspot/host",
                &[
                    ("mac-address", mac.as_bytes()),
                    ("address", ip.as_bytes()),
                    ("to-address", ip.as_bytes()),
                    ("server", server.unwrap_or_default().as_bytes()),
                ],
            )
        })
    }

    /// A customer logs in on the hotspot login page (CHAP by default; see
    /// [`HotspotLogin::auth`]). Decided as RouterOS does: a local user for the server decides
    /// alone; with none, RADIUS decides when the server's profile has `use-radius=yes`.
    pub async fn login_hotspot(&self, login: HotspotLogin) -> Result<Login, LoginRefused> {
        ticker::start(&self.inner);
        login::hotspot(&self.inner, login, login::Via::Page).await
    }

    /// A PPPoE client dials in (MS-CHAPv2 by default). A local `/ppp/secret` decides alone;
    /// with none, RADIUS decides when `/ppp aaa use-radius=yes`.
    pub async fn login_ppp(&self, login: PppLogin) -> Result<Login, LoginRefused> {
        ticker::start(&self.inner);
        login::ppp(&self.inner, login).await
    }

    /// Ends the session with this `.id` (`*hex` of its active menu, hotspot first) or
    /// Acct-Session-Id, with `cause` (User-Request for a logout, Lost-Carrier for a client
    /// gone). False when there is no such session.
    pub fn logout(&self, session: &str, cause: TerminateCause) -> bool {
        let now = self.inner.now_ms();
        self.inner.locked(|state| {
            let Some(key) = session_key(state, session) else {
                return false;
            };
            let nas = self.inner.nas_identity(state);
            live::close(state, key, live::Ending::Orderly(cause), now, &nas)
        })
    }

    /// Counts traffic on a session (`.id` or Acct-Session-Id): bytes from the client (upload,
    /// Acct-Input) and to it (download, Acct-Output). It also resets the idle time. The session
    /// ends with NAS-Request when a byte limit is reached. False when there is no such session.
    pub fn add_traffic(&self, session: &str, from_client: u64, to_client: u64) -> bool {
        let now = self.inner.now_ms();
        self.inner.locked(|state| {
            let Some(key) = session_key(state, session) else {
                return false;
            };
            let nas = self.inner.nas_identity(state);
            live::add_traffic(state, key, from_client, to_client, now, &nas)
        })
    }

    /// The active sessions with their run-time data.
    pub fn sessions(&self) -> Vec<ActiveSession> {
        let now = self.inner.now_ms();
        let state = self.inner.state.lock().expect("router state");
        state.live.sessions.values().map(|s| s.info(now)).collect()
    }

    /// Every hotspot and PPP login attempt so far, with who decided it.
    pub fn login_journal(&self) -> Vec<LoginAttempt> {
        self.inner
            .login_journal
            .lock()
            .expect("login journal")
            .clone()
    }

    /// Every Accounting-Request the router has sent (or is sending), in order.
    pub fn accounting_sent(&self) -> Vec<AccountingSent> {
        self.inner
            .accounting
            .lock()
            .expect("accounting journal")
            .clone()
    }

    /// `/radius monitor`: the RADIUS client's counters.
    pub fn radius_monitor(&self) -> RadiusMonitor {
        self.inner.radius.snapshot()
    }

    /// Cuts the router off from `ip` (`true`) or reconnects it: RADIUS requests to it are not
    /// sent (they time out as with a dead box) and netwatch probes of it fail.
    pub fn set_unreachable(&self, ip: IpAddr, unreachable: bool) {
        let mut set = self.inner.unreachable.lock().expect("unreachable");
        if unreachable {
            set.insert(ip);
        } else {
            set.remove(&ip);
        }
    }

    /// Power cut: every session is gone without a Stop and without its time or bytes written
    /// to the local users' counters (what a hard reboot does); the API refuses connections;
    /// `/radius incoming`, netwatch and the scheduler stop.
    pub fn power_off(&self) {
        let now = self.inner.now_ms();
        self.inner.locked(|state| {
            let nas = self.inner.nas_identity(state);
            let keys: Vec<_> = state.live.sessions.keys().copied().collect();
            for key in keys {
                live::close(state, key, live::Ending::PowerLoss, now, &nas);
            }
            state.live.authorizing.clear();
            state.live.powered_off = true;
        });
        self.set_refuse(true);
    }

    /// Power back: the router boots (a new boot digit in Acct-Session-Ids, uptime from zero,
    /// netwatch `unknown` until its `startup-delay` has passed, the scheduler from the start)
    /// and accepts API connections. What was configured (users, scripts, netwatch) stays.
    pub fn power_on(&self) {
        let now = self.inner.now_ms();
        self.inner.locked(|state| {
            state.live.powered_off = false;
            state.live.boots += 1;
            state.live.booted_ms = now;
            netwatch::boot(state);
        });
        self.set_refuse(false);
    }

    /// Runs RouterOS script source on the router, with every policy (as the admin would from
    /// a terminal). The subset the simulator knows is described in [`script`].
    pub fn run_script(&self, source: &str) -> Result<script::Value, script::ScriptError> {
        let now = self.inner.now_ms();
        let policy: Vec<String> = menus::DEFAULT_POLICY
            .split(',')
            .map(str::to_owned)
            .collect();
        self.inner.locked(|state| {
            script::run_source(
                &self.inner,
                state,
                now,
                source,
                &policy,
                &script::Origin::Test,
            )
        })
    }

    /// Every script the router ran (netwatch, scheduler, `/system script run`, tests), with
    /// the error that stopped it, if any.
    pub fn script_runs(&self) -> Vec<script::ScriptRun> {
        self.inner.script_runs.lock().expect("script runs").clone()
    }

    /// Probes every enabled netwatch entry now (not waiting for its interval or its
    /// `startup-delay`), applies the results (running `up-script`/`down-script` on a change),
    /// and returns once all are done.
    pub async fn probe_netwatch(&self) {
        // A probe the router started on its own finishes first, so its result cannot land
        // after the ones asked for here.
        for _ in 0..1000 {
            if !self.inner.locked(|state| netwatch::probing(state)) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let now = self.inner.now_ms();
        let runs = self.inner.locked(|state| netwatch::all_now(state, now));
        let probes: Vec<_> = runs
            .into_iter()
            .map(|run| netwatch::probe(self.inner.clone(), run))
            .collect();
        for probe in probes {
            probe.await;
        }
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

/// The session named by a `.id` (hotspot first) or an Acct-Session-Id.
fn session_key(state: &RouterState, name: &str) -> Option<(SessionKind, u32)> {
    if let Some(id) = live::parse_id(name) {
        for kind in [SessionKind::Hotspot, SessionKind::Ppp] {
            if state.live.sessions.contains_key(&(kind, id)) {
                return Some((kind, id));
            }
        }
    }
    state
        .live
        .sessions
        .iter()
        .find(|(_, s)| s.acct_session_id().eq_ignore_ascii_case(name))
        .map(|(key, _)| *key)
}

impl std::fmt::Debug for SimHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimHandle").finish_non_exhaustive()
    }
}
