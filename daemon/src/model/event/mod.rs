//! Domain events as data: what happened ([`EventKind`]), who did it ([`Actor`]), an event
//! about to be written ([`NewEvent`]) and one committed ([`EventRecord`]). The store writes
//! them to the outbox in the same transaction as the change they describe, with an audit row,
//! and publishes them in-process after the commit (`store::EventBus`).
//!
//! Payloads carry no secrets (no passwords, hashes or keys) and mask what the cloud does not
//! need.

mod kind;

use serde::Serialize;

pub use kind::{EventKind, Lane};

use crate::clock::Timestamp;

/// Who caused a change: written to the audit log beside each event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(into = "String")]
pub enum Actor {
    /// The daemon itself (a job, a timer, RADIUS).
    System,
    /// The command line on the box.
    Cli,
    /// A technician on the local page.
    Technician(String),
    /// A command from the cloud.
    Cloud,
}

impl std::fmt::Display for Actor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Actor::System => f.write_str("system"),
            Actor::Cli => f.write_str("cli"),
            Actor::Technician(name) => write!(f, "technician:{name}"),
            Actor::Cloud => f.write_str("cloud"),
        }
    }
}

impl From<Actor> for String {
    fn from(actor: Actor) -> String {
        actor.to_string()
    }
}

/// An event about to be written.
#[derive(Debug, Clone)]
pub struct NewEvent {
    /// What happened.
    pub kind: EventKind,
    /// What it happened to, e.g. `job:42`, `subscriber:alice` (for the audit log and the page).
    pub subject: String,
    /// The event's data (no secrets).
    pub payload: serde_json::Value,
}

impl NewEvent {
    /// An event of `kind` about `subject`.
    pub fn new(kind: EventKind, subject: impl Into<String>, payload: serde_json::Value) -> Self {
        Self {
            kind,
            subject: subject.into(),
            payload,
        }
    }
}

/// A committed event, as listeners and the sync agent see it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EventRecord {
    /// The site's monotonic sequence number.
    pub seq: i64,
    /// UUIDv7.
    pub id: String,
    /// What happened.
    #[serde(rename = "type")]
    pub kind: EventKind,
    /// The payload's schema version.
    pub schema_version: u32,
    /// The sync lane it travels in.
    pub lane: Lane,
    /// Box wall clock when it happened.
    pub occurred_at: Timestamp,
    /// Which run of the daemon wrote it.
    pub boot_id: String,
    /// Monotonic milliseconds since that run started (orders events across clock jumps).
    pub uptime_ms: i64,
    /// What it happened to.
    pub subject: String,
    /// The data.
    pub payload: serde_json::Value,
}
