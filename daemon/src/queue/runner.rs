//! The workers: one dispatcher per queue claims due jobs up to the queue's concurrency and runs
//! each in its own task, under a timeout, renewing its lease; a rescuer takes back jobs whose
//! holder died; a scheduler enqueues periodic jobs. On shutdown no new job is claimed, running
//! jobs get the grace period, and those still running after it are put back untouched.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::periodic::{self, PeriodicJob};
use super::{Backoff, Handlers, JobError};
use crate::clock::{SharedClock, Timestamp};
use crate::config::{QUEUE_NAMES, QueueConfig};
use crate::model::event::{Actor, NewEvent, payload};
use crate::model::job::{ClaimedJob, JobId};
use crate::store::jobs::{self, Orphans, Rescued};
use crate::store::{Store, StoreError, Tx};

/// How the runner behaves.
#[derive(Debug, Clone)]
pub struct RunnerSettings {
    /// Lease length; renewed every third of it while a job runs.
    pub lease: Duration,
    /// Retry delays.
    pub backoff: Backoff,
    /// How often expired leases are looked for.
    pub rescue_every: Duration,
    /// Concurrency per queue; these are the queues served.
    pub concurrency: BTreeMap<String, u32>,
    /// How long running jobs may finish after shutdown begins.
    pub grace: Duration,
}

impl RunnerSettings {
    /// Settings from the `[queue]` config and the daemon's shutdown grace.
    pub fn from_config(queue: &QueueConfig, grace: Duration) -> Self {
        Self {
            lease: queue.lease.get(),
            backoff: Backoff {
                base: queue.backoff_base.get(),
                max: queue.backoff_max.get(),
            },
            rescue_every: queue.rescue_every.get(),
            concurrency: QUEUE_NAMES
                .iter()
                .map(|name| (name.to_string(), queue.settings(name).concurrency))
                .collect(),
            grace,
        }
    }
}

/// Runs the queue's workers until shut down.
#[derive(Debug, Clone)]
pub struct QueueRunner {
    ctx: Arc<Context>,
    periodic: Vec<PeriodicJob>,
}

#[derive(Debug)]
struct Context {
    store: Store,
    clock: SharedClock,
    handlers: Handlers,
    settings: RunnerSettings,
    holder: String,
}

impl QueueRunner {
    /// A runner over `store` with `handlers`. Its lease holder id is new for every runner.
    pub fn new(
        store: Store,
        clock: SharedClock,
        handlers: Handlers,
        settings: RunnerSettings,
    ) -> Self {
        Self {
            ctx: Arc::new(Context {
                store,
                clock,
                handlers,
                settings,
                holder: uuid::Uuid::now_v7().to_string(),
            }),
            periodic: Vec::new(),
        }
    }

    /// Also enqueues these periodic jobs when they fall due.
    pub fn with_periodic(mut self, jobs: Vec<PeriodicJob>) -> Self {
        self.periodic = jobs;
        self
    }

    /// The id this runner's leases carry.
    pub fn holder(&self) -> &str {
        &self.ctx.holder
    }

    /// Takes back every job held by another process. Call once at start-up, under the daemon
    /// lock (so every other holder is dead), before [`QueueRunner::run`].
    pub async fn rescue_at_start(&self) -> Result<Rescued, StoreError> {
        let holder = self.ctx.holder.clone();
        self.ctx.rescue(Orphans::NotHeldBy(holder)).await
    }

    /// Runs until `shutdown` is cancelled, then drains within the grace period.
    pub async fn run(self, shutdown: CancellationToken) {
        let mut tasks = JoinSet::new();
        for (queue, concurrency) in &self.ctx.settings.concurrency {
            let dispatcher = Dispatcher {
                ctx: Arc::clone(&self.ctx),
                queue: queue.clone(),
                concurrency: (*concurrency).max(1),
                wake: self.ctx.store.wakeups().notifier(queue),
            };
            tasks.spawn(dispatcher.run(shutdown.clone()));
        }
        tasks.spawn(Arc::clone(&self.ctx).rescuer(shutdown.clone()));
        if !self.periodic.is_empty() {
            let ctx = Arc::clone(&self.ctx);
            tasks.spawn(async move {
                periodic::schedule(&ctx.store, &ctx.clock, self.periodic, shutdown).await;
            });
        }
        while let Some(result) = tasks.join_next().await {
            if let Err(err) = result {
                tracing::error!(error = %err, "a queue task panicked");
            }
        }
    }
}

impl Context {
    async fn rescue(&self, orphans: Orphans) -> Result<Rescued, StoreError> {
        let now = self.clock.now();
        let rescued = self
            .store
            .write(move |tx| {
                let rescued = jobs::rescue(tx, &orphans, now)?;
                for job in &rescued.failed {
                    emit_failed(
                        tx,
                        now,
                        job.id,
                        &job.queue,
                        &job.kind,
                        job.attempts,
                        &job.error,
                    )?;
                }
                Ok::<_, StoreError>(rescued)
            })
            .await?;
        if rescued.requeued > 0 || !rescued.failed.is_empty() {
            tracing::warn!(
                requeued = rescued.requeued,
                failed = rescued.failed.len(),
                "took back jobs whose worker had died"
            );
            self.store.wakeups().wake_all();
        }
        Ok(rescued)
    }

    async fn rescuer(self: Arc<Self>, shutdown: CancellationToken) {
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(self.settings.rescue_every) => {}
            }
            if let Err(err) = self.rescue(Orphans::LeaseExpired).await {
                tracing::error!(error = %err, "lease rescue failed");
            }
        }
    }
}

struct Dispatcher {
    ctx: Arc<Context>,
    queue: String,
    concurrency: u32,
    wake: Arc<Notify>,
}

impl Dispatcher {
    async fn run(self, shutdown: CancellationToken) {
        let held: Arc<Mutex<HashSet<JobId>>> = Arc::default();
        let mut running = JoinSet::new();
        loop {
            if shutdown.is_cancelled() {
                break;
            }
            let free = self.concurrency.saturating_sub(running.len() as u32);
            let mut next_due = None;
            if free > 0 {
                match self.claim(free).await {
                    Ok((claimed, due)) => {
                        // When every slot was filled there may be more due work: the next
                        // claim happens when a slot frees, so no timer is needed.
                        next_due = due;
                        for job in claimed {
                            held.lock()
                                .unwrap_or_else(|p| p.into_inner())
                                .insert(job.id);
                            running.spawn(execute(
                                Arc::clone(&self.ctx),
                                job,
                                Arc::clone(&held),
                                shutdown.clone(),
                            ));
                        }
                    }
                    Err(err) => {
                        tracing::error!(queue = %self.queue, error = %err, "claiming jobs failed");
                        next_due = Some(Duration::from_secs(1));
                    }
                }
            }
            let can_claim = running.len() < self.concurrency as usize;
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = self.wake.notified(), if can_claim => {}
                Some(_) = running.join_next(), if !running.is_empty() => {}
                () = sleep_for(next_due), if can_claim && next_due.is_some() => {}
            }
        }
        self.drain(running, held).await;
    }

    /// Claims up to `free` jobs; when fewer are due, also says how long until the next one is.
    async fn claim(&self, free: u32) -> Result<(Vec<ClaimedJob>, Option<Duration>), StoreError> {
        let now = self.ctx.clock.now();
        let lease_until = now.after(self.ctx.clock.to_clock(self.ctx.settings.lease));
        let queue = self.queue.clone();
        let holder = self.ctx.holder.clone();
        let (claimed, due) = self
            .ctx
            .store
            .write(move |tx| {
                let claimed = jobs::claim(tx, &queue, &holder, now, lease_until, free)?;
                let due = if (claimed.len() as u32) < free {
                    jobs::next_due(tx, &queue)?
                } else {
                    None
                };
                Ok::<_, StoreError>((claimed, due))
            })
            .await?;
        // The wait is in real time: a scenario's clock runs faster.
        Ok((
            claimed,
            due.map(|at: Timestamp| self.ctx.clock.to_real(at.since(now))),
        ))
    }

    async fn drain(&self, mut running: JoinSet<()>, held: Arc<Mutex<HashSet<JobId>>>) {
        if running.is_empty() {
            return;
        }
        let grace = self.ctx.settings.grace;
        tracing::info!(queue = %self.queue, jobs = running.len(), ?grace, "waiting for running jobs");
        let drained = tokio::time::timeout(grace, async {
            while running.join_next().await.is_some() {}
        })
        .await;
        if drained.is_ok() {
            return;
        }
        running.abort_all();
        while running.join_next().await.is_some() {}
        let ids: Vec<JobId> = held
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .drain()
            .collect();
        let now = self.ctx.clock.now();
        let holder = self.ctx.holder.clone();
        let count = ids.len();
        let released = self
            .ctx
            .store
            .write(move |tx| {
                for id in ids {
                    jobs::release(tx, id, &holder, now)?;
                }
                Ok::<_, StoreError>(())
            })
            .await;
        match released {
            Ok(()) => {
                tracing::warn!(queue = %self.queue, jobs = count, "grace period over: put running jobs back")
            }
            Err(err) => {
                tracing::error!(queue = %self.queue, error = %err, "could not put jobs back; the start-up rescue will")
            }
        }
    }
}

async fn sleep_for(duration: Option<Duration>) {
    tokio::time::sleep(duration.unwrap_or(Duration::ZERO)).await;
}

/// Runs one attempt of `job` and records its outcome.
async fn execute(
    ctx: Arc<Context>,
    first: ClaimedJob,
    held: Arc<Mutex<HashSet<JobId>>>,
    shutdown: CancellationToken,
) {
    let mut next = Some(first);
    while let Some(job) = next.take() {
        let id = job.id;
        let result = attempt(&ctx, &job).await;
        if let Err(error) = &result {
            tracing::warn!(job = %id, kind = %job.kind, attempt = job.attempt, %error, "job attempt failed");
        }
        let now = ctx.clock.now();
        let lease_until = now.after(ctx.clock.to_clock(ctx.settings.lease));
        let holder = ctx.holder.clone();
        let delay = ctx.settings.backoff.delay(job.attempt);
        // Claiming the next job in the same commit as this one's outcome halves the commits
        // per job (each an fsync under synchronous=FULL).
        let claim_next = !shutdown.is_cancelled();
        let recorded = ctx
            .store
            .write(move |tx| {
                record(tx, &job, result, &holder, now, delay)?;
                if claim_next {
                    Ok(jobs::claim(tx, &job.queue, &holder, now, lease_until, 1)?.pop())
                } else {
                    Ok::<_, StoreError>(None)
                }
            })
            .await;
        let mut held = held.lock().unwrap_or_else(|p| p.into_inner());
        held.remove(&id);
        match recorded {
            Ok(claimed) => {
                if let Some(job) = &claimed {
                    held.insert(job.id);
                }
                next = claimed;
            }
            Err(err) => {
                tracing::error!(job = %id, error = %err, "could not record a job's outcome; it will run again");
            }
        }
    }
}

/// The handler's future in its own task (a panic is a failed attempt, not a dead worker), under
/// the job's timeout, with the lease renewed while it runs.
async fn attempt(ctx: &Context, job: &ClaimedJob) -> Result<(), JobError> {
    let Some(handler) = ctx.handlers.get(&job.kind) else {
        return Err(JobError::discard(format!(
            "no handler for job kind `{}`",
            job.kind
        )));
    };
    let mut task = tokio::spawn(handler.run(job.clone()));
    let deadline = tokio::time::sleep(job.timeout);
    tokio::pin!(deadline);
    let mut heartbeat = tokio::time::interval(ctx.settings.lease / 3);
    heartbeat.tick().await;
    loop {
        tokio::select! {
            joined = &mut task => {
                return match joined {
                    Ok(result) => result,
                    Err(err) if err.is_panic() => Err(JobError::retry(format!("handler panicked: {}", panic_message(err)))),
                    Err(err) => Err(JobError::retry(format!("handler stopped: {err}"))),
                };
            }
            () = &mut deadline => {
                task.abort();
                return Err(JobError::retry(format!("timed out after {:?}", job.timeout)));
            }
            _ = heartbeat.tick() => renew(ctx, job.id).await,
        }
    }
}

async fn renew(ctx: &Context, id: JobId) {
    let until = ctx
        .clock
        .now()
        .after(ctx.clock.to_clock(ctx.settings.lease));
    let holder = ctx.holder.clone();
    match ctx
        .store
        .write(move |tx| jobs::heartbeat(tx, id, &holder, until))
        .await
    {
        Ok(true) => {}
        Ok(false) => tracing::warn!(job = %id, "lost the lease of a running job; it may run again"),
        Err(err) => tracing::error!(job = %id, error = %err, "could not renew a lease"),
    }
}

fn panic_message(err: tokio::task::JoinError) -> String {
    let payload = err.into_panic();
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}

/// Records an attempt's outcome: completed, back to wait after `delay`, or failed for good.
fn record(
    tx: &mut Tx<'_>,
    job: &ClaimedJob,
    result: Result<(), JobError>,
    holder: &str,
    now: Timestamp,
    delay: Duration,
) -> Result<(), StoreError> {
    let held = match result {
        Ok(()) => jobs::complete(tx, job.id, holder, now)?,
        Err(JobError::Retry(error)) if job.attempt < job.max_attempts => {
            jobs::retry_later(tx, job.id, holder, now.after(delay), &error, now)?
        }
        Err(JobError::Retry(error) | JobError::Discard(error)) => {
            match jobs::fail(tx, job.id, holder, &error, now)? {
                Some(failed) => {
                    emit_failed(
                        tx,
                        now,
                        failed.id,
                        &failed.queue,
                        &failed.kind,
                        failed.attempts,
                        &failed.error,
                    )?;
                    true
                }
                None => false,
            }
        }
    };
    if !held {
        tracing::warn!(job = %job.id, "the job's lease had been taken back; its outcome was not recorded");
    }
    Ok(())
}

fn emit_failed(
    tx: &mut Tx<'_>,
    now: Timestamp,
    id: JobId,
    queue: &str,
    kind: &str,
    attempts: u32,
    error: &str,
) -> Result<(), StoreError> {
    tx.emit(
        now,
        &Actor::System,
        NewEvent::new(
            format!("job:{id}"),
            &payload::JobFailed {
                job_id: id,
                queue: queue.to_string(),
                kind: kind.to_string(),
                attempts,
                error: error.to_string(),
            },
        ),
    )?;
    Ok(())
}
