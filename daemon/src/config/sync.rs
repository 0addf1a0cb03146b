//! `[sync]`: the connection to the cloud broker and how the backlog is sent and bounded.

use std::path::PathBuf;

use serde::Deserialize;

use super::ConfigDuration;

/// `[sync]`. Absent means disabled.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SyncConfig {
    /// Run the sync agent.
    pub enabled: bool,
    /// Broker `host:port`.
    pub broker: String,
    /// TLS to the broker (rustls).
    pub tls: bool,
    /// PEM CA file that signs the broker's certificate (with `tls`).
    pub ca_file: Option<PathBuf>,
    /// PEM client certificate and key, for brokers that require them (with `tls`).
    pub client_cert: Option<PathBuf>,
    /// See `client_cert`.
    pub client_key: Option<PathBuf>,
    /// MQTT username; empty means `{tenant}.{site}`.
    pub username: String,
    /// File holding the site's MQTT password (none: connect without a password).
    pub password_file: Option<PathBuf>,
    /// MQTT client id; empty means `sitebox-{tenant}-{site}`.
    pub client_id: String,
    /// MQTT keep-alive.
    pub keep_alive: ConfigDuration,
    /// Deadline for TCP + TLS + CONNECT.
    pub connect_timeout: ConfigDuration,
    /// First reconnect delay; doubles per failure with jitter up to `backoff_max`.
    pub backoff_min: ConfigDuration,
    /// Longest reconnect delay.
    pub backoff_max: ConfigDuration,
    /// Most events per batch.
    pub batch_max_events: u32,
    /// Most bytes per batch before compression.
    pub batch_max_bytes: u32,
    /// Compress batches with zstd.
    pub compress: bool,
    /// Batches sent and not yet acked by the cloud, at most.
    pub window: u32,
    /// With no cloud ack for this long, send again from the cursor.
    pub ack_timeout: ConfigDuration,
    /// Disk budget of the unsent backlog, bytes; past it the oldest telemetry is dropped.
    pub backlog_max_bytes: u64,
    /// How often the budget is enforced and acked rows are pruned.
    pub budget_every: ConfigDuration,
    /// Acked events are kept this long (for the technician page), then pruned.
    pub acked_retention: ConfigDuration,
    /// How often the outbox is looked at without a wake-up (rows written by the CLI).
    pub poll_every: ConfigDuration,
}

impl Default for SyncConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            broker: String::new(),
            tls: false,
            ca_file: None,
            client_cert: None,
            client_key: None,
            username: String::new(),
            password_file: None,
            client_id: String::new(),
            keep_alive: ConfigDuration::secs(30),
            connect_timeout: ConfigDuration::secs(10),
            backoff_min: ConfigDuration::secs(1),
            backoff_max: ConfigDuration::secs(60),
            batch_max_events: 2000,
            batch_max_bytes: 1024 * 1024,
            compress: true,
            window: 8,
            ack_timeout: ConfigDuration::secs(30),
            backlog_max_bytes: 512 * 1024 * 1024,
            budget_every: ConfigDuration::secs(60),
            acked_retention: ConfigDuration::secs(86_400),
            poll_every: ConfigDuration::secs(2),
        }
    }
}

impl SyncConfig {
    /// The broker's host and port, when `broker` is `host:port`.
    pub fn host_port(&self) -> Option<(String, u16)> {
        let (host, port) = self.broker.rsplit_once(':')?;
        let port = port.parse().ok()?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        (!host.is_empty()).then(|| (host.to_string(), port))
    }

    /// Every problem, as (dotted key, message).
    pub fn validate(&self) -> Vec<(String, String)> {
        let mut problems = Vec::new();
        if !self.enabled {
            return problems;
        }
        let mut check = |ok: bool, key: &str, message: &str| {
            if !ok {
                problems.push((format!("sync.{key}"), message.to_string()));
            }
        };
        check(
            self.host_port().is_some(),
            "broker",
            "must be host:port, e.g. `mqtt.example.net:8883`",
        );
        check(
            !self.tls || self.ca_file.is_some(),
            "ca_file",
            "is required with tls = true",
        );
        check(
            self.client_cert.is_some() == self.client_key.is_some(),
            "client_cert",
            "client_cert and client_key go together",
        );
        check(
            self.keep_alive.get().as_secs() >= 5,
            "keep_alive",
            "must be at least 5s",
        );
        check(
            !self.connect_timeout.get().is_zero(),
            "connect_timeout",
            "must be more than 0",
        );
        check(
            !self.backoff_min.get().is_zero(),
            "backoff_min",
            "must be more than 0",
        );
        check(
            self.backoff_max >= self.backoff_min,
            "backoff_max",
            "must not be shorter than sync.backoff_min",
        );
        check(
            (1..=10_000).contains(&self.batch_max_events),
            "batch_max_events",
            "must be between 1 and 10000",
        );
        check(
            (4096..=8 * 1024 * 1024).contains(&self.batch_max_bytes),
            "batch_max_bytes",
            "must be between 4096 and 8388608",
        );
        check(
            (1..=256).contains(&self.window),
            "window",
            "must be between 1 and 256",
        );
        check(
            self.ack_timeout.get().as_secs() >= 1,
            "ack_timeout",
            "must be at least 1s",
        );
        check(
            self.backlog_max_bytes >= 1024 * 1024,
            "backlog_max_bytes",
            "must be at least 1048576 (1 MiB)",
        );
        check(
            !self.budget_every.get().is_zero(),
            "budget_every",
            "must be more than 0",
        );
        check(
            !self.poll_every.get().is_zero(),
            "poll_every",
            "must be more than 0",
        );
        problems
    }
}
