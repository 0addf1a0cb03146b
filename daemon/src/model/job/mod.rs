//! Jobs as the queue sees them: what is enqueued, what a worker claims, what the CLI lists.

use std::time::Duration;

use serde::Serialize;

use super::stored::stored_enum;
use crate::clock::Timestamp;

mod kinds;

pub use kinds::{
    ConfigureRadius, DisconnectSession, ENFORCEMENT_QUEUE, ExpireSubscription, HealthSweep,
    JobKind, KickUser, PROVISIONING_QUEUE, PollHealth, ProvisionPlan, ProvisionSubscriber, Prune,
    SessionRateLimit, SweepSubscriptions, VerifySessionGone,
};

/// A job's id (stable across a retry from the failed store).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, serde::Deserialize,
)]
#[serde(transparent)]
pub struct JobId(pub i64);

impl std::fmt::Display for JobId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A job to enqueue. Built with [`JobSpec::new`] and the setters.
#[derive(Debug, Clone)]
pub struct JobSpec {
    pub(crate) queue: String,
    pub(crate) kind: String,
    pub(crate) args: serde_json::Value,
    pub(crate) priority: i32,
    pub(crate) run_at: Option<Timestamp>,
    pub(crate) delay: Duration,
    pub(crate) max_attempts: u32,
    pub(crate) timeout: Duration,
    pub(crate) unique_key: Option<String>,
}

impl JobSpec {
    /// A job of `kind` on `queue` with `args`; priority 0, runs now, 20 attempts, 60 s timeout.
    pub fn new(queue: impl Into<String>, kind: impl Into<String>, args: serde_json::Value) -> Self {
        Self {
            queue: queue.into(),
            kind: kind.into(),
            args,
            priority: 0,
            run_at: None,
            delay: Duration::ZERO,
            max_attempts: 20,
            timeout: Duration::from_secs(60),
            unique_key: None,
        }
    }

    /// Lower runs first within the queue (default 0; negative is more urgent).
    pub fn priority(mut self, priority: i32) -> Self {
        self.priority = priority;
        self
    }

    /// Not before `at`.
    pub fn run_at(mut self, at: Timestamp) -> Self {
        self.run_at = Some(at);
        self
    }

    /// Not before `delay` from the enqueue.
    pub fn delay(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    /// Attempts before the job moves to the failed store (at least 1).
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts.max(1);
        self
    }

    /// How long one attempt may run before it is cut off and counted as failed.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout.max(Duration::from_millis(1));
        self
    }

    /// At most one job with this key waits or runs at a time; a second enqueue returns the first.
    pub fn unique(mut self, key: impl Into<String>) -> Self {
        self.unique_key = Some(key.into());
        self
    }

    /// The queue.
    pub fn queue(&self) -> &str {
        &self.queue
    }
}

/// What an enqueue did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", content = "id", rename_all = "snake_case")]
pub enum Enqueued {
    /// A new job.
    New(JobId),
    /// A job with the same unique key was already waiting or running; nothing was added.
    Duplicate(JobId),
}

impl Enqueued {
    /// The job's id, new or existing.
    pub fn id(self) -> JobId {
        match self {
            Enqueued::New(id) | Enqueued::Duplicate(id) => id,
        }
    }
}

/// A job a worker holds.
#[derive(Debug, Clone)]
pub struct ClaimedJob {
    /// Its id.
    pub id: JobId,
    /// Its queue.
    pub queue: String,
    /// Which handler runs it.
    pub kind: String,
    /// Its arguments.
    pub args: serde_json::Value,
    /// Its priority.
    pub priority: i32,
    /// Not before this.
    pub run_at: Timestamp,
    /// This attempt's number, from 1.
    pub attempt: u32,
    /// The last attempt's number.
    pub max_attempts: u32,
    /// How long this attempt may run.
    pub timeout: Duration,
    /// Its unique key.
    pub unique_key: Option<String>,
}

stored_enum! {
    /// A job's state in the `jobs` table.
    pub enum JobState {
        /// Waiting (due, or delayed until run_at).
        Available = "available",
        /// Held by a worker.
        Running = "running",
        /// Done; kept until pruned.
        Completed = "completed",
    }
}

/// A row of `siteboxd queue list`.
#[derive(Debug, Clone, Serialize)]
pub struct JobRow {
    /// Id.
    pub id: JobId,
    /// Queue.
    pub queue: String,
    /// Kind.
    pub kind: String,
    /// State.
    pub state: JobState,
    /// Priority.
    pub priority: i32,
    /// Attempts started.
    pub attempt: u32,
    /// Attempt limit.
    pub max_attempts: u32,
    /// Not before.
    pub run_at: Timestamp,
    /// Lease end while running.
    pub locked_until: Option<Timestamp>,
    /// Unique key.
    pub unique_key: Option<String>,
    /// The last attempt's error, if any.
    pub last_error: Option<String>,
    /// Arguments.
    pub args: serde_json::Value,
}

/// A job in the failed store.
#[derive(Debug, Clone, Serialize)]
pub struct FailedJob {
    /// Id (kept when retried).
    pub id: JobId,
    /// Queue.
    pub queue: String,
    /// Kind.
    pub kind: String,
    /// Arguments.
    pub args: serde_json::Value,
    /// Attempts made.
    pub attempts: u32,
    /// The last error.
    pub error: String,
    /// Every attempt's error: `[{attempt, at, error}]`.
    pub errors: serde_json::Value,
    /// When it failed for good.
    pub failed_at: Timestamp,
}

/// What `retry` of a failed job did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", content = "id", rename_all = "snake_case")]
pub enum RetryOutcome {
    /// Back on its queue under its own id.
    Requeued(JobId),
    /// A job with the same unique key was already waiting; the failed one was folded into it.
    Merged(JobId),
}

/// Jobs per queue and state, for the CLI, the page and metrics.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct QueueStats {
    /// Queue name.
    pub queue: String,
    /// Due now.
    pub due: u64,
    /// Delayed (run_at in the future).
    pub scheduled: u64,
    /// Held by workers.
    pub running: u64,
    /// Completed and not yet pruned.
    pub completed: u64,
    /// In the failed store.
    pub failed: u64,
    /// How long the oldest due job has waited, in ms.
    pub oldest_due_ms: u64,
}
