//! The one writer: a dedicated thread that owns the read-write connection and runs every write
//! in `BEGIN IMMEDIATE`.
//!
//! Writes that arrive in a burst are committed together (group commit): each runs inside its
//! own SAVEPOINT, so one that fails is rolled back alone, and one COMMIT (one fsync under
//! `synchronous=FULL`) makes the whole group durable. A caller's future resolves only after the
//! COMMIT that holds its write, and only then are its events and queue wake-ups published.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use rusqlite::Connection;
use tokio::sync::{mpsc, oneshot};

use super::StoreError;
use super::health::{FaultKind, WriteHealth};
use super::tx::{Effects, Tx};
use super::{EventBus, Wakeups};

/// A write waiting for the writer thread.
pub(crate) type WriteJob = Box<dyn Work>;

/// A write: run it in a transaction, or tell its caller it could not run.
pub(crate) trait Work: Send {
    fn run(self: Box<Self>, tx: &mut Tx<'_>) -> Box<dyn Finish>;
    fn abort(self: Box<Self>, err: StoreError);
}

/// The outcome of a write, delivered once its transaction's fate is known.
pub(crate) trait Finish: Send {
    fn succeeded(&self) -> bool;
    fn finish(self: Box<Self>, commit: Option<&str>);
}

pub(crate) struct Pending<F, T, E> {
    pub(crate) work: F,
    pub(crate) reply: oneshot::Sender<Result<T, E>>,
}

struct Done<T, E> {
    result: Result<T, E>,
    reply: oneshot::Sender<Result<T, E>>,
}

impl<F, T, E> Work for Pending<F, T, E>
where
    F: FnOnce(&mut Tx<'_>) -> Result<T, E> + Send + 'static,
    T: Send + 'static,
    E: From<StoreError> + Send + 'static,
{
    fn run(self: Box<Self>, tx: &mut Tx<'_>) -> Box<dyn Finish> {
        let Pending { work, reply } = *self;
        let result = catch_unwind(AssertUnwindSafe(|| work(tx)))
            .unwrap_or_else(|_| Err(E::from(StoreError::Panicked)));
        Box::new(Done { result, reply })
    }

    fn abort(self: Box<Self>, err: StoreError) {
        let _ = self.reply.send(Err(E::from(err)));
    }
}

impl<T: Send, E: From<StoreError> + Send> Finish for Done<T, E> {
    fn succeeded(&self) -> bool {
        self.result.is_ok()
    }

    fn finish(self: Box<Self>, commit: Option<&str>) {
        let result = match (commit, self.result) {
            (Some(err), Ok(_)) => Err(E::from(StoreError::Commit(err.to_string()))),
            (_, result) => result,
        };
        // The caller may have given up waiting; the write stands either way.
        let _ = self.reply.send(result);
    }
}

/// What the writer thread publishes after each commit.
pub(crate) struct Hooks {
    pub(crate) bus: EventBus,
    pub(crate) wakeups: Wakeups,
    pub(crate) health: Arc<WriteHealth>,
}

/// The writer thread's loop: runs until every sender is gone.
pub(crate) fn run(
    conn: Connection,
    mut jobs: mpsc::Receiver<WriteJob>,
    group_max: usize,
    hooks: Hooks,
) {
    let mut batch: Vec<WriteJob> = Vec::with_capacity(group_max);
    while let Some(first) = jobs.blocking_recv() {
        batch.push(first);
        while batch.len() < group_max {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        hooks.health.writer_busy();
        commit_group(&conn, &mut batch, &hooks);
        hooks.health.writer_idle();
    }
    tracing::debug!("store writer stopped");
}

fn commit_group(conn: &Connection, batch: &mut Vec<WriteJob>, hooks: &Hooks) {
    if let Err(err) = conn.execute_batch("BEGIN IMMEDIATE") {
        let kind = FaultKind::of_sqlite(&err);
        if kind == FaultKind::Other {
            tracing::warn!(error = %err, writes = batch.len(), "could not begin a write transaction");
        } else {
            // The disk's fault: told once by the health state, not once per write.
            hooks.health.failed(kind, &err.to_string());
        }
        let message = err.to_string();
        for job in batch.drain(..) {
            job.abort(StoreError::Begin(message.clone()));
        }
        return;
    }
    let mut done = Vec::with_capacity(batch.len());
    // Set when SQLite itself rolled the whole transaction back (it does so on some disk full
    // and I/O errors): the rest of the group must not run outside a transaction.
    let mut lost: Option<String> = None;
    for job in batch.drain(..) {
        if let Some(cause) = &lost {
            job.abort(StoreError::Commit(cause.clone()));
            continue;
        }
        let mut effects = Effects::default();
        if let Err(err) = conn.execute_batch("SAVEPOINT write") {
            job.abort(StoreError::Sqlite(err));
            continue;
        }
        let finish = job.run(&mut Tx::new(conn, &mut effects));
        let kept = finish.succeeded() && conn.execute_batch("RELEASE write").is_ok();
        if !kept {
            if conn.is_autocommit() {
                let (kind, cause) = hooks.health.rolled_back();
                hooks.health.failed(kind, &cause);
                lost = Some(cause);
            } else {
                // Undo this write alone; the others in the group stand.
                let _ = conn.execute_batch("ROLLBACK TO write; RELEASE write");
            }
            effects = Effects::default();
        }
        done.push((finish, effects));
    }
    let commit = match lost {
        Some(cause) => Some(cause),
        None => conn.execute_batch("COMMIT").err().map(|err| {
            // Logged once per fault by the health state, not once per commit.
            tracing::trace!(error = %err, "commit failed");
            // Another process holding the file past busy_timeout is not the disk failing.
            if !matches!(
                err.sqlite_error_code(),
                Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
            ) {
                hooks
                    .health
                    .failed(FaultKind::of_sqlite(&err), &err.to_string());
            }
            let _ = conn.execute_batch("ROLLBACK");
            err.to_string()
        }),
    };
    // Announce first, then answer: a caller that sees its write done can count on its events
    // having been published.
    let mut committed = Effects::default();
    let mut outcomes = Vec::with_capacity(done.len());
    for (finish, effects) in done {
        if commit.is_none() && finish.succeeded() {
            committed.absorb(effects);
        }
        outcomes.push(finish);
    }
    committed.publish(conn, &hooks.bus, &hooks.wakeups);
    for finish in outcomes {
        finish.finish(commit.as_deref());
    }
}
