//! The power-cut storm on a slow disk: the moment a site's box is most likely to fall behind.
//!
//! A `siteboxd` on an SD-card-class disk ([`crate::sdcard`]: every fsync takes at least the
//! chosen latency) serves two managed routers (a RouterOS API simulator each, and a RADIUS NAS
//! on 127.0.0.2 and 127.0.0.3 as in the site scenario, [`crate::scenario::nas`]) and N
//! customers with an active plan, half PAP and half CHAP. Everyone logs in and starts a
//! session; the power fails (the box is SIGKILLed, the routers lose their sessions); the box
//! starts again, each router sends Accounting-On, and then every customer re-authenticates
//! and sends an Accounting-Start, all at once (or spread over [`Settings::spread`]). Each NAS
//! keeps at most 256 requests outstanding and retransmits after 1.5 s, three tries.
//!
//! Measured: the latency of each Access-Request and Accounting-Start from its first send
//! (retransmits included), what went unanswered, the fsyncs the box made during the storm and
//! the acknowledged records per fsync, overall and in the busiest 200 ms.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use sitebox::model::router::{ApiAccess, NewRouter};
use sitebox_routeros::sim::{SimConfig, Simulator};
use tokio_util::sync::CancellationToken;

use crate::radius_bench;
use crate::radius_load::Login;
use crate::scenario::clock::SimClock;
use crate::scenario::nas::{AcctRecord, AcctStatus, AuthAnswer, Method, Nas};
use crate::sdcard::{Counts, SlowDisk};
use crate::siteboxd::Siteboxd;

/// The routers' RADIUS secret.
const SECRET: &str = "storm-radius-secret";

/// The width of the buckets the peak is looked for in.
pub const PEAK_BUCKET: Duration = Duration::from_millis(200);

/// What to run.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Customers, all online before the cut and all back in the storm.
    pub customers: usize,
    /// The latency of every fsync of the box.
    pub fsync_delay: Duration,
    /// Customers start at a random instant within this after Accounting-On (zero: at once).
    pub spread: Duration,
}

impl Settings {
    /// The benchmark: 2,000 customers, 10 ms per fsync, everyone at once.
    pub fn full() -> Self {
        Self {
            customers: 2_000,
            fsync_delay: Duration::from_millis(10),
            spread: Duration::ZERO,
        }
    }

    /// A quick pass for the test suite: 200 customers, 10 ms per fsync.
    pub fn quick() -> Self {
        Self {
            customers: 200,
            ..Self::full()
        }
    }
}

/// One customer's storm.
#[derive(Debug, Clone)]
pub struct Customer {
    /// The Access-Request's answer.
    pub auth: AuthAnswer,
    /// From its first send to the answer (or to giving up).
    pub auth_latency: Duration,
    /// Whether the Accounting-Start was acknowledged (`None`: not sent, the login failed).
    pub start_acked: Option<bool>,
    /// From its first send to the Accounting-Response (or to giving up).
    pub start_latency: Duration,
    /// When the Accounting-Response came, from the storm's start.
    pub acked_at: Option<Duration>,
}

/// The figures of one storm.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// What ran.
    pub settings: Settings,
    /// Every customer.
    pub customers: Vec<Customer>,
    /// From the restart to "siteboxd running" (the slow disk included).
    pub restart: Duration,
    /// From the storm's first request to its last answer.
    pub wall: Duration,
    /// The box's syncs during the storm.
    pub fsyncs: Counts,
    /// (time from the storm's start, counts so far) every 20 ms through the storm.
    pub samples: Vec<(Duration, Counts)>,
    /// The box's CPU time during the storm.
    pub cpu: Duration,
    /// Sessions the box stored for the storm's Starts (counted in its database afterwards).
    pub stored_starts: u64,
    /// The log of the box (for errors).
    pub log: String,
}

fn percentile(mut values: Vec<Duration>, p: f64) -> Duration {
    if values.is_empty() {
        return Duration::ZERO;
    }
    values.sort();
    let rank = (p / 100.0 * (values.len() - 1) as f64).round() as usize;
    values[rank.min(values.len() - 1)]
}

impl Outcome {
    /// Access-Request latencies of the answered ones.
    pub fn auth_latencies(&self) -> Vec<Duration> {
        self.customers
            .iter()
            .filter(|c| c.auth != AuthAnswer::NoAnswer)
            .map(|c| c.auth_latency)
            .collect()
    }

    /// Accounting-Start latencies of the acknowledged ones.
    pub fn start_latencies(&self) -> Vec<Duration> {
        self.customers
            .iter()
            .filter(|c| c.start_acked == Some(true))
            .map(|c| c.start_latency)
            .collect()
    }

    /// p50, p99 and max of the Access-Requests.
    pub fn auth_percentiles(&self) -> [Duration; 3] {
        let l = self.auth_latencies();
        [
            percentile(l.clone(), 50.0),
            percentile(l.clone(), 99.0),
            percentile(l, 100.0),
        ]
    }

    /// p50, p99 and max of the Accounting-Starts.
    pub fn start_percentiles(&self) -> [Duration; 3] {
        let l = self.start_latencies();
        [
            percentile(l.clone(), 50.0),
            percentile(l.clone(), 99.0),
            percentile(l, 100.0),
        ]
    }

    /// Access-Requests without an answer after every retransmit.
    pub fn auth_unanswered(&self) -> usize {
        self.customers
            .iter()
            .filter(|c| c.auth == AuthAnswer::NoAnswer)
            .count()
    }

    /// Access-Rejects (every customer has a plan: there should be none).
    pub fn rejected(&self) -> usize {
        self.customers
            .iter()
            .filter(|c| matches!(c.auth, AuthAnswer::Reject(_)))
            .count()
    }

    /// Accounting-Starts sent and never acknowledged.
    pub fn starts_unanswered(&self) -> usize {
        self.customers
            .iter()
            .filter(|c| c.start_acked == Some(false))
            .count()
    }

    /// Acknowledged Accounting-Starts.
    pub fn starts_acked(&self) -> usize {
        self.customers
            .iter()
            .filter(|c| c.start_acked == Some(true))
            .count()
    }

    /// Acknowledged records per sync over the whole storm.
    pub fn records_per_fsync(&self) -> f64 {
        self.starts_acked() as f64 / self.fsyncs.calls.max(1) as f64
    }

    /// The busiest [`PEAK_BUCKET`]: (its start, records acknowledged in it, syncs in it).
    pub fn peak(&self) -> (Duration, usize, u64) {
        let bucket = |at: Duration| (at.as_nanos() / PEAK_BUCKET.as_nanos()) as usize;
        let mut acks: Vec<usize> = Vec::new();
        for at in self.customers.iter().filter_map(|c| c.acked_at) {
            let b = bucket(at);
            if acks.len() <= b {
                acks.resize(b + 1, 0);
            }
            acks[b] += 1;
        }
        let Some((busiest, &count)) = acks.iter().enumerate().max_by_key(|(_, n)| **n) else {
            return (Duration::ZERO, 0, 0);
        };
        let (from, to) = (
            PEAK_BUCKET * u32::try_from(busiest).unwrap_or(0),
            PEAK_BUCKET * u32::try_from(busiest + 1).unwrap_or(0),
        );
        // The counts at the samples nearest the bucket's edges.
        let at = |t: Duration| {
            self.samples
                .iter()
                .min_by_key(|(s, _)| s.abs_diff(t))
                .map_or(0, |(_, c)| c.calls)
        };
        (from, count, at(to).saturating_sub(at(from)))
    }

    /// A few lines for a person.
    pub fn text(&self) -> String {
        let ms = |d: Duration| format!("{:.1}", d.as_secs_f64() * 1e3);
        let [a50, a99, amax] = self.auth_percentiles();
        let [s50, s99, smax] = self.start_percentiles();
        let (peak_at, peak_records, peak_fsyncs) = self.peak();
        format!(
            "storm: {} customers, fsync >= {} ms, spread {:?}; restart to running {} ms; \
             storm {} ms; box CPU {} ms\n\
             Access-Request  p50 {} / p99 {} / max {} ms; {} unanswered, {} rejected\n\
             Accounting-Start p50 {} / p99 {} / max {} ms; {} acknowledged, {} unanswered, \
             {} stored\n\
             syncs {} (fsync {}, fdatasync {}, other {}); {:.1} records per sync; peak \
             {} ms..+{} ms: {} records, {} syncs ({:.1} per sync)\n",
            self.settings.customers,
            self.settings.fsync_delay.as_millis(),
            self.settings.spread,
            ms(self.restart),
            ms(self.wall),
            ms(self.cpu),
            ms(a50),
            ms(a99),
            ms(amax),
            self.auth_unanswered(),
            self.rejected(),
            ms(s50),
            ms(s99),
            ms(smax),
            self.starts_acked(),
            self.starts_unanswered(),
            self.stored_starts,
            self.fsyncs.calls,
            self.fsyncs.fsync,
            self.fsyncs.fdatasync,
            self.fsyncs.other,
            self.records_per_fsync(),
            peak_at.as_millis(),
            PEAK_BUCKET.as_millis(),
            peak_records,
            peak_fsyncs,
            peak_records as f64 / peak_fsyncs.max(1) as f64,
        )
    }
}

/// Everything a customer needs to log in.
#[derive(Debug, Clone)]
struct Device {
    login: Login,
    method: Method,
    router: usize,
    mac: String,
    ip: Ipv4Addr,
}

/// Runs the storm with the `siteboxd` at `binary`.
pub fn run(binary: &Path, settings: &Settings) -> anyhow::Result<Outcome> {
    let dir = tempfile::tempdir().context("temp dir")?;
    let disk = SlowDisk::new(dir.path(), settings.fsync_delay);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("runtime")?;
    let stop_servers = CancellationToken::new();

    // The routers' API side, on their own addresses.
    let ips = [Ipv4Addr::new(127, 0, 0, 2), Ipv4Addr::new(127, 0, 0, 3)];
    let mut api = Vec::new();
    let mut coa = Vec::new();
    for ip in ips {
        let sim = Simulator::new(SimConfig {
            identity: format!("gw-{ip}"),
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

    // The box: seeded before it starts, then on the slow disk.
    let config = Siteboxd::base_config(dir.path()).replace("info,sitebox=debug", "info");
    let config_path = dir.path().join("sitebox.toml");
    std::fs::write(&config_path, &config)?;
    let routers: Vec<NewRouter> = ips
        .iter()
        .enumerate()
        .map(|(i, ip)| NewRouter {
            name: format!("gw{}", i + 1),
            nas_ip: IpAddr::V4(*ip),
            nas_identifier: Some(format!("gw{}", i + 1)),
            radius_secret: SECRET.into(),
            coa_port: coa[i].local_addr().map_or(3799, |a| a.port()),
            api: Some(ApiAccess {
                host: ip.to_string(),
                port: api[i].0,
                tls: false,
                fingerprint: None,
                user: "admin".into(),
                password: "admin".into(),
            }),
            codepage: "utf-8".into(),
        })
        .collect();
    let logins = radius_bench::users(settings.customers);
    radius_bench::seed(&config_path, &logins, routers).context("seeding the store")?;
    let env = disk.env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let mut daemon = Siteboxd::start_with_env(binary, dir.path(), &config, &env);
    daemon.wait_for_log("siteboxd running", Duration::from_secs(60));
    let (auth_port, acct_port) = daemon.radius_ports();
    let nas: Vec<Arc<Nas>> = ips
        .iter()
        .enumerate()
        .map(|(i, ip)| {
            Arc::new(Nas::new(
                i,
                &format!("gw{}", i + 1),
                *ip,
                SECRET,
                SocketAddr::from(([127, 0, 0, 1], auth_port)),
                SocketAddr::from(([127, 0, 0, 1], acct_port)),
                coa[i].local_addr().map_or(3799, |a| a.port()),
                api[i].0,
                api[i].1.clone(),
            ))
        })
        .collect();
    let clock = SimClock::start(1.0);
    for (i, socket) in coa.into_iter().enumerate() {
        runtime.spawn(Arc::clone(&nas[i]).serve_coa(socket, clock, stop_servers.clone()));
    }
    let devices: Vec<Device> = logins
        .into_iter()
        .enumerate()
        .map(|(i, login)| Device {
            login,
            method: if (i / 2) % 2 == 0 {
                Method::Pap
            } else {
                Method::Chap
            },
            router: i % 2,
            mac: format!("02:00:00:00:{:02X}:{:02X}", i >> 8, i & 0xFF),
            ip: Ipv4Addr::new(
                10,
                5,
                u8::try_from(i / 250).unwrap_or(255),
                u8::try_from(i % 250 + 2).unwrap_or(255),
            ),
        })
        .collect();

    // Everyone online, and the routers provisioned, before the cut.
    let before = runtime.block_on(storm(&nas, &devices, Duration::ZERO, None));
    let online = before
        .iter()
        .filter(|c| c.start_acked == Some(true))
        .count();
    anyhow::ensure!(
        online == devices.len(),
        "only {online} of {} customers online before the cut",
        devices.len()
    );
    wait_queue_idle(&daemon.database(), Duration::from_secs(300))?;

    // The power cut.
    for router in &nas {
        router.power_off();
    }
    daemon.kill9();
    std::thread::sleep(Duration::from_millis(500));
    let restarted = Instant::now();
    daemon.restart();
    for router in &nas {
        router.power_on();
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while daemon.count_log("siteboxd running") < 2 {
        anyhow::ensure!(Instant::now() < deadline, "no restart: {}", daemon.log());
        std::thread::sleep(Duration::from_millis(5));
    }
    let restart = restarted.elapsed();
    for router in &nas {
        let on = AcctRecord {
            status: AcctStatus::On,
            user: String::new(),
            session: String::new(),
            mac: String::new(),
            ip: router.ip,
            seconds: 0,
            input: 0,
            output: 0,
        };
        anyhow::ensure!(
            runtime.block_on(router.account(&on)),
            "no answer to {}'s Accounting-On",
            router.name
        );
    }

    // The storm.
    let pid = daemon.pid().context("siteboxd runs")?;
    let sessions_before = count_sessions(&daemon.database())?;
    let samples = Arc::new(Mutex::new(Vec::new()));
    let sampling = Arc::new(AtomicBool::new(true));
    let started = Instant::now();
    let cpu = radius_bench::cpu_time(pid);
    let first = disk.counts();
    let sampler = {
        let (disk, samples, sampling) = (disk.clone(), Arc::clone(&samples), Arc::clone(&sampling));
        std::thread::spawn(move || {
            while sampling.load(Ordering::Relaxed) {
                let counts = disk.counts() - first;
                samples
                    .lock()
                    .expect("samples")
                    .push((started.elapsed(), counts));
                std::thread::sleep(Duration::from_millis(20));
            }
        })
    };
    let customers = runtime.block_on(storm(&nas, &devices, settings.spread, Some(started)));
    let wall = started.elapsed();
    let fsyncs = disk.counts() - first;
    let cpu = radius_bench::cpu_time(pid).saturating_sub(cpu);
    sampling.store(false, Ordering::Relaxed);
    let _ = sampler.join();
    let stored_starts = count_sessions(&daemon.database())?.saturating_sub(sessions_before);
    let stopped = daemon.stop();
    anyhow::ensure!(
        stopped.success(),
        "siteboxd exited with {stopped}: {}",
        daemon.log()
    );
    stop_servers.cancel();
    let samples = samples.lock().expect("samples").clone();
    Ok(Outcome {
        settings: settings.clone(),
        customers,
        restart,
        wall,
        fsyncs,
        samples,
        cpu,
        stored_starts,
        log: daemon.log(),
    })
}

/// Every device logs in and starts a session, each at a random instant within `spread`.
async fn storm(
    nas: &[Arc<Nas>],
    devices: &[Device],
    spread: Duration,
    started: Option<Instant>,
) -> Vec<Customer> {
    let started = started.unwrap_or_else(Instant::now);
    let mut tasks = Vec::with_capacity(devices.len());
    for device in devices {
        let (router, device) = (Arc::clone(&nas[device.router]), device.clone());
        let offset = spread.mul_f64(fastrand::f64());
        tasks.push(tokio::spawn(async move {
            tokio::time::sleep_until((started + offset).into()).await;
            let (auth, auth_latency) = router
                .authenticate(
                    &device.login.name,
                    &device.login.password,
                    device.method,
                    &device.mac,
                )
                .await;
            let mut customer = Customer {
                auth,
                auth_latency,
                start_acked: None,
                start_latency: Duration::ZERO,
                acked_at: None,
            };
            if matches!(customer.auth, AuthAnswer::Accept { .. }) {
                let record = AcctRecord {
                    status: AcctStatus::Start,
                    user: device.login.name.clone(),
                    session: router.new_session_id(),
                    mac: device.mac.clone(),
                    ip: device.ip,
                    seconds: 0,
                    input: 0,
                    output: 0,
                };
                let sent = Instant::now();
                let acked = router.account(&record).await;
                customer.start_latency = sent.elapsed();
                customer.start_acked = Some(acked);
                customer.acked_at = acked.then(|| started.elapsed());
            }
            customer
        }));
    }
    let mut customers = Vec::with_capacity(tasks.len());
    for task in tasks {
        customers.push(task.await.expect("customer task"));
    }
    customers
}

/// Waits until no job is due or running (the routers are provisioned).
fn wait_queue_idle(database: &Path, timeout: Duration) -> anyhow::Result<()> {
    let conn = rusqlite::Connection::open_with_flags(
        database,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )?;
    conn.busy_timeout(Duration::from_secs(5))?;
    let deadline = Instant::now() + timeout;
    loop {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        let busy: i64 = conn.query_row(
            "SELECT count(*) FROM jobs \
             WHERE state = 'running' OR (state = 'available' AND run_at <= ?1)",
            [now],
            |row| row.get(0),
        )?;
        if busy == 0 {
            return Ok(());
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "{busy} jobs still due after {timeout:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn count_sessions(database: &Path) -> anyhow::Result<u64> {
    let conn = rusqlite::Connection::open_with_flags(
        database,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )?;
    conn.busy_timeout(Duration::from_secs(5))?;
    let n: i64 = conn.query_row("SELECT count(*) FROM sessions", [], |row| row.get(0))?;
    Ok(n.unsigned_abs())
}
