use std::sync::Arc;

use serde_json::json;
use sitebox_sync::edge::EdgeStore;
use sitebox_sync::wire::{Command, CommandState, VERSION};

use super::*;
use crate::clock::{SystemClock, Timestamp};
use crate::model::job::{JobId, JobSpec};
use crate::store::testing::temp_store;
use crate::store::{StoreError, jobs};

fn command(id: &str, kind: &str, payload: serde_json::Value) -> Command {
    Command {
        v: VERSION,
        id: id.into(),
        kind: kind.into(),
        payload,
        issued_at: 7,
    }
}

fn edge(store: &Store) -> DaemonEdge {
    DaemonEdge {
        store: store.clone(),
        clock: Arc::new(SystemClock),
        registry: registry(),
        backlog_max_bytes: 1 << 30,
        acked_retention: std::time::Duration::from_secs(60),
    }
}

/// A failed job: enqueue one with one attempt, claim it, fail it.
async fn failed_job(store: &Store) -> JobId {
    store
        .write(|tx| -> Result<JobId, StoreError> {
            let now = Timestamp::from_millis(1);
            let spec = JobSpec::new("default", "test.fail", json!({})).max_attempts(1);
            let crate::model::job::Enqueued::New(id) = tx.enqueue(&spec, now)? else {
                unreachable!("new job")
            };
            tx.execute(
                "INSERT INTO failed_jobs (id, queue, kind, args, priority, attempts, max_attempts,
                     timeout_ms, error, errors, created_at, failed_at)
                 SELECT id, queue, kind, args, priority, 1, max_attempts, timeout_ms, 'boom', '[]',
                     created_at, 2 FROM jobs WHERE id = ?1",
                [id.0],
            )?;
            tx.execute("DELETE FROM jobs WHERE id = ?1", [id.0])?;
            Ok(id)
        })
        .await
        .expect("failed job")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_command_is_applied_once_and_a_repeat_returns_the_first_result() {
    let (store, _dir) = temp_store();
    let job = failed_job(&store).await;
    let edge = edge(&store);
    let retry = command("c-1", "queue.retry_failed", json!({ "job_id": job.0 }));
    let first = edge.apply_command(retry.clone()).await.expect("apply");
    assert_eq!(first.state, CommandState::Applied, "{first:?}");
    assert!(!first.repeat);
    let again = edge.apply_command(retry).await.expect("apply");
    assert!(again.repeat);
    assert_eq!((again.state, &again.result), (first.state, &first.result));
    let retried = store
        .read(|c| -> Result<i64, StoreError> {
            Ok(c.query_row(
                "SELECT count(*) FROM outbox WHERE type = 'JobRetried'",
                [],
                |r| r.get(0),
            )?)
        })
        .await
        .expect("count");
    assert_eq!(retried, 1, "the effect happened once");
    let failed = store.read(|c| jobs::failed(c, 10)).await.expect("failed");
    assert!(failed.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_commands_are_dead_lettered_with_the_reason_and_change_nothing() {
    let (store, _dir) = temp_store();
    let edge = edge(&store);
    for (id, kind, payload, reason) in [
        ("c-1", "no.such.command", json!({}), "unknown command type"),
        (
            "c-2",
            "queue.retry_failed",
            json!({ "job": 1 }),
            "bad arguments",
        ),
        (
            "c-3",
            "queue.retry_failed",
            json!({ "job_id": 99 }),
            "no failed job 99",
        ),
        ("c-4", "resend_from", json!({ "seq": 0 }), "seq starts at 1"),
    ] {
        let result = edge
            .apply_command(command(id, kind, payload))
            .await
            .expect("apply");
        assert_eq!(result.state, CommandState::Rejected, "{id}");
        let error = result.result["error"].as_str().unwrap_or_default();
        assert!(error.contains(reason), "{id}: {error}");
        let repeat = edge
            .apply_command(command(id, kind, json!({})))
            .await
            .expect("apply");
        assert!(repeat.repeat && repeat.result == result.result, "{id}");
    }
    let status = store
        .read(crate::store::sync::status)
        .await
        .expect("status");
    assert_eq!((status.commands_applied, status.commands_rejected), (0, 4));
    assert_eq!(status.last_seq, 0, "no events from refused commands");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_cloud_edits_a_plan_once_and_null_removes_a_limit() {
    let (store, _dir) = temp_store();
    let mut edge = edge(&store);
    domain::register(
        &mut edge.registry,
        &crate::secrets::Secrets::from_key([9; 32]),
    );
    let create = command(
        "c-1",
        "plan.create",
        json!({ "name": "day", "price": 5000, "currency": "KES", "validity_s": 86400,
                "data_limit": 1000000, "rate_limit": "1M/2M" }),
    );
    assert_eq!(
        edge.apply_command(create).await.expect("apply").state,
        CommandState::Applied
    );
    let update = command(
        "c-2",
        "plan.update",
        json!({ "name": "day", "price": 6000, "data_limit": null, "rate_limit": "2M/4M" }),
    );
    let first = edge.apply_command(update.clone()).await.expect("apply");
    assert_eq!(first.state, CommandState::Applied, "{first:?}");
    assert!(edge.apply_command(update).await.expect("apply").repeat);
    let plan = store
        .read(|c| crate::store::plans::by_name(c, "day"))
        .await
        .expect("read")
        .expect("plan");
    assert_eq!(
        (
            plan.price,
            plan.data_limit,
            plan.rate_limit.as_deref(),
            plan.validity_s
        ),
        (6000, None, Some("2M/4M"), 86400),
        "left-out fields kept, null removed"
    );
    let updates: i64 = store
        .read(|c| -> Result<i64, StoreError> {
            Ok(c.query_row(
                "SELECT count(*) FROM outbox WHERE type = 'PlanUpdated'",
                [],
                |r| r.get(0),
            )?)
        })
        .await
        .expect("count");
    assert_eq!(updates, 1, "applied once");

    // A bad rate limit, an unknown field, an unknown plan: dead-lettered, nothing changed.
    for (id, payload, reason) in [
        (
            "c-3",
            json!({ "name": "day", "rate_limit": "fast" }),
            "rate",
        ),
        (
            "c-4",
            json!({ "name": "day", "colour": "red" }),
            "bad arguments",
        ),
        ("c-5", json!({ "name": "night", "price": 1 }), "night"),
    ] {
        let result = edge
            .apply_command(command(id, "plan.update", payload))
            .await
            .expect("apply");
        assert_eq!(result.state, CommandState::Rejected, "{id}");
        let error = result.result["error"].as_str().unwrap_or_default();
        assert!(error.contains(reason), "{id}: {error}");
    }
    let after = store
        .read(|c| crate::store::plans::by_name(c, "day"))
        .await
        .expect("read")
        .expect("plan");
    assert_eq!(after, plan);
}

/// Appends `n` outbox rows (with an audit row naming each) and returns their seqs.
async fn outbox_rows(store: &Store, n: usize) -> Vec<i64> {
    store
        .write(move |tx| -> Result<Vec<i64>, StoreError> {
            let mut seqs = Vec::new();
            for _ in 0..n {
                let seq: i64 = tx.query_row(
                    "INSERT INTO outbox (id, type, schema_version, lane, occurred_at, boot_id,
                         uptime_ms, subject, payload)
                     VALUES (lower(hex(randomblob(16))), 'SubscriberUpdated', 1, 'events', 1,
                         'b', 1, 'subscriber:1', '{}') RETURNING seq",
                    [],
                    |row| row.get(0),
                )?;
                tx.execute(
                    "INSERT INTO audit_log (at, actor, action, subject, detail, event_seq)
                     VALUES (1, 'cli', 'test', 'subscriber:1', '{}', ?1)",
                    [seq],
                )?;
                seqs.push(seq);
            }
            Ok(seqs)
        })
        .await
        .expect("outbox rows")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_restored_outbox_moves_the_events_written_since_above_the_clouds_cursor() {
    let (store, _dir) = temp_store();
    assert_eq!(outbox_rows(&store, 3).await, [1, 2, 3]);
    // `siteboxd restore` marks the copy; the cloud already holds seqs 1..=10.
    store
        .write(|tx| -> Result<(), StoreError> {
            tx.execute_batch(crate::store::sync::MARK_REWOUND)?;
            Ok(())
        })
        .await
        .expect("mark");
    assert_eq!(outbox_rows(&store, 2).await, [4, 5]);
    let edge = edge(&store);
    assert_eq!(edge.rewound().await.expect("rewound"), Some(3));
    assert_eq!(edge.resume_above(3, 10).await.expect("resume"), 7);
    let (seqs, audited): (Vec<i64>, Vec<i64>) = store
        .read(|conn| -> Result<_, StoreError> {
            let seqs = conn
                .prepare("SELECT seq FROM outbox ORDER BY seq")?
                .query_map([], |row| row.get(0))?
                .collect::<Result<Vec<i64>, _>>()?;
            let audited = conn
                .prepare("SELECT event_seq FROM audit_log ORDER BY id")?
                .query_map([], |row| row.get(0))?
                .collect::<Result<Vec<i64>, _>>()?;
            Ok((seqs, audited))
        })
        .await
        .expect("read");
    assert_eq!(seqs, [1, 2, 3, 11, 12]);
    assert_eq!(audited, [1, 2, 3, 11, 12]);
    assert_eq!(edge.rewound().await.expect("rewound"), None);
    assert_eq!(edge.head().await.expect("head"), Some(12));
    assert_eq!(
        outbox_rows(&store, 1).await,
        [13],
        "never below the cloud's cursor again"
    );
}
