//! The job queue's SQL: enqueue, claim, complete, retry, fail, rescue, and the admin commands.

use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, Row, params};

use super::StoreError;
use crate::clock::Timestamp;
use crate::model::job::{
    ClaimedJob, Enqueued, FailedJob, JobId, JobRow, JobSpec, JobState, QueueStats, RetryOutcome,
};

const UNIQUE_CONFLICT: &str = "ON CONFLICT (unique_key) WHERE unique_key IS NOT NULL AND state IN ('available', 'running') DO NOTHING";

fn json_text(value: &serde_json::Value) -> String {
    value.to_string()
}

fn parse_json(text: &str, what: &str) -> Result<serde_json::Value, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Decode(format!("{what}: {e}")))
}

/// A non-negative integer column (a count or a duration); NULL reads as 0.
fn count(row: &Row<'_>, index: usize) -> rusqlite::Result<u64> {
    Ok(row.get::<_, Option<i64>>(index)?.unwrap_or(0).max(0) as u64)
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

/// Inserts `spec`, or finds the waiting/running job with the same unique key.
pub fn insert(conn: &Connection, spec: &JobSpec, now: Timestamp) -> Result<Enqueued, StoreError> {
    let run_at = spec.run_at.unwrap_or(now).max(now.after(spec.delay));
    let id: Option<i64> = conn
        .prepare_cached(&format!(
            "INSERT INTO jobs (queue, kind, args, priority, state, max_attempts, run_at, timeout_ms,
                               unique_key, created_at)
             VALUES (?1, ?2, ?3, ?4, 'available', ?5, ?6, ?7, ?8, ?9)
             {UNIQUE_CONFLICT} RETURNING id"
        ))?
        .query_row(
            params![
                spec.queue,
                spec.kind,
                json_text(&spec.args),
                spec.priority,
                spec.max_attempts,
                run_at,
                millis(spec.timeout),
                spec.unique_key,
                now
            ],
            |row| row.get(0),
        )
        .optional()?;
    match id {
        Some(id) => Ok(Enqueued::New(JobId(id))),
        None => {
            let existing = pending_with_key(conn, spec.unique_key.as_deref().unwrap_or_default())?;
            Ok(Enqueued::Duplicate(existing))
        }
    }
}

fn pending_with_key(conn: &Connection, key: &str) -> Result<JobId, StoreError> {
    Ok(JobId(
        conn.prepare_cached(
            "SELECT id FROM jobs WHERE unique_key = ?1 AND state IN ('available', 'running')",
        )?
        .query_row([key], |row| row.get(0))?,
    ))
}

/// The claim statement. Its inner ORDER BY is exactly the `jobs_claim` index after the queue
/// equality, so SQLite walks the index and stops at `limit` rows.
pub const CLAIM_SQL: &str = "UPDATE jobs SET state = 'running', attempt = attempt + 1, locked_until = ?1, locked_by = ?2
     WHERE id IN (SELECT id FROM jobs
                  WHERE state = 'available' AND queue = ?3 AND run_at <= ?4
                  ORDER BY priority, run_at, id LIMIT ?5)
     RETURNING id, queue, kind, args, priority, run_at, attempt, max_attempts, timeout_ms, unique_key";

/// Claims up to `limit` due jobs of `queue` for `holder`, locked until `lease_until`; in the
/// order they should run.
pub fn claim(
    conn: &Connection,
    queue: &str,
    holder: &str,
    now: Timestamp,
    lease_until: Timestamp,
    limit: u32,
) -> Result<Vec<ClaimedJob>, StoreError> {
    let mut stmt = conn.prepare_cached(CLAIM_SQL)?;
    let mut rows = stmt.query(params![lease_until, holder, queue, now, limit])?;
    let mut jobs = Vec::new();
    while let Some(row) = rows.next()? {
        jobs.push(claimed(row)?);
    }
    jobs.sort_by_key(|job| (job.priority, job.run_at, job.id));
    Ok(jobs)
}

fn claimed(row: &Row<'_>) -> Result<ClaimedJob, StoreError> {
    let id = JobId(row.get(0)?);
    let args: String = row.get(3)?;
    Ok(ClaimedJob {
        id,
        queue: row.get(1)?,
        kind: row.get(2)?,
        args: parse_json(&args, &format!("job {id} args"))?,
        priority: row.get(4)?,
        run_at: row.get(5)?,
        attempt: row.get(6)?,
        max_attempts: row.get(7)?,
        timeout: Duration::from_millis(count(row, 8)?),
        unique_key: row.get(9)?,
    })
}

/// When the next waiting job of `queue` falls due, if any.
pub fn next_due(conn: &Connection, queue: &str) -> Result<Option<Timestamp>, StoreError> {
    Ok(conn
        .prepare_cached("SELECT MIN(run_at) FROM jobs WHERE state = 'available' AND queue = ?1")?
        .query_row([queue], |row| row.get(0))?)
}

/// Extends the lease of a job `holder` still holds. False when the lease was lost.
pub fn heartbeat(
    conn: &Connection,
    id: JobId,
    holder: &str,
    until: Timestamp,
) -> Result<bool, StoreError> {
    let changed = conn
        .prepare_cached(
            "UPDATE jobs SET locked_until = ?1 WHERE id = ?2 AND state = 'running' AND locked_by = ?3",
        )?
        .execute(params![until, id.0, holder])?;
    Ok(changed == 1)
}

/// Marks a held job done. False when `holder` no longer held it (its lease was rescued).
pub fn complete(
    conn: &Connection,
    id: JobId,
    holder: &str,
    now: Timestamp,
) -> Result<bool, StoreError> {
    let changed = conn
        .prepare_cached(
            "UPDATE jobs SET state = 'completed', finished_at = ?1, locked_until = NULL, locked_by = NULL
             WHERE id = ?2 AND state = 'running' AND locked_by = ?3",
        )?
        .execute(params![now, id.0, holder])?;
    Ok(changed == 1)
}

/// Puts a held job back to wait until `run_at`, recording `error` for this attempt.
pub fn retry_later(
    conn: &Connection,
    id: JobId,
    holder: &str,
    run_at: Timestamp,
    error: &str,
    now: Timestamp,
) -> Result<bool, StoreError> {
    let changed = conn
        .prepare_cached(
            "UPDATE jobs SET state = 'available', run_at = ?1, locked_until = NULL, locked_by = NULL,
                 errors = json_insert(errors, '$[#]', json_object('attempt', attempt, 'at', ?2, 'error', ?3))
             WHERE id = ?4 AND state = 'running' AND locked_by = ?5",
        )?
        .execute(params![run_at, now, error, id.0, holder])?;
    Ok(changed == 1)
}

/// Moves a held job to the failed store with `error`. None when `holder` no longer held it.
pub fn fail(
    conn: &Connection,
    id: JobId,
    holder: &str,
    error: &str,
    now: Timestamp,
) -> Result<Option<FailedJob>, StoreError> {
    let moved = move_to_failed(
        conn,
        "id = ?3 AND state = 'running' AND locked_by = ?4",
        params![error, now, id.0, holder],
    )?;
    Ok(moved.into_iter().next())
}

/// Moves the jobs matching `condition` (over `jobs`, with `?1` = error, `?2` = now) to the
/// failed store.
fn move_to_failed(
    conn: &Connection,
    condition: &str,
    params: &[&dyn rusqlite::ToSql],
) -> Result<Vec<FailedJob>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "INSERT INTO failed_jobs (id, queue, kind, args, priority, attempts, max_attempts, timeout_ms,
                                  unique_key, error, errors, created_at, failed_at)
         SELECT id, queue, kind, args, priority, attempt, max_attempts, timeout_ms, unique_key, ?1,
                json_insert(errors, '$[#]', json_object('attempt', attempt, 'at', ?2, 'error', ?1)),
                created_at, ?2
         FROM jobs WHERE {condition}
         RETURNING id, queue, kind, args, attempts, error, errors, failed_at"
    ))?;
    let mut rows = stmt.query(params)?;
    let mut failed = Vec::new();
    while let Some(row) = rows.next()? {
        failed.push(failed_job(row)?);
    }
    drop(rows);
    for job in &failed {
        conn.prepare_cached("DELETE FROM jobs WHERE id = ?1")?
            .execute([job.id.0])?;
    }
    Ok(failed)
}

fn failed_job(row: &Row<'_>) -> Result<FailedJob, StoreError> {
    let id = JobId(row.get(0)?);
    let args: String = row.get(3)?;
    let errors: String = row.get(6)?;
    Ok(FailedJob {
        id,
        queue: row.get(1)?,
        kind: row.get(2)?,
        args: parse_json(&args, &format!("failed job {id} args"))?,
        attempts: row.get(4)?,
        error: row.get(5)?,
        errors: parse_json(&errors, &format!("failed job {id} errors"))?,
        failed_at: row.get(7)?,
    })
}

/// Puts a held job back untouched (its attempt not counted): used when shutdown's grace period
/// ends before the job does.
pub fn release(
    conn: &Connection,
    id: JobId,
    holder: &str,
    now: Timestamp,
) -> Result<bool, StoreError> {
    let changed = conn
        .prepare_cached(
            "UPDATE jobs SET state = 'available', attempt = MAX(attempt - 1, 0), run_at = ?1,
                             locked_until = NULL, locked_by = NULL
             WHERE id = ?2 AND state = 'running' AND locked_by = ?3",
        )?
        .execute(params![now, id.0, holder])?;
    Ok(changed == 1)
}

/// Which running jobs a rescue takes back.
#[derive(Debug, Clone)]
pub enum Orphans {
    /// Jobs whose lease ran out (their holder stopped renewing it).
    LeaseExpired,
    /// Jobs held by any process but `holder` (at start-up, under the daemon lock, every other
    /// holder is dead).
    NotHeldBy(String),
}

/// What a rescue did.
#[derive(Debug, Clone, Default)]
pub struct Rescued {
    /// Back on their queue, due now.
    pub requeued: u64,
    /// Out of attempts: moved to the failed store.
    pub failed: Vec<FailedJob>,
}

/// Takes back orphaned running jobs: to the failed store when that was their last attempt, else
/// back on their queue, due now. The interrupted attempt counts.
pub fn rescue(conn: &Connection, orphans: &Orphans, now: Timestamp) -> Result<Rescued, StoreError> {
    let (which, holder) = match orphans {
        Orphans::LeaseExpired => ("locked_until < ?2", None),
        Orphans::NotHeldBy(holder) => ("locked_by IS NOT ?3", Some(holder.as_str())),
    };
    let error = match orphans {
        Orphans::LeaseExpired => "lease expired: the worker stopped renewing it",
        Orphans::NotHeldBy(_) => "interrupted: the daemon stopped while the job ran",
    };
    let exhausted = format!("state = 'running' AND {which} AND attempt >= max_attempts");
    let failed = match holder {
        Some(holder) => move_to_failed(conn, &exhausted, params![error, now, holder])?,
        None => move_to_failed(conn, &exhausted, params![error, now])?,
    };
    let requeue = format!(
        "UPDATE jobs SET state = 'available', run_at = ?2, locked_until = NULL, locked_by = NULL,
             errors = json_insert(errors, '$[#]', json_object('attempt', attempt, 'at', ?2, 'error', ?1))
         WHERE state = 'running' AND {which}"
    );
    let requeued = match holder {
        Some(holder) => conn
            .prepare_cached(&requeue)?
            .execute(params![error, now, holder])?,
        None => conn
            .prepare_cached(&requeue)?
            .execute(params![error, now])?,
    };
    Ok(Rescued {
        requeued: requeued as u64,
        failed,
    })
}

/// Which jobs `siteboxd queue list` shows.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    /// Only this queue.
    pub queue: Option<String>,
    /// Only this state.
    pub state: Option<JobState>,
    /// At most this many (newest first).
    pub limit: u32,
}

/// Jobs in the `jobs` table, newest first.
pub fn list(conn: &Connection, filter: &ListFilter) -> Result<Vec<JobRow>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, queue, kind, state, priority, attempt, max_attempts, run_at, locked_until, unique_key,
                json_extract(errors, '$[#-1].error'), args
         FROM jobs
         WHERE (?1 IS NULL OR queue = ?1) AND (?2 IS NULL OR state = ?2)
         ORDER BY id DESC LIMIT ?3",
    )?;
    let state = filter.state.map(JobState::as_str);
    let mut rows = stmt.query(params![filter.queue, state, filter.limit])?;
    let mut jobs = Vec::new();
    while let Some(row) = rows.next()? {
        let id = JobId(row.get(0)?);
        let state: String = row.get(3)?;
        let args: String = row.get(11)?;
        jobs.push(JobRow {
            id,
            queue: row.get(1)?,
            kind: row.get(2)?,
            state: JobState::parse(&state)
                .ok_or_else(|| StoreError::Decode(format!("job {id}: state {state}")))?,
            priority: row.get(4)?,
            attempt: row.get(5)?,
            max_attempts: row.get(6)?,
            run_at: row.get(7)?,
            locked_until: row.get(8)?,
            unique_key: row.get(9)?,
            last_error: row.get(10)?,
            args: parse_json(&args, &format!("job {id} args"))?,
        });
    }
    Ok(jobs)
}

/// The failed store, newest failure first.
pub fn failed(conn: &Connection, limit: u32) -> Result<Vec<FailedJob>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, queue, kind, args, attempts, error, errors, failed_at
         FROM failed_jobs ORDER BY failed_at DESC, id DESC LIMIT ?1",
    )?;
    let mut rows = stmt.query([limit])?;
    let mut jobs = Vec::new();
    while let Some(row) = rows.next()? {
        jobs.push(failed_job(row)?);
    }
    Ok(jobs)
}

/// Puts a failed job back on its queue, due now, with fresh attempts. None when there is no
/// failed job `id`.
pub fn retry_failed(
    conn: &Connection,
    id: JobId,
    now: Timestamp,
) -> Result<Option<RetryOutcome>, StoreError> {
    let Some(key) = conn
        .prepare_cached("SELECT unique_key FROM failed_jobs WHERE id = ?1")?
        .query_row([id.0], |row| row.get::<_, Option<String>>(0))
        .optional()?
    else {
        return Ok(None);
    };
    let inserted = conn
        .prepare_cached(&format!(
            "INSERT INTO jobs (id, queue, kind, args, priority, state, attempt, max_attempts, run_at,
                               timeout_ms, unique_key, errors, created_at)
             SELECT id, queue, kind, args, priority, 'available', 0, max_attempts, ?2, timeout_ms,
                    unique_key, errors, created_at
             FROM failed_jobs WHERE id = ?1
             {UNIQUE_CONFLICT}"
        ))?
        .execute(params![id.0, now])?;
    conn.prepare_cached("DELETE FROM failed_jobs WHERE id = ?1")?
        .execute([id.0])?;
    if inserted == 1 {
        Ok(Some(RetryOutcome::Requeued(id)))
    } else {
        let existing = pending_with_key(conn, key.as_deref().unwrap_or_default())?;
        Ok(Some(RetryOutcome::Merged(existing)))
    }
}

/// The ids in the failed store, oldest first.
pub fn failed_ids(conn: &Connection) -> Result<Vec<JobId>, StoreError> {
    let mut stmt = conn.prepare_cached("SELECT id FROM failed_jobs ORDER BY failed_at, id")?;
    let ids = stmt.query_map([], |row| row.get(0).map(JobId))?;
    Ok(ids.collect::<Result<_, _>>()?)
}

/// Deletes a failed job for good. Returns it, or None when there is none.
pub fn discard_failed(conn: &Connection, id: JobId) -> Result<Option<FailedJob>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "DELETE FROM failed_jobs WHERE id = ?1
         RETURNING id, queue, kind, args, attempts, error, errors, failed_at",
    )?;
    let mut rows = stmt.query([id.0])?;
    match rows.next()? {
        Some(row) => Ok(Some(failed_job(row)?)),
        None => Ok(None),
    }
}

/// What pruning removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Pruned {
    /// Completed jobs.
    pub completed: u64,
    /// Failed jobs.
    pub failed: u64,
}

/// Deletes completed jobs finished before `completed_before` and failed jobs failed before
/// `failed_before`.
pub fn prune(
    conn: &Connection,
    completed_before: Timestamp,
    failed_before: Timestamp,
) -> Result<Pruned, StoreError> {
    let completed = conn
        .prepare_cached("DELETE FROM jobs WHERE state = 'completed' AND finished_at < ?1")?
        .execute([completed_before])?;
    let failed = conn
        .prepare_cached("DELETE FROM failed_jobs WHERE failed_at < ?1")?
        .execute([failed_before])?;
    Ok(Pruned {
        completed: completed as u64,
        failed: failed as u64,
    })
}

/// Counts per queue and state.
pub fn stats(conn: &Connection, now: Timestamp) -> Result<Vec<QueueStats>, StoreError> {
    let mut by_queue: std::collections::BTreeMap<String, QueueStats> = Default::default();
    let mut stmt = conn.prepare_cached(
        "SELECT queue,
                SUM(state = 'available' AND run_at <= ?1), SUM(state = 'available' AND run_at > ?1),
                SUM(state = 'running'), SUM(state = 'completed'),
                MIN(CASE WHEN state = 'available' AND run_at <= ?1 THEN run_at END)
         FROM jobs GROUP BY queue",
    )?;
    let mut rows = stmt.query([now])?;
    while let Some(row) = rows.next()? {
        let queue: String = row.get(0)?;
        let oldest: Option<Timestamp> = row.get(5)?;
        by_queue.insert(
            queue.clone(),
            QueueStats {
                queue,
                due: count(row, 1)?,
                scheduled: count(row, 2)?,
                running: count(row, 3)?,
                completed: count(row, 4)?,
                failed: 0,
                oldest_due_ms: oldest.map_or(0, |at| now.since(at).as_millis() as u64),
            },
        );
    }
    drop(rows);
    let mut stmt = conn.prepare_cached("SELECT queue, COUNT(*) FROM failed_jobs GROUP BY queue")?;
    let mut rows = stmt.query([])?;
    while let Some(row) = rows.next()? {
        let queue: String = row.get(0)?;
        by_queue
            .entry(queue.clone())
            .or_insert_with(|| QueueStats {
                queue,
                ..QueueStats::default()
            })
            .failed = count(row, 1)?;
    }
    Ok(by_queue.into_values().collect())
}

impl super::Tx<'_> {
    /// Enqueues `spec` in this transaction: the job exists if and only if the transaction
    /// commits, and its queue's workers are woken after the commit.
    pub fn enqueue(&mut self, spec: &JobSpec, now: Timestamp) -> Result<Enqueued, StoreError> {
        let outcome = insert(self, spec, now)?;
        if matches!(outcome, Enqueued::New(_)) {
            self.wake_after_commit(&spec.queue);
        }
        Ok(outcome)
    }
}

/// The queue of job `id` in the `jobs` table.
pub fn queue_of(conn: &Connection, id: JobId) -> Result<Option<String>, StoreError> {
    Ok(conn
        .prepare_cached("SELECT queue FROM jobs WHERE id = ?1")?
        .query_row([id.0], |row| row.get(0))
        .optional()?)
}
