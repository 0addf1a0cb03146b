//! Sitebox's site daemon as a library: the `siteboxd` binary is `cli::main`. The layers and
//! what each module may use are in docs/ARCHITECTURE.md (checked by `tests/architecture.rs`).
//!
//! Public are the modules the end-to-end tests, the benchmarks and the site scenario drive
//! directly (the model, the config, the clock, the store and the queue, the domain's actions,
//! the sync agent, the secrets key); the adapters and the wiring are private to the binary.

pub mod cli;
pub mod clock;
pub mod config;
mod daemon;
#[cfg(feature = "simulator")]
mod dev_sim;
pub mod domain;
mod jobs;
mod links;
pub mod model;
mod notify;
mod passwords;
mod privileges;
pub mod queue;
mod radius;
pub mod secrets;
pub mod store;
pub mod sync;
mod web;
