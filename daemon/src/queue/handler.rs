//! What runs a job: a handler per job kind.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use crate::model::job::{ClaimedJob, JobKind};

/// Why an attempt failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JobError {
    /// Try again after the backoff (until attempts run out).
    #[error("{0}")]
    Retry(String),
    /// Retrying cannot help (bad arguments, rejected by the router for good): straight to the
    /// failed store, with this reason.
    #[error("{0}")]
    Discard(String),
}

impl JobError {
    /// A failure worth retrying.
    pub fn retry(reason: impl std::fmt::Display) -> Self {
        JobError::Retry(reason.to_string())
    }

    /// A failure not worth retrying.
    pub fn discard(reason: impl std::fmt::Display) -> Self {
        JobError::Discard(reason.to_string())
    }
}

/// A boxed future of a job attempt.
pub(super) type JobFuture = Pin<Box<dyn Future<Output = Result<(), JobError>> + Send + 'static>>;

/// Runs jobs of one kind. Must be idempotent: a job can run again after a crash.
pub trait Handler: Send + Sync + 'static {
    /// Runs one attempt of `job`.
    fn run(&self, job: ClaimedJob) -> JobFuture;
}

impl<F, Fut> Handler for F
where
    F: Fn(ClaimedJob) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), JobError>> + Send + 'static,
{
    fn run(&self, job: ClaimedJob) -> JobFuture {
        Box::pin(self(job))
    }
}

/// The handlers, by job kind.
#[derive(Clone, Default)]
pub struct Handlers {
    by_kind: HashMap<String, Arc<dyn Handler>>,
}

impl std::fmt::Debug for Handlers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.by_kind.keys()).finish()
    }
}

impl Handlers {
    /// No handlers.
    pub fn new() -> Self {
        Self::default()
    }

    /// Runs jobs of `kind` with `handler` (replacing any earlier one).
    pub fn register(&mut self, kind: impl Into<String>, handler: impl Handler) -> &mut Self {
        self.by_kind.insert(kind.into(), Arc::new(handler));
        self
    }

    /// Runs jobs of kind `J` with `handler`, given their arguments parsed into `J` (a job
    /// whose arguments do not parse goes to the failed store with serde's reason).
    pub fn register_kind<J, F, Fut>(&mut self, handler: F) -> &mut Self
    where
        J: JobKind,
        F: Fn(J) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), JobError>> + Send + 'static,
    {
        self.register(J::KIND, move |job: ClaimedJob| {
            let args = serde_json::from_value::<J>(job.args);
            let run = args.map(&handler);
            async move {
                match run {
                    Ok(running) => running.await,
                    Err(err) => Err(JobError::discard(format!(
                        "bad arguments for a {} job: {err}",
                        J::KIND
                    ))),
                }
            }
        })
    }

    /// The handler of `kind`.
    pub fn get(&self, kind: &str) -> Option<Arc<dyn Handler>> {
        self.by_kind.get(kind).cloned()
    }
}
