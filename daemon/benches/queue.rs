//! Queue throughput on this machine's disk, `synchronous=FULL` and `NORMAL` side by side.
//!
//! `cargo bench -p sitebox --bench queue` prints, per setting, the median of 3 runs of:
//! - enqueue, one job per awaited write (each its own commit);
//! - enqueue from 64 concurrent tasks (the writer groups them into shared commits);
//! - enqueue batched, 1,000 jobs per transaction;
//! - claim + complete through the queue runner (8 workers, a handler that does nothing).
//!
//! The database lives under target/, on the same disk as a real install would use.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use sitebox::clock::{Clock, SharedClock, SystemClock};
use sitebox::config::{StoreConfig, Synchronous};
use sitebox::model::job::{ClaimedJob, JobSpec};
use sitebox::queue::{Backoff, Handlers, QueueRunner, RunnerSettings};
use sitebox::store::{Opener, Store, StoreError, jobs};
use tokio_util::sync::CancellationToken;

const RUNS: usize = 3;

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/bench-queue");
    let _ = std::fs::remove_dir_all(&root);
    println!("queue benchmark: median of {RUNS} runs, jobs/s");
    println!("{:<44} {:>12} {:>12} {:>8}", "", "FULL", "NORMAL", "ratio");
    type Case = fn(&Store) -> Pin<Box<dyn Future<Output = f64> + '_>>;
    let cases: [(&str, Case); 4] = [
        ("enqueue, one commit each", |s| {
            Box::pin(enqueue_single(s, 2_000))
        }),
        ("enqueue, 64 concurrent tasks (group commit)", |s| {
            Box::pin(enqueue_concurrent(s, 64, 200))
        }),
        ("enqueue, 1,000 per transaction", |s| {
            Box::pin(enqueue_batched(s, 100, 1_000))
        }),
        ("claim + complete, 8 workers", |s| {
            Box::pin(claim_complete(s, 20_000))
        }),
    ];
    for (name, case) in cases {
        let mut medians = Vec::new();
        for synchronous in [Synchronous::Full, Synchronous::Normal] {
            let mut rates = Vec::new();
            for run in 0..RUNS {
                let dir =
                    root.join(format!("{name}-{synchronous:?}-{run}").replace([' ', ','], "_"));
                let store = open(&dir, synchronous);
                rates.push(runtime.block_on(case(&store)));
                drop(store);
                let _ = std::fs::remove_dir_all(&dir);
            }
            rates.sort_by(f64::total_cmp);
            medians.push(rates[RUNS / 2]);
        }
        println!(
            "{name:<44} {:>12.0} {:>12.0} {:>8.2}",
            medians[0],
            medians[1],
            medians[1] / medians[0]
        );
    }
    let _ = std::fs::remove_dir_all(&root);
}

fn open(dir: &std::path::Path, synchronous: Synchronous) -> Store {
    let config = StoreConfig {
        data_dir: dir.to_path_buf(),
        synchronous,
        ..StoreConfig::default()
    };
    Store::open(&config, Opener::Tool).expect("open store")
}

fn spec(n: usize) -> JobSpec {
    JobSpec::new(
        "default",
        "bench.noop",
        serde_json::json!({ "subscriber": n, "router": "r1" }),
    )
}

async fn enqueue_single(store: &Store, count: usize) -> f64 {
    let started = Instant::now();
    for n in 0..count {
        let now = SystemClock.now();
        store
            .write(move |tx| tx.enqueue(&spec(n), now))
            .await
            .expect("enqueue");
    }
    count as f64 / started.elapsed().as_secs_f64()
}

async fn enqueue_concurrent(store: &Store, tasks: usize, each: usize) -> f64 {
    let started = Instant::now();
    let mut handles = Vec::new();
    for t in 0..tasks {
        let store = store.clone();
        handles.push(tokio::spawn(async move {
            for n in 0..each {
                let now = SystemClock.now();
                store
                    .write(move |tx| tx.enqueue(&spec(t * each + n), now))
                    .await
                    .expect("enqueue");
            }
        }));
    }
    for handle in handles {
        handle.await.expect("task");
    }
    (tasks * each) as f64 / started.elapsed().as_secs_f64()
}

async fn enqueue_batched(store: &Store, transactions: usize, per: usize) -> f64 {
    let started = Instant::now();
    for t in 0..transactions {
        let now = SystemClock.now();
        store
            .write(move |tx| {
                for n in 0..per {
                    tx.enqueue(&spec(t * per + n), now)?;
                }
                Ok::<_, StoreError>(())
            })
            .await
            .expect("batch");
    }
    (transactions * per) as f64 / started.elapsed().as_secs_f64()
}

async fn claim_complete(store: &Store, count: usize) -> f64 {
    enqueue_batched(store, count / 1_000, 1_000).await;
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
    let started = Instant::now();
    let running = tokio::spawn(runner.run(shutdown.clone()));
    // Cheap while running: the handlers count; then the store confirms every completion.
    while ran.load(Ordering::Relaxed) < count {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    loop {
        let now = SystemClock.now();
        let stats = store
            .read(move |conn| jobs::stats(conn, now))
            .await
            .expect("stats");
        if stats.iter().map(|q| q.completed).sum::<u64>() >= count as u64 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let rate = count as f64 / started.elapsed().as_secs_f64();
    shutdown.cancel();
    running.await.expect("runner");
    rate
}
