//! The technician page: one HTML page, one script and one stylesheet embedded in the binary,
//! a JSON API under `/api/v1` (docs/API.md), a WebSocket that pushes what changes, and
//! `/metrics` and `/healthz`, served with hyper on the site LAN.
//!
//! Architecture Invariant: only this module knows HTTP. It reads through the store's read
//! pool and acts through the same domain and queue functions as the CLI, as a
//! `technician:NAME` actor, so every action lands in the audit log and the outbox.

mod actions;
mod api;
mod assets;
pub(crate) mod auth;
mod caller;
mod host;
mod http;
pub(crate) mod log_ring;
mod metrics;
pub(crate) mod radius_test;
mod response;
mod server;
mod snapshot;
mod ws;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

pub(crate) use server::{Bound, bind, serve};

use crate::clock::SharedClock;
use crate::config::WebConfig;
use crate::secrets::Secrets;
use crate::store::Store;

/// What the page's handlers share.
#[derive(Debug)]
pub(crate) struct Web {
    /// The store.
    pub store: Store,
    /// The daemon's clock.
    pub clock: SharedClock,
    /// `[web]`.
    pub config: WebConfig,
    /// The site's human name.
    pub site_name: String,
    /// The database's directory (for the disk figures).
    pub data_dir: PathBuf,
    /// The RADIUS server's counters, when it runs.
    pub radius: Option<Arc<sitebox_radius::Counters>>,
    /// The RADIUS server's client table and socket, for the test login.
    pub radius_target: Option<radius_test::RadiusTarget>,
    /// Deadline of one RouterOS API command (`[provisioning] command_timeout`), for the
    /// router login test.
    pub router_timeout: std::time::Duration,
    /// To open sealed credentials (diagnostics).
    pub secrets: Secrets,
    /// When the daemon started.
    pub started: Instant,
}
