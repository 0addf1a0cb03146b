//! Sitebox edge↔cloud sync over MQTT.
//!
//! - [`wire`]: the versioned contract (topics, batches, acks, commands, results, status); pure
//!   codecs, no IO.
//! - [`relay`]: the edge's store-and-forward state machine, no IO.
//! - [`edge`]: the thin tokio/rumqttc driver around the relay, talking to the daemon's store
//!   through the [`edge::EdgeStore`] trait the daemon implements.
//!
//! The cloud side (the ingest, the site registry, the broker's ACL) is the `sitebox-cloud`
//! crate, which the box never links.
//!
//! Architecture Invariant: this crate knows no SQLite, no PostgreSQL and no daemon types; the
//! outbox and inbox are reached only through [`edge::EdgeStore`].

#![forbid(unsafe_code)]

pub mod backoff;
pub mod edge;
pub mod failpoint;
pub mod relay;
pub mod wire;
