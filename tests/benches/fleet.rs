//! Fleet benchmark: many sites into the cloud service at once. A real mosquitto with the ACL
//! and password file `sitebox-cloud acl` generates from the registry, a real PostgreSQL, and
//! one or two `sitebox-cloud run` processes sharing the MQTT 5 shared subscription; the sites
//! are protocol-level publishers (`sitebox_tests::fleet::FakeSite`: each its own MQTT client,
//! credentials, client id and last will, as `siteboxd`'s agent has), not daemons.
//!
//! Per run, for each process count:
//! 1. **Day.** Every site (1,000 by default, in 10 tenants) sends its day's events
//!    (`site_events::site_day`: payments, subscribers, vouchers, sessions, routers, jobs,
//!    rejects) in batches of 1 to 50 events, lanes interleaved, at most 8 unacked per site (the
//!    edge's window), all sites at once. Timed until every batch is acked.
//! 2. **Backlog drain.** 200 of the sites come back from an outage (status offline, then
//!    online) with a backlog each, sent as the edge drains: lane by lane, batches of up to
//!    2,000 events, window 8, all 200 at once.
//! 3. **Online.** Every site emits events at a steady rate (1,000 events/s over the fleet by
//!    default), each sent as soon as it is committed, as the edge's agent does when woken;
//!    per event, the time from its commit at the site (its `occurred_at`) to the cloud's ack
//!    reaching the site, which the cloud publishes after committing the event and its
//!    projections.
//!
//! Events are projected in the transaction that stores them, so "ingested" and "projected"
//! are one figure; after each phase the bench checks that the cursors and `site_health` count
//! every event once. CPU time per phase is read from /proc for the PostgreSQL processes, the
//! `sitebox-cloud` processes, mosquitto and the bench itself (the fake sites).
//!
//! `cargo bench -p sitebox-tests --bench fleet` runs 3 runs of 1 and 2 processes alternately
//! and prints the medians and the ratio; `SITEBOX_BENCH_QUICK=1` runs 100 sites once (a
//! smoke run). Overrides: `SITEBOX_BENCH_RUNS`, `SITEBOX_BENCH_SITES`,
//! `SITEBOX_BENCH_DAY_EVENTS` (per site), `SITEBOX_BENCH_DRAIN_SITES`,
//! `SITEBOX_BENCH_DRAIN_EVENTS` (per site), `SITEBOX_BENCH_RATE` (online events/s, fleet),
//! `SITEBOX_BENCH_ONLINE_SECS`, `SITEBOX_BENCH_WORKERS` (per process), `SITEBOX_BENCH_PROCESSES`
//! (e.g. `1,2`), `SITEBOX_BENCH_KEEP` (keep the temp dir: broker and cloud logs),
//! `SITEBOX_BENCH_CLOUD` (another `sitebox-cloud` binary, e.g. an older build to compare).

// Benchmarks stand outside the services: they measure with the real wall clock.
#![allow(clippy::disallowed_methods)]

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use sitebox_sync::wire::{Batch, Lane, VERSION, WireEvent};
use sitebox_tests::cloud::Cloud;
use sitebox_tests::fleet::FakeSite;
use sitebox_tests::site_events::{self, Extras, SiteEvent};

const CLOUD: &str = env!("CARGO_BIN_EXE_sitebox-cloud-under-test");

/// Goal: events/s projected with one process.
const GOAL_RATE: f64 = 20_000.0;
/// Goal: commit → projection p99 while online, ms.
const GOAL_P99_MS: f64 = 1_000.0;
/// The edge's window: batches in flight per site.
const WINDOW: usize = 8;
/// Batches of the day phase: 1 to this many events.
const DAY_CHUNK: usize = 50;
/// Batches of the drain: this many events (the edge's `batch_max_events`).
const DRAIN_CHUNK: usize = 2_000;
/// Sites per tenant.
const SITES_PER_TENANT: usize = 100;

#[derive(Debug, Clone)]
struct Options {
    runs: usize,
    sites: usize,
    day_events: usize,
    drain_sites: usize,
    drain_events: usize,
    rate: f64,
    online_secs: u64,
    workers: usize,
    processes: Vec<usize>,
    keep: bool,
    cloud: std::path::PathBuf,
}

impl Options {
    fn from_env() -> Self {
        let quick = std::env::var_os("SITEBOX_BENCH_QUICK").is_some_and(|v| v != "0");
        let number = |name: &str, default: usize| {
            std::env::var(name)
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(default)
        };
        let sites = number("SITEBOX_BENCH_SITES", if quick { 100 } else { 1_000 });
        Self {
            runs: number("SITEBOX_BENCH_RUNS", if quick { 1 } else { 3 }).max(1),
            sites,
            day_events: number("SITEBOX_BENCH_DAY_EVENTS", 200),
            drain_sites: number("SITEBOX_BENCH_DRAIN_SITES", if quick { 20 } else { 200 })
                .min(sites),
            drain_events: number("SITEBOX_BENCH_DRAIN_EVENTS", 2_000),
            rate: number("SITEBOX_BENCH_RATE", sites) as f64,
            online_secs: number("SITEBOX_BENCH_ONLINE_SECS", if quick { 5 } else { 20 }) as u64,
            workers: number("SITEBOX_BENCH_WORKERS", 4).max(1),
            processes: std::env::var("SITEBOX_BENCH_PROCESSES")
                .ok()
                .map(|v| v.split(',').filter_map(|p| p.trim().parse().ok()).collect())
                .filter(|v: &Vec<usize>| !v.is_empty())
                .unwrap_or_else(|| vec![1, 2]),
            keep: std::env::var_os("SITEBOX_BENCH_KEEP").is_some(),
            cloud: std::env::var_os("SITEBOX_BENCH_CLOUD").map_or_else(|| CLOUD.into(), Into::into),
        }
    }
}

/// CPU seconds by whose they were, over one phase.
#[derive(Debug, Clone, Default)]
struct Cpu {
    postgres: f64,
    cloud: f64,
    broker: f64,
    sites: f64,
    /// Busy CPU seconds of the whole machine (other builds included).
    machine: f64,
}

impl Cpu {
    /// PostgreSQL's share of the service side's CPU (PostgreSQL + `sitebox-cloud`).
    fn postgres_share(&self) -> f64 {
        let service = self.postgres + self.cloud;
        if service > 0.0 {
            self.postgres / service
        } else {
            0.0
        }
    }
}

/// What one phase measured.
#[derive(Debug, Clone, Default)]
struct Phase {
    events: u64,
    batches: u64,
    secs: f64,
    cpu: Cpu,
    /// Commit → ack at the site, ms, sorted (online phase only).
    latencies: Vec<f64>,
    breaches: Vec<String>,
}

impl Phase {
    fn rate(&self) -> f64 {
        self.events as f64 / self.secs.max(1e-9)
    }

    fn percentile(&self, p: f64) -> f64 {
        if self.latencies.is_empty() {
            return f64::NAN;
        }
        let rank = ((p / 100.0) * self.latencies.len() as f64).ceil() as usize;
        self.latencies[rank.clamp(1, self.latencies.len()) - 1]
    }
}

#[derive(Debug, Clone)]
struct Run {
    processes: usize,
    day: Phase,
    drain: Phase,
    online: Phase,
}

fn ticks_per_sec() -> f64 {
    // sysconf(_SC_CLK_TCK) is 100 on Linux everywhere this runs.
    100.0
}

/// (pid → (comm, utime + stime ticks)) of every process.
fn processes_cpu() -> HashMap<u32, (String, u64)> {
    let mut out = HashMap::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return out;
    };
    for entry in dir.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        let comm = stat[open + 1..close].to_string();
        let fields: Vec<&str> = stat[close + 2..].split(' ').collect();
        // After the comm: state is field 3, utime 14 and stime 15 (1-based, man proc).
        let ticks = fields
            .get(11)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
            + fields
                .get(12)
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0);
        out.insert(pid, (comm, ticks));
    }
    out
}

/// Busy ticks of the whole machine (/proc/stat `cpu` line minus idle and iowait).
fn machine_busy() -> u64 {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let Some(line) = stat.lines().next() else {
        return 0;
    };
    let values: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|v| v.parse().ok())
        .collect();
    let total: u64 = values.iter().take(8).sum();
    let idle = values.get(3).copied().unwrap_or(0) + values.get(4).copied().unwrap_or(0);
    total - idle
}

struct CpuMark {
    per_process: HashMap<u32, (String, u64)>,
    machine: u64,
}

fn cpu_mark() -> CpuMark {
    CpuMark {
        per_process: processes_cpu(),
        machine: machine_busy(),
    }
}

fn cpu_since(mark: &CpuMark) -> Cpu {
    let now = processes_cpu();
    let me = std::process::id();
    let mut cpu = Cpu::default();
    for (pid, (comm, ticks)) in &now {
        let before = mark
            .per_process
            .get(pid)
            .filter(|(c, _)| c == comm)
            .map_or(0, |(_, t)| *t);
        let secs = ticks.saturating_sub(before) as f64 / ticks_per_sec();
        if *pid == me {
            cpu.sites += secs;
        } else if comm == "postgres" {
            cpu.postgres += secs;
        } else if comm.starts_with("sitebox-cloud") {
            cpu.cloud += secs;
        } else if comm == "mosquitto" {
            cpu.broker += secs;
        }
    }
    cpu.machine = machine_busy().saturating_sub(mark.machine) as f64 / ticks_per_sec();
    cpu
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn now_ms_f64() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64() * 1_000.0)
}

fn batch(
    tenant: &str,
    site: &str,
    id: u64,
    lane: Lane,
    events: Vec<WireEvent>,
    head: u64,
) -> Batch {
    Batch {
        v: VERSION,
        tenant: tenant.to_string(),
        site: site.to_string(),
        batch: id,
        lane,
        boot_id: "0198d2c4-0000-7000-8000-00000000fake".into(),
        sent_at: now_ms(),
        skew_ms: Some(0),
        events,
        dropped: vec![],
        head: Some(head),
    }
}

/// Encoded batches by id, in sending order.
type Encoded = Vec<(u64, Vec<u8>)>;

/// One site's share of the run: its events cut into the three phases, the first two as
/// encoded batches.
struct Plan {
    day: Encoded,
    drain: Encoded,
    online: VecDeque<WireEvent>,
    next_batch: u64,
}

fn plan(options: &Options, run: usize, index: usize) -> Plan {
    let tenant = format!("t{:02}", index / SITES_PER_TENANT);
    let site = format!("s{index:04}");
    let draining = index < options.drain_sites;
    let online_share =
        (options.rate * options.online_secs as f64 / options.sites as f64).ceil() as usize * 3 + 20;
    let wanted =
        options.day_events + if draining { options.drain_events } else { 0 } + online_share;
    let start = now_ms() - 86_400_000;
    let mut events: Vec<SiteEvent> = site_events::site_day(
        (run * 100_000 + index) as u64 + 1,
        wanted + 64,
        start,
        Extras::default(),
    );
    assert!(
        events.len() >= wanted,
        "site_day gave {} of {wanted} events",
        events.len()
    );
    events.truncate(wanted);
    let online: VecDeque<WireEvent> = events
        .split_off(options.day_events + if draining { options.drain_events } else { 0 })
        .into_iter()
        .map(|e| e.event)
        .collect();
    let drain_events = events.split_off(options.day_events);
    let day_events = events;
    let mut next_batch = 1;
    let day_head = options.day_events as u64;
    let day = site_events::batches(&tenant, &site, &day_events, DAY_CHUNK, index as u64)
        .into_iter()
        .map(|mut b| {
            b.batch = next_batch;
            next_batch += 1;
            let id = b.batch;
            let full = batch(&tenant, &site, id, b.lane, b.events, day_head);
            (id, full.encode(true).expect("encode"))
        })
        .collect();
    let drain_head = (options.day_events + drain_events.len()) as u64;
    let mut drain = Vec::new();
    for lane in Lane::ALL {
        let of_lane: Vec<WireEvent> = drain_events
            .iter()
            .filter(|e| e.lane == lane)
            .map(|e| e.event.clone())
            .collect();
        for chunk in of_lane.chunks(DRAIN_CHUNK) {
            let id = next_batch;
            next_batch += 1;
            let b = batch(&tenant, &site, id, lane, chunk.to_vec(), drain_head);
            drain.push((id, b.encode(true).expect("encode")));
        }
    }
    Plan {
        day,
        drain,
        online,
        next_batch,
    }
}

/// Sends `batches` keeping at most [`WINDOW`] unacked; returns when all are acked.
async fn send_all(site: &mut FakeSite, batches: Encoded) -> Result<(), String> {
    let mut pending: VecDeque<(u64, Vec<u8>)> = batches.into();
    let mut in_flight: HashSet<u64> = HashSet::new();
    loop {
        while in_flight.len() < WINDOW
            && let Some((id, bytes)) = pending.pop_front()
        {
            site.send_encoded(bytes)
                .await
                .map_err(|e| format!("{}: send: {e}", site.site))?;
            in_flight.insert(id);
        }
        if in_flight.is_empty() {
            return Ok(());
        }
        match site.next_ack(Duration::from_secs(120)).await {
            Some(ack) => {
                if let Some(id) = ack.batch {
                    in_flight.remove(&id);
                }
            }
            None => {
                return Err(format!(
                    "{}/{}: no ack for 120 s ({} in flight)",
                    site.tenant,
                    site.site,
                    in_flight.len()
                ));
            }
        }
    }
}

/// Emits events at `interval` for `secs`, each sent at once as the edge does when woken (what
/// waits for the window goes in the next batch); returns commit → ack latencies, ms.
async fn online(
    site: &mut FakeSite,
    mut events: VecDeque<WireEvent>,
    mut next_batch: u64,
    interval: Duration,
    secs: u64,
) -> Result<(Vec<f64>, u64, u64), String> {
    let start = tokio::time::Instant::now();
    let deadline = start + Duration::from_secs(secs);
    let mut next_tick = start + interval.mul_f64(fastrand::f64());
    let mut unsent: Vec<WireEvent> = Vec::new();
    let mut in_flight: HashMap<u64, Vec<i64>> = HashMap::new();
    let mut latencies = Vec::new();
    let (mut sent_events, mut sent_batches) = (0u64, 0u64);
    let mut head = events.front().map_or(0, |e| e.seq - 1);
    loop {
        let emitting = next_tick < deadline && !events.is_empty();
        if !emitting && unsent.is_empty() && in_flight.is_empty() {
            return Ok((latencies, sent_events, sent_batches));
        }
        if tokio::time::Instant::now() > deadline + Duration::from_secs(120) {
            return Err(format!(
                "{}/{}: online acks missing after 120 s",
                site.tenant, site.site
            ));
        }
        let wake = if emitting {
            next_tick
        } else {
            deadline + Duration::from_secs(3600)
        };
        tokio::select! {
            () = tokio::time::sleep_until(wake) => {
                if let Some(mut event) = events.pop_front() {
                    event.occurred_at = now_ms();
                    head = event.seq;
                    unsent.push(event);
                }
                next_tick += interval;
            }
            ack = site.next_ack(Duration::from_secs(5)) => {
                if let Some(id) = ack.and_then(|a| a.batch) {
                    let at = now_ms_f64();
                    for committed in in_flight.remove(&id).unwrap_or_default() {
                        latencies.push(at - committed as f64);
                    }
                }
            }
        }
        if !unsent.is_empty() && in_flight.len() < WINDOW {
            // The edge sends a lane's events together; here the lane of the first.
            let events = std::mem::take(&mut unsent);
            let id = next_batch;
            next_batch += 1;
            let lane = Lane::Events;
            let times: Vec<i64> = events.iter().map(|e| e.occurred_at).collect();
            sent_events += events.len() as u64;
            sent_batches += 1;
            let bytes = batch(&site.tenant, &site.site, id, lane, events, head)
                .encode(true)
                .map_err(|e| e.to_string())?;
            site.send_encoded(bytes)
                .await
                .map_err(|e| format!("{}: send: {e}", site.site))?;
            in_flight.insert(id, times);
        }
    }
}

/// Runs `job` on every site at once; returns the sites and the breaches.
async fn on_every<F, Fut>(
    sites: Vec<FakeSite>,
    mut job: F,
) -> (Vec<FakeSite>, Vec<String>, Vec<f64>)
where
    F: FnMut(usize, FakeSite) -> Fut,
    Fut: Future<Output = (FakeSite, Result<Vec<f64>, String>)> + Send + 'static,
{
    let tasks: Vec<_> = sites
        .into_iter()
        .enumerate()
        .map(|(i, site)| tokio::spawn(job(i, site)))
        .collect();
    let mut back = Vec::new();
    let mut breaches = Vec::new();
    let mut latencies = Vec::new();
    for task in tasks {
        let (site, result) = task.await.expect("site task");
        match result {
            Ok(mut l) => latencies.append(&mut l),
            Err(e) => breaches.push(e),
        }
        back.push(site);
    }
    (back, breaches, latencies)
}

fn check_counts(cloud: &Cloud, expected: u64, phase: &mut Phase) {
    let through = cloud.query_i64("SELECT sum(through)::bigint FROM site_cursors");
    let projected = cloud.query_i64("SELECT sum(events)::bigint FROM site_health");
    let stored = cloud.query_i64("SELECT count(*) FROM events");
    let failures = cloud.query_i64("SELECT count(*) FROM projection_failures");
    let expected = expected as i64;
    if (through, projected, stored, failures) != (expected, expected, expected, 0) {
        phase.breaches.push(format!(
            "expected {expected} events everywhere: cursors {through}, site_health {projected}, events {stored}, projection failures {failures}"
        ));
    }
}

fn run_once(options: &Options, processes: usize, run: usize) -> Run {
    let dir = tempfile::Builder::new()
        .prefix("sitebox-fleet-")
        .tempdir()
        .expect("temp dir");
    let names: Vec<(String, String)> = (0..options.sites)
        .map(|i| (format!("t{:02}", i / SITES_PER_TENANT), format!("s{i:04}")))
        .collect();
    let pairs: Vec<(&str, &str)> = names
        .iter()
        .map(|(t, s)| (t.as_str(), s.as_str()))
        .collect();
    let setup = Instant::now();
    let mut cloud = Cloud::start(&options.cloud, dir.path(), &pairs);
    for p in 0..processes {
        cloud.start_process_with(options.workers, 60, &[], &["--sweep-every-ms", "5000"]);
        cloud.wait_ready(p);
    }
    let plans: Vec<Plan> = (0..options.sites).map(|i| plan(options, run, i)).collect();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let port = cloud.broker.port();
    let mut sites: Vec<FakeSite> = runtime.block_on(async {
        let mut sites = Vec::new();
        for chunk in names.chunks(100) {
            let connecting: Vec<_> = chunk
                .iter()
                .map(|(t, s)| {
                    let (t, s) = (t.clone(), s.clone());
                    tokio::spawn(async move { FakeSite::connect(port, &t, &s).await })
                })
                .collect();
            for c in connecting {
                let site = c.await.expect("task").expect("connect");
                site.status(true).await.expect("status");
                sites.push(site);
            }
        }
        sites
    });
    // Let the presence messages and the first acks settle.
    std::thread::sleep(Duration::from_secs(2));
    eprintln!(
        "run {run}, {processes} process(es): {} sites connected, set up in {:.1} s",
        sites.len(),
        setup.elapsed().as_secs_f64()
    );
    let mut plans = plans;
    let mut expected = 0u64;

    // 1. The day.
    let mut day = Phase::default();
    let batches: Vec<Encoded> = plans
        .iter_mut()
        .map(|p| std::mem::take(&mut p.day))
        .collect();
    day.batches = batches.iter().map(|b| b.len() as u64).sum();
    day.events = (options.day_events * options.sites) as u64;
    let mark = cpu_mark();
    let start = Instant::now();
    let mut batches = batches.into_iter().map(Some).collect::<Vec<_>>();
    let (back, breaches, _) = runtime.block_on(on_every(sites, |i, mut site| {
        let mine = batches[i].take().unwrap_or_default();
        async move {
            let result = send_all(&mut site, mine).await.map(|()| Vec::new());
            (site, result)
        }
    }));
    day.secs = start.elapsed().as_secs_f64();
    day.cpu = cpu_since(&mark);
    day.breaches = breaches;
    sites = back;
    expected += day.events;
    check_counts(&cloud, expected, &mut day);
    eprintln!(
        "  day: {} events in {:.1} s = {:.0} events/s",
        day.events,
        day.secs,
        day.rate()
    );

    // 2. The drain: 200 sites back from an outage.
    let mut drain = Phase::default();
    runtime.block_on(async {
        for site in sites.iter().take(options.drain_sites) {
            site.status(false).await.expect("status");
        }
    });
    std::thread::sleep(Duration::from_secs(1));
    let batches: Vec<Option<Encoded>> = plans
        .iter_mut()
        .enumerate()
        .map(|(i, p)| (i < options.drain_sites).then(|| std::mem::take(&mut p.drain)))
        .collect();
    drain.batches = batches.iter().flatten().map(|b| b.len() as u64).sum();
    drain.events = (options.drain_events * options.drain_sites) as u64;
    let mark = cpu_mark();
    let start = Instant::now();
    let mut batches = batches;
    let (back, breaches, _) = runtime.block_on(on_every(sites, |i, mut site| {
        let mine = batches[i].take();
        async move {
            let Some(mine) = mine else {
                return (site, Ok(Vec::new()));
            };
            if let Err(e) = site.status(true).await {
                return (site, Err(e.to_string()));
            }
            let result = send_all(&mut site, mine).await.map(|()| Vec::new());
            (site, result)
        }
    }));
    drain.secs = start.elapsed().as_secs_f64();
    drain.cpu = cpu_since(&mark);
    drain.breaches = breaches;
    sites = back;
    expected += drain.events;
    check_counts(&cloud, expected, &mut drain);
    eprintln!(
        "  drain: {} events in {:.1} s = {:.0} events/s",
        drain.events,
        drain.secs,
        drain.rate()
    );

    // 3. Online.
    let mut on = Phase::default();
    let interval = Duration::from_secs_f64(options.sites as f64 / options.rate);
    let secs = options.online_secs;
    let work: Vec<Option<(VecDeque<WireEvent>, u64)>> = plans
        .iter_mut()
        .map(|p| Some((std::mem::take(&mut p.online), p.next_batch)))
        .collect();
    let mut work = work;
    let counts = std::sync::Arc::new(std::sync::Mutex::new((0u64, 0u64)));
    let mark = cpu_mark();
    let start = Instant::now();
    let (sites, breaches, mut latencies) = runtime.block_on(on_every(sites, |i, mut site| {
        let (events, next) = work[i].take().unwrap_or_default();
        let counts = counts.clone();
        async move {
            let result = online(&mut site, events, next, interval, secs).await.map(
                |(latencies, events, batches)| {
                    if let Ok(mut c) = counts.lock() {
                        c.0 += events;
                        c.1 += batches;
                    }
                    latencies
                },
            );
            (site, result)
        }
    }));
    on.secs = start.elapsed().as_secs_f64();
    on.cpu = cpu_since(&mark);
    on.breaches = breaches;
    (on.events, on.batches) = counts.lock().map_or((0, 0), |c| *c);
    latencies.sort_by(f64::total_cmp);
    on.latencies = latencies;
    expected += on.events;
    check_counts(&cloud, expected, &mut on);
    eprintln!(
        "  online: {} events, p50 {:.1} ms, p99 {:.1} ms",
        on.events,
        on.percentile(50.0),
        on.percentile(99.0)
    );
    drop(sites);
    drop(runtime);
    if options.keep {
        eprintln!("  kept {}", dir.keep().display());
    }
    Run {
        processes,
        day,
        drain,
        online: on,
    }
}

fn median(mut values: Vec<f64>) -> f64 {
    values.retain(|v| v.is_finite());
    if values.is_empty() {
        return f64::NAN;
    }
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn print_runs(options: &Options, runs: &[Run]) {
    println!(
        "\nfleet: {} sites in {} tenants, {} events each for the day; drain {} sites × {} events; online {:.0} events/s for {} s; {} ingest workers per process",
        options.sites,
        options.sites.div_ceil(SITES_PER_TENANT),
        options.day_events,
        options.drain_sites,
        options.drain_events,
        options.rate,
        options.online_secs,
        options.workers
    );
    let mut by_processes: BTreeMap<usize, Vec<&Run>> = BTreeMap::new();
    for run in runs {
        by_processes.entry(run.processes).or_default().push(run);
    }
    println!("\n| measure | processes | runs | median |");
    println!("|---|---:|---|---:|");
    let mut medians: BTreeMap<(usize, &str), f64> = BTreeMap::new();
    type Measure = (&'static str, fn(&Run) -> f64, usize);
    let measures: &[Measure] = &[
        ("day: events/s projected", |r| r.day.rate(), 0),
        ("day: batches/s", |r| r.day.batches as f64 / r.day.secs, 0),
        (
            "day: PostgreSQL share of service CPU, %",
            |r| r.day.cpu.postgres_share() * 100.0,
            1,
        ),
        (
            "day: CPU s postgres / cloud / broker / sites / machine",
            |r| r.day.cpu.postgres,
            1,
        ),
        ("drain: events/s projected", |r| r.drain.rate(), 0),
        (
            "drain: PostgreSQL share of service CPU, %",
            |r| r.drain.cpu.postgres_share() * 100.0,
            1,
        ),
        (
            "drain: CPU s postgres / cloud / broker / sites / machine",
            |r| r.drain.cpu.postgres,
            1,
        ),
        ("online: events/s", |r| r.online.rate(), 0),
        (
            "online: commit → projected, p50 ms",
            |r| r.online.percentile(50.0),
            1,
        ),
        (
            "online: commit → projected, p99 ms",
            |r| r.online.percentile(99.0),
            1,
        ),
        (
            "online: commit → projected, max ms",
            |r| r.online.percentile(100.0),
            1,
        ),
        (
            "online: PostgreSQL share of service CPU, %",
            |r| r.online.cpu.postgres_share() * 100.0,
            1,
        ),
    ];
    for (processes, runs) in &by_processes {
        for (name, measure, digits) in measures {
            let cells: Vec<String> = if name.contains("CPU s") {
                runs.iter()
                    .map(|r| {
                        let c = if name.starts_with("day") {
                            &r.day.cpu
                        } else {
                            &r.drain.cpu
                        };
                        format!(
                            "{:.1} / {:.1} / {:.1} / {:.1} / {:.1}",
                            c.postgres, c.cloud, c.broker, c.sites, c.machine
                        )
                    })
                    .collect()
            } else {
                runs.iter()
                    .map(|r| format!("{:.*}", *digits, measure(r)))
                    .collect()
            };
            let m = median(runs.iter().map(|r| measure(r)).collect());
            medians.insert((*processes, name), m);
            println!(
                "| {name} | {processes} | {} | {} |",
                cells.join(", "),
                if name.contains("CPU s") {
                    String::from("")
                } else {
                    format!("{m:.*}", *digits)
                }
            );
        }
    }
    if let (Some(one), Some(two)) = (
        medians.get(&(1, "day: events/s projected")),
        medians.get(&(2, "day: events/s projected")),
    ) {
        println!("\nday, 2 processes ÷ 1: {:.2}", two / one);
    }
    if let (Some(one), Some(two)) = (
        medians.get(&(1, "drain: events/s projected")),
        medians.get(&(2, "drain: events/s projected")),
    ) {
        println!("drain, 2 processes ÷ 1: {:.2}", two / one);
    }
    if let Some(rate) = medians.get(&(1, "day: events/s projected")) {
        println!(
            "goal ≥ {GOAL_RATE:.0} events/s with one process (day): {}",
            if *rate >= GOAL_RATE { "met" } else { "NOT met" }
        );
    }
    if let Some(p99) = medians.get(&(1, "online: commit → projected, p99 ms")) {
        println!(
            "goal p99 < {GOAL_P99_MS:.0} ms online (one process): {}",
            if *p99 < GOAL_P99_MS { "met" } else { "NOT met" }
        );
    }
    let breaches: Vec<&String> = runs
        .iter()
        .flat_map(|r| {
            r.day
                .breaches
                .iter()
                .chain(&r.drain.breaches)
                .chain(&r.online.breaches)
        })
        .collect();
    if !breaches.is_empty() {
        println!("\nBREACHES:");
        for b in breaches {
            println!("- {b}");
        }
    }
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // cargo bench --list
    }
    let options = Options::from_env();
    let mut runs = Vec::new();
    for run in 0..options.runs {
        for &processes in &options.processes {
            runs.push(run_once(&options, processes, run));
        }
    }
    print_runs(&options, &runs);
    let failed = runs.iter().any(|r| {
        !(r.day.breaches.is_empty() && r.drain.breaches.is_empty() && r.online.breaches.is_empty())
    });
    if failed {
        std::process::exit(1);
    }
}
