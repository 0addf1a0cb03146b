//! What a technician or operator does with the failed store (CLI and web page): retry and
//! discard, each written to the audit log and the outbox.

use crate::clock::Timestamp;
use crate::model::event::{Actor, NewEvent, payload};
use crate::store::{Store, StoreError, Tx, jobs};

use crate::model::job::{FailedJob, JobId, RetryOutcome};

/// Puts failed job `id` back on its queue. None when there is no such failed job.
pub async fn retry(
    store: &Store,
    actor: Actor,
    id: JobId,
    now: Timestamp,
) -> Result<Option<RetryOutcome>, StoreError> {
    store.write(move |tx| retry_in(tx, &actor, id, now)).await
}

/// [`retry`] inside a transaction the caller holds (e.g. a cloud command's inbox write).
pub fn retry_in(
    tx: &mut Tx<'_>,
    actor: &Actor,
    id: JobId,
    now: Timestamp,
) -> Result<Option<RetryOutcome>, StoreError> {
    let outcome = jobs::retry_failed(tx, id, now)?;
    if let Some(outcome) = outcome {
        let (RetryOutcome::Requeued(job) | RetryOutcome::Merged(job)) = outcome;
        if let Some(queue) = jobs::queue_of(tx, job)? {
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
pub async fn retry_all(
    store: &Store,
    actor: Actor,
    now: Timestamp,
) -> Result<Vec<(JobId, RetryOutcome)>, StoreError> {
    let ids = store.read(jobs::failed_ids).await?;
    let mut outcomes = Vec::with_capacity(ids.len());
    for id in ids {
        if let Some(outcome) = retry(store, actor.clone(), id, now).await? {
            outcomes.push((id, outcome));
        }
    }
    Ok(outcomes)
}

/// Deletes failed job `id` for good. None when there is no such failed job.
pub async fn discard(
    store: &Store,
    actor: Actor,
    id: JobId,
    now: Timestamp,
) -> Result<Option<FailedJob>, StoreError> {
    store
        .write(move |tx| {
            let discarded = jobs::discard_failed(tx, id)?;
            if let Some(job) = &discarded {
                tx.emit(
                    now,
                    &actor,
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
        })
        .await
}
