//! Sitebox's central cloud service (`sitebox-cloud`): the MQTT ingest of every site's events
//! into PostgreSQL, the command ledger, gap repair and the sweeps that share work between
//! processes, and the registry that the broker's identities come from. docs/CLOUD.md says how
//! to run it.
//!
//! - [`db`]: connections, the per-transaction tenant, numbered migrations.
//! - [`registry`], [`acl`]: tenants, sites, service accounts; the broker's files.
//! - [`ingest`]: MQTT workers storing batches (one transaction each) and acking.
//! - [`projections`]: payments, subscribers, subscriptions, vouchers, sessions, routers,
//!   failed jobs, RADIUS rejects and site health, built from events in the same transaction.
//! - [`commands`], [`publisher`]: the command ledger and the MQTT sender.
//! - [`liveness`]: a site's state from several signals (presence, backlog, skew, gaps).
//! - [`alerts`]: named reasons with tolerance, flap damping, acknowledgement and maintenance.
//! - [`gaps`], [`sweep`]: gap repair and the per-tenant sweeps.
//! - [`notify`]: "a projection changed", in process and across processes.
//! - [`http`], [`api`], [`auth`]: the one HTTP server and its router, the tenant-scoped API
//!   `/api/v1`, tokens and roles.
//! - [`audit`]: who did what.
//!
//! Architecture Invariant: nothing in one process is state another process needs. Work is
//! shared through the broker (shared subscriptions) and PostgreSQL (row locks, `SKIP
//! LOCKED`); any number of processes can run side by side and any of them can stop.
//!
//! Architecture Invariant: every query of tenant data runs in a transaction whose tenant is
//! set ([`db::set_tenant`]), under row-level security, as a role that owns no table.

#![forbid(unsafe_code)]

pub mod acl;
pub mod alerts;
pub mod api;
pub mod audit;
pub mod auth;
pub mod cli;
pub mod commands;
pub mod db;
pub mod gaps;
pub mod http;
pub mod ingest;
pub mod liveness;
pub mod notify;
pub mod projections;
pub mod publisher;
pub mod registry;
pub mod sweep;
