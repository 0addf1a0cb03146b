//! Queue semantics against a real SQLite file.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::*;
use crate::clock::{Clock, ManualClock, SharedClock, SystemClock, Timestamp};
use crate::model::event::Actor;
use crate::model::job::{
    ClaimedJob, Enqueued, FailedJob, JobId, JobRow, JobSpec, JobState, RetryOutcome,
};
use crate::store::jobs::{self, ListFilter, Orphans};
use crate::store::testing::temp_store;
use crate::store::{Store, StoreError};

/// The operator's retry and discard of a failed job (the domain's actions), in a write each.
mod admin {
    use super::*;
    use crate::domain::DomainError;
    use crate::domain::jobs::{self, FailedJobId};

    pub(super) async fn retry(
        store: &Store,
        actor: Actor,
        job_id: JobId,
        now: Timestamp,
    ) -> Result<Option<RetryOutcome>, DomainError> {
        store
            .write(move |tx| jobs::retry(tx, &actor, now, FailedJobId { job_id }))
            .await
    }

    pub(super) async fn discard(
        store: &Store,
        actor: Actor,
        job_id: JobId,
        now: Timestamp,
    ) -> Result<Option<FailedJob>, DomainError> {
        store
            .write(move |tx| jobs::discard(tx, &actor, now, FailedJobId { job_id }))
            .await
    }
}

const T0: Timestamp = Timestamp::from_millis(1_800_000_000_000);

fn settings(lease: Duration, grace: Duration) -> RunnerSettings {
    RunnerSettings {
        lease,
        backoff: Backoff {
            base: Duration::from_secs(10),
            max: Duration::from_secs(3600),
        },
        rescue_every: Duration::from_millis(50),
        concurrency: [("default".to_string(), 2), ("maintenance".to_string(), 1)].into(),
        grace,
    }
}

async fn enqueue(store: &Store, spec: JobSpec, now: Timestamp) -> Enqueued {
    store
        .write(move |tx| tx.enqueue(&spec, now))
        .await
        .expect("enqueue")
}

fn job(store: &Store, id: JobId) -> Option<JobRow> {
    store
        .read_blocking(|conn| {
            jobs::list(
                conn,
                &ListFilter {
                    limit: 10_000,
                    ..ListFilter::default()
                },
            )
        })
        .expect("list")
        .into_iter()
        .find(|job| job.id == id)
}

fn failed(store: &Store) -> Vec<FailedJob> {
    store
        .read_blocking(|conn| jobs::failed(conn, 1000))
        .expect("failed")
}

/// Waits (in real time) until `check` holds; fails the test after 10 s.
async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    for _ in 0..1000 {
        if check() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out waiting for: {what}");
}

async fn claim(
    store: &Store,
    queue: &str,
    holder: &str,
    now: Timestamp,
    limit: u32,
) -> Vec<ClaimedJob> {
    let (queue, holder) = (queue.to_string(), holder.to_string());
    store
        .write(move |tx| {
            jobs::claim(
                tx,
                &queue,
                &holder,
                now,
                now.after(Duration::from_secs(30)),
                limit,
            )
        })
        .await
        .expect("claim")
}

#[tokio::test]
async fn an_enqueue_rolled_back_with_its_transaction_leaves_no_job() {
    let (store, _dir) = temp_store();
    let spec = JobSpec::new(
        "default",
        "provision",
        serde_json::json!({ "user": "alice" }),
    );
    let result: Result<(), StoreError> = store
        .write(move |tx| {
            tx.enqueue(&spec, T0)?;
            // The change that caused the job fails: both go.
            tx.execute("INSERT INTO no_such_table VALUES (1)", [])?;
            Ok(())
        })
        .await;
    assert!(result.is_err());
    assert!(claim(&store, "default", "w", T0, 10).await.is_empty());
    assert!(
        store
            .read_blocking(|conn| jobs::list(
                conn,
                &ListFilter {
                    limit: 10,
                    ..Default::default()
                }
            ))
            .expect("list")
            .is_empty()
    );
}

#[tokio::test]
async fn claims_follow_priority_then_run_at_then_id() {
    let (store, _dir) = temp_store();
    let a = enqueue(
        &store,
        JobSpec::new("default", "k", serde_json::json!("a")).priority(5),
        T0,
    )
    .await
    .id();
    let b = enqueue(
        &store,
        JobSpec::new("default", "k", serde_json::json!("b")).priority(0),
        T0,
    )
    .await
    .id();
    let c = enqueue(
        &store,
        JobSpec::new("default", "k", serde_json::json!("c"))
            .priority(0)
            .run_at(T0.before(Duration::from_secs(1))),
        T0,
    )
    .await
    .id();
    let d = enqueue(
        &store,
        JobSpec::new("default", "k", serde_json::json!("d")).priority(-1),
        T0,
    )
    .await
    .id();
    let other = enqueue(
        &store,
        JobSpec::new("payments", "k", serde_json::json!("p")),
        T0,
    )
    .await
    .id();
    let order: Vec<JobId> = claim(&store, "default", "w", T0, 10)
        .await
        .iter()
        .map(|j| j.id)
        .collect();
    // c's run_at was in the past at enqueue, so it is clamped to T0: same run_at as b, older id wins.
    assert_eq!(order, vec![d, b, c, a]);
    let payments: Vec<JobId> = claim(&store, "payments", "w", T0, 10)
        .await
        .iter()
        .map(|j| j.id)
        .collect();
    assert_eq!(payments, vec![other]);
}

#[tokio::test]
async fn the_claim_walks_its_index_without_sorting() {
    let (store, _dir) = temp_store();
    let plan: Vec<String> = store
        .read_blocking(|conn| {
            let sql = format!("EXPLAIN QUERY PLAN {}", jobs::CLAIM_SQL);
            let mut stmt = conn.prepare(&sql)?;
            let rows = stmt.query_map(rusqlite::params![0, "w", "default", 0, 1], |row| {
                row.get::<_, String>(3)
            })?;
            Ok::<_, StoreError>(rows.collect::<Result<_, _>>()?)
        })
        .expect("plan");
    let plan = plan.join("\n");
    assert!(plan.contains("jobs_claim"), "{plan}");
    assert!(
        !plan.contains("TEMP B-TREE"),
        "the claim must not sort: {plan}"
    );
}

#[tokio::test]
async fn a_delayed_job_is_claimed_only_once_due() {
    let (store, _dir) = temp_store();
    let id = enqueue(
        &store,
        JobSpec::new("default", "k", serde_json::json!({})).delay(Duration::from_secs(60)),
        T0,
    )
    .await
    .id();
    assert!(
        claim(&store, "default", "w", T0.after(Duration::from_secs(59)), 1)
            .await
            .is_empty()
    );
    let due = store
        .read_blocking(|conn| jobs::next_due(conn, "default"))
        .expect("due");
    assert_eq!(due, Some(T0.after(Duration::from_secs(60))));
    let claimed = claim(&store, "default", "w", T0.after(Duration::from_secs(60)), 1).await;
    assert_eq!(claimed.iter().map(|j| j.id).collect::<Vec<_>>(), vec![id]);
    assert_eq!(claimed[0].attempt, 1);
}

#[tokio::test]
async fn a_unique_key_admits_one_waiting_or_running_job() {
    let (store, _dir) = temp_store();
    let spec = || {
        JobSpec::new("provisioning", "provision", serde_json::json!({}))
            .unique("provision:alice:r1")
    };
    let first = enqueue(&store, spec(), T0).await;
    assert!(matches!(first, Enqueued::New(_)));
    assert_eq!(
        enqueue(&store, spec(), T0).await,
        Enqueued::Duplicate(first.id())
    );
    let held = claim(&store, "provisioning", "w", T0, 1).await;
    assert_eq!(
        enqueue(&store, spec(), T0).await,
        Enqueued::Duplicate(first.id()),
        "running still counts"
    );
    let done = store
        .write(move |tx| jobs::complete(tx, held[0].id, "w", T0))
        .await
        .expect("complete");
    assert!(done);
    let again = enqueue(&store, spec(), T0).await;
    assert!(
        matches!(again, Enqueued::New(id) if id != first.id()),
        "{again:?}"
    );
    // A different key is a different job.
    let other = enqueue(
        &store,
        JobSpec::new("provisioning", "provision", serde_json::json!({})).unique("provision:bob:r1"),
        T0,
    )
    .await;
    assert!(matches!(other, Enqueued::New(_)));
}

#[tokio::test]
async fn an_expired_lease_is_rescued_and_a_last_attempt_goes_to_the_failed_store() {
    let (store, _dir) = temp_store();
    let again = enqueue(
        &store,
        JobSpec::new("default", "k", serde_json::json!({})).max_attempts(3),
        T0,
    )
    .await
    .id();
    let last = enqueue(
        &store,
        JobSpec::new("default", "k", serde_json::json!({})).max_attempts(1),
        T0,
    )
    .await
    .id();
    claim(&store, "default", "dead-worker", T0, 2).await;
    // Before the lease runs out nothing is taken.
    let early = store
        .write(move |tx| {
            jobs::rescue(
                tx,
                &Orphans::LeaseExpired,
                T0.after(Duration::from_secs(29)),
            )
        })
        .await
        .expect("rescue");
    assert_eq!((early.requeued, early.failed.len()), (0, 0));
    let later = T0.after(Duration::from_secs(31));
    let rescued = store
        .write(move |tx| jobs::rescue(tx, &Orphans::LeaseExpired, later))
        .await
        .expect("rescue");
    assert_eq!(rescued.requeued, 1);
    assert_eq!(
        rescued.failed.iter().map(|j| j.id).collect::<Vec<_>>(),
        vec![last]
    );
    let row = job(&store, again).expect("requeued job");
    assert_eq!((row.state, row.attempt), (JobState::Available, 1));
    assert!(
        row.last_error
            .as_deref()
            .unwrap_or_default()
            .contains("lease expired")
    );
    let reclaimed = claim(&store, "default", "new-worker", later, 5).await;
    assert_eq!(
        reclaimed
            .iter()
            .map(|j| (j.id, j.attempt))
            .collect::<Vec<_>>(),
        vec![(again, 2)]
    );
}

#[tokio::test]
async fn the_start_up_rescue_takes_back_every_job_of_a_dead_process() {
    let (store, _dir) = temp_store();
    let id = enqueue(
        &store,
        JobSpec::new("default", "k", serde_json::json!({})),
        T0,
    )
    .await
    .id();
    claim(&store, "default", "previous-run", T0, 1).await;
    let clock: SharedClock = Arc::new(ManualClock::new(T0));
    let runner = QueueRunner::new(
        store.clone(),
        clock,
        Handlers::new(),
        settings(Duration::from_secs(30), Duration::from_secs(1)),
    );
    // Its lease has not expired, but its holder is not this run: it is taken back at once.
    let rescued = runner.rescue_at_start().await.expect("rescue");
    assert_eq!(rescued.requeued, 1);
    assert_eq!(job(&store, id).expect("job").state, JobState::Available);
}

#[tokio::test]
async fn failures_retry_on_the_backoff_schedule_then_land_in_the_failed_store() {
    let (store, _dir) = temp_store();
    let clock = ManualClock::new(T0);
    let shared: SharedClock = Arc::new(clock.clone());
    let runs = Arc::new(AtomicU32::new(0));
    let mut handlers = Handlers::new();
    let counter = Arc::clone(&runs);
    handlers.register("flaky", move |job: ClaimedJob| {
        counter.fetch_add(1, Ordering::SeqCst);
        async move {
            Err(JobError::retry(format!(
                "router unreachable (attempt {})",
                job.attempt
            )))
        }
    });
    let mut events = store.bus().subscribe();
    let runner = QueueRunner::new(
        store.clone(),
        shared,
        handlers,
        settings(Duration::from_secs(30), Duration::from_secs(1)),
    );
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(runner.run(shutdown.clone()));
    let id = enqueue(
        &store,
        JobSpec::new("default", "flaky", serde_json::json!({})).max_attempts(4),
        T0,
    )
    .await
    .id();

    let backoff = settings(Duration::ZERO, Duration::ZERO).backoff;
    for attempt in 1..4u32 {
        eventually("the attempt fails and is rescheduled", || {
            job(&store, id).is_some_and(|j| j.attempt == attempt && j.state == JobState::Available)
        })
        .await;
        let row = job(&store, id).expect("job");
        let delay = row.run_at.since(clock.now());
        let nominal = backoff.nominal(attempt);
        assert!(
            delay >= nominal.mul_f64(0.8) && delay <= nominal.mul_f64(1.2),
            "attempt {attempt}: delay {delay:?}, nominal {nominal:?}"
        );
        assert_eq!(
            row.last_error.as_deref(),
            Some(format!("router unreachable (attempt {attempt})").as_str())
        );
        // Not before it is due: the clock has not moved, so nothing more runs.
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(runs.load(Ordering::SeqCst), attempt);
        clock.advance(delay);
        store.wakeups().wake_all();
    }
    eventually("the last attempt moves the job to the failed store", || {
        !failed(&store).is_empty()
    })
    .await;
    let gone = failed(&store);
    assert_eq!(gone[0].id, id);
    assert_eq!(gone[0].attempts, 4);
    assert_eq!(gone[0].error, "router unreachable (attempt 4)");
    assert_eq!(
        gone[0].errors.as_array().map(Vec::len),
        Some(4),
        "every attempt's error is kept"
    );
    assert!(job(&store, id).is_none());
    let event = events.recv().await.expect("JobFailed event");
    assert_eq!(event.kind, crate::model::event::EventKind::JobFailed);
    assert_eq!(event.payload["job_id"], id.0);
    shutdown.cancel();
    task.await.expect("runner");
}

#[tokio::test]
async fn a_failed_job_retried_runs_again_under_its_own_id() {
    let (store, _dir) = temp_store();
    let shared: SharedClock = Arc::new(SystemClock);
    let fail = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let mut handlers = Handlers::new();
    let switch = Arc::clone(&fail);
    handlers.register("send", move |_job: ClaimedJob| {
        let failing = switch.load(Ordering::SeqCst);
        async move {
            if failing {
                Err(JobError::discard("bad receipt"))
            } else {
                Ok(())
            }
        }
    });
    let runner = QueueRunner::new(
        store.clone(),
        shared,
        handlers,
        settings(Duration::from_secs(30), Duration::from_secs(1)),
    );
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(runner.run(shutdown.clone()));
    let now = SystemClock.now();
    let id = enqueue(
        &store,
        JobSpec::new("default", "send", serde_json::json!({})).unique("send:1"),
        now,
    )
    .await
    .id();
    eventually(
        "a discarded attempt goes straight to the failed store",
        || failed(&store).len() == 1,
    )
    .await;
    assert_eq!(
        failed(&store)[0].attempts,
        1,
        "discard skips the remaining attempts"
    );

    fail.store(false, Ordering::SeqCst);
    let outcome = admin::retry(&store, Actor::Cli, id, SystemClock.now())
        .await
        .expect("retry");
    assert_eq!(outcome, Some(RetryOutcome::Requeued(id)));
    eventually("the retried job completes", || {
        job(&store, id).is_some_and(|j| j.state == JobState::Completed)
    })
    .await;
    assert!(failed(&store).is_empty());
    assert_eq!(
        admin::retry(&store, Actor::Cli, id, SystemClock.now())
            .await
            .expect("retry"),
        None
    );
    shutdown.cancel();
    task.await.expect("runner");
}

#[tokio::test]
async fn retrying_a_failed_job_whose_key_is_taken_folds_it_into_the_waiting_one() {
    let (store, _dir) = temp_store();
    let spec = || {
        JobSpec::new("default", "k", serde_json::json!({}))
            .unique("key")
            .max_attempts(1)
    };
    let first = enqueue(&store, spec(), T0).await.id();
    claim(&store, "default", "w", T0, 1).await;
    store
        .write(move |tx| jobs::fail(tx, first, "w", "boom", T0))
        .await
        .expect("fail")
        .expect("held");
    let second = enqueue(&store, spec(), T0).await.id();
    assert_ne!(first, second);
    let outcome = admin::retry(&store, Actor::Cli, first, T0)
        .await
        .expect("retry");
    assert_eq!(outcome, Some(RetryOutcome::Merged(second)));
    assert!(failed(&store).is_empty());
    // Discard.
    claim(&store, "default", "w", T0, 1).await;
    store
        .write(move |tx| jobs::fail(tx, second, "w", "boom", T0))
        .await
        .expect("fail")
        .expect("held");
    let discarded = admin::discard(&store, Actor::Cli, second, T0)
        .await
        .expect("discard");
    assert_eq!(discarded.map(|j| j.id), Some(second));
    assert!(failed(&store).is_empty());
    assert!(
        admin::discard(&store, Actor::Cli, second, T0)
            .await
            .expect("discard")
            .is_none()
    );
}

#[tokio::test]
async fn an_attempt_past_its_timeout_is_cut_off_and_a_panic_is_a_failed_attempt() {
    let (store, _dir) = temp_store();
    let shared: SharedClock = Arc::new(SystemClock);
    let mut handlers = Handlers::new();
    handlers.register("slow", |_job: ClaimedJob| async {
        tokio::time::sleep(Duration::from_secs(30)).await;
        Ok(())
    });
    handlers.register("buggy", |_job: ClaimedJob| async {
        panic!("index out of range")
    });
    let runner = QueueRunner::new(
        store.clone(),
        shared,
        handlers,
        settings(Duration::from_secs(30), Duration::from_secs(1)),
    );
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(runner.run(shutdown.clone()));
    let now = SystemClock.now();
    let slow = enqueue(
        &store,
        JobSpec::new("default", "slow", serde_json::json!({}))
            .timeout(Duration::from_millis(200))
            .max_attempts(1),
        now,
    )
    .await
    .id();
    let buggy = enqueue(
        &store,
        JobSpec::new("default", "buggy", serde_json::json!({})).max_attempts(1),
        now,
    )
    .await
    .id();
    let unknown = enqueue(
        &store,
        JobSpec::new("default", "no-such-kind", serde_json::json!({})),
        now,
    )
    .await
    .id();
    eventually("all three fail", || failed(&store).len() == 3).await;
    let errors: std::collections::HashMap<JobId, String> = failed(&store)
        .into_iter()
        .map(|j| (j.id, j.error))
        .collect();
    assert!(
        errors[&slow].starts_with("timed out after"),
        "{}",
        errors[&slow]
    );
    assert!(
        errors[&buggy].contains("panicked: index out of range"),
        "{}",
        errors[&buggy]
    );
    assert_eq!(errors[&unknown], "no handler for job kind `no-such-kind`");
    shutdown.cancel();
    task.await.expect("runner");
}

#[tokio::test]
async fn a_heartbeat_keeps_a_long_job_from_being_rescued() {
    let (store, _dir) = temp_store();
    let shared: SharedClock = Arc::new(SystemClock);
    let runs = Arc::new(AtomicU32::new(0));
    let counter = Arc::clone(&runs);
    let mut handlers = Handlers::new();
    handlers.register("long", move |_job: ClaimedJob| {
        counter.fetch_add(1, Ordering::SeqCst);
        async {
            tokio::time::sleep(Duration::from_millis(1200)).await;
            Ok(())
        }
    });
    // A 300 ms lease, checked every 50 ms, on a job that runs four times as long.
    let runner = QueueRunner::new(
        store.clone(),
        shared,
        handlers,
        settings(Duration::from_millis(300), Duration::from_secs(1)),
    );
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(runner.run(shutdown.clone()));
    let id = enqueue(
        &store,
        JobSpec::new("default", "long", serde_json::json!({})),
        SystemClock.now(),
    )
    .await
    .id();
    eventually("the long job completes", || {
        job(&store, id).is_some_and(|j| j.state == JobState::Completed)
    })
    .await;
    let row = job(&store, id).expect("job");
    assert_eq!(
        (row.attempt, runs.load(Ordering::SeqCst)),
        (1, 1),
        "ran once, never rescued"
    );
    shutdown.cancel();
    task.await.expect("runner");
}

#[tokio::test]
async fn a_commit_wakes_an_idle_worker() {
    let (store, _dir) = temp_store();
    let shared: SharedClock = Arc::new(SystemClock);
    let mut handlers = Handlers::new();
    handlers.register("quick", |_job: ClaimedJob| async { Ok(()) });
    let runner = QueueRunner::new(
        store.clone(),
        shared,
        handlers,
        settings(Duration::from_secs(30), Duration::from_secs(1)),
    );
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(runner.run(shutdown.clone()));
    // Let the dispatcher find nothing and go idle (no timer: nothing is scheduled).
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = std::time::Instant::now();
    let id = enqueue(
        &store,
        JobSpec::new("default", "quick", serde_json::json!({})),
        SystemClock.now(),
    )
    .await
    .id();
    eventually("the job completes", || {
        job(&store, id).is_some_and(|j| j.state == JobState::Completed)
    })
    .await;
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "woken, not polled: {:?}",
        started.elapsed()
    );
    shutdown.cancel();
    task.await.expect("runner");
}

#[tokio::test]
async fn shutdown_waits_for_the_grace_period_then_puts_running_jobs_back() {
    let (store, _dir) = temp_store();
    let shared: SharedClock = Arc::new(SystemClock);
    let mut handlers = Handlers::new();
    handlers.register("short", |_job: ClaimedJob| async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        Ok(())
    });
    handlers.register("endless", |_job: ClaimedJob| async {
        tokio::time::sleep(Duration::from_secs(3600)).await;
        Ok(())
    });
    let runner = QueueRunner::new(
        store.clone(),
        shared,
        handlers,
        settings(Duration::from_secs(30), Duration::from_millis(400)),
    );
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(runner.run(shutdown.clone()));
    let now = SystemClock.now();
    let short = enqueue(
        &store,
        JobSpec::new("default", "short", serde_json::json!({})),
        now,
    )
    .await
    .id();
    let endless = enqueue(
        &store,
        JobSpec::new("default", "endless", serde_json::json!({})),
        now,
    )
    .await
    .id();
    eventually("both run", || {
        [short, endless]
            .iter()
            .all(|id| job(&store, *id).is_some_and(|j| j.state == JobState::Running))
    })
    .await;
    let started = std::time::Instant::now();
    shutdown.cancel();
    task.await.expect("runner");
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(350) && took < Duration::from_secs(3),
        "{took:?}"
    );
    assert_eq!(
        job(&store, short).expect("short").state,
        JobState::Completed,
        "finished within the grace period"
    );
    let put_back = job(&store, endless).expect("endless");
    assert_eq!(
        (put_back.state, put_back.attempt),
        (JobState::Available, 0),
        "back, attempt not counted"
    );
}

#[tokio::test]
async fn a_periodic_job_is_enqueued_once_per_period_across_restarts() {
    let (store, _dir) = temp_store();
    let every = Duration::from_secs(3600);
    let jobs_list = vec![PeriodicJob::new(
        "sweep",
        every,
        JobSpec::new("maintenance", "sweep", serde_json::json!({})),
    )];
    let next = periodic::enqueue_due(&store, &jobs_list, T0)
        .await
        .expect("first");
    assert_eq!(next, T0.after(every));
    // A restart a minute later: not due again.
    let again = periodic::enqueue_due(&store, &jobs_list, T0.after(Duration::from_secs(60)))
        .await
        .expect("again");
    assert_eq!(again, T0.after(every));
    let waiting = |store: &Store| {
        store
            .read_blocking(|conn| {
                jobs::list(
                    conn,
                    &ListFilter {
                        queue: Some("maintenance".into()),
                        limit: 10,
                        ..Default::default()
                    },
                )
            })
            .expect("list")
            .len()
    };
    assert_eq!(waiting(&store), 1);
    // Due again, but the first run still waits: the unique key keeps it single.
    periodic::enqueue_due(&store, &jobs_list, T0.after(every))
        .await
        .expect("due");
    assert_eq!(waiting(&store), 1);
}

#[tokio::test]
async fn pruning_removes_only_old_completed_and_failed_jobs() {
    let (store, _dir) = temp_store();
    let old = enqueue(
        &store,
        JobSpec::new("default", "k", serde_json::json!({})),
        T0,
    )
    .await
    .id();
    let recent = enqueue(
        &store,
        JobSpec::new("default", "k", serde_json::json!({})),
        T0,
    )
    .await
    .id();
    let waiting = enqueue(
        &store,
        JobSpec::new("default", "k", serde_json::json!({})),
        T0,
    )
    .await
    .id();
    claim(&store, "default", "w", T0, 2).await;
    let later = T0.after(Duration::from_secs(7200));
    store
        .write(move |tx| {
            jobs::complete(tx, old, "w", T0)?;
            jobs::complete(tx, recent, "w", later)
        })
        .await
        .expect("complete");
    let pruned = store
        .write(move |tx| jobs::prune(tx, later.before(Duration::from_secs(3600)), later))
        .await
        .expect("prune");
    assert_eq!(
        pruned,
        jobs::Pruned {
            completed: 1,
            failed: 0
        }
    );
    assert!(job(&store, old).is_none());
    assert!(job(&store, recent).is_some());
    assert!(job(&store, waiting).is_some());
}
