//! Periodic jobs (expiry sweep, router health, pruning): enqueued when due, with the next due
//! time kept in the database so that a restart neither skips nor doubles a run.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::clock::{SharedClock, Timestamp};
use crate::model::job::{JobKind, JobSpec};
use crate::store::{Store, StoreError, periodic};

/// A job enqueued every `every`.
#[derive(Debug, Clone)]
pub struct PeriodicJob {
    /// A stable name (the key of its schedule).
    pub name: String,
    /// How often.
    pub every: Duration,
    /// The job to enqueue; it is made unique per name, so a run still waiting is not doubled.
    pub spec: JobSpec,
}

impl PeriodicJob {
    /// `spec` every `every`, under `name`.
    pub fn new(name: impl Into<String>, every: Duration, spec: JobSpec) -> Self {
        let name = name.into();
        let spec = spec.unique(format!("periodic:{name}"));
        Self { name, every, spec }
    }
}

impl PeriodicJob {
    /// `job` every `every`, under its kind's name.
    pub fn of<J: JobKind>(every: Duration, job: &J) -> Self {
        Self::new(J::KIND, every, job.spec())
    }
}

/// Enqueues every job that is due at `now`; returns when the next one falls due.
pub(crate) async fn enqueue_due(
    store: &Store,
    jobs: &[PeriodicJob],
    now: Timestamp,
) -> Result<Timestamp, StoreError> {
    let jobs = jobs.to_vec();
    store
        .write(move |tx| {
            let mut next = Timestamp::from_millis(i64::MAX);
            for job in &jobs {
                let stored = periodic::next_at(tx, &job.name)?;
                let at = match stored {
                    Some(at) if at <= now => None,
                    // Never further ahead than one interval: a schedule written under a clock
                    // that ran ahead (or before the clock jumped back) would stall the job.
                    Some(at) if at > now.after(job.every) => {
                        let at = now.after(job.every);
                        periodic::set_next_at(tx, &job.name, at)?;
                        Some(at)
                    }
                    Some(at) => Some(at),
                    None => None,
                };
                let at = match at {
                    Some(at) => at,
                    None => {
                        tx.enqueue(&job.spec, now)?;
                        let at = now.after(job.every);
                        periodic::set_next_at(tx, &job.name, at)?;
                        at
                    }
                };
                next = next.min(at);
            }
            Ok(next)
        })
        .await
}

/// Runs until `shutdown`: enqueues due periodic jobs and sleeps until the next is due.
pub(crate) async fn schedule(
    store: &Store,
    clock: &SharedClock,
    jobs: Vec<PeriodicJob>,
    shutdown: CancellationToken,
) {
    loop {
        let now = clock.now();
        let wait = match enqueue_due(store, &jobs, now).await {
            Ok(next) => clock
                .to_real(next.since(now))
                .max(Duration::from_millis(10)),
            Err(err) => {
                tracing::error!(error = %err, "could not enqueue periodic jobs");
                Duration::from_secs(5)
            }
        };
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(wait) => {}
        }
    }
}
