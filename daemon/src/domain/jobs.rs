//! What an operator does with the failed store (CLI, page, cloud command `queue.retry_failed`):
//! retry and discard, each with its event and audit row.

use serde::Deserialize;

use super::DomainError;
use crate::clock::Timestamp;
use crate::model::event::{Actor, NewEvent, payload};
use crate::model::job::{FailedJob, JobId, RetryOutcome};
use crate::store::{Tx, jobs as sql};

/// A job in the failed store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FailedJobId {
    /// Its id.
    pub job_id: JobId,
}

/// Puts the failed job back on its queue, under its own id (or folds it into the job waiting
/// with its unique key). None when there is no such failed job.
pub(crate) fn retry(
    tx: &mut Tx<'_>,
    actor: &Actor,
    now: Timestamp,
    args: FailedJobId,
) -> Result<Option<RetryOutcome>, DomainError> {
    let id = args.job_id;
    let outcome = sql::retry_failed(tx, id, now)?;
    if let Some(outcome) = outcome {
        let (RetryOutcome::Requeued(job) | RetryOutcome::Merged(job)) = outcome;
        if let Some(queue) = sql::queue_of(tx, job)? {
            tx.wake_after_commit(&queue);
        }
        tx.emit(
            now,
            actor,
            NewEvent::new(
                format!("job:{id}"),
                &payload::JobRetried {
                    job_id: id,
                    outcome,
                },
            ),
        )?;
    }
    Ok(outcome)
}

/// Retries every failed job; returns what happened to each.
pub(crate) fn retry_all(
    tx: &mut Tx<'_>,
    actor: &Actor,
    now: Timestamp,
) -> Result<Vec<(JobId, RetryOutcome)>, DomainError> {
    let mut outcomes = Vec::new();
    for job_id in sql::failed_ids(tx)? {
        if let Some(outcome) = retry(tx, actor, now, FailedJobId { job_id })? {
            outcomes.push((job_id, outcome));
        }
    }
    Ok(outcomes)
}

/// Deletes the failed job for good. None when there is no such failed job.
pub(crate) fn discard(
    tx: &mut Tx<'_>,
    actor: &Actor,
    now: Timestamp,
    args: FailedJobId,
) -> Result<Option<FailedJob>, DomainError> {
    let id = args.job_id;
    let discarded = sql::discard_failed(tx, id)?;
    if let Some(job) = &discarded {
        tx.emit(
            now,
            actor,
            NewEvent::new(
                format!("job:{id}"),
                &payload::JobDiscarded {
                    job_id: id,
                    queue: job.queue.clone(),
                    kind: job.kind.clone(),
                    error: job.error.clone(),
                },
            ),
        )?;
    }
    Ok(discarded)
}
