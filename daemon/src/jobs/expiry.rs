//! Handlers that end subscriptions: one job per subscription at its expiry instant, and a
//! periodic sweep for anything past due (what fell due while the box was off is caught at
//! start-up by both).

use std::time::Duration;

use crate::clock::SharedClock;
use crate::domain::DomainError;
use crate::domain::expiry::{self, EXPIRE, SWEEP};
use crate::model::SubscriptionId;
use crate::model::job::{ClaimedJob, JobSpec};
use crate::queue::{Handlers, JobError, PeriodicJob};
use crate::store::Store;

/// Registers the expiry handlers; returns the sweep's schedule.
pub fn register(
    handlers: &mut Handlers,
    store: &Store,
    clock: &SharedClock,
    sweep_every: Duration,
) -> Vec<PeriodicJob> {
    let (s, c) = (store.clone(), clock.clone());
    handlers.register(EXPIRE, move |job: ClaimedJob| {
        let (store, clock) = (s.clone(), c.clone());
        async move {
            let id = job.args["subscription_id"]
                .as_i64()
                .ok_or_else(|| JobError::discard("args need a numeric subscription_id"))?;
            let now = clock.now();
            store
                .write(move |tx| expiry::expire(tx, now, SubscriptionId(id)))
                .await
                .map(|_| ())
                .map_err(JobError::retry)
        }
    });
    let (s, c) = (store.clone(), clock.clone());
    handlers.register(SWEEP, move |_job: ClaimedJob| {
        let (store, clock) = (s.clone(), c.clone());
        async move {
            let now = clock.now();
            let ended = store
                .write(move |tx| expiry::sweep(tx, now))
                .await
                .map_err(|e: DomainError| JobError::retry(e))?;
            if ended > 0 {
                tracing::info!(ended, "expiry sweep ended subscriptions past due");
            }
            Ok(())
        }
    });
    vec![PeriodicJob::new(
        SWEEP,
        sweep_every,
        JobSpec::new("default", SWEEP, serde_json::json!({})).max_attempts(3),
    )]
}
