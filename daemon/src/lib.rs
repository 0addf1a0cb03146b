//! Sitebox's site daemon as a library: config, store, job queue, events, and the daemon and CLI
//! glue that the `siteboxd` binary runs.

pub mod cli;
pub mod clock;
pub mod config;
pub mod daemon;
#[cfg(feature = "simulator")]
pub mod dev_sim;
pub mod domain;
pub mod jobs;
pub mod links;
pub mod model;
pub mod notify;
pub mod passwords;
pub mod privileges;
pub mod queue;
pub mod radius;
pub mod secrets;
pub mod store;
pub mod sync;
pub mod web;
