//! Handlers that end subscriptions: one job per subscription at its expiry instant, and a
//! periodic sweep for anything past due (what fell due while the box was off is caught at
//! start-up by both).

use std::time::Duration;

use crate::clock::SharedClock;
use crate::domain::DomainError;
use crate::domain::expiry;
use crate::model::job::{ExpireSubscription, SweepSubscriptions};
use crate::queue::{Handlers, JobError, PeriodicJob};
use crate::store::Store;

/// Registers the expiry handlers; returns the sweep's schedule.
pub(crate) fn register(
    handlers: &mut Handlers,
    store: &Store,
    clock: &SharedClock,
    sweep_every: Duration,
) -> Vec<PeriodicJob> {
    let (s, c) = (store.clone(), clock.clone());
    handlers.register_kind(move |job: ExpireSubscription| {
        let (store, clock) = (s.clone(), c.clone());
        async move {
            let now = clock.now();
            store
                .write(move |tx| expiry::expire(tx, now, job.subscription_id))
                .await
                .map(|_| ())
                .map_err(JobError::retry)
        }
    });
    let (s, c) = (store.clone(), clock.clone());
    handlers.register_kind(move |_job: SweepSubscriptions| {
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
    vec![PeriodicJob::of(sweep_every, &SweepSubscriptions {})]
}
