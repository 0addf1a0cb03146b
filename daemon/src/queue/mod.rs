//! The durable job queue on the SQLite store.
//!
//! Named queues with their own concurrency; priorities and run-at inside a queue; attempts with
//! exponential backoff and jitter; a per-attempt timeout; a lease renewed by a heartbeat while a
//! job runs, and a rescuer (at start-up and periodically) that takes back jobs whose holder
//! died; a failed store with retry and discard; unique keys; periodic jobs; pruning; a drain on
//! shutdown. Jobs ([`crate::model::job::JobSpec`]) are enqueued inside the caller's transaction
//! ([`crate::store::Tx::enqueue`]),
//! and workers are woken by that commit, not by polling.
//!
//! Handlers must be idempotent: after a crash a job runs again.

mod backoff;
mod handler;
pub mod maintenance;
mod periodic;
mod runner;

pub use backoff::Backoff;
pub use handler::{Handler, Handlers, JobError};
pub use periodic::PeriodicJob;
pub use runner::{QueueRunner, RunnerSettings};

#[cfg(test)]
mod tests;
