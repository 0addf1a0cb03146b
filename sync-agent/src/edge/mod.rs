//! The edge side: the [`EdgeStore`] trait the daemon implements, the agent's settings, and the
//! tokio/rumqttc driver ([`run`]) around the sans-IO [`crate::relay::Relay`].

mod agent;
mod tls;

use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;

pub use agent::run;
pub use tls::{TlsError, client_config};

/// Whether this process's agent is connected to the broker now (for the technician page and
/// metrics). One agent runs per process.
pub fn link_up() -> bool {
    LINK_UP.load(std::sync::atomic::Ordering::Relaxed)
}

static LINK_UP: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

use crate::relay::{ReadBatch, ReadRequest, RelaySettings};
use crate::wire::{Command, CommandResult};

/// The daemon's store as the agent needs it. Every method is one short transaction or read;
/// the daemon runs them on its SQLite writer/readers.
pub trait EdgeStore: Send + Sync + 'static {
    /// A store failure (the agent logs it and tries again later).
    type Error: std::error::Error + Send + Sync + 'static;

    /// The cloud's cursor as last recorded (0 when the cloud never acked).
    fn cursor(&self) -> impl Future<Output = Result<u64, Self::Error>> + Send;

    /// Unacked events of a lane after a seq (and, for telemetry, the dropped seqs).
    fn read(
        &self,
        request: ReadRequest,
    ) -> impl Future<Output = Result<ReadBatch, Self::Error>> + Send;

    /// The cloud stored everything through `through`: mark those rows acked and record the
    /// cursor, the server's time and the skew, in one transaction.
    fn mark_acked(
        &self,
        through: u64,
        server_time: i64,
        skew_ms: i64,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send;

    /// Applies a command exactly once: stores it in the inbox in the same transaction as its
    /// effects, or returns the first result for an id already seen. A command that cannot be
    /// applied is dead-lettered (stored as rejected) and answered, not returned as an error;
    /// an error means "nothing stored, try again".
    fn apply_command(
        &self,
        command: Command,
    ) -> impl Future<Output = Result<CommandResult, Self::Error>> + Send;

    /// The highest seq written to the outbox (None when the store cannot say): sent with the
    /// batches so that the cloud knows how far behind the site is.
    fn head(&self) -> impl Future<Output = Result<Option<u64>, Self::Error>> + Send {
        async { Ok(None) }
    }

    /// The outbox's head when it was rewound (a restore), while the events written since
    /// have not been moved above the cloud's cursor. While set, nothing is sent before the
    /// cloud's cursor is known (docs/PROTOCOL.md, "Outbox rewind").
    fn rewound(&self) -> impl Future<Output = Result<Option<u64>, Self::Error>> + Send {
        async { Ok(None) }
    }

    /// The outbox was rewound to `restored_head` and the cloud holds every seq through
    /// `cloud_cursor`: moves every event written since above the cloud's cursor (order kept)
    /// and forgets the rewind, in one transaction. Returns how far the events moved.
    fn resume_above(
        &self,
        restored_head: u64,
        cloud_cursor: u64,
    ) -> impl Future<Output = Result<u64, Self::Error>> + Send {
        let _ = (restored_head, cloud_cursor);
        async { Ok(0) }
    }

    /// Keeps the unsent backlog within its disk budget (drops and counts telemetry) and prunes
    /// acked rows past their retention.
    fn enforce_budget(&self) -> impl Future<Output = Result<BudgetReport, Self::Error>> + Send;
}

/// What a budget pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BudgetReport {
    /// Unacked bytes (estimated) before the pass.
    pub backlog_bytes: u64,
    /// Telemetry events dropped in this pass.
    pub dropped: u64,
    /// Acked rows pruned in this pass.
    pub pruned: u64,
}

/// TLS to the broker.
#[derive(Debug, Clone, Default)]
pub struct TlsSettings {
    /// PEM file of the CA(s) that sign the broker's certificate.
    pub ca_file: PathBuf,
    /// PEM client certificate chain and key, for brokers that require client certificates.
    pub client_cert: Option<(PathBuf, PathBuf)>,
}

/// Everything the agent needs.
#[derive(Debug, Clone)]
pub struct AgentSettings {
    /// Tenant id (topic level).
    pub tenant: String,
    /// Site id (topic level).
    pub site: String,
    /// This run of siteboxd.
    pub boot_id: String,
    /// siteboxd's version, published in the status.
    pub version: String,
    /// Broker host name or address.
    pub host: String,
    /// Broker port.
    pub port: u16,
    /// TLS, when the broker listener is TLS.
    pub tls: Option<TlsSettings>,
    /// MQTT user name and password (per site).
    pub credentials: Option<(String, String)>,
    /// MQTT client id; stable, so the broker keeps the persistent session (commands).
    pub client_id: String,
    /// MQTT keep-alive.
    pub keep_alive: Duration,
    /// TCP+TLS+CONNECT deadline.
    pub connect_timeout: Duration,
    /// Reconnect backoff bounds.
    pub backoff_min: Duration,
    /// See `backoff_min`.
    pub backoff_max: Duration,
    /// Batching and pacing.
    pub relay: RelaySettings,
    /// Compress batches with zstd.
    pub compress: bool,
    /// Look at the outbox this often without a wake-up (rows written by other processes, such
    /// as the CLI, do not reach this process's event bus).
    pub poll_every: Duration,
    /// How often the disk budget is enforced.
    pub budget_every: Duration,
}
