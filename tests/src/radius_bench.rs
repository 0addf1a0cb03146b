//! The RADIUS benchmark: the real `siteboxd` and FreeRADIUS 3.2 (users from `files`, then from
//! `rlm_sql_sqlite`) with the same users, taken one after the other through the same load on
//! loopback (see [`crate::radius_load`]): closed-loop Access-Request throughput, latency under an
//! open-loop rate, and closed-loop accounting writes. `cargo bench -p sitebox-tests --bench
//! radius` prints the table; a smoke test runs it in quick mode.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sitebox::clock::{Clock, SystemClock};
use sitebox::config::Config;
use sitebox::domain::DomainError;
use sitebox::domain::{plans, routers, subscribers, subscriptions};
use sitebox::model::event::Actor;
use sitebox::model::plan::NewPlan;
use sitebox::model::router::NewRouter;
use sitebox::model::subscriber::{NewSubscriber, SubscriberKind};
use sitebox::model::subscription::{Origin, Source};
use sitebox::secrets::Secrets;
use sitebox::store::{Opener, Store};
use sitebox_radius::Secret;

use crate::freeradius::{self, Backend, FreeRadius};
use crate::radius_load::{self, Load, Login, Outcome, Target};
use crate::siteboxd::Siteboxd;

/// The shared secret of the benchmark's NAS.
pub const SECRET: &str = "bench-secret-123";

/// How big and how long.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Users (subscribers with an active plan; FreeRADIUS users with the same passwords).
    pub users: usize,
    /// Load before each measurement, not counted.
    pub warmup: Duration,
    /// Length of each measured phase.
    pub phase: Duration,
    /// Closed-loop workers (requests outstanding at once).
    pub concurrency: usize,
    /// Open-loop rate, Access-Requests per second.
    pub open_rate: u32,
    /// Run only the servers whose names contain one of these (all when empty).
    pub only: Vec<String>,
}

impl Settings {
    /// The measurement: 10,000 users, 10 s phases, 64 workers, 5,000 auth/s open loop.
    pub fn full() -> Self {
        Self {
            users: 10_000,
            warmup: Duration::from_secs(2),
            phase: Duration::from_secs(10),
            concurrency: 64,
            open_rate: 5_000,
            only: Vec::new(),
        }
    }

    /// A quick pass that only shows the harness works: 500 users, 1 s phases, 1,000 auth/s.
    pub fn quick() -> Self {
        Self {
            users: 500,
            warmup: Duration::from_millis(200),
            phase: Duration::from_secs(1),
            concurrency: 16,
            open_rate: 1_000,
            only: Vec::new(),
        }
    }
}

/// One server's figures.
#[derive(Debug, Clone)]
pub struct Row {
    /// `sitebox`, `freeradius-files`, `freeradius-sqlite`.
    pub server: String,
    /// Closed-loop Access-Requests.
    pub auth: Outcome,
    /// Open-loop Access-Requests at the fixed rate.
    pub open: Outcome,
    /// Closed-loop Accounting-Requests (Start and Stop).
    pub acct: Outcome,
    /// Accounting records the server stored, counted in its database or file afterwards.
    pub acct_stored: u64,
    /// Accounting Starts among the acknowledged requests (each should have made a record).
    pub acct_starts: u64,
    /// The server's CPU time (user + system, all threads) per closed-loop Access-Accept.
    pub auth_cpu: Duration,
    /// The server's CPU time per closed-loop Accounting-Response.
    pub acct_cpu: Duration,
    /// The first error and warning lines of the server's log (why requests went unanswered).
    pub log_errors: Vec<String>,
}

/// A process's CPU time so far, user and system, all threads (`/proc/PID/stat`, in the
/// kernel's USER_HZ ticks of 10 ms).
pub fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may hold spaces) start at the state, field 3.
    let fields: Vec<&str> = stat
        .rsplit_once(") ")
        .map_or(Vec::new(), |(_, rest)| rest.split(' ').collect());
    let ticks: u64 = [11, 12]
        .iter()
        .filter_map(|&i| fields.get(i).and_then(|f| f.parse::<u64>().ok()))
        .sum();
    Duration::from_millis(ticks * 10)
}

fn per_request(cpu: Duration, requests: u64) -> Duration {
    if requests == 0 {
        return Duration::ZERO;
    }
    cpu / u32::try_from(requests).unwrap_or(u32::MAX)
}

/// The first few distinct lines of `log` that report an error or a warning.
fn log_errors(log: &str) -> Vec<String> {
    let mut found: Vec<String> = Vec::new();
    for line in log.lines() {
        if !(line.contains("Error") || line.contains("ERROR") || line.contains("WARN")) {
            continue;
        }
        // Drop the timestamp so repeats of one message count once.
        let message = line
            .split_once(" : ")
            .map_or(line, |(_, message)| message)
            .to_string();
        if !found.contains(&message) {
            found.push(message);
        }
        if found.len() == 5 {
            break;
        }
    }
    found
}

/// The users of a run: `user00000`… with distinct passwords.
pub fn users(count: usize) -> Vec<Login> {
    (0..count)
        .map(|n| Login {
            name: format!("user{n:05}"),
            password: format!("pw-{n:05}-{:08x}", (n as u32).wrapping_mul(2_654_435_761)),
        })
        .collect()
}

/// Runs every server through the load, one after the other; `siteboxd` is the binary to run.
pub fn run(siteboxd: &Path, settings: &Settings) -> Vec<Row> {
    let logins = Arc::new(users(settings.users));
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    let mut rows = Vec::new();

    let wanted = |name: &str| {
        settings.only.is_empty()
            || settings
                .only
                .iter()
                .any(|only| name.contains(only.as_str()))
    };
    if wanted("sitebox") {
        let dir = tempfile::tempdir().expect("temp dir");
        let started = Instant::now();
        let daemon = start_sitebox(siteboxd, dir.path(), &logins);
        eprintln!(
            "sitebox: {} subscribers seeded and daemon ready in {:.1} s (pid {})",
            logins.len(),
            started.elapsed().as_secs_f64(),
            daemon.pid().unwrap_or(0)
        );
        let (auth, acct) = daemon.radius_ports();
        let target = target(auth, acct);
        let pid = daemon.pid().expect("siteboxd runs");
        let mut row = measure(&runtime, "sitebox", pid, &target, &logins, settings);
        row.acct_stored = sitebox_sessions(&daemon.database());
        row.log_errors = log_errors(&daemon.log());
        rows.push(row);
    }
    for backend in [Backend::Files, Backend::Sqlite] {
        if !wanted(&format!("freeradius-{}", backend.name())) {
            continue;
        }
        let dir = tempfile::tempdir().expect("temp dir");
        let users: Vec<freeradius::User> = logins
            .iter()
            .map(|login| freeradius::User {
                name: login.name.clone(),
                password: login.password.clone(),
            })
            .collect();
        let server = FreeRadius::start(dir.path(), backend, &users, SECRET);
        eprintln!(
            "freeradius-{}: ready (pid {})",
            backend.name(),
            server.pid().unwrap_or(0)
        );
        let target = target(server.auth().port(), server.acct().port());
        let name = format!("freeradius-{}", backend.name());
        let pid = server.pid().expect("freeradius runs");
        let mut row = measure(&runtime, &name, pid, &target, &logins, settings);
        row.acct_stored = server.accounting_records();
        row.log_errors = log_errors(&server.log());
        rows.push(row);
    }
    rows
}

fn target(auth: u16, acct: u16) -> Target {
    Target {
        auth: SocketAddr::from(([127, 0, 0, 1], auth)),
        acct: SocketAddr::from(([127, 0, 0, 1], acct)),
        secret: Secret::from(SECRET),
    }
}

fn measure(
    runtime: &tokio::runtime::Runtime,
    server: &str,
    pid: u32,
    target: &Target,
    logins: &Arc<Vec<Login>>,
    settings: &Settings,
) -> Row {
    runtime.block_on(async {
        let warm = radius_load::closed_loop(
            target,
            logins.clone(),
            Load::Auth,
            settings.concurrency,
            settings.warmup,
        )
        .await;
        eprintln!("{server}: warm-up {:.0} auth/s", warm.rate());
        let cpu = cpu_time(pid);
        let auth = radius_load::closed_loop(
            target,
            logins.clone(),
            Load::Auth,
            settings.concurrency,
            settings.phase,
        )
        .await;
        let auth_cpu = per_request(cpu_time(pid) - cpu, auth.ok);
        eprintln!("{server}: closed loop {:.0} auth/s", auth.rate());
        let open =
            radius_load::open_loop(target, logins.clone(), settings.open_rate, settings.phase)
                .await;
        eprintln!(
            "{server}: open loop {:.0}/s sent, p50 {:?} p99 {:?}",
            open.offered(),
            open.percentile(50.0),
            open.percentile(99.0)
        );
        let cpu = cpu_time(pid);
        let acct = radius_load::closed_loop(
            target,
            logins.clone(),
            Load::Acct,
            settings.concurrency,
            settings.phase,
        )
        .await;
        let acct_cpu = per_request(cpu_time(pid) - cpu, acct.ok);
        eprintln!("{server}: accounting {:.0} writes/s", acct.rate());
        // Starts and Stops alternate per worker, so half the acknowledged requests (rounded
        // up per worker) are Starts; an upper bound is enough for the check.
        let acct_starts = acct.ok.div_ceil(2);
        Row {
            server: server.to_string(),
            auth,
            open,
            acct,
            acct_stored: 0,
            acct_starts,
            auth_cpu,
            acct_cpu,
            log_errors: Vec::new(),
        }
    })
}

/// A `siteboxd` with one router (127.0.0.1, the benchmark's secret), one plan and `logins` as
/// subscribers with that plan active (see [`seed`]).
fn start_sitebox(binary: &Path, dir: &Path, logins: &[Login]) -> Siteboxd {
    start_sitebox_with_env(binary, dir, logins, &[])
}

/// [`start_sitebox`] with extra environment for the daemon (e.g. a slow disk's, see
/// [`crate::sdcard::SlowDisk::env`]).
pub fn start_sitebox_with_env(
    binary: &Path,
    dir: &Path,
    logins: &[Login],
    env: &[(String, String)],
) -> Siteboxd {
    // Nothing per request is logged at `info` (the server logs drops at debug).
    let config = Siteboxd::base_config(dir).replace("info,sitebox=debug", "info");
    let path = dir.join("sitebox.toml");
    std::fs::write(&path, &config).expect("write config");
    let nas = NewRouter {
        name: "bench-nas".into(),
        nas_ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
        nas_identifier: None,
        radius_secret: SECRET.into(),
        coa_port: 3799,
        api: None,
        codepage: "utf-8".into(),
    };
    seed(&path, logins, vec![nas]).expect("seed the store");
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let daemon = Siteboxd::start_with_env(binary, dir, &config, &env);
    daemon.wait_for_log("siteboxd running", Duration::from_secs(60));
    daemon
}

/// Writes `routers`, one plan (`bench-day`: 1 day, `2M/4M`) and `logins` as subscribers with
/// that plan active into the store of the daemon config at `config`, through the daemon's
/// library, before the daemon starts (a CLI process per subscriber would take minutes).
pub fn seed(config: &Path, logins: &[Login], routers: Vec<NewRouter>) -> anyhow::Result<()> {
    let config = Config::load(config)?;
    let secrets = Secrets::load(&config.secrets.key_file, config.secrets.create_if_missing)?;
    let store = Store::open(&config.store, Opener::Tool)?;
    let now = SystemClock.now();
    let setup_secrets = secrets.clone();
    let plan = store.write_blocking(move |tx| {
        for router in routers {
            routers::add(tx, &setup_secrets, &Actor::Cli, now, router)?;
        }
        let mut plan = NewPlan::hotspot("bench-day", 5000, "KES", 86_400);
        plan.rate_limit = Some("2M/4M".into());
        plans::create(tx, &Actor::Cli, now, plan)
    })?;
    for chunk in logins.chunks(1_000) {
        let (chunk, secrets, plan) = (chunk.to_vec(), secrets.clone(), plan.clone());
        store.write_blocking(move |tx| {
            for login in chunk {
                let subscriber = subscribers::create(
                    tx,
                    &secrets,
                    &Actor::Cli,
                    now,
                    NewSubscriber {
                        username: login.name,
                        kind: SubscriberKind::Hotspot,
                        password: Some(login.password),
                        nt_hash: None,
                        mac_auth: false,
                        phone: None,
                        macs: Vec::new(),
                    },
                )?;
                let origin = Origin {
                    source: Source::Manual,
                    payment_id: None,
                    voucher_id: None,
                };
                subscriptions::grant(tx, &Actor::Cli, now, &subscriber, &plan, origin)?;
            }
            Ok::<_, DomainError>(())
        })?;
    }
    Ok(())
}

/// Accounting sessions Sitebox stored (one row per Start; the Stop closes it).
fn sitebox_sessions(database: &Path) -> u64 {
    let db = rusqlite::Connection::open(database).expect("open sitebox.db");
    db.query_row("SELECT count(*) FROM sessions", [], |row| {
        row.get::<_, i64>(0)
    })
    .map(|n| n.unsigned_abs())
    .expect("count sessions")
}

/// The figures of one server in one run, as the table shows them.
#[derive(Debug, Clone, PartialEq)]
pub struct Figures {
    /// The server's name.
    pub server: String,
    /// Closed-loop Access-Accepts per second.
    pub auth_rate: f64,
    /// Open-loop Access-Accepts per second.
    pub open_rate: f64,
    /// Open-loop median latency, milliseconds.
    pub p50_ms: f64,
    /// Open-loop 99th percentile latency, milliseconds.
    pub p99_ms: f64,
    /// Closed-loop Accounting-Responses per second.
    pub acct_rate: f64,
    /// Server CPU time per closed-loop Access-Accept, microseconds.
    pub auth_cpu_us: f64,
    /// Server CPU time per closed-loop Accounting-Response, microseconds.
    pub acct_cpu_us: f64,
    /// Requests without a reply, all phases.
    pub lost: u64,
}

impl From<&Row> for Figures {
    fn from(row: &Row) -> Self {
        Self {
            server: row.server.clone(),
            auth_rate: row.auth.rate(),
            open_rate: row.open.rate(),
            p50_ms: row.open.percentile(50.0).as_secs_f64() * 1e3,
            p99_ms: row.open.percentile(99.0).as_secs_f64() * 1e3,
            acct_rate: row.acct.rate(),
            auth_cpu_us: row.auth_cpu.as_secs_f64() * 1e6,
            acct_cpu_us: row.acct_cpu.as_secs_f64() * 1e6,
            lost: row.auth.lost + row.open.lost + row.acct.lost,
        }
    }
}

/// Each column's median over runs, per server (runs list the servers in the same order).
pub fn medians(runs: &[Vec<Figures>]) -> Vec<Figures> {
    let Some(first) = runs.first() else {
        return Vec::new();
    };
    let median = |mut values: Vec<f64>| {
        values.sort_by(f64::total_cmp);
        values[values.len() / 2]
    };
    first
        .iter()
        .enumerate()
        .map(|(i, server)| {
            let column =
                |get: fn(&Figures) -> f64| median(runs.iter().map(|run| get(&run[i])).collect());
            Figures {
                server: server.server.clone(),
                auth_rate: column(|f| f.auth_rate),
                open_rate: column(|f| f.open_rate),
                p50_ms: column(|f| f.p50_ms),
                p99_ms: column(|f| f.p99_ms),
                acct_rate: column(|f| f.acct_rate),
                auth_cpu_us: column(|f| f.auth_cpu_us),
                acct_cpu_us: column(|f| f.acct_cpu_us),
                lost: runs.iter().map(|run| run[i].lost).sum(),
            }
        })
        .collect()
}

/// The table: one line per server, with the ratio of Sitebox's rate to each server's.
pub fn table(figures: &[Figures]) -> String {
    let mut out = String::new();
    let sitebox = figures.iter().find(|f| f.server == "sitebox");
    out.push_str(&format!(
        "{:<18} {:>8} {:>8} {:>7} {:>7} {:>8} {:>10} {:>10} {:>8} {:>8} {:>6}\n",
        "server",
        "auth/s",
        "open/s",
        "p50 ms",
        "p99 ms",
        "acct/s",
        "auth ratio",
        "acct ratio",
        "µs/auth",
        "µs/acct",
        "lost"
    ));
    let ratio = |ours: f64, theirs: f64| {
        if theirs > 0.0 {
            format!("{:.2}", ours / theirs)
        } else {
            "-".into()
        }
    };
    for row in figures {
        let (auth_ratio, acct_ratio) = match sitebox {
            Some(s) => (
                ratio(s.auth_rate, row.auth_rate),
                ratio(s.acct_rate, row.acct_rate),
            ),
            None => ("-".into(), "-".into()),
        };
        out.push_str(&format!(
            "{:<18} {:>8.0} {:>8.0} {:>7.2} {:>7.2} {:>8.0} {:>10} {:>10} {:>8.0} {:>8.0} {:>6}\n",
            row.server,
            row.auth_rate,
            row.open_rate,
            row.p50_ms,
            row.p99_ms,
            row.acct_rate,
            auth_ratio,
            acct_ratio,
            row.auth_cpu_us,
            row.acct_cpu_us,
            row.lost,
        ));
    }
    out
}
