//! A worker process for the queue crash test: it enqueues and runs jobs on a real store until it
//! is killed, printing `ENQUEUED <id>` only after each enqueue has committed, so the test knows
//! which jobs were acknowledged. Each job's effect is a row in `effects`, written before the job
//! completes (so a job may run twice, never zero times).
//!
//! Usage: `queue-crash-child DATA_DIR work` (enqueue and run until killed) or
//! `queue-crash-child DATA_DIR drain` (run what is left, then exit 0).

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use sitebox::clock::{SharedClock, SystemClock};
use sitebox::config::{StoreConfig, Synchronous};
use sitebox::model::job::{ClaimedJob, JobSpec};
use sitebox::queue::{Backoff, Handlers, JobError, QueueRunner, RunnerSettings};
use sitebox::store::{Opener, Store, StoreError, jobs};
use tokio_util::sync::CancellationToken;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(args.next().context("DATA_DIR")?);
    let drain = match args.next().as_deref() {
        Some("work") => false,
        Some("drain") => true,
        other => anyhow::bail!("mode must be work or drain, not {other:?}"),
    };
    let config = StoreConfig {
        data_dir: dir,
        synchronous: Synchronous::Full,
        ..StoreConfig::default()
    };
    let store = Store::open(&config, Opener::Daemon)?;
    store
        .write(|tx| {
            tx.execute_batch("CREATE TABLE IF NOT EXISTS effects (job_id INTEGER NOT NULL, attempt INTEGER NOT NULL)")?;
            Ok::<_, StoreError>(())
        })
        .await?;

    let clock: SharedClock = Arc::new(SystemClock);
    let mut handlers = Handlers::new();
    let effect_store = store.clone();
    handlers.register("crash.work", move |job: ClaimedJob| {
        let store = effect_store.clone();
        async move {
            tokio::time::sleep(Duration::from_millis(fastrand::u64(0..15))).await;
            store
                .write(move |tx| {
                    tx.execute(
                        "INSERT INTO effects (job_id, attempt) VALUES (?1, ?2)",
                        [job.id.0, i64::from(job.attempt)],
                    )?;
                    Ok::<_, StoreError>(())
                })
                .await
                .map_err(JobError::retry)
        }
    });
    let settings = RunnerSettings {
        lease: Duration::from_secs(30),
        backoff: Backoff {
            base: Duration::from_millis(10),
            max: Duration::from_millis(100),
        },
        rescue_every: Duration::from_secs(1),
        concurrency: [("default".to_string(), 4)].into(),
        grace: Duration::from_secs(1),
    };
    let runner = QueueRunner::new(store.clone(), clock.clone(), handlers, settings);
    runner.rescue_at_start().await?;
    let shutdown = CancellationToken::new();
    let running = tokio::spawn(runner.run(shutdown.clone()));

    if drain {
        loop {
            let now = clock.now();
            let left = store.read(move |conn| jobs::stats(conn, now)).await?;
            if left.iter().all(|q| q.due + q.scheduled + q.running == 0) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        shutdown.cancel();
        running.await?;
        return Ok(());
    }

    let mut stdout = std::io::stdout();
    writeln!(stdout, "READY")?;
    loop {
        // Bursts of concurrent enqueues exercise group commit under the kill.
        let burst = fastrand::usize(1..8);
        let mut pending = Vec::with_capacity(burst);
        for _ in 0..burst {
            let store = store.clone();
            let now = clock.now();
            pending.push(tokio::spawn(async move {
                let spec =
                    JobSpec::new("default", "crash.work", serde_json::json!({})).max_attempts(1000);
                store.write(move |tx| tx.enqueue(&spec, now)).await
            }));
        }
        for enqueue in pending {
            let id = enqueue.await??.id();
            writeln!(stdout, "ENQUEUED {id}")?;
        }
        tokio::time::sleep(Duration::from_millis(fastrand::u64(0..5))).await;
    }
}
