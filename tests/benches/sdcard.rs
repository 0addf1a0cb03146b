//! Sitebox on an SD-card-class disk: every fsync of the box takes at least 10 ms
//! (`tests/sdcard/fsync-delay.c`, see `sitebox_tests::sdcard`). See docs/BENCHMARKS.md,
//! "On an SD-card-class disk".
//!
//! ```text
//! cargo bench -p sitebox-tests --bench sdcard                  # storm, accounting, queue; 3 runs each
//! SITEBOX_FSYNC_DELAY_MS=20 cargo bench -p sitebox-tests --bench sdcard
//! SITEBOX_BENCH_ONLY=storm SITEBOX_BENCH_RUNS=1 cargo bench -p sitebox-tests --bench sdcard
//! SITEBOX_STORM_SPREAD_MS=60000 …                              # customers spread over a minute
//! SITEBOX_BENCH_QUICK=1 …                                      # small and short
//! ```
//!
//! - **storm**: `sitebox_tests::storm`: the power-cut storm, 2,000 customers;
//! - **acct**: the real `siteboxd` under closed-loop Accounting-Requests (Start then Stop of a
//!   new session, 64 workers, 10 s after 2 s of warm-up): records acknowledged per second and
//!   syncs per record;
//! - **queue**: claim + complete through the queue runner (8 workers, a handler that does
//!   nothing, the store with `synchronous = FULL`), in a child process on the slow disk: jobs
//!   per second and per sync.

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use sitebox::clock::{Clock, SharedClock, SystemClock};
use sitebox::config::{StoreConfig, Synchronous};
use sitebox::model::job::{ClaimedJob, JobSpec};
use sitebox::queue::{Backoff, Handlers, QueueRunner, RunnerSettings};
use sitebox::store::{Opener, Store, StoreError, jobs};
use sitebox_radius::Secret;
use sitebox_tests::radius_bench;
use sitebox_tests::radius_load::{self, Load, Target};
use sitebox_tests::sdcard::SlowDisk;
use sitebox_tests::storm;
use tokio_util::sync::CancellationToken;

const SITEBOXD: &str = env!("CARGO_BIN_EXE_siteboxd-under-test");

fn env_number(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(0.0)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--queue-child") {
        let jobs: usize = args.get(3).and_then(|n| n.parse().ok()).unwrap_or(3_000);
        queue_child(std::path::Path::new(&args[2]), jobs);
        return;
    }
    let quick = std::env::var_os("SITEBOX_BENCH_QUICK").is_some();
    let runs = env_number("SITEBOX_BENCH_RUNS").unwrap_or(3).max(1) as usize;
    let delay = Duration::from_millis(env_number("SITEBOX_FSYNC_DELAY_MS").unwrap_or(10));
    let only = std::env::var("SITEBOX_BENCH_ONLY").unwrap_or_default();
    let wanted = |name: &str| only.is_empty() || only.split(',').any(|o| o == name);
    println!(
        "SD-card-class disk: every sync >= {} ms; {runs} run(s){}",
        delay.as_millis(),
        if quick { ", quick" } else { "" }
    );
    if wanted("storm") {
        bench_storm(quick, runs, delay);
    }
    if wanted("acct") {
        bench_acct(quick, runs, delay);
    }
    if wanted("queue") {
        bench_queue(quick, runs, delay);
    }
}

fn bench_storm(quick: bool, runs: usize, delay: Duration) {
    let mut settings = if quick {
        storm::Settings::quick()
    } else {
        storm::Settings::full()
    };
    settings.fsync_delay = delay;
    if let Some(ms) = env_number("SITEBOX_STORM_SPREAD_MS") {
        settings.spread = Duration::from_millis(ms);
    }
    let mut rows = Vec::new();
    for run in 1..=runs {
        let outcome = storm::run(SITEBOXD.as_ref(), &settings).expect("storm");
        print!("run {run} {}", outcome.text());
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        let [a50, a99, amax] = outcome.auth_percentiles();
        let [s50, s99, smax] = outcome.start_percentiles();
        let (_, peak_records, peak_fsyncs) = outcome.peak();
        rows.push([
            ms(a50),
            ms(a99),
            ms(amax),
            ms(s50),
            ms(s99),
            ms(smax),
            (outcome.auth_unanswered() + outcome.starts_unanswered()) as f64,
            outcome.records_per_fsync(),
            peak_records as f64 / peak_fsyncs.max(1) as f64,
            ms(outcome.wall),
            ms(outcome.restart),
        ]);
    }
    let column = |i: usize| median(rows.iter().map(|r| r[i]).collect());
    println!(
        "storm, median of {runs}: Access-Request p50 {:.1} / p99 {:.1} / max {:.1} ms; \
         Accounting-Start p50 {:.1} / p99 {:.1} / max {:.1} ms; unanswered {:.0} (sum {:.0}); \
         {:.1} records per sync, {:.1} at the peak; storm {:.0} ms; restart {:.0} ms\n",
        column(0),
        column(1),
        column(2),
        column(3),
        column(4),
        column(5),
        column(6),
        rows.iter().map(|r| r[6]).sum::<f64>(),
        column(7),
        column(8),
        column(9),
        column(10),
    );
}

fn bench_acct(quick: bool, runs: usize, delay: Duration) {
    let (users, concurrency, warmup, phase) = if quick {
        (200, 16, Duration::from_millis(200), Duration::from_secs(1))
    } else {
        (1_000, 64, Duration::from_secs(2), Duration::from_secs(10))
    };
    let logins = Arc::new(radius_bench::users(users));
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let mut rows = Vec::new();
    for run in 1..=runs {
        let dir = tempfile::tempdir().expect("temp dir");
        let disk = SlowDisk::new(dir.path(), delay);
        let mut daemon = radius_bench::start_sitebox_with_env(
            SITEBOXD.as_ref(),
            dir.path(),
            &logins,
            &disk.env(),
        );
        let (auth, acct) = daemon.radius_ports();
        let target = Target {
            auth: ([127, 0, 0, 1], auth).into(),
            acct: ([127, 0, 0, 1], acct).into(),
            secret: Secret::from(radius_bench::SECRET),
        };
        let pid = daemon.pid().expect("siteboxd runs");
        runtime.block_on(radius_load::closed_loop(
            &target,
            logins.clone(),
            Load::Acct,
            concurrency,
            warmup,
        ));
        let (before, cpu) = (disk.counts(), radius_bench::cpu_time(pid));
        let outcome = runtime.block_on(radius_load::closed_loop(
            &target,
            logins.clone(),
            Load::Acct,
            concurrency,
            phase,
        ));
        let syncs = disk.counts() - before;
        let cpu = radius_bench::cpu_time(pid).saturating_sub(cpu);
        assert!(daemon.stop().success(), "siteboxd: {}", daemon.log());
        let per_sync = outcome.ok as f64 / syncs.calls.max(1) as f64;
        println!(
            "run {run} acct: {:.0} records/s acknowledged ({} ok, {} lost), {} syncs: {:.3} syncs \
             per record, {:.1} records per sync; p50 {:.1} ms p99 {:.1} ms; {:.0} µs CPU per record",
            outcome.rate(),
            outcome.ok,
            outcome.lost,
            syncs.calls,
            1.0 / per_sync.max(f64::EPSILON),
            per_sync,
            outcome.percentile(50.0).as_secs_f64() * 1e3,
            outcome.percentile(99.0).as_secs_f64() * 1e3,
            cpu.as_secs_f64() * 1e6 / outcome.ok.max(1) as f64,
        );
        rows.push([outcome.rate(), per_sync]);
    }
    let column = |i: usize| median(rows.iter().map(|r| r[i]).collect());
    println!(
        "acct, median of {runs}: {:.0} records/s, {:.1} records per sync ({:.3} syncs per record)\n",
        column(0),
        column(1),
        1.0 / column(1).max(f64::EPSILON)
    );
}

fn bench_queue(quick: bool, runs: usize, delay: Duration) {
    let jobs = if quick { 300 } else { 3_000 };
    let me = std::env::current_exe().expect("current exe");
    let mut rows = Vec::new();
    for run in 1..=runs {
        let dir = tempfile::tempdir().expect("temp dir");
        let disk = SlowDisk::new(dir.path(), delay);
        let output = Command::new(&me)
            .arg("--queue-child")
            .arg(dir.path())
            .arg(jobs.to_string())
            .envs(disk.env())
            .output()
            .expect("run the queue child");
        let text = String::from_utf8_lossy(&output.stdout).into_owned();
        assert!(
            output.status.success(),
            "queue child: {text}{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let field = |name: &str| -> f64 {
            text.split_whitespace()
                .find_map(|w| w.strip_prefix(name))
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("no {name} in {text:?}"))
        };
        let (done, seconds, syncs) = (field("jobs="), field("seconds="), field("syncs="));
        println!(
            "run {run} queue: claim + complete {:.0} jobs/s ({done} jobs, {syncs} syncs: {:.2} \
             jobs per sync)",
            done / seconds,
            done / syncs.max(1.0)
        );
        rows.push([done / seconds, done / syncs.max(1.0)]);
    }
    let column = |i: usize| median(rows.iter().map(|r| r[i]).collect());
    println!(
        "queue, median of {runs}: claim + complete {:.0} jobs/s, {:.2} jobs per sync\n",
        column(0),
        column(1)
    );
}

/// In the child, on the slow disk: enqueue `count` jobs (1,000 per transaction), then run
/// them through the queue runner with 8 workers; prints the jobs, the seconds and the syncs of
/// the run phase.
fn queue_child(dir: &std::path::Path, count: usize) {
    let counts_path = std::env::var("SITEBOX_FSYNC_COUNTS").expect("SITEBOX_FSYNC_COUNTS");
    let read_calls = || {
        std::fs::read(&counts_path)
            .ok()
            .and_then(|b| b.get(..8).and_then(|b| b.try_into().ok()))
            .map_or(0, u64::from_le_bytes)
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let config = StoreConfig {
        data_dir: dir.join("data"),
        synchronous: Synchronous::Full,
        ..StoreConfig::default()
    };
    let store = Store::open(&config, Opener::Tool).expect("open store");
    runtime.block_on(async {
        for t in 0..count.div_ceil(1_000) {
            let now = SystemClock.now();
            let n = (count - t * 1_000).min(1_000);
            store
                .write(move |tx| {
                    for i in 0..n {
                        let spec = JobSpec::new(
                            "default",
                            "bench.noop",
                            serde_json::json!({ "subscriber": t * 1_000 + i, "router": "r1" }),
                        );
                        tx.enqueue(&spec, now)?;
                    }
                    Ok::<_, StoreError>(())
                })
                .await
                .expect("enqueue");
        }
        let ran = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&ran);
        let mut handlers = Handlers::new();
        handlers.register("bench.noop", move |_job: ClaimedJob| {
            counter.fetch_add(1, Ordering::Relaxed);
            async { Ok(()) }
        });
        let settings = RunnerSettings {
            lease: Duration::from_secs(30),
            backoff: Backoff {
                base: Duration::from_secs(1),
                max: Duration::from_secs(1),
            },
            rescue_every: Duration::from_secs(60),
            concurrency: [("default".to_string(), 8)].into(),
            grace: Duration::from_secs(5),
        };
        let clock: SharedClock = Arc::new(SystemClock);
        let runner = QueueRunner::new(store.clone(), clock, handlers, settings);
        let shutdown = CancellationToken::new();
        let syncs_before = read_calls();
        let started = Instant::now();
        let running = tokio::spawn(runner.run(shutdown.clone()));
        loop {
            let now = SystemClock.now();
            let stats = store
                .read(move |conn| jobs::stats(conn, now))
                .await
                .expect("stats");
            if stats.iter().map(|q| q.completed).sum::<u64>() >= count as u64 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let seconds = started.elapsed().as_secs_f64();
        let syncs = read_calls() - syncs_before;
        println!(
            "jobs={count} seconds={seconds:.3} syncs={syncs} handled={}",
            ran.load(Ordering::Relaxed)
        );
        shutdown.cancel();
        running.await.expect("runner");
    });
}
