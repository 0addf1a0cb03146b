//! The reference cloud ingest: N workers share `$share/{group}/sitebox/v1/+/+/events` (MQTT 5
//! shared subscription), store each batch idempotently in PostgreSQL, then ack to the site;
//! a gap check asks stuck sites to `resend_from`.

pub mod cli;
pub mod db;
pub mod registry;
mod worker;

use std::time::Duration;

pub use worker::{IngestStats, issue_command, run};

/// How an ingest process runs.
#[derive(Debug, Clone)]
pub struct IngestSettings {
    /// PostgreSQL connection string (`host=… port=… user=… dbname=…`).
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
    /// Ask a site to resend when its cursor has not moved for this long behind stored seqs.
    pub gap_timeout: Duration,
    /// MQTT keep-alive.
    pub keep_alive: Duration,
}
