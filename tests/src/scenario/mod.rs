//! The site scenario: a simulated day at one hotspot site, end to end through the real
//! programs, with the failures a site lives through, and an oracle that says whether the box
//! kept its promises.
//!
//! It starts the real `siteboxd` (temp dirs, a fast clock: `[daemon] clock_speed` with a fixed
//! `clock_anchor`, so the day goes on across a restart), two simulated MikroTiks (a RADIUS NAS
//! on 127.0.0.2 and 127.0.0.3 that answers Disconnect-Requests, and a RouterOS API simulator
//! each), mosquitto behind a fault proxy, and PostgreSQL with the real `sitebox-cloud`. The
//! cloud creates the subscribers and issues a voucher batch; through the day M-Pesa
//! confirmations arrive as `payment.confirmed` commands (some twice: the same command again,
//! or the same receipt under a new command id), vouchers are sold, subscribers log in (PAP or
//! CHAP), account (Start, Interim-Update, Stop), log out and come back, and are cut off by
//! Disconnect-Requests when their plans run out. The uplink is blackholed for a third of the
//! day; the power fails (the box is SIGKILLed, the routers lose their sessions) and everyone
//! re-authenticates at once when it returns; one router is down for an hour.
//!
//! Half the customers log in through their router's login path: the RouterOS simulator's
//! hotspot login page, where the router decides (a local user Sitebox provisioned, or RADIUS
//! to the box from the router's own address) and says who did. The other half are sent to the
//! box by the NAS model directly. Either way the accounting is the NAS model's (the routers'
//! hotspot profile has `radius-accounting=no`), so the oracle compares one set of sessions.
//!
//! Everything random comes from one seed ([`Options::seed`]), printed in the report.
//!
//! The simulated routers do not end sessions on Session-Timeout themselves, so every expiry
//! is enforced by the box's Disconnect-Request, the layer the oracle checks.

pub mod clock;
pub mod issuer;
pub mod nas;
pub mod oracle;
pub mod report;

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use sitebox_routeros::sim::{DecidedBy, SimClock as RouterClock, SimConfig, Simulator};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::cloud::{Cloud, INGEST_PASSWORD, site_password};
use crate::proxy::Proxy;
use crate::siteboxd::Siteboxd;
use clock::{SimClock, minutes};
use nas::{AcctRecord, AcctStatus, AuthAnswer, Method, Nas};

/// The site's tenant and id in the cloud.
pub const TENANT: &str = "isp-a";
/// The site's id.
pub const SITE: &str = "site-1";
const RADIUS_SECRET: &str = "scenario-radius-secret";

/// What to run.
#[derive(Debug, Clone)]
pub struct Options {
    /// The seed of everything random.
    pub seed: u64,
    /// Length of the simulated day.
    pub day: Duration,
    /// How many times faster than real time the clocks run.
    pub speed: f64,
    /// Subscribers who pay by M-Pesa (created by the cloud at the start).
    pub subscribers: usize,
    /// Vouchers sold through the day.
    pub vouchers: usize,
    /// Share of payments whose confirmation arrives twice.
    pub duplicate_share: f64,
    /// How often the timeline is sampled (simulated time).
    pub sample_every: Duration,
    /// How long the power stays off (simulated time).
    pub power_cut: Duration,
    /// Requests started within this (simulated) time after power returns count as the storm.
    pub storm_window: Duration,
    /// Acct-Interim-Interval of the plans (simulated time).
    pub interim: Duration,
    /// A bound on the p99 Access-Request latency during the storm (real time).
    pub storm_p99_bound: Duration,
    /// How long after its plan's end a session may still run before the box must have cut
    /// it (simulated time).
    pub cut_bound: Duration,
    /// The form's name in the report.
    pub form: &'static str,
}

impl Options {
    /// The short form: three simulated hours in about a minute, 2,000 customers. The speed
    /// leaves room for a loaded CI machine: at 240x a second of scheduling delay is four
    /// simulated minutes.
    pub fn short(seed: u64) -> Self {
        Self {
            seed,
            day: Duration::from_secs(3 * 3600),
            speed: 180.0,
            subscribers: 1800,
            vouchers: 200,
            duplicate_share: 0.08,
            sample_every: Duration::from_secs(5 * 60),
            power_cut: Duration::from_secs(5 * 60),
            storm_window: Duration::from_secs(20 * 60),
            interim: Duration::from_secs(10 * 60),
            storm_p99_bound: Duration::from_secs(3),
            cut_bound: Duration::from_secs(45 * 60),
            form: "short",
        }
    }

    /// The long form: a whole simulated day in a few minutes, 2,000 customers.
    pub fn long(seed: u64) -> Self {
        Self {
            day: Duration::from_secs(24 * 3600),
            speed: 480.0,
            sample_every: Duration::from_secs(15 * 60),
            cut_bound: Duration::from_secs(30 * 60),
            interim: Duration::from_secs(30 * 60),
            storm_window: Duration::from_secs(10 * 60),
            subscribers: 1800,
            vouchers: 200,
            form: "long",
            ..Self::short(seed)
        }
    }

    fn day_ms(&self) -> i64 {
        i64::try_from(self.day.as_millis()).unwrap_or(i64::MAX)
    }

    /// An instant `fraction` of the way through the day, relative to its start.
    fn at(&self, fraction: f64) -> i64 {
        (self.day_ms() as f64 * fraction) as i64
    }
}

/// The programs under test.
#[derive(Debug, Clone)]
pub struct Binaries {
    /// `siteboxd`.
    pub siteboxd: PathBuf,
    /// `sitebox-cloud`.
    pub cloud: PathBuf,
}

/// A plan sold at the site.
#[derive(Debug, Clone)]
struct PlanSpec {
    name: &'static str,
    price: i64,
    validity_ms: i64,
}

/// How a subscriber comes to the site.
#[derive(Debug, Clone)]
enum Purchase {
    /// Pays by M-Pesa for a plan at `at` (the cloud relays the confirmation).
    Mpesa {
        receipt: String,
        plan: PlanSpec,
        at: i64,
        /// When the confirmation is sent again, and whether under the same command id.
        duplicate: Option<(i64, bool)>,
    },
    /// Buys a voucher at `at` and logs in with its code.
    Voucher { at: i64 },
}

#[derive(Debug, Clone)]
struct Subscriber {
    username: String,
    password: String,
    method: Method,
    router: usize,
    mac: String,
    ip: Ipv4Addr,
    purchase: Purchase,
    logs_off: f64,
    /// Logs in on the router's login page rather than through the NAS model.
    via_router: bool,
}

impl Subscriber {
    /// A customer with a random login method, MAC and log-off habit, on router `i % 2`, with
    /// the `n`-th address of `10.{subnet}.0.0/16`; the draws happen in this order (method, MAC,
    /// `purchase`, log-off), so a seed gives the same day.
    fn draw(
        rng: &mut fastrand::Rng,
        (username, password): (String, String),
        i: usize,
        (subnet, n): (u8, usize),
        purchase: impl FnOnce(&mut fastrand::Rng) -> Purchase,
    ) -> Self {
        let method = if rng.bool() {
            Method::Chap
        } else {
            Method::Pap
        };
        let mac = mac(rng);
        let purchase = purchase(rng);
        Self {
            username,
            password,
            method,
            router: i % 2,
            mac,
            ip: Ipv4Addr::new(
                10,
                subnet,
                u8::try_from(n / 250).unwrap_or(255),
                u8::try_from(n % 250 + 2).unwrap_or(255),
            ),
            purchase,
            logs_off: rng.f64(),
            // Half of each router's customers (the router is `i % 2`).
            via_router: (i / 2).is_multiple_of(2),
        }
    }
}

/// One Access-Request's fate.
#[derive(Debug, Clone)]
pub struct AuthLog {
    /// User-Name.
    pub user: String,
    /// Simulated time sent.
    pub at: i64,
    /// Real time to the answer.
    pub latency: Duration,
    /// The answer.
    pub answer: AuthAnswer,
    /// PAP or CHAP.
    pub method: Method,
    /// Whether the user had been cut off for expiry before (a re-admission check).
    pub after_cut: bool,
    /// Who decided, for a login on the router's login page; `None` when the NAS model asked
    /// the box directly.
    pub decided_by: Option<DecidedBy>,
}

/// How a session ended, as the router saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionEnd {
    /// A Stop the box acknowledged, with its cause and final counters.
    Stopped {
        /// Acct-Terminate-Cause.
        cause: u32,
        /// Acct-Session-Time.
        seconds: u32,
        /// Octets in.
        input: u32,
        /// Octets out.
        output: u32,
    },
    /// The router lost it (power cut, router down) without a Stop.
    Dropped,
}

/// One accounting session as the router ran it.
#[derive(Debug, Clone)]
pub struct SessionLog {
    /// Router index.
    pub router: usize,
    /// Acct-Session-Id.
    pub session: String,
    /// User-Name.
    pub user: String,
    /// Simulated start.
    pub started: i64,
    /// Simulated end.
    pub ended: i64,
    /// How it ended.
    pub end: SessionEnd,
    /// Whether the box acknowledged its Start.
    pub start_acked: bool,
    /// Interim-Updates acknowledged.
    pub interims: u32,
    /// Simulated time a Disconnect-Request cut it, if one did.
    pub cut_at: Option<i64>,
}

/// One payment as the cloud sent it.
#[derive(Debug, Clone)]
pub struct PaymentLog {
    /// MpesaReceiptNumber.
    pub receipt: String,
    /// The account.
    pub user: String,
    /// The router the account logs in through.
    pub router: usize,
    /// The command ids it was sent under (twice the same id for a repeat).
    pub command_ids: Vec<String>,
    /// Simulated time first sent.
    pub at: i64,
}

/// What the traffic generator saw.
#[derive(Debug, Default)]
pub struct Traffic {
    /// Every Access-Request.
    pub auths: Vec<AuthLog>,
    /// Every session.
    pub sessions: Vec<SessionLog>,
    /// Every payment.
    pub payments: Vec<PaymentLog>,
    /// Accounting records sent and acknowledged.
    pub acct_acked: u64,
    /// Accounting records never acknowledged (the box was down).
    pub acct_lost: u64,
}

/// One sample of the timeline.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Sample {
    /// Simulated minutes since the day began.
    pub minute: f64,
    /// Outbox events not yet acknowledged by the cloud.
    pub backlog: i64,
    /// Jobs due or running.
    pub queue_depth: i64,
    /// Access-Requests answered per simulated minute since the last sample.
    pub auth_per_min: f64,
    /// Sessions open at the routers.
    pub online: i64,
    /// Whether the box was running.
    pub box_up: bool,
}

/// A stretch of the day when something was broken.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Incident {
    /// What.
    pub what: String,
    /// Simulated minutes since the day began.
    pub from_minute: f64,
    /// Simulated minutes since the day began.
    pub to_minute: f64,
}

/// Shared state of the running day.
struct World {
    clock: SimClock,
    day0: i64,
    day_end: i64,
    routers: Vec<Arc<Nas>>,
    ready: Vec<tokio::sync::watch::Sender<bool>>,
    commands: mpsc::UnboundedSender<(String, &'static str, serde_json::Value)>,
    traffic: Mutex<Traffic>,
    answered: AtomicU64,
    online: AtomicI64,
    stop: CancellationToken,
    interim_ms: i64,
}

impl World {
    async fn wait_ready(&self, router: usize) {
        let mut ready = self.ready[router].subscribe();
        let _ = ready.wait_for(|up| *up).await;
    }

    fn log_auth(&self, log: AuthLog) {
        if log.answer != AuthAnswer::NoAnswer {
            self.answered.fetch_add(1, Ordering::Relaxed);
        }
        self.traffic.lock().expect("traffic").auths.push(log);
    }
}

/// The result of a run: the oracle's findings and the figures for the report.
#[derive(Debug)]
pub struct Outcome {
    /// The report (JSON).
    pub report: serde_json::Value,
    /// The HTML page.
    pub html: String,
    /// Oracle breaches; empty when the day went right.
    pub breaches: Vec<String>,
}

/// Runs the day; `artifacts` receives `scenario.json` and `scenario.html`.
pub fn run(
    options: &Options,
    binaries: &Binaries,
    artifacts: Option<&Path>,
) -> anyhow::Result<Outcome> {
    let wall = Instant::now();
    let dir = tempfile::tempdir().context("temp dir")?;
    let mut cloud = Cloud::start(&binaries.cloud, dir.path(), &[(TENANT, SITE)]);
    cloud.start_process(2, 20, &[]);
    cloud.wait_ready(0);
    let proxy = Proxy::start(cloud.broker.addr());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("runtime")?;
    let clock = SimClock::start(options.speed);
    let mut rng = fastrand::Rng::with_seed(options.seed);

    // The routers: a RouterOS API simulator and a CoA socket on each one's own address. The
    // simulator runs the day's clock and sends its RADIUS requests from that address.
    let ips = [Ipv4Addr::new(127, 0, 0, 2), Ipv4Addr::new(127, 0, 0, 3)];
    let stop_servers = CancellationToken::new();
    let mut api = Vec::new();
    let mut coa = Vec::new();
    for ip in ips {
        let sim = Simulator::new(SimConfig {
            identity: format!("gw-{ip}"),
            clock: RouterClock::scaled(clock.anchor_ms(), clock.speed()),
            address: ip,
            ..SimConfig::default()
        });
        let listener = runtime.block_on(tokio::net::TcpListener::bind((ip, 0)))?;
        let port = listener.local_addr()?.port();
        let handle = sim.handle();
        let stop = stop_servers.clone();
        runtime.spawn(async move { sim.serve(listener, stop).await });
        api.push((port, handle));
        coa.push(runtime.block_on(tokio::net::UdpSocket::bind((ip, 0)))?);
    }

    // The box.
    let site_dir = dir.path().join("site");
    std::fs::create_dir_all(&site_dir)?;
    let config = daemon_config(&site_dir, proxy.port(), &clock);
    let mut daemon = Siteboxd::start(&binaries.siteboxd, &site_dir, &config);
    daemon.wait_for_log("siteboxd running", Duration::from_secs(30));
    let (auth_port, acct_port) = daemon.radius_ports();
    let mut routers = Vec::new();
    for (i, ip) in ips.iter().enumerate() {
        let name = format!("gw{}", i + 1);
        let coa_port = coa[i].local_addr()?.port();
        let (api_port, handle) = api[i].clone();
        cli(
            &daemon,
            &[
                "routers",
                "add",
                &name,
                "--address",
                &ip.to_string(),
                "--secret",
                RADIUS_SECRET,
                "--nas-identifier",
                &name,
                "--coa-port",
                &coa_port.to_string(),
                "--api-host",
                &ip.to_string(),
                "--api-port",
                &api_port.to_string(),
                "--api-user",
                "admin",
                "--api-password",
                "admin",
            ],
        )?;
        runtime.block_on(router_asks_the_box(api_port, *ip, (auth_port, acct_port)))?;
        routers.push(Arc::new(Nas::new(
            i,
            &name,
            *ip,
            RADIUS_SECRET,
            SocketAddr::from(([127, 0, 0, 1], auth_port)),
            SocketAddr::from(([127, 0, 0, 1], acct_port)),
            coa_port,
            api_port,
            handle,
        )));
    }
    let validity = |fraction: f64| (options.day_ms() as f64 * fraction) as i64;
    let plans = [
        PlanSpec {
            name: "short",
            price: 20,
            validity_ms: validity(1.0 / 6.0),
        },
        PlanSpec {
            name: "long",
            price: 50,
            validity_ms: validity(1.0 / 3.0),
        },
    ];
    let interim = format!("{}s", options.interim.as_secs());
    for plan in &plans {
        cli(
            &daemon,
            &[
                "plans",
                "add",
                plan.name,
                "--price",
                &plan.price.to_string(),
                "--validity",
                &format!("{}s", plan.validity_ms / 1000),
                "--interim",
                &interim,
                "--rate-limit",
                "2M/4M",
            ],
        )?;
    }
    daemon.wait_for_log("RADIUS client table reloaded", Duration::from_secs(10));
    for (i, socket) in coa.into_iter().enumerate() {
        let nas = Arc::clone(&routers[i]);
        runtime.spawn(nas.serve_coa(socket, clock, stop_servers.clone()));
    }

    // The cloud creates the subscribers and a voucher batch.
    let mut issuer = runtime.block_on(issuer::Issuer::connect(
        cloud.database(),
        cloud.app_database(),
        cloud.broker.port(),
        ("ingest", INGEST_PASSWORD),
        TENANT,
        SITE,
    ))?;
    let setup_started = Instant::now();
    let mut subscribers = Vec::new();
    for i in 0..options.subscribers {
        let username = format!("sub{i:04}");
        let password: String = (0..10).map(|_| rng.alphanumeric()).collect();
        let phone = format!("2547{:08}", rng.u32(..100_000_000));
        runtime.block_on(issuer.send(
            &format!("setup-subscriber-{i}"),
            "subscriber.create",
            serde_json::json!({ "username": username, "password": password, "phone": phone }),
        ))?;
        let plan = plans[rng.usize(..plans.len())].clone();
        // Paid early enough that the plan runs out before the day ends.
        let latest = (options.day_ms() - plan.validity_ms - minutes(20)).max(options.at(0.1));
        let at = rng.i64(options.at(0.02)..latest.min(options.at(0.75)));
        let duplicate = (rng.f64() < options.duplicate_share)
            .then(|| (at + rng.i64(minutes(1)..minutes(20)), rng.bool()));
        let purchase = Purchase::Mpesa {
            receipt: format!("S{:X}{i:05}", options.seed % 0xFFFF),
            plan,
            at,
            duplicate,
        };
        subscribers.push(Subscriber::draw(
            &mut rng,
            (username, password),
            i,
            (5, i),
            |_| purchase,
        ));
    }
    runtime.block_on(issuer.send(
        "setup-vouchers",
        "vouchers.issue",
        serde_json::json!({ "plan": "short", "count": options.vouchers }),
    ))?;
    let deadline = Instant::now() + Duration::from_secs(120);
    while runtime.block_on(issuer.unanswered("setup-"))? > 0 {
        anyhow::ensure!(
            Instant::now() < deadline,
            "the site did not answer the setup commands in 120 s"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let setup_real = setup_started.elapsed();
    let codes = voucher_codes(&runtime.block_on(
        issuer.query("SELECT result::text FROM commands WHERE command_id = 'setup-vouchers'"),
    )?)?;
    anyhow::ensure!(
        codes.len() == options.vouchers,
        "{} voucher codes",
        codes.len()
    );
    let short = plans[0].clone();
    for (n, code) in codes.iter().enumerate() {
        let i = options.subscribers + n;
        let latest = options.day_ms() - short.validity_ms - minutes(20);
        subscribers.push(Subscriber::draw(
            &mut rng,
            (code.clone(), code.clone()),
            i,
            (6, n),
            |rng| Purchase::Voucher {
                at: rng.i64(options.at(0.02)..latest.min(options.at(0.75))),
            },
        ));
    }

    // The day.
    let day0 = clock.now();
    let (commands, mut to_send) =
        mpsc::unbounded_channel::<(String, &'static str, serde_json::Value)>();
    let world = Arc::new(World {
        clock,
        day0,
        day_end: day0 + options.day_ms(),
        ready: routers
            .iter()
            .map(|_| tokio::sync::watch::Sender::new(true))
            .collect(),
        routers,
        commands,
        traffic: Mutex::default(),
        answered: AtomicU64::new(0),
        online: AtomicI64::new(0),
        stop: CancellationToken::new(),
        interim_ms: i64::try_from(options.interim.as_millis()).unwrap_or(i64::MAX),
    });
    let sender = runtime.spawn(async move {
        while let Some((id, kind, payload)) = to_send.recv().await {
            if let Err(err) = issuer.send(&id, kind, payload).await {
                eprintln!("scenario: command {id} not sent: {err:#}");
            }
        }
        issuer
    });
    let mut tasks = Vec::new();
    for subscriber in subscribers {
        let world = Arc::clone(&world);
        let seed = rng.u64(..);
        tasks.push(runtime.spawn(async move { live(world, subscriber, seed).await }));
    }

    let samples = Arc::new(Mutex::new(Vec::<Sample>::new()));
    let box_up = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let sampler = {
        let (world, samples, box_up) = (
            Arc::clone(&world),
            Arc::clone(&samples),
            Arc::clone(&box_up),
        );
        let database = daemon.database();
        let every = i64::try_from(options.sample_every.as_millis()).unwrap_or(i64::MAX);
        runtime.spawn(async move {
            let mut next = world.day0;
            let mut last_answered = 0;
            while next <= world.day_end {
                world.clock.sleep_until(next).await;
                let database = database.clone();
                let now = world.clock.now();
                let (backlog, queue_depth) =
                    tokio::task::spawn_blocking(move || read_depths(&database, now))
                        .await
                        .unwrap_or((-1, -1));
                let answered = world.answered.load(Ordering::Relaxed);
                samples.lock().expect("samples").push(Sample {
                    minute: (next - world.day0) as f64 / 60_000.0,
                    backlog,
                    queue_depth,
                    auth_per_min: (answered - last_answered) as f64 / (every as f64 / 60_000.0),
                    online: world.online.load(Ordering::Relaxed),
                    box_up: box_up.load(Ordering::Relaxed),
                });
                last_answered = answered;
                next += every;
            }
        })
    };

    // The failures, in the order of the day.
    let mut incidents = Vec::new();
    let minute_of = |at: i64| (at - day0) as f64 / 60_000.0;
    let uplink = (
        day0 + options.at(0.15),
        day0 + options.at(0.15) + options.day_ms() / 3,
    );
    let power_at = day0 + options.at(0.35);
    let router_down = (day0 + options.at(0.6), day0 + options.at(0.6) + minutes(60));

    let sleep_to = |at: i64| {
        std::thread::sleep(
            clock
                .instant_of(at)
                .saturating_duration_since(Instant::now()),
        )
    };
    sleep_to(uplink.0);
    proxy.blackhole(true);
    sleep_to(power_at);
    for router in &world.routers {
        world.ready[router.index].send_replace(false);
        router.power_off();
    }
    daemon.kill9();
    box_up.store(false, Ordering::Relaxed);
    sleep_to(power_at + i64::try_from(options.power_cut.as_millis()).unwrap_or(0));
    let power_back = clock.now();
    daemon.restart();
    for router in &world.routers {
        router.power_on();
    }
    let restarted = Instant::now();
    wait_for_log_count(&daemon, "siteboxd running", 2, Duration::from_secs(30))?;
    let ready_after = restarted.elapsed();
    box_up.store(true, Ordering::Relaxed);
    for router in &world.routers {
        runtime.block_on(accounting_on(&world, router));
    }
    incidents.push(Incident {
        what: "power cut (box SIGKILLed, routers off)".into(),
        from_minute: minute_of(power_at),
        to_minute: minute_of(power_back),
    });
    sleep_to(uplink.1);
    proxy.blackhole(false);
    incidents.push(Incident {
        what: "uplink down (blackholed)".into(),
        from_minute: minute_of(uplink.0),
        to_minute: minute_of(uplink.1),
    });
    sleep_to(router_down.0);
    let gw2 = Arc::clone(&world.routers[1]);
    world.ready[1].send_replace(false);
    gw2.power_off();
    sleep_to(router_down.1);
    gw2.power_on();
    runtime.block_on(accounting_on(&world, &gw2));
    incidents.push(Incident {
        what: "router gw2 down".into(),
        from_minute: minute_of(router_down.0),
        to_minute: minute_of(router_down.1),
    });
    sleep_to(world.day_end);
    world.stop.cancel();
    for task in tasks {
        let _ = runtime.block_on(task);
    }
    let _ = runtime.block_on(sampler);
    drop(world.commands.clone());
    let day_real = wall.elapsed();

    // Let the backlog drain, then judge.
    let world = Arc::into_inner(world).context("the day's tasks still hold the world")?;
    let World {
        traffic,
        routers,
        commands,
        ..
    } = world;
    drop(commands);
    let issuer = runtime.block_on(sender)?;
    let settle_started = Instant::now();
    let settled = oracle::wait_settled(
        &runtime,
        &issuer,
        &daemon.database(),
        Duration::from_secs(90),
    );
    let settle_real = settle_started.elapsed();
    let traffic = traffic.into_inner().expect("traffic");
    let disconnects: Vec<Vec<nas::DisconnectSeen>> =
        routers.iter().map(|r| r.disconnects()).collect();
    let facts = oracle::Facts {
        options,
        day0,
        traffic: &traffic,
        disconnects: &disconnects,
        database: daemon.database(),
        issuer: &issuer,
        runtime: &runtime,
        power_back,
        power_cut: (power_at, power_back),
        settled,
        router_down,
    };
    let verdict = oracle::judge(&facts);
    let timings = report::Timings {
        setup: setup_real,
        day: day_real.saturating_sub(setup_real),
        settle: settle_real,
        wall: wall.elapsed(),
        restart_ready: ready_after,
        commands_sent: issuer.sent(),
    };
    let samples = samples.lock().expect("samples").clone();
    let mut verdict = verdict;
    backlog_figures(&mut verdict, &samples, minute_of(uplink.1));
    let report = report::json(options, &verdict, &samples, &incidents, &timings);
    let html = report::html(&report);
    if let Some(dir) = artifacts {
        std::fs::create_dir_all(dir)?;
        std::fs::write(
            dir.join("scenario.json"),
            serde_json::to_string_pretty(&report)?,
        )?;
        std::fs::write(dir.join("scenario.html"), &html)?;
        std::fs::write(dir.join("scenario-siteboxd.log"), daemon.log())?;
        std::fs::write(dir.join("scenario-cloud.log"), cloud.process_log(0))?;
        let mut lines = String::new();
        for auth in &traffic.auths {
            lines.push_str(&serde_json::json!({
                "user": auth.user, "minute": (auth.at - day0) as f64 / 60_000.0,
                "answer": format!("{:?}", auth.answer), "latency_ms": auth.latency.as_secs_f64() * 1000.0,
            }).to_string());
            lines.push('\n');
        }
        std::fs::write(dir.join("scenario-access-requests.jsonl"), lines)?;
    }
    stop_servers.cancel();
    drop(daemon);
    drop(proxy);
    drop(cloud);
    Ok(Outcome {
        report,
        html,
        breaches: verdict.breaches,
    })
}

/// The sync backlog's peak and how long it took to drain after the uplink came back.
fn backlog_figures(verdict: &mut oracle::Verdict, samples: &[Sample], uplink_back: f64) {
    let peak = samples.iter().map(|s| s.backlog).max().unwrap_or(0);
    verdict.figures.insert("backlog_peak".into(), peak.into());
    let drained = samples
        .iter()
        .find(|s| s.minute >= uplink_back && s.backlog >= 0 && s.backlog <= peak / 20)
        .map(|s| s.minute - uplink_back);
    verdict.figures.insert(
        "backlog_drained_minutes_after_uplink".into(),
        drained.map_or(serde_json::Value::Null, Into::into),
    );
}

/// The daemon's config: RADIUS on free loopback ports, sync through the proxy, the fast clock.
fn daemon_config(dir: &Path, broker_port: u16, clock: &SimClock) -> String {
    let password = dir.join("mqtt-password");
    std::fs::write(&password, site_password(TENANT, SITE)).expect("password file");
    let base = Siteboxd::base_config(dir)
        .replace("test-tenant", TENANT)
        .replace("test-site", SITE)
        .replace("level = \"info,sitebox=debug\"", "level = \"info\"");
    format!(
        "{base}\n[daemon]\nclock_speed = {speed}\nclock_anchor = {anchor}\n\n\
         [expiry]\nsweep_every = \"5m\"\nverify_after = \"30m\"\n\n\
         [queue]\nlease = \"30s\"\nrescue_every = \"10m\"\n\n\
         [provisioning]\nhealth_every = \"5m\"\ncommand_timeout = \"2s\"\n\n\
         [sync]\nenabled = true\nbroker = \"127.0.0.1:{broker_port}\"\npassword_file = \"{password}\"\n\
         keep_alive = \"5s\"\nconnect_timeout = \"2s\"\nbackoff_min = \"100ms\"\nbackoff_max = \"1s\"\n\
         ack_timeout = \"10s\"\npoll_every = \"200ms\"\n",
        speed = clock.speed(),
        anchor = clock.anchor_ms(),
        password = password.display(),
    )
}

fn wait_for_log_count(
    daemon: &Siteboxd,
    needle: &str,
    count: usize,
    timeout: Duration,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + timeout;
    while daemon.count_log(needle) < count {
        anyhow::ensure!(
            Instant::now() < deadline,
            "no {count} log lines with {needle:?} in {timeout:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

fn cli(daemon: &Siteboxd, args: &[&str]) -> anyhow::Result<String> {
    let output = daemon.cli(args);
    anyhow::ensure!(
        output.status.success(),
        "siteboxd {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

fn mac(rng: &mut fastrand::Rng) -> String {
    let bytes: Vec<String> = (0..6)
        .map(|i| format!("{:02X}", if i == 0 { 0x02 } else { rng.u8(..) }))
        .collect();
    bytes.join(":")
}

fn voucher_codes(rows: &[tokio_postgres::Row]) -> anyhow::Result<Vec<String>> {
    let text: String = rows.first().context("no vouchers.issue command")?.get(0);
    let value: serde_json::Value = serde_json::from_str(&text)?;
    let codes = value
        .get("codes")
        .or_else(|| value.get("result").and_then(|r| r.get("codes")))
        .and_then(serde_json::Value::as_array)
        .context("no codes in the vouchers.issue result")?;
    Ok(codes
        .iter()
        .filter_map(|c| c.as_str().map(str::to_string))
        .collect())
}

/// Outbox events not acknowledged and jobs due or running, from the database read-only.
fn read_depths(database: &Path, now: i64) -> (i64, i64) {
    let Ok(conn) =
        rusqlite::Connection::open_with_flags(database, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
    else {
        return (-1, -1);
    };
    let _ = conn.busy_timeout(Duration::from_secs(2));
    let count = |sql: &str| {
        conn.query_row(sql, [now], |row| row.get::<_, i64>(0))
            .unwrap_or(-1)
    };
    (
        count("SELECT count(*) FROM outbox WHERE acked_at IS NULL AND ?1 = ?1"),
        count(
            "SELECT count(*) FROM jobs WHERE state = 'running' OR (state = 'available' AND run_at <= ?1)",
        ),
    )
}

/// Sets a router up by hand to ask the box over RADIUS for hotspot logins, as an operator
/// does (the box's `provisioning.radius_address` is not set here, so it leaves `/radius`
/// alone): its `/radius` entry, and the default hotspot profile asking RADIUS without
/// sending accounting (the NAS model accounts for every session).
async fn router_asks_the_box(
    api_port: u16,
    ip: Ipv4Addr,
    (auth, acct): (u16, u16),
) -> anyhow::Result<()> {
    use sitebox_routeros::client::{ClientConfig, Connection, Password};
    use sitebox_routeros::codec::Command;
    let config = ClientConfig::new(ip.to_string(), api_port, "admin", Password::new("admin"));
    let conn = Connection::connect(&config)
        .await
        .context("connect to the router")?;
    for command in [
        Command::new("/radius/add")
            .attr("service", "hotspot")
            .attr("address", "127.0.0.1")
            .attr("secret", RADIUS_SECRET)
            .attr("authentication-port", auth.to_string())
            .attr("accounting-port", acct.to_string())
            .attr("timeout", "2s"),
        Command::new("/ip/hotspot/profile/set")
            .attr("numbers", "default")
            .attr("use-radius", "yes")
            .attr("radius-accounting", "no"),
    ] {
        conn.run(&command)
            .await
            .with_context(|| format!("configure the router at {ip}"))?;
    }
    Ok(())
}

/// The router came up: Accounting-On until the box answers, then its clients may log in.
async fn accounting_on(world: &World, router: &Nas) {
    let record = AcctRecord {
        status: AcctStatus::On,
        user: String::new(),
        session: String::new(),
        mac: String::new(),
        ip: router.ip,
        seconds: 0,
        input: 0,
        output: 0,
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while !router.account(&record).await && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    world.ready[router.index].send_replace(true);
}

/// Sends an accounting record until the box acknowledges it (a router keeps retrying), or
/// until the router loses power or the day ends.
async fn account_until_acked(world: &World, router: &Nas, record: &AcctRecord) -> bool {
    loop {
        if router.account(record).await {
            world.traffic.lock().expect("traffic").acct_acked += 1;
            return true;
        }
        if !router.is_up() || world.stop.is_cancelled() {
            world.traffic.lock().expect("traffic").acct_lost += 1;
            return false;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// One subscriber's day.
async fn live(world: Arc<World>, subscriber: Subscriber, seed: u64) {
    let mut rng = fastrand::Rng::with_seed(seed);
    let clock = world.clock;
    let router = Arc::clone(&world.routers[subscriber.router]);
    let start = match &subscriber.purchase {
        Purchase::Mpesa {
            receipt,
            plan,
            at,
            duplicate,
        } => {
            let at = world.day0 + at;
            tokio::select! {
                () = world.stop.cancelled() => return,
                () = clock.sleep_until(at) => {}
            }
            let id = format!("pay-{receipt}");
            let payload = serde_json::json!({
                "provider": "mpesa", "receipt": receipt, "amount": plan.price,
                "checkout_request_id": format!("ws_CO_{receipt}"),
                "phone": "254712345678", "plan": plan.name, "username": subscriber.username,
            });
            let mut ids = vec![id.clone()];
            let _ = world
                .commands
                .send((id.clone(), "payment.confirmed", payload.clone()));
            if let Some((again, same_id)) = duplicate {
                let again_id = if *same_id {
                    id.clone()
                } else {
                    format!("pay-{receipt}-again")
                };
                ids.push(again_id.clone());
                let world = Arc::clone(&world);
                let again = world.day0 + again;
                tokio::spawn(async move {
                    tokio::select! {
                        () = world.stop.cancelled() => {}
                        () = world.clock.sleep_until(again) => {
                            let _ = world.commands.send((again_id, "payment.confirmed", payload));
                        }
                    }
                });
            }
            world
                .traffic
                .lock()
                .expect("traffic")
                .payments
                .push(PaymentLog {
                    receipt: receipt.clone(),
                    user: subscriber.username.clone(),
                    router: subscriber.router,
                    command_ids: ids,
                    at,
                });
            // The customer walks up to the portal a minute after paying.
            at + minutes(1)
        }
        Purchase::Voucher { at } => world.day0 + at,
    };
    let mut next_try = start;
    // A customer whose payment has not arrived tries again later and later.
    let mut patience = minutes(2);
    let mut admitted = false;
    let mut cut = false;
    loop {
        tokio::select! {
            () = world.stop.cancelled() => return,
            () = clock.sleep_until(next_try) => {}
        }
        tokio::select! {
            () = world.stop.cancelled() => return,
            () = world.wait_ready(subscriber.router) => {}
        }
        let at = clock.now();
        // Taken before the request: a power loss while it is in flight ends what it starts.
        let epoch = router.epoch();
        let (answer, latency, decided_by) = if subscriber.via_router {
            let (answer, latency, by) = router
                .login_via_router(
                    &subscriber.username,
                    &subscriber.password,
                    subscriber.method,
                    &subscriber.mac,
                    subscriber.ip,
                )
                .await;
            (answer, latency, Some(by))
        } else {
            let (answer, latency) = router
                .authenticate(
                    &subscriber.username,
                    &subscriber.password,
                    subscriber.method,
                    &subscriber.mac,
                )
                .await;
            (answer, latency, None)
        };
        world.log_auth(AuthLog {
            user: subscriber.username.clone(),
            at,
            latency,
            answer: answer.clone(),
            method: subscriber.method,
            after_cut: cut,
            decided_by,
        });
        match answer {
            AuthAnswer::Accept { .. } if cut => return,
            AuthAnswer::Accept { .. } => {
                admitted = true;
                match session(&world, &router, &subscriber, &mut rng, epoch).await {
                    Ended::LoggedOff => next_try = clock.now() + rng.i64(minutes(5)..minutes(30)),
                    Ended::Dropped => next_try = clock.now(),
                    Ended::Cut => {
                        cut = true;
                        next_try = clock.now() + minutes(5);
                    }
                    Ended::DayOver => return,
                }
            }
            // After a cut-off (or a plan that ran out while away) a refusal ends the day.
            AuthAnswer::Reject(_) if cut || admitted => return,
            // Not paid yet as far as the box knows (the confirmation may be stuck upstream).
            AuthAnswer::Reject(_) => {
                next_try = clock.now() + patience;
                patience = (patience * 2).min(minutes(10));
            }
            AuthAnswer::NoAnswer => next_try = clock.now() + minutes(1),
        }
    }
}

enum Ended {
    LoggedOff,
    Dropped,
    Cut,
    DayOver,
}

/// One session from Start to its end.
async fn session(
    world: &World,
    router: &Nas,
    subscriber: &Subscriber,
    rng: &mut fastrand::Rng,
    mut epoch: tokio::sync::watch::Receiver<u64>,
) -> Ended {
    let clock = world.clock;
    let id = router.new_session_id();
    let mut notice = router.watch_session(&id);
    let started = clock.now();
    let mut record = AcctRecord {
        status: AcctStatus::Start,
        user: subscriber.username.clone(),
        session: id.clone(),
        mac: subscriber.mac.clone(),
        ip: subscriber.ip,
        seconds: 0,
        input: 0,
        output: 0,
    };
    world.online.fetch_add(1, Ordering::Relaxed);
    let start_acked = account_until_acked(world, router, &record).await;
    let mut log = SessionLog {
        router: router.index,
        session: id.clone(),
        user: subscriber.username.clone(),
        started,
        ended: started,
        end: SessionEnd::Dropped,
        start_acked,
        interims: 0,
        cut_at: None,
    };
    if epoch.has_changed().unwrap_or(true) {
        // The router lost power between the Access-Accept and now.
        router.forget_session(&id);
        world.online.fetch_sub(1, Ordering::Relaxed);
        world.traffic.lock().expect("traffic").sessions.push(log);
        return Ended::Dropped;
    }
    let logoff = (subscriber.logs_off < 0.3).then(|| started + rng.i64(minutes(10)..minutes(60)));
    let mut next_interim = started + world.interim_ms;
    let ended = loop {
        let next = logoff
            .map_or(next_interim, |at| at.min(next_interim))
            .min(world.day_end);
        tokio::select! {
            () = clock.sleep_until(next) => {
                let now = clock.now();
                record.seconds = u32::try_from((now - started) / 1000).unwrap_or(u32::MAX);
                record.input = record.input.saturating_add(rng.u32(10_000..2_000_000));
                record.output = record.output.saturating_add(rng.u32(50_000..20_000_000));
                if now >= world.day_end || logoff.is_some_and(|at| now >= at) {
                    router.forget_session(&id);
                    record.status = AcctStatus::Stop(nas::USER_REQUEST);
                    if account_until_acked(world, router, &record).await {
                        log.end = stopped(&record, nas::USER_REQUEST);
                    }
                    break if now >= world.day_end { Ended::DayOver } else { Ended::LoggedOff };
                }
                record.status = AcctStatus::Interim;
                if router.account(&record).await {
                    log.interims += 1;
                    world.traffic.lock().expect("traffic").acct_acked += 1;
                }
                next_interim += world.interim_ms;
            }
            cut_at = &mut notice => {
                let Ok(cut_at) = cut_at else {
                    // The router lost the session (power) before any cut.
                    break Ended::Dropped;
                };
                log.cut_at = Some(cut_at);
                let now = clock.now();
                record.seconds = u32::try_from((now - started) / 1000).unwrap_or(u32::MAX);
                record.status = AcctStatus::Stop(nas::ADMIN_RESET);
                if account_until_acked(world, router, &record).await {
                    log.end = stopped(&record, nas::ADMIN_RESET);
                }
                break Ended::Cut;
            }
            _ = epoch.changed() => break Ended::Dropped,
        }
    };
    world.online.fetch_sub(1, Ordering::Relaxed);
    log.ended = clock.now();
    world.traffic.lock().expect("traffic").sessions.push(log);
    ended
}

fn stopped(record: &AcctRecord, cause: u32) -> SessionEnd {
    SessionEnd::Stopped {
        cause,
        seconds: record.seconds,
        input: record.input,
        output: record.output,
    }
}
