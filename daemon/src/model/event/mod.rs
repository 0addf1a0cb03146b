//! Domain events as data: what happened ([`EventKind`]), who did it ([`Actor`]), an event
//! about to be written ([`NewEvent`]) and one committed ([`EventRecord`]). The store writes
//! them to the outbox in the same transaction as the change they describe, with an audit row,
//! and publishes them in-process after the commit (`store::EventBus`).
//!
//! Payloads carry no secrets (no passwords, hashes or keys) and mask what the cloud does not
//! need.

mod kind;
pub mod payload;

use serde::Serialize;

pub use kind::{EventKind, Lane};
pub use payload::Payload;

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

/// An event about to be written. Made from a payload struct ([`NewEvent::new`]), so its kind
/// and its data cannot disagree.
#[derive(Debug, Clone)]
pub struct NewEvent {
    kind: EventKind,
    subject: String,
    payload: serde_json::Value,
}

impl NewEvent {
    /// An event about `subject` (e.g. `job:42`, `subscriber:alice`, for the audit log and the
    /// page) saying `payload`; its kind is the payload's. The one place a payload is
    /// serialised.
    pub fn new<P: Payload>(subject: impl Into<String>, payload: &P) -> Self {
        Self {
            kind: P::KIND,
            subject: subject.into(),
            // A payload is plain data (strings, numbers, maps with string keys): serde_json
            // cannot fail on it.
            payload: serde_json::to_value(payload).unwrap_or_default(),
        }
    }

    /// An event whose payload was serialised elsewhere: replayed or synthetic traffic (the
    /// sync benchmark) and the store's own tests. Never for a new change in the daemon: those
    /// have a payload struct.
    pub fn recorded(
        kind: EventKind,
        subject: impl Into<String>,
        payload: serde_json::Value,
    ) -> Self {
        Self {
            kind,
            subject: subject.into(),
            payload,
        }
    }

    /// What happened.
    pub fn kind(&self) -> EventKind {
        self.kind
    }

    /// What it happened to.
    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// The event's data (no secrets).
    pub fn payload(&self) -> &serde_json::Value {
        &self.payload
    }

    /// Subject and payload, taken apart for the outbox row.
    pub fn into_parts(self) -> (EventKind, String, serde_json::Value) {
        (self.kind, self.subject, self.payload)
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
