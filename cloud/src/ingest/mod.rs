//! The ingest: N workers per process share `$share/{group}/sitebox/v1/+/+/{events,results}`
//! (MQTT 5 shared subscriptions), store each batch idempotently in PostgreSQL together with
//! its projections, then ack to the site; every process also follows every site's retained
//! `status` (not shared: retained messages are not delivered to shared subscriptions).

mod batch;
mod cursor;
mod worker;

use std::sync::atomic::AtomicU64;
use std::time::Duration;

pub use batch::{Stored, store_batch};
pub use cursor::contiguous_end;
pub use worker::run;

/// Why the ingest refused or failed a message.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// PostgreSQL failed (the message is not acked; the broker or the edge sends it again).
    #[error("postgres: {0}")]
    Postgres(#[from] tokio_postgres::Error),
    /// The message breaks the contract or the registry; it is recorded and dropped.
    #[error("rejected: {0}")]
    Rejected(String),
}

/// How the ingest runs.
#[derive(Debug, Clone)]
pub struct IngestSettings {
    /// PostgreSQL connection string of the service role.
    pub database_url: String,
    /// Broker host.
    pub host: String,
    /// Broker port.
    pub port: u16,
    /// MQTT service-account username and password.
    pub credentials: Option<(String, String)>,
    /// Workers in this process (each its own MQTT client and database connection).
    pub workers: usize,
    /// The shared-subscription group every ingest worker joins.
    pub group: String,
    /// Client id prefix; worker `i` is `{prefix}-{i}`.
    pub client_prefix: String,
    /// MQTT keep-alive.
    pub keep_alive: Duration,
}

/// Counters shared by the workers of a process.
#[derive(Debug, Default)]
pub struct IngestStats {
    /// Events newly stored.
    pub inserted: AtomicU64,
    /// Events received again and skipped.
    pub duplicates: AtomicU64,
    /// Messages refused.
    pub rejected: AtomicU64,
    /// Batches stored.
    pub batches: AtomicU64,
    /// Events a projection could not apply (recorded, kept).
    pub projection_failures: AtomicU64,
}
