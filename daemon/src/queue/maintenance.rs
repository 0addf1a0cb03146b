//! The queue's own upkeep, run as jobs on the `maintenance` queue: pruning old completed and
//! failed jobs.

use std::time::Duration;

use super::{Handlers, JobError, PeriodicJob};

use crate::clock::SharedClock;
use crate::config::QueueConfig;
use crate::model::job::Prune;
use crate::store::{Store, StoreError, jobs};

/// Registers the maintenance handlers and returns their periodic schedule.
pub fn register(
    handlers: &mut Handlers,
    store: &Store,
    clock: &SharedClock,
    config: &QueueConfig,
) -> Vec<PeriodicJob> {
    let completed = config.completed_retention.get();
    let failed = config.failed_retention.get();
    let (store, clock) = (store.clone(), clock.clone());
    handlers.register_kind(move |_job: Prune| {
        let (store, clock) = (store.clone(), clock.clone());
        async move {
            prune(&store, &clock, completed, failed)
                .await
                .map(|_| ())
                .map_err(JobError::retry)
        }
    });
    vec![PeriodicJob::of(config.prune_every.get(), &Prune {})]
}

/// Deletes completed jobs older than `completed` and failed jobs older than `failed`.
pub async fn prune(
    store: &Store,
    clock: &SharedClock,
    completed: Duration,
    failed: Duration,
) -> Result<jobs::Pruned, StoreError> {
    let now = clock.now();
    let pruned = store
        .write(move |tx| jobs::prune(tx, now.before(completed), now.before(failed)))
        .await?;
    if pruned.completed + pruned.failed > 0 {
        tracing::info!(
            completed = pruned.completed,
            failed = pruned.failed,
            "pruned old jobs"
        );
    }
    Ok(pruned)
}
