//! Sync benchmark: the daemon's sync agent (the `sitebox::sync` code siteboxd runs, on its
//! SQLite store) against a real mosquitto and the real `sitebox-cloud run` on a real PostgreSQL,
//! through the loopback proxy that counts the bytes the edge puts on the wire.
//!
//! 1. Backlog drain: with the broker unreachable, one transaction fills the site's outbox with
//!    N accounting/session/payment events; then the link comes back and the clock runs until
//!    the cloud's cursor for the site (PostgreSQL `site_cursors.through`) is N, and until the
//!    edge has marked all N acked. Reports events/s and edge → broker bytes per event.
//! 2. Online latency: events emitted one per write transaction at a steady rate; per event,
//!    the time from the outbox commit to the cloud's ack marking it at the edge (`acked_at`),
//!    and to the cloud's commit (`received_at`).
//!
//! `cargo bench -p sitebox-tests --bench sync` runs N = 1,000,000 three times and prints the
//! medians; `SITEBOX_BENCH_QUICK=1` runs N = 20,000 once (a smoke run). `SITEBOX_BENCH_RUNS`
//! and `SITEBOX_BENCH_EVENTS` override the run count and N, `SITEBOX_BENCH_RATE` and
//! `SITEBOX_BENCH_ONLINE_SECS` the online phase, `SITEBOX_BENCH_SYNC` adds `[sync]` keys,
//! `SITEBOX_BENCH_LOG` (a tracing filter) shows the agent's log, `SITEBOX_BENCH_KEEP` keeps the
//! temp dir (broker and ingest logs).

// Tests and benchmarks stand outside the daemon: they measure and stamp with the real wall
// clock (timestamps to compare with the daemon's, deadlines), which the daemon reads only
// through its `Clock`.
#![allow(clippy::disallowed_methods)]

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use sitebox::clock::{SharedClock, SystemClock};
use sitebox::config::Config;
use sitebox::model::event::{Actor, EventKind, NewEvent};
use sitebox::store::{Opener, Store, StoreError};
use sitebox_tests::cloud::{Cloud, site_password};
use sitebox_tests::proxy::Proxy;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

const CLOUD: &str = env!("CARGO_BIN_EXE_sitebox-cloud-under-test");
const TENANT: &str = "bench";
const SITE: &str = "site-1";

/// Drain goal, events/s.
const GOAL_RATE: f64 = 20_000.0;
/// Wire goal, bytes/event.
const GOAL_BYTES: f64 = 60.0;

struct Options {
    events: u64,
    runs: usize,
    rate: u64,
    online_secs: u64,
    ingest_workers: usize,
}

impl Options {
    fn from_env() -> Self {
        let quick = std::env::var_os("SITEBOX_BENCH_QUICK").is_some_and(|v| v != "0");
        let number = |name: &str, default: u64| {
            std::env::var(name)
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(default)
        };
        Self {
            events: number(
                "SITEBOX_BENCH_EVENTS",
                if quick { 20_000 } else { 1_000_000 },
            ),
            runs: usize::try_from(number("SITEBOX_BENCH_RUNS", if quick { 1 } else { 3 }))
                .unwrap_or(1)
                .max(1),
            rate: number("SITEBOX_BENCH_RATE", 100),
            online_secs: number("SITEBOX_BENCH_ONLINE_SECS", if quick { 5 } else { 30 }),
            ingest_workers: usize::try_from(number("SITEBOX_BENCH_INGEST_WORKERS", 2)).unwrap_or(2),
        }
    }
}

/// What one run measured.
#[derive(Debug, Clone, Default)]
struct Run {
    fill_secs: f64,
    outbox_mb: f64,
    /// From the link coming back to the cloud's cursor reaching N.
    drain_secs: f64,
    /// From the link coming back to the edge having marked all N acked.
    edge_secs: f64,
    up_bytes: u64,
    down_bytes: u64,
    publishes: u64,
    duplicates: i64,
    online_events: usize,
    ack_p50: f64,
    ack_p99: f64,
    ack_max: f64,
    cloud_p50: f64,
    cloud_p99: f64,
}

fn main() {
    // SITEBOX_BENCH_LOG=sitebox_sync=debug shows the edge agent's log on stderr.
    if let Ok(filter) = std::env::var("SITEBOX_BENCH_LOG") {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_writer(std::io::stderr)
            .init();
    }
    let options = Options::from_env();
    let mut runs = Vec::new();
    for index in 0..options.runs {
        eprintln!(
            "sync bench: run {}/{} with {} events",
            index + 1,
            options.runs,
            options.events
        );
        let run = one_run(&options);
        print_run(index + 1, &options, &run);
        runs.push(run);
    }
    print_summary(&options, &runs);
}

fn config_toml(dir: &Path, port: u16) -> String {
    let password = dir.join("mqtt-password");
    std::fs::write(&password, site_password(TENANT, SITE)).expect("password file");
    // The store as packaged (synchronous = full); sync settings at their defaults except a
    // quick reconnect once the link is back, and no budget pass or telemetry drop during
    // the run.
    format!(
        "[site]\ntenant = \"{TENANT}\"\nsite = \"{SITE}\"\n\n\
         [store]\ndata_dir = \"{data}\"\nsynchronous = \"full\"\n\n\
         [secrets]\nkey_file = \"{key}\"\ncreate_if_missing = true\n\n\
         [radius]\nenabled = false\n\n\
         [sync]\nenabled = true\nbroker = \"127.0.0.1:{port}\"\npassword_file = \"{password}\"\n\
         keep_alive = \"5s\"\nconnect_timeout = \"3s\"\nbackoff_min = \"100ms\"\nbackoff_max = \"500ms\"\n\
         budget_every = \"1h\"\nbacklog_max_bytes = 4294967296\n{extra}\n",
        data = dir.join("data").display(),
        key = dir.join("secret.key").display(),
        password = password.display(),
        // More [sync] keys, e.g. `batch_max_events = 2000`, to try settings.
        extra = std::env::var("SITEBOX_BENCH_SYNC").unwrap_or_default(),
    )
}

fn one_run(options: &Options) -> Run {
    let dir = tempfile::tempdir().expect("temp dir");
    if std::env::var_os("SITEBOX_BENCH_KEEP").is_some() {
        eprintln!("sync bench: keeping {}", dir.path().display());
    }
    let mut cloud = Cloud::start(CLOUD.as_ref(), dir.path(), &[(TENANT, SITE)]);
    cloud.start_process(options.ingest_workers, 60, &[]);
    cloud.wait_ready(0);
    let proxy = Proxy::start(cloud.broker.addr());
    // The uplink is down: the edge's CONNECT goes nowhere.
    proxy.blackhole(true);

    let site_dir = dir.path().join("site");
    std::fs::create_dir_all(&site_dir).expect("site dir");
    let source = config_toml(&site_dir, proxy.port());
    let config = Config::parse(&site_dir.join("sitebox.toml"), &source).expect("config");
    let store = Store::open(&config.store, Opener::Daemon).expect("open store");
    let clock: SharedClock = Arc::new(SystemClock);

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let tasks = TaskTracker::new();
    let shutdown = CancellationToken::new();
    {
        let _guard = runtime.enter();
        sitebox::sync::spawn(
            &config,
            &store,
            &clock,
            sitebox::sync::registry(),
            &tasks,
            &shutdown,
        )
        .expect("start the sync agent");
    }

    let mut run = Run::default();
    let fill_started = Instant::now();
    fill_outbox(&store, options.events);
    run.fill_secs = fill_started.elapsed().as_secs_f64();
    run.outbox_mb = file_mb(store.path());
    eprintln!(
        "sync bench: {} events committed in {:.1}s ({:.0} MB database); link up",
        options.events, run.fill_secs, run.outbox_mb
    );

    let n = i64::try_from(options.events).expect("n");
    let (up0, down0, pub0) = counters(&proxy);
    proxy.heal();
    proxy.cut();
    let started = Instant::now();
    let deadline = started + Duration::from_secs(1800);
    let mut last_report = Instant::now();
    loop {
        let through = cloud.query_i64(&format!(
            "SELECT through FROM site_cursors WHERE tenant_id = '{TENANT}' AND site_id = '{SITE}'"
        ));
        if through >= n {
            run.drain_secs = started.elapsed().as_secs_f64();
            break;
        }
        assert!(
            Instant::now() < deadline,
            "drain stuck at {through}/{n}:\n{}",
            cloud.process_log(0)
        );
        if last_report.elapsed() >= Duration::from_secs(10) {
            last_report = Instant::now();
            eprintln!(
                "sync bench: cloud cursor {through}/{n} after {:.0}s",
                started.elapsed().as_secs_f64()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    loop {
        if edge_cursor(&store) >= n {
            run.edge_secs = started.elapsed().as_secs_f64();
            break;
        }
        assert!(Instant::now() < deadline, "the edge never marked all acked");
        std::thread::sleep(Duration::from_millis(20));
    }
    let (up1, down1, pub1) = counters(&proxy);
    run.up_bytes = up1 - up0;
    run.down_bytes = down1 - down0;
    run.publishes = pub1 - pub0;
    run.duplicates = cloud.query_i64(&format!(
        "SELECT duplicates FROM site_cursors WHERE tenant_id = '{TENANT}' AND site_id = '{SITE}'"
    ));
    let stored = cloud.query_i64(&format!(
        "SELECT count(*) FROM events WHERE tenant_id = '{TENANT}' AND site_id = '{SITE}'"
    ));
    assert_eq!(stored, n, "the cloud holds every event once");

    online(&runtime, &store, &clock, &cloud, options, n, &mut run);

    shutdown.cancel();
    tasks.close();
    runtime.block_on(tasks.wait());
    drop(runtime);
    if std::env::var_os("SITEBOX_BENCH_KEEP").is_some() {
        let _ = dir.keep();
    }
    run
}

fn counters(proxy: &Proxy) -> (u64, u64, u64) {
    let c = proxy.counters();
    (
        c.upstream_bytes.load(Ordering::Relaxed),
        c.downstream_bytes.load(Ordering::Relaxed),
        c.publishes.load(Ordering::Relaxed),
    )
}

fn file_mb(db: &Path) -> f64 {
    let size = |p: &Path| std::fs::metadata(p).map_or(0, |m| m.len());
    let wal = db.with_extension("db-wal");
    (size(db) + size(&wal)) as f64 / 1e6
}

fn edge_cursor(store: &Store) -> i64 {
    store
        .read_blocking(|conn| {
            conn.query_row(
                "SELECT cloud_cursor FROM sync_state WHERE id = 1",
                [],
                |row| row.get::<_, i64>(0),
            )
            .map_err(StoreError::from)
        })
        .expect("edge cursor")
}

fn wall_ms() -> i64 {
    i64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("clock")
            .as_millis(),
    )
    .expect("ms")
}

/// A UUIDv7 for a time: 48 bits of ms, then 74 random bits (as `Uuid::now_v7`).
fn uuid_v7(ms: i64) -> String {
    let ms = u64::try_from(ms).unwrap_or(0);
    format!(
        "{:08x}-{:04x}-7{:03x}-{:04x}-{:012x}",
        ms >> 16,
        ms & 0xffff,
        fastrand::u16(..0x1000),
        0x8000 | fastrand::u16(..0x4000),
        fastrand::u64(..1 << 48)
    )
}

/// The state of one simulated hotspot session.
struct Session {
    id: i64,
    router: i64,
    acct: String,
    username: String,
    mac: String,
    ip: String,
    subscriber: i64,
    seconds: i64,
    input: i64,
    output: i64,
}

impl Session {
    fn new(id: i64) -> Self {
        let subscriber = fastrand::i64(1..5_000);
        Self {
            id,
            router: fastrand::i64(1..=4),
            acct: format!("{:08x}", fastrand::u32(..)),
            username: format!("u{subscriber:05}"),
            mac: format!(
                "{:02X}:{:02X}:{:02X}:{:02X}:{:02X}:{:02X}",
                fastrand::u8(..),
                fastrand::u8(..),
                fastrand::u8(..),
                fastrand::u8(..),
                fastrand::u8(..),
                fastrand::u8(..)
            ),
            ip: format!("10.5.{}.{}", fastrand::u8(..), fastrand::u8(1..255)),
            subscriber,
            seconds: 0,
            input: 0,
            output: 0,
        }
    }

    /// The payload the accounting code emits (daemon/src/domain/accounting.rs).
    fn payload(&self, cause: Option<u32>) -> String {
        serde_json::json!({
            "session_id": self.id, "router_id": self.router, "acct_session_id": self.acct,
            "username": self.username, "mac": self.mac, "framed_ip": self.ip,
            "subscriber_id": self.subscriber, "session_time_s": self.seconds,
            "input_octets": self.input, "output_octets": self.output,
            "terminate_cause": cause,
        })
        .to_string()
    }
}

/// One representative event: mostly interim accounting, sessions starting and stopping, some
/// payments.
fn next_event(
    sessions: &mut [Session],
    next_session: &mut i64,
    i: u64,
) -> (EventKind, String, String) {
    let slot = fastrand::usize(..sessions.len());
    match i % 20 {
        0 => {
            // The payment's public record (daemon/src/domain/payments.rs).
            let receipt = format!("Q{:09X}", fastrand::u64(..1 << 36));
            let plan = ["hour", "day", "week"][fastrand::usize(..3)];
            let payload = serde_json::json!({
                "payment_id": i / 20 + 1, "provider": "mpesa", "receipt": receipt,
                "amount": 5000, "currency": "KES",
                "phone": format!("2547*****{:03}", fastrand::u16(..1000)),
                "plan": plan,
                "username": format!("u{:05}", fastrand::u32(1..5_000)),
            });
            (
                EventKind::PaymentReceived,
                format!("payment:{receipt}"),
                payload.to_string(),
            )
        }
        1 => {
            let session = &sessions[slot];
            let payload = session.payload(Some(1));
            let subject = format!("session:{}", session.id);
            *next_session += 1;
            sessions[slot] = Session::new(*next_session);
            (EventKind::SessionStopped, subject, payload)
        }
        2 => {
            let session = &sessions[slot];
            (
                EventKind::SessionStarted,
                format!("session:{}", session.id),
                session.payload(None),
            )
        }
        _ => {
            let session = &mut sessions[slot];
            session.seconds += 300;
            session.input += fastrand::i64(0..50_000_000);
            session.output += fastrand::i64(0..5_000_000);
            (
                EventKind::SessionUpdated,
                format!("session:{}", session.id),
                session.payload(None),
            )
        }
    }
}

/// Writes `n` events to the outbox in one transaction on the store's writer (direct SQL, the
/// columns `Tx::emit` writes), spread over a three-day outage.
fn fill_outbox(store: &Store, n: u64) {
    let start = wall_ms() - 3 * 86_400_000;
    let step = (3 * 86_400_000) / i64::try_from(n.max(1)).unwrap_or(1);
    let boot = uuid_v7(start);
    store
        .write_blocking(move |tx| -> Result<(), StoreError> {
            let mut insert = tx.prepare(
                "INSERT INTO outbox (id, type, schema_version, lane, occurred_at, boot_id, uptime_ms, subject, payload)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            )?;
            let mut sessions: Vec<Session> = (1..=300).map(Session::new).collect();
            let mut next_session = 300;
            for i in 0..n {
                let (kind, subject, payload) = next_event(&mut sessions, &mut next_session, i);
                let offset = i64::try_from(i).unwrap_or(0) * step;
                let at = start + offset;
                insert.execute(rusqlite::params![
                    uuid_v7(at),
                    kind.as_str(),
                    kind.schema_version(),
                    kind.lane().as_str(),
                    at,
                    boot,
                    60_000 + offset,
                    subject,
                    payload
                ])?;
            }
            Ok(())
        })
        .expect("fill the outbox");
}

/// Emits events one write each at `options.rate`/s while connected and measures, per event,
/// outbox commit → ack marked at the edge, and outbox commit → cloud commit.
fn online(
    runtime: &tokio::runtime::Runtime,
    store: &Store,
    clock: &SharedClock,
    cloud: &Cloud,
    options: &Options,
    after: i64,
    run: &mut Run,
) {
    let total = options.rate * options.online_secs;
    let interval = Duration::from_secs_f64(1.0 / options.rate.max(1) as f64);
    let committed: Vec<(i64, i64)> = runtime.block_on(async {
        let mut sessions: Vec<Session> = (1..=300).map(Session::new).collect();
        let mut next_session = 1_000_000;
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
        let mut committed = Vec::new();
        for i in 0..total {
            ticker.tick().await;
            let (kind, subject, payload) = next_event(&mut sessions, &mut next_session, i);
            let payload: serde_json::Value = serde_json::from_str(&payload).expect("json");
            let now = clock.now();
            let record = store
                .write(move |tx| -> Result<_, StoreError> {
                    tx.emit(
                        now,
                        &Actor::System,
                        NewEvent::recorded(kind, subject, payload),
                    )
                })
                .await
                .expect("emit");
            // The commit has happened when `write` resolves.
            committed.push((record.seq, wall_micros()));
        }
        committed
    });
    let last = committed.last().map_or(after, |c| c.0);
    let deadline = Instant::now() + Duration::from_secs(120);
    while edge_cursor(store) < last {
        assert!(Instant::now() < deadline, "online events never all acked");
        std::thread::sleep(Duration::from_millis(20));
    }
    // acked_at is the edge clock in ms when the ack was marked; received_at the cloud's
    // commit time (same machine, same clock).
    let acked: std::collections::HashMap<i64, i64> = store
        .read_blocking(move |conn| {
            let mut stmt = conn.prepare("SELECT seq, acked_at FROM outbox WHERE seq > ?1")?;
            let rows = stmt.query_map([after], |row| Ok((row.get(0)?, row.get(1)?)))?;
            rows.collect::<Result<_, _>>().map_err(StoreError::from)
        })
        .expect("acked_at");
    let received: std::collections::HashMap<i64, i64> = cloud
        .query(&format!(
            "SELECT seq, (extract(epoch FROM received_at) * 1000000)::bigint FROM events
             WHERE tenant_id = '{TENANT}' AND site_id = '{SITE}' AND seq > {after}"
        ))
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect();
    let mut to_ack = Vec::new();
    let mut to_cloud = Vec::new();
    for (seq, at_us) in &committed {
        let acked_ms = acked.get(seq).copied().expect("acked row");
        // The commit time is known to the µs, the ack mark to the ms: round the mark up
        // to the end of its ms so a latency is never under-stated.
        to_ack.push(((acked_ms + 1) * 1000 - at_us).max(0) as f64 / 1000.0);
        let received_us = received.get(seq).copied().expect("received row");
        to_cloud.push((received_us - at_us) as f64 / 1000.0);
    }
    run.online_events = committed.len();
    run.ack_p50 = percentile(&mut to_ack, 50.0);
    run.ack_p99 = percentile(&mut to_ack, 99.0);
    run.ack_max = percentile(&mut to_ack, 100.0);
    run.cloud_p50 = percentile(&mut to_cloud, 50.0);
    run.cloud_p99 = percentile(&mut to_cloud, 99.0);
}

fn wall_micros() -> i64 {
    i64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("clock")
            .as_micros(),
    )
    .expect("µs")
}

fn percentile(values: &mut [f64], p: f64) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * values.len() as f64).ceil() as usize;
    values[rank.clamp(1, values.len()) - 1]
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn print_run(index: usize, options: &Options, run: &Run) {
    let n = options.events as f64;
    println!(
        "run {index}: fill {:.1}s ({:.0} MB) | drain {:.2}s = {:.0} ev/s to the cloud cursor, {:.2}s to the edge marks | \
         {:.1} B/event up, {:.1} B/event down, {} publishes, {} duplicates | online {} ev @ {}/s: \
         ack p50 {:.1} ms p99 {:.1} ms max {:.1} ms, cloud commit p50 {:.1} ms p99 {:.1} ms",
        run.fill_secs,
        run.outbox_mb,
        run.drain_secs,
        n / run.drain_secs,
        run.edge_secs,
        run.up_bytes as f64 / n,
        run.down_bytes as f64 / n,
        run.publishes,
        run.duplicates,
        run.online_events,
        options.rate,
        run.ack_p50,
        run.ack_p99,
        run.ack_max,
        run.cloud_p50,
        run.cloud_p99,
    );
}

fn print_summary(options: &Options, runs: &[Run]) {
    let n = options.events as f64;
    let med = |f: &dyn Fn(&Run) -> f64| median(runs.iter().map(f).collect());
    let rate = med(&|r| n / r.drain_secs);
    let edge_rate = med(&|r| n / r.edge_secs);
    let up = med(&|r| r.up_bytes as f64 / n);
    let down = med(&|r| r.down_bytes as f64 / n);
    let verdict = |ok: bool| if ok { "met" } else { "MISSED" };
    println!();
    println!(
        "Sync benchmark: {} events, median of {} run(s), {} ingest worker(s)",
        options.events,
        runs.len(),
        options.ingest_workers
    );
    println!("| measure | value | goal |");
    println!("|---|---|---|");
    println!(
        "| backlog drain, events/s (cloud cursor = N) | {rate:.0} | ≥ {GOAL_RATE:.0} ({}) |",
        verdict(rate >= GOAL_RATE)
    );
    println!("| backlog drain, events/s (edge marked N) | {edge_rate:.0} | |");
    println!("| drain time, s | {:.1} | |", med(&|r| r.drain_secs));
    println!(
        "| edge → broker bytes/event (MQTT frames) | {up:.1} | ≤ {GOAL_BYTES:.0} ({}) |",
        verdict(up <= GOAL_BYTES)
    );
    println!("| broker → edge bytes/event (acks) | {down:.1} | |");
    println!(
        "| online latency commit → edge ack, p50 / p99, ms ({}/s) | {:.1} / {:.1} | |",
        options.rate,
        med(&|r| r.ack_p50),
        med(&|r| r.ack_p99)
    );
    println!(
        "| online latency commit → cloud commit, p50 / p99, ms | {:.1} / {:.1} | |",
        med(&|r| r.cloud_p50),
        med(&|r| r.cloud_p99)
    );
    println!(
        "| outbox fill, one transaction, s | {:.1} | |",
        med(&|r| r.fill_secs)
    );
}
